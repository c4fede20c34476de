//! Audit events and the sink trait every block writes them to (AU-2, AU-3, AU-8, AU-12).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::context::RequestContext;
use crate::error::{AuditError, UnknownAction};
use crate::ticket::AuditTicket;
use crate::time::Timestamp;
use crate::user::UserInfo;

/// The catalogue of audited actions: stable name, stable code, meaning.
///
/// Names and codes never change once released; new actions get new codes. An event's
/// [`Outcome`] says whether the action succeeded, so there is one entry per action, not one
/// per result (Teleport's `T1000I`/`T1000W` pairs become `RA1001` + outcome).
pub const CATALOGUE: &[(Action, &str, &str, &str)] = &[
    (
        Action::AuthnAttempt,
        "authn.attempt",
        "RA1001",
        "a credential was checked; failure reason is the error class",
    ),
    (
        Action::Logout,
        "authn.logout",
        "RA1002",
        "a user ended a session",
    ),
    (
        Action::AuthzDecision,
        "authz.decision",
        "RA2001",
        "an authorization decision; failure means denied or no opinion",
    ),
    (
        Action::LockoutLocked,
        "lockout.locked",
        "RA3001",
        "an account or source was locked after repeated failures",
    ),
    (
        Action::LockoutUnlocked,
        "lockout.unlocked",
        "RA3002",
        "a lock was lifted, by expiry or by an administrator",
    ),
    (
        Action::LockoutRefused,
        "lockout.refused",
        "RA3003",
        "an attempt was refused before any credential check: account locked or source over its limit",
    ),
    (
        Action::SessionCreated,
        "session.created",
        "RA4001",
        "a session was admitted; failure means refused (e.g. concurrent-session limit)",
    ),
    (
        Action::SessionTerminated,
        "session.terminated",
        "RA4002",
        "a session ended: idle, lifetime, logout, evicted or administrator",
    ),
    (
        Action::AccountCreated,
        "account.created",
        "RA5001",
        "a local account was created",
    ),
    (
        Action::AccountUpdated,
        "account.updated",
        "RA5002",
        "a local account's groups or flags changed",
    ),
    (
        Action::AccountDisabled,
        "account.disabled",
        "RA5003",
        "a local account was disabled (by an administrator or for inactivity)",
    ),
    (
        Action::AccountEnabled,
        "account.enabled",
        "RA5004",
        "a local account was enabled",
    ),
    (
        Action::AccountDeleted,
        "account.deleted",
        "RA5005",
        "a local account was deleted",
    ),
    (
        Action::PasswordChanged,
        "account.password_changed",
        "RA5006",
        "a password was set or changed",
    ),
    (
        Action::CertificateIssued,
        "cert.issued",
        "RA6001",
        "a certificate was issued; failure means a request was refused by policy",
    ),
    (
        Action::CertificateRenewed,
        "cert.renewed",
        "RA6002",
        "a certificate was renewed; failure means a renewal attempt failed",
    ),
    (
        Action::CredentialRemoved,
        "cert.removed",
        "RA6003",
        "issued key and certificate files were removed",
    ),
    (
        Action::TokenIssued,
        "token.issued",
        "RA6004",
        "an ID token was minted",
    ),
    (
        Action::PolicyLoaded,
        "policy.loaded",
        "RA7001",
        "an authorization or audit policy was loaded or changed",
    ),
    (
        Action::RequestForwarded,
        "request.forwarded",
        "RA8001",
        "a gateway forwarded an API request upstream",
    ),
    (
        Action::AuditStarted,
        "audit.started",
        "RA9001",
        "an audit writer started or resumed a trail",
    ),
    (
        Action::AuditSealed,
        "audit.sealed",
        "RA9002",
        "an audit file was sealed (rotation or shutdown)",
    ),
    (
        Action::AuditLoss,
        "audit.loss",
        "RA9003",
        "audit events were dropped under the configured overload policy",
    ),
    (
        Action::AuditRetention,
        "audit.retention",
        "RA9004",
        "audit files older than the retention period were removed",
    ),
    (
        Action::AuditHead,
        "audit.head",
        "RA9005",
        "the head (sequence number and chain value) of a trail, published to another sink as an anchor against truncation",
    ),
];

