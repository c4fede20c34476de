//! `Lockout` over a counting authenticator: exactly N attempts reach the password check
//! however many run at once, locks lift exactly when they end, unknown users are treated
//! alike, outages never count, memory stays bounded, and every refusal, lock and unlock is
//! an audit event.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rampart_core::{
    Action, Authenticated, Authenticator, AuthnError, AuthnFuture, ManualClock, MemorySink,
    PasswordCredential, RequestContext, SecretString, UserInfo,
};
use rampart_lockout::{Lockout, LockoutPolicy, LockoutStore, MemoryStore};

/// `alice` / `right` is the only good login; counts every check that reaches it.
struct Counting {
    checks: AtomicUsize,
    outage: std::sync::atomic::AtomicBool,
    /// Checks never finish (a check its caller gives up on).
    hang: std::sync::atomic::AtomicBool,
    /// Checks wait for a permit of `gate` (to act while they are under way).
    gated: std::sync::atomic::AtomicBool,
    gate: tokio::sync::Semaphore,
}

impl Default for Counting {
    fn default() -> Self {
        Counting {
            checks: AtomicUsize::new(0),
            outage: std::sync::atomic::AtomicBool::new(false),
            hang: std::sync::atomic::AtomicBool::new(false),
            gated: std::sync::atomic::AtomicBool::new(false),
            gate: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Authenticator<PasswordCredential> for Counting {
    fn authenticate<'a>(
        &'a self,
        credential: &'a PasswordCredential,
        _: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(async move {
            self.checks.fetch_add(1, Ordering::SeqCst);
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.gated.load(Ordering::SeqCst) {
                self.gate.acquire().await.unwrap().forget();
            }
            // Long enough that many attempts overlap.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if self.outage.load(Ordering::SeqCst) {
                return Err(AuthnError::unavailable("accounts"));
            }
            if credential.username() == "alice" && credential.password().expose_secret() == "right"
            {
                Ok(Authenticated::new(UserInfo::new("alice")))
            } else {
                Err(AuthnError::InvalidCredentials)
            }
        })
    }
}

struct Setup {
    lockout: Arc<Lockout<Arc<Counting>, MemoryStore>>,
    inner: Arc<Counting>,
    sink: Arc<MemorySink>,
    clock: Arc<ManualClock>,
}

fn setup(policy: LockoutPolicy, capacity: usize) -> Setup {
    let inner = Arc::new(Counting::default());
    let sink = Arc::new(MemorySink::new());
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let lockout = Arc::new(Lockout::new(
        inner.clone(),
        MemoryStore::with_capacity(policy, capacity),
        sink.clone(),
        clock.clone(),
    ));
    Setup {
        lockout,
        inner,
        sink,
        clock,
    }
}

fn login(user: &str, password: &str) -> PasswordCredential {
    PasswordCredential::new(user, SecretString::from(password))
}

fn context() -> RequestContext {
    RequestContext::new().with_source_ip("203.0.113.9".parse().unwrap())
}

/// `times` wrong passwords for `user`, one after another.
async fn fail(lockout: &Lockout<Arc<Counting>, MemoryStore>, user: &str, times: usize) {
    for _ in 0..times {
        assert!(attempt(lockout, user, "wrong").await.is_err());
    }
}

/// One login attempt through the lockout, from the usual source.
async fn attempt(
    lockout: &Lockout<Arc<Counting>, MemoryStore>,
    user: &str,
    password: &str,
) -> Result<Authenticated, AuthnError> {
    lockout
        .authenticate(&login(user, password), &context())
        .await
}

fn count(sink: &MemorySink, action: &Action) -> usize {
    sink.events().iter().filter(|e| &e.action == action).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_attempts_let_exactly_n_reach_the_password_check() {
    let policy = LockoutPolicy::preset("teleport").unwrap();
    let Setup {
        lockout,
        inner,
        sink,
        ..
    } = setup(policy, 1000);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let lockout = lockout.clone();
            tokio::spawn(async move { attempt(&lockout, "alice", "wrong").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(AuthnError::InvalidCredentials));
    }
    assert_eq!(inner.checks.load(Ordering::SeqCst), 5, "exactly N checks");
    assert_eq!(count(&sink, &Action::LockoutLocked), 1);
    assert_eq!(count(&sink, &Action::LockoutRefused), 995);
    // Even the right password is refused while locked, without a check.
    assert_eq!(
        attempt(&lockout, "alice", "right").await,
        Err(AuthnError::InvalidCredentials)
    );
    assert_eq!(inner.checks.load(Ordering::SeqCst), 5);
    let refused = sink
        .events()
        .into_iter()
        .rfind(|e| e.action == Action::LockoutRefused)
        .unwrap();
    assert_eq!(
        refused.source.source_ip(),
        Some("203.0.113.9".parse().unwrap())
    );
    assert!(!serde_json::to_string(&refused).unwrap().contains("right"));
}

#[tokio::test]
async fn the_lock_lifts_exactly_when_it_ends_and_a_success_resets() {
    let Setup {
        lockout,
        inner,
        clock,
        ..
    } = setup(LockoutPolicy::default(), 1000);
    fail(&lockout, "alice", 3).await;
    clock.advance(Duration::from_secs(30 * 60 - 1));
    assert!(attempt(&lockout, "alice", "right").await.is_err());
    assert_eq!(inner.checks.load(Ordering::SeqCst), 3);
    clock.advance(Duration::from_secs(1));
    assert!(attempt(&lockout, "alice", "right").await.is_ok());
    // Two failures, a success, two failures: never three in a row, never locked.
    for password in ["wrong", "wrong", "right", "wrong", "wrong", "right"] {
        let _ = attempt(&lockout, "alice", password).await;
    }
    assert!(attempt(&lockout, "alice", "right").await.is_ok());
}

#[tokio::test]
async fn unknown_users_are_locked_alike_and_outages_never_count() {
    let Setup { lockout, inner, .. } = setup(LockoutPolicy::default(), 1000);
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(attempt(&lockout, "nobody", "guess").await);
    }
    assert!(
        answers
            .iter()
            .all(|a| *a == Err(AuthnError::InvalidCredentials))
    );
    assert_eq!(
        inner.checks.load(Ordering::SeqCst),
        3,
        "locked after 3 like a real account"
    );

    inner.outage.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        assert!(matches!(
            attempt(&lockout, "alice", "right").await,
            Err(AuthnError::Unavailable { .. })
        ));
    }
    inner.outage.store(false, Ordering::SeqCst);
    assert!(attempt(&lockout, "alice", "right").await.is_ok());
}

