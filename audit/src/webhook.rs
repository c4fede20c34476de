//! A webhook sink that posts Kubernetes `EventList` batches to a collector, as the
//! kube-apiserver's audit webhook backend does, without ever losing an acknowledged event.
//!
//! `record` appends the event to a local spool file and syncs it before returning; a sender
//! thread posts what the spool holds in batches and moves a durable cursor past each batch
//! the collector accepted (any 2xx). While the collector is down the spool grows (the spill)
//! and the sender retries with exponential backoff; when it comes back the spill is replayed
//! in order. Delivery is at least once: a crash between a post and the cursor update resends
//! that batch, so collectors should deduplicate on `auditID`, as they must for the apiserver.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rampart_core::{AuditError, AuditEvent, AuditSink, AuditTicket};

use crate::committer::{Admission, Committer, Pending, Refusal};
use crate::error::{Error, Result};
use crate::kubernetes::{Event, EventList};

/// Events per posted batch, default (the apiserver's `--audit-webhook-batch-max-size`).
pub const DEFAULT_MAX_BATCH: usize = 400;
/// First retry delay, default.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay, default.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Connect, read and write timeout, default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to post.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    url: String,
    spool_dir: PathBuf,
    max_batch: usize,
    initial_backoff: Duration,
    max_backoff: Duration,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl WebhookConfig {
    /// Posts to `url` (`https://host[:port]/path`, or `http://` for loopback tests), spooling
    /// in `spool_dir`.
    pub fn new(url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        WebhookConfig {
            url: url.into(),
            spool_dir: spool_dir.into(),
            max_batch: DEFAULT_MAX_BATCH,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            timeout: DEFAULT_TIMEOUT,
            tls: None,
        }
    }

    /// Events per batch.
    pub fn max_batch(mut self, events: usize) -> Self {
        self.max_batch = events.max(1);
        self
    }

    /// Retry delays: the first, and the cap of the doubling.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The rustls client configuration for `https://` collectors (build it with an explicit
    /// provider; with client certificates for mTLS).
    pub fn tls(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }
}

/// How events reach the collector. Plain HTTP exists only for a collector on this machine,
/// so an unsafe combination (plain text to another host) cannot be represented.
#[derive(Clone)]
enum Transport {
    /// TLS with the configured client configuration.
    Tls(Arc<rustls::ClientConfig>),
    /// Plain HTTP to a loopback address (checked again on every connection).
    PlainLoopback,
}

/// The collector: how to reach it, and the parts of its URL.
#[derive(Clone)]
struct Target {
    transport: Transport,
    host: String,
    port: u16,
    path: String,
}

/// The collector named by `url`, reached with `tls` for https.
fn target(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Target> {
    let parsed = parse_url(url)?;
    let transport = match (parsed.https, tls) {
        (true, Some(tls)) => Transport::Tls(tls.clone()),
        (true, None) => {
            return Err(Error::Config(
                "an https:// webhook needs a TLS client configuration".into(),
            ));
        }
        (false, _) if is_loopback_host(&parsed.host) => Transport::PlainLoopback,
        (false, _) => {
            return Err(Error::Config(
                "plain http:// is only for a collector on a loopback address; use https://".into(),
            ));
        }
    };
    Ok(Target {
        transport,
        host: parsed.host,
        port: parsed.port,
        path: parsed.path,
    })
}

/// `localhost`, or a literal loopback address (`127.0.0.0/8`, `[::1]`).
fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The parts of a collector URL.
#[derive(Clone, Debug)]
struct ParsedUrl {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<ParsedUrl> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(Error::Config(format!(
            "webhook URL `{url}` must start with https:// or http://"
        )));
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
            host.to_owned(),
            port.parse()
                .map_err(|_| Error::Config(format!("bad port in `{url}`")))?,
        ),
        _ => (authority.to_owned(), if https { 443 } else { 80 }),
    };
    if host.is_empty() || path.contains(['\r', '\n', ' ']) {
        return Err(Error::Config(format!("bad webhook URL `{url}`")));
    }
    Ok(ParsedUrl {
        https,
        host,
        port,
        path,
    })
}

/// The spool: events appended and synced, a cursor file marking what was delivered.
struct Spool {
    file: File,
    path: PathBuf,
    cursor_path: PathBuf,
}

impl Spool {
    /// Opens the spool and makes it consistent after a crash: a torn last line (a write
    /// that was never acknowledged) is cut off and kept aside, so the next event cannot be
    /// glued onto it; a cursor past the end or inside a line is reset to the start, so no
    /// acknowledged event is ever skipped (some may be sent twice: delivery is at least
    /// once).
    fn open(dir: &Path) -> Result<Self> {
        let io = |path: &Path, source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        rampart_core::fs::create_private_dir_all(dir).map_err(|source| io(dir, source))?;
        let path = dir.join("webhook-spool.jsonl");
        let file =
            rampart_core::fs::open_append_no_follow(&path, true).map_err(|e| io(&path, e))?;
        let mut spool = Spool {
            file,
            path,
            cursor_path: dir.join("webhook-cursor"),
        };
        spool.recover()?;
        Ok(spool)
    }

