//! Accounts in SQL (AC-2): SQLite as the embedded default, PostgreSQL for a store shared
//! by several instances.
//!
//! - One schema for both (`migrations/`), applied on open by sqlx's migrator under its own
//!   history table, `rampart_authn_migrations`, so it never collides with the embedding
//!   application's migrations; PostgreSQL serialises concurrent migrators with an advisory
//!   lock.
//! - Every [`AccountStore`] call is one statement or one transaction. [`AccountStore::modify`]
//!   locks the row it reads (`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on
//!   SQLite) so a concurrent writer in another process waits instead of being overwritten.
//! - SQLite runs in WAL mode with `synchronous = FULL`: an acknowledged write survives a
//!   crash or a power loss. A new database file is created with mode 0600.
//! - PostgreSQL is reached over a Unix socket, loopback, or TLS that verifies the server
//!   (`sslmode=verify-ca` or `verify-full`); anything else is refused at connect time,
//!   because password hashes would cross the network in the clear.
//! - Errors name the backend and what failed, never a value from a row.

#[cfg(feature = "sqlite")]
use std::path::Path;
use std::time::{Duration, SystemTime};

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Row, SqlSafeStr};

use crate::password::account::{
    Account, AccountChange, AccountStore, StoreError, StoreFuture, check_change,
};

#[cfg(feature = "postgres")]
pub use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The history table of this crate's migrations.
const MIGRATIONS_TABLE: &str = "rampart_authn_migrations";

const SELECT_ONE: &str = "SELECT username, uid, group_names, disabled, password_hash, password_changed_at, must_change, last_login FROM rampart_accounts WHERE username = $1";
const SELECT_ALL: &str = "SELECT username, uid, group_names, disabled, password_hash, password_changed_at, must_change, last_login FROM rampart_accounts";
const INSERT: &str = "INSERT INTO rampart_accounts (username, uid, group_names, disabled, password_hash, password_changed_at, must_change, last_login) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (username) DO NOTHING";
const DELETE: &str = "DELETE FROM rampart_accounts WHERE username = $1";
const UPDATE: &str = "UPDATE rampart_accounts SET uid = $2, group_names = $3, disabled = $4, password_hash = $5, password_changed_at = $6, must_change = $7, last_login = $8 WHERE username = $1";

/// How a backend opens a transaction that locks the row it reads.
struct Dialect {
    name: &'static str,
    begin: &'static str,
    select_for_update: &'static str,
}

#[cfg(feature = "sqlite")]
const SQLITE: Dialect = Dialect {
    name: "sqlite",
    // Takes the write lock at once: two read-then-write transactions cannot deadlock.
    begin: "BEGIN IMMEDIATE",
    select_for_update: SELECT_ONE,
};

#[cfg(feature = "postgres")]
const POSTGRES: Dialect = Dialect {
    name: "postgres",
    begin: "BEGIN",
    select_for_update: "SELECT username, uid, group_names, disabled, password_hash, password_changed_at, must_change, last_login FROM rampart_accounts WHERE username = $1 FOR UPDATE",
};

enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has and `$dialect` to its
/// dialect: the statements are the same text for both backends.
macro_rules! with_pool {
    ($store:expr, $pool:ident, $dialect:ident => $body:expr) => {
        match &$store.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($pool) => {
                let $dialect = &SQLITE;
                $body
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres($pool) => {
                let $dialect = &POSTGRES;
                $body
            }
        }
    };
}

/// Binds the eight columns of `$columns` in table order.
macro_rules! bind_columns {
    ($query:expr, $columns:expr) => {
        $query
            .bind($columns.username)
            .bind($columns.uid)
            .bind($columns.group_names)
            .bind($columns.disabled)
            .bind($columns.password_hash)
            .bind($columns.password_changed_at)
            .bind($columns.must_change)
            .bind($columns.last_login)
    };
}

/// Reads the eight columns of a row, in table order, into [`Columns`].
macro_rules! read_columns {
    ($row:expr, $dialect:expr) => {{
        let row = $row;
        let column = |error: sqlx::Error| failed($dialect.name, "read a row", &error);
        Columns {
            username: row.try_get(0).map_err(column)?,
            uid: row.try_get(1).map_err(column)?,
            group_names: row.try_get(2).map_err(column)?,
            disabled: row.try_get(3).map_err(column)?,
            password_hash: row.try_get(4).map_err(column)?,
            password_changed_at: row.try_get(5).map_err(column)?,
            must_change: row.try_get(6).map_err(column)?,
            last_login: row.try_get(7).map_err(column)?,
        }
    }};
}

