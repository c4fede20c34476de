//! Issued chains against real verifiers: `openssl verify` (with `-purpose`) and
//! rustls/webpki; CSRs made by `openssl req` accepted and tampered ones refused; the
//! signing policy's refusals; a mutual-TLS handshake over loopback that succeeds with
//! issued certificates and fails with expired, wrong-CA and wrong-usage ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rampart_certs::{
    AltNames, Candidate, CertError, CertSlot, CertificateAuthority, CertificateSubject,
    KeyAlgorithm, KubernetesSigner, LeafRequest, PermittedNames, SigningPolicy, Usage,
    certificates_to_pem, certified_key, mtls_client_config, mtls_server_config, verified_user,
    verify_csr,
};
use rampart_core::{Clock, ManualClock};
use rustls::pki_types::{CertificateDer, ServerName};

const HOUR: Duration = Duration::from_secs(3600);

fn clock() -> Arc<dyn Clock> {
    rampart_core::SystemClock::shared()
}

fn root(algorithm: KeyAlgorithm) -> CertificateAuthority {
    CertificateAuthority::create_root(
        &CertificateSubject::new("test root"),
        24 * HOUR,
        algorithm,
        clock(),
    )
    .unwrap()
}

fn server_request(dns: &str) -> LeafRequest {
    LeafRequest {
        subject: CertificateSubject::new(dns),
        alt_names: AltNames {
            dns: vec![dns.to_owned()],
            ips: vec![IpAddr::from([127, 0, 0, 1])],
            ..AltNames::default()
        },
        usage: Usage::Server,
        ttl: HOUR,
    }
}

fn client_request(user: &str, groups: &[&str]) -> LeafRequest {
    LeafRequest {
        subject: CertificateSubject::new(user).with_organizations(groups.iter().copied()),
        alt_names: AltNames::default(),
        usage: Usage::Client,
        ttl: HOUR,
    }
}

