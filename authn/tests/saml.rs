//! The SAML service provider against a real IdP: responses made by pysaml2 (signing and
//! encrypting through the xmlsec1 binary) and attack variants made from their signed bytes
//! (fixtures/saml/make-fixtures.py): the eight XML-signature-wrapping families, comment
//! injection, unsigned, wrong key, SHA-1, DTD/XXE/billion laughs, wrong audience,
//! recipient and destination, InResponseTo, replay, expiry, and encrypted assertions
//! (AES-CBC, AES-GCM, 3DES refused, encrypted-but-unsigned refused).
#![cfg(feature = "saml")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rampart_authn::oidc::{ClaimMapping, UsernamePrefix};
use rampart_authn::saml::SamlError;
use rampart_authn::saml::{DecryptionPolicy, IdpMetadata, SpKey};
use rampart_authn::{SamlAuthenticator, ServiceProvider};
use rampart_core::{
    Authenticator, AuthnError, ManualClock, RequestContext, SamlPostResponse, Timestamp,
};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

fn manifest() -> Value {
    serde_json::from_str(&read("manifest.json")).unwrap()
}

fn field(name: &str) -> String {
    manifest()[name].as_str().unwrap().to_owned()
}

/// The instant the fixtures were made.
fn made() -> SystemTime {
    field("made").parse::<Timestamp>().unwrap().to_system_time()
}

fn response(name: &str) -> String {
    read(&format!("{name}.b64")).trim().to_owned()
}

/// A service provider as of `made + offset`, with its key, waiting for the fixtures'
/// request.
fn sp_at(offset: i64) -> (ServiceProvider, Arc<ManualClock>) {
    let at = if offset >= 0 {
        made() + Duration::from_secs(offset.unsigned_abs())
    } else {
        made() - Duration::from_secs(offset.unsigned_abs())
    };
    let clock = Arc::new(ManualClock::new(at));
    let idp = IdpMetadata::parse(&read("idp-metadata.xml")).unwrap();
    let sp = ServiceProvider::new(field("sp"), field("acs"), idp, clock.clone())
        .unwrap()
        .with_key(SpKey::from_pem(read("sp.key").as_bytes()).unwrap(), false);
    sp.expect_request(&field("request"), at + Duration::from_secs(600))
        .unwrap();
    (sp, clock)
}

fn sp() -> ServiceProvider {
    sp_at(5).0
}

