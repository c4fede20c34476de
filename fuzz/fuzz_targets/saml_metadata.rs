//! IdP metadata from anyone (an operator's file can be wrong or hostile). Never panics;
//! whatever is accepted has an entity ID and at least one signing certificate, so a
//! service provider built on it can never skip signature verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_authn::saml::IdpMetadata;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    if let Ok(idp) = IdpMetadata::parse(xml) {
        assert!(!idp.entity_id().trim().is_empty());
        assert!(!idp.signing_certificates().is_empty());
    }
});
