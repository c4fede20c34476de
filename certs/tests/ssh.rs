//! OpenSSH certificates against OpenSSH itself: `ssh-keygen -L` reads what was issued,
//! `ssh-keygen -Y verify` with a `cert-authority` line accepts a signature made with the
//! certificate for a listed principal only and only while it is valid, and the policy
//! refuses what OpenSSH would read too generously.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rampart_certs::{CertError, SshCa, SshCertKind, SshCertRequest, SshPolicy, certificate_path};
use rampart_core::{Clock, ManualClock};

const HOUR: Duration = Duration::from_secs(3600);

fn keygen(dir: &Path, name: &str, kind: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name])
        .args(kind)
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn user_request(dir: &Path, principals: &[&str]) -> SshCertRequest {
    let key = keygen(dir, "user", &["-t", "ed25519"]);
    SshCertRequest {
        public_key: std::fs::read_to_string(key.with_extension("pub")).unwrap(),
        principals: principals.iter().map(|p| (*p).to_owned()).collect(),
        key_id: "alice@rampart".into(),
        kind: SshCertKind::User,
        ttl: HOUR,
        force_command: Some("echo hello".into()),
        source_addresses: vec!["127.0.0.1/32".into(), "::1".into()],
        extensions: vec!["permit-pty".into()],
    }
}

/// Signs `data` with the user's certificate and verifies it as OpenSSH does for
/// `principal`; true when OpenSSH accepts.
fn openssh_accepts(dir: &Path, ca_public: &str, principal: &str) -> bool {
    std::fs::write(
        dir.join("allowed"),
        format!("{principal} cert-authority {ca_public}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("data"), b"payload").unwrap();
    let _ = std::fs::remove_file(dir.join("data.sig"));
    let signed = run(Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(dir.join("user-cert.pub"))
        .arg(dir.join("data")));
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let data = std::fs::File::open(dir.join("data")).unwrap();
    let verified = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "file", "-I", principal, "-f"])
        .arg(dir.join("allowed"))
        .arg("-s")
        .arg(dir.join("data.sig"))
        .stdin(Stdio::from(data))
        .output()
        .unwrap();
    verified.status.success()
}

#[test]
fn user_certificates_read_and_verify_with_openssh() {
    for kind in [
        &["-t", "ed25519"][..],
        &["-t", "ecdsa", "-b", "256"][..],
        &["-t", "ecdsa", "-b", "384"][..],
    ] {
        let dir = scratch_dir(&format!("ssh-user-{}", kind.len()));
        let ca_key = keygen(&dir, "ca", kind);
        let ca = SshCa::read_file(&ca_key, rampart_core::SystemClock::shared()).unwrap();
        let request = user_request(&dir, &["alice", "deploy"]);
        let certificate = ca.sign(&request, &SshPolicy::default()).unwrap();
        let path = certificate_path(&dir.join("user.pub"));
        assert_eq!(path, dir.join("user-cert.pub"));
        std::fs::write(&path, &certificate).unwrap();

        let listed = run(Command::new("ssh-keygen").arg("-L").arg("-f").arg(&path));
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let text = String::from_utf8_lossy(&listed.stdout);
        for expected in [
            "user certificate",
            "Key ID: \"alice@rampart\"",
            "alice",
            "deploy",
            "force-command echo hello",
            "source-address 127.0.0.1/32,::1",
            "permit-pty",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        assert!(
            !text.contains("permit-port-forwarding"),
            "only what was asked for:\n{text}"
        );

        let ca_public = ca.public_key().unwrap();
        assert!(openssh_accepts(&dir, &ca_public, "alice"), "{kind:?}");
        assert!(openssh_accepts(&dir, &ca_public, "deploy"));
        assert!(
            !openssh_accepts(&dir, &ca_public, "root"),
            "a principal not in the certificate"
        );
        // Another CA's key in the allowed-signers line: refused.
        let other = keygen(&dir, "other-ca", &["-t", "ed25519"]);
        let other_public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
        assert!(!openssh_accepts(&dir, other_public.trim(), "alice"));
    }
}

#[test]
fn an_expired_certificate_is_refused_by_openssh() {
    let dir = scratch_dir("ssh-expired");
    let ca_key = keygen(&dir, "ca", &["-t", "ed25519"]);
    let past = ManualClock::new(rampart_core::SystemClock::shared().now() - 3 * HOUR);
    let ca = SshCa::read_file(&ca_key, Arc::new(past)).unwrap();
    let certificate = ca
        .sign(&user_request(&dir, &["alice"]), &SshPolicy::default())
        .unwrap();
    std::fs::write(dir.join("user-cert.pub"), certificate).unwrap();
    assert!(!openssh_accepts(&dir, &ca.public_key().unwrap(), "alice"));
}

#[test]
fn host_certificates_are_read_as_host_certificates() {
    let dir = scratch_dir("ssh-host");
    let ca = SshCa::read_file(
        &keygen(&dir, "ca", &["-t", "ed25519"]),
        rampart_core::SystemClock::shared(),
    )
    .unwrap();
    let host = keygen(&dir, "host", &["-t", "ed25519"]);
    let request = SshCertRequest {
        public_key: std::fs::read_to_string(host.with_extension("pub")).unwrap(),
        principals: vec!["node-1.example.test".into()],
        key_id: "node-1".into(),
        kind: SshCertKind::Host,
        ttl: HOUR,
        force_command: None,
        source_addresses: Vec::new(),
        extensions: Vec::new(),
    };
    let certificate = ca.sign(&request, &SshPolicy::default()).unwrap();
    std::fs::write(dir.join("host-cert.pub"), certificate).unwrap();
    let listed = run(Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(dir.join("host-cert.pub")));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("host certificate") && text.contains("node-1.example.test"),
        "{text}"
    );
}

