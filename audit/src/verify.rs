//! Verifying a trail: every record, every link between records and between files.

use std::path::{Path, PathBuf};

use rampart_core::Action;

use crate::chain::{Chain, ChainValue};
use crate::error::Result;
use crate::file::trail_files;
use crate::record::{self, LineError, Record};

/// The first thing wrong with a trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file.
    pub file: String,
    /// The 1-based line (0 when the finding is about the file or the trail as a whole).
    pub line: u64,
    /// The sequence number of the record at fault, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ", line {}", self.line)?;
        }
        if let Some(seq) = self.seq {
            write!(f, ", seq {seq}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Files read.
    pub files: usize,
    /// Records verified.
    pub records: u64,
    /// The first sequence number present (1 unless retention removed earlier files).
    pub first_seq: u64,
    /// The last verified record: sequence number and chain value.
    pub head: Option<(u64, ChainValue)>,
    /// The first problem, if any: the trail is intact only when this is `None`.
    pub finding: Option<Finding>,
    /// A partial last line (an unacknowledged write cut by a crash): file and byte offset.
    pub torn_tail: Option<(String, u64)>,
    /// Whether the end of the trail was checked against a head kept elsewhere (an
    /// expected head or a head file). Without one, records cut from the end of the last
    /// file cannot be detected: the chain proves only what is still there.
    pub head_checked: bool,
}

/// How to verify: what the trail must reach, and whether it may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// A (sequence number, chain value) kept outside the machine — the last
    /// acknowledgement of a writer, or the newest line of a head file: the trail must
    /// contain it.
    pub expected_head: Option<(u64, ChainValue)>,
    /// Accept a trail with no files (a writer that never started). Off by default: an
    /// empty or missing trail is a finding, since deleting every file is the simplest
    /// tampering of all.
    pub allow_empty: bool,
}

impl VerifyOptions {
    /// The trail must contain this head.
    pub fn expected_head(mut self, head: Option<(u64, ChainValue)>) -> Self {
        self.expected_head = head;
        self
    }

    /// Accept a trail with no files.
    pub fn allow_empty(mut self, allow: bool) -> Self {
        self.allow_empty = allow;
        self
    }
}

/// The end of the last file, as a writer resuming the trail needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    pub(crate) path: PathBuf,
    /// Bytes up to the end of the last whole line.
    pub(crate) len: u64,
    /// Whole records in the file.
    pub(crate) records: u64,
    /// The file ends with a seal.
    pub(crate) sealed: bool,
    /// A torn last line: its offset and bytes.
    pub(crate) torn: Option<(u64, Vec<u8>)>,
}

impl Verification {
    /// Whether no record was altered, inserted, removed or reordered.
    pub fn is_intact(&self) -> bool {
        self.finding.is_none()
    }
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// Verifies the trail in the given directories and files (taken together, in name order).
/// `expected_head` is a (sequence number, chain value) kept outside the machine, for
/// example the last acknowledgement of `rampart audit record`: the trail must contain it.
/// A trail with no files is a finding; see [`verify_with`] to allow it.
///
/// # Errors
/// A path cannot be read. Everything about the content is a [`Finding`] instead.
pub fn verify(
    paths: &[PathBuf],
    chain: &Chain,
    expected_head: Option<(u64, ChainValue)>,
) -> Result<Verification> {
    verify_with(
        paths,
        chain,
        &VerifyOptions::default().expected_head(expected_head),
    )
}

/// [`verify`] with options.
///
/// # Errors
/// A path cannot be read. Everything about the content is a [`Finding`] instead.
pub fn verify_with(
    paths: &[PathBuf],
    chain: &Chain,
    options: &VerifyOptions,
) -> Result<Verification> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(trail_files(path)?);
        } else {
            files.push(path.clone());
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files.dedup();
    let (mut result, _) = walk(&files, chain, options.expected_head)?;
    if result.finding.is_none() && files.is_empty() && !options.allow_empty {
        result.finding = Some(Finding {
            file: paths.first().map(|p| name(p)).unwrap_or_default(),
            line: 0,
            seq: None,
            reason: "no trail files: the trail is empty or was removed".into(),
        });
    }
    Ok(result)
}

