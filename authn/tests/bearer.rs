//! Bearer tokens end to end: a static token file in kube-apiserver's format, ID tokens from
//! jose and from rampart's own issuer, in one audited union, answering TokenReviews that
//! parse as Kubernetes' own `TokenReview` type.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::authentication::v1::TokenReview;
use rampart_authn::oidc::{Algorithm, ClaimMapping, JwkSet, UsernamePrefix, jwks_from_value};
use rampart_authn::token::{TokenFileError, TokenReviewError};
use rampart_authn::{
    IdTokenPolicy, IssuerKey, OidcAuthenticator, StaticTokens, TokenIssuer, review_token,
};
use rampart_core::{
    Audited, Authenticator, AuthnError, BearerToken, ManualClock, MemorySink, RequestContext,
    SecretString, SharedAuditSink, SharedClock, UnionAuthenticator,
};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc");
const TOKEN_FILE: &str = r#"31ada4fd-adec-460c-809a-9e56ceb75269,alice,1001,"dev,ops"
  s3cr3t-token-for-bob,bob,1002
robot-token,system:serviceaccount:ci:builder,1003,"system:serviceaccounts,system:serviceaccounts:ci",extra-field
"#;

fn bearer(token: &str) -> BearerToken {
    BearerToken::new(SecretString::from(token))
}

fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    futures_executor::block_on(future)
}

#[test]
fn the_token_file_reads_as_kube_apiserver_reads_it_and_refuses_what_it_only_warns_about() {
    let tokens = StaticTokens::parse(TOKEN_FILE).unwrap();
    assert_eq!(tokens.len(), 3);
    let context = RequestContext::new();
    let alice =
        block(tokens.authenticate(&bearer("31ada4fd-adec-460c-809a-9e56ceb75269"), &context))
            .unwrap();
    assert_eq!(
        (alice.user.username.as_str(), alice.user.uid.as_str()),
        ("alice", "1001")
    );
    assert_eq!(alice.user.groups, ["dev", "ops"]);
    let bob = block(tokens.authenticate(&bearer("s3cr3t-token-for-bob"), &context)).unwrap();
    assert!(bob.user.groups.is_empty());
    let robot = block(tokens.authenticate(&bearer("robot-token"), &context)).unwrap();
    assert_eq!(
        robot.user.groups,
        ["system:serviceaccounts", "system:serviceaccounts:ci"]
    );
    assert_eq!(
        block(tokens.authenticate(&bearer("robot-toke"), &context)).unwrap_err(),
        AuthnError::NotApplicable
    );

    for (file, line, needle) in [
        ("a,b,c\na,d,e\n", 2, "earlier line"),
        (",alice,1\n", 1, "empty token"),
        ("t,,1\n", 1, "empty user"),
        ("t,alice\n", 1, "fewer than three"),
        ("t,alice,1,\"dev\n", 1, "unterminated"),
        ("t,al\"ice,1\n", 1, "quote inside"),
        ("t,alice,1,\"dev\"x\n", 1, "after a quoted"),
    ] {
        match StaticTokens::parse(file) {
            Err(TokenFileError::Line { line: found, why }) => {
                assert_eq!(found, line, "{file:?}");
                assert!(why.contains(needle), "{file:?}: {why}");
            }
            other => panic!("{file:?}: {other:?}"),
        }
    }
    // A refusal never quotes the token.
    let error =
        StaticTokens::parse("super-secret-value,a,1\nsuper-secret-value,b,2\n").unwrap_err();
    assert!(!error.to_string().contains("super-secret"), "{error}");
}

/// The union of a gateway: rampart's own issuer, an upstream IdP (the jose fixtures), a
/// static token file, audited.
struct Setup {
    union: Audited<UnionAuthenticator<BearerToken>>,
    sink: Arc<MemorySink>,
    issuer: TokenIssuer,
    upstream_es256: String,
    upstream_expired: String,
}

