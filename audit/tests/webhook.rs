//! The webhook sink against a collector on loopback that accepts, refuses (503) or is not
//! there at all: batches arrive as Kubernetes EventLists, in order, and nothing spooled is
//! lost while the collector is down or across a restart of the sink.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_audit::{WebhookConfig, WebhookSink};
use rampart_core::{Action, AuditEvent, AuditSink, Outcome, Timestamp, UserInfo};
use serde_json::Value;

/// A collector: stores the items of every EventList it accepts.
struct Collector {
    received: Arc<Mutex<Vec<Value>>>,
    accepting: Arc<AtomicBool>,
    port: u16,
}

impl Collector {
    fn start(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepting = Arc::new(AtomicBool::new(true));
        let (store, open) = (received.clone(), accepting.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                let mut line = String::new();
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                assert!(
                    request_line.starts_with("POST /audit HTTP/1.1"),
                    "{request_line}"
                );
                if open.load(Ordering::SeqCst) {
                    let list: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(list["kind"], "EventList");
                    assert_eq!(list["apiVersion"], "audit.k8s.io/v1");
                    store
                        .lock()
                        .unwrap()
                        .extend(list["items"].as_array().unwrap().iter().cloned());
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                } else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                    );
                }
            }
        });
        Collector {
            received,
            accepting,
            port,
        }
    }

    fn usernames(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["user"]["username"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn event(n: u32) -> AuditEvent {
    AuditEvent::new(
        Action::AuthnAttempt,
        Outcome::Success,
        Timestamp::UNIX_EPOCH,
    )
    .with_actor(UserInfo::new(format!("user-{n:04}")))
}

fn spool(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-webhook-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(port: u16, dir: &PathBuf) -> WebhookConfig {
    WebhookConfig::new(format!("http://127.0.0.1:{port}/audit"), dir)
        .max_batch(50)
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
}

const BOUND: Duration = Duration::from_secs(60);

#[test]
fn batches_arrive_in_order_and_a_refusing_collector_loses_nothing() {
    let collector = Collector::start(TcpListener::bind("127.0.0.1:0").unwrap());
    let dir = spool("refusing");
    let sink = WebhookSink::start(config(collector.port, &dir)).unwrap();
    for n in 0..120 {
        sink.record(event(n)).unwrap();
    }
    assert!(sink.wait_for(BOUND, |delivered, _| delivered == 120));
    assert_eq!(collector.usernames().len(), 120);

    collector.accepting.store(false, Ordering::SeqCst);
    for n in 120..300 {
        sink.record(event(n)).unwrap();
    }
    assert!(sink.wait_for(BOUND, |_, failures| failures > 2));
    assert_eq!(
        collector.usernames().len(),
        120,
        "nothing accepted while refusing"
    );
    assert!(sink.pending_bytes() > 0, "the spill holds the rest");
    collector.accepting.store(true, Ordering::SeqCst);
    assert!(sink.wait_for(BOUND, |delivered, _| delivered == 300));
    let expected: Vec<String> = (0..300).map(|n| format!("user-{n:04}")).collect();
    assert_eq!(
        collector.usernames(),
        expected,
        "in order, none lost, none twice"
    );
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn events_spooled_while_the_collector_is_absent_are_replayed_after_a_restart() {
    // Reserve a port, then leave it closed: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = spool("absent");
    let sink = WebhookSink::start(config(port, &dir)).unwrap();
    for n in 0..40 {
        sink.record(event(n)).unwrap();
    }
    assert!(sink.wait_for(BOUND, |_, failures| failures > 0));
    drop(sink); // the sink stops with everything still spooled

    let collector = Collector::start(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let sink = WebhookSink::start(config(port, &dir)).unwrap();
    sink.record(event(40)).unwrap();
    assert!(sink.wait_for(BOUND, |delivered, _| delivered == 41));
    let expected: Vec<String> = (0..41).map(|n| format!("user-{n:04}")).collect();
    assert_eq!(collector.usernames(), expected);
    assert!(sink.wait_for(BOUND, |_, _| sink.pending_bytes() == 0));
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn https_needs_tls_and_urls_are_checked() {
    assert!(
        WebhookSink::start(WebhookConfig::new(
            "https://collector.example/audit",
            spool("tls")
        ))
        .is_err()
    );
    assert!(WebhookSink::start(WebhookConfig::new("gopher://x", spool("tls"))).is_err());
}

/// Events left in the spool by a sink that stopped with the collector absent.
fn spool_with_undelivered(name: &str, count: u32) -> (PathBuf, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = spool(name);
    let sink = WebhookSink::start(config(port, &dir)).unwrap();
    for n in 0..count {
        sink.record(event(n)).unwrap();
    }
    drop(sink);
    (dir, port)
}

#[test]
fn a_torn_spool_tail_left_by_a_crash_never_swallows_the_next_acknowledged_event() {
    let (dir, port) = spool_with_undelivered("torn", 3);
    // The crash: half a line written, never acknowledged.
    let mut spool = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("webhook-spool.jsonl"))
        .unwrap();
    spool
        .write_all(br#"{"kind":"Event","apiVersion":"au"#)
        .unwrap();
    drop(spool);
    let collector = Collector::start(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let sink = WebhookSink::start(config(port, &dir)).unwrap();
    sink.record(event(3)).unwrap();
    assert!(sink.wait_for(BOUND, |_, _| sink.pending_bytes() == 0));
    let expected: Vec<String> = (0..4).map(|n| format!("user-{n:04}")).collect();
    assert_eq!(
        collector.usernames(),
        expected,
        "the acknowledged event arrived"
    );
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cursor_past_the_end_of_the_spool_never_hides_newly_acknowledged_events() {
    let (dir, port) = spool_with_undelivered("cursor", 2);
    // The crash between emptying the spool and resetting the cursor, or a stale cursor.
    std::fs::write(dir.join("webhook-cursor"), b"999999").unwrap();
    let collector = Collector::start(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let sink = WebhookSink::start(config(port, &dir)).unwrap();
    sink.record(event(2)).unwrap();
    assert!(sink.wait_for(BOUND, |_, _| sink.pending_bytes() == 0));
    let names = collector.usernames();
    assert!(
        names.contains(&"user-0002".to_owned()),
        "the event acknowledged after the restart was delivered: {names:?}"
    );
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cursor is read without following links or blocking: a FIFO planted at its path
/// (which would block a plain read until someone writes to it) is treated as no cursor,
/// and events are delivered from the start.
#[test]
fn a_fifo_planted_as_the_cursor_neither_hangs_the_sink_nor_skips_events() {
    let (dir, port) = spool_with_undelivered("cursor-fifo", 2);
    let cursor = dir.join("webhook-cursor");
    let _ = std::fs::remove_file(&cursor);
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&cursor)
            .status()
            .unwrap()
            .success()
    );
    let collector = Collector::start(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let (done, finished) = std::sync::mpsc::channel();
    let spool_dir = dir.clone();
    std::thread::spawn(move || {
        let sink = WebhookSink::start(config(port, &spool_dir)).unwrap();
        sink.record(event(2)).unwrap();
        let delivered = sink.wait_for(BOUND, |_, _| sink.pending_bytes() == 0);
        let _ = done.send(delivered);
    });
    let delivered = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("a FIFO at the cursor path must not hang the sink");
    assert!(delivered);
    let names = collector.usernames();
    for n in 0..3 {
        assert!(names.contains(&format!("user-{n:04}")), "{names:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cursor pushed past the end while the sink runs is reset (events are sent again),
/// never used to read from the middle of a line.
#[test]
fn a_cursor_past_the_end_at_runtime_resends_rather_than_skips() {
    let collector = Collector::start(TcpListener::bind("127.0.0.1:0").unwrap());
    let dir = spool("cursor-runtime");
    collector.accepting.store(false, Ordering::SeqCst);
    let sink = WebhookSink::start(config(collector.port, &dir)).unwrap();
    for n in 0..3 {
        sink.record(event(n)).unwrap();
    }
    std::fs::write(dir.join("webhook-cursor"), b"999999").unwrap();
    collector.accepting.store(true, Ordering::SeqCst);
    assert!(sink.wait_for(BOUND, |_, _| sink.pending_bytes() == 0));
    let names = collector.usernames();
    for n in 0..3 {
        assert!(names.contains(&format!("user-{n:04}")), "{names:?}");
    }
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The async form spools on the sink's own thread: every ticket resolves once its event is
/// in the spool, and the collector gets all of them, in order, each once.
#[test]
fn submitted_events_are_spooled_by_the_sinks_thread_and_delivered_in_order() {
    let collector = Collector::start(TcpListener::bind("127.0.0.1:0").unwrap());
    let dir = spool("submitted");
    let sink = WebhookSink::start(config(collector.port, &dir)).unwrap();
    let tickets: Vec<_> = (0..500).map(|n| sink.submit(event(n))).collect();
    for ticket in tickets {
        futures_executor::block_on(ticket).unwrap();
    }
    assert!(sink.wait_for(BOUND, |delivered, _| delivered == 500));
    let expected: Vec<String> = (0..500).map(|n| format!("user-{n:04}")).collect();
    assert_eq!(collector.usernames(), expected);
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}