/// Walks `files` (already in order) record by record: the one reading of a trail that
/// both the verifier and a writer resuming the trail use, so that a writer appends to
/// exactly the trails the verifier accepts — including one whose first files retention
/// removed.
///
/// # Errors
/// A file cannot be read.
pub(crate) fn walk(
    files: &[PathBuf],
    chain: &Chain,
    expected_head: Option<(u64, ChainValue)>,
) -> Result<(Verification, Option<Tail>)> {
    let mut state = Walk {
        want: expected_head,
        ..Walk::default()
    };
    let mut result = Verification {
        files: files.len(),
        head_checked: expected_head.is_some(),
        ..Verification::default()
    };
    let count = files.len();
    let mut tail = None;
    for (position, path) in files.iter().enumerate() {
        let bytes = crate::file::read_trail_file(path)?;
        let next = files
            .get(position + 1)
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        match state.file(
            path,
            &bytes,
            chain,
            next,
            position + 1 == count,
            &mut result,
        ) {
            Ok(found) => tail = Some(found),
            Err(finding) => {
                result.finding = Some(finding);
                break;
            }
        }
    }
    result.records = state.records;
    result.first_seq = state.first_seq.unwrap_or(0);
    result.head = state.last;
    if result.finding.is_none()
        && let Some((seq, prev)) = state.unanchored_start
    {
        result.finding = Some(Finding {
            file: files.first().map(|p| name(p)).unwrap_or_default(),
            line: 1,
            seq: Some(seq),
            reason: format!(
                "records before seq {seq} are missing and no retention record accounts for them (expected a link to {prev})"
            ),
        });
    }
    if result.finding.is_none()
        && let Some((seq, _)) = expected_head
    {
        match state.last {
            Some((last, _)) if last < seq => {
                result.finding = Some(Finding {
                    file: files.last().map(|p| name(p)).unwrap_or_default(),
                    line: 0,
                    seq: Some(seq),
                    reason: format!(
                        "truncated at the end: the expected head seq {seq} is missing (the trail ends at seq {last})"
                    ),
                });
            }
            None => {
                result.finding = Some(Finding {
                    file: String::new(),
                    line: 0,
                    seq: Some(seq),
                    reason: format!(
                        "truncated at the end: the expected head seq {seq} is missing (the trail has no records)"
                    ),
                });
            }
            _ if !state.confirmed => {
                result.finding = Some(Finding {
                    file: String::new(),
                    line: 0,
                    seq: Some(seq),
                    reason: "the expected head's chain value does not match the trail".into(),
                });
            }
            _ => {}
        }
    }
    Ok((result, tail))
}

#[derive(Default)]
struct Walk {
    records: u64,
    first_seq: Option<u64>,
    last: Option<(u64, ChainValue)>,
    unanchored_start: Option<(u64, ChainValue)>,
    want: Option<(u64, ChainValue)>,
    confirmed: bool,
}

