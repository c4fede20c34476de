//! Local accounts (AC-2) and the store they live in.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Longest username or group name accepted, in bytes.
pub const MAX_ACCOUNT_NAME_BYTES: usize = 256;
/// Most groups one account may have.
pub const MAX_ACCOUNT_GROUPS: usize = 256;

/// Why an account's names are not acceptable. Every store refuses such an account.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Empty, over [`MAX_ACCOUNT_NAME_BYTES`], with surrounding spaces, or with control or
    /// deceptive (bidirectional, invisible) characters.
    #[error(
        "a {what} must be 1 to {MAX_ACCOUNT_NAME_BYTES} bytes, without surrounding spaces, control or invisible characters"
    )]
    MalformedName {
        /// `username` or `group`.
        what: &'static str,
    },
    /// Kubernetes reserves `system:` usernames for its own identities: a local
    /// `system:kube-controller-manager` is a privilege escalation, not an account.
    #[error("usernames starting with `system:` are reserved by Kubernetes")]
    ReservedUsername,
    /// A `system:` group (such as `system:masters`) asked for without allowing it.
    #[error("group `{0}` is reserved by Kubernetes and must be allowed explicitly")]
    ReservedGroup(String),
    /// More than [`MAX_ACCOUNT_GROUPS`] groups.
    #[error("more than {MAX_ACCOUNT_GROUPS} groups")]
    TooManyGroups,
}

/// Whether `system:` groups may be given to a new account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedGroups {
    /// Refused (the default an operator must override).
    Refuse,
    /// Granted: the operator asked for exactly this.
    Allow,
}

impl Account {
    /// A new, enabled account with a fresh random uid and no groups.
    ///
    /// # Errors
    /// The username is malformed or reserved.
    pub fn new(
        username: impl Into<String>,
        password_hash: String,
        now: SystemTime,
    ) -> Result<Self, AccountError> {
        let username = username.into();
        check_name(&username, "username")?;
        if rampart_core::UserInfo::is_reserved_name(&username) {
            return Err(AccountError::ReservedUsername);
        }
        Ok(Account {
            username,
            uid: uuid::Uuid::new_v4().to_string(),
            groups: Vec::new(),
            disabled: false,
            password_hash,
            password_changed_at: now,
            must_change: false,
            last_login: None,
        })
    }

    /// Sets the uid (a stable id from elsewhere, e.g. an HR system).
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = uid.into();
        self
    }

    /// Sets the groups; `system:` groups only when `reserved` allows them.
    ///
    /// # Errors
    /// A malformed group, a reserved one not allowed, or too many.
    pub fn with_groups(
        mut self,
        groups: Vec<String>,
        reserved: ReservedGroups,
    ) -> Result<Self, AccountError> {
        if reserved == ReservedGroups::Refuse
            && let Some(group) = groups
                .iter()
                .find(|g| rampart_core::UserInfo::is_reserved_name(g))
        {
            return Err(AccountError::ReservedGroup(
                rampart_core::escape_for_display(group).into_owned(),
            ));
        }
        self.groups = groups;
        self.validate()?;
        Ok(self)
    }

    /// The rules every store applies to every account it writes: well-formed names, no
    /// reserved username, a bounded number of groups. (Reserved groups were an operator's
    /// explicit choice when granted, so a store keeps them.)
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), AccountError> {
        check_name(&self.username, "username")?;
        if rampart_core::UserInfo::is_reserved_name(&self.username) {
            return Err(AccountError::ReservedUsername);
        }
        if self.groups.len() > MAX_ACCOUNT_GROUPS {
            return Err(AccountError::TooManyGroups);
        }
        self.groups
            .iter()
            .try_for_each(|group| check_name(group, "group"))
    }
}