#[test]
fn the_ssh_policy_refuses_what_openssh_would_read_too_generously() {
    let dir = scratch_dir("ssh-policy");
    let ca = SshCa::read_file(
        &keygen(&dir, "ca", &["-t", "ed25519"]),
        rampart_core::SystemClock::shared(),
    )
    .unwrap();
    let base = user_request(&dir, &["alice"]);
    let refused = |change: &dyn Fn(&mut SshCertRequest), needle: &str| {
        let mut request = base.clone();
        change(&mut request);
        match ca.sign(&request, &SshPolicy::default()) {
            Err(CertError::Refused(why)) => assert!(why.contains(needle), "{why}"),
            other => panic!("expected a refusal containing `{needle}`, got {other:?}"),
        }
    };
    refused(&|r| r.principals.clear(), "every principal");
    refused(&|r| r.principals = vec!["alice,root".into()], "commas");
    refused(&|r| r.principals = vec!["alice root".into()], "spaces");
    refused(&|r| r.ttl = 17 * HOUR, "lifetime");
    refused(
        &|r| r.extensions = vec!["permit-everything".into()],
        "permit-everything",
    );
    refused(
        &|r| r.force_command = Some("ls\nrm -rf /".into()),
        "one non-empty line",
    );
    refused(
        &|r| r.source_addresses = vec!["10.0.0.0/33".into()],
        "10.0.0.0/33",
    );
    refused(
        &|r| r.source_addresses = vec!["everywhere".into()],
        "everywhere",
    );
    refused(
        &|r| {
            r.kind = SshCertKind::Host;
        },
        "host certificates carry no",
    );
    let narrow = SshPolicy::default()
        .allowed_extensions(["permit-pty"])
        .max_ttl(HOUR);
    let mut agent = base.clone();
    agent.extensions.push("permit-agent-forwarding".into());
    assert!(matches!(
        narrow.evaluate(&agent),
        Err(CertError::Refused(_))
    ));
    assert!(narrow.evaluate(&base).is_ok());
    // A malformed public key is an input error, not a refusal.
    let mut garbage = base.clone();
    garbage.public_key = "ssh-ed25519 AAAAnotbase64".into();
    assert!(matches!(
        ca.sign(&garbage, &SshPolicy::default()),
        Err(CertError::Ssh {
            what: "public key",
            ..
        })
    ));
}

