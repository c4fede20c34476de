//! The token issuer: tokens verified by an independent verifier (PyJWT), by this crate's
//! own ID-token policy, key rotation with an overlap window, and refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rampart_authn::oidc::{Algorithm, ClaimMapping, IssueError, UsernamePrefix, jwks_from_value};
use rampart_authn::{IdTokenPolicy, IssuerKey, TokenIssuer};
use rampart_core::{Clock, ManualClock, SystemClock, UserInfo};
use serde_json::Value;

const ISSUER: &str = "https://login.example.test";
const AUDIENCE: &str = "kubernetes";
const TEN_MINUTES: Duration = Duration::from_secs(600);

fn alice() -> UserInfo {
    UserInfo::new("alice")
        .with_groups(["dev", "ops"])
        .with_uid("u-1")
}

/// An RSA key made by openssl, as PKCS#8 DER (ring cannot generate RSA keys).
fn openssl_rsa_pkcs8() -> Vec<u8> {
    let dir = rampart_testing::scratch_dir("issuer-rsa");
    let pem = rampart_testing::openssl_rsa_key(&dir, "rsa");
    // PKCS#8 needs `pkcs8 -topk8`: `pkey -outform DER` writes PKCS#1.
    let der = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(der.status.success());
    der.stdout
}

/// Verifies `token` with PyJWT against the issuer's JWKS; returns the claims or PyJWT's error.
fn pyjwt_verify(token: &str, jwks: &Value, alg: &str) -> Result<Value, String> {
    let script = r#"
import json, sys, jwt
token, jwks, alg, issuer, audience = sys.argv[1:6]
header = jwt.get_unverified_header(token)
keys = {k["kid"]: k for k in json.loads(jwks)["keys"]}
key = jwt.PyJWK(keys[header["kid"]]).key
try:
    claims = jwt.decode(token, key=key, algorithms=[alg], audience=audience, issuer=issuer,
                        options={"require": ["exp", "iat", "iss", "aud", "sub"]})
    print(json.dumps(claims))
except Exception as error:
    print("ERROR " + type(error).__name__)
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            token,
            &jwks.to_string(),
            alg,
            ISSUER,
            AUDIENCE,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    match text.trim().strip_prefix("ERROR ") {
        Some(error) => Err(error.to_owned()),
        None => Ok(serde_json::from_str(text.trim()).unwrap()),
    }
}

#[test]
fn tokens_verify_with_pyjwt_and_with_this_crates_policy() {
    let keys = [
        (
            Algorithm::ES256,
            IssuerKey::generate(Algorithm::ES256).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            IssuerKey::generate(Algorithm::EdDSA).unwrap(),
        ),
        (
            Algorithm::RS256,
            IssuerKey::from_pkcs8(Algorithm::RS256, &openssl_rsa_pkcs8()).unwrap(),
        ),
        // The one key type: a P-384 key made as the certificate authority makes its keys.
        (
            Algorithm::ES384,
            IssuerKey::new(
                rampart_core::PrivateKey::generate(rampart_core::KeyAlgorithm::EcdsaP384).unwrap(),
            )
            .unwrap(),
        ),
    ];
    for (alg, key) in keys {
        let issuer = TokenIssuer::new(ISSUER, key, TEN_MINUTES, Arc::new(SystemClock)).unwrap();
        let token = issuer
            .mint(&alice(), AUDIENCE, Duration::from_secs(300), Some("n-1"))
            .unwrap();
        let jwks = issuer.jwks();

        let claims = pyjwt_verify(&token.token, &jwks, alg.name())
            .unwrap_or_else(|e| panic!("{alg}: PyJWT refused: {e}"));
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["groups"], serde_json::json!(["dev", "ops"]));
        assert_eq!(claims["uid"], "u-1");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            300
        );

        let policy = IdTokenPolicy::new(ISSUER, AUDIENCE).algorithms([alg]);
        let verified = policy
            .verify(
                &token.token,
                &jwks_from_value(&jwks).unwrap(),
                SystemClock.now(),
                Some("n-1"),
                None,
            )
            .unwrap();
        // As a kube-apiserver with --oidc-username-prefix=- --oidc-groups-claim=groups maps it.
        let user = ClaimMapping::default()
            .username_prefix(UsernamePrefix::None)
            .groups_claim("groups", "")
            .uid_claim("uid")
            .user(&verified.claims, ISSUER)
            .unwrap();
        assert_eq!(user, alice());

        // One flipped character in the payload: both verifiers refuse.
        let mut parts: Vec<String> = token.token.split('.').map(str::to_owned).collect();
        let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
        parts[1].pop();
        parts[1].push(flipped);
        let tampered = parts.join(".");
        assert!(pyjwt_verify(&tampered, &jwks, alg.name()).is_err(), "{alg}");
        assert!(
            policy
                .verify(
                    &tampered,
                    &jwks_from_value(&jwks).unwrap(),
                    SystemClock.now(),
                    None,
                    None
                )
                .is_err()
        );
    }
}