#[test]
fn a_signed_response_from_pysaml2_is_accepted_and_mapped() {
    let login = sp().consume(&response("response-signed")).unwrap();
    assert_eq!(login.name_id, "alice@example.test");
    assert_eq!(
        login.name_id_format.as_deref(),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(login.attributes["groups"], ["developers", "oncall"]);
    assert_eq!(
        login.attributes["urn:oid:0.9.2342.19200300.100.1.3"],
        ["alice@example.test"]
    );
    // Kubernetes' default: the IdP's entity ID, '#', the name.
    assert_eq!(
        login.user.username,
        "https://idp.example.test/saml/metadata#alice@example.test"
    );
    assert!(login.user.groups.is_empty());
    assert!(login.session_index.is_some());
}

#[test]
fn the_mapping_takes_groups_and_a_prefix_and_refuses_system_names() {
    let mapping = ClaimMapping::default()
        .username_claim("name_id")
        .username_prefix(UsernamePrefix::Custom("saml:".into()))
        .groups_claim("groups", "saml:");
    let login = sp()
        .with_mapping(mapping)
        .consume(&response("response-signed"))
        .unwrap();
    assert_eq!(login.user.username, "saml:alice@example.test");
    assert_eq!(login.user.groups, ["saml:developers", "saml:oncall"]);

    let unprefixed = ClaimMapping::default()
        .username_claim("name_id")
        .username_prefix(UsernamePrefix::None);
    let error = sp()
        .with_mapping(unprefixed)
        .consume(&response("system-user"))
        .unwrap_err();
    assert!(
        matches!(&error, SamlError::Mapping(why) if why.contains("system:")),
        "{error}"
    );
}

#[test]
fn every_signing_layout_and_cipher_a_real_idp_uses_is_accepted() {
    for name in [
        "response-signed",
        "assertion-signed",
        "both-signed",
        // Signed by the second certificate in the metadata (key rollover), RSA-SHA512.
        "rollover-rsa-sha512",
        // ECDSA P-256 (pysaml2's response re-signed by the xmlsec1 binary).
        "ecdsa-p256-xmlsec1",
        "encrypted-aes128cbc-signed-response",
        "encrypted-aes128gcm-signed-response",
    ] {
        let login = sp()
            .consume(&response(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(login.name_id, "alice@example.test", "{name}");
    }
}

#[test]
fn triple_des_is_refused_unless_opted_in() {
    let error = sp()
        .consume(&response("encrypted-3des-signed-response"))
        .unwrap_err();
    assert!(
        matches!(&error, SamlError::Algorithm(why) if why.contains("tripledes")),
        "{error}"
    );
    let login = sp()
        .with_decryption_policy(DecryptionPolicy {
            allow_triple_des: true,
            ..DecryptionPolicy::default()
        })
        .consume(&response("encrypted-3des-signed-response"))
        .unwrap();
    assert_eq!(login.name_id, "alice@example.test");
}

/// What an error must be.
type Expectation = dyn Fn(&SamlError) -> bool;

/// What each hostile or wrong response must be refused as.
#[test]
fn attacks_and_wrong_responses_are_refused_with_their_reason() {
    // Every wrapping family falls to one of the two rules checked before xmlsec: a
    // signature references only the element that holds it, and exactly one assertion.
    let exactly_one = |e: &SamlError| {
        matches!(e, SamlError::Malformed(w)
            if w.contains("exactly one assertion") || w.contains("references something other"))
    };
    let cases: Vec<(&str, Box<Expectation>)> = vec![
        ("unsigned", Box::new(|e| *e == SamlError::Unsigned)),
        ("wrong-key", Box::new(|e| *e == SamlError::Signature)),
        ("nameid-tampered", Box::new(|e| *e == SamlError::Signature)),
        (
            "sha1",
            Box::new(|e| matches!(e, SamlError::Algorithm(w) if w.contains("sha1"))),
        ),
        ("wrong-audience", Box::new(|e| *e == SamlError::Audience)),
        (
            "wrong-recipient",
            Box::new(|e| *e == SamlError::Destination),
        ),
        (
            "wrong-recipient-signed-only",
            Box::new(|e| *e == SamlError::Recipient),
        ),
        (
            "encrypted-unsigned",
            Box::new(|e| *e == SamlError::Unsigned),
        ),
        (
            "status-error",
            Box::new(|e| matches!(e, SamlError::Status(code) if code.ends_with(":Responder"))),
        ),
        (
            "comment-in-nameid",
            Box::new(|e| matches!(e, SamlError::Malformed(w) if w.contains("comments"))),
        ),
        (
            "doctype-xxe",
            Box::new(|e| matches!(e, SamlError::Malformed(w) if w.contains("DTD"))),
        ),
        (
            "billion-laughs",
            Box::new(|e| matches!(e, SamlError::Malformed(w) if w.contains("DTD"))),
        ),
        (
            "not-a-response",
            Box::new(|e| matches!(e, SamlError::Malformed(w) if w.contains("root"))),
        ),
        ("xsw1", Box::new(exactly_one)),
        ("xsw2", Box::new(exactly_one)),
        ("xsw3", Box::new(exactly_one)),
        ("xsw4", Box::new(exactly_one)),
        ("xsw5", Box::new(exactly_one)),
        ("xsw6", Box::new(exactly_one)),
        ("xsw7", Box::new(exactly_one)),
        ("xsw8", Box::new(exactly_one)),
    ];
    for (name, expected) in cases {
        let error = sp()
            .consume(&response(name))
            .expect_err(&format!("{name} was accepted"));
        assert!(expected(&error), "{name}: {error:?}");
    }
}

#[test]
fn validity_windows_hold_with_the_skew() {
    // NotOnOrAfter is five minutes after issue; 60 s of skew.
    assert_eq!(
        sp_at(5 * 60 + 61).0.consume(&response("response-signed")),
        Err(SamlError::Expired)
    );
    assert!(
        sp_at(5 * 60 + 30)
            .0
            .consume(&response("response-signed"))
            .is_ok()
    );
    assert_eq!(
        sp_at(-61).0.consume(&response("response-signed")),
        Err(SamlError::NotYetValid)
    );
    assert!(sp_at(-30).0.consume(&response("response-signed")).is_ok());
}

#[test]
fn in_response_to_must_name_a_pending_request_and_is_used_once() {
    // A response to another request.
    assert_eq!(
        sp().consume(&response("second-request")),
        Err(SamlError::InResponseTo)
    );
    // The request is answered once; the same response again is refused...
    let sp = sp();
    sp.consume(&response("response-signed")).unwrap();
    assert_eq!(
        sp.consume(&response("response-signed")),
        Err(SamlError::InResponseTo)
    );
    // ...and, with the request pending again, still refused as a replay.
    sp.expect_request(&field("request"), made() + Duration::from_secs(600))
        .unwrap();
    assert_eq!(
        sp.consume(&response("response-signed")),
        Err(SamlError::Replayed)
    );
    // A pending request that expired is no longer answered.
    let (late, clock) = sp_at(5);
    late.expect_request(&field("second_request"), made() + Duration::from_secs(10))
        .unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        late.consume(&response("second-request")),
        Err(SamlError::InResponseTo)
    );
}

#[test]
fn unsolicited_responses_need_the_opt_in_and_are_replay_checked() {
    assert_eq!(
        sp().consume(&response("unsolicited")),
        Err(SamlError::Unsolicited)
    );
    let sp = sp().allow_unsolicited(true);
    sp.consume(&response("unsolicited")).unwrap();
    assert_eq!(
        sp.consume(&response("unsolicited")),
        Err(SamlError::Replayed)
    );
}

#[test]
fn concurrent_replays_of_one_response_are_accepted_exactly_once() {
    let sp = Arc::new(sp().allow_unsolicited(true));
    let encoded = response("unsolicited");
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let sp = sp.clone();
            let encoded = encoded.clone();
            std::thread::spawn(move || sp.consume(&encoded))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| *e == SamlError::Replayed)
    );
}