/// A host certificate for `*` would vouch for the key on every host (OpenSSH matches host
/// principals as patterns), and a 1024-bit RSA or a DSA key is weaker than anything the
/// X.509 side certifies: both are refused.
#[test]
fn wildcard_principals_and_weak_keys_are_refused() {
    let dir = scratch_dir("ssh-weak");
    let ca = SshCa::read_file(
        &keygen(&dir, "ca", &["-t", "ed25519"]),
        rampart_core::SystemClock::shared(),
    )
    .unwrap();
    let host_request = |key: &Path, principal: &str| SshCertRequest {
        public_key: std::fs::read_to_string(key.with_extension("pub")).unwrap(),
        principals: vec![principal.to_owned()],
        key_id: "host".into(),
        kind: SshCertKind::Host,
        ttl: HOUR,
        force_command: None,
        source_addresses: Vec::new(),
        extensions: Vec::new(),
    };
    let host = keygen(&dir, "host", &["-t", "ed25519"]);
    for principal in ["*", "*.example.test", "node-?", "!node-1"] {
        match ca.sign(&host_request(&host, principal), &SshPolicy::default()) {
            Err(CertError::Refused(why)) => assert!(why.contains("wildcard"), "{why}"),
            other => panic!("{principal}: {other:?}"),
        }
    }
    let weak = keygen(&dir, "weak", &["-t", "rsa", "-b", "1024"]);
    match ca.sign(
        &host_request(&weak, "node-1.example.test"),
        &SshPolicy::default(),
    ) {
        Err(CertError::Refused(why)) => assert!(why.contains("1024 bits"), "{why}"),
        other => panic!("RSA-1024: {other:?}"),
    }
    let strong = keygen(&dir, "strong", &["-t", "rsa", "-b", "2048"]);
    assert!(
        ca.sign(
            &host_request(&strong, "node-1.example.test"),
            &SshPolicy::default()
        )
        .is_ok()
    );
}

/// An RSA "key" with exponent 1 (the identity: no encryption) or an even exponent is not
/// certified, whatever its modulus.
#[test]
fn rsa_keys_with_a_degenerate_exponent_are_refused() {
    use base64::Engine as _;
    let dir = scratch_dir("ssh-exponent");
    let ca = SshCa::read_file(
        &keygen(&dir, "ca", &["-t", "ed25519"]),
        rampart_core::SystemClock::shared(),
    )
    .unwrap();
    let field = |bytes: &[u8]| {
        let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    };
    // A 2048-bit modulus (leading zero byte: an mpint is signed).
    let mut modulus = vec![0u8, 0xc3];
    modulus.extend(std::iter::repeat_n(0x5a, 255));
    for exponent in [vec![1u8], vec![2u8], vec![0x01, 0x00, 0x00]] {
        let blob = [field(b"ssh-rsa"), field(&exponent), field(&modulus)].concat();
        let public_key = format!(
            "ssh-rsa {} weak",
            base64::engine::general_purpose::STANDARD.encode(blob)
        );
        let request = SshCertRequest {
            public_key,
            principals: vec!["node-1.example.test".into()],
            key_id: "weak".into(),
            kind: SshCertKind::Host,
            ttl: HOUR,
            force_command: None,
            source_addresses: Vec::new(),
            extensions: Vec::new(),
        };
        match ca.sign(&request, &SshPolicy::default()) {
            Err(CertError::Refused(why)) => assert!(why.contains("exponent"), "{why}"),
            other => panic!("exponent {exponent:?}: {other:?}"),
        }
    }
}

/// An audited SSH CA records what each certificate grants (principals, options), and a
/// request its policy refuses.
#[test]
fn an_audited_ssh_ca_records_principals_and_refusals() {
    let dir = scratch_dir("ssh-audited");
    let ca_key = keygen(&dir, "ca", &["-t", "ed25519"]);
    let sink = Arc::new(rampart_core::MemorySink::new());
    let ca = SshCa::read_file(&ca_key, rampart_core::SystemClock::shared())
        .unwrap()
        .audit_to(rampart_certs::CertAudit::new(
            sink.clone(),
            rampart_core::SystemClock::shared(),
            rampart_core::UserInfo::new("ssh-admin"),
        ));
    let mut request = user_request(&dir, &["alice", "deploy"]);
    ca.sign(&request, &SshPolicy::default()).unwrap();
    let issued = sink.events().pop().unwrap();
    assert_eq!(
        issued.details["principals"],
        serde_json::json!(["alice", "deploy"])
    );
    assert_eq!(issued.details["force_command"], "echo hello");
    assert_eq!(issued.actor.username, "ssh-admin");
    request.principals.clear();
    assert!(ca.sign(&request, &SshPolicy::default()).is_err());
    let refused = sink.events().pop().unwrap();
    assert_eq!(refused.outcome, rampart_core::Outcome::Failure);
}
