//! X.509 client certificates made by openssl (the independent peer): mapped the Kubernetes
//! way, and refused when expired, from another CA, without clientAuth, or without a CN.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rampart_authn::X509Authenticator;
use rampart_core::{
    Authenticator, AuthnError, ClientCertificateChain, Clock, ManualClock, RequestContext,
    SystemClock,
};
use rampart_testing::{openssl_ca, openssl_request, openssl_sign};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A certificate for `subject` signed by `issuer` with the given extensions.
fn leaf(dir: &Path, name: &str, issuer: &str, subject: &str, extensions: &str) -> PathBuf {
    openssl_request(dir, name, &["-subj", subject]);
    openssl_sign(dir, name, issuer, extensions)
}

fn der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path)
        .unwrap()
        .as_ref()
        .to_vec()
}

const CLIENT: &str =
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";

fn authenticate(
    auth: &X509Authenticator,
    chain: Vec<Vec<u8>>,
) -> Result<rampart_core::Authenticated, AuthnError> {
    futures_executor::block_on(auth.authenticate(
        &ClientCertificateChain::new(chain).unwrap(),
        &RequestContext::new(),
    ))
}

#[test]
fn openssl_client_certificates_map_and_bad_ones_are_refused() {
    let dir = rampart_testing::scratch_dir("authn-x509");
    openssl_ca(&dir, "root");
    openssl_ca(&dir, "stranger");
    // An intermediate under the root, for a two-level chain.
    let intermediate = leaf(
        &dir,
        "intermediate",
        "root",
        "/CN=intermediate",
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n",
    );
    let roots = vec![CertificateDer::from(der(&dir.join("root.crt")))];
    let auth = X509Authenticator::new(&roots, Arc::new(SystemClock)).unwrap();

    let alice = leaf(&dir, "alice", "root", "/O=dev/O=ops/CN=alice", CLIENT);
    let user = authenticate(&auth, vec![der(&alice)]).unwrap();
    assert_eq!(user.user.username, "alice");
    assert_eq!(user.user.groups, ["dev", "ops"]);
    assert!(user.expires_at.is_some_and(|at| at > SystemClock.now()));

    // Kubernetes' uid attribute: openssl needs the OID declared in a config to write it.
    std::fs::write(
        dir.join("uid.cnf"),
        "oid_section=oids
[oids]
kubeUID=1.3.6.1.4.1.57683.2
[req]
distinguished_name=dn
prompt=no
[dn]
kubeUID=u-7
CN=bob
",
    )
    .unwrap();
    openssl_request(&dir, "bob", &["-config", "uid.cnf"]);
    let bob = openssl_sign(&dir, "bob", "root", CLIENT);
    assert_eq!(
        authenticate(&auth, vec![der(&bob)]).unwrap().user.uid,
        "u-7"
    );

    let carol = leaf(&dir, "carol", "intermediate", "/CN=carol", CLIENT);
    assert_eq!(
        authenticate(&auth, vec![der(&carol), der(&intermediate)])
            .unwrap()
            .user
            .username,
        "carol"
    );
    assert_eq!(
        authenticate(&auth, vec![der(&carol)]).unwrap_err(),
        AuthnError::InvalidCredentials,
        "without its intermediate"
    );

    for (name, issuer, subject, extensions) in [
        (
            "no-eku",
            "root",
            "/CN=mallory",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        ),
        (
            "server-only",
            "root",
            "/CN=mallory",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        ),
        ("foreign", "stranger", "/CN=mallory", CLIENT),
        ("no-cn", "root", "/O=dev", CLIENT),
        ("two-cns", "root", "/CN=alice/CN=mallory", CLIENT),
    ] {
        let cert = leaf(&dir, name, issuer, subject, extensions);
        assert_eq!(
            authenticate(&auth, vec![der(&cert)]).unwrap_err(),
            AuthnError::InvalidCredentials,
            "{name}"
        );
    }

    // Two days later the one-day certificate has expired.
    let later = ManualClock::new(SystemClock.now() + Duration::from_secs(2 * 86_400));
    let auth_later = X509Authenticator::new(&roots, Arc::new(later)).unwrap();
    assert_eq!(
        authenticate(&auth_later, vec![der(&alice)]).unwrap_err(),
        AuthnError::Expired
    );
    // Garbage is refused, not a panic.
    assert_eq!(
        authenticate(&auth, vec![b"not a certificate".to_vec()]).unwrap_err(),
        AuthnError::InvalidCredentials
    );
}