#[test]
fn encrypted_assertions_need_the_sp_key() {
    let clock = Arc::new(ManualClock::new(made()));
    let idp = IdpMetadata::parse(&read("idp-metadata.xml")).unwrap();
    let sp = ServiceProvider::new(field("sp"), field("acs"), idp, clock).unwrap();
    sp.expect_request(&field("request"), made() + Duration::from_secs(600))
        .unwrap();
    let error = sp
        .consume(&response("encrypted-aes128gcm-signed-response"))
        .unwrap_err();
    assert!(matches!(error, SamlError::Config(_)), "{error}");
    // Another RSA key cannot open it either, and says only that.
    let other = rampart_testing::scratch_dir("saml-other-key");
    let other_key = rampart_testing::openssl_rsa_key(&other, "other");
    let (sp, _) = sp_at(5);
    let sp = sp.with_key(
        SpKey::from_pem(&std::fs::read(other_key).unwrap()).unwrap(),
        false,
    );
    assert_eq!(
        sp.consume(&response("encrypted-aes128gcm-signed-response")),
        Err(SamlError::Decryption)
    );
}

#[test]
fn metadata_without_a_signing_key_is_refused() {
    let error = IdpMetadata::parse(&read("idp-metadata-no-signing-key.xml")).unwrap_err();
    assert!(
        matches!(&error, SamlError::Metadata(why) if why.contains("no signing certificate")),
        "{error}"
    );
    // A KeyDescriptor without `use` serves signing too.
    let idp = IdpMetadata::parse(&read("idp-metadata-unspecified-use.xml")).unwrap();
    assert_eq!(idp.signing_certificates().len(), 1);
    let all = IdpMetadata::parse(&read("idp-metadata.xml")).unwrap();
    assert_eq!(all.signing_certificates().len(), 3);
    assert_eq!(
        all.sso_redirect_url(),
        Some("https://idp.example.test/saml/sso")
    );
}

