//! Where lockout state lives. Every check-and-record is one atomic step of the store, so no
//! interleaving of attempts (tasks, threads, or later replicas) can let more than the
//! policy's number of failures reach the password check.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::policy::LockoutPolicy;
use crate::state::{AccountState, Admission, AttemptOutcome, LockPlaced};

/// Why a store could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend did not answer; the attempt is refused, never counted, never allowed.
    #[error("lockout store unavailable: {what}")]
    Unavailable {
        /// What failed, for operators.
        what: String,
    },
}

/// The future a store returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One locked account, as an administrator lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedAccount {
    /// The account (or claimed username).
    pub username: String,
    /// When the lock lifts; `None` until unlocked by hand.
    pub until: Option<SystemTime>,
    /// Why, when an administrator or another block locked it.
    pub reason: Option<String>,
    /// Locks so far (progressive locking).
    pub locks: u32,
}

/// The lockout state of every account. Implementations apply [`AccountState`]'s rules
/// atomically per account.
pub trait LockoutStore: Send + Sync {
    /// The policy this store applies (the decorator reads it from here, so the two cannot
    /// disagree).
    fn policy(&self) -> &LockoutPolicy;
    /// Admits an attempt by `username` at `now`, or says why not.
    fn admit<'a>(&'a self, username: &'a str, now: SystemTime) -> StoreFuture<'a, Admission>;
    /// Records how an admitted attempt ended; the lock it placed, if any.
    fn finish<'a>(
        &'a self,
        username: &'a str,
        now: SystemTime,
        outcome: AttemptOutcome,
    ) -> StoreFuture<'a, Option<LockPlaced>>;
    /// Gives back the reservation of an admitted attempt that ended without an outcome (its
    /// caller went away); counts nothing. Synchronous and best effort, so it can run when
    /// an attempt is dropped; a reservation it cannot give back lapses with its lease.
    fn release(&self, username: &str);
    /// Whether `username` is locked at `now` (an attempt that succeeded while an
    /// administrator locked the account is refused).
    fn is_locked<'a>(&'a self, username: &'a str, now: SystemTime) -> StoreFuture<'a, bool>;
    /// Locks `username` at `now` until `until` (or until unlocked) for `reason`.
    fn lock<'a>(
        &'a self,
        username: &'a str,
        now: SystemTime,
        until: Option<SystemTime>,
        reason: String,
    ) -> StoreFuture<'a, ()>;
    /// Lifts every lock on `username`; whether it was locked.
    fn unlock<'a>(&'a self, username: &'a str, now: SystemTime) -> StoreFuture<'a, bool>;
    /// Every account locked at `now`, by username.
    fn locked(&self, now: SystemTime) -> StoreFuture<'_, Vec<LockedAccount>>;
}

/// Accounts tracked at most, by default: bounded whatever names an attacker invents.
pub const DEFAULT_MAX_TRACKED: usize = 1_000_000;

const SHARDS: usize = 64;

/// Lockout state in this process: sharded maps behind locks, holding only accounts with
/// something to remember (failures, an attempt in flight, a lock), and at most a bounded
/// number of them.
///
/// Unknown usernames are tracked exactly like real ones. When the bound is reached, the
/// unlocked account seen least recently in a shard is forgotten (its failures with it); a
/// locked account is never forgotten. Pair the lockout with per-source limits so that
/// flooding the table is slow.
#[derive(Debug)]
pub struct MemoryStore {
    policy: LockoutPolicy,
    shards: Vec<Mutex<HashMap<String, Tracked>>>,
    per_shard: usize,
    hasher: RandomState,
}

#[derive(Debug, Default)]
struct Tracked {
    state: AccountState,
    last_seen: Option<SystemTime>,
}

impl MemoryStore {
    /// A store for `policy`, tracking at most [`DEFAULT_MAX_TRACKED`] accounts.
    pub fn new(policy: LockoutPolicy) -> Self {
        MemoryStore::with_capacity(policy, DEFAULT_MAX_TRACKED)
    }

