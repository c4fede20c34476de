//! Local accounts and their passwords (IA-2, IA-5, AC-2): argon2id hashing with bounded
//! parameters, the password policy (NIST SP 800-63B-4), accounts and the stores that hold
//! them (memory, a YAML file, SQLite, PostgreSQL), every change audited by
//! [`AuditedStore`], and the [`LocalAuthenticator`] that checks a password against them.
//!
//! Errors: [`StoreError`] (stores, wrapping [`AccountError`] for the account rules),
//! [`HashError`] (hashing), [`PolicyError`] (building a policy); a refused password is a
//! [`PolicyViolation`], not an error.

mod account;
mod audited_store;
mod file_store;
mod hash;
mod local;
mod policy;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_store;

pub use account::{
    Account, AccountChange, AccountError, AccountStore, MAX_ACCOUNT_GROUPS, MAX_ACCOUNT_NAME_BYTES,
    MemoryStore, ReservedGroups, StoreError, StoreFuture, disable_inactive,
};
pub use audited_store::AuditedStore;
pub use file_store::{FileStore, MAX_FILE_BYTES, parse_accounts, render_accounts};
pub use hash::{
    HashError, HashMemory, HashParams, HashParamsBuilder, MAX_PASSWORD_BYTES, PasswordHasher,
    StoredLimits, Verified, normalize, password_within_limit,
};
pub use local::{LocalAuthenticator, LocalStats, MUST_CHANGE_PASSWORD};
pub use policy::{
    Blocklist, ContextWord, MAX_CHARS_CEILING, MAX_CHARS_FLOOR, MIN_CHARS_FLOOR, PasswordContext,
    PasswordPolicy, PasswordPolicyBuilder, PolicyError, PolicyViolation, Rejection,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql_store::SqlStore;
#[cfg(feature = "postgres")]
pub use sql_store::{PgConnectOptions, PgSslMode};
