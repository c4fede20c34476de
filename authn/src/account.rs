//! Local accounts (AC-2) and the store they live in.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A local account. The password hash is a PHC string; nothing else here is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The login name, unique in the store.
    pub username: String,
    /// A stable identifier that survives a rename (Kubernetes `uid`).
    pub uid: String,
    /// Kubernetes groups the account belongs to.
    pub groups: Vec<String>,
    /// A disabled account cannot log in; it fails exactly like a wrong password.
    pub disabled: bool,
    /// argon2id PHC string.
    pub password_hash: String,
    /// When the password was last set.
    pub password_changed_at: SystemTime,
    /// The holder must choose a new password at the next login.
    pub must_change: bool,
    /// The last successful login, for disabling inactive accounts (AC-2(3)).
    pub last_login: Option<SystemTime>,
}

/// Why a store could not answer. Never carries a password or a hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No account has this username.
    #[error("no such account")]
    NotFound,
    /// An account with this username already exists.
    #[error("account already exists")]
    AlreadyExists,
    /// The backend failed (I/O, database, corrupted file); `what` is for operators.
    #[error("account store unavailable: {what}")]
    Unavailable {
        /// A description without secrets.
        what: String,
    },
}

/// The future a store returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where accounts live. Implementations must make each call atomic: a crash never leaves
/// half an update behind.
pub trait AccountStore: Send + Sync {
    /// The account named `username`, if any.
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>>;
    /// Adds a new account; [`StoreError::AlreadyExists`] if the name is taken.
    fn insert(&self, account: Account) -> StoreFuture<'_, ()>;
    /// Replaces an existing account; [`StoreError::NotFound`] if there is none.
    fn update(&self, account: Account) -> StoreFuture<'_, ()>;
    /// Every account, ordered by username.
    fn list(&self) -> StoreFuture<'_, Vec<Account>>;
}

/// Accounts in memory: for tests and for embedding a fixed set of accounts.
#[derive(Debug, Default)]
pub struct MemoryStore {
    accounts: Mutex<BTreeMap<String, Account>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Account>) -> T) -> T {
        // A panic elsewhere cannot leave a half-written account: every update is one insert.
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut accounts)
    }
}

impl AccountStore for MemoryStore {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        let found = self.with(|accounts| accounts.get(username).cloned());
        Box::pin(async move { Ok(found) })
    }

    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        let result = self.with(|accounts| insert_new(accounts, account));
        Box::pin(async move { result })
    }

    fn update(&self, account: Account) -> StoreFuture<'_, ()> {
        let result = self.with(|accounts| replace(accounts, account));
        Box::pin(async move { result })
    }

    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        let all = self.with(|accounts| accounts.values().cloned().collect());
        Box::pin(async move { Ok(all) })
    }
}

/// Adds `account` unless its username is taken: the insert rule of every map-backed store.
pub(crate) fn insert_new(
    accounts: &mut BTreeMap<String, Account>,
    account: Account,
) -> Result<(), StoreError> {
    if accounts.contains_key(&account.username) {
        return Err(StoreError::AlreadyExists);
    }
    accounts.insert(account.username.clone(), account);
    Ok(())
}

/// Replaces the account of the same username: the update rule of every map-backed store.
pub(crate) fn replace(
    accounts: &mut BTreeMap<String, Account>,
    account: Account,
) -> Result<(), StoreError> {
    match accounts.get_mut(&account.username) {
        Some(slot) => {
            *slot = account;
            Ok(())
        }
        None => Err(StoreError::NotFound),
    }
}

/// Disables every enabled account whose last login (or, never having logged in, whose
/// password was set) lies more than `max_idle` before `now` (AC-2(3)). Returns the
/// usernames it disabled.
///
/// # Errors
/// The first store error; accounts disabled before it stay disabled.
pub async fn disable_inactive(
    store: &dyn AccountStore,
    max_idle: Duration,
    now: SystemTime,
) -> Result<Vec<String>, StoreError> {
    let mut disabled = Vec::new();
    for mut account in store.list().await? {
        let last_active = account.last_login.unwrap_or(account.password_changed_at);
        let idle = now.duration_since(last_active).unwrap_or_default();
        if !account.disabled && idle > max_idle {
            account.disabled = true;
            disabled.push(account.username.clone());
            store.update(account).await?;
        }
    }
    Ok(disabled)
}