#[test]
fn hostile_or_stale_metadata_is_refused() {
    let good = read("idp-metadata.xml");
    let with_dtd = good.replacen(
        "<md:EntityDescriptor",
        "<!DOCTYPE md [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><md:EntityDescriptor",
        1,
    );
    assert!(matches!(
        IdpMetadata::parse(&with_dtd),
        Err(SamlError::Malformed(_))
    ));
    let bad_cert = good.replacen("<ds:X509Certificate>", "<ds:X509Certificate>AAAA", 1);
    assert!(matches!(
        IdpMetadata::parse(&bad_cert),
        Err(SamlError::Metadata(_))
    ));
    let no_idp = good.replace("IDPSSODescriptor", "SPSSODescriptor");
    assert!(matches!(
        IdpMetadata::parse(&no_idp),
        Err(SamlError::Metadata(_))
    ));
    let aggregate = format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{}</md:EntitiesDescriptor>",
        good.split_once("?>").unwrap().1
    );
    assert!(matches!(
        IdpMetadata::parse(&aggregate),
        Err(SamlError::Metadata(_))
    ));
    assert!(matches!(
        IdpMetadata::parse(&"x".repeat(rampart_authn::saml::MAX_METADATA_BYTES + 1)),
        Err(SamlError::TooLarge { .. })
    ));
    // Metadata past its validUntil stops every login.
    let expired = good.replacen(
        "entityID=",
        "validUntil=\"2020-01-01T00:00:00Z\" entityID=",
        1,
    );
    let idp = IdpMetadata::parse(&expired).unwrap();
    let clock = Arc::new(ManualClock::new(made()));
    let sp = ServiceProvider::new(field("sp"), field("acs"), idp, clock).unwrap();
    assert_eq!(
        sp.consume(&response("response-signed")),
        Err(SamlError::MetadataExpired)
    );
}

#[test]
fn oversized_or_undecodable_input_is_refused_before_parsing() {
    let sp = sp().with_max_response_bytes(1024);
    assert!(matches!(
        sp.consume(&response("response-signed")),
        Err(SamlError::TooLarge { limit: 1024 })
    ));
    assert_eq!(sp.consume("not base64!"), Err(SamlError::Encoding));
    let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00]);
    assert_eq!(sp.consume(&not_utf8), Err(SamlError::Encoding));
}

#[test]
fn the_authenticator_runs_on_the_blocking_pool_and_maps_errors() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let authenticator = SamlAuthenticator::new(Arc::new(sp()));
    let context = RequestContext::default();
    runtime.block_on(async {
        let ok = authenticator
            .authenticate(
                &SamlPostResponse::new(response("response-signed")),
                &context,
            )
            .await
            .unwrap();
        assert_eq!(
            ok.user.username,
            "https://idp.example.test/saml/metadata#alice@example.test"
        );
        let refused = authenticator
            .authenticate(&SamlPostResponse::new(response("xsw3")), &context)
            .await
            .unwrap_err();
        assert!(matches!(refused, AuthnError::Malformed { .. }));
        let refused = authenticator
            .authenticate(&SamlPostResponse::new(response("wrong-key")), &context)
            .await
            .unwrap_err();
        assert_eq!(refused, AuthnError::InvalidCredentials);
    });
}

