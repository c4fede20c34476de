//! The local-password authenticator: one answer and one unit of work for unknown,
//! disabled and wrong, transparent rehash, the hashing bound under a flood, inactivity.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rampart_authn::password::{
    AccountChange, HashError, HashParams, MUST_CHANGE_PASSWORD, StoreFuture, StoredLimits,
    disable_inactive,
};
use rampart_authn::{
    Account, AccountStore, LocalAuthenticator, MemoryStore, PasswordHasher, StoreError,
};
use rampart_core::{
    Authenticator, AuthnError, ManualClock, PasswordCredential, RequestContext, SecretString,
};

const START: Duration = Duration::from_secs(1_800_000_000);

fn params(m_kib: u32) -> HashParams {
    HashParams::builder()
        .m_kib(m_kib)
        .t(5)
        .p(1)
        .build()
        .unwrap()
}

fn hasher(m_kib: u32) -> PasswordHasher {
    PasswordHasher::new(params(m_kib), StoredLimits::default()).unwrap()
}

fn account(username: &str, password: &str, hashed_with: &PasswordHasher) -> Account {
    Account {
        password_hash: hashed_with.hash(&SecretString::from(password)).unwrap(),
        password_changed_at: SystemTime::UNIX_EPOCH + START,
        ..rampart_testing::account(username)
    }
}

fn clock() -> ManualClock {
    ManualClock::new(SystemTime::UNIX_EPOCH + START)
}

fn login(name: &str, password: &str) -> PasswordCredential {
    PasswordCredential::new(name, SecretString::from(password))
}

async fn stored(auth: &LocalAuthenticator<MemoryStore>, username: &str) -> Account {
    auth.store().get(username).await.unwrap().unwrap()
}

