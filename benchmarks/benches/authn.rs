//! Local-password hot paths: argon2id verification at the default parameters (OWASP's
//! m = 19 MiB, t = 2, p = 1), the unknown-user path (dummy verify) beside the
//! wrong-password path, the blocklist lookup, a whole policy check, and a flood of
//! concurrent logins against the hashing semaphore.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rampart_authn::{
    Account, AccountStore, Blocklist, HashMemory, HashParams, LocalAuthenticator, MemoryStore, PasswordContext, PasswordHasher,
    PasswordPolicy, StoredLimits,
};
use rampart_core::{Authenticator, PasswordCredential, RequestContext, SecretString, SystemClock};

fn verify(c: &mut Criterion) {
    let hasher = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap();
    let right = SecretString::from("correct horse battery staple");
    let wrong = SecretString::from("incorrect horse battery staple");
    let stored = hasher.hash(&right).unwrap();
    // The authenticator's path: one working memory per hashing thread, reused.
    let mut memory = HashMemory::new();
    let mut group = c.benchmark_group("authn/verify_default_params");
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    group.bench_function("right_password", |b| b.iter(|| black_box(hasher.verify_with(&right, &stored, &mut memory).unwrap())));
    group.bench_function("wrong_password", |b| b.iter(|| black_box(hasher.verify_with(&wrong, &stored, &mut memory).unwrap())));
    group.bench_function("unknown_user_dummy", |b| b.iter(|| black_box(hasher.verify_dummy_with(&wrong, &mut memory))));
    // A one-off call allocates its own memory.
    group.bench_function("wrong_password_fresh_memory", |b| b.iter(|| black_box(hasher.verify(&wrong, &stored).unwrap())));
    group.finish();
}

fn blocklist(c: &mut Criterion) {
    let list = Blocklist::builtin();
    let mut group = c.benchmark_group("authn/blocklist");
    group.bench_function("hit", |b| b.iter(|| black_box(list.contains(black_box("trustno1")))));
    group.bench_function("miss", |b| b.iter(|| black_box(list.contains(black_box("purple tuesday lighthouse")))));
    group.finish();
    let policy = PasswordPolicy::builder().service_name("rampart").build().unwrap();
    let candidate = SecretString::from("purple tuesday lighthouse marmalade");
    c.bench_function("authn/policy_check_accepted", |b| {
        b.iter(|| black_box(policy.check(&candidate, &PasswordContext::for_user("alice")).is_ok()))
    });
}

/// 1,000 concurrent logins against 2 permits (all admitted to the queue): throughput, and
/// the peak number of argon2id computations running at once, which bounds memory at
/// m × permits. VmHWM (peak RSS of the process) is printed beside it.
fn flood(c: &mut Criterion) {
    const LOGINS: usize = 1_000;
    const PERMITS: usize = 2;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hasher = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap();
    let store = MemoryStore::new();
    let account = Account {
        username: "alice".into(),
        uid: "uid-alice".into(),
        groups: vec!["developers".into()],
        disabled: false,
        password_hash: hasher.hash(&SecretString::from("correct horse battery staple")).unwrap(),
        password_changed_at: SystemTime::UNIX_EPOCH,
        must_change: false,
        last_login: None,
    };
    runtime.block_on(store.insert(account)).unwrap();
    let before = peak_rss();
    let auth = Arc::new(LocalAuthenticator::new(store, hasher, PERMITS, LOGINS, Arc::new(SystemClock)));
    let mut group = c.benchmark_group("authn/flood");
    // One flood takes seconds: flat sampling, ten floods.
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(75)).throughput(Throughput::Elements(LOGINS as u64));
    group.bench_function("1000_concurrent_logins_2_permits", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..LOGINS)
                    .map(|n| {
                        let auth = Arc::clone(&auth);
                        tokio::spawn(async move {
                            let password = if n % 2 == 0 { "correct horse battery staple" } else { "wrong horse" };
                            let credential = PasswordCredential::new("alice", SecretString::from(password));
                            auth.authenticate(&credential, &RequestContext::new()).await.is_ok()
                        })
                    })
                    .collect();
                for task in tasks {
                    black_box(task.await.unwrap());
                }
            })
        })
    });
    group.finish();
    let stats = auth.stats();
    println!(
        "flood: peak concurrent argon2id = {} (permits {PERMITS}), overloaded = {}, verifications = {}, bound m × permits = {} MiB, before the flood {before}, after {}",
        stats.peak_running(),
        stats.overloaded(),
        stats.verifications(),
        HashParams::DEFAULT.m_kib() as usize * PERMITS / 1024,
        peak_rss()
    );
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with("VmHWM")).map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")))
        .unwrap_or_else(|| "VmHWM unavailable".into())
}

criterion_group!(authn, verify, blocklist, flood);
criterion_main!(authn);