#[tokio::test]
async fn a_revealing_policy_says_locked_and_for_how_long() {
    let policy = LockoutPolicy::builder().reveal_lock(true).build().unwrap();
    let Setup { lockout, clock, .. } = setup(policy, 1000);
    fail(&lockout, "alice", 3).await;
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        attempt(&lockout, "alice", "right").await,
        Err(AuthnError::Locked {
            retry_after: Some(Duration::from_secs(1200))
        })
    );
}

#[tokio::test]
async fn administrators_lock_and_unlock_with_a_reason_on_record() {
    let Setup {
        lockout,
        sink,
        clock,
        ..
    } = setup(LockoutPolicy::default(), 1000);
    let admin = UserInfo::new("security-officer");
    lockout
        .lock("alice", &admin, "suspected compromise", None)
        .await
        .unwrap();
    assert!(attempt(&lockout, "alice", "right").await.is_err());
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    let locked = lockout
        .store()
        .locked(rampart_core::Clock::now(&*clock))
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].reason.as_deref(), Some("suspected compromise"));
    assert!(
        lockout
            .unlock("alice", &admin, "password reset done")
            .await
            .unwrap()
    );
    assert!(attempt(&lockout, "alice", "right").await.is_ok());
    let unlocked = sink
        .events()
        .into_iter()
        .find(|e| e.action == Action::LockoutUnlocked)
        .unwrap();
    assert_eq!(unlocked.actor.username, "security-officer");
    assert_eq!(unlocked.reason.as_deref(), Some("password reset done"));
}

