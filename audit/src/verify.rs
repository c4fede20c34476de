//! Verifying a trail: every record, every link between records and between files.

use std::path::{Path, PathBuf};

use rampart_core::Action;

use crate::chain::{Chain, ChainValue};
use crate::error::{Error, Result};
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
///
/// # Errors
/// A path cannot be read. Everything about the content is a [`Finding`] instead.
pub fn verify(
    paths: &[PathBuf],
    chain: &Chain,
    expected_head: Option<(u64, ChainValue)>,
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
    let mut state = Walk {
        want: expected_head,
        ..Walk::default()
    };
    let mut result = Verification {
        files: files.len(),
        ..Verification::default()
    };
    let count = files.len();
    for (position, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: name(path),
            source,
        })?;
        let next = files
            .get(position + 1)
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        if let Err(finding) = state.file(
            path,
            &bytes,
            chain,
            next,
            position + 1 == count,
            &mut result,
        ) {
            result.finding = Some(finding);
            break;
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
    Ok(result)
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
    ) -> std::result::Result<(), Finding> {
        let finding = |line: u64, seq: Option<u64>, reason: String| Finding {
            file: name(path),
            line,
            seq,
            reason,
        };
        let mut line_number = 0u64;
        let mut last_record: Option<Record> = None;
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
            last_record = Some(record);
        }
        if !last_file {
            let Some(seal) = last_record.filter(|r| r.event.action == Action::AuditSealed) else {
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
        Ok(())
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
                let expected = seq + 1;
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

    /// An `audit.retention` record accounts for a start that is not the genesis.
    fn anchor(&mut self, record: &Record) {
        let through = record
            .event
            .details
            .get("through_seq")
            .and_then(serde_json::Value::as_u64);
        let value = record
            .event
            .details
            .get("through_chain")
            .and_then(|v| v.as_str())
            .and_then(ChainValue::from_hex);
        if let (Some((seq, prev)), Some(through), Some(value)) =
            (self.unanchored_start, through, value)
            && through + 1 == seq
            && value == prev
        {
            self.unanchored_start = None;
        }
    }
}
