//! One line of a trail: `{"seq":N,"prev":"HEX","event":{...},"chain":"HEX"}` + newline.
//!
//! The chain value covers the exact bytes before `,"chain"` — the line as written, never a
//! re-serialisation — so what is verified is what is on disk.

use rampart_core::AuditEvent;
use serde::Deserialize;

use crate::chain::{CHAIN_LEN, Chain, ChainValue};

/// `,"chain":"` + 64 hex digits + `"}`.
const CHAIN_SUFFIX_LEN: usize = 10 + CHAIN_LEN * 2 + 2;

/// Longest line a reader accepts (a record is refused before it gets this long).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Largest event (as JSON) a sink accepts: a line adds at most 200 bytes around it
/// (`{"seq":` and 20 digits, the previous chain value, the chain suffix, the newline).
pub(crate) const MAX_EVENT_JSON_BYTES: usize = MAX_LINE_BYTES - 200;

/// A verified record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Position in the trail, from 1, without gaps.
    pub seq: u64,
    /// The chain value of the record before (all zeros before the first).
    pub prev: ChainValue,
    /// The event.
    pub event: AuditEvent,
    /// This record's chain value.
    pub chain: ChainValue,
}

/// Builds the line for an event already serialised to JSON, chained to `prev`, and returns
/// it with its chain value. Writers use the file sink; this is for tools and tests that
/// need internally consistent trails (the fuzz target builds hostile ones with it).
pub fn encode(
    chain: &Chain,
    seq: u64,
    prev: ChainValue,
    event_json: &str,
) -> (Vec<u8>, ChainValue) {
    let mut line = Vec::with_capacity(event_json.len() + 200);
    let value = encode_into(&mut line, chain, seq, prev, event_json);
    (line, value)
}

/// Appends the line for an event (already JSON) to `out`; returns its chain value.
pub(crate) fn encode_into(
    out: &mut Vec<u8>,
    chain: &Chain,
    seq: u64,
    prev: ChainValue,
    event_json: &str,
) -> ChainValue {
    let start = out.len();
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"prev\":\"");
    prev.write_hex(out);
    out.extend_from_slice(b"\",\"event\":");
    out.extend_from_slice(event_json.as_bytes());
    let value = chain.value(out.get(start..).unwrap_or_default());
    out.extend_from_slice(b",\"chain\":\"");
    value.write_hex(out);
    out.extend_from_slice(b"\"}\n");
    value
}

/// One line of a trail file: its 1-based number, byte offset, bytes (with the newline, if
/// there is one) and whether it is the last line of the file.
pub(crate) struct Line<'a> {
    pub(crate) number: u64,
    pub(crate) offset: usize,
    pub(crate) bytes: &'a [u8],
    pub(crate) last: bool,
}

/// The lines of a trail file, in order; a final line without a newline is included.
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let total = bytes.len();
    bytes
        .split_inclusive(|&b| b == b'\n')
        .scan((0usize, 0u64), move |(offset, number), line| {
            let item = Line {
                number: *number + 1,
                offset: *offset,
                bytes: line,
                last: *offset + line.len() >= total,
            };
            *offset += line.len();
            *number += 1;
            Some(item)
        })
}

/// Why a line is not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line does not end with a newline: a write that did not finish.
    #[error("torn (no terminating newline)")]
    Torn,
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// Not of the record form.
    #[error("not a record: {0}")]
    Malformed(String),
    /// The chain value does not match the bytes: the record was altered.
    #[error("chain value does not match the record's bytes (altered)")]
    Altered,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    seq: u64,
    prev: String,
    event: AuditEvent,
}

/// Checks one line (with its newline) and returns the record.
///
/// # Errors
/// A [`LineError`] naming what is wrong.
pub fn decode(chain: &Chain, line: &[u8]) -> Result<Record, LineError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(LineError::TooLong);
    }
    let Some(line) = line.strip_suffix(b"\n") else {
        return Err(LineError::Torn);
    };
    let split = line
        .len()
        .checked_sub(CHAIN_SUFFIX_LEN)
        .ok_or_else(|| LineError::Malformed("too short".into()))?;
    let (body, suffix) = line.split_at(split);
    let hex = suffix
        .strip_prefix(b",\"chain\":\"")
        .and_then(|rest| rest.strip_suffix(b"\"}"))
        .and_then(|hex| std::str::from_utf8(hex).ok())
        .and_then(ChainValue::from_hex)
        .ok_or_else(|| LineError::Malformed("no chain value at the end".into()))?;
    if chain.value(body) != hex {
        return Err(LineError::Altered);
    }
    let mut json = Vec::with_capacity(body.len() + 1);
    json.extend_from_slice(body);
    json.push(b'}');
    let parsed: Body =
        serde_json::from_slice(&json).map_err(|e| LineError::Malformed(e.to_string()))?;
    let prev = ChainValue::from_hex(&parsed.prev)
        .ok_or_else(|| LineError::Malformed("bad prev".into()))?;
    Ok(Record {
        seq: parsed.seq,
        prev,
        event: parsed.event,
        chain: hex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::{Action, Outcome, Timestamp};

    fn event() -> AuditEvent {
        AuditEvent::new(
            Action::AuthnAttempt,
            Outcome::Success,
            "2026-11-27T11:40:57Z".parse::<Timestamp>().unwrap(),
        )
    }

    #[test]
    fn a_line_round_trips_and_any_change_is_caught() {
        let chain = Chain::Sha256;
        let original = event();
        let json = serde_json::to_string(&original).unwrap();
        let (line, value) = encode(&chain, 7, ChainValue::GENESIS, &json);
        let record = decode(&chain, &line).unwrap();
        assert_eq!(
            (record.seq, record.prev, record.chain),
            (7, ChainValue::GENESIS, value)
        );
        assert_eq!(record.event, original);

        // Flip every byte in turn (but the newline): each flip is detected.
        for position in 0..line.len() - 1 {
            let mut tampered = line.clone();
            tampered[position] ^= 0x01;
            assert!(decode(&chain, &tampered).is_err(), "flip at {position}");
        }
        assert_eq!(
            decode(&chain, &line[..line.len() - 1]),
            Err(LineError::Torn)
        );
        assert!(
            decode(&Chain::hmac(&[1; 32]).unwrap(), &line).is_err(),
            "wrong key"
        );
    }
}
