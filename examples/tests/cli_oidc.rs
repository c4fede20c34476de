//! `rampart oidc verify` and `rampart token …` as black boxes: every jose fixture case gets
//! the verdict it is labelled with, tokens the CLI issues verify through the CLI, and the
//! ExecCredential kubectl reads has the shape client-go expects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::path::Path;

use serde_json::Value;

mod common;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../authn/tests/fixtures/oidc");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(output: &std::process::Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `rampart oidc verify --discovery D --jwks J --client-id C EXTRA…` with `stdin`.
fn verify(
    discovery: &str,
    jwks: &str,
    client_id: &str,
    extra: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    let mut args = vec![
        "oidc",
        "verify",
        "--discovery",
        discovery,
        "--jwks",
        jwks,
        "--client-id",
        client_id,
    ];
    args.extend_from_slice(extra);
    common::run(args, stdin)
}

/// `oidc verify` against the fixtures' discovery document and key set.
fn verify_fixtures(tokens: &Value, extra: &[&str], stdin: &[u8]) -> std::process::Output {
    verify(
        &format!("{FIXTURES}/discovery.json"),
        &format!("{FIXTURES}/jwks.json"),
        tokens["client_id"].as_str().unwrap(),
        extra,
        stdin,
    )
}

/// The jose-made token fixtures (`tokens.json`).
fn fixture_tokens() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/tokens.json")).unwrap())
        .unwrap()
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn every_fixture_case_gets_its_labelled_verdict() {
    let tokens = fixture_tokens();
    let cases = tokens["cases"].as_array().unwrap();
    let stdin: String = cases
        .iter()
        .map(|case| format!("{}\n", case["token"].as_str().unwrap()))
        .collect();
    let out = verify_fixtures(
        &tokens,
        &[
            "--now",
            "2027-01-15T08:01:00Z",
            "--nonce",
            tokens["nonce"].as_str().unwrap(),
            "--access-token",
            tokens["access_token"].as_str().unwrap(),
            "--allowed-algs",
            "RS256,PS256,ES256,ES384,EdDSA,Ed25519",
            "--trusted-audience",
            "other",
            "--username-claim",
            "email",
            "--groups-claim",
            "groups",
        ],
        stdin.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let verdicts = lines(&out);
    assert_eq!(verdicts.len(), cases.len());
    for (case, verdict) in cases.iter().zip(&verdicts) {
        let name = case["name"].as_str().unwrap();
        // Two valid tokens are refused by the mapping only: an unverified email as the
        // username, and a system: name.
        let expected = case["accept"].as_bool().unwrap()
            && !["email-not-verified", "system-username"].contains(&name);
        assert_eq!(verdict["accepted"], expected, "{name}: {verdict}");
        if expected {
            assert_eq!(verdict["user"]["username"], "alice@example.test");
            assert_eq!(verdict["user"]["groups"], serde_json::json!(["dev", "ops"]));
            assert_eq!(verdict["claims"]["sub"], "user-123");
        } else {
            assert!(
                verdict["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{name}: {verdict}"
            );
            assert!(
                !verdict
                    .to_string()
                    .contains(case["token"].as_str().unwrap())
            );
        }
    }
}

#[test]
fn tokens_issued_by_the_cli_verify_through_the_cli_across_a_rotation() {
    let dir = scratch_dir("cli-oidc-issue");
    let issuer = "https://rampart.example.test";
    for (name, kind) in [("old.pem", "p256"), ("new.pem", "ed25519")] {
        let out = common::run(
            [
                "token",
                "keygen",
                "--out",
                path(&dir.join(name)),
                "--key-type",
                kind,
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let again = common::run(
        ["token", "keygen", "--out", path(&dir.join("old.pem"))],
        b"",
    );
    assert_eq!(again.status.code(), Some(2), "a key is never overwritten");
    let issue = |key: &str| {
        let out = common::run(
            [
                "token",
                "issue",
                "--issuer",
                issuer,
                "--key",
                path(&dir.join(key)),
                "--audience",
                "kubernetes",
                "--user",
                "alice",
                "--group",
                "dev",
                "--uid",
                "u-1",
                "--ttl",
                "5m",
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let old_token = issue("old.pem");
    let new_token = issue("new.pem");
    // The JWKS of the rotation: the new key active, the old one still published.
    let documents = |name: &str| {
        let out = common::run(
            [
                "token",
                name,
                "--issuer",
                issuer,
                "--key",
                path(&dir.join("new.pem")),
                "--key",
                path(&dir.join("old.pem")),
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        file
    };
    let jwks = documents("jwks");
    let discovery = documents("discovery");
    let keys: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let out = verify(
        path(&discovery),
        path(&jwks),
        "kubernetes",
        &[
            "--allowed-algs",
            "ES256,EdDSA",
            "--username-prefix",
            "-",
            "--groups-claim",
            "groups",
        ],
        format!("{old_token}\n{new_token}\n").as_bytes(),
    );
    let verdicts = lines(&out);
    assert_eq!(verdicts.len(), 2, "{}", text(&out.stderr));
    for verdict in &verdicts {
        assert_eq!(verdict["accepted"], true, "{verdict}");
        assert_eq!(verdict["user"]["username"], "alice");
        assert_eq!(verdict["user"]["groups"], serde_json::json!(["dev"]));
    }
    // A client id the tokens were not issued to.
    let out = verify(
        path(&discovery),
        path(&jwks),
        "other",
        &["--allowed-algs", "ES256,EdDSA"],
        format!("{old_token}\n").as_bytes(),
    );
    assert_eq!(lines(&out)[0]["accepted"], false);
}

#[test]
fn exec_credential_output_has_the_shape_client_go_reads() {
    let dir = scratch_dir("cli-oidc-exec");
    let key = dir.join("k.pem");
    assert_eq!(
        common::run(["token", "keygen", "--out", path(&key)], b"")
            .status
            .code(),
        Some(0)
    );
    let out = common::run(
        [
            "token",
            "issue",
            "--issuer",
            "https://rampart.example.test",
            "--key",
            path(&key),
            "--audience",
            "kubernetes",
            "--user",
            "alice",
            "--exec-credential",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let credential: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(credential["kind"], "ExecCredential");
    assert_eq!(
        credential["status"]["token"]
            .as_str()
            .unwrap()
            .split('.')
            .count(),
        3
    );
    let expiry = credential["status"]["expirationTimestamp"]
        .as_str()
        .unwrap();
    assert!(
        expiry.parse::<rampart_core::Timestamp>().is_ok(),
        "{expiry}"
    );
    // Refusals: a plain-http issuer, an unknown algorithm, a missing file.
    assert_eq!(
        common::run(
            [
                "token",
                "issue",
                "--issuer",
                "http://x.test",
                "--key",
                path(&key),
                "--audience",
                "a",
                "--user",
                "u"
            ],
            b""
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        verify("/nonexistent", "/nonexistent", "c", &[], b"")
            .status
            .code(),
        Some(2)
    );
    let none = verify(
        &format!("{FIXTURES}/discovery.json"),
        &format!("{FIXTURES}/jwks.json"),
        "c",
        &["--allowed-algs", "none"],
        b"",
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("none"));
}

#[test]
fn discovery_urls_must_be_https_and_reachable() {
    // Plain http is refused before any connection; nothing listens on port 1 (a transport
    // error). Either way: exit 2, no verdicts.
    for (discovery, why) in [
        (
            "http://localhost:1/.well-known/openid-configuration",
            "only https",
        ),
        (
            "https://localhost:1/.well-known/openid-configuration",
            "fetch failed",
        ),
    ] {
        let out = verify(discovery, "/nonexistent", "c", &[], b"a.b.c\n");
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(why), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
    }
}

/// One verdict per input line, an empty line included, so verdicts stay aligned with
/// inputs; `--require-email-verified` holds whatever the username claim is; `Ed25519`
/// (RFC 9864) is a name `--allowed-algs` accepts.
#[test]
fn every_line_gets_one_verdict_and_the_email_promise_holds_for_any_username_claim() {
    let tokens = fixture_tokens();
    let token = |name: &str| {
        tokens["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|case| case["name"] == name)
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let stdin = format!(
        "{}\n\n{}\n   \n{}\n",
        token("es256"),
        token("email-not-verified"),
        token("es256"),
    );
    let out = verify_fixtures(
        &tokens,
        &[
            "--now",
            "2027-01-15T08:01:00Z",
            "--allowed-algs",
            "ES256,Ed25519",
            "--require-email-verified",
        ],
        stdin.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let verdicts = lines(&out);
    assert_eq!(verdicts.len(), 5, "one verdict per line: {verdicts:?}");
    let accepted: Vec<bool> = verdicts
        .iter()
        .map(|v| v["accepted"].as_bool().unwrap())
        .collect();
    // The username is `sub`, yet the unverified email is refused.
    assert_eq!(accepted, [true, false, false, false, true], "{verdicts:?}");
    assert!(verdicts[1]["error"].as_str().unwrap().contains("empty"));
}