#[test]
fn authn_requests_use_the_redirect_binding_and_are_remembered() {
    let (sp, _) = sp_at(5);
    let redirect = sp
        .authn_request(Some("/after-login"), Duration::from_secs(300))
        .unwrap();
    let (endpoint, query) = redirect.url.split_once('?').unwrap();
    assert_eq!(endpoint, "https://idp.example.test/saml/sso");
    let encoded = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("SAMLRequest="))
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(percent_decode(encoded))
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(decoded.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    assert_eq!(xml, redirect.xml);
    assert!(xml.contains(&format!("ID=\"{}\"", redirect.request_id)));
    assert!(xml.contains("AssertionConsumerServiceURL=\"https://rampart.example.test/saml/acs\""));
    assert!(query.contains("RelayState=%2Fafter-login"));
    assert!(!query.contains("Signature="));
    assert_eq!(redirect.request_id.len(), 33);
    let again = sp.authn_request(None, Duration::from_secs(300)).unwrap();
    assert_ne!(again.request_id, redirect.request_id);
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Configuration from a caller cannot make time arithmetic panic: an absurd maximum age is
/// clamped at construction.
#[test]
fn an_absurd_maximum_response_age_is_clamped_and_never_panics() {
    let (sp, _) = sp_at(5);
    let sp = sp.with_max_response_age(Duration::MAX);
    assert!(sp.consume(&response("response-signed")).is_ok());
    let (late, _) = sp_at(2 * 3600);
    let late = late.with_max_response_age(Duration::MAX);
    assert!(late.consume(&response("response-signed")).is_err());
}

/// `response` with the data CipherValue (the last one) passed through `edit`.
fn with_ciphertext(name: &str, edit: impl Fn(&mut Vec<u8>)) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let xml = String::from_utf8(STANDARD.decode(response(name)).unwrap()).unwrap();
    let close = xml.rfind("CipherValue>").unwrap();
    let value_end = xml[..close].rfind('<').unwrap();
    let value_start = xml[..value_end].rfind('>').unwrap() + 1;
    let compact: String = xml[value_start..value_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut bytes = STANDARD.decode(compact).unwrap();
    edit(&mut bytes);
    let edited = format!(
        "{}{}{}",
        &xml[..value_start],
        STANDARD.encode(&bytes),
        &xml[value_end..]
    );
    STANDARD.encode(edited)
}

/// The CBC decryption oracle (Jager–Somorovsky): an unsigned Response whose encrypted
/// assertion no verified signature covers. Refused by default, before any private-key
/// operation; with the dangerous opt-in, all 255 altered IVs give byte-identical errors,
/// so nothing about the plaintext can be learnt from how a response is refused.
#[test]
fn a_cbc_assertion_in_an_unsigned_response_gives_no_decryption_oracle() {
    let name = "encrypted-aes256cbc-signed-assertion";
    let refused = sp().consume(&response(name)).unwrap_err();
    assert!(
        matches!(&refused, SamlError::Algorithm(why) if why.contains("CBC")),
        "{refused}"
    );
    let risky = || {
        sp().with_decryption_policy(DecryptionPolicy {
            danger_cbc_without_signed_envelope: true,
            ..DecryptionPolicy::default()
        })
    };
    assert_eq!(
        risky().consume(&response(name)).unwrap().name_id,
        "alice@example.test"
    );
    let mut seen = std::collections::BTreeSet::new();
    for delta in 1..=255u8 {
        let altered = with_ciphertext(name, |bytes| bytes[0] ^= delta);
        let error = risky().consume(&altered).unwrap_err();
        assert_eq!(error, SamlError::Decryption, "IV byte 0 ^ {delta}");
        seen.insert(format!("{error:?} {error}"));
        // One AuthnError class too: every variant counts as a failed login.
        assert_eq!(
            rampart_core::AuthnError::from(error),
            rampart_core::AuthnError::InvalidCredentials
        );
    }
    assert_eq!(seen.len(), 1, "byte-identical errors: {seen:?}");
    // A ciphertext cut anywhere, or padded wrongly, fails the same way.
    for cut in [1usize, 15, 16, 17, 31] {
        let short = with_ciphertext(name, |bytes| bytes.truncate(bytes.len() - cut));
        assert_eq!(
            risky().consume(&short),
            Err(SamlError::Decryption),
            "cut {cut}"
        );
    }
}

/// At most two EncryptedKeys are tried, and one whose CipherValue is not the modulus
/// long costs no private-key operation: it cannot fit.
#[test]
fn encrypted_keys_are_bounded_in_number_and_size() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    // The envelope is unsigned, so the edit is judged before any signature.
    let name = "encrypted-aes256cbc-signed-assertion";
    let xml = String::from_utf8(STANDARD.decode(response(name)).unwrap()).unwrap();
    let start = xml
        .find("<ns0:EncryptedKey")
        .or_else(|| xml.find("EncryptedKey"))
        .unwrap();
    let start = xml[..start + 1].rfind('<').unwrap();
    let end_tag = xml[start..].find("EncryptedKey>").unwrap() + start;
    let end = xml[end_tag..].find('>').unwrap() + end_tag + 1;
    let key = &xml[start..end];
    let tripled = format!("{}{key}{key}{}", &xml[..end], &xml[end..]);
    let error = sp().consume(&STANDARD.encode(tripled)).unwrap_err();
    assert!(
        matches!(&error, SamlError::Malformed(why) if why.contains("EncryptedKey")),
        "{error}"
    );
}

