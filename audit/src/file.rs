//! The file sink: append-only JSON lines, hash-chained, rotated, sealed and durable as
//! configured (AU-9, AU-11).
//!
//! # Durability
//!
//! | mode | `record` returns (the ticket of `submit` resolves) when | survives |
//! | --- | --- | --- |
//! | [`Durability::EveryEvent`] | the line is written and `fdatasync` returned | process and machine crash |
//! | [`Durability::GroupCommit`] | the batch holding the line is written and synced by the writer thread | process and machine crash |
//! | [`Durability::Buffered`] | the line is handed to the OS (`write`), not synced | process crash only; a machine crash can lose recent events |
//!
//! The async form, [`AuditSink::submit`], always hands the event to the sink's writer
//! thread (each event synced alone in every_event mode, in batches otherwise), so an async
//! runtime's worker never waits on the disk. The blocking form writes on the caller's thread
//! except in group-commit mode.
//!
//! A line is written whole or, after a crash, left torn at the end of the file. The next
//! writer finds the torn tail, keeps its bytes in a `.torn-OFFSET` file beside the trail,
//! truncates it, and records an `audit.started` event that says so.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rampart_core::{
    Action, AuditError, AuditEvent, AuditSink, AuditTicket, Outcome, SharedClock, SystemClock,
};

use crate::chain::{Chain, ChainValue};
use crate::committer::{Admission, Committer, Pending, Refusal, Reply};
use crate::error::{Error, Result};
use crate::record::{self, MAX_LINE_BYTES};

/// How durable a recorded event is when `record` returns. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` after every event.
    EveryEvent,
    /// A writer thread batches events and syncs once per batch.
    GroupCommit,
    /// Written to the OS page cache, never synced by rampart.
    Buffered,
}

impl std::str::FromStr for Durability {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "every_event" => Ok(Durability::EveryEvent),
            "group_commit" => Ok(Durability::GroupCommit),
            "buffered" => Ok(Durability::Buffered),
            other => Err(Error::Config(format!(
                "unknown durability `{other}`; use every_event, group_commit or buffered"
            ))),
        }
    }
}

/// What `record` does when the sink cannot take an event: the queue is full or the disk
/// refuses the write (AU-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverloadPolicy {
    /// Wait (retrying a failing disk with backoff) until the event is recorded.
    Block,
    /// Return an error at once, so the caller refuses the action it was about to audit.
    FailClosed,
    /// Drop the event, count it, and record an `audit.loss` event when the sink recovers.
    Drop,
}

/// Largest file before rotation, default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Oldest file before rotation, default.
pub const DEFAULT_MAX_FILE_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long sealed files are kept, default (AU-11: at least 90 days online).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// Shortest retention accepted.
pub const MIN_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Queue length of the group-commit writer, default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// Most events the group-commit writer takes into one batch.
const MAX_BATCH: usize = 1024;

/// Configuration of a [`FileSink`]; check it with [`FileSinkConfig::build`].
#[derive(Clone)]
pub struct FileSinkConfig {
    dir: PathBuf,
    durability: Durability,
    chain: Chain,
    overload: OverloadPolicy,
    max_file_bytes: u64,
    max_file_age: Duration,
    retention: Duration,
    queue_capacity: usize,
    clock: SharedClock,
    on_loss: Option<LossAlert>,
    head_file: Option<PathBuf>,
    anchor: Option<(rampart_core::SharedAuditSink, Duration)>,
}

/// Called with the number of events just dropped and the running total, so that operators
/// are alerted the moment a loss happens (AU-5), not only when the `audit.loss` record is
/// written after recovery.
pub type LossAlert = Arc<dyn Fn(u64, u64) + Send + Sync>;

impl std::fmt::Debug for FileSinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSinkConfig")
            .field("dir", &self.dir)
            .field("durability", &self.durability)
            .field("chain", &self.chain)
            .field("overload", &self.overload)
            .finish_non_exhaustive()
    }
}