/// An account as the table stores it.
struct Columns {
    username: String,
    uid: String,
    group_names: String,
    disabled: bool,
    password_hash: String,
    password_changed_at: i64,
    must_change: bool,
    last_login: Option<i64>,
}

impl Columns {
    /// The row for `account`: the only way an account reaches the database, so every
    /// write is validated here.
    fn from_account(account: &Account) -> Result<Self, StoreError> {
        account.validate()?;
        let group_names = serde_json::to_string(&account.groups).map_err(|_| corrupt("groups"))?;
        Ok(Columns {
            username: account.username.clone(),
            uid: account.uid.clone(),
            group_names,
            disabled: account.disabled,
            password_hash: account.password_hash.clone(),
            password_changed_at: micros_since_epoch(account.password_changed_at)?,
            must_change: account.must_change,
            last_login: account.last_login.map(micros_since_epoch).transpose()?,
        })
    }

    fn into_account(self) -> Result<Account, StoreError> {
        let groups = serde_json::from_str(&self.group_names).map_err(|_| corrupt("group_names"))?;
        Ok(Account {
            username: self.username,
            uid: self.uid,
            groups,
            disabled: self.disabled,
            password_hash: self.password_hash,
            password_changed_at: time_from_micros(self.password_changed_at)?,
            must_change: self.must_change,
            last_login: self.last_login.map(time_from_micros).transpose()?,
        })
    }
}

/// Microseconds since the Unix epoch: the precision of every rampart timestamp.
fn micros_since_epoch(time: SystemTime) -> Result<i64, StoreError> {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_micros()).ok())
        .ok_or_else(|| StoreError::Unavailable {
            what: "a timestamp before 1970 or after year 294,000 cannot be stored".into(),
        })
}

fn time_from_micros(micros: i64) -> Result<SystemTime, StoreError> {
    u64::try_from(micros)
        .ok()
        .and_then(|micros| SystemTime::UNIX_EPOCH.checked_add(Duration::from_micros(micros)))
        .ok_or_else(|| corrupt("a timestamp"))
}

fn corrupt(column: &str) -> StoreError {
    StoreError::Unavailable {
        what: format!("account row has an invalid {column}"),
    }
}

/// A backend failure for operators: the backend, the step, and the driver's message
/// (statements bind values as parameters, so no row value appears in it).
fn failed(backend: &str, step: &str, error: &sqlx::Error) -> StoreError {
    StoreError::Unavailable {
        what: format!("{backend}: cannot {step}: {error}"),
    }
}

fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "accounts".into(),
        MigrationType::Simple,
        include_str!("../../migrations/0001_accounts.sql").into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Accounts in an SQLite file or a PostgreSQL database.
