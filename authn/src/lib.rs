#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod password;

pub use password::{
    HashError, HashParams, HashParamsBuilder, PasswordHasher, StoredLimits, Verified, normalize,
};