/// Code of every extension action (`x.` names): they are outside the catalogue.
pub const EXTENSION_CODE: &str = "RA0000";
/// Longest accepted extension action name.
pub const MAX_EXTENSION_NAME: usize = 64;

/// What happened. See [`CATALOGUE`] for names, codes and meanings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// `authn.attempt`, RA1001.
    AuthnAttempt,
    /// `authn.logout`, RA1002.
    Logout,
    /// `authz.decision`, RA2001.
    AuthzDecision,
    /// `lockout.locked`, RA3001.
    LockoutLocked,
    /// `lockout.unlocked`, RA3002.
    LockoutUnlocked,
    /// `lockout.refused`, RA3003.
    LockoutRefused,
    /// `session.created`, RA4001.
    SessionCreated,
    /// `session.terminated`, RA4002.
    SessionTerminated,
    /// `account.created`, RA5001.
    AccountCreated,
    /// `account.updated`, RA5002.
    AccountUpdated,
    /// `account.disabled`, RA5003.
    AccountDisabled,
    /// `account.enabled`, RA5004.
    AccountEnabled,
    /// `account.deleted`, RA5005.
    AccountDeleted,
    /// `account.password_changed`, RA5006.
    PasswordChanged,
    /// `cert.issued`, RA6001.
    CertificateIssued,
    /// `cert.renewed`, RA6002.
    CertificateRenewed,
    /// `cert.removed`, RA6003.
    CredentialRemoved,
    /// `token.issued`, RA6004.
    TokenIssued,
    /// `policy.loaded`, RA7001.
    PolicyLoaded,
    /// `request.forwarded`, RA8001.
    RequestForwarded,
    /// `audit.started`, RA9001.
    AuditStarted,
    /// `audit.sealed`, RA9002.
    AuditSealed,
    /// `audit.loss`, RA9003.
    AuditLoss,
    /// `audit.retention`, RA9004.
    AuditRetention,
    /// `audit.head`, RA9005.
    AuditHead,
    /// An action defined by the embedding application: a name starting with `x.` made of
    /// `[a-z0-9._-]`, at most [`MAX_EXTENSION_NAME`] bytes; its code is [`EXTENSION_CODE`].
    Extension(String),
}

impl Action {
    /// The stable name, e.g. `authn.attempt`.
    pub fn name(&self) -> &str {
        match self {
            Action::Extension(name) => name,
            known => catalogue_entry(known).map_or("", |entry| entry.1),
        }
    }

    /// The stable code, e.g. `RA1001`.
    pub fn code(&self) -> &'static str {
        match self {
            Action::Extension(_) => EXTENSION_CODE,
            known => catalogue_entry(known).map_or(EXTENSION_CODE, |entry| entry.2),
        }
    }

    /// Checks a code given beside this action (an event read back, or written by a
    /// script): the one rule for every reader.
    ///
    /// # Errors
    /// [`CodeMismatch`] when `code` is not this action's code.
    pub fn check_code(&self, code: &str) -> Result<(), CodeMismatch> {
        if code == self.code() {
            Ok(())
        } else {
            Err(CodeMismatch {
                code: crate::text::sanitized(code, 16),
                action: self.name().to_owned(),
            })
        }
    }
}

/// A code that is not its action's (see [`Action::check_code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("code `{code}` does not match action `{action}`")]
pub struct CodeMismatch {
    /// The code given, cut to 16 characters and cleaned for display.
    pub code: String,
    /// The action's name.
    pub action: String,
}

fn catalogue_entry(
    action: &Action,
) -> Option<&'static (Action, &'static str, &'static str, &'static str)> {
    CATALOGUE.iter().find(|entry| &entry.0 == action)
}

fn is_valid_extension(name: &str) -> bool {
    name.len() > 2
        && name.len() <= MAX_EXTENSION_NAME
        && name.starts_with("x.")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(entry) = CATALOGUE.iter().find(|entry| entry.1 == name) {
            return Ok(entry.0.clone());
        }
        if is_valid_extension(name) {
            return Ok(Action::Extension(name.to_owned()));
        }
        Err(UnknownAction(
            name.chars().take(MAX_EXTENSION_NAME).collect(),
        ))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether the action succeeded (for a decision: allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action happened / the request was allowed.
    Success,
    /// The action was refused or failed.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// The object an action was about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The kind of object, e.g. `pods`, `account`, `certificate`, `session`.
    pub kind: String,
    /// Its name (e.g. a pod name, an account name, a certificate serial).
    pub name: String,
    /// Its namespace, for namespaced Kubernetes objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Target {
    /// A cluster-scoped or non-Kubernetes target.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Target {
            kind: kind.into(),
            name: name.into(),
            namespace: None,
        }
    }

    /// Sets the namespace.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
}

