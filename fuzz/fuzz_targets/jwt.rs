//! Bearer tokens and key sets from anyone. The first byte picks the input: a JWKS document,
//! or a compact JWT checked against the jose fixtures' key set. Never panics; a token that
//! verifies verifies again the same way, and its claims map (or are refused) without panic.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use rampart_authn::IdTokenPolicy;
use rampart_authn::oidc::{Algorithm, ClaimMapping, JwkSet, verify_compact};

fn keys() -> &'static JwkSet {
    static KEYS: OnceLock<JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| JwkSet::from_json(include_str!("../../authn/tests/fixtures/oidc/jwks.json")).expect("fixture JWKS"))
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if mode % 4 == 0 {
        let _ = JwkSet::from_json(text);
        return;
    }
    let Ok(jws) = verify_compact(text, keys(), &Algorithm::ALL, 16 * 1024) else { return };
    let again = verify_compact(text, keys(), &Algorithm::ALL, 16 * 1024).expect("verification is deterministic");
    assert_eq!(again, jws);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_060);
    let policy = IdTokenPolicy::new("https://idp.example.test", "rampart-gateway").algorithms(Algorithm::ALL);
    if let Ok(verified) = policy.verify(text, keys(), now, None, Some("access")) {
        let _ = ClaimMapping::default().username_claim("email").groups_claim("groups", "x:").user(&verified.claims, "https://idp.example.test");
    }
});
