//! `rampart login` and `rampart oidc verify` against a running OpenID Provider:
//! oidc-provider 8 (OpenID-certified) on loopback https (tests/oidc-provider), driven by a
//! scripted browser. For RS256, ES256 and EdDSA clients: the code flow with PKCE ends in an
//! ExecCredential whose ID token `oidc verify` accepts with the provider's discovery and
//! JWKS fetched over https; a second run is served from the token cache without a browser.
//! After the provider rotates its RS256 key, new tokens carry the new `kid` and tokens
//! signed before the rotation still verify while the old key is published.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

mod common;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc-provider");

/// The provider process, killed when the test ends.
struct Provider {
    child: Child,
    /// Kept open: a closed pipe would kill the provider at its next write.
    stdout: BufReader<std::process::ChildStdout>,
    issuer: String,
    ca: PathBuf,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider(dir: &Path) -> Provider {
    rampart_testing::openssl_ca(dir, "ca");
    rampart_testing::openssl_request(dir, "server", &["-subj", "/CN=127.0.0.1"]);
    let cert = rampart_testing::openssl_sign(
        dir,
        "server",
        "ca",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    let mut child = Command::new("node")
        .arg(format!("{PEER}/provider.mjs"))
        .arg(&cert)
        .arg(dir.join("server.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("provider.log")).unwrap())
        .spawn()
        .expect("node (install-deps installs it)");
    let mut issuer = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut issuer).unwrap();
    assert!(issuer.starts_with("https://127.0.0.1:"), "{issuer}");
    Provider {
        child,
        stdout,
        issuer: issuer.trim().to_owned(),
        ca: dir.join("ca.crt"),
    }
}

/// Runs `rampart login`, playing the user's browser when it prints the URL; returns the
/// ExecCredential and whether a browser was needed.
fn login(provider: &Provider, client_id: &str, cache: &Path) -> (Value, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args([
            "login",
            "--issuer",
            &provider.issuer,
            "--client-id",
            client_id,
        ])
        .args(["--scope", "email", "--scope", "groups", "--timeout", "20s"])
        .args(["--allowed-algs", "RS256,ES256,EdDSA"])
        .arg("--ca-file")
        .arg(&provider.ca)
        .arg("--cache-file")
        .arg(cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut browsed = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("https://") {
            let browser = Command::new("node")
                .arg(format!("{PEER}/browser.mjs"))
                .arg(&line)
                .arg("alice")
                .env("NODE_EXTRA_CA_CERTS", &provider.ca)
                .output()
                .unwrap();
            assert!(
                browser.status.success(),
                "{}",
                String::from_utf8_lossy(&browser.stderr)
            );
            browsed = true;
        } else {
            eprintln!("rampart login: {line}");
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rampart login failed (see its lines above)"
    );
    (serde_json::from_slice(&out.stdout).unwrap(), browsed)
}

/// `rampart oidc verify` of one token, discovery and JWKS fetched from the provider.
fn oidc_verify(provider: &Provider, client_id: &str, token: &str, extra: &[&str]) -> Value {
    let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
    let jwks = format!("{}/jwks", provider.issuer);
    let mut args = vec![
        "oidc",
        "verify",
        "--discovery",
        &discovery,
        "--jwks",
        &jwks,
        "--ca-file",
        provider.ca.to_str().unwrap(),
        "--client-id",
        client_id,
        "--allowed-algs",
        "RS256,ES256,EdDSA",
    ];
    args.extend_from_slice(extra);
    let out = common::run(args, format!("{token}\n").as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn login_and_verify_against_a_running_openid_provider() {
    let dir = rampart_testing::scratch_dir("cli-login-oidc-provider");
    let provider = provider(&dir);
    for alg in ["RS256", "ES256", "EdDSA"] {
        let client_id = format!("rampart-{}", alg.to_lowercase());
        let cache = dir.join(format!("{client_id}.cache"));
        let (credential, browsed) = login(&provider, &client_id, &cache);
        assert!(browsed);
        assert_eq!(credential["kind"], "ExecCredential");
        assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
        let token = credential["status"]["token"].as_str().unwrap().to_owned();
        assert_eq!(header(&token)["alg"], alg);
        assert!(
            credential["status"]["expirationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o600
        );

        // The same token again from the cache: no browser.
        let (again, browsed) = login(&provider, &client_id, &cache);
        assert!(!browsed);
        assert_eq!(again, credential);

        // oidc verify with discovery and JWKS fetched from the provider over https.
        let verdict = oidc_verify(
            &provider,
            &client_id,
            &token,
            &[
                "--username-claim",
                "email",
                "--require-email-verified",
                "--groups-claim",
                "groups",
                "--groups-prefix",
                "oidc:",
            ],
        );
        assert_eq!(verdict["accepted"], true, "{alg}: {verdict}");
        assert_eq!(verdict["user"]["username"], "alice@example.test");
        assert_eq!(
            verdict["user"]["groups"],
            serde_json::json!(["oidc:developers"])
        );
        // Bound to its client: another client id refuses it.
        let other = oidc_verify(&provider, "someone-else", &token, &[]);
        assert_eq!(other["accepted"], false, "{other}");
    }
}

impl Provider {
    /// Rotates the provider's RS256 key (the old one stays in its JWKS).
    fn rotate(&mut self) {
        use std::io::Write as _;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"rotate\n").unwrap();
        stdin.flush().unwrap();
        // oidc-provider writes its notices to stdout too.
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the provider exited"
            );
            if line.trim() == "rotated" {
                break;
            }
        }
    }
}

fn header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_key_rotation_keeps_earlier_tokens_valid_through_the_overlap() {
    let dir = rampart_testing::scratch_dir("cli-login-rotation");
    let mut provider = provider(&dir);
    let (before, _) = login(&provider, "rampart-rs256", &dir.join("before.cache"));
    let before = before["status"]["token"].as_str().unwrap().to_owned();
    assert_eq!(header(&before)["kid"], "rs256-1");
    provider.rotate();
    let (after, browsed) = login(&provider, "rampart-rs256", &dir.join("after.cache"));
    assert!(browsed);
    let after = after["status"]["token"].as_str().unwrap().to_owned();
    assert_eq!(header(&after)["kid"], "rs256-2");
    for token in [&before, &after] {
        let verdict = oidc_verify(&provider, "rampart-rs256", token, &[]);
        assert_eq!(verdict["accepted"], true, "{verdict}");
    }
}