    fn recover(&mut self) -> Result<()> {
        let io = |source| Error::Io {
            path: self.path.display().to_string(),
            source,
        };
        // Only the end is read: a spool grown during a long outage is not loaded whole.
        let len = self.file.metadata().map_err(io)?.len();
        let (tail, _) =
            crate::file::read_tail(&self.path, crate::record::MAX_LINE_BYTES as u64 + 1)?;
        let tail_start = len.saturating_sub(tail.len() as u64);
        let torn_from = tail
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |newline| newline + 1);
        if let Some(torn) = tail.get(torn_from..).filter(|torn| !torn.is_empty()) {
            let whole = tail_start + torn_from as u64;
            crate::file::keep_torn_tail(&self.path, whole, torn)?;
            self.file
                .set_len(whole)
                .and_then(|()| self.file.sync_all())
                .map_err(io)?;
        }
        // The cursor as `cursor` judges it (0 unless a line boundary inside the spool),
        // written back: a bad cursor, or a link or FIFO in its place, is replaced.
        self.set_cursor(self.cursor()).map_err(io)?;
        Ok(())
    }

    fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        let before = self.file.metadata()?.len();
        let result = self
            .file
            .write_all(line)
            .and_then(|()| self.file.sync_data());
        if result.is_err() {
            let _ = self.file.set_len(before);
        }
        result
    }

    /// Where delivery stands: the saved cursor when it is a line boundary inside the
    /// spool, otherwise 0 (send everything again; delivery is at least once). The cursor
    /// file is read without following a link or blocking on a FIFO, and at most 32 bytes
    /// of it.
    fn cursor(&self) -> u64 {
        let saved = rampart_core::fs::open_read_no_follow(&self.cursor_path)
            .ok()
            .and_then(|file| {
                let mut text = String::new();
                file.take(32).read_to_string(&mut text).ok()?;
                text.trim().parse::<u64>().ok()
            })
            .unwrap_or(0);
        if saved == 0 || self.is_line_boundary(saved) {
            saved
        } else {
            0
        }
    }

    /// Whether `offset` is within the spool and just after a newline.
    fn is_line_boundary(&self, offset: u64) -> bool {
        use std::os::unix::fs::FileExt;
        let Ok(len) = self.file.metadata().map(|m| m.len()) else {
            return false;
        };
        let mut before = [0u8; 1];
        offset <= len
            && rampart_core::fs::open_read_no_follow(&self.path)
                .and_then(|file| file.read_exact_at(&mut before, offset - 1))
                .is_ok_and(|()| before == *b"\n")
    }

    /// Saves the cursor durably (write a temporary file, sync, rename).
    fn set_cursor(&self, offset: u64) -> std::io::Result<()> {
        rampart_core::fs::write_private_atomically(&self.cursor_path, offset.to_string().as_bytes())
    }

    /// Up to `max` complete lines after `offset`, and the offset after them.
    fn read_batch(&self, offset: u64, max: usize) -> std::io::Result<(Vec<String>, u64)> {
        let mut file = rampart_core::fs::open_read_no_follow(&self.path)?;
        let len = file.metadata()?.len();
        let start = offset.min(len);
        file.seek(SeekFrom::Start(start))?;
        let mut reader = BufReader::new(file);
        let mut lines = Vec::new();
        let mut next = start;
        let mut line = String::new();
        while lines.len() < max {
            line.clear();
            let read = reader.read_line(&mut line)?;
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            next += read as u64;
            lines.push(line.trim_end().to_owned());
        }
        Ok((lines, next))
    }

    /// When everything was delivered, empties the spool: the cursor is reset first, then
    /// the spool cut, so a crash or a failed write in between means events are sent again,
    /// never skipped. Only a cursor exactly at the end counts as "everything delivered".
    fn compact_if_drained(&mut self, cursor: u64) -> std::io::Result<bool> {
        if cursor > 0 && cursor == self.file.metadata()?.len() {
            self.set_cursor(0)?;
            self.file.set_len(0)?;
            self.file.sync_all()?;
            return Ok(true);
        }
        Ok(false)
    }
}

struct State {
    spool: Mutex<Spool>,
    wake: Condvar,
    /// Notified after every post, accepted or not.
    progress: Condvar,
    progress_lock: Mutex<()>,
    stop: AtomicBool,
    delivered: AtomicU64,
    failures: AtomicU64,
}