/// A unique event id: a random (version 4) UUID, the form of Kubernetes' `auditID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(uuid::Uuid);

impl EventId {
    /// A fresh id from the operating system's random number generator.
    pub fn random() -> Self {
        EventId(uuid::Uuid::new_v4())
    }

    /// The 16 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(text).map(EventId)
    }
}

/// One audit record: what happened, when, who, from where, to what, and the outcome (AU-3).
///
/// Its JSON form (one object per line in a file sink) has stable field names:
///
/// ```json
/// {"id":"…uuid…","time":"2026-11-27T11:40:57.123456Z","action":"authn.attempt",
///  "code":"RA1001","outcome":"failure","actor":{"username":"alice"},
///  "source":{"source_ip":"10.0.0.7","user_agent":"kubectl/v1.37.0"},
///  "target":{"kind":"account","name":"alice"},"reason":"invalid_credentials",
///  "details":{"authenticator":"local","credential":"password"}}
/// ```
///
/// `code` is written from `action` and checked against it when read. `source`, `target`,
/// `reason` and `details` are omitted when empty. Never put a secret in any field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireEvent", try_from = "WireEvent")]
#[non_exhaustive]
pub struct AuditEvent {
    /// Unique id.
    pub id: EventId,
    /// When it happened, UTC.
    pub time: Timestamp,
    /// What happened.
    pub action: Action,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Who did it (for a failed login, the claimed username).
    pub actor: UserInfo,
    /// Where the request came from.
    pub source: RequestContext,
    /// What it was done to.
    pub target: Option<Target>,
    /// Why, in a word or a short phrase (for failures: the error class).
    pub reason: Option<String>,
    /// Further structured facts. Never secrets.
    pub details: BTreeMap<String, serde_json::Value>,
}

impl AuditEvent {
    /// A new event with a fresh id, for `time` (read it from the block's [`Clock`](crate::Clock)).
    pub fn new(action: Action, outcome: Outcome, time: impl Into<Timestamp>) -> Self {
        AuditEvent {
            id: EventId::random(),
            time: time.into(),
            action,
            outcome,
            actor: UserInfo::default(),
            source: RequestContext::default(),
            target: None,
            reason: None,
            details: BTreeMap::new(),
        }
    }

    /// Sets who acted.
    pub fn with_actor(mut self, actor: UserInfo) -> Self {
        self.actor = actor;
        self
    }

    /// Sets where the request came from.
    pub fn with_source(mut self, source: RequestContext) -> Self {
        self.source = source;
        self
    }

    /// Sets the target.
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds a detail.
    pub fn with_detail(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent {
    id: EventId,
    time: Timestamp,
    action: Action,
    #[serde(default)]
    code: Option<String>,
    outcome: Outcome,
    #[serde(default)]
    actor: UserInfo,
    #[serde(default, skip_serializing_if = "is_empty_context")]
    source: RequestContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    details: BTreeMap<String, serde_json::Value>,
}

fn is_empty_context(context: &RequestContext) -> bool {
    *context == RequestContext::default()
}

impl From<AuditEvent> for WireEvent {
    fn from(event: AuditEvent) -> Self {
        WireEvent {
            id: event.id,
            time: event.time,
            code: Some(event.action.code().to_owned()),
            action: event.action,
            outcome: event.outcome,
            actor: event.actor,
            source: event.source,
            target: event.target,
            reason: event.reason,
            details: event.details,
        }
    }
}

impl TryFrom<WireEvent> for AuditEvent {
    type Error = String;

    fn try_from(wire: WireEvent) -> Result<Self, Self::Error> {
        if let Some(code) = &wire.code {
            wire.action.check_code(code).map_err(|e| e.to_string())?;
        }
        Ok(AuditEvent {
            id: wire.id,
            time: wire.time,
            action: wire.action,
            outcome: wire.outcome,
            actor: wire.actor,
            source: wire.source,
            target: wire.target,
            reason: wire.reason,
            details: wire.details,
        })
    }
}

/// Where audit events go.
///
/// Two forms of one operation. [`submit`](AuditSink::submit) hands the event over without
/// waiting on disk or network and returns an [`AuditTicket`] that resolves once the event is
/// as safe as the sink promises (a file sink in a durable mode: on disk): async code awaits
/// it, so no runtime worker is ever parked on an fsync. [`record`](AuditSink::record) is the
/// blocking form, for threads. An error from either means the event is **not** recorded; the
/// caller should refuse the action it describes (AU-5, fail closed).
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Hands one event to the sink. Never blocks on I/O: a sink that writes to disk or the
    /// network does so on a thread of its own and answers the ticket from there.
    fn submit(&self, event: AuditEvent) -> AuditTicket;

    /// Records one event, blocking this thread until it is as durable as the sink promises.
    ///
    /// # Errors
    /// [`AuditError`] when the event was not recorded.
    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.submit(event).wait()
    }
}

