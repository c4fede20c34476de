//! `rampart certs` as a black box: files and modes, chains `openssl verify` accepts for
//! the right purpose, CSRs from `openssl req`, policy refusals with exit 1, `inspect`,
//! `ssh-sign` read back by `ssh-keygen -L`, and `curl --cert` with a CLI-issued client
//! certificate against a rustls mutual-TLS server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;

mod common;

fn certs(args: &[&str]) -> Output {
    common::run([&["certs"][..], args].concat(), b"")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn openssl_verify(ca: &Path, purpose: &str, leaf: &Path) -> bool {
    Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            path(ca),
            "-purpose",
            purpose,
            path(leaf),
        ])
        .output()
        .unwrap()
        .status
        .success()
}

fn init_ca(dir: &Path) -> PathBuf {
    let ca = dir.join("ca");
    let out = certs(&[
        "init-ca",
        "--out",
        path(&ca),
        "--cn",
        "cli test CA",
        "--ttl",
        "30d",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    ca
}

#[test]
fn init_ca_and_issue_write_verifiable_files_with_private_keys() {
    let dir = scratch_dir("cli-certs-issue");
    let ca = init_ca(&dir);
    assert_eq!(mode(&ca.join("ca.key")), 0o600);
    assert_eq!(mode(&ca.join("ca.crt")), 0o644);
    // A CA key is never overwritten.
    let again = certs(&["init-ca", "--out", path(&ca)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("never overwritten"));

    let alice = dir.join("alice");
    let out = certs(&[
        "issue",
        "--ca",
        path(&ca),
        "--cn",
        "alice",
        "--org",
        "dev",
        "--client",
        "--ttl",
        "12h",
        "--out",
        path(&alice),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(
        report["serial"].as_str().unwrap().len(),
        40,
        "20-byte serial: {report}"
    );
    assert_eq!(mode(&dir.join("alice.key")), 0o600);
    let chain = std::fs::read_to_string(dir.join("alice.crt")).unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf, then chain"
    );
    assert!(
        !text(&out.stdout).contains("PRIVATE KEY") && !text(&out.stderr).contains("PRIVATE KEY")
    );
    assert!(openssl_verify(
        &ca.join("ca.crt"),
        "sslclient",
        &dir.join("alice.crt")
    ));
    assert!(!openssl_verify(
        &ca.join("ca.crt"),
        "sslserver",
        &dir.join("alice.crt")
    ));

    let server = dir.join("server");
    let out = certs(&[
        "issue",
        "--ca",
        path(&ca),
        "--cn",
        "localhost",
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.1",
        "--server",
        "--key-type",
        "ed25519",
        "--out",
        path(&server),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(openssl_verify(
        &ca.join("ca.crt"),
        "sslserver",
        &dir.join("server.crt")
    ));

    // inspect, as text and as JSON.
    let shown = certs(&["inspect", path(&dir.join("alice.crt"))]);
    assert_eq!(shown.status.code(), Some(0));
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("Kubernetes:  user alice groups [dev]") && shown.contains("clientAuth"),
        "{shown}"
    );
    let json = certs(&["inspect", "--json", path(&dir.join("server.crt"))]);
    let first: Value = serde_json::from_str(text(&json.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["dns"], serde_json::json!(["localhost"]));
    assert_eq!(first["ips"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(first["key"], "Ed25519");
}

#[test]
fn policy_refusals_exit_1_with_the_reason() {
    let dir = scratch_dir("cli-certs-refusals");
    let ca = init_ca(&dir);
    let issue = |extra: &[&str]| {
        let out_prefix = dir.join("refused");
        certs(
            &[
                &["issue", "--ca", path(&ca), "--out", path(&out_prefix)][..],
                extra,
            ]
            .concat(),
        )
    };
    for (extra, reason) in [
        (
            &["--cn", "alice", "--client", "--ttl", "31d"][..],
            "exceeds the maximum 30d",
        ),
        (
            &["--cn", "alice", "--org", "system:masters", "--client"][..],
            "system:masters",
        ),
        (
            &["--cn", "web", "--dns", "*.example.test", "--server"][..],
            "wildcard",
        ),
        (
            &[
                "--cn",
                "web",
                "--dns",
                "api.other.test",
                "--server",
                "--allow-dns-suffix",
                "example.test",
            ][..],
            "outside the allowed domains",
        ),
        (
            &[
                "--cn",
                "system:node:n1",
                "--org",
                "system:nodes",
                "--dns",
                "n1",
                "--client",
                "--signer",
                "kubernetes.io/kube-apiserver-client-kubelet",
            ][..],
            "may not carry DNS",
        ),
    ] {
        let out = issue(extra);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{extra:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(reason),
            "{extra:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!dir.join("refused.key").exists(), "a refusal writes no key");
    // A node's client certificate under the kubelet signer's rules is fine.
    let out = issue(&[
        "--cn",
        "system:node:n1",
        "--org",
        "system:nodes",
        "--client",
        "--signer",
        "kubernetes.io/kube-apiserver-client-kubelet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Neither --server nor --client: a usage error.
    assert_eq!(issue(&["--cn", "x"]).status.code(), Some(2));
}

#[test]
fn sign_csr_accepts_openssl_requests_and_refuses_tampered_ones() {
    let dir = scratch_dir("cli-certs-csr");
    let ca = init_ca(&dir);
    rampart_testing::openssl_request(
        &dir,
        "bob",
        &[
            "-subj",
            "/O=dev/CN=bob",
            "-addext",
            "subjectAltName=DNS:bob.example.test",
        ],
    );
    let signed = certs(&[
        "sign-csr",
        "--ca",
        path(&ca),
        "--csr",
        path(&dir.join("bob.csr")),
        "--client",
        "--ttl",
        "1h",
        "--out",
        path(&dir.join("bob.crt")),
    ]);
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed.stderr));
    assert!(openssl_verify(
        &ca.join("ca.crt"),
        "sslclient",
        &dir.join("bob.crt")
    ));
    // The certificate certifies the CSR's key: openssl agrees the pair matches.
    let key_pub = Command::new("openssl")
        .args(["pkey", "-pubout", "-in", path(&dir.join("bob.key"))])
        .output()
        .unwrap()
        .stdout;
    let cert_pub = Command::new("openssl")
        .args([
            "x509",
            "-pubkey",
            "-noout",
            "-in",
            path(&dir.join("bob.crt")),
        ])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(key_pub, cert_pub);
    let shown = text(&certs(&["inspect", path(&dir.join("bob.csr"))]).stdout);
    assert!(
        shown.contains("certificate request") && shown.contains("bob.example.test"),
        "{shown}"
    );

    // Change the CN inside the DER: the signature no longer matches.
    let der = Command::new("openssl")
        .args(["req", "-in", path(&dir.join("bob.csr")), "-outform", "DER"])
        .output()
        .unwrap()
        .stdout;
    let mut tampered = der.clone();
    let at = tampered.windows(3).position(|w| w == b"bob").unwrap();
    tampered[at] = b'r';
    std::fs::write(dir.join("tampered.csr"), &tampered).unwrap();
    let refused = certs(&[
        "sign-csr",
        "--ca",
        path(&ca),
        "--csr",
        path(&dir.join("tampered.csr")),
        "--client",
        "--out",
        path(&dir.join("t.crt")),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("not signed by the key"));
    assert!(!dir.join("t.crt").exists());
}

#[test]
fn ssh_sign_writes_a_certificate_ssh_keygen_reads() {
    let dir = scratch_dir("cli-certs-ssh");
    for name in ["ca", "id_ed25519"] {
        let out = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                name,
                "-f",
                path(&dir.join(name)),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let signed = certs(&[
        "ssh-sign",
        "--ca-key",
        path(&dir.join("ca")),
        "--principal",
        "alice",
        "--principal",
        "ops",
        "--ttl",
        "8h",
        "--force-command",
        "uptime",
        path(&dir.join("id_ed25519.pub")),
    ]);
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed.stderr));
    let cert = dir.join("id_ed25519-cert.pub");
    assert_eq!(text(&signed.stdout).trim(), path(&cert));
    let listed = Command::new("ssh-keygen")
        .args(["-L", "-f", path(&cert)])
        .output()
        .unwrap();
    let listed = text(&listed.stdout);
    for expected in ["alice", "ops", "force-command uptime", "permit-pty"] {
        assert!(listed.contains(expected), "{listed}");
    }
    // No principal: refused by the argument parser before anything is signed.
    let none = certs(&[
        "ssh-sign",
        "--ca-key",
        path(&dir.join("ca")),
        "--ttl",
        "1h",
        path(&dir.join("id_ed25519.pub")),
    ]);
    assert_eq!(none.status.code(), Some(2));
    let long = certs(&[
        "ssh-sign",
        "--ca-key",
        path(&dir.join("ca")),
        "--principal",
        "alice",
        "--ttl",
        "2d",
        path(&dir.join("id_ed25519.pub")),
    ]);
    assert_eq!(long.status.code(), Some(1), "{}", text(&long.stderr));
}

/// A one-request HTTPS server behind rampart's mutual-TLS configuration: it answers with
/// the Kubernetes user the client certificate maps to.
fn https_once(
    ca: &Path,
    server_chain: &Path,
    server_key: &Path,
) -> (u16, std::thread::JoinHandle<Result<String, String>>) {
    let roots =
        rampart_certs::certificates_from_pem(&std::fs::read(ca.join("ca.crt")).unwrap()).unwrap();
    let chain =
        rampart_certs::certificates_from_pem(&std::fs::read(server_chain).unwrap()).unwrap();
    let key = rampart_certs::PrivateKey::read_pem_file(server_key).unwrap();
    let slot = rampart_certs::CertSlot::new(rampart_certs::certified_key(chain, &key).unwrap());
    let config = Arc::new(
        rampart_certs::mtls_server_config(&roots, slot, rampart_core::SystemClock::shared())
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        let connection = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            tls.read_exact(&mut byte).map_err(|e| e.to_string())?;
            request.push(byte[0]);
        }
        let user = rampart_certs::verified_user(tls.conn.peer_certificates()).ok_or("no user")?;
        let body = format!("hello {} {:?}", user.username, user.groups);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(response.as_bytes())
            .map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        let _ = tls.flush();
        Ok(body)
    });
    (port, handle)
}

#[test]
fn curl_with_a_cli_issued_client_certificate_reaches_a_rustls_mtls_server() {
    let dir = scratch_dir("cli-certs-curl");
    let ca = init_ca(&dir);
    for args in [
        &[
            "--cn",
            "localhost",
            "--dns",
            "localhost",
            "--server",
            "--out",
            path(&dir.join("server")),
        ][..],
        &[
            "--cn",
            "alice",
            "--org",
            "dev",
            "--org",
            "ops",
            "--client",
            "--out",
            path(&dir.join("alice")),
        ][..],
    ] {
        let out = certs(&[&["issue", "--ca", path(&ca)][..], args].concat());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let (port, server) = https_once(&ca, &dir.join("server.crt"), &dir.join("server.key"));
    let curl = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--cacert",
            path(&ca.join("ca.crt")),
            "--cert",
            path(&dir.join("alice.crt")),
            "--key",
            path(&dir.join("alice.key")),
        ])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap();
    assert!(curl.status.success(), "{}", text(&curl.stderr));
    assert_eq!(text(&curl.stdout), r#"hello alice ["dev", "ops"]"#);
    assert_eq!(
        server.join().unwrap().unwrap(),
        r#"hello alice ["dev", "ops"]"#
    );

    // Without a client certificate the handshake fails and the server learns no user.
    let (port, server) = https_once(&ca, &dir.join("server.crt"), &dir.join("server.key"));
    let curl = Command::new("curl")
        .args(["--silent", "--cacert", path(&ca.join("ca.crt"))])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap();
    assert!(!curl.status.success());
    assert!(server.join().unwrap().is_err());
}

#[test]
fn issuing_with_an_audit_dir_records_each_certificate() {
    let dir = scratch_dir("cli-certs-audit");
    let trail = dir.join("trail");
    let ca = dir.join("ca");
    let audit = ["--audit-dir", path(&trail)];
    let out = certs(&[&["init-ca", "--out", path(&ca)][..], &audit].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = certs(
        &[
            &[
                "issue",
                "--ca",
                path(&ca),
                "--cn",
                "alice",
                "--client",
                "--out",
                path(&dir.join("alice")),
            ][..],
            &audit,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let serial = serde_json::from_str::<Value>(text(&out.stdout).trim()).unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let events: Vec<Value> = common::verified_audit_events(&trail)
        .into_iter()
        .filter(|event| event["action"] == "cert.issued")
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["target"]["kind"], "certificate authority");
    assert_eq!(events[1]["target"]["name"], "alice");
    assert_eq!(events[1]["details"]["serial"], serial.as_str());
    assert!(
        events[1]["actor"]["username"]
            .as_str()
            .unwrap()
            .starts_with("unix-uid:")
    );
}
