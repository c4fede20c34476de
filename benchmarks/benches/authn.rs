//! Local-password hot paths: argon2id verification at the default parameters (OWASP's
//! m = 19 MiB, t = 2, p = 1), the unknown-user path (dummy verify) beside the
//! wrong-password path, the blocklist lookup and a whole policy check.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_authn::{Blocklist, HashParams, PasswordContext, PasswordHasher, PasswordPolicy, StoredLimits};
use rampart_core::SecretString;

fn verify(c: &mut Criterion) {
    let hasher = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap();
    let right = SecretString::from("correct horse battery staple");
    let wrong = SecretString::from("incorrect horse battery staple");
    let stored = hasher.hash(&right).unwrap();
    let mut group = c.benchmark_group("authn/verify_default_params");
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    group.bench_function("right_password", |b| b.iter(|| black_box(hasher.verify(&right, &stored).unwrap())));
    group.bench_function("wrong_password", |b| b.iter(|| black_box(hasher.verify(&wrong, &stored).unwrap())));
    group.bench_function("unknown_user_dummy", |b| b.iter(|| black_box(hasher.verify_dummy(&wrong))));
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

criterion_group!(authn, verify, blocklist);
criterion_main!(authn);