async fn authenticator_with(accounts: Vec<Account>) -> LocalAuthenticator<MemoryStore> {
    let store = MemoryStore::new();
    for account in accounts {
        store.insert(account).await.unwrap();
    }
    LocalAuthenticator::new(store, hasher(7168), 2, 16, Arc::new(clock()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_disabled_and_wrong_fail_alike_after_one_verification_each() {
    let current = hasher(7168);
    let mut disabled = account("dave", "dave's long passphrase", &current);
    disabled.disabled = true;
    let auth = authenticator_with(vec![
        account("alice", "alice's long passphrase", &current),
        disabled,
    ])
    .await;
    let context = RequestContext::new();
    for (name, password, dummy) in [
        ("mallory", "alice's long passphrase", 1),
        ("dave", "dave's long passphrase", 1),
        ("alice", "not alice's passphrase", 0),
    ] {
        let before = (
            auth.stats().verifications(),
            auth.stats().dummy_verifications(),
        );
        let result = auth.authenticate(&login(name, password), &context).await;
        assert_eq!(result, Err(AuthnError::InvalidCredentials), "{name}");
        let after = (
            auth.stats().verifications(),
            auth.stats().dummy_verifications(),
        );
        assert_eq!(
            after.0 - before.0,
            1,
            "{name}: exactly one argon2id verification"
        );
        assert_eq!(after.1 - before.1, dummy, "{name}: dummy verification");
    }
    // The disabled account's correct password does not log in, and its row is untouched.
    assert!(stored(&auth, "dave").await.last_login.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_returns_the_account_and_records_the_login() {
    let current = hasher(7168);
    let mut alice = account("alice", "alice's long passphrase", &current);
    alice.must_change = true;
    let auth = authenticator_with(vec![alice]).await;
    let ok = auth
        .authenticate(
            &login("alice", "alice's long passphrase"),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(ok.user.username, "alice");
    assert_eq!(ok.user.uid, "uid-alice");
    assert_eq!(ok.user.groups, ["developers"]);
    assert_eq!(
        ok.user.extra.get(MUST_CHANGE_PASSWORD).map(Vec::as_slice),
        Some(&["true".to_owned()][..])
    );
    let alice = stored(&auth, "alice").await;
    assert_eq!(alice.last_login, Some(SystemTime::UNIX_EPOCH + START));
    assert_eq!(auth.stats().rehashes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outdated_parameters_are_upgraded_on_login() {
    let store = MemoryStore::new();
    store
        .insert(account("alice", "alice's long passphrase", &hasher(7168)))
        .await
        .unwrap();
    let auth = LocalAuthenticator::new(store, hasher(9216), 2, 16, Arc::new(clock()));
    let before = stored(&auth, "alice").await.password_hash;
    assert!(before.contains("m=7168,t=5"), "{before}");
    auth.authenticate(
        &login("alice", "alice's long passphrase"),
        &RequestContext::new(),
    )
    .await
    .unwrap();
    let after = stored(&auth, "alice").await.password_hash;
    assert!(after.contains("m=9216,t=5,p=1"), "{after}");
    assert_eq!(auth.stats().rehashes(), 1);
    // The upgraded hash still verifies.
    auth.authenticate(
        &login("alice", "alice's long passphrase"),
        &RequestContext::new(),
    )
    .await
    .unwrap();
    assert_eq!(auth.stats().rehashes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_and_hostile_stored_hashes_never_log_in() {
    let current = hasher(7168);
    let mut broken = account("bob", "bob's long passphrase", &current);
    broken.password_hash =
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into();
    let mut garbage = account("carol", "carol's long passphrase", &current);
    garbage.password_hash = "plaintext-password".into();
    let auth = authenticator_with(vec![broken, garbage]).await;
    for (name, password) in [
        ("bob", "bob's long passphrase"),
        ("carol", "plaintext-password"),
    ] {
        let result = auth
            .authenticate(&login(name, password), &RequestContext::new())
            .await;
        assert_eq!(result, Err(AuthnError::InvalidCredentials), "{name}");
    }
    // Both were answered with the work of a real verification, and counted for operators.
    assert_eq!(auth.stats().unusable_hashes(), 2);
    assert_eq!(auth.stats().dummy_verifications(), 2);
    assert_eq!(auth.stats().verifications(), 2);
}

/// A flood far beyond the bound: at most `permits` hashes ever run at once, at most
/// `max_waiting` wait, the rest are told `Overloaded` at once, and every admitted attempt
/// gets the right answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_bounded_and_overflow_is_refused_not_queued() {
    let current = hasher(7168);
    let store = MemoryStore::new();
    store
        .insert(account("alice", "alice's long passphrase", &current))
        .await
        .unwrap();
    let auth = Arc::new(LocalAuthenticator::new(
        store,
        current,
        2,
        4,
        Arc::new(clock()),
    ));
    let mut tasks = Vec::new();
    for n in 0..200 {
        let auth = Arc::clone(&auth);
        tasks.push(tokio::spawn(async move {
            let password = if n % 2 == 0 {
                "alice's long passphrase"
            } else {
                "wrong passphrase"
            };
            (
                n,
                auth.authenticate(&login("alice", password), &RequestContext::new())
                    .await,
            )
        }));
    }
    let (mut admitted, mut overloaded) = (0u64, 0u64);
    for task in tasks {
        let (n, result) = task.await.unwrap();
        match result {
            Err(AuthnError::Overloaded) => overloaded += 1,
            Ok(_) => {
                assert_eq!(n % 2, 0);
                admitted += 1;
            }
            Err(AuthnError::InvalidCredentials) => {
                assert_eq!(n % 2, 1);
                admitted += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(admitted + overloaded, 200);
    assert!(
        overloaded > 0,
        "200 attempts against 2 permits + 4 waiting must overflow"
    );
    assert_eq!(overloaded, auth.stats().overloaded());
    assert_eq!(admitted, auth.stats().verifications());
    assert!(
        auth.stats().peak_running() <= 2,
        "peak {}",
        auth.stats().peak_running()
    );
    assert!(auth.stats().peak_running() >= 1);
}

/// A store that fails: a backend fault, which a real store cannot produce on demand.
struct DownStore;

impl AccountStore for DownStore {
    fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Account>> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                what: "connection refused".into(),
            })
        })
    }
    fn insert(&self, _: Account) -> StoreFuture<'_, ()> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                what: "connection refused".into(),
            })
        })
    }
    fn update(&self, _: Account) -> StoreFuture<'_, ()> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                what: "connection refused".into(),
            })
        })
    }
    fn modify<'a>(
        &'a self,
        _username: &'a str,
        _change: AccountChange<'a>,
    ) -> StoreFuture<'a, Account> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                what: "connection refused".into(),
            })
        })
    }
    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                what: "connection refused".into(),
            })
        })
    }
    fn delete<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                what: "connection refused".into(),
            })
        })
    }
}

/// A store where an administrator acts right after the authenticator reads an account,
/// while argon2 runs: `act` is applied to the stored account after `get` returns.
struct AdminActsDuringLogin {
    inner: MemoryStore,
    act: fn(&mut Account),
}

impl AccountStore for AdminActsDuringLogin {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        Box::pin(async move {
            let read = self.inner.get(username).await?;
            let act = self.act;
            self.inner.modify(username, Box::new(act)).await?;
            Ok(read)
        })
    }
    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        self.inner.insert(account)
    }
    fn update(&self, account: Account) -> StoreFuture<'_, ()> {
        self.inner.update(account)
    }
    fn modify<'a>(
        &'a self,
        username: &'a str,
        change: AccountChange<'a>,
    ) -> StoreFuture<'a, Account> {
        self.inner.modify(username, change)
    }
    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        self.inner.list()
    }
    fn delete<'a>(&'a self, username: &'a str) -> StoreFuture<'a, ()> {
        self.inner.delete(username)
    }
}