fn setup() -> Setup {
    let fixtures: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/tokens.json")).unwrap())
            .unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(fixtures["now"].as_u64().unwrap());
    let clock: SharedClock = Arc::new(ManualClock::new(now));
    let token = |name: &str| {
        fixtures["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let issuer = TokenIssuer::new(
        "https://rampart.example.test",
        IssuerKey::generate(Algorithm::ES256).unwrap(),
        Duration::from_secs(600),
        Arc::clone(&clock),
    )
    .unwrap();
    let ours = OidcAuthenticator::new(
        IdTokenPolicy::new("https://rampart.example.test", "kubernetes"),
        ClaimMapping::default()
            .username_prefix(UsernamePrefix::None)
            .groups_claim("groups", ""),
        jwks_from_value(&issuer.jwks()).unwrap(),
        Arc::clone(&clock),
    );
    let upstream = OidcAuthenticator::new(
        IdTokenPolicy::new(
            fixtures["issuer"].as_str().unwrap(),
            fixtures["client_id"].as_str().unwrap(),
        )
        .algorithms(Algorithm::ALL),
        ClaimMapping::default()
            .username_claim("email")
            .groups_claim("groups", "idp:"),
        JwkSet::from_json(&std::fs::read_to_string(format!("{FIXTURES}/jwks.json")).unwrap())
            .unwrap(),
        Arc::clone(&clock),
    );
    let sink = Arc::new(MemorySink::new());
    let shared: SharedAuditSink = sink.clone();
    let union = UnionAuthenticator::new(vec![
        Arc::new(ours),
        Arc::new(upstream),
        Arc::new(StaticTokens::parse(TOKEN_FILE).unwrap()),
    ]);
    Setup {
        union: Audited::new(union, "bearer", shared, clock),
        sink,
        issuer,
        upstream_es256: token("es256"),
        upstream_expired: token("expired"),
    }
}

#[test]
fn one_audited_union_takes_issuer_upstream_and_static_tokens() {
    let setup = setup();
    let context = RequestContext::new();
    let minted = setup
        .issuer
        .mint(
            &rampart_core::UserInfo::new("carol").with_groups(["qa"]),
            "kubernetes",
            Duration::from_secs(300),
            None,
        )
        .unwrap();
    let carol = block(setup.union.authenticate(&bearer(&minted.token), &context)).unwrap();
    assert_eq!(
        (carol.user.username.as_str(), carol.user.groups.as_slice()),
        ("carol", &["qa".to_owned()][..])
    );
    assert_eq!(carol.expires_at, Some(minted.expires_at));
    let alice = block(
        setup
            .union
            .authenticate(&bearer(&setup.upstream_es256), &context),
    )
    .unwrap();
    assert_eq!(alice.user.username, "alice@example.test");
    assert_eq!(alice.user.groups, ["idp:dev", "idp:ops"]);
    let bob = block(
        setup
            .union
            .authenticate(&bearer("s3cr3t-token-for-bob"), &context),
    )
    .unwrap();
    assert_eq!(bob.user.username, "bob");
    // An upstream token that is recognised and expired is refused as expired, not passed on.
    assert_eq!(
        block(
            setup
                .union
                .authenticate(&bearer(&setup.upstream_expired), &context)
        )
        .unwrap_err(),
        AuthnError::Expired
    );
    assert_eq!(
        block(
            setup
                .union
                .authenticate(&bearer("nobody-knows-me"), &context)
        )
        .unwrap_err(),
        AuthnError::InvalidCredentials
    );

    let events = setup.sink.events();
    assert_eq!(events.len(), 5);
    let outcomes: Vec<_> = events.iter().map(|e| e.outcome).collect();
    use rampart_core::Outcome::{Failure, Success};
    assert_eq!(outcomes, [Success, Success, Success, Failure, Failure]);
    let recorded = serde_json::to_string(&events).unwrap();
    for secret in [
        minted.token.as_str(),
        setup.upstream_es256.as_str(),
        "s3cr3t-token-for-bob",
        "nobody-knows-me",
    ] {
        assert!(
            !recorded.contains(secret),
            "a token reached the audit trail"
        );
    }
}

fn review(token: &str, audiences: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "metadata": {"creationTimestamp": null},
        "spec": {"token": token, "audiences": audiences},
        "status": {"user": {}}
    }))
    .unwrap()
}

#[test]
fn token_reviews_are_answered_as_kube_apiserver_expects() {
    let setup = setup();
    let ours = vec!["https://kubernetes.default.svc".to_owned()];
    let context = RequestContext::new();
    let answer = |body: &[u8]| block(review_token(body, &setup.union, &ours, &context));

    let accepted = answer(&review("31ada4fd-adec-460c-809a-9e56ceb75269", &[])).unwrap();
    let parsed: TokenReview = serde_json::from_value(accepted.clone()).unwrap();
    let status = parsed.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.unwrap();
    assert_eq!(user.username.as_deref(), Some("alice"));
    assert_eq!(user.groups.unwrap(), ["dev", "ops"]);
    assert_eq!(status.audiences.unwrap(), ours);

    let refused = answer(&review("nobody-knows-me", &[])).unwrap();
    assert_eq!(
        refused["status"]["authenticated"],
        Value::Null,
        "false is omitted, as Kubernetes writes it"
    );
    assert_eq!(refused["status"]["error"], "the token is not valid");
    assert!(!refused.to_string().contains("nobody-knows-me"));
    let expired = answer(&review(&setup.upstream_expired, &[])).unwrap();
    assert_eq!(expired["status"]["error"], "the token has expired");

    // Audiences: one of ours is echoed; none of ours is refused before any token check.
    let matched = answer(&review(
        "s3cr3t-token-for-bob",
        &["other", "https://kubernetes.default.svc"],
    ))
    .unwrap();
    assert_eq!(
        matched["status"]["audiences"],
        json!(["https://kubernetes.default.svc"])
    );
    let foreign = answer(&review(
        "s3cr3t-token-for-bob",
        &["https://elsewhere.example.test"],
    ))
    .unwrap();
    assert_eq!(foreign["status"]["authenticated"], Value::Null);
    assert!(
        foreign["status"]["error"]
            .as_str()
            .unwrap()
            .contains("audiences")
    );

    for bad in [
        b"not json".to_vec(),
        br#"{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenReview","spec":{"token":"x"}}"#.to_vec(),
        br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview","spec":{"token":"x"}}"#.to_vec(),
        review("", &[]),
        vec![b' '; 70_000],
    ] {
        assert!(matches!(answer(&bad), Err(TokenReviewError::BadRequest(_))));
    }
}
