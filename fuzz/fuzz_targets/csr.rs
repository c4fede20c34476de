//! Certificate signing requests from anyone: never panics; a request that verifies is
//! verified again the same way, names a subject that encodes back, and the signing policy
//! decides on it without panicking.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rampart_certs::{Candidate, SigningPolicy, Usage, summarize_csr, verify_csr};

fuzz_target!(|data: &[u8]| {
    let Ok(csr) = verify_csr(data) else { return };
    assert_eq!(verify_csr(data).as_ref().ok(), Some(&csr), "verification is deterministic");
    let _ = summarize_csr(&csr);
    if !csr.subject.common_name.is_empty() {
        let name = csr.subject.to_name();
        if let Ok(name) = name {
            let back = rampart_certs::CertificateSubject::from_name(&name).expect("a name we wrote reads back");
            assert_eq!(back, csr.subject);
        }
    }
    let candidate = Candidate {
        subject: csr.subject.clone(),
        alt_names: csr.alt_names.clone(),
        key_algorithm: csr.key_algorithm,
        usage: Usage::Client,
        ttl: Duration::from_secs(3600),
    };
    let _ = SigningPolicy::default().evaluate(&candidate);
});
