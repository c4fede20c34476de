//! Audit throughput per durability mode, beside the raw limits of the same disk measured in
//! the same run: plain writes of the same bytes, write+fdatasync per record, and
//! write+fdatasync per batch of the size group commit sees.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_audit::{Durability, FileSink, FileSinkConfig, OverloadPolicy};
use rampart_core::{
    Action, AuditEvent, Audited, Authenticated, Authenticator, AuthnFuture, MemorySink, Outcome, PasswordCredential,
    RequestContext, SecretString, SystemClock, Target, Timestamp, UserInfo,
};

/// Producer threads for group commit (and the batch size of the raw batched limit).
const PRODUCERS: usize = 8;

fn event(n: u64) -> AuditEvent {
    AuditEvent::new(Action::AuthnAttempt, Outcome::Failure, "2026-11-27T11:40:57.123456Z".parse::<Timestamp>().unwrap())
        .with_actor(UserInfo::new(format!("user-{n}")).with_groups(["developers", "system:authenticated"]))
        .with_source(RequestContext::new().with_source_ip("10.20.30.40".parse().unwrap()).with_user_agent("kubectl/v1.37.0 (linux/amd64)").with_request_id("0f8e6a5c-1b2d-4e3f-9a8b-7c6d5e4f3a2b"))
        .with_target(Target::new("account", format!("user-{n}")))
        .with_reason("invalid_credentials")
        .with_detail("authenticator", "local")
        .with_detail("credential", "password")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stored line of the size rampart writes, for the raw runs.
fn sample_line() -> Vec<u8> {
    let dir = scratch("sample");
    let sink = FileSink::open(FileSinkConfig::new(&dir).durability(Durability::Buffered)).unwrap();
    sink.record_with_ack(&event(1)).unwrap();
    drop(sink);
    let file = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "jsonl")).unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    let mut line = text.lines().nth(1).unwrap().as_bytes().to_vec();
    line.push(b'\n');
    line
}

fn raw_file(name: &str) -> File {
    OpenOptions::new().create(true).append(true).open(scratch(name).join("raw.jsonl")).unwrap()
}

fn benches(c: &mut Criterion) {
    let line = sample_line();
    eprintln!("record size: {} bytes", line.len());
    let mut group = c.benchmark_group("audit/raw-disk");
    group.throughput(Throughput::Elements(1));
    group.bench_function("write", |b| {
        let mut file = raw_file("raw-write");
        b.iter(|| file.write_all(black_box(&line)).unwrap())
    });
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("write+fdatasync-per-record", |b| {
        let mut file = raw_file("raw-sync");
        b.iter(|| {
            file.write_all(black_box(&line)).unwrap();
            file.sync_data().unwrap();
        })
    });
    let batch: Vec<u8> = line.iter().copied().cycle().take(line.len() * PRODUCERS).collect();
    group.throughput(Throughput::Elements(PRODUCERS as u64));
    group.bench_function(format!("write+fdatasync-per-batch-of-{PRODUCERS}"), |b| {
        let mut file = raw_file("raw-batch");
        b.iter(|| {
            file.write_all(black_box(&batch)).unwrap();
            file.sync_data().unwrap();
        })
    });
    group.finish();

    let mut group = c.benchmark_group("audit/file-sink");
    group.throughput(Throughput::Elements(1));
    group.bench_function("buffered", |b| {
        let sink = FileSink::open(FileSinkConfig::new(scratch("buffered")).durability(Durability::Buffered)).unwrap();
        let e = event(7);
        b.iter(|| sink.record_with_ack(black_box(&e)).unwrap())
    });
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("every_event", |b| {
        let sink = FileSink::open(FileSinkConfig::new(scratch("every")).durability(Durability::EveryEvent)).unwrap();
        let e = event(7);
        b.iter(|| sink.record_with_ack(black_box(&e)).unwrap())
    });
    group.throughput(Throughput::Elements(PRODUCERS as u64));
    group.bench_function(format!("group_commit-{PRODUCERS}-producers"), |b| {
        let sink = Arc::new(
            FileSink::open(FileSinkConfig::new(scratch("group")).durability(Durability::GroupCommit).overload(OverloadPolicy::Block)).unwrap(),
        );
        // Each iteration: every producer records one event; all wait for durability.
        b.iter_custom(|iterations| {
            let start = Instant::now();
            let threads: Vec<_> = (0..PRODUCERS)
                .map(|_| {
                    let sink = sink.clone();
                    std::thread::spawn(move || {
                        let e = event(7);
                        for _ in 0..iterations {
                            sink.record_with_ack(&e).unwrap();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// Accepts every password: the audited-login benchmark measures the audit path alone.
struct AcceptAll;

impl Authenticator<PasswordCredential> for AcceptAll {
    fn authenticate<'a>(&'a self, credential: &'a PasswordCredential, _: &'a RequestContext) -> AuthnFuture<'a> {
        Box::pin(async move { Ok(Authenticated::new(UserInfo::new(credential.username()))) })
    }
}

/// What auditing adds to a login on the async path (`Audited` awaiting `submit`): the bare
/// authenticator, a memory sink (event building alone), and group-commit and every_event
/// trails (the ticket resolves after the writer thread's fdatasync), each as 64 concurrent
/// logins on a 2-worker runtime.
fn audited_login(c: &mut Criterion) {
    const LOGINS: usize = 64;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut group = c.benchmark_group("audit/audited-login-64-concurrent");
    group.throughput(Throughput::Elements(LOGINS as u64)).sample_size(20);
    let run = |authenticator: Arc<dyn Authenticator<PasswordCredential>>| {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..LOGINS)
                .map(|n| {
                    let authenticator = authenticator.clone();
                    tokio::spawn(async move {
                        let credential = PasswordCredential::new(format!("user-{n}"), SecretString::from("pw"));
                        authenticator.authenticate(&credential, &RequestContext::new()).await.is_ok()
                    })
                })
                .collect();
            for task in tasks {
                assert!(task.await.unwrap());
            }
        })
    };
    let bare: Arc<dyn Authenticator<PasswordCredential>> = Arc::new(AcceptAll);
    group.bench_function("bare", |b| b.iter(|| run(bare.clone())));
    let memory: Arc<dyn Authenticator<PasswordCredential>> =
        Arc::new(Audited::new(AcceptAll, "local", Arc::new(MemorySink::new()), SystemClock::shared()));
    group.bench_function("memory_sink", |b| b.iter(|| run(memory.clone())));
    for (name, durability) in [("group_commit", Durability::GroupCommit), ("every_event", Durability::EveryEvent)] {
        let sink = Arc::new(FileSink::open(FileSinkConfig::new(scratch(&format!("login-{name}"))).durability(durability)).unwrap());
        let audited: Arc<dyn Authenticator<PasswordCredential>> = Arc::new(Audited::new(AcceptAll, "local", sink, SystemClock::shared()));
        group.bench_function(name, |b| b.iter(|| run(audited.clone())));
    }
    group.finish();
}

criterion_group!(audit, benches, audited_login);
criterion_main!(audit);