pub struct SqlStore {
    backend: Backend,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = with_pool!(self, _pool, dialect => dialect.name);
        f.debug_struct("SqlStore")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Opens (creating it, mode 0600) the SQLite database at `path` and applies the schema.
    ///
    /// # Errors
    /// The file cannot be created or opened, or the schema cannot be applied.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        use sqlx::sqlite::{
            SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
        };
        let path = path.as_ref();
        create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(|error| failed(SQLITE.name, "open the database", &error))?;
        Self::migrated(Backend::Sqlite(pool)).await
    }

    /// Connects to PostgreSQL and applies the schema.
    ///
    /// # Errors
    /// The connection is not local and not verified TLS, the server cannot be reached, or
    /// the schema cannot be applied.
    #[cfg(feature = "postgres")]
    pub async fn postgres(options: PgConnectOptions) -> Result<Self, StoreError> {
        check_transport(&options)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|error| failed(POSTGRES.name, "connect", &error))?;
        Self::migrated(Backend::Postgres(pool)).await
    }

    async fn migrated(backend: Backend) -> Result<Self, StoreError> {
        let store = SqlStore { backend };
        with_pool!(store, pool, dialect => migrator()
            .run(pool)
            .await
            .map_err(|error| StoreError::Unavailable {
                what: format!("{}: cannot apply the schema: {error}", dialect.name),
            })?);
        Ok(store)
    }

    /// Closes the pool, waiting for statements in flight.
    pub async fn close(&self) {
        with_pool!(self, pool, _dialect => pool.close().await);
    }

    async fn fetch(&self, username: &str) -> Result<Option<Account>, StoreError> {
        with_pool!(self, pool, dialect => {
            let row = sqlx::query(SELECT_ONE)
                .bind(username)
                .fetch_optional(pool)
                .await
                .map_err(|error| failed(dialect.name, "read an account", &error))?;
            row.map(|row| read_columns!(row, dialect).into_account()).transpose()
        })
    }

    async fn add(&self, account: Account) -> Result<(), StoreError> {
        let columns = Columns::from_account(&account)?;
        let written = with_pool!(self, pool, dialect => bind_columns!(sqlx::query(INSERT), columns)
            .execute(pool)
            .await
            .map_err(|error| failed(dialect.name, "add an account", &error))?
            .rows_affected());
        if written == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    async fn replace(&self, account: Account) -> Result<(), StoreError> {
        let columns = Columns::from_account(&account)?;
        let written = with_pool!(self, pool, dialect => bind_columns!(sqlx::query(UPDATE), columns)
            .execute(pool)
            .await
            .map_err(|error| failed(dialect.name, "update an account", &error))?
            .rows_affected());
        if written == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn change(
        &self,
        username: &str,
        change: AccountChange<'_>,
    ) -> Result<Account, StoreError> {
        with_pool!(self, pool, dialect => {
            let step = |step: &'static str| move |error: sqlx::Error| failed(dialect.name, step, &error);
            let mut transaction = pool.begin_with(dialect.begin).await.map_err(step("begin a transaction"))?;
            let row = sqlx::query(dialect.select_for_update)
                .bind(username)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(step("lock an account"))?
                .ok_or(StoreError::NotFound)?;
            let mut account = read_columns!(row, dialect).into_account()?;
            change(&mut account);
            check_change(username, &account)?;
            let columns = Columns::from_account(&account)?;
            bind_columns!(sqlx::query(UPDATE), columns)
                .execute(&mut *transaction)
                .await
                .map_err(step("update an account"))?;
            transaction.commit().await.map_err(step("commit"))?;
            Ok(account)
        })
    }

    async fn remove(&self, username: &str) -> Result<(), StoreError> {
        let removed = with_pool!(self, pool, dialect => sqlx::query(DELETE)
            .bind(username)
            .execute(pool)
            .await
            .map_err(|error| failed(dialect.name, "delete an account", &error))?
            .rows_affected());
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Account>, StoreError> {
        let mut accounts = with_pool!(self, pool, dialect => {
            let rows = sqlx::query(SELECT_ALL)
                .fetch_all(pool)
                .await
                .map_err(|error| failed(dialect.name, "list accounts", &error))?;
            rows.into_iter()
                .map(|row| read_columns!(row, dialect).into_account())
                .collect::<Result<Vec<_>, _>>()?
        });
        // Byte order, as every store lists; a database's collation may differ.
        accounts.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(accounts)
    }
}

/// Creates `path` with mode 0600 if it does not exist, so the database and its WAL and
/// shared-memory files (SQLite gives them the database's mode) are private from the start.
#[cfg(feature = "sqlite")]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Unavailable {
            what: format!("sqlite: cannot create {}: {error}", path.display()),
        }),
    }
}

/// The one transport decision: a Unix socket or loopback, or TLS that verifies the server.
#[cfg(feature = "postgres")]
fn check_transport(options: &PgConnectOptions) -> Result<(), StoreError> {
    let local = options.get_socket().is_some()
        || options.get_host().starts_with('/')
        || options
            .get_host()
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || options.get_host() == "localhost";
    let verified = matches!(
        options.get_ssl_mode(),
        PgSslMode::VerifyCa | PgSslMode::VerifyFull
    );
    if local || verified {
        Ok(())
    } else {
        Err(StoreError::Unavailable {
            what: format!(
                "postgres: refusing to send password hashes to {} without verified TLS (use sslmode=verify-full)",
                options.get_host()
            ),
        })
    }
}

impl AccountStore for SqlStore {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        Box::pin(self.fetch(username))
    }

    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        Box::pin(self.add(account))
    }

    fn update(&self, account: Account) -> StoreFuture<'_, ()> {
        Box::pin(self.replace(account))
    }

    fn modify<'a>(
        &'a self,
        username: &'a str,
        change: AccountChange<'a>,
    ) -> StoreFuture<'a, Account> {
        Box::pin(self.change(username, change))
    }

    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        Box::pin(self.all())
    }

    fn delete<'a>(&'a self, username: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.remove(username))
    }
}
