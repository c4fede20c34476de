//! What certs records (AU-2, AU-12): every certificate a CA issues or refuses, every SSH
//! certificate, CA creation, and the removal of issued credentials — each naming who asked.
//! A certificate whose issuance cannot be recorded is not handed out (AU-5, fail closed).

use std::path::Path;
use std::time::SystemTime;

use rampart_core::{
    Action, AuditEvent, Outcome, SharedAuditSink, SharedClock, Target, Timestamp, UserInfo,
};

use crate::error::CertError;

/// Where certificate events go, and the actor they name.
///
/// Certificate operations are synchronous (signing is CPU work; run them off async
/// workers), so events are recorded with the sink's blocking form.
#[derive(Clone, Debug)]
pub struct CertAudit {
    sink: SharedAuditSink,
    clock: SharedClock,
    actor: UserInfo,
}

impl CertAudit {
    /// Records in `sink`, timed by `clock`, with `actor` as who asked.
    pub fn new(sink: SharedAuditSink, clock: SharedClock, actor: UserInfo) -> Self {
        CertAudit { sink, clock, actor }
    }

    /// The same trail with another actor (one per request in a signing service).
    pub fn acting_as(&self, actor: UserInfo) -> Self {
        CertAudit {
            actor,
            ..self.clone()
        }
    }

    fn event(&self, action: Action, outcome: Outcome, kind: &str, subject: &str) -> AuditEvent {
        AuditEvent::new(action, outcome, self.clock.now())
            .with_actor(self.actor.clone())
            .with_target(Target::new(kind, subject))
    }

    fn record(&self, event: AuditEvent) -> Result<(), CertError> {
        self.sink.record(event).map_err(|_| CertError::Unaudited)
    }

    /// `cert.issued`, success: a certificate of `kind` for `subject` was signed.
    pub(crate) fn issued(
        &self,
        kind: &str,
        subject: &str,
        serial_hex: &str,
        not_after: SystemTime,
        granted: Vec<(&'static str, serde_json::Value)>,
    ) -> Result<(), CertError> {
        let mut event = self
            .event(Action::CertificateIssued, Outcome::Success, kind, subject)
            .with_detail("serial", serial_hex)
            .with_detail("not_after", Timestamp::from(not_after).to_string());
        for (key, value) in granted {
            event = event.with_detail(key, value);
        }
        self.record(event)
    }

    /// `cert.issued`, failure: the signing policy refused a request. The refusal stands
    /// whether or not it could be recorded.
    pub(crate) fn refused(&self, kind: &str, subject: &str, error: &CertError) {
        let _ = self.record(
            self.event(Action::CertificateIssued, Outcome::Failure, kind, subject)
                .with_reason(error.to_string()),
        );
    }

    /// `cert.removed`: issued key and certificate files were overwritten and removed.
    pub(crate) fn removed(&self, paths: &[&Path]) -> Result<(), CertError> {
        if paths.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let subject = names.first().cloned().unwrap_or_default();
        self.record(
            self.event(
                Action::CredentialRemoved,
                Outcome::Success,
                "credential",
                &subject,
            )
            .with_detail("files", names),
        )
    }
}

/// What an X.509 certificate grants beyond its CN: the organisations (Kubernetes groups),
/// the uid, and every alternative name.
pub(crate) fn subject_details(
    subject: &rampart_core::CertificateSubject,
    alt_names: &crate::AltNames,
) -> Vec<(&'static str, serde_json::Value)> {
    let mut details = vec![("organizations", serde_json::json!(subject.organizations))];
    if let Some(uid) = &subject.uid {
        details.push(("uid", serde_json::json!(uid)));
    }
    for (key, names) in [
        ("dns", &alt_names.dns),
        ("uris", &alt_names.uris),
        ("emails", &alt_names.emails),
    ] {
        if !names.is_empty() {
            details.push((key, serde_json::json!(names)));
        }
    }
    if !alt_names.ips.is_empty() {
        let ips: Vec<String> = alt_names.ips.iter().map(ToString::to_string).collect();
        details.push(("ips", serde_json::json!(ips)));
    }
    details
}