impl Walk {
    fn file(
        &mut self,
        path: &Path,
        bytes: &[u8],
        chain: &Chain,
        next_file: Option<&str>,
        last_file: bool,
        result: &mut Verification,
    ) -> std::result::Result<Tail, Finding> {
        let finding = |line: u64, seq: Option<u64>, reason: String| Finding {
            file: name(path),
            line,
            seq,
            reason,
        };
        let mut line_number = 0u64;
        let mut last_record: Option<Record> = None;
        let mut whole_len = 0usize;
        let mut records = 0u64;
        let mut torn = None;
        for record::Line {
            number,
            offset,
            bytes: line,
            last: at_end,
        } in record::lines(bytes)
        {
            line_number = number;
            let record = match record::decode(chain, line) {
                Ok(record) => record,
                Err(LineError::Torn) if at_end && last_file => {
                    result.torn_tail = Some((name(path), offset as u64));
                    torn = Some((offset as u64, line.to_vec()));
                    break;
                }
                Err(LineError::Altered) => {
                    return Err(finding(
                        line_number,
                        None,
                        "record altered: its chain value does not match its bytes".into(),
                    ));
                }
                Err(error) => return Err(finding(line_number, None, error.to_string())),
            };
            self.link(&record, line_number == 1)
                .map_err(|reason| finding(line_number, Some(record.seq), reason))?;
            if record.event.action == Action::AuditRetention {
                self.anchor(&record);
            }
            whole_len = offset + line.len();
            records += 1;
            last_record = Some(record);
        }
        let sealed = last_record
            .as_ref()
            .is_some_and(|r| r.event.action == Action::AuditSealed);
        if !last_file {
            let Some(seal) = last_record.filter(|_| sealed) else {
                return Err(finding(
                    line_number,
                    None,
                    "file does not end with a seal: records were cut from its end".into(),
                ));
            };
            let named = seal
                .event
                .details
                .get("next_file")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            if !named.is_empty() && Some(named) != next_file {
                return Err(finding(
                    line_number,
                    Some(seal.seq),
                    format!(
                        "the seal names `{named}` as the next file, but the next file is `{}` (a file was removed)",
                        next_file.unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(Tail {
            path: path.to_path_buf(),
            len: whole_len as u64,
            records,
            sealed,
            torn,
        })
    }

    /// Checks that `record` follows the last one.
    fn link(&mut self, record: &Record, first_in_file: bool) -> std::result::Result<(), String> {
        match self.last {
            None => {
                self.first_seq = Some(record.seq);
                if record.seq != 1 || record.prev != ChainValue::GENESIS {
                    self.unanchored_start = Some((record.seq, record.prev));
                }
            }
            Some((seq, value)) => {
                let Some(expected) = seq.checked_add(1) else {
                    return Err(format!(
                        "seq {} follows seq {seq}, the largest sequence number there is",
                        record.seq
                    ));
                };
                if record.seq > expected {
                    let what = if first_in_file {
                        "a file was removed from the middle"
                    } else {
                        "records were deleted"
                    };
                    return Err(format!(
                        "{what}: records {expected} to {} are missing",
                        record.seq - 1
                    ));
                }
                if record.seq < expected {
                    return Err(format!(
                        "out of order: seq {} after seq {seq} (reordered or inserted)",
                        record.seq
                    ));
                }
                if record.prev != value {
                    return Err("the link to the previous record is broken (a record was inserted or replaced)".into());
                }
            }
        }
        self.records += 1;
        self.last = Some((record.seq, record.chain));
        if self.want == Some((record.seq, record.chain)) {
            self.confirmed = true;
        }
        Ok(())
    }

    /// An `audit.retention` record accounts for a start that is not the genesis: it names
    /// the last record of every file it removed (`anchors`), so that a trail whose removal
    /// stopped part-way (the oldest files gone, the rest still there) still verifies.
    fn anchor(&mut self, record: &Record) {
        let Some((seq, prev)) = self.unanchored_start else {
            return;
        };
        let details = &record.event.details;
        let single = [serde_json::json!({
            "through_seq": details.get("through_seq"),
            "through_chain": details.get("through_chain"),
        })];
        let listed = details
            .get("anchors")
            .and_then(serde_json::Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let accounts_for_start = listed.iter().chain(single.iter()).any(|anchor| {
            let through = anchor
                .get("through_seq")
                .and_then(serde_json::Value::as_u64);
            let value = anchor
                .get("through_chain")
                .and_then(|v| v.as_str())
                .and_then(ChainValue::from_hex);
            through.and_then(|t| t.checked_add(1)) == Some(seq) && value == Some(prev)
        });
        if accounts_for_start {
            self.unanchored_start = None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "a test fails by panicking"
    )]
    use super::*;
    use rampart_core::{AuditEvent, Outcome};
    use std::time::SystemTime;

    fn event_json(action: Action, details: serde_json::Value) -> String {
        let mut event = AuditEvent::new(action, Outcome::Success, SystemTime::UNIX_EPOCH);
        if let serde_json::Value::Object(map) = details {
            for (key, value) in map {
                event = event.with_detail(key, value);
            }
        }
        serde_json::to_string(&event).unwrap()
    }

    fn scratch_file(name: &str, lines: &[Vec<u8>]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rampart-verify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit-00000000000000000001.jsonl");
        std::fs::write(&path, lines.concat()).unwrap();
        path
    }

    /// Sequence numbers and retention anchors at the top of the range are reported, never
    /// an arithmetic overflow (exit 101 from the CLI).
    #[test]
    fn a_crafted_trail_at_the_end_of_the_sequence_range_is_a_finding_not_a_panic() {
        let chain = Chain::Sha256;
        let started = event_json(Action::AuditStarted, serde_json::json!({}));
        let (first, value) = record::encode(&chain, u64::MAX, ChainValue::GENESIS, &started);
        let (second, _) = record::encode(&chain, 0, value, &started);
        let path = scratch_file("overflow", &[first.clone(), second]);
        let report = verify(std::slice::from_ref(&path), &chain, None).unwrap();
        assert!(!report.is_intact());

        let retention = event_json(
            Action::AuditRetention,
            serde_json::json!({"through_seq": u64::MAX, "through_chain": ChainValue::GENESIS.to_hex()}),
        );
        let (only, _) = record::encode(&chain, 5, ChainValue::GENESIS, &retention);
        let path = scratch_file("overflow-anchor", &[only]);
        let report = verify(std::slice::from_ref(&path), &chain, None).unwrap();
        assert!(!report.is_intact(), "{report:?}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