/// An account disabled, or given a new password, while its login was being verified:
/// the login is refused and the administrator's change stands (no write-back of the
/// stale record, no rehash over the new password).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_verification_wins_over_the_login() {
    // The stored hash is older than the authenticator's parameters: a login would rehash.
    let old = hasher(7168);
    let disable: fn(&mut Account) = |account| account.disabled = true;
    let new_password: fn(&mut Account) = |account| {
        account.password_hash =
            "$argon2id$v=19$m=7168,t=5,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2huZXdoYXNo".into();
    };
    for act in [disable, new_password] {
        let inner = MemoryStore::new();
        let original = account("alice", "alice's long passphrase", &old);
        inner.insert(original.clone()).await.unwrap();
        let store = AdminActsDuringLogin { inner, act };
        let auth = LocalAuthenticator::new(store, hasher(8 * 1024), 1, 1, Arc::new(clock()));
        let result = auth
            .authenticate(
                &login("alice", "alice's long passphrase"),
                &RequestContext::new(),
            )
            .await;
        assert_eq!(result, Err(AuthnError::InvalidCredentials));
        let after = auth.store().inner.get("alice").await.unwrap().unwrap();
        let mut expected = original;
        act(&mut expected);
        assert_eq!(
            after, expected,
            "the administrator's change stands, untouched"
        );
        assert_eq!(after.last_login, None, "no login recorded");
        assert_eq!(auth.stats().verifications(), 1, "the work was done");
    }
}

#[tokio::test]
async fn a_failing_store_is_unavailable_not_a_failed_login() {
    let auth = LocalAuthenticator::new(DownStore, hasher(7168), 1, 1, Arc::new(clock()));
    let result = auth
        .authenticate(&login("alice", "anything at all"), &RequestContext::new())
        .await;
    assert_eq!(
        result,
        Err(AuthnError::Unavailable {
            backend: "local".into()
        })
    );
    assert_eq!(auth.stats().verifications(), 0);
}

#[tokio::test]
async fn inactive_accounts_are_disabled() {
    let current = hasher(7168);
    let store = MemoryStore::new();
    let day = Duration::from_secs(86_400);
    let now = SystemTime::UNIX_EPOCH + START + 100 * day;
    let mut recent = account("recent", "p", &current);
    recent.last_login = Some(now - 10 * day);
    let mut stale = account("stale", "p", &current);
    stale.last_login = Some(now - 91 * day);
    let never = account("never", "p", &current); // password set 100 days ago, no login
    let mut already = account("already", "p", &current);
    already.disabled = true;
    for account in [recent, stale, never, already] {
        store.insert(account).await.unwrap();
    }
    let disabled = disable_inactive(&store, 90 * day, now).await.unwrap();
    assert_eq!(disabled, ["never", "stale"]);
    assert!(!store.get("recent").await.unwrap().unwrap().disabled);
    assert!(store.get("stale").await.unwrap().unwrap().disabled);
    assert_eq!(
        disable_inactive(&store, 90 * day, now).await.unwrap(),
        Vec::<String>::new()
    );
}

/// A password far beyond any policy's length is refused before NFKC and before argon2,
/// known user or not: no normalisation of 10 MB, no hashing work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_password_is_refused_before_any_normalisation_or_hashing() {
    let current = hasher(7168);
    let auth =
        authenticator_with(vec![account("alice", "alice's long passphrase", &current)]).await;
    let context = RequestContext::new();
    let huge = "\u{fdfa}".repeat(10 * 1024 * 1024 / 3);
    for name in ["alice", "mallory"] {
        let result = auth.authenticate(&login(name, &huge), &context).await;
        assert_eq!(result, Err(AuthnError::InvalidCredentials), "{name}");
    }
    assert_eq!(auth.stats().verifications(), 0, "no argon2 work was done");
    let at_limit = "a".repeat(rampart_authn::password::MAX_PASSWORD_BYTES);
    assert_eq!(
        auth.authenticate(&login("alice", &at_limit), &context)
            .await,
        Err(AuthnError::InvalidCredentials)
    );
    assert_eq!(
        auth.stats().verifications(),
        1,
        "at the limit, verified as usual"
    );
}

/// A hasher whose own hashes its verifier would refuse is a construction error.
#[test]
fn a_hasher_beyond_its_own_stored_limits_cannot_be_built() {
    let params = HashParams::builder().m_kib(64 * 1024).build().unwrap();
    let limits = StoredLimits {
        max_m_kib: 32 * 1024,
        ..StoredLimits::default()
    };
    assert!(matches!(
        PasswordHasher::new(params, limits),
        Err(HashError::InvalidParams(_))
    ));
}