    /// A store tracking at most `max_tracked` accounts (at least one per shard).
    pub fn with_capacity(policy: LockoutPolicy, max_tracked: usize) -> Self {
        MemoryStore {
            policy,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_tracked.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    /// Accounts tracked now.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// The shard `username` lives in.
    fn shard(&self, username: &str) -> Option<&Mutex<HashMap<String, Tracked>>> {
        let index = usize::try_from(self.hasher.hash_one(username) % SHARDS as u64).unwrap_or(0);
        self.shards.get(index)
    }

    /// Runs `change` on `username`'s state under its shard's lock; forgets the account when
    /// nothing is left to remember.
    ///
    /// # Errors
    /// The shard is full of accounts that cannot be forgotten (locked, or with an attempt
    /// in flight): the bound is hard, so the attempt is refused rather than tracked.
    fn with_state<T>(
        &self,
        username: &str,
        now: SystemTime,
        change: impl FnOnce(&mut AccountState) -> T,
    ) -> Result<T, StoreError> {
        let full = || StoreError::Unavailable {
            what: "the lockout table is full of locked accounts".to_owned(),
        };
        let shard = self.shard(username).ok_or_else(full)?;
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(username) && map.len() >= self.per_shard {
            evict_least_recent_unlocked(&mut map, now);
            if map.len() >= self.per_shard {
                return Err(full());
            }
        }
        let tracked = map.entry(username.to_owned()).or_default();
        tracked.last_seen = Some(now);
        let result = change(&mut tracked.state);
        if tracked.state.is_idle() {
            map.remove(username);
        }
        Ok(result)
    }
}

/// Frees one place: the unlocked, idle-longest account (never a locked one, never one with
/// an attempt in flight).
fn evict_least_recent_unlocked(map: &mut HashMap<String, Tracked>, now: SystemTime) {
    let victim = map
        .iter()
        .filter(|(_, tracked)| {
            tracked.state.in_flight == 0 && tracked.state.locked_at(now).is_none()
        })
        .min_by_key(|(_, tracked)| tracked.last_seen)
        .map(|(name, _)| name.clone());
    if let Some(victim) = victim {
        map.remove(&victim);
    }
}

impl LockoutStore for MemoryStore {
    fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    fn admit<'a>(&'a self, username: &'a str, now: SystemTime) -> StoreFuture<'a, Admission> {
        let admission = self.with_state(username, now, |state| state.admit(&self.policy, now));
        Box::pin(async move { admission })
    }

    fn finish<'a>(
        &'a self,
        username: &'a str,
        now: SystemTime,
        outcome: AttemptOutcome,
    ) -> StoreFuture<'a, Option<LockPlaced>> {
        let placed = self.with_state(username, now, |state| {
            state.finish(&self.policy, now, outcome)
        });
        Box::pin(async move { placed })
    }

    fn release(&self, username: &str) {
        if let Some(shard) = self.shard(username) {
            let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(tracked) = map.get_mut(username) {
                tracked.state.release();
                if tracked.state.is_idle() {
                    map.remove(username);
                }
            }
        }
    }

    fn is_locked<'a>(&'a self, username: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        let locked = self.shard(username).is_some_and(|shard| {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(username)
                .is_some_and(|tracked| tracked.state.locked_at(now).is_some())
        });
        Box::pin(async move { Ok(locked) })
    }

    fn lock<'a>(
        &'a self,
        username: &'a str,
        now: SystemTime,
        until: Option<SystemTime>,
        reason: String,
    ) -> StoreFuture<'a, ()> {
        let locked = self.with_state(username, now, |state| state.lock(until, reason));
        Box::pin(async move { locked })
    }

    fn unlock<'a>(&'a self, username: &'a str, now: SystemTime) -> StoreFuture<'a, bool> {
        let was_locked = self.with_state(username, now, |state| state.unlock(&self.policy, now));
        Box::pin(async move { was_locked })
    }

    fn locked(&self, now: SystemTime) -> StoreFuture<'_, Vec<LockedAccount>> {
        let mut locked: Vec<LockedAccount> = self
            .shards
            .iter()
            .flat_map(|shard| {
                let map = shard.lock().unwrap_or_else(PoisonError::into_inner);
                map.iter()
                    .filter_map(|(name, tracked)| {
                        tracked.state.locked_at(now).map(|until| LockedAccount {
                            username: name.clone(),
                            until,
                            reason: tracked.state.reason.clone(),
                            locks: tracked.state.locks,
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        locked.sort_by(|a, b| a.username.cmp(&b.username));
        Box::pin(async move { Ok(locked) })
    }
}