/// A flood of invented usernames cannot grow the table past its bound, and never makes the
/// store forget a lock.
#[tokio::test]
async fn invented_usernames_cannot_exhaust_memory_or_flush_a_lock() {
    let Setup { lockout, .. } = setup(LockoutPolicy::default(), 6_400);
    fail(&lockout, "alice", 3).await;
    let store = lockout.store();
    let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for n in 0..100_000 {
        let name = format!("invented-{n}");
        store.admit(&name, now).await.unwrap();
        store
            .finish(&name, now, rampart_lockout::AttemptOutcome::Failed)
            .await
            .unwrap();
    }
    assert!(store.tracked() <= 6_400, "{} tracked", store.tracked());
    assert!(attempt(&lockout, "alice", "right").await.is_err());
    assert_eq!(store.locked(now).await.unwrap().len(), 1);
}

/// Attempts dropped mid-check (clients that went away, timeouts) give their place back: no
/// number of them can hold the account's attempts, and nothing is counted.
#[tokio::test]
async fn dropped_attempts_never_hold_the_account() {
    let Setup { lockout, inner, .. } = setup(LockoutPolicy::default(), 1000);
    let (credential, from) = (login("alice", "wrong"), context());
    inner.hang.store(true, Ordering::SeqCst);
    for n in 0..10 {
        let attempt = lockout.authenticate(&credential, &from);
        let cut = tokio::time::timeout(Duration::from_millis(5), attempt).await;
        assert!(
            cut.is_err(),
            "attempt {n} was not cut off mid-check: {cut:?}"
        );
    }
    assert_eq!(
        inner.checks.load(Ordering::SeqCst),
        10,
        "every one was admitted"
    );
    inner.hang.store(false, Ordering::SeqCst);
    assert!(attempt(&lockout, "alice", "right").await.is_ok());
}

/// An administrator's lock placed while a password is being checked wins: the correct
/// password checked under it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_placed_during_a_check_refuses_its_success() {
    let Setup { lockout, sink, .. } = setup(LockoutPolicy::default(), 1000);
    let attempt = {
        let lockout = lockout.clone();
        tokio::spawn(async move { attempt(&lockout, "alice", "right").await })
    };
    tokio::time::sleep(Duration::from_micros(500)).await;
    lockout
        .lock(
            "alice",
            &UserInfo::new("security-officer"),
            "suspected compromise",
            None,
        )
        .await
        .unwrap();
    let answer = attempt.await.unwrap();
    assert_eq!(
        answer,
        Err(AuthnError::InvalidCredentials),
        "{:?}",
        sink.events()
    );
}

/// The bound is hard: when every tracked account is locked, a new name is refused as
/// unavailable rather than tracked beyond the bound (fail closed, never unchecked).
#[tokio::test]
async fn a_table_full_of_locks_refuses_new_names_instead_of_growing() {
    let Setup { lockout, inner, .. } = setup(LockoutPolicy::default(), 64);
    let admin = UserInfo::new("security-officer");
    let mut refused = 0;
    for n in 0..1000 {
        if lockout
            .lock(&format!("locked-{n}"), &admin, "drill", None)
            .await
            .is_err()
        {
            refused += 1;
        }
    }
    assert!(
        lockout.store().tracked() <= 64,
        "{}",
        lockout.store().tracked()
    );
    assert!(refused >= 1000 - 64);
    let mut unavailable = 0;
    for n in 0..50 {
        if let Err(AuthnError::Unavailable { .. }) =
            attempt(&lockout, &format!("new-{n}"), "x").await
        {
            unavailable += 1;
        }
    }
    assert_eq!(unavailable, 50, "every shard is full of locks");
    assert_eq!(
        inner.checks.load(Ordering::SeqCst),
        0,
        "nothing unchecked got through"
    );
}

/// With locks revealed, an attempt refused because others for the account are still being
/// checked says "try later", not "locked until an administrator unlocks".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_account_is_overloaded_not_locked_when_locks_are_revealed() {
    let policy = LockoutPolicy::builder().reveal_lock(true).build().unwrap();
    let Setup { lockout, inner, .. } = setup(policy, 1000);
    inner.gated.store(true, Ordering::SeqCst);
    let pending: Vec<_> = (0..3)
        .map(|_| {
            let lockout = lockout.clone();
            tokio::spawn(async move { attempt(&lockout, "alice", "right").await })
        })
        .collect();
    while inner.checks.load(Ordering::SeqCst) < 3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        attempt(&lockout, "alice", "right").await,
        Err(AuthnError::Overloaded)
    );
    inner.gate.add_permits(3);
    for task in pending {
        assert!(task.await.unwrap().is_ok());
    }
}
