//! The async audit path: audited logins on a small runtime never park its workers on the
//! disk, and every ticket resolves with the fate its event really had.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_audit::{Durability, FileSink, FileSinkConfig, OverloadPolicy};
use rampart_core::{
    Action, AuditError, AuditEvent, AuditSink, AuditTicket, Audited, Authenticated, Authenticator,
    AuthnFuture, Outcome, PasswordCredential, RequestContext, SecretString, SystemClock, UserInfo,
};
use tokio::time::Instant;

use rampart_testing::ScratchDir as TempDir;

/// Makes every commit of the trail take `0` longer, as a slow disk would: the file sink
/// publishes its head to this anchor after every commit while its writer waits.
#[derive(Debug)]
struct SlowDisk(Duration);

impl AuditSink for SlowDisk {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        AuditTicket::ready(self.record(event))
    }

    fn record(&self, _: AuditEvent) -> Result<(), AuditError> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

/// The mistake the async seam exists to prevent: recording on the caller's thread.
#[derive(Debug)]
struct RecordInline(Arc<FileSink>);

impl AuditSink for RecordInline {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        AuditTicket::ready(self.0.record(event))
    }
}

/// Accepts every password: the test measures the audit path alone.
struct AcceptAll;

impl Authenticator<PasswordCredential> for AcceptAll {
    fn authenticate<'a>(
        &'a self,
        credential: &'a PasswordCredential,
        _: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(async move { Ok(Authenticated::new(UserInfo::new(credential.username()))) })
    }
}

fn slow_trail(
    dir: &Path,
    per_commit: Duration,
    overload: OverloadPolicy,
    queue: usize,
) -> FileSink {
    FileSink::open(
        FileSinkConfig::new(dir)
            .durability(Durability::EveryEvent)
            .overload(overload)
            .queue_capacity(queue)
            .anchor_sink(Arc::new(SlowDisk(per_commit)), Duration::ZERO),
    )
    .unwrap()
}

fn logins_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "jsonl"))
        .map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .matches("\"action\":\"authn.attempt\"")
                .count()
        })
        .sum()
}

/// Hands `count` login events to `sink` without waiting; their tickets.
fn submit_logins(sink: &FileSink, count: u64) -> Vec<AuditTicket> {
    (0..count)
        .map(|n| {
            sink.submit(
                AuditEvent::new(
                    Action::AuthnAttempt,
                    Outcome::Success,
                    std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(n),
                )
                .with_actor(UserInfo::new(format!("user-{n}"))),
            )
        })
        .collect()
}

/// Runs `logins` concurrent audited logins on a 2-worker runtime beside a timer task that
/// wakes every 2 ms; returns how late the timer ever woke and how many logins succeeded.
fn logins_beside_a_timer(sink: Arc<dyn AuditSink>, logins: usize) -> (Duration, usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let timer_stop = stop.clone();
        let timer = tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            while !timer_stop.load(Ordering::SeqCst) {
                let deadline = Instant::now() + Duration::from_millis(2);
                tokio::time::sleep_until(deadline).await;
                worst = worst.max(Instant::now().saturating_duration_since(deadline));
            }
            worst
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let audited = Arc::new(Audited::new(
            AcceptAll,
            "local",
            sink,
            SystemClock::shared(),
        ));
        let tasks: Vec<_> = (0..logins)
            .map(|n| {
                let audited = audited.clone();
                tokio::spawn(async move {
                    let credential = PasswordCredential::new(
                        format!("user-{n}"),
                        SecretString::from("correct horse"),
                    );
                    audited
                        .authenticate(&credential, &RequestContext::new())
                        .await
                        .is_ok()
                })
            })
            .collect();
        let mut succeeded = 0;
        for task in tasks {
            succeeded += usize::from(task.await.unwrap());
        }
        stop.store(true, Ordering::SeqCst);
        (timer.await.unwrap(), succeeded)
    })
}

/// 64 audited logins against an every_event trail whose commits take 20 ms each: the timer
/// is never held up by more than a few milliseconds, every login is recorded, and the same
/// run with the event recorded on the caller's thread (the mistake) is caught by the timer.
#[test]
fn audited_logins_on_a_slow_disk_never_stall_the_runtime() {
    let dir = TempDir::new("slow-disk");
    let sink = Arc::new(slow_trail(
        &dir.0,
        Duration::from_millis(20),
        OverloadPolicy::Block,
        4096,
    ));
    let (worst, succeeded) = logins_beside_a_timer(sink.clone(), 64);
    eprintln!("async path: timer at most {worst:?} late");
    assert_eq!(succeeded, 64);
    assert!(
        worst < Duration::from_millis(15),
        "the timer woke {worst:?} late while logins were audited"
    );
    drop(sink);
    assert_eq!(logins_in(&dir.0), 64);

    // The control: the measurement does see a worker parked on the disk.
    let dir = TempDir::new("slow-disk-inline");
    let sink = Arc::new(slow_trail(
        &dir.0,
        Duration::from_millis(20),
        OverloadPolicy::Block,
        4096,
    ));
    let (worst, succeeded) = logins_beside_a_timer(Arc::new(RecordInline(sink)), 64);
    eprintln!("inline recording: timer at most {worst:?} late");
    assert_eq!(succeeded, 64);
    assert!(
        worst > Duration::from_millis(100),
        "recording inline held the timer up only {worst:?}"
    );
}

/// A sink that cannot keep up refuses (fail closed) rather than queueing without bound,
/// every ticket resolves, and exactly the events whose tickets said Ok are in the trail.
#[test]
fn a_full_queue_refuses_and_every_acknowledged_event_is_in_the_trail() {
    let dir = TempDir::new("full-queue");
    let sink = slow_trail(
        &dir.0,
        Duration::from_millis(5),
        OverloadPolicy::FailClosed,
        4,
    );
    let tickets = submit_logins(&sink, 200);
    let results: Vec<_> = tickets.into_iter().map(AuditTicket::wait).collect();
    let recorded = results.iter().filter(|r| r.is_ok()).count();
    let overloaded = results
        .iter()
        .filter(|r| matches!(r, Err(AuditError::Overloaded)))
        .count();
    assert_eq!(recorded + overloaded, 200, "{results:?}");
    assert!(overloaded > 0 && recorded >= 4, "{recorded} recorded");
    drop(sink);
    assert_eq!(logins_in(&dir.0), recorded);
}

/// Closing a sink commits what was handed over: tickets still pending resolve Ok and their
/// events are in the trail.
#[test]
fn closing_the_sink_commits_every_event_already_handed_over() {
    let dir = TempDir::new("close-drains");
    let sink = slow_trail(
        &dir.0,
        Duration::from_millis(2),
        OverloadPolicy::Block,
        4096,
    );
    let tickets = submit_logins(&sink, 50);
    sink.close().unwrap();
    for ticket in tickets {
        ticket.wait().unwrap();
    }
    assert_eq!(logins_in(&dir.0), 50);
}
