//! Which rampart events are recorded (AU-12: selectable events), by action and outcome.

use std::sync::Arc;

use rampart_core::{AuditError, AuditEvent, AuditSink, AuditTicket, Outcome};
use serde::Deserialize;

use crate::error::Error;

/// One rule: the first rule whose actions and outcomes match decides.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    /// Action names, or prefixes ending in `.*` (`authn.*`); empty matches every action.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Outcomes; empty matches both.
    #[serde(default)]
    pub outcomes: Vec<Outcome>,
    /// Whether matching events are recorded.
    pub record: bool,
}

/// A policy over rampart's own events. Events about the trail itself (`audit.*`) are always
/// recorded, whatever the rules say: a policy cannot hide losses, seals or restarts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPolicy {
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<EventRule>,
    /// What happens to events no rule matches (default: recorded).
    #[serde(default = "record_by_default")]
    pub default_record: bool,
}

fn record_by_default() -> bool {
    true
}

impl Default for EventPolicy {
    /// Records everything.
    fn default() -> Self {
        EventPolicy {
            rules: Vec::new(),
            default_record: true,
        }
    }
}

impl EventRule {
    fn matches(&self, event: &AuditEvent) -> bool {
        let name = event.action.name();
        let action = self.actions.is_empty()
            || self
                .actions
                .iter()
                .any(|pattern| match pattern.strip_suffix(".*") {
                    Some(prefix) => name
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('.')),
                    None => pattern == name,
                });
        action && (self.outcomes.is_empty() || self.outcomes.contains(&event.outcome))
    }
}

impl EventPolicy {
    /// Reads a policy from YAML or JSON.
    ///
    /// # Errors
    /// Malformed policy text.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        serde_saphyr::from_str(text).map_err(|e| Error::parse("event policy", e))
    }

    /// Whether `event` is recorded.
    pub fn records(&self, event: &AuditEvent) -> bool {
        if event.action.name().starts_with("audit.") {
            return true;
        }
        self.rules
            .iter()
            .find(|rule| rule.matches(event))
            .map_or(self.default_record, |rule| rule.record)
    }
}

/// A sink that passes on only the events its policy records.
#[derive(Debug)]
pub struct Filtered<S> {
    policy: EventPolicy,
    inner: Arc<S>,
}

impl<S> Filtered<S> {
    /// Filters what reaches `inner`.
    pub fn new(policy: EventPolicy, inner: Arc<S>) -> Self {
        Filtered { policy, inner }
    }
}

impl<S: AuditSink> AuditSink for Filtered<S> {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        if self.policy.records(&event) {
            self.inner.submit(event)
        } else {
            AuditTicket::ready(Ok(()))
        }
    }

    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        if self.policy.records(&event) {
            self.inner.record(event)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::{Action, MemorySink, Timestamp};

    fn event(action: Action, outcome: Outcome) -> AuditEvent {
        AuditEvent::new(action, outcome, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn first_match_wins_and_trail_events_always_pass() {
        let policy = EventPolicy::from_yaml(
            "rules:\n- {actions: [authz.decision], outcomes: [success], record: false}\n- {actions: [authn.*], record: true}\n- {record: false}\n",
        )
        .unwrap();
        assert!(!policy.records(&event(Action::AuthzDecision, Outcome::Success)));
        assert!(
            !policy.records(&event(Action::AuthzDecision, Outcome::Failure)),
            "falls to the catch-all"
        );
        assert!(policy.records(&event(Action::AuthnAttempt, Outcome::Success)));
        assert!(policy.records(&event(Action::Logout, Outcome::Success)));
        assert!(
            policy.records(&event(Action::AuditLoss, Outcome::Failure)),
            "audit.* is never filtered"
        );
        assert!(EventPolicy::from_yaml("rules: [{record: false, typo: 1}]").is_err());
        assert!(
            EventPolicy::default().records(&event(Action::CertificateIssued, Outcome::Success))
        );

        let sink = Arc::new(MemorySink::new());
        let filtered = Filtered::new(policy, sink.clone());
        filtered
            .record(event(Action::AuthzDecision, Outcome::Success))
            .unwrap();
        filtered
            .record(event(Action::AuthnAttempt, Outcome::Failure))
            .unwrap();
        assert_eq!(sink.events().len(), 1);
    }
}
