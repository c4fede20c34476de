//! `rampart passwd` as a black box: passwords on stdin, PHC strings out, exit codes as
//! documented, and interop with argon2-cffi's hashes through the CLI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::process::Output;

use serde_json::Value;

mod common;

/// OWASP's smallest equivalent setting (7 MiB, 5 passes); `verify` uses the defaults.
const FAST: [&str; 6] = ["--m-kib", "7168", "--t", "5", "--p", "1"];

fn passwd(args: &[&str], stdin: &[u8]) -> Output {
    common::run(["passwd"].iter().chain(args), stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn hash_then_verify_round_trips_and_wrong_passwords_exit_1() {
    let password = b"purple tuesday lighthouse marmalade\n";
    let hashed = passwd(&[&["hash"][..], &FAST].concat(), password);
    assert_eq!(hashed.status.code(), Some(0), "{}", text(&hashed.stderr));
    let phc = text(&hashed.stdout);
    let phc = phc.trim_end();
    assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
    assert_eq!(phc.lines().count(), 1);
    assert!(!text(&hashed.stderr).contains("purple"));

    // CRLF line endings are the same password.
    let ok = passwd(
        &["verify", "--hash", phc],
        b"purple tuesday lighthouse marmalade\r\n",
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let wrong = passwd(
        &["verify", "--hash", phc],
        b"purple tuesday lighthouse marmalad\n",
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(wrong.stdout.is_empty());
}

#[test]
fn verify_accepts_argon2_cffi_hashes() {
    let fixture: Value = serde_json::from_str(include_str!(
        "../../authn/tests/fixtures/argon2/argon2-cffi.json"
    ))
    .unwrap();
    let entry = &fixture[0];
    let phc = entry["hash"].as_str().unwrap();
    let password = entry["password"].as_str().unwrap();
    let ok = passwd(&["verify", "--hash", phc], password.as_bytes());
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

#[test]
fn malformed_and_oversized_hashes_exit_1_with_a_reason() {
    for (phc, expected) in [
        ("not a hash", "malformed"),
        (
            "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "malformed",
        ),
        (
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "exceed",
        ),
    ] {
        let out = passwd(&["verify", "--hash", phc], b"whatever it is\n");
        assert_eq!(out.status.code(), Some(1), "{phc}");
        assert!(
            text(&out.stderr).contains(expected),
            "{phc}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn hash_refuses_policy_violations_unless_told_to_skip() {
    let refused = passwd(
        &[&["hash", "--username", "alice"][..], &FAST].concat(),
        b"password\n",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stdout.is_empty(),
        "no hash may be printed for a refused password"
    );
    let codes = common::rejection_codes(&refused.stderr);
    assert_eq!(codes, ["too_short", "blocklisted"]);

    let skipped = passwd(
        &[&["hash", "--skip-policy"][..], &FAST].concat(),
        b"password\n",
    );
    assert_eq!(skipped.status.code(), Some(0));
    assert!(text(&skipped.stdout).starts_with("$argon2id$"));
}

#[test]
fn check_prints_a_verdict_with_reasons() {
    let accepted = passwd(
        &["check", "--username", "alice"],
        b"purple tuesday lighthouse\n",
    );
    assert_eq!(accepted.status.code(), Some(0));
    let verdict: Value = serde_json::from_str(text(&accepted.stdout).trim()).unwrap();
    assert_eq!(
        verdict,
        serde_json::json!({ "accepted": true, "reasons": [] })
    );

    let refused = passwd(
        &["check", "--username", "alice", "--service", "rampart"],
        b"Alice loves the rampart gateway\n",
    );
    assert_eq!(refused.status.code(), Some(1));
    let verdict: Value = serde_json::from_str(text(&refused.stdout).trim()).unwrap();
    assert_eq!(verdict["accepted"], false);
    assert_eq!(verdict["reasons"][0]["code"], "contains_username");
    assert!(
        !text(&refused.stdout).contains("loves"),
        "the verdict must not echo the password"
    );

    let floor = passwd(&["check", "--min-chars", "7"], b"whatever it is\n");
    assert_eq!(floor.status.code(), Some(2));
    assert!(text(&floor.stderr).contains("below the floor"));
}

#[test]
fn bad_stdin_is_a_usage_error() {
    for (stdin, expected) in [
        (&b""[..], "no password"),
        (&b"\n"[..], "no password"),
        (&[0xff, 0xfe, b'\n'][..], "not UTF-8"),
    ] {
        let out = passwd(&["check"], stdin);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains(expected),
            "{}",
            text(&out.stderr)
        );
    }
    let huge = vec![b'x'; 70 * 1024];
    let out = passwd(&["check"], &huge);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("longer than"));
}