impl<T: AuditSink + ?Sized> AuditSink for &T {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        (**self).submit(event)
    }

    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        (**self).record(event)
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Box<T> {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        (**self).submit(event)
    }

    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        (**self).record(event)
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        (**self).submit(event)
    }

    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        (**self).record(event)
    }
}

/// A sink shared between blocks.
pub type SharedAuditSink = Arc<dyn AuditSink>;

/// Records every event in every one of its sinks.
///
/// Each sink is tried even when an earlier one failed, so one broken sink never starves
/// the others; `record` then returns the first error, so a caller that fails closed does.
#[derive(Debug, Default, Clone)]
pub struct FanOutSink {
    sinks: Vec<SharedAuditSink>,
}

impl FanOutSink {
    /// A fan-out over `sinks`, in order.
    pub fn new(sinks: Vec<SharedAuditSink>) -> Self {
        FanOutSink { sinks }
    }
}

impl AuditSink for FanOutSink {
    fn submit(&self, event: AuditEvent) -> AuditTicket {
        AuditTicket::all(
            self.sinks
                .iter()
                .map(|sink| sink.submit(event.clone()))
                .collect(),
        )
    }

    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let mut first_error = None;
        for sink in &self.sinks {
            if let Err(error) = sink.record(event.clone()) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(feature = "test-util")]
pub use memory::MemorySink;

#[cfg(feature = "test-util")]
mod memory {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, PoisonError};

    use super::{AuditError, AuditEvent, AuditSink, AuditTicket};

    /// Keeps events in memory so tests can read them back; can be told to fail.
    ///
    /// Available with the `test-util` feature.
    #[derive(Debug, Default)]
    pub struct MemorySink {
        events: Mutex<Vec<AuditEvent>>,
        failing: AtomicBool,
    }

    impl MemorySink {
        /// An empty sink.
        pub fn new() -> Self {
            MemorySink::default()
        }

        /// A copy of the events recorded so far, in order.
        pub fn events(&self) -> Vec<AuditEvent> {
            self.events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }

        /// While `failing`, every `record` returns [`AuditError::Unavailable`] and keeps nothing.
        pub fn set_failing(&self, failing: bool) {
            self.failing.store(failing, Ordering::SeqCst);
        }
    }