#[test]
fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let issuer = TokenIssuer::new(
        ISSUER,
        IssuerKey::generate(Algorithm::ES256).unwrap(),
        TEN_MINUTES,
        clock.clone(),
    )
    .unwrap();
    let first_kid = issuer.jwks()["keys"][0]["kid"].as_str().unwrap().to_owned();
    let old_token = issuer.mint(&alice(), AUDIENCE, TEN_MINUTES, None).unwrap();

    let next = IssuerKey::generate(Algorithm::ES256).unwrap();
    let next_kid = next.kid().to_owned();
    issuer.rotate(next);
    let new_token = issuer.mint(&alice(), AUDIENCE, TEN_MINUTES, None).unwrap();
    let policy = IdTokenPolicy::new(ISSUER, AUDIENCE);
    let kids = |jwks: &Value| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // During the overlap both keys are published and both tokens verify.
    let jwks = issuer.jwks();
    assert_eq!(kids(&jwks), [next_kid.clone(), first_kid.clone()]);
    let keys = jwks_from_value(&jwks).unwrap();
    assert!(
        policy
            .verify(&old_token.token, &keys, clock.now(), None, None)
            .is_ok()
    );
    assert!(
        policy
            .verify(&new_token.token, &keys, clock.now(), None, None)
            .is_ok()
    );

    // Once the old key's last token has expired, it is withdrawn.
    clock.advance(TEN_MINUTES + Duration::from_secs(1));
    let jwks = issuer.jwks();
    assert_eq!(kids(&jwks), [next_kid]);
    let fresh = issuer.mint(&alice(), AUDIENCE, TEN_MINUTES, None).unwrap();
    assert!(
        policy
            .verify(
                &fresh.token,
                &jwks_from_value(&jwks).unwrap(),
                clock.now(),
                None,
                None
            )
            .is_ok()
    );

    let discovery = issuer.discovery();
    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(discovery["jwks_uri"], format!("{ISSUER}/keys"));
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
}

#[test]
fn the_issuer_refuses_what_it_should_not_sign() {
    let key = || IssuerKey::generate(Algorithm::ES256).unwrap();
    let clock = Arc::new(SystemClock);
    for bad in [
        "http://login.example.test",
        "https://login.example.test/?x=1",
        "https://",
        "login.example.test",
    ] {
        assert!(
            matches!(
                TokenIssuer::new(bad, key(), TEN_MINUTES, clock.clone()),
                Err(IssueError::Refused(_))
            ),
            "{bad}"
        );
    }
    let issuer = TokenIssuer::new(ISSUER, key(), TEN_MINUTES, clock).unwrap();
    assert!(matches!(
        issuer.mint(&alice(), AUDIENCE, Duration::from_secs(601), None),
        Err(IssueError::Refused(_))
    ));
    assert!(matches!(
        issuer.mint(&alice(), AUDIENCE, Duration::ZERO, None),
        Err(IssueError::Refused(_))
    ));
    assert!(matches!(
        issuer.mint(&UserInfo::default(), AUDIENCE, TEN_MINUTES, None),
        Err(IssueError::Refused(_))
    ));
    assert!(matches!(
        issuer.mint(&alice(), "", TEN_MINUTES, None),
        Err(IssueError::Refused(_))
    ));
    assert!(matches!(
        IssuerKey::generate(Algorithm::RS256),
        Err(IssueError::Key(_))
    ));
    assert!(matches!(
        IssuerKey::from_pkcs8(Algorithm::ES256, b"not a key"),
        Err(IssueError::Key(_))
    ));
    // A P-256 key offered as RS256 does not fit.
    let rng = ring::rand::SystemRandom::new();
    let p256 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    assert!(matches!(
        IssuerKey::from_pkcs8(Algorithm::RS256, p256.as_ref()),
        Err(IssueError::Key(_))
    ));
}

