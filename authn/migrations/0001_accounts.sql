-- Local accounts (AC-2). One schema for SQLite and PostgreSQL: portable types only.
-- Times are microseconds since the Unix epoch; groups are a JSON array of strings.
CREATE TABLE rampart_accounts (
    username TEXT NOT NULL PRIMARY KEY,
    uid TEXT NOT NULL,
    group_names TEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    password_hash TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    must_change BOOLEAN NOT NULL,
    last_login BIGINT
);
