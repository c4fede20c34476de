#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod decorator;
mod policy;
mod state;
mod store;

pub use decorator::{AdminError, Lockout};
pub use policy::{
    Growth, LockoutPolicy, MAX_DURATION, MAX_FAILURES_CEILING, PolicyBuilder, PolicyError,
    PolicySpec,
};
pub use state::{AccountState, Admission, AttemptOutcome, LockPlaced, RESERVATION_LEASE};
pub use store::{
    DEFAULT_MAX_TRACKED, LockedAccount, LockoutStore, MemoryStore, StoreError, StoreFuture,
};