/// A maximum lifetime that would make expiry arithmetic overflow is a construction error,
/// and a token at the largest allowed lifetime is minted without a panic.
#[test]
fn the_maximum_lifetime_is_bounded_at_construction() {
    let key = || IssuerKey::generate(Algorithm::ES256).unwrap();
    let clock = Arc::new(SystemClock);
    for bad in [
        Duration::MAX,
        Duration::ZERO,
        rampart_authn::oidc::MAX_TOKEN_TTL + Duration::from_secs(1),
    ] {
        assert!(
            matches!(
                TokenIssuer::new(ISSUER, key(), bad, clock.clone()),
                Err(IssueError::Refused(_))
            ),
            "{bad:?}"
        );
    }
    let issuer =
        TokenIssuer::new(ISSUER, key(), rampart_authn::oidc::MAX_TOKEN_TTL, clock).unwrap();
    assert!(
        issuer
            .mint(&alice(), AUDIENCE, rampart_authn::oidc::MAX_TOKEN_TTL, None)
            .is_ok()
    );
}

/// A key must be of the kind its algorithm signs with, and tokens name EdDSA, never the
/// fully-specified Ed25519 that not every verifier knows.
#[test]
fn issuer_keys_must_fit_their_algorithm() {
    use rampart_authn::oidc::KeyProblem;
    let ec = rampart_core::PrivateKey::generate(rampart_core::KeyAlgorithm::EcdsaP256).unwrap();
    assert!(matches!(
        IssuerKey::from_pkcs8(Algorithm::RS256, ec.pkcs8_der()),
        Err(IssueError::Key(KeyProblem::Mismatch(Algorithm::RS256)))
    ));
    assert!(matches!(
        IssuerKey::generate(Algorithm::Ed25519),
        Err(IssueError::Key(KeyProblem::NotOffered(_)))
    ));
    assert!(matches!(
        IssuerKey::generate(Algorithm::RS256),
        Err(IssueError::Key(KeyProblem::NotGenerated(_)))
    ));
    assert!(matches!(
        IssuerKey::from_pkcs8(Algorithm::ES256, b"not a key"),
        Err(IssueError::Key(KeyProblem::Key(_)))
    ));
}

/// Every token minted is a `token.issued` event naming the user, the audience and the
/// token id, never the token; a token that cannot be recorded is not handed out.
#[test]
fn every_minted_token_is_audited_and_an_unrecorded_one_is_withheld() {
    let sink = Arc::new(rampart_core::MemorySink::new());
    let issuer = TokenIssuer::new(
        ISSUER,
        IssuerKey::generate(Algorithm::ES256).unwrap(),
        TEN_MINUTES,
        Arc::new(SystemClock),
    )
    .unwrap()
    .audit_to(sink.clone());
    let minted = issuer.mint(&alice(), AUDIENCE, TEN_MINUTES, None).unwrap();
    let event = sink.events().pop().unwrap();
    assert_eq!(event.action, rampart_core::Action::TokenIssued);
    assert_eq!(event.actor.username, "alice");
    assert_eq!(event.details["audience"], AUDIENCE);
    let recorded = serde_json::to_string(&event).unwrap();
    let signature = minted.token.rsplit('.').next().unwrap();
    assert!(
        !recorded.contains(signature),
        "the token never reaches the trail"
    );

    sink.set_failing(true);
    assert!(matches!(
        issuer.mint(&alice(), AUDIENCE, TEN_MINUTES, None),
        Err(IssueError::Unaudited)
    ));
}

/// A slow audit trail holds up only the mint that waits for it: the JWKS (served to every
/// verifier) and the discovery document answer meanwhile.
#[test]
fn a_slow_audit_sink_never_holds_up_the_key_set() {
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug)]
    struct SlowSink;
    impl rampart_core::AuditSink for SlowSink {
        fn submit(&self, event: rampart_core::AuditEvent) -> rampart_core::AuditTicket {
            rampart_core::AuditTicket::ready(self.record(event))
        }
        fn record(&self, _: rampart_core::AuditEvent) -> Result<(), rampart_core::AuditError> {
            std::thread::sleep(Duration::from_millis(600));
            Ok(())
        }
    }
    let issuer = Arc::new(
        TokenIssuer::new(
            ISSUER,
            IssuerKey::generate(Algorithm::ES256).unwrap(),
            TEN_MINUTES,
            Arc::new(SystemClock),
        )
        .unwrap()
        .audit_to(Arc::new(SlowSink)),
    );
    let minted = Arc::new(AtomicBool::new(false));
    let minting = {
        let (issuer, minted) = (issuer.clone(), minted.clone());
        std::thread::spawn(move || {
            issuer.mint(&alice(), AUDIENCE, TEN_MINUTES, None).unwrap();
            minted.store(true, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let keys = issuer.jwks();
    let _ = issuer.discovery();
    assert!(
        !minted.load(Ordering::SeqCst),
        "the key set waited for the audit sink"
    );
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    minting.join().unwrap();
}
