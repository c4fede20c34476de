#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod password;
mod policy;

pub use password::{
    HashError, HashParams, HashParamsBuilder, PasswordHasher, StoredLimits, Verified, normalize,
};
pub use policy::{
    Blocklist, ContextWord, MAX_CHARS_CEILING, MAX_CHARS_FLOOR, MIN_CHARS_FLOOR, PasswordContext,
    PasswordPolicy, PasswordPolicyBuilder, PolicyError, PolicyViolation, Rejection,
};