impl FileSinkConfig {
    /// Defaults: group commit, SHA-256 chain, fail closed, 64 MiB / 24 h files, 90 days kept.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileSinkConfig {
            dir: dir.into(),
            durability: Durability::GroupCommit,
            chain: Chain::Sha256,
            overload: OverloadPolicy::FailClosed,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_age: DEFAULT_MAX_FILE_AGE,
            retention: DEFAULT_RETENTION,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            clock: SystemClock::shared(),
            on_loss: None,
            head_file: None,
            anchor: None,
        }
    }

    /// Alerts on every dropped event under [`OverloadPolicy::Drop`].
    pub fn on_loss(mut self, alert: LossAlert) -> Self {
        self.on_loss = Some(alert);
        self
    }

    /// The durability mode.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The chain (SHA-256, or HMAC-SHA-256 under a key).
    pub fn chain(mut self, chain: Chain) -> Self {
        self.chain = chain;
        self
    }

    /// What to do on overload or disk failure.
    pub fn overload(mut self, overload: OverloadPolicy) -> Self {
        self.overload = overload;
        self
    }

    /// Rotate after this many bytes.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Rotate after this long.
    pub fn max_file_age(mut self, age: Duration) -> Self {
        self.max_file_age = age;
        self
    }

    /// Remove sealed files older than this.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Queue length of the group-commit writer.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Publishes the trail's head (`SEQ:CHAIN TIME`, one line appended per commit, synced
    /// as the mode syncs) to `path`, which must be outside the trail's directory: keep it
    /// where the trail's writer cannot silently rewrite it (another volume, a file only
    /// appended to). `rampart audit verify --head-file` then detects records cut from
    /// the end, which the chain alone cannot.
    pub fn head_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.head_file = Some(path.into());
        self
    }

    /// Also publishes the head, as an `audit.head` event (details `seq` and `chain`), to
    /// `sink` — a [`WebhookSink`](crate::WebhookSink) to a collector, typically — at most
    /// once per `interval` (`Duration::ZERO`: after every commit). The collector's copy is
    /// an anchor the trail's writer cannot reach: `rampart audit verify --head SEQ:CHAIN`
    /// checks a trail against it. The sink is called while the trail's writer waits, so it
    /// must be quick and must never be this file sink itself.
    pub fn anchor_sink(mut self, sink: rampart_core::SharedAuditSink, interval: Duration) -> Self {
        self.anchor = Some((sink, interval));
        self
    }

    /// The clock that times events and rotation.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the bounds.
    ///
    /// # Errors
    /// [`Error::Config`] for a file limit under 4 KiB, retention under a day or an empty queue.
    pub fn build(self) -> Result<Self> {
        if self.max_file_bytes < 4096 {
            return Err(Error::Config(
                "max file size must be at least 4096 bytes".into(),
            ));
        }
        if self.retention < MIN_RETENTION {
            return Err(Error::Config("retention must be at least one day".into()));
        }
        if self.queue_capacity == 0 {
            return Err(Error::Config(
                "the queue needs room for at least one event".into(),
            ));
        }
        if let Some(head) = &self.head_file {
            check_head_outside(head, &self.dir)?;
        }
        Ok(self)
    }
}

/// Where a recorded event landed: its sequence number and chain value. Keep the latest one
/// outside the machine to detect truncation at the end of the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The record's sequence number.
    pub seq: u64,
    /// Its chain value.
    pub chain: ChainValue,
}

/// The name of the file whose first record is `seq`.
pub(crate) fn file_name(seq: u64) -> String {
    format!("audit-{seq:020}.jsonl")
}

/// The trail files in `dir`, in order.
pub(crate) fn trail_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

use rampart_core::fs::sync_dir;

/// How much of a head file's end is read: the newest heads are there, and the file grows
/// by one line per commit forever.
const HEAD_TAIL_BYTES: u64 = 64 * 1024;

