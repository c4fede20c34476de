//! `Authenticator<PasswordCredential>` over an [`AccountStore`] (IA-2, IA-5(1), AC-2).
//!
//! - Unknown user, disabled user and wrong password give the same error after the same
//!   work: the first two verify against a dummy hash of the current parameters.
//! - argon2id runs on a fixed pool of one thread per permit, never on the async workers,
//!   behind a semaphore: at most `permits` hashes run at once (memory ≤ m × permits) and
//!   at most `max_waiting` wait; beyond that the answer is [`AuthnError::Overloaded`].
//! - A successful login with outdated parameters stores a fresh hash, and records the
//!   login time for inactivity disabling.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use rampart_core::{
    Authenticated, Authenticator, AuthnError, AuthnFuture, Clock, PasswordCredential,
    RequestContext, SecretString, UserInfo,
};
use tokio::sync::Semaphore;

use crate::password::account::{Account, AccountStore, StoreError};
use crate::password::hash::{HashMemory, PasswordHasher, Verified};

/// The `extra` key set on a user who must change their password before anything else.
pub const MUST_CHANGE_PASSWORD: &str = "rampart.io/must-change-password";

/// Counters for operators and for tests that prove every path does the work.
#[derive(Debug, Default)]
pub struct LocalStats {
    verifications: AtomicU64,
    dummy_verifications: AtomicU64,
    rehashes: AtomicU64,
    unusable_hashes: AtomicU64,
    overloaded: AtomicU64,
    running: AtomicU64,
    peak_running: AtomicU64,
}

impl LocalStats {
    /// argon2id verifications run, real and dummy.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
    /// Of those, verifications against the dummy hash (unknown or disabled accounts, and
    /// stored hashes that cannot be used).
    pub fn dummy_verifications(&self) -> u64 {
        self.dummy_verifications.load(Ordering::Relaxed)
    }
    /// Logins refused because the stored hash was malformed or beyond the limits: each
    /// is an account an operator must repair (its holder cannot log in).
    pub fn unusable_hashes(&self) -> u64 {
        self.unusable_hashes.load(Ordering::Relaxed)
    }
    /// Hashes upgraded to the current parameters after a successful login.
    pub fn rehashes(&self) -> u64 {
        self.rehashes.load(Ordering::Relaxed)
    }
    /// The most argon2id computations ever seen running at once (bounded by the permits).
    pub fn peak_running(&self) -> u64 {
        self.peak_running.load(Ordering::Relaxed)
    }
    /// Attempts refused because too many were running and waiting.
    pub fn overloaded(&self) -> u64 {
        self.overloaded.load(Ordering::Relaxed)
    }
}

/// Checks local passwords against an [`AccountStore`].
pub struct LocalAuthenticator<S> {
    store: S,
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
    pool: HashPool,
    waiting: AtomicUsize,
    max_waiting: usize,
    clock: Arc<dyn Clock>,
    backend: String,
    stats: Arc<LocalStats>,
}

impl<S> std::fmt::Debug for LocalAuthenticator<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAuthenticator")
            .field("params", &self.hasher.params())
            .field("permits", &self.permits.available_permits())
            .field("max_waiting", &self.max_waiting)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: AccountStore> LocalAuthenticator<S> {
    /// `permits` hashes at once (at least 1), up to `max_waiting` more queued.
    pub fn new(
        store: S,
        hasher: PasswordHasher,
        permits: usize,
        max_waiting: usize,
        clock: Arc<dyn Clock>,
    ) -> Self {
        LocalAuthenticator {
            store,
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(permits.max(1))),
            pool: HashPool::new(permits.max(1)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            clock,
            backend: "local".to_owned(),
            stats: Arc::new(LocalStats::default()),
        }
    }

    /// The store, e.g. to add accounts.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> &LocalStats {
        &self.stats
    }

    /// The whole decision, in one place.
    async fn check(&self, credential: &PasswordCredential) -> Result<Authenticated, AuthnError> {
        let unavailable = |_: StoreError| AuthnError::Unavailable {
            backend: self.backend.clone(),
        };
        // Before the store, NFKC and argon2: the same answer for every user, at no cost.
        if !crate::password::hash::password_within_limit(credential.password()) {
            return Err(AuthnError::InvalidCredentials);
        }
        let account = self
            .store
            .get(credential.username())
            .await
            .map_err(unavailable)?;
        // A disabled account is verified like an unknown one: same work, same answer.
        let usable = account.filter(|account| !account.disabled);
        let stored = usable.as_ref().map(|account| account.password_hash.clone());
        let verdict = self
            .verify(credential.password().clone(), stored.clone())
            .await?;
        let (Some(verified_hash), Some(rehashed)) = (stored, verdict) else {
            return Err(AuthnError::InvalidCredentials);
        };
        let now = self.clock.now();
        // Record the login on the account as it is now, not as it was read: an account
        // disabled or given a new password while argon2 ran keeps that change, and the
        // login is refused.
        let still_valid = AtomicBool::new(false);
        let change = Box::new(|account: &mut Account| {
            if account.disabled || account.password_hash != verified_hash {
                return;
            }
            still_valid.store(true, Ordering::Relaxed);
            account.last_login = Some(now);
            if let Some(rehashed) = rehashed {
                account.password_hash = rehashed;
                account.password_changed_at = now;
            }
        });
        let account = match self.store.modify(credential.username(), change).await {
            Ok(account) => account,
            // Deleted while argon2 ran: as if it had never been there.
            Err(StoreError::NotFound) => return Err(AuthnError::InvalidCredentials),
            Err(error) => return Err(unavailable(error)),
        };
        if !still_valid.load(Ordering::Relaxed) {
            return Err(AuthnError::InvalidCredentials);
        }
        Ok(Authenticated::new(user_info(&account)))
    }

    /// Runs argon2id off the async workers under the semaphore. `Ok(None)`: no match
    /// (or no account); `Ok(Some(rehash))`: a match, with a new hash when the stored one
    /// is weaker than the current parameters.
    async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Option<Option<String>>, AuthnError> {
        let permit = self.admit().await?;
        let hasher = Arc::clone(&self.hasher);
        let stats = Arc::clone(&self.stats);
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.pool.run(Box::new(move |memory: &mut HashMemory| {
            // The permit lives as long as the computation, even if the caller gives up
            // waiting: the memory bound holds under cancellation too.
            let _permit = permit;
            let running = stats.running.fetch_add(1, Ordering::AcqRel) + 1;
            stats.peak_running.fetch_max(running, Ordering::AcqRel);
            let result = verify_blocking(&hasher, &password, stored, memory);
            stats.running.fetch_sub(1, Ordering::AcqRel);
            // The caller may have gone; the work is done either way.
            let _ = answer.send(result);
        }))?;
        let Checked {
            verified,
            dummy,
            unusable,
            rehashed,
        } = answered.await.map_err(|_| AuthnError::Internal {
            what: "password verification task failed".into(),
        })?;
        self.stats.verifications.fetch_add(1, Ordering::Relaxed);
        if dummy {
            self.stats
                .dummy_verifications
                .fetch_add(1, Ordering::Relaxed);
        }
        if unusable {
            self.stats.unusable_hashes.fetch_add(1, Ordering::Relaxed);
        }
        if rehashed.is_some() {
            self.stats.rehashes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(match verified {
            Verified::Mismatch => None,
            Verified::Match { .. } => Some(rehashed),
        })
    }

    /// A permit to hash, or `Overloaded` when `max_waiting` attempts already wait.
    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AuthnError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if queued >= self.max_waiting {
            self.stats.overloaded.fetch_add(1, Ordering::Relaxed);
            return Err(AuthnError::Overloaded);
        }
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| AuthnError::Internal {
                what: "hash semaphore closed".into(),
            })
    }
}

