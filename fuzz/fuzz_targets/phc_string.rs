//! Stored password hashes from an untrusted account store: never panics; a hash naming
//! more work than the limits is refused before hashing; a cheap accepted one verifies.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rampart_authn::PasswordHasher;
use rampart_authn::password::{HashError, HashParams, StoredLimits};
use rampart_core::SecretString;

fn hasher() -> &'static PasswordHasher {
    static HASHER: OnceLock<PasswordHasher> = OnceLock::new();
    HASHER.get_or_init(|| {
        // The hasher's own parameters must be within the limits (a hasher whose hashes its
        // verifier would refuse cannot be built): the smallest the builder allows.
        let limits = StoredLimits { max_m_kib: 7 * 1024, max_t: 5, max_p: 2 };
        PasswordHasher::new(HashParams::builder().m_kib(7 * 1024).t(5).build().expect("params"), limits).expect("hasher")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(stored) = std::str::from_utf8(data) else { return };
    match hasher().stored_params(stored) {
        Ok(params) => {
            assert!(params.m_kib() <= 7 * 1024 && params.t() <= 5 && params.p() <= 2);
            // Verify only the cheap ones, so the run stays fast.
            if params.m_kib() <= 64 && params.t() <= 2 {
                let _ = hasher().verify(&SecretString::from("fuzz"), stored);
            }
        }
        Err(HashError::Malformed | HashError::OutOfBounds { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
    }
});
