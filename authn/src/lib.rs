#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod account;
mod file_store;
mod local;
mod password;
mod policy;

pub use account::{Account, AccountStore, MemoryStore, StoreError, StoreFuture, disable_inactive};
pub use file_store::{FileStore, MAX_FILE_BYTES, parse_accounts, render_accounts};
pub use local::{LocalAuthenticator, LocalStats, MUST_CHANGE_PASSWORD};
pub use password::{
    HashError, HashParams, HashParamsBuilder, PasswordHasher, StoredLimits, Verified, normalize,
};
pub use policy::{
    Blocklist, ContextWord, MAX_CHARS_CEILING, MAX_CHARS_FLOOR, MIN_CHARS_FLOOR, PasswordContext,
    PasswordPolicy, PasswordPolicyBuilder, PolicyError, PolicyViolation, Rejection,
};