/// Reads up to `max` bytes from the end of a file opened without following links, and
/// whether the read started past the file's beginning.
pub(crate) fn read_tail(path: &Path, max: u64) -> Result<(Vec<u8>, bool)> {
    use std::io::{Seek, SeekFrom};
    let io = |source| io_error(path, source);
    let mut file = rampart_core::fs::open_read_no_follow(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(io)?;
    Ok((bytes, start > 0))
}

/// Reads the newest head a sink published to a head file (see
/// [`FileSinkConfig::head_file`]) from the complete lines at its end: every one must be a
/// head (`SEQ:CHAIN TIME`), and heads never go backwards, so neither junk appended to push
/// the real heads out of view nor an old head appended after a newer one is accepted. A
/// last line without its newline (a write cut by a crash) is not read.
///
/// # Errors
/// The file cannot be read, holds a line that is not a head, holds no complete head, or
/// goes backwards.
pub fn read_head_file(path: &Path) -> Result<(u64, ChainValue)> {
    let (bytes, cut) = read_tail(path, HEAD_TAIL_BYTES)?;
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    if cut {
        lines.next(); // the first line was cut by the seek
    }
    let refuse = |what: String| Error::Config(format!("`{}` {what}", path.display()));
    let mut newest: Option<(u64, ChainValue)> = None;
    for line in lines.filter(|line| line.ends_with(b"\n")) {
        let head = parse_head_line(line)
            .ok_or_else(|| refuse("holds a line that is not an audit head".into()))?;
        if let Some((seq, _)) = newest
            && head.0 < seq
        {
            return Err(refuse(format!(
                "goes backwards: head {} after {seq}",
                head.0
            )));
        }
        newest = Some(head);
    }
    newest.ok_or_else(|| refuse("holds no audit head".into()))
}

/// One head line, strictly: `SEQ:CHAIN TIME` and its newline.
fn parse_head_line(line: &[u8]) -> Option<(u64, ChainValue)> {
    let text = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let (seq, rest) = text.split_once(':')?;
    let (chain, time) = rest.split_once(' ')?;
    time.parse::<rampart_core::Timestamp>().ok()?;
    Some((seq.parse::<u64>().ok()?, ChainValue::from_hex(chain)?))
}

/// The head a writer must find in the trail before resuming it: none for a missing or
/// empty head file; otherwise the file's newest head, after cutting a last line a crash
/// left unfinished. A file whose end holds no newline at all is refused (it cannot be a
/// torn head: those are short).
fn published_head(path: &Path) -> Result<Option<(u64, ChainValue)>> {
    let io = |source| io_error(path, source);
    let len = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.len(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
    };
    if len == 0 {
        return Ok(None);
    }
    let (tail, _) = read_tail(path, HEAD_TAIL_BYTES)?;
    let Some(last_newline) = tail.iter().rposition(|&b| b == b'\n') else {
        return Err(Error::Config(format!(
            "`{}` ends in a line that is not an audit head",
            path.display()
        )));
    };
    let torn = (tail.len() - last_newline - 1) as u64;
    if torn > 0 {
        let file = rampart_core::fs::open_rw_no_follow(path).map_err(io)?;
        file.set_len(len - torn)
            .and_then(|()| file.sync_all())
            .map_err(io)?;
    }
    read_head_file(path).map(Some)
}

/// Keeps a torn tail's bytes (of a trail file or the webhook spool) in a new private file
/// beside it, synced with its
/// directory entry before the trail is cut. A file already there with the same bytes (a
/// crash between keeping and cutting) is the same evidence; anything else there gets a
/// new, random name rather than blocking the writer.
pub(crate) fn keep_torn_tail(trail: &Path, offset: u64, bytes: &[u8]) -> Result<PathBuf> {
    let base = trail.with_extension(format!("jsonl.torn-{offset}"));
    let same_evidence = rampart_core::fs::open_read_no_follow(&base)
        .and_then(|file| Ok((file.metadata()?.len(), file)))
        .is_ok_and(|(len, file)| {
            let mut kept = Vec::new();
            len == bytes.len() as u64
                && file.take(len).read_to_end(&mut kept).is_ok()
                && kept == bytes
        });
    if same_evidence {
        return Ok(base);
    }
    let keep = if std::fs::symlink_metadata(&base).is_ok() {
        let mut random = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| Error::Config("the system RNG failed".into()))?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        base.with_extension(format!("torn-{offset}.{suffix}"))
    } else {
        base
    };
    let mut file =
        rampart_core::fs::create_private(&keep).map_err(|source| io_error(&keep, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| sync_dir(&rampart_core::fs::parent_dir(&keep)))
        .map_err(|source| io_error(&keep, source))?;
    Ok(keep)
}

/// The head file must not live in the trail's directory (compared after resolving links,
/// so `dir/./head` or a symlinked parent do not slip through).
fn check_head_outside(head: &Path, dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let identity = |path: &Path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let resolve = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let head_dir = resolve(&rampart_core::fs::parent_dir(head));
    let trail_dir = resolve(dir);
    // By path, and — once both exist — by (device, inode) of every ancestor, so a bind
    // mount or another spelling of the trail's directory is caught too.
    let inside = head_dir.starts_with(&trail_dir)
        || identity(&trail_dir).is_some_and(|trail| {
            head_dir
                .ancestors()
                .any(|ancestor| identity(ancestor) == Some(trail))
        });
    if inside {
        return Err(Error::Config(
            "the head file must be outside the trail's directory".into(),
        ));
    }
    Ok(())
}

/// The state of the file being written.
struct Writer {
    dir: PathBuf,
    chain: Chain,
    durability: Durability,
    max_file_bytes: u64,
    max_file_age: Duration,
    retention: Duration,
    clock: SharedClock,
    file: File,
    path: PathBuf,
    bytes: u64,
    records_in_file: u64,
    opened_at: SystemTime,
    seq: u64,
    prev: ChainValue,
    /// Where the head is published after every commit, if anywhere.
    head_file: Option<File>,
    /// Heads that could not be published.
    head_failures: u64,
    /// Where heads are also published as events, how often, and when last.
    anchor: Option<(rampart_core::SharedAuditSink, Duration)>,
    anchored_at: Option<SystemTime>,
}

/// Reads a whole trail file without following a symlink planted in its place.
pub(crate) fn read_trail_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    rampart_core::fs::open_read_no_follow(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(|source| io_error(path, source))?;
    Ok(bytes)
}

impl Writer {
    /// Opens the trail in `config.dir`, recovering a torn tail, and records `audit.started`.
    /// The trail is read by the verifier's own walk: a writer resumes exactly the trails
    /// `verify` accepts, including one whose first files retention removed.
    fn open(config: &FileSinkConfig) -> Result<(Writer, File)> {
        rampart_core::fs::create_private_dir_all(&config.dir)
            .map_err(|source| io_error(&config.dir, source))?;
        let lock_path = config.dir.join(".lock");
        let lock = rampart_core::fs::open_append_no_follow(&lock_path, true)
            .map_err(|source| io_error(&lock_path, source))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(config.dir.display().to_string()));
        }

        let files = trail_files(&config.dir)?;
        // A published head must still be in the trail: a writer never resumes a trail
        // whose end was cut (and never writes heads that go backwards over the cut).
        let published = match &config.head_file {
            Some(head_path) => {
                check_head_outside(head_path, &config.dir)?;
                published_head(head_path)?
            }
            None => None,
        };
        let (found, tail) = crate::verify::walk(&files, &config.chain, published)?;
        if let Some(finding) = found.finding {
            return Err(Error::Damaged {
                file: finding.file,
                line: finding.line,
                reason: finding.reason,
            });
        }
        let (seq, prev) = found.head.unwrap_or((0, ChainValue::GENESIS));
        let mut details = serde_json::Map::new();
        let writer_file = match tail {
            Some(tail) if !tail.sealed => {
                if let Some((offset, bytes)) = &tail.torn {
                    let keep = keep_torn_tail(&tail.path, *offset, bytes)?;
                    let file = rampart_core::fs::open_rw_no_follow(&tail.path)
                        .map_err(|source| io_error(&tail.path, source))?;
                    file.set_len(*offset)
                        .map_err(|source| io_error(&tail.path, source))?;
                    file.sync_all()
                        .map_err(|source| io_error(&tail.path, source))?;
                    details.insert("torn_tail_bytes".into(), bytes.len().into());
                    details.insert(
                        "torn_tail_saved_as".into(),
                        keep.file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or_default()
                            .into(),
                    );
                }
                details.insert("resumed".into(), true.into());
                Some((tail.path, tail.len, tail.records))
            }
            _ => None,
        };
        let (path, bytes, records) = match writer_file {
            Some(found) => found,
            None => (config.dir.join(file_name(seq.saturating_add(1))), 0, 0),
        };
        let file = rampart_core::fs::open_append_no_follow(&path, true)
            .map_err(|source| io_error(&path, source))?;
        sync_dir(&config.dir).map_err(|source| io_error(&config.dir, source))?;
        let head_file = match &config.head_file {
            Some(head_path) => Some(
                rampart_core::fs::open_append_no_follow(head_path, true)
                    .map_err(|source| io_error(head_path, source))?,
            ),
            None => None,
        };
        let mut writer = Writer {
            dir: config.dir.clone(),
            chain: config.chain.clone(),
            durability: config.durability,
            max_file_bytes: config.max_file_bytes,
            max_file_age: config.max_file_age,
            retention: config.retention,
            clock: config.clock.clone(),
            file,
            path,
            bytes,
            records_in_file: records,
            opened_at: config.clock.now(),
            seq,
            prev,
            head_file,
            head_failures: 0,
            anchor: config.anchor.clone(),
            anchored_at: None,
        };
        let mut started =
            AuditEvent::new(Action::AuditStarted, Outcome::Success, writer.clock.now())
                .with_detail("chain", writer.chain.name());
        for (key, value) in details {
            started = started.with_detail(key, value);
        }
        let json =
            serde_json::to_string(&started).map_err(|e| Error::parse("the start record", e))?;
        writer
            .write_batch(&[json], true)
            .map_err(|source| Error::Io {
                path: writer.path.display().to_string(),
                source,
            })?;
        Ok((writer, lock))
    }

    /// Appends events (already JSON), rotating first when the file is full or old.
    fn write_batch(&mut self, events: &[String], force_sync: bool) -> std::io::Result<Vec<Ack>> {
        let pending: u64 = events.iter().map(|e| e.len() as u64 + 200).sum();
        let age = self
            .clock
            .now()
            .duration_since(self.opened_at)
            .unwrap_or_default();
        if self.bytes > 0 && (self.bytes + pending > self.max_file_bytes || age > self.max_file_age)
        {
            self.rotate()?;
        }
        self.append(events, force_sync)
    }

    /// Writes events as one `write`; syncs as the mode says (or always when `force_sync`).
    /// On failure nothing is acknowledged and the file is cut back to where it was, so a
    /// half-written batch never stays behind.
    fn append(&mut self, events: &[String], force_sync: bool) -> std::io::Result<Vec<Ack>> {
        let pending: usize = events.iter().map(|e| e.len() + 200).sum();
        let (mut seq, mut prev) = (self.seq, self.prev);
        let mut buffer = Vec::with_capacity(pending);
        let mut acks = Vec::with_capacity(events.len());
        for json in events {
            seq = seq.checked_add(1).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the trail has reached the largest sequence number",
                )
            })?;
            let start = buffer.len();
            let value = record::encode_into(&mut buffer, &self.chain, seq, prev, json);
            if buffer.len() - start > MAX_LINE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "audit event too large",
                ));
            }
            prev = value;
            acks.push(Ack { seq, chain: value });
        }
        let sync = force_sync || self.durability != Durability::Buffered;
        let result = self
            .file
            .write_all(&buffer)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match result {
            Ok(()) => {
                self.seq = seq;
                self.prev = prev;
                self.bytes += buffer.len() as u64;
                self.records_in_file += acks.len() as u64;
                // The records are in the trail: a head that cannot be published now is
                // counted, and the next commit publishes the newest head anyway.
                if self.publish_head(seq, prev, sync).is_err()
                    || self.anchor_head(seq, prev).is_err()
                {
                    self.head_failures = self.head_failures.saturating_add(1);
                }
                Ok(acks)
            }
            Err(error) => {
                // Cut off whatever part of the batch reached the file.
                let _ = self.file.set_len(self.bytes);
                let _ = self.file.sync_data();
                Err(error)
            }
        }
    }

    /// Appends `SEQ:CHAIN TIME` to the head file, after the records it names are written
    /// (and synced when the mode syncs): a copy of the trail's end that the trail's own
    /// directory cannot silently take back, against which `verify --head-file` detects
    /// records cut from the end.
    fn publish_head(&mut self, seq: u64, chain: ChainValue, sync: bool) -> std::io::Result<()> {
        let Some(head) = self.head_file.as_mut() else {
            return Ok(());
        };
        let time = rampart_core::Timestamp::from_system_time(self.clock.now());
        let line = format!("{seq}:{} {time}\n", chain.to_hex());
        let before = head.metadata()?.len();
        let written = head
            .write_all(line.as_bytes())
            .and_then(|()| if sync { head.sync_data() } else { Ok(()) });
        if written.is_err() {
            // Never leave half a head for the next one to be glued onto.
            let _ = head.set_len(before);
        }
        written
    }

    /// Records the head as an `audit.head` event in the anchor sink, when one is set and
    /// its interval has passed.
    fn anchor_head(&mut self, seq: u64, chain: ChainValue) -> std::result::Result<(), AuditError> {
        let Some((sink, interval)) = &self.anchor else {
            return Ok(());
        };
        let now = self.clock.now();
        let due = self.anchored_at.is_none_or(|last| {
            now.duration_since(last)
                .map_or(true, |since| since >= *interval)
        });
        if !due {
            return Ok(());
        }
        let event = AuditEvent::new(Action::AuditHead, Outcome::Success, now)
            .with_detail("seq", seq)
            .with_detail("chain", chain.to_hex());
        sink.record(event)?;
        self.anchored_at = Some(now);
        Ok(())
    }

    /// Seals the current file and starts the next one; then applies retention.
    fn rotate(&mut self) -> std::io::Result<()> {
        let next = self.dir.join(file_name(self.seq.saturating_add(2)));
        self.seal(
            next.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
        )?;
        self.file = rampart_core::fs::open_append_no_follow(&next, true)?;
        sync_dir(&self.dir)?;
        self.path = next;
        self.bytes = 0;
        self.records_in_file = 0;
        self.opened_at = self.clock.now();
        self.apply_retention()
    }

    /// Writes the closing record of the current file.
    fn seal(&mut self, next_file: &str) -> std::io::Result<()> {
        let seal = AuditEvent::new(Action::AuditSealed, Outcome::Success, self.clock.now())
            .with_detail("records", self.records_in_file + 1)
            .with_detail("next_file", next_file);
        let json = serde_json::to_string(&seal).map_err(std::io::Error::other)?;
        self.append(&[json], true).map(|_| ())
    }

    /// Removes sealed files whose seal is older than the retention period, oldest first.
    /// Age is the seal record's own time — never the file's modification time, which
    /// anyone who can write the directory can backdate to make the writer delete evidence
    /// itself. The `audit.retention` record is written (and synced) *before* anything is
    /// deleted and names the last record of every file it removes, so a removal that stops
    /// part-way leaves a trail that still verifies; the files left are removed by the next
    /// pass.
    fn apply_retention(&mut self) -> std::io::Result<()> {
        let Some(cutoff) = self.clock.now().checked_sub(self.retention) else {
            return Ok(());
        };
        let Ok(files) = trail_files(&self.dir) else {
            return Ok(());
        };
        let mut expired = Vec::new();
        for (position, path) in files.iter().enumerate().take(MAX_REMOVED_PER_PASS) {
            if *path == self.path {
                break;
            }
            let Some(seal) = last_record_of(path, &self.chain) else {
                break;
            };
            let sealed_at = seal.event.time.to_system_time();
            if seal.event.action != Action::AuditSealed || sealed_at >= cutoff {
                break;
            }
            // The seal must be the one the next file's first record links to: a seal
            // line copied or forged onto a recent file does not make it removable.
            let next_links = files
                .get(position + 1)
                .and_then(|next| first_record_of(next, &self.chain))
                .is_some_and(|first| {
                    seal.seq.checked_add(1) == Some(first.seq) && first.prev == seal.chain
                });
            if !next_links {
                break;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            expired.push((path.clone(), name, seal.seq, seal.chain));
        }
        let Some((_, _, through_seq, through_chain)) = expired.last() else {
            return Ok(());
        };
        let names: Vec<&str> = expired.iter().map(|(_, name, ..)| name.as_str()).collect();
        let anchors: Vec<serde_json::Value> = expired
            .iter()
            .map(|(_, name, seq, chain)| {
                serde_json::json!({"file": name, "through_seq": seq, "through_chain": chain.to_hex()})
            })
            .collect();
        let event = AuditEvent::new(Action::AuditRetention, Outcome::Success, self.clock.now())
            .with_detail("removed", names)
            .with_detail("anchors", anchors)
            .with_detail("through_seq", *through_seq)
            .with_detail("through_chain", through_chain.to_hex());
        let json = serde_json::to_string(&event).map_err(std::io::Error::other)?;
        self.append(&[json], true)?;
        for (path, ..) in &expired {
            // A file that cannot be removed now stays, still verifiable; the next pass
            // tries again. The events that caused this rotation must not fail for it.
            if std::fs::remove_file(path).is_err() {
                break;
            }
        }
        let _ = sync_dir(&self.dir);
        Ok(())
    }
}