fn write_pem(path: &Path, chain: &[CertificateDer<'_>]) -> PathBuf {
    std::fs::write(path, certificates_to_pem(chain)).unwrap();
    path.to_path_buf()
}

/// `openssl verify -CAfile ROOT [-untrusted CHAIN] -purpose PURPOSE LEAF`: (ok, output).
fn openssl_verify(
    root: &Path,
    untrusted: Option<&Path>,
    purpose: &str,
    leaf: &Path,
) -> (bool, String) {
    let mut command = Command::new("openssl");
    command.args(["verify", "-CAfile"]).arg(root);
    if let Some(untrusted) = untrusted {
        command.arg("-untrusted").arg(untrusted);
    }
    let out = command
        .args(["-purpose", purpose])
        .arg(leaf)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_key_type_issues_chains_openssl_verifies_for_the_right_purpose_only() {
    let dir = scratch_dir("certs-openssl");
    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        let ca = root(algorithm);
        let root_pem = write_pem(&dir.join("root.pem"), std::slice::from_ref(ca.root()));
        let (server, _) = ca
            .issue_with_new_key(&server_request("api.example.test"), algorithm)
            .unwrap();
        let (client, _) = ca
            .issue_with_new_key(&client_request("alice", &["dev"]), algorithm)
            .unwrap();
        let server_pem = write_pem(&dir.join("server.pem"), std::slice::from_ref(&server.leaf));
        let client_pem = write_pem(&dir.join("client.pem"), std::slice::from_ref(&client.leaf));
        for (leaf, purpose, expected) in [
            (&server_pem, "sslserver", true),
            (&server_pem, "sslclient", false),
            (&client_pem, "sslclient", true),
            (&client_pem, "sslserver", false),
        ] {
            let (ok, output) = openssl_verify(&root_pem, None, purpose, leaf);
            assert_eq!(
                ok,
                expected,
                "{algorithm} {purpose} {}: {output}",
                leaf.display()
            );
        }
        // The chain as issued is leaf, then the root.
        assert_eq!(server.chain(), vec![server.leaf.clone(), ca.root().clone()]);
    }
}

#[test]
fn an_intermediate_with_name_constraints_is_enforced_by_openssl() {
    let dir = scratch_dir("certs-intermediate");
    let ca = root(KeyAlgorithm::EcdsaP256);
    let permitted = PermittedNames {
        dns: vec!["example.test".into()],
        ip_ranges: vec![(IpAddr::from([127, 0, 0, 0]), 8)],
    };
    let intermediate = ca
        .create_intermediate(
            &CertificateSubject::new("test intermediate"),
            12 * HOUR,
            KeyAlgorithm::EcdsaP384,
            Some(&permitted),
        )
        .unwrap();
    let root_pem = write_pem(&dir.join("root.pem"), std::slice::from_ref(ca.root()));
    let chain_pem = write_pem(
        &dir.join("chain.pem"),
        std::slice::from_ref(intermediate.certificate()),
    );
    let (inside, _) = intermediate
        .issue_with_new_key(&server_request("api.example.test"), KeyAlgorithm::Ed25519)
        .unwrap();
    let inside_pem = write_pem(&dir.join("inside.pem"), std::slice::from_ref(&inside.leaf));
    let (ok, output) = openssl_verify(&root_pem, Some(&chain_pem), "sslserver", &inside_pem);
    assert!(ok, "{output}");
    let (outside, _) = intermediate
        .issue_with_new_key(&server_request("api.other.test"), KeyAlgorithm::Ed25519)
        .unwrap();
    let outside_pem = write_pem(
        &dir.join("outside.pem"),
        std::slice::from_ref(&outside.leaf),
    );
    let (ok, output) = openssl_verify(&root_pem, Some(&chain_pem), "sslserver", &outside_pem);
    assert!(!ok && output.contains("subtree"), "{output}");
    // The intermediate's leaves carry the whole chain, root last.
    assert_eq!(inside.chain().len(), 3);
    // And webpki agrees with both verdicts.
    let verifier = server_verifier(&ca);
    let now = rustls::pki_types::UnixTime::now();
    let name = ServerName::try_from("api.example.test").unwrap();
    verifier
        .verify_server_cert(
            &inside.leaf,
            std::slice::from_ref(intermediate.certificate()),
            &name,
            &[],
            now,
        )
        .unwrap();
    let other = ServerName::try_from("api.other.test").unwrap();
    assert!(
        verifier
            .verify_server_cert(
                &outside.leaf,
                std::slice::from_ref(intermediate.certificate()),
                &other,
                &[],
                now
            )
            .is_err()
    );
}

fn server_verifier(
    ca: &CertificateAuthority,
) -> Arc<dyn rustls::client::danger::ServerCertVerifier> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.root().clone()).unwrap();
    rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        rampart_certs::provider(),
    )
    .build()
    .unwrap()
}