/// One unit of hashing work, given the thread's argon2 working memory.
type HashJob = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// A fixed set of threads, one per permit, that run argon2id, each in one argon2 buffer
/// it keeps for its whole life.
///
/// Not tokio's blocking pool: that pool grows to hundreds of threads, each with its own
/// malloc arena. And not a fresh buffer per hash: between two hashes the allocator hands
/// pieces of the freed buffer to other tasks, so the next one needs new pages and the
/// process grows far past m × permits although never more than `permits` hashes run at
/// once. With one thread and one buffer per permit, what is retained is bounded too.
struct HashPool {
    jobs: std::sync::mpsc::SyncSender<HashJob>,
}

impl HashPool {
    fn new(threads: usize) -> Self {
        // Capacity `threads`: the semaphore already admits at most that many jobs.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(threads);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("rampart-argon2-{n}"))
                .spawn(move || {
                    let mut memory = HashMemory::new();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            // The authenticator is gone.
                            Err(_) => return,
                        }
                    }
                });
            // A thread that cannot be started leaves fewer workers; `run` reports the
            // case where none is left.
            drop(spawned);
        }
        HashPool { jobs }
    }

    fn run(&self, job: HashJob) -> Result<(), AuthnError> {
        self.jobs.send(job).map_err(|_| AuthnError::Internal {
            what: "no password hashing thread is running".into(),
        })
    }
}

/// Leaves the waiting count however the wait ends (including a dropped future).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one verification on the hashing pool found.
struct Checked {
    verified: Verified,
    /// The work was a dummy verification (no usable account or hash).
    dummy: bool,
    /// The stored hash was malformed or beyond the limits.
    unusable: bool,
    /// A fresh hash at the current parameters, after a match against weaker ones.
    rehashed: Option<String>,
}

/// One verification on the hashing pool. Every path does the work of one verification at
/// the current parameters or more: a stored hash that cannot be used is answered with a
/// dummy verification, so it fails as slowly as a wrong password and timing cannot tell
/// which accounts have a damaged hash.
fn verify_blocking(
    hasher: &PasswordHasher,
    password: &SecretString,
    stored: Option<String>,
    memory: &mut HashMemory,
) -> Checked {
    let dummy = |unusable, memory: &mut HashMemory| Checked {
        verified: hasher.verify_dummy_with(password, memory),
        dummy: true,
        unusable,
        rehashed: None,
    };
    let Some(stored) = stored else {
        return dummy(false, memory);
    };
    match hasher.verify_with(password, &stored, memory) {
        Ok(verified @ Verified::Match { needs_rehash }) => Checked {
            verified,
            dummy: false,
            unusable: false,
            rehashed: needs_rehash
                .then(|| hasher.hash_with(password, memory).ok())
                .flatten(),
        },
        Ok(Verified::Mismatch) => Checked {
            verified: Verified::Mismatch,
            dummy: false,
            unusable: false,
            rehashed: None,
        },
        // Malformed or out of bounds (no work was done): a failed login, never a pass.
        Err(_) => dummy(true, memory),
    }
}

fn user_info(account: &Account) -> UserInfo {
    let user = UserInfo::new(&account.username)
        .with_uid(&account.uid)
        .with_groups(account.groups.iter().cloned());
    if account.must_change {
        user.with_extra_values(MUST_CHANGE_PASSWORD, ["true"])
    } else {
        user
    }
}

impl<S: AccountStore> Authenticator<PasswordCredential> for LocalAuthenticator<S> {
    fn authenticate<'a>(
        &'a self,
        credential: &'a PasswordCredential,
        _context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(self.check(credential))
    }
}