/// Most files one retention pass removes: its record lists each, and must stay far below
/// the line limit.
const MAX_REMOVED_PER_PASS: usize = 1000;

/// The first record of a trail file, if it decodes.
fn first_record_of(path: &Path, chain: &Chain) -> Option<record::Record> {
    let file = rampart_core::fs::open_read_no_follow(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_LINE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    let end = bytes.iter().position(|&b| b == b'\n')?;
    record::decode(chain, bytes.get(..=end)?).ok()
}

/// The last record of a trail file, if it decodes.
fn last_record_of(path: &Path, chain: &Chain) -> Option<record::Record> {
    let (bytes, _) = read_tail(path, MAX_LINE_BYTES as u64 + 1).ok()?;
    let line = bytes.strip_suffix(b"\n")?.rsplit(|&b| b == b'\n').next()?;
    let mut full = line.to_vec();
    full.push(b'\n');
    record::decode(chain, &full).ok()
}

/// An event waiting for the group-commit writer, with where to send its outcome.
/// Shared between the sink's handles and its writer.
struct Shared {
    writer: Mutex<Option<Writer>>,
    overload: OverloadPolicy,
    dropped: AtomicU64,
    reported_dropped: AtomicU64,
    write_failures: AtomicU64,
    on_loss: Option<LossAlert>,
}

/// Appends audit events to a hash-chained, rotated trail of JSON-lines files.
///
/// One writer per directory: a second `open` on the same directory fails while the first
/// is alive (an advisory lock on `.lock`).
///
/// Closing or dropping it waits for its writer thread to commit everything already handed
/// over (nothing acknowledged is lost): do that at shutdown, off async workers
/// (`spawn_blocking`), not on a request path.
pub struct FileSink {
    shared: Arc<Shared>,
    /// The writer thread: every event of the async form, and group commit's blocking form.
    committer: Committer<Ack>,
    durability: Durability,
    _lock: File,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("durability", &self.durability)
            .field("overload", &self.shared.overload)
            .finish_non_exhaustive()
    }
}