/// Posts audit events to a collector in Kubernetes `EventList` batches. See the module docs.
pub struct WebhookSink {
    state: Arc<State>,
    /// Spools the events of the async form, in batches with one sync each.
    spooler: Committer<()>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink").finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Opens the spool (replaying whatever a previous run left undelivered) and starts the
    /// sender.
    ///
    /// # Errors
    /// A bad URL, `https` without a TLS configuration, or a spool that cannot be opened.
    pub fn start(config: WebhookConfig) -> Result<Self> {
        let target = target(&config.url, config.tls.as_ref())?;
        let state = Arc::new(State {
            spool: Mutex::new(Spool::open(&config.spool_dir)?),
            wake: Condvar::new(),
            progress: Condvar::new(),
            progress_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let sender_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("rampart-audit-webhook".into())
            .spawn(move || send_loop(&sender_state, &config, &target))
            .map_err(|source| Error::Io {
                path: "webhook sender".into(),
                source,
            })?;
        let spooler_state = state.clone();
        let spooler = Committer::start(
            "rampart-audit-spool",
            SPOOL_QUEUE_CAPACITY,
            SPOOL_BATCH,
            move |lines: Vec<String>| {
                let result = spool_lines(&spooler_state, lines.concat().as_bytes());
                lines
                    .iter()
                    .map(|_| {
                        result
                            .clone()
                            .map_err(|what| AuditError::Unavailable { what })
                    })
                    .collect()
            },
        )
        .map_err(|source| Error::Io {
            path: "webhook spooler".into(),
            source,
        })?;
        Ok(WebhookSink {
            state,
            spooler,
            thread: Some(thread),
        })
    }

    /// Records a Kubernetes audit event (from a proxy) as it is.
    ///
    /// # Errors
    /// The spool could not be written: the event is not recorded.
    pub fn record_kubernetes(&self, event: &Event) -> std::result::Result<(), AuditError> {
        let line = spool_line(event)?;
        spool_lines(&self.state, line.as_bytes()).map_err(|what| AuditError::Unavailable { what })
    }

    /// Events the collector has accepted so far (this process).
    pub fn delivered(&self) -> u64 {
        self.state.delivered.load(Ordering::SeqCst)
    }

    /// Failed posts so far (each retried).
    pub fn failures(&self) -> u64 {
        self.state.failures.load(Ordering::SeqCst)
    }

    /// Waits until `condition` holds for (delivered, failures), or `timeout` passes; `true`
    /// if it held. For tests and orderly shutdowns.
    pub fn wait_for(&self, timeout: Duration, condition: impl Fn(u64, u64) -> bool) -> bool {
        let mut guard = self
            .state
            .progress_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut remaining = timeout;
        loop {
            if condition(self.delivered(), self.failures()) {
                return true;
            }
            if remaining.is_zero() {
                return false;
            }
            let step = remaining.min(Duration::from_millis(500));
            guard = match self.state.progress.wait_timeout(guard, step) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            remaining = remaining.saturating_sub(step);
        }
    }

    /// Bytes spooled and not yet delivered.
    pub fn pending_bytes(&self) -> u64 {
        let spool = self
            .state
            .spool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let len = spool.file.metadata().map(|m| m.len()).unwrap_or(0);
        len.saturating_sub(spool.cursor())
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // Whatever was handed over is spooled before the sender is told to stop.
        self.spooler.close();
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl AuditSink for WebhookSink {
    /// Queues the event for the spooler thread, which appends and syncs it; the ticket
    /// resolves once it is in the spool (delivery to the collector follows, at least once).
    fn submit(&self, mut event: AuditEvent) -> AuditTicket {
        crate::redact::redact_event(&mut event);
        let line = match spool_line(&Event::from_rampart(&event)) {
            Ok(line) => line,
            Err(error) => return AuditTicket::ready(Err(error)),
        };
        let (pending, ticket) = Pending::with_ticket(line);
        match self.spooler.send(pending, Admission::Overflow) {
            Ok(()) => ticket,
            Err((Refusal::Full, _)) => AuditTicket::ready(Err(AuditError::Overloaded)),
            Err((Refusal::Closed, _)) => AuditTicket::ready(Err(AuditError::Closed)),
        }
    }

    fn record(&self, mut event: AuditEvent) -> std::result::Result<(), AuditError> {
        crate::redact::redact_event(&mut event);
        self.record_kubernetes(&Event::from_rampart(&event))
    }
}

/// Events the spooler queues for the async form before refusing (times the overflow
/// factor for callers that must not wait).
const SPOOL_QUEUE_CAPACITY: usize = 4096;
/// Most events appended with one sync.
const SPOOL_BATCH: usize = 256;

/// A Kubernetes event as one spool line: redacted, serialised, newline-terminated.
fn spool_line(event: &Event) -> std::result::Result<String, AuditError> {
    let mut event = event.clone();
    crate::redact::redact_kubernetes(&mut event);
    let mut line = serde_json::to_string(&event).map_err(|e| AuditError::Invalid {
        what: e.to_string(),
    })?;
    line.push('\n');
    Ok(line)
}

/// Appends whole lines to the spool with one sync and wakes the sender.
fn spool_lines(state: &State, lines: &[u8]) -> std::result::Result<(), String> {
    let mut spool = state.spool.lock().unwrap_or_else(PoisonError::into_inner);
    spool
        .append(lines)
        .map_err(|e| format!("webhook spool: {e}"))?;
    drop(spool);
    state.wake.notify_one();
    Ok(())
}

fn send_loop(state: &State, config: &WebhookConfig, target: &Target) {
    let mut backoff = config.initial_backoff;
    loop {
        let (batch, next) = {
            let mut spool = state.spool.lock().unwrap_or_else(PoisonError::into_inner);
            let cursor = spool.cursor();
            let _ = spool.compact_if_drained(cursor);
            let cursor = spool.cursor();
            match spool.read_batch(cursor, config.max_batch) {
                Ok((batch, _)) if batch.is_empty() => {
                    if state.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let _ = state.wake.wait_timeout(spool, Duration::from_millis(200));
                    continue;
                }
                Ok(found) => found,
                Err(_) => (Vec::new(), cursor),
            }
        };
        if batch.is_empty() {
            std::thread::sleep(backoff);
            continue;
        }
        let items: Vec<Event> = batch
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let body = serde_json::to_vec(&EventList::new(items)).unwrap_or_default();
        match post(target, config, &body) {
            Ok(()) => {
                let spool = state.spool.lock().unwrap_or_else(PoisonError::into_inner);
                if spool.set_cursor(next).is_ok() {
                    state
                        .delivered
                        .fetch_add(batch.len() as u64, Ordering::SeqCst);
                }
                drop(spool);
                let _progress = state
                    .progress_lock
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                state.progress.notify_all();
                backoff = config.initial_backoff;
            }
            Err(_) => {
                state.failures.fetch_add(1, Ordering::SeqCst);
                {
                    let _progress = state
                        .progress_lock
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    state.progress.notify_all();
                }
                if state.stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }
}

/// One HTTP/1.1 POST; `Ok` for a 2xx answer.
fn post(target: &Target, config: &WebhookConfig, body: &[u8]) -> std::io::Result<()> {
    let address = (
        target.host.trim_start_matches('[').trim_end_matches(']'),
        target.port,
    )
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("collector address does not resolve"))?;
    if matches!(target.transport, Transport::PlainLoopback) && !address.ip().is_loopback() {
        return Err(std::io::Error::other(
            "the plain-http collector does not resolve to a loopback address",
        ));
    }
    let tcp = TcpStream::connect_timeout(&address, config.timeout)?;
    tcp.set_read_timeout(Some(config.timeout))?;
    tcp.set_write_timeout(Some(config.timeout))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        body.len()
    );
    let mut response = Vec::new();
    match &target.transport {
        Transport::Tls(tls) => {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(std::io::Error::other)?;
            let connection =
                rustls::ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(connection, tcp);
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            stream.flush()?;
            let _ = stream.take(4096).read_to_end(&mut response);
        }
        Transport::PlainLoopback => {
            let mut stream = tcp;
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            stream.flush()?;
            let _ = stream.take(4096).read_to_end(&mut response);
        }
    }
    let status = response
        .split(|&b| b == b'\r')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(code) => Err(std::io::Error::other(format!("collector answered {code}"))),
        None => Err(std::io::Error::other("no HTTP answer from the collector")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_reaches_only_loopback_and_https_needs_tls() {
        for loopback in [
            "http://127.0.0.1:9/a",
            "http://127.8.9.10/",
            "http://[::1]:80/",
            "http://localhost/",
        ] {
            assert!(
                matches!(
                    target(loopback, None).unwrap().transport,
                    Transport::PlainLoopback
                ),
                "{loopback}"
            );
        }
        for remote in [
            "http://collector.example/audit",
            "http://10.0.0.7/",
            "http://[2001:db8::1]/",
        ] {
            assert!(target(remote, None).is_err(), "{remote}");
        }
        assert!(target("https://collector.example/audit", None).is_err());
    }

    #[test]
    fn urls_parse_and_junk_is_refused() {
        let t = parse_url("https://collector.example:8443/audit/k8s").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "collector.example", 8443, "/audit/k8s")
        );
        let t = parse_url("http://127.0.0.1").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        for bad in [
            "ftp://x",
            "http://",
            "http://h:99999/",
            "http://h/a b",
            "collector",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