/// Login CSRF: a response is bound to the browser that started the login. A valid,
/// signed response to someone else's request (pending in the SP, even) is refused when
/// this browser's session names another request; unsolicited ones too, whatever the
/// opt-in says.
#[test]
fn a_response_is_consumed_only_for_the_request_this_browser_started() {
    let (sp, _) = sp_at(5);
    let sp = sp.allow_unsolicited(true);
    // The attacker's own login, started at the same SP: pending, valid, signed.
    sp.expect_request(&field("second_request"), made() + Duration::from_secs(600))
        .unwrap();
    let victims_request = field("request");
    assert_eq!(
        sp.consume_for_request(&response("second-request"), &victims_request),
        Err(SamlError::InResponseTo)
    );
    assert_eq!(
        sp.consume_for_request(&response("unsolicited"), &victims_request),
        Err(SamlError::Unsolicited)
    );
    let login = sp
        .consume_for_request(&response("response-signed"), &victims_request)
        .unwrap();
    assert_eq!(
        login.in_response_to.as_deref(),
        Some(victims_request.as_str())
    );
    // Through the authenticator: the credential carries the session's request ID.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (fresh, _) = sp_at(5);
    let authenticator = SamlAuthenticator::new(Arc::new(fresh));
    let refused = runtime.block_on(authenticator.authenticate(
        // A valid response to the pending request, posted by a browser whose session
        // started another one: refused, though `consume` alone would accept it.
        &SamlPostResponse::new(response("response-signed")).answering(field("second_request")),
        &RequestContext::default(),
    ));
    assert_eq!(refused.unwrap_err(), AuthnError::InvalidCredentials);
    // An empty request ID binds to nothing and is refused; an authenticator that requires
    // binding refuses unbound responses, even a valid one to a pending request.
    assert_eq!(
        sp.consume_for_request(&response("response-signed"), ""),
        Err(SamlError::InResponseTo)
    );
    let (strict, _) = sp_at(5);
    let strict = SamlAuthenticator::new(Arc::new(strict)).require_request_binding(true);
    let unbound = runtime.block_on(strict.authenticate(
        &SamlPostResponse::new(response("response-signed")),
        &RequestContext::default(),
    ));
    assert_eq!(unbound.unwrap_err(), AuthnError::InvalidCredentials);
    // A request made for a session is not remembered by the SP at all.
    let redirect = sp.authn_request_for_session(None);
    assert!(redirect.is_ok() || matches!(redirect, Err(SamlError::Config(_))));
}

/// The global pending set's capacity is configurable; when it is full, new requests are
/// refused but a login already started still completes.
#[test]
fn a_full_pending_set_refuses_new_requests_but_not_logins_in_progress() {
    let (sp, _) = sp_at(5);
    let sp = sp.with_pending_capacity(1);
    sp.expect_request(&field("request"), made() + Duration::from_secs(600))
        .unwrap();
    assert!(matches!(
        sp.expect_request(&field("second_request"), made() + Duration::from_secs(600)),
        Err(SamlError::Config(_))
    ));
    assert!(sp.consume(&response("response-signed")).is_ok());
}

/// Anonymous senders cannot queue unbounded xmlsec and RSA work: beyond the limit a
/// response is refused as overloaded at once, never more run at once than allowed, and
/// the permit is held until the work ends.
#[test]
fn verification_runs_under_a_bounded_concurrency_limit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let authenticator = Arc::new(SamlAuthenticator::with_max_concurrent(
        Arc::new(sp().allow_unsolicited(true)),
        1,
    ));
    let encoded = response("encrypted-aes128gcm-signed-response");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let authenticator = Arc::clone(&authenticator);
                let credential = SamlPostResponse::new(encoded.clone());
                tokio::spawn(async move {
                    authenticator
                        .authenticate(&credential, &RequestContext::default())
                        .await
                })
            })
            .collect();
        let mut overloaded = 0;
        for task in tasks {
            if matches!(task.await.unwrap(), Err(AuthnError::Overloaded)) {
                overloaded += 1;
            }
        }
        assert!(
            overloaded > 0,
            "32 at once against one permit: some are refused"
        );
        assert_eq!(authenticator.peak_running(), 1, "never two at once");
        // Once the work ended, the permit is free again.
        let after = authenticator
            .authenticate(
                &SamlPostResponse::new(encoded.clone()),
                &RequestContext::default(),
            )
            .await;
        assert!(!matches!(after, Err(AuthnError::Overloaded)), "{after:?}");
    });
}
