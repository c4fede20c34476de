//! certs records its own events: every certificate a CA issues or refuses, CA creation and
//! credential removal, naming the actor; a certificate that cannot be recorded is never
//! returned.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::sync::Arc;
use std::time::Duration;

use rampart_certs::{
    AltNames, Candidate, CertAudit, CertError, CertificateAuthority, CertificateSubject,
    KeyAlgorithm, LeafRequest, SigningPolicy, Usage, remove_credentials,
};
use rampart_core::{Action, ManualClock, MemorySink, Outcome, UserInfo};

fn audited_ca(sink: &Arc<MemorySink>) -> CertificateAuthority {
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    CertificateAuthority::create_root(
        &CertificateSubject::new("audited root"),
        Duration::from_secs(86_400),
        KeyAlgorithm::EcdsaP256,
        clock.clone(),
    )
    .unwrap()
    .audit_to(CertAudit::new(
        sink.clone(),
        clock,
        UserInfo::new("issuer-admin"),
    ))
}

fn candidate(cn: &str, ttl: Duration) -> Candidate {
    Candidate {
        subject: CertificateSubject::new(cn),
        alt_names: AltNames::default(),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        usage: Usage::Client,
        ttl,
    }
}

#[test]
fn issues_and_refusals_are_recorded_with_the_actor() {
    let sink = Arc::new(MemorySink::new());
    let ca = audited_ca(&sink);
    ca.record_creation().unwrap();
    let key = rampart_certs::PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let (_, issued) = ca
        .issue_judged(
            &candidate("alice", Duration::from_secs(600)),
            &SigningPolicy::default(),
            key.public_key_info().unwrap(),
        )
        .unwrap();
    let refused = ca.issue_judged(
        &candidate("mallory", Duration::from_secs(400 * 86_400)),
        &SigningPolicy::default(),
        key.public_key_info().unwrap(),
    );
    assert!(matches!(refused, Err(CertError::Refused(_))), "{refused:?}");

    let events = sink.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.action == Action::CertificateIssued && e.actor.username == "issuer-admin")
    );
    assert_eq!(
        events[0].target.as_ref().unwrap().kind,
        "certificate authority"
    );
    assert_eq!(events[1].outcome, Outcome::Success);
    assert_eq!(events[1].target.as_ref().unwrap().name, "alice");
    let serial: String = issued.serial.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(events[1].details["serial"], serial.as_str());
    assert_eq!(events[2].outcome, Outcome::Failure);
    assert_eq!(events[2].target.as_ref().unwrap().name, "mallory");
    assert!(events[2].reason.as_deref().unwrap().contains("refused"));
}

#[test]
fn a_certificate_that_cannot_be_recorded_is_never_returned() {
    let sink = Arc::new(MemorySink::new());
    let ca = audited_ca(&sink);
    sink.set_failing(true);
    let request = LeafRequest {
        subject: CertificateSubject::new("alice"),
        alt_names: AltNames::default(),
        usage: Usage::Client,
        ttl: Duration::from_secs(600),
    };
    assert!(matches!(
        ca.issue_with_new_key(&request, KeyAlgorithm::EcdsaP256),
        Err(CertError::Unaudited)
    ));
}

#[test]
fn removing_credentials_is_recorded() {
    let sink = Arc::new(MemorySink::new());
    let dir = rampart_testing::scratch_dir("certs-audit-remove");
    let key = dir.join("alice.key");
    std::fs::write(&key, "not really a key").unwrap();
    let audit = CertAudit::new(
        sink.clone(),
        Arc::new(ManualClock::at_unix(1_800_000_000)),
        UserInfo::new("offboarding"),
    );
    remove_credentials(&[&key], &audit).unwrap();
    assert!(!key.exists());
    let event = sink.events().pop().unwrap();
    assert_eq!(event.action, Action::CredentialRemoved);
    assert_eq!(event.actor.username, "offboarding");
    assert_eq!(event.details["files"][0], key.display().to_string());
}

/// What a certificate grants is in its event: the groups (O) and names of an X.509 leaf,
/// the principals and options of an SSH certificate, and an intermediate CA is recorded
/// as issued by its parent.
#[test]
fn events_name_what_was_granted() {
    let sink = Arc::new(MemorySink::new());
    let ca = audited_ca(&sink);
    let key = rampart_certs::PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let mut asked = candidate("alice", Duration::from_secs(600));
    asked.subject = CertificateSubject::new("alice").with_organizations(["dev", "ops"]);
    asked.usage = Usage::Server;
    asked.alt_names.dns = vec!["alice.example.test".into()];
    ca.issue_judged(
        &asked,
        &SigningPolicy::default().dns_suffixes([".example.test"]),
        key.public_key_info().unwrap(),
    )
    .unwrap();
    let leaf = sink.events().pop().unwrap();
    assert_eq!(
        leaf.details["organizations"],
        serde_json::json!(["dev", "ops"])
    );
    assert_eq!(
        leaf.details["dns"],
        serde_json::json!(["alice.example.test"])
    );

    let intermediate = ca
        .create_intermediate(
            &CertificateSubject::new("issuing"),
            Duration::from_secs(3600),
            KeyAlgorithm::EcdsaP256,
            None,
        )
        .unwrap();
    let event = sink.events().pop().unwrap();
    let target = event.target.unwrap();
    assert_eq!(target.kind, "certificate authority");
    assert!(target.name.contains("issuing"), "{}", target.name);
    drop(intermediate);
    sink.set_failing(true);
    assert!(matches!(
        ca.create_intermediate(
            &CertificateSubject::new("unrecorded"),
            Duration::from_secs(3600),
            KeyAlgorithm::EcdsaP256,
            None
        ),
        Err(CertError::Unaudited)
    ));
}
