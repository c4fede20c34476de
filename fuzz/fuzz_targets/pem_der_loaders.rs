//! Certificate and key files from disk: PEM chains, DER certificates, PKCS#8 keys, and a
//! CA made of both. Never panics; every certificate that loads summarises, and its
//! Kubernetes user (if any) has the certificate's CN as username.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_certs::{
    CertificateAuthority, PrivateKey, certificates_from_pem, summarize_certificate,
    user_from_certificate,
};

fn check_certificate(der: &[u8]) {
    if let Ok(summary) = summarize_certificate(der) {
        if let Ok(Some(user)) = user_from_certificate(der) {
            assert_eq!(user.username, summary.common_name);
            assert_eq!(user.groups, summary.organizations);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_certificate(data);
    if let Ok(chain) = certificates_from_pem(data) {
        for cert in &chain {
            check_certificate(cert.as_ref());
        }
    }
    let _ = PrivateKey::from_pkcs8_der(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PrivateKey::from_pem(text);
        let _ = CertificateAuthority::from_pem(text, text, rampart_core::SystemClock::shared());
    }
});
