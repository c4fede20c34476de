//! SAML responses from anyone, checked by a service provider that trusts the fixtures' IdP,
//! as of the instant the fixtures were made, with the fixtures' request pending and
//! unsolicited responses allowed. Never panics; anything accepted names a subject the
//! fixtures' IdP signed (the fuzzer cannot forge the IdP's signature), and is refused when seen again.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use rampart_authn::ServiceProvider;
use rampart_authn::saml::SamlError;
use rampart_authn::saml::{IdpMetadata, SpKey};
use rampart_core::{FixedClock, Timestamp};

const MANIFEST: &str = include_str!("../../authn/tests/fixtures/saml/manifest.json");

fn made() -> SystemTime {
    let manifest: serde_json::Value = serde_json::from_str(MANIFEST).expect("manifest");
    manifest["made"].as_str().and_then(|t| t.parse::<Timestamp>().ok()).expect("made").to_system_time()
}

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let idp = IdpMetadata::parse(include_str!("../../authn/tests/fixtures/saml/idp-metadata.xml")).expect("fixture metadata");
    let now = made() + Duration::from_secs(5);
    let sp = ServiceProvider::new("https://rampart.example.test/saml/metadata", "https://rampart.example.test/saml/acs", idp, Arc::new(FixedClock(now)))
        .expect("sp")
        .with_key(SpKey::from_pem(include_bytes!("../../authn/tests/fixtures/saml/sp.key")).expect("sp key"), false)
        .allow_unsolicited(true);
    sp.expect_request("_4f1c2b7e9a0d4c3ba1e5f6a7b8c9d0e1", now + Duration::from_secs(600)).expect("pending");
    if let Ok(login) = sp.consume_xml(xml) {
        // The only subjects the fixtures' IdP ever signed.
        assert!(matches!(login.name_id.as_str(), "alice@example.test" | "system:admin"), "{}", login.name_id);
        assert!(matches!(sp.consume_xml(xml), Err(SamlError::Replayed | SamlError::InResponseTo)));
    }
});