    impl AuditSink for MemorySink {
        fn submit(&self, event: AuditEvent) -> AuditTicket {
            if self.failing.load(Ordering::SeqCst) {
                return AuditTicket::ready(Err(AuditError::Unavailable {
                    what: "memory sink set to fail".to_owned(),
                }));
            }
            self.events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event);
            AuditTicket::ready(Ok(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn sample() -> AuditEvent {
        AuditEvent::new(
            Action::AuthnAttempt,
            Outcome::Failure,
            "2026-11-27T11:40:57.123456Z".parse::<Timestamp>().unwrap(),
        )
        .with_actor(UserInfo::new("alice"))
        .with_source(
            RequestContext::new()
                .with_source_ip("10.0.0.7".parse().unwrap())
                .with_user_agent("kubectl/v1.37.0"),
        )
        .with_target(Target::new("account", "alice"))
        .with_reason("invalid_credentials")
        .with_detail("credential", "password")
    }

    #[test]
    fn catalogue_names_and_codes_are_unique_and_stable() {
        let names: HashSet<_> = CATALOGUE.iter().map(|entry| entry.1).collect();
        let codes: HashSet<_> = CATALOGUE.iter().map(|entry| entry.2).collect();
        assert_eq!(names.len(), CATALOGUE.len());
        assert_eq!(codes.len(), CATALOGUE.len());
        for (action, name, code, _) in CATALOGUE {
            assert_eq!(action.name(), *name);
            assert_eq!(action.code(), *code);
            assert_eq!(name.parse::<Action>().unwrap(), *action);
            assert!(code.starts_with("RA") && code.len() == 6 && *code != EXTENSION_CODE);
        }
        // Released codes: changing one of these breaks every SIEM rule built on them.
        assert_eq!(Action::AuthnAttempt.code(), "RA1001");
        assert_eq!(Action::AuthzDecision.code(), "RA2001");
        assert_eq!(Action::LockoutLocked.code(), "RA3001");
        assert_eq!(Action::AuditLoss.code(), "RA9003");
        // Every variant but extensions is in the catalogue.
        for (action, _, _, _) in CATALOGUE {
            assert!(!action.name().is_empty());
        }
        assert_eq!(Action::AuditRetention.name(), "audit.retention");
    }

    #[test]
    fn extension_actions_are_namespaced() {
        let action: Action = "x.backup.completed".parse().unwrap();
        assert_eq!(action.code(), EXTENSION_CODE);
        assert_eq!(action.to_string(), "x.backup.completed");
        for bad in [
            "backup",
            "x.",
            "x.Upper",
            "x.sp ace",
            "authn.unknown",
            "x.\n",
        ] {
            assert!(bad.parse::<Action>().is_err(), "{bad:?}");
        }
        assert!(
            format!("x.{}", "a".repeat(MAX_EXTENSION_NAME))
                .parse::<Action>()
                .is_err()
        );
    }

    #[test]
    fn json_form_has_the_documented_field_names() {
        let event = sample();
        let json: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(json["action"], "authn.attempt");
        assert_eq!(json["code"], "RA1001");
        assert_eq!(json["outcome"], "failure");
        assert_eq!(json["time"], "2026-11-27T11:40:57.123456Z");
        assert_eq!(json["actor"]["username"], "alice");
        assert_eq!(json["source"]["source_ip"], "10.0.0.7");
        assert_eq!(json["target"]["kind"], "account");
        assert_eq!(json["details"]["credential"], "password");
        let back: AuditEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn wrong_code_or_unknown_field_is_refused() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json["code"] = "RA2001".into();
        assert!(serde_json::from_value::<AuditEvent>(json.clone()).is_err());
        json["code"] = "RA1001".into();
        json["password"] = "leak".into();
        assert!(serde_json::from_value::<AuditEvent>(json).is_err());
    }

    #[test]
    fn a_code_is_checked_against_its_action_and_shown_bounded_and_clean() {
        assert!(Action::AuthnAttempt.check_code("RA1001").is_ok());
        assert!(
            Action::Extension("x.backup".into())
                .check_code(EXTENSION_CODE)
                .is_ok()
        );
        let error = Action::AuthnAttempt
            .check_code(&format!("RA2001\u{202e}{}", "9".repeat(100)))
            .unwrap_err();
        assert_eq!(error.action, "authn.attempt");
        assert!(error.code.chars().count() <= 16 && !error.code.contains('\u{202e}'));
    }

    #[test]
    fn ids_are_unique() {
        let ids: HashSet<_> = (0..1000).map(|_| EventId::random()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn fan_out_tries_every_sink_and_reports_the_failure() {
        let healthy = Arc::new(MemorySink::new());
        let broken = Arc::new(MemorySink::new());
        broken.set_failing(true);
        let fan_out = FanOutSink::new(vec![broken.clone(), healthy.clone()]);
        assert!(matches!(
            fan_out.record(sample()),
            Err(AuditError::Unavailable { .. })
        ));
        assert_eq!(healthy.events().len(), 1);
        assert!(broken.events().is_empty());
        broken.set_failing(false);
        fan_out.record(sample()).unwrap();
        assert_eq!((healthy.events().len(), broken.events().len()), (2, 1));
    }
}