fn check_name(name: &str, what: &'static str) -> Result<(), AccountError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_ACCOUNT_NAME_BYTES
        && name.trim() == name
        && !name
            .chars()
            .any(|c| c.is_control() || rampart_core::is_deceptive_char(c));
    if well_formed {
        Ok(())
    } else {
        Err(AccountError::MalformedName { what })
    }
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
    /// A change tried to rename the account it was applied to.
    #[error("a change may not rename an account")]
    Rename,
    /// The account breaks a rule every store applies ([`Account::validate`]).
    #[error("invalid account: {0}")]
    Invalid(#[from] AccountError),
    /// The change was made, but its audit event could not be recorded (an
    /// [`AuditedStore`](crate::AuditedStore)): alert, the trail is missing it.
    #[error("the account was changed but the change could not be audited")]
    Unaudited,
    /// The backend failed (I/O, database, corrupted file); `what` is for operators.
    #[error("account store unavailable: {what}")]
    Unavailable {
        /// A description without secrets.
        what: String,
    },
}

/// The future a store returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// An edit of one account, applied by [`AccountStore::modify`] to the account as stored at
/// that moment. It may not change the username.
pub type AccountChange<'a> = Box<dyn FnOnce(&mut Account) + Send + 'a>;

/// Where accounts live. Implementations must make each call atomic: a crash never leaves
/// half an update behind.
pub trait AccountStore: Send + Sync {
    /// The account named `username`, if any.
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>>;
    /// Adds a new account; [`StoreError::AlreadyExists`] if the name is taken.
    fn insert(&self, account: Account) -> StoreFuture<'_, ()>;
    /// Replaces an existing account; [`StoreError::NotFound`] if there is none.
    ///
    /// A whole-record write: whatever changed since the caller read the account is lost.
    /// Edits that must not lose a concurrent change (a login recording its time while an
    /// administrator disables the account) use [`AccountStore::modify`].
    fn update(&self, account: Account) -> StoreFuture<'_, ()>;
    /// Applies `change` to the account as stored, atomically: no other write to it, from
    /// this process or another, lands between the read and the write. Returns the account
    /// as written; [`StoreError::NotFound`] if there is none, [`StoreError::Rename`] if
    /// `change` altered the username (nothing is written then).
    fn modify<'a>(
        &'a self,
        username: &'a str,
        change: AccountChange<'a>,
    ) -> StoreFuture<'a, Account>;
    /// Every account, ordered by username.
    fn list(&self) -> StoreFuture<'_, Vec<Account>>;
    /// Removes the account named `username`; [`StoreError::NotFound`] if there is none.
    fn delete<'a>(&'a self, username: &'a str) -> StoreFuture<'a, ()>;
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

impl MapBacked for MemoryStore {
    fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, Account>) -> T) -> Result<T, StoreError> {
        Ok(self.with(|accounts| f(accounts)))
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Account>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(f)
    }
}

/// A store whose accounts are one map behind a lock: in memory, or a file. Both get their
/// [`AccountStore`] methods from [`map_backed_account_store!`], so the rules below are
/// written once.
pub(crate) trait MapBacked {
    /// Reads the current map.
    fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, Account>) -> T) -> Result<T, StoreError>;
    /// Changes the map atomically: `f`'s error leaves it as it was.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Account>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
}

