//! Audit trail files as an attacker might leave them: reading and verifying never panics,
//! and a line that verifies decodes to the record it claims (its chain value recomputes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_audit::{Chain, decode};

fuzz_target!(|data: &[u8]| {
    let chain = Chain::Sha256;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Ok(record) = decode(&chain, line) {
            let again = decode(&chain, line).expect("decoding is deterministic");
            assert_eq!(again.seq, record.seq);
            assert_eq!(again.chain, record.chain);
        }
    }
    // The whole buffer as one trail file.
    let dir = std::env::temp_dir().join(format!("rampart-fuzz-trail-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("audit-00000000000000000001.jsonl");
    if std::fs::write(&file, data).is_ok() {
        let _ = rampart_audit::verify(&[file], &chain, None);
    }
});
