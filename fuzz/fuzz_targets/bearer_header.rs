//! `Authorization` header parsing: never panics; an accepted token is non-empty, has no
//! space, and never shows in `Debug` output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::BearerToken;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    if let Some(token) = BearerToken::from_authorization_header(header) {
        let secret = token.token().expose_secret();
        assert!(!secret.is_empty() && !secret.contains(' '));
        assert!(header.ends_with(secret));
        if secret.len() > 12 {
            assert!(!format!("{token:?}").contains(secret));
        }
    }
});
