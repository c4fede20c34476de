//! Differential: every labelled ID-token fixture through jsonwebtoken configured as strictly
//! as it can be (asymmetric algorithms only, issuer, audience, required claims, no leeway),
//! beside rampart's verifier. rampart must never accept what jsonwebtoken refuses, and every
//! case jsonwebtoken accepts but rampart refuses must be a listed, deliberate strictness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::JwkSet as JwtJwkSet;
use jsonwebtoken::{Algorithm as JwtAlgorithm, DecodingKey, Validation};
use rampart_authn::IdTokenPolicy;
use rampart_authn::oidc::{Algorithm, JwkSet, install_jsonwebtoken_provider};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc");

/// Cases jsonwebtoken accepts and rampart refuses, each with the check only rampart makes.
const STRICTER_THAN_JSONWEBTOKEN: &[(&str, &str)] = &[
    // Time: jsonwebtoken reads only the system clock, so here it judges no time at all;
    // rampart judges exp, nbf and iat by its injected clock (with no default leeway).
    ("expired", "time by an injected clock"),
    (
        "expired-within-default-leeway",
        "time by an injected clock, no 60 s leeway",
    ),
    ("not-yet-valid", "time by an injected clock"),
    ("issued-in-the-future", "iat checked at all"),
    // OpenID Connect Core §3.1.3.7, which a JWT library does not know.
    (
        "multiple-audiences-without-azp",
        "azp required with several audiences",
    ),
    ("azp-names-another-client", "azp must name this client"),
    ("wrong-nonce", "nonce bound to the login"),
    ("at-hash-mismatch", "at_hash of the access token"),
    // JWS hygiene.
    ("crit-unknown", "crit extensions refused (RFC 7515 §4.1.11)"),
    ("oversized", "a bound on the token's size"),
];

struct Case {
    name: String,
    token: String,
    accept: bool,
}

fn fixtures() -> (Value, Vec<Case>) {
    let tokens: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/tokens.json")).unwrap())
            .unwrap();
    let cases = tokens["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| Case {
            name: case["name"].as_str().unwrap().to_owned(),
            token: case["token"].as_str().unwrap().to_owned(),
            accept: case["accept"].as_bool().unwrap(),
        })
        .collect();
    (tokens, cases)
}

/// jsonwebtoken, as strict as its configuration allows.
fn jsonwebtoken_accepts(token: &str, jwks: &JwtJwkSet, issuer: &str, client_id: &str) -> bool {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return false;
    };
    let Some(jwk) = header.kid.as_deref().and_then(|kid| jwks.find(kid)) else {
        return false;
    };
    let Ok(key) = DecodingKey::from_jwk(jwk) else {
        return false;
    };
    // Asymmetric algorithms only (jsonwebtoken wants the one the key's family signs).
    let allowed = [
        JwtAlgorithm::RS256,
        JwtAlgorithm::PS256,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::EdDSA,
    ];
    if !allowed.contains(&header.alg) {
        return false;
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id, "other"]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 0;
    // Its clock is the system's; the fixtures are dated by their own `now`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[test]
fn rampart_is_never_looser_than_strict_jsonwebtoken_and_every_difference_is_listed() {
    install_jsonwebtoken_provider();
    let (tokens, cases) = fixtures();
    let issuer = tokens["issuer"].as_str().unwrap();
    let client_id = tokens["client_id"].as_str().unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(tokens["now"].as_u64().unwrap());
    let jwks_text = std::fs::read_to_string(format!("{FIXTURES}/jwks.json")).unwrap();
    let ours = JwkSet::from_json(&jwks_text).unwrap();
    let theirs: JwtJwkSet = serde_json::from_str(&jwks_text).unwrap();
    let policy = IdTokenPolicy::new(issuer, client_id)
        .algorithms(Algorithm::ALL)
        .trusted_audiences(["other".to_owned()]);
    let listed: BTreeMap<&str, &str> = STRICTER_THAN_JSONWEBTOKEN.iter().copied().collect();
    let mut differences = Vec::new();
    for case in &cases {
        let rampart = policy
            .verify(
                &case.token,
                &ours,
                now,
                Some(tokens["nonce"].as_str().unwrap()),
                Some(tokens["access_token"].as_str().unwrap()),
            )
            .is_ok();
        let jsonwebtoken = jsonwebtoken_accepts(&case.token, &theirs, issuer, client_id);
        assert_eq!(
            rampart, case.accept,
            "{}: rampart against its label",
            case.name
        );
        assert!(
            jsonwebtoken || !rampart,
            "{}: rampart accepts what strict jsonwebtoken refuses",
            case.name
        );
        if jsonwebtoken && !rampart {
            assert!(
                listed.contains_key(case.name.as_str()),
                "{}: a difference nobody chose",
                case.name
            );
            differences.push(case.name.clone());
        }
    }
    // Every listed difference is real: the list cannot go stale.
    let mut expected: Vec<String> = listed.keys().map(|name| (*name).to_owned()).collect();
    expected.sort();
    differences.sort();
    assert_eq!(differences, expected);
    // And jsonwebtoken was not vacuous: it refused the forgeries too.
    let refused_by_both = cases
        .iter()
        .filter(|case| !jsonwebtoken_accepts(&case.token, &theirs, issuer, client_id))
        .count();
    assert!(
        refused_by_both >= 12,
        "jsonwebtoken refused only {refused_by_both}"
    );
}
