//! argon2id interoperability with an independent implementation (argon2-cffi, Python
//! bindings of the reference C code), both ways.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::Write;
use std::process::{Command, Stdio};

use rampart_authn::PasswordHasher;
use rampart_authn::password::{HashParams, StoredLimits, Verified};
use rampart_core::SecretString;

fn hasher() -> PasswordHasher {
    PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap()
}

/// Hashes committed from argon2-cffi (tests/fixtures/argon2/generate.py) verify here; each
/// has a tampered twin (one character of the password changed) that must not.
#[test]
fn hashes_made_by_argon2_cffi_verify_here() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/argon2/argon2-cffi.json"
    ))
    .unwrap();
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(vectors.len(), 5);
    let hasher = hasher();
    for vector in vectors {
        let password = vector["password"].as_str().unwrap();
        let hash = vector["hash"].as_str().unwrap();
        assert!(
            matches!(
                hasher.verify(&SecretString::from(password), hash),
                Ok(Verified::Match { .. })
            ),
            "{hash}"
        );
        let mut tampered = password.to_owned();
        tampered.push('!');
        assert_eq!(
            hasher.verify(&SecretString::from(tampered), hash),
            Ok(Verified::Mismatch),
            "{hash}"
        );
    }
}

/// Hashes made here verify with argon2-cffi (needs python3 with argon2-cffi, which
/// scripts/install-deps installs).
#[test]
fn hashes_made_here_verify_with_argon2_cffi() {
    let hasher = hasher();
    let cases = [
        "correct horse battery staple",
        "ünïcödé passphrase 🔐 with spaces",
        &"y".repeat(64),
    ];
    let mut lines = String::new();
    for password in cases {
        let hash = hasher.hash(&SecretString::from(password)).unwrap();
        lines.push_str(&serde_json::json!({"password": password, "hash": hash}).to_string());
        lines.push('\n');
        lines.push_str(&serde_json::json!({"password": format!("{password}?"), "hash": hash, "expect_mismatch": true}).to_string());
        lines.push('\n');
    }
    let script = r#"
import json, sys
import argon2
hasher = argon2.PasswordHasher()
for line in sys.stdin:
    case = json.loads(line)
    try:
        ok = hasher.verify(case["hash"], case["password"])
    except argon2.exceptions.VerifyMismatchError:
        ok = False
    if ok == case.get("expect_mismatch", False):
        print("FAIL", case["hash"])
        sys.exit(1)
print("OK")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "OK",
        "argon2-cffi refused: {} {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