/// The outcome of a submitted event, to wait for.
#[derive(Debug)]
pub struct Submitted(SubmittedInner);

#[derive(Debug)]
enum SubmittedInner {
    Done(std::result::Result<Ack, AuditError>),
    Waiting(Receiver<std::result::Result<Ack, AuditError>>),
}

impl Submitted {
    /// Waits until the event is as durable as the sink's mode promises.
    ///
    /// # Errors
    /// The event was not recorded.
    pub fn wait(self) -> std::result::Result<Ack, AuditError> {
        match self.0 {
            SubmittedInner::Done(result) => result,
            SubmittedInner::Waiting(receiver) => receiver.recv().unwrap_or(Err(AuditError::Closed)),
        }
    }
}

fn unavailable(error: &std::io::Error) -> AuditError {
    AuditError::Unavailable {
        what: format!("audit file write failed: {error}"),
    }
}

impl Shared {
    /// Counts dropped events and raises the alert.
    fn drop_events(&self, count: u64) {
        let total = self.dropped.fetch_add(count, Ordering::SeqCst) + count;
        if let Some(alert) = &self.on_loss {
            alert(count, total);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a batch under the overload policy; the first `audit.loss` record carries the
    /// events dropped since the last report.
    fn write(&self, events: Vec<String>) -> Vec<std::result::Result<Ack, AuditError>> {
        let count = events.len();
        let mut guard = self.lock();
        let Some(writer) = guard.as_mut() else {
            return (0..count).map(|_| Err(AuditError::Closed)).collect();
        };
        let mut backoff = Duration::from_millis(10);
        loop {
            let dropped = self.dropped.load(Ordering::SeqCst);
            let unreported = dropped - self.reported_dropped.load(Ordering::SeqCst);
            let mut batch = Vec::with_capacity(count + 1);
            if unreported > 0 {
                let loss = AuditEvent::new(Action::AuditLoss, Outcome::Failure, writer.clock.now())
                    .with_reason("events dropped under the overload policy")
                    .with_detail("dropped", unreported)
                    .with_detail("dropped_total", dropped);
                batch.push(serde_json::to_string(&loss).unwrap_or_default());
            }
            let offset = batch.len();
            batch.extend(events.iter().cloned());
            match writer.write_batch(&batch, false) {
                Ok(acks) => {
                    self.reported_dropped
                        .fetch_add(unreported, Ordering::SeqCst);
                    return acks.into_iter().skip(offset).map(Ok).collect();
                }
                Err(error) => {
                    self.write_failures.fetch_add(1, Ordering::SeqCst);
                    match self.overload {
                        OverloadPolicy::Block => {
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                        OverloadPolicy::FailClosed => {
                            return (0..count).map(|_| Err(unavailable(&error))).collect();
                        }
                        OverloadPolicy::Drop => {
                            self.drop_events(count as u64);
                            return (0..count).map(|_| Err(AuditError::Dropped)).collect();
                        }
                    }
                }
            }
        }
    }
}

impl FileSink {
    /// Opens (or creates) the trail in the configured directory.
    ///
    /// # Errors
    /// The directory is held by another writer, cannot be written, or holds a damaged trail.
    pub fn open(config: FileSinkConfig) -> Result<Self> {
        let config = config.build()?;
        let (writer, lock) = Writer::open(&config)?;
        let shared = Arc::new(Shared {
            writer: Mutex::new(Some(writer)),
            overload: config.overload,
            dropped: AtomicU64::new(0),
            reported_dropped: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            on_loss: config.on_loss.clone(),
        });
        let writer_shared = shared.clone();
        // Every event committed alone in every_event mode; batches otherwise.
        let most = if config.durability == Durability::EveryEvent {
            1
        } else {
            MAX_BATCH
        };
        let committer = Committer::start(
            "rampart-audit-writer",
            config.queue_capacity,
            most,
            move |lines| writer_shared.write(lines),
        )
        .map_err(|source| io_error(&config.dir, source))?;
        Ok(FileSink {
            shared,
            committer,
            durability: config.durability,
            _lock: lock,
        })
    }

    /// The line an event is written as: redacted, serialised, within the size limit.
    fn line(event: &AuditEvent) -> std::result::Result<String, AuditError> {
        let redacted;
        let event = if crate::redact::event_needs_redaction(event) {
            let mut copy = event.clone();
            crate::redact::redact_event(&mut copy);
            redacted = copy;
            &redacted
        } else {
            event
        };
        let json = serde_json::to_string(event).map_err(|error| AuditError::Invalid {
            what: error.to_string(),
        })?;
        // Refused here, before any batch: an event that can never be written must not be
        // retried as if the disk were failing, nor fail the events batched with it.
        if json.len() > record::MAX_EVENT_JSON_BYTES {
            return Err(AuditError::Invalid {
                what: format!(
                    "event of {} bytes is over the {} byte limit",
                    json.len(),
                    record::MAX_EVENT_JSON_BYTES
                ),
            });
        }
        Ok(json)
    }

    /// Queues a line for the writer thread, as the overload policy says: under
    /// [`OverloadPolicy::Block`] the caller's own way of waiting (`waiting`: for space, or,
    /// for an async caller that must not, past capacity); otherwise a full queue refuses.
    fn queue(
        &self,
        pending: Pending<Ack>,
        waiting: Admission,
    ) -> std::result::Result<(), AuditError> {
        let admission = match self.shared.overload {
            OverloadPolicy::Block => waiting,
            OverloadPolicy::FailClosed | OverloadPolicy::Drop => Admission::Refuse,
        };
        self.committer
            .send(pending, admission)
            .map_err(|(refusal, pending)| {
                let error = match (refusal, self.shared.overload) {
                    (Refusal::Closed, _) => AuditError::Closed,
                    (Refusal::Full, OverloadPolicy::Drop) => {
                        self.shared.drop_events(1);
                        AuditError::Dropped
                    }
                    (Refusal::Full, _) => AuditError::Overloaded,
                };
                // The caller answers with the error; the pending reply is dropped unread.
                drop(pending);
                error
            })
    }

    /// Hands an event to the sink from a thread that may block; wait on the result for
    /// durability. Async code uses [`AuditSink::submit`] instead.
    ///
    /// In group-commit mode the writer thread commits it (under [`OverloadPolicy::Block`] a
    /// full queue blocks here; with [`OverloadPolicy::FailClosed`] it is an error at once);
    /// in the other modes this thread writes it.
    pub fn enqueue(&self, event: &AuditEvent) -> Submitted {
        let line = match Self::line(event) {
            Ok(line) => line,
            Err(error) => return Submitted(SubmittedInner::Done(Err(error))),
        };
        if self.durability != Durability::GroupCommit {
            let result = self
                .shared
                .write(vec![line])
                .pop()
                .unwrap_or(Err(AuditError::Closed));
            return Submitted(SubmittedInner::Done(result));
        }
        let (reply, receiver) = mpsc::sync_channel(1);
        let pending = Pending {
            line,
            reply: Reply::Channel(reply),
        };
        match self.queue(pending, Admission::WaitForSpace) {
            Ok(()) => Submitted(SubmittedInner::Waiting(receiver)),
            Err(error) => Submitted(SubmittedInner::Done(Err(error))),
        }
    }

    /// Records an event and returns where it landed, once it is as durable as the mode says.
    ///
    /// # Errors
    /// See [`OverloadPolicy`].
    pub fn record_with_ack(&self, event: &AuditEvent) -> std::result::Result<Ack, AuditError> {
        self.enqueue(event).wait()
    }

    /// Events dropped so far under [`OverloadPolicy::Drop`].
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Failed write attempts so far (disk full, I/O errors), each answered by the policy.
    pub fn write_failures(&self) -> u64 {
        self.shared.write_failures.load(Ordering::SeqCst)
    }

    /// Commits whose head could not be published to the head file or the anchor sink (the
    /// records themselves are in the trail). Alert on it: until the next head is published,
    /// records cut from the end go unnoticed.
    pub fn head_failures(&self) -> u64 {
        self.shared.lock().as_ref().map_or(0, |w| w.head_failures)
    }

    /// The last record written: its sequence number and chain value.
    pub fn head(&self) -> Ack {
        let guard = self.shared.lock();
        guard.as_ref().map_or(
            Ack {
                seq: 0,
                chain: ChainValue::GENESIS,
            },
            |w| Ack {
                seq: w.seq,
                chain: w.prev,
            },
        )
    }

    /// Stops the writer, seals the current file, and releases the directory.
    ///
    /// # Errors
    /// The seal could not be written (the trail stays valid; the next writer resumes it).
    pub fn close(mut self) -> std::result::Result<Ack, AuditError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> std::result::Result<Ack, AuditError> {
        self.committer.close();
        let mut guard = self.shared.lock();
        let Some(mut writer) = guard.take() else {
            return Err(AuditError::Closed);
        };
        // The final head is always anchored, whatever the interval.
        writer.anchored_at = None;
        writer.seal("").map_err(|error| unavailable(&error))?;
        Ok(Ack {
            seq: writer.seq,
            chain: writer.prev,
        })
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl AuditSink for FileSink {
    /// Queues the event for the writer thread, which commits it as the durability mode says
    /// and answers the ticket. Under [`OverloadPolicy::Block`] an async caller never waits
    /// for queue space; it awaits its ticket.
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        let line = match Self::line(&event) {
            Ok(line) => line,
            Err(error) => return AuditTicket::ready(Err(error)),
        };
        let (pending, ticket) = Pending::with_ticket(line);
        match self.queue(pending, Admission::Overflow) {
            Ok(()) => ticket,
            Err(error) => AuditTicket::ready(Err(error)),
        }
    }

    fn record(&self, event: AuditEvent) -> std::result::Result<(), AuditError> {
        self.record_with_ack(&event).map(|_| ())
    }
}