#[test]
fn a_saved_ca_loads_and_a_mismatched_key_or_leaf_is_not_a_ca() {
    let dir = scratch_dir("certs-load");
    let ca = root(KeyAlgorithm::EcdsaP256);
    ca.save(&dir.join("ca")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("ca/ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = CertificateAuthority::load(&dir.join("ca"), clock()).unwrap();
    assert_eq!(loaded.certificate(), ca.certificate());
    let (issued, _) = loaded
        .issue_with_new_key(&client_request("bob", &[]), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let root_pem = write_pem(&dir.join("root.pem"), std::slice::from_ref(ca.root()));
    let leaf = write_pem(&dir.join("leaf.pem"), std::slice::from_ref(&issued.leaf));
    assert!(openssl_verify(&root_pem, None, "sslclient", &leaf).0);

    // Another CA's key with this certificate.
    let other = root(KeyAlgorithm::EcdsaP256);
    other.save(&dir.join("other")).unwrap();
    let cert = std::fs::read_to_string(dir.join("ca/ca.crt")).unwrap();
    let wrong_key = std::fs::read_to_string(dir.join("other/ca.key")).unwrap();
    assert!(matches!(
        CertificateAuthority::from_pem(&cert, &wrong_key, clock()),
        Err(CertError::UnusableCa(_))
    ));
    // A leaf and its key are not a CA.
    let (leaf, leaf_key) = ca
        .issue_with_new_key(&client_request("carol", &[]), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let leaf_pem = certificates_to_pem(std::slice::from_ref(&leaf.leaf));
    assert!(matches!(
        CertificateAuthority::from_pem(&leaf_pem, &leaf_key.to_pem(), clock()),
        Err(CertError::UnusableCa(why)) if why.contains("not a CA")
    ));
}

#[test]
fn an_openssl_ca_key_and_certificate_load_and_sign() {
    let dir = scratch_dir("certs-openssl-ca");
    let run = |args: &[&str]| rampart_testing::openssl(&dir, args);
    // An existing RSA CA, made by openssl: imported, then used to sign.
    rampart_testing::openssl_rsa_key(&dir, "ca");
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=openssl root",
        "-days",
        "2",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    let ca = CertificateAuthority::load(&dir, clock()).unwrap();
    let (issued, _) = ca
        .issue_with_new_key(&server_request("rsa.example.test"), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let leaf = write_pem(&dir.join("leaf.pem"), std::slice::from_ref(&issued.leaf));
    let (ok, output) = openssl_verify(&dir.join("ca.crt"), None, "sslserver", &leaf);
    assert!(ok, "{output}");
}

/// A CSR made by `openssl req` with the given key options.
fn openssl_csr(
    dir: &Path,
    name: &str,
    key_args: &[&str],
    subject: &str,
    san: Option<&str>,
    digest: &str,
) -> Vec<u8> {
    let csr = dir.join(format!("{name}.csr"));
    let mut command = Command::new("openssl");
    command
        .args(["req", "-new", "-nodes"])
        .args(key_args)
        .args(["-keyout"])
        .arg(dir.join(format!("{name}.key")));
    command
        .args(["-subj", subject])
        .arg(digest)
        .arg("-out")
        .arg(&csr);
    if let Some(san) = san {
        command.args(["-addext", &format!("subjectAltName={san}")]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(csr).unwrap()
}

#[test]
fn csrs_from_openssl_verify_and_tampered_ones_do_not() {
    let dir = scratch_dir("certs-csr");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let pem = openssl_csr(
        &dir,
        "ec",
        &ec,
        "/O=dev/O=ops/CN=bob",
        Some("DNS:bob.example.test,IP:10.0.0.1"),
        "-sha256",
    );
    let csr = verify_csr(&pem).unwrap();
    assert_eq!(csr.subject.common_name, "bob");
    assert_eq!(csr.subject.organizations, ["dev", "ops"]);
    assert_eq!(csr.alt_names.dns, ["bob.example.test"]);
    assert_eq!(csr.alt_names.ips, [IpAddr::from([10, 0, 0, 1])]);
    assert_eq!(csr.key_algorithm, KeyAlgorithm::EcdsaP256);

    for (name, key, digest, expected) in [
        (
            "p384",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
            "-sha384",
            KeyAlgorithm::EcdsaP384,
        ),
        (
            "ed25519",
            &["-newkey", "ed25519"][..],
            "-sha256",
            KeyAlgorithm::Ed25519,
        ),
        (
            "rsa",
            &["-newkey", "rsa:2048"][..],
            "-sha256",
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
    ] {
        // openssl refuses a digest option for Ed25519.
        let digest = if name == "ed25519" { "-batch" } else { digest };
        let pem = openssl_csr(&dir, name, key, "/CN=carol", None, digest);
        assert_eq!(verify_csr(&pem).unwrap().key_algorithm, expected, "{name}");
    }
    let sha1 = openssl_csr(&dir, "sha1", &ec, "/CN=dave", None, "-sha1");
    assert!(
        matches!(verify_csr(&sha1), Err(CertError::Invalid(why)) if why.contains("unsupported"))
    );
    let small = openssl_csr(
        &dir,
        "rsa1024",
        &["-newkey", "rsa:1024"],
        "/CN=erin",
        None,
        "-sha256",
    );
    assert!(matches!(verify_csr(&small), Err(CertError::Invalid(why)) if why.contains("1024")));

    // Tampering: one byte of the subject, one of the signature; truncation; garbage.
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|csr: rustls::pki_types::CertificateSigningRequestDer<'_>| csr.as_ref().to_vec())
        .unwrap();
    let position = der.windows(3).position(|w| w == b"bob").unwrap();
    let mut renamed = der.clone();
    renamed[position] = b'r';
    assert!(matches!(
        verify_csr(&renamed),
        Err(CertError::BadSignature(_))
    ));
    let mut bad_signature = der.clone();
    let last = bad_signature.len() - 2;
    bad_signature[last] ^= 0x01;
    assert!(verify_csr(&bad_signature).is_err());
    assert!(matches!(
        verify_csr(&der[..der.len() - 10]),
        Err(CertError::Invalid(_))
    ));
    assert!(matches!(
        verify_csr(b"not a csr"),
        Err(CertError::Invalid(_))
    ));
    assert!(
        matches!(verify_csr(&vec![b'A'; 70_000]), Err(CertError::Invalid(why)) if why.contains("larger"))
    );
    // The untampered DER still verifies (the tampering tests were not vacuous).
    assert!(verify_csr(&der).is_ok());
}

fn candidate(
    subject: CertificateSubject,
    alt_names: AltNames,
    usage: Usage,
    ttl: Duration,
) -> Candidate {
    Candidate {
        subject,
        alt_names,
        key_algorithm: KeyAlgorithm::EcdsaP256,
        usage,
        ttl,
    }
}

fn refusal(policy: &SigningPolicy, candidate: &Candidate) -> String {
    match policy.evaluate(candidate) {
        Err(CertError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_signing_policy_refuses_with_the_rule_it_applies() {
    let policy = SigningPolicy::default();
    let user = |cn: &str, groups: &[&str]| {
        CertificateSubject::new(cn).with_organizations(groups.iter().copied())
    };
    let dns = |names: &[&str]| AltNames {
        dns: names.iter().map(|n| (*n).to_owned()).collect(),
        ..AltNames::default()
    };
    let ok = candidate(
        user("alice", &["dev"]),
        AltNames::default(),
        Usage::Client,
        HOUR,
    );
    assert_eq!(policy.evaluate(&ok).unwrap().subject, ok.subject);

    let long = candidate(
        user("alice", &[]),
        AltNames::default(),
        Usage::Client,
        Duration::from_secs(31 * 86_400),
    );
    assert!(refusal(&policy, &long).contains("exceeds the maximum 30d"));
    assert!(
        refusal(
            &policy,
            &candidate(
                user("alice", &["system:masters"]),
                AltNames::default(),
                Usage::Client,
                HOUR
            )
        )
        .contains("system:masters")
    );
    assert!(
        refusal(
            &policy,
            &candidate(
                user("system:admin", &[]),
                AltNames::default(),
                Usage::Client,
                HOUR
            )
        )
        .contains("system identity")
    );
    assert!(
        refusal(
            &policy,
            &candidate(
                user("web", &[]),
                dns(&["*.example.test"]),
                Usage::Server,
                HOUR
            )
        )
        .contains("wildcard")
    );
    assert!(
        refusal(
            &policy,
            &candidate(
                user("web", &[]),
                dns(&["bad_name.test"]),
                Usage::Server,
                HOUR
            )
        )
        .contains("not a valid host name")
    );
    let uri = AltNames {
        uris: vec!["spiffe://x/y".into()],
        ..AltNames::default()
    };
    assert!(
        refusal(
            &policy,
            &candidate(user("web", &[]), uri, Usage::Server, HOUR)
        )
        .contains("URI")
    );
    let scoped = SigningPolicy::default().dns_suffixes(["cluster.local"]);
    assert!(
        scoped
            .evaluate(&candidate(
                user("web", &[]),
                dns(&["api.ns.svc.cluster.local"]),
                Usage::Server,
                HOUR
            ))
            .is_ok()
    );
    assert!(
        refusal(
            &scoped,
            &candidate(
                user("web", &[]),
                dns(&["cluster.local.evil.test"]),
                Usage::Server,
                HOUR
            )
        )
        .contains("outside")
    );
    let mut weak = ok.clone();
    weak.key_algorithm = KeyAlgorithm::Rsa { bits: 2048 };
    assert!(
        refusal(&SigningPolicy::default().min_rsa_bits(3072), &weak)
            .contains("below the minimum of 3072")
    );

    // Kubernetes' kubelet signers.
    let node = user("system:node:worker-1", &["system:nodes"]);
    let kubelet_client =
        SigningPolicy::default().kubernetes_signer(KubernetesSigner::ApiserverClientKubelet);
    assert!(
        kubelet_client
            .evaluate(&candidate(
                node.clone(),
                AltNames::default(),
                Usage::Client,
                HOUR
            ))
            .is_ok()
    );
    assert!(
        refusal(
            &kubelet_client,
            &candidate(node.clone(), dns(&["worker-1"]), Usage::Client, HOUR)
        )
        .contains("may not carry DNS")
    );
    assert!(
        refusal(
            &kubelet_client,
            &candidate(
                user("system:node:worker-1", &["system:nodes", "x"]),
                AltNames::default(),
                Usage::Client,
                HOUR
            )
        )
        .contains("exactly one organization")
    );
    assert!(
        refusal(
            &kubelet_client,
            &candidate(
                user("system:node:", &["system:nodes"]),
                AltNames::default(),
                Usage::Client,
                HOUR
            )
        )
        .contains("system:node:NAME")
    );
    let serving = SigningPolicy::default().kubernetes_signer(KubernetesSigner::KubeletServing);
    assert!(
        serving
            .evaluate(&candidate(
                node.clone(),
                dns(&["worker-1"]),
                Usage::Server,
                HOUR
            ))
            .is_ok()
    );
    assert!(
        refusal(
            &serving,
            &candidate(node.clone(), AltNames::default(), Usage::Server, HOUR)
        )
        .contains("at least one DNS or IP")
    );
    assert!(
        refusal(
            &serving,
            &candidate(node, dns(&["worker-1"]), Usage::Client, HOUR)
        )
        .contains("server certificate")
    );
}

/// Runs one mTLS exchange over loopback: the server answers with the user its client
/// certificate maps to. Returns that answer, or the handshake error either side saw.
fn mtls_exchange(
    server_ca: &CertificateAuthority,
    server: &Arc<CertSlot>,
    client_ca: &CertificateAuthority,
    client: &Arc<CertSlot>,
) -> Result<String, String> {
    let server_config = Arc::new(
        mtls_server_config(
            std::slice::from_ref(client_ca.root()),
            Arc::clone(server),
            clock(),
        )
        .unwrap(),
    );
    let client_config = Arc::new(
        mtls_client_config(
            std::slice::from_ref(server_ca.root()),
            Arc::clone(client),
            clock(),
        )
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server_thread = std::thread::spawn(move || -> Result<(), String> {
        let (tcp, _) = listener.accept().unwrap();
        let connection = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = [0u8; 5];
        tls.read_exact(&mut request).map_err(|e| e.to_string())?;
        let user = verified_user(tls.conn.peer_certificates())
            .map(|u| format!("{} {:?}", u.username, u.groups));
        tls.write_all(user.unwrap_or_default().as_bytes())
            .map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        tls.flush().map_err(|e| e.to_string())
    });
    let tcp = TcpStream::connect(address).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(client_config, name).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let result = tls.write_all(b"hello").and_then(|()| {
        let mut answer = String::new();
        tls.read_to_string(&mut answer).map(|_| answer)
    });
    let server_result = server_thread.join().unwrap();
    match (result, server_result) {
        (Ok(answer), Ok(())) => Ok(answer),
        (client, server) => Err(format!("client: {client:?}; server: {server:?}")),
    }
}

fn slot(ca: &CertificateAuthority, request: &LeafRequest) -> Arc<CertSlot> {
    let (issued, key) = ca
        .issue_with_new_key(request, KeyAlgorithm::EcdsaP256)
        .unwrap();
    CertSlot::new(certified_key(issued.chain(), &key).unwrap())
}

#[test]
fn mutual_tls_accepts_issued_certificates_and_refuses_expired_foreign_and_misused_ones() {
    let ca = root(KeyAlgorithm::EcdsaP256);
    let mut server_request = server_request("localhost");
    server_request.subject = CertificateSubject::new("localhost");
    let server = slot(&ca, &server_request);
    let alice = slot(&ca, &client_request("alice", &["dev", "ops"]));
    assert_eq!(
        mtls_exchange(&ca, &server, &ca, &alice).unwrap(),
        r#"alice ["dev", "ops"]"#
    );

    // Expired: issued by the same CA key, dated two hours ago by a manual clock.
    let past = ManualClock::new(clock().now() - 3 * HOUR);
    let dir = scratch_dir("certs-mtls");
    ca.save(&dir).unwrap();
    let old_ca = CertificateAuthority::load(&dir, Arc::new(past)).unwrap();
    let expired = slot(&old_ca, &client_request("alice", &[]));
    let error = mtls_exchange(&ca, &server, &ca, &expired).unwrap_err();
    assert!(error.contains("Expired"), "{error}");

    // From another CA.
    let stranger_ca = root(KeyAlgorithm::EcdsaP256);
    let stranger = slot(&stranger_ca, &client_request("alice", &[]));
    let error = mtls_exchange(&ca, &server, &ca, &stranger).unwrap_err();
    assert!(
        error.contains("UnknownIssuer") || error.contains("BadSignature"),
        "{error}"
    );

    // A server certificate presented as a client certificate.
    let misused = slot(&ca, &server_request);
    let error = mtls_exchange(&ca, &server, &ca, &misused).unwrap_err();
    assert!(
        error.contains("extended key usage for client authentication"),
        "{error}"
    );
}

#[test]
fn a_client_certificate_without_any_extended_key_usage_is_refused() {
    // webpki alone would accept this certificate; RequireClientAuthUsage does not.
    let dir = scratch_dir("certs-no-eku");
    let ca = root(KeyAlgorithm::EcdsaP256);
    // rampart's CA saved as ca.crt/ca.key signs an openssl request without any EKU.
    ca.save(&dir).unwrap();
    rampart_testing::openssl_request(&dir, "c", &["-subj", "/CN=mallory"]);
    rampart_testing::openssl_sign(
        &dir,
        "c",
        "ca",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    );
    let chain =
        rampart_certs::certificates_from_pem(&std::fs::read(dir.join("c.crt")).unwrap()).unwrap();
    let key = rampart_certs::PrivateKey::read_pem_file(&dir.join("c.key")).unwrap();
    let no_eku = CertSlot::new(certified_key(chain.clone(), &key).unwrap());
    let server = slot(&ca, &{
        let mut request = server_request("localhost");
        request.subject = CertificateSubject::new("localhost");
        request
    });
    let error = mtls_exchange(&ca, &server, &ca, &no_eku).unwrap_err();
    assert!(error.contains("Purpose"), "{error}");
    // Plain webpki would have taken it: the refusal is ours.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.root().clone()).unwrap();
    let plain = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        rampart_certs::provider(),
    )
    .build()
    .unwrap();
    assert!(
        plain
            .verify_client_cert(&chain[0], &[], rustls::pki_types::UnixTime::now())
            .is_ok()
    );
}

/// A Kubernetes `uid` subject attribute in a CSR is decided by the signing policy like
/// the other identity fields: refused by default, never for the kubelet signers, bounded
/// and clean when allowed.
#[test]
fn a_uid_asked_for_in_a_csr_is_decided_by_the_policy() {
    let dir = scratch_dir("certs-csr-uid");
    // `-subj` skips attributes openssl has no name for; a config names the uid's OID.
    let config = dir.join("uid.cnf");
    std::fs::write(
        &config,
        "oid_section = oids\n[oids]\nk8suid = 1.3.6.1.4.1.57683.2\n[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = alice\nO = dev\nk8suid = uid-of-admin\n",
    )
    .unwrap();
    rampart_testing::openssl(
        &dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            "uid.key",
            "-config",
            "uid.cnf",
            "-out",
            "uid.csr",
        ],
    );
    let csr = dir.join("uid.csr");
    let pem = std::fs::read(&csr).unwrap();
    let verified = verify_csr(&pem).unwrap();
    assert_eq!(verified.subject.uid.as_deref(), Some("uid-of-admin"));
    let asked = candidate(
        verified.subject.clone(),
        AltNames::default(),
        Usage::Client,
        HOUR,
    );
    assert!(refusal(&SigningPolicy::default(), &asked).contains("uid"));
    let granted = SigningPolicy::default()
        .allow_uids(true)
        .evaluate(&asked)
        .unwrap();
    assert_eq!(granted.subject.uid.as_deref(), Some("uid-of-admin"));
    let node = candidate(
        CertificateSubject::new("system:node:n1")
            .with_organizations(["system:nodes"])
            .with_uid("x"),
        AltNames::default(),
        Usage::Client,
        HOUR,
    );
    let kubelet = SigningPolicy::default()
        .allow_uids(true)
        .kubernetes_signer(KubernetesSigner::ApiserverClientKubelet);
    assert!(refusal(&kubelet, &node).contains("uid"));
    let hostile = candidate(
        CertificateSubject::new("alice").with_uid("a\u{202e}b"),
        AltNames::default(),
        Usage::Client,
        HOUR,
    );
    assert!(refusal(&SigningPolicy::default().allow_uids(true), &hostile).contains("uid"));
    std::fs::remove_dir_all(&dir).unwrap();
}