/// `AccountStore` for a [`MapBacked`] store. The stores answer at once, so each future is
/// ready when returned.
macro_rules! map_backed_account_store {
    ($store:ty) => {
        impl $crate::password::account::AccountStore for $store {
            fn get<'a>(
                &'a self,
                username: &'a str,
            ) -> $crate::password::account::StoreFuture<
                'a,
                Option<$crate::password::account::Account>,
            > {
                let result = $crate::password::account::MapBacked::read(self, |accounts| {
                    accounts.get(username).cloned()
                });
                Box::pin(async move { result })
            }

            fn insert(
                &self,
                account: $crate::password::account::Account,
            ) -> $crate::password::account::StoreFuture<'_, ()> {
                let result = $crate::password::account::MapBacked::write(self, |accounts| {
                    $crate::password::account::insert_new(accounts, account)
                });
                Box::pin(async move { result })
            }

            fn update(
                &self,
                account: $crate::password::account::Account,
            ) -> $crate::password::account::StoreFuture<'_, ()> {
                let result = $crate::password::account::MapBacked::write(self, |accounts| {
                    $crate::password::account::replace(accounts, account)
                });
                Box::pin(async move { result })
            }

            fn modify<'a>(
                &'a self,
                username: &'a str,
                change: $crate::password::account::AccountChange<'a>,
            ) -> $crate::password::account::StoreFuture<'a, $crate::password::account::Account>
            {
                let result = $crate::password::account::MapBacked::write(self, |accounts| {
                    $crate::password::account::apply_change(accounts, username, change)
                });
                Box::pin(async move { result })
            }

            fn list(
                &self,
            ) -> $crate::password::account::StoreFuture<'_, Vec<$crate::password::account::Account>>
            {
                let result = $crate::password::account::MapBacked::read(self, |accounts| {
                    accounts.values().cloned().collect()
                });
                Box::pin(async move { result })
            }

            fn delete<'a>(
                &'a self,
                username: &'a str,
            ) -> $crate::password::account::StoreFuture<'a, ()> {
                let result = $crate::password::account::MapBacked::write(self, |accounts| {
                    accounts
                        .remove(username)
                        .map(drop)
                        .ok_or($crate::password::account::StoreError::NotFound)
                });
                Box::pin(async move { result })
            }
        }
    };
}
pub(crate) use map_backed_account_store;

map_backed_account_store!(MemoryStore);

/// Applies `change` to one account of `accounts`: the modify rule of every map-backed store
/// (the caller holds whatever lock makes it atomic).
pub(crate) fn apply_change(
    accounts: &mut BTreeMap<String, Account>,
    username: &str,
    change: AccountChange<'_>,
) -> Result<Account, StoreError> {
    let slot = accounts.get_mut(username).ok_or(StoreError::NotFound)?;
    let mut next = slot.clone();
    change(&mut next);
    check_change(username, &next)?;
    *slot = next.clone();
    Ok(next)
}

/// The rules every store applies after a change: the username is the key and stays, and
/// the account is still one the store would accept.
pub(crate) fn check_change(username: &str, changed: &Account) -> Result<(), StoreError> {
    if changed.username != username {
        return Err(StoreError::Rename);
    }
    Ok(changed.validate()?)
}

/// Adds `account` unless its username is taken: the insert rule of every map-backed store.
pub(crate) fn insert_new(
    accounts: &mut BTreeMap<String, Account>,
    account: Account,
) -> Result<(), StoreError> {
    account.validate()?;
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
    account.validate()?;
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
/// Each account is re-checked inside an atomic [`AccountStore::modify`], so a login or a
/// password change that lands after the listing is neither overwritten nor disabled.
///
/// # Errors
/// The first store error; accounts disabled before it stay disabled.
pub async fn disable_inactive(
    store: &dyn AccountStore,
    max_idle: Duration,
    now: SystemTime,
) -> Result<Vec<String>, StoreError> {
    let idle_too_long = |account: &Account| {
        let last_active = account.last_login.unwrap_or(account.password_changed_at);
        !account.disabled && now.duration_since(last_active).unwrap_or_default() > max_idle
    };
    let mut disabled = Vec::new();
    for candidate in store.list().await? {
        if !idle_too_long(&candidate) {
            continue;
        }
        let acted = AtomicBool::new(false);
        let change = Box::new(|account: &mut Account| {
            if idle_too_long(account) {
                account.disabled = true;
                acted.store(true, Ordering::Relaxed);
            }
        });
        match store.modify(&candidate.username, change).await {
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(error) => return Err(error),
        }
        if acted.load(Ordering::Relaxed) {
            disabled.push(candidate.username);
        }
    }
    Ok(disabled)
}
