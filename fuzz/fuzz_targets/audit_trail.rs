//! Audit trail files as an attacker might leave them: reading and verifying never panics,
//! and a line that verifies decodes to the record it claims (its chain value recomputes).
//!
//! Random bytes rarely form a record whose chain value matches, so the input is also read
//! as a recipe for an internally consistent chain — sequence numbers, retention anchors
//! and seals chosen by the fuzzer, each line correctly chained to the one before — which
//! reaches the verifier's arithmetic on sequence numbers (`seq + 1`, `through + 1`) and its
//! anchor and seal rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_audit::{Chain, ChainValue, decode, encode};
use rampart_core::{Action, AuditEvent, Outcome, Timestamp};

/// One record of the recipe: 9 bytes (a kind and a little-endian u64).
fn consistent_trail(data: &[u8], chain: &Chain) -> Vec<u8> {
    let mut trail = Vec::new();
    let mut prev = ChainValue::GENESIS;
    for step in data.chunks_exact(9).take(64) {
        let (kind, number) = (step[0], u64::from_le_bytes(step[1..9].try_into().unwrap()));
        let seq = match kind % 4 {
            0 => number,
            _ => number | (u64::MAX << 60),
        };
        let event = match kind % 3 {
            0 => AuditEvent::new(Action::AuditRetention, Outcome::Success, Timestamp::UNIX_EPOCH)
                .with_detail("through_seq", number)
                .with_detail("through_chain", prev.to_hex()),
            1 => AuditEvent::new(Action::AuditSealed, Outcome::Success, Timestamp::UNIX_EPOCH)
                .with_detail("next_file", "audit-00000000000000000002.jsonl"),
            _ => AuditEvent::new(Action::AuthnAttempt, Outcome::Failure, Timestamp::UNIX_EPOCH),
        };
        let json = serde_json::to_string(&event).unwrap();
        let (line, value) = encode(chain, seq, if kind & 0x80 == 0 { prev } else { ChainValue::GENESIS }, &json);
        trail.extend_from_slice(&line);
        prev = value;
    }
    trail
}

fuzz_target!(|data: &[u8]| {
    let chain = Chain::Sha256;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Ok(record) = decode(&chain, line) {
            let again = decode(&chain, line).expect("decoding is deterministic");
            assert_eq!(again.seq, record.seq);
            assert_eq!(again.chain, record.chain);
        }
    }
    let dir = std::env::temp_dir().join(format!("rampart-fuzz-trail-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("audit-00000000000000000001.jsonl");
    // The whole buffer as one trail file, then the same bytes as a consistent chain.
    for content in [data.to_vec(), consistent_trail(data, &chain)] {
        if std::fs::write(&file, &content).is_ok() {
            let _ = rampart_audit::verify(std::slice::from_ref(&file), &chain, None);
        }
    }
});
