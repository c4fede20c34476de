//! The errors shared by every rampart block.
//!
//! Messages are lowercase, carry no secret and no credential material: they may be logged
//! and may reach an end user.

use std::time::Duration;

/// Why an authentication attempt did not produce an identity.
///
/// The variants are the classes a caller must treat differently. Only
/// [`AuthnError::InvalidCredentials`] counts towards lockout; it is returned alike for an
/// unknown user, a disabled user and a wrong secret, so it never tells whether an account
/// exists. The detail a security team needs goes to the audit event, not into this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// The credential was checked and is not good: unknown user, wrong secret, bad
    /// signature, disabled account. Deliberately one variant.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account or source is locked after too many failures.
    #[error("account locked")]
    Locked {
        /// How long until another attempt may succeed, when the lock is temporary.
        retry_after: Option<Duration>,
    },
    /// The credential was valid once and has expired (token, certificate, password).
    #[error("credential expired")]
    Expired,
    /// The credential could not be parsed; `what` names the shape that was wrong and never
    /// repeats the input.
    #[error("malformed credential: {what}")]
    Malformed {
        /// Which part of the credential was malformed (e.g. `token header`).
        what: String,
    },
    /// This authenticator does not handle this credential (e.g. a token from another
    /// issuer); a union authenticator asks the next one.
    #[error("credential not recognised by this authenticator")]
    NotApplicable,
    /// A backend the check needs (identity provider, account store) did not answer.
    /// Never counted as a failed login.
    #[error("authentication backend `{backend}` unavailable")]
    Unavailable {
        /// Which backend, by its configured name.
        backend: String,
    },
    /// Too many checks are running; the caller should answer "try later" (HTTP 429/503).
    #[error("too many authentication attempts in progress")]
    Overloaded,
    /// A bug or an unexpected state; the caller must deny.
    #[error("internal authentication error: {what}")]
    Internal {
        /// A description for operators, without secrets.
        what: String,
    },
}

/// The class of an [`AuthnError`], with a stable code for audit events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthnErrorKind {
    /// See [`AuthnError::InvalidCredentials`].
    InvalidCredentials,
    /// See [`AuthnError::Locked`].
    Locked,
    /// See [`AuthnError::Expired`].
    Expired,
    /// See [`AuthnError::Malformed`].
    Malformed,
    /// See [`AuthnError::NotApplicable`].
    NotApplicable,
    /// See [`AuthnError::Unavailable`].
    Unavailable,
    /// See [`AuthnError::Overloaded`].
    Overloaded,
    /// See [`AuthnError::Internal`].
    Internal,
}

impl AuthnErrorKind {
    /// The stable snake_case code, as written in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthnErrorKind::InvalidCredentials => "invalid_credentials",
            AuthnErrorKind::Locked => "locked",
            AuthnErrorKind::Expired => "expired",
            AuthnErrorKind::Malformed => "malformed",
            AuthnErrorKind::NotApplicable => "not_applicable",
            AuthnErrorKind::Unavailable => "unavailable",
            AuthnErrorKind::Overloaded => "overloaded",
            AuthnErrorKind::Internal => "internal",
        }
    }
}

impl AuthnError {
    /// The class of this error.
    pub fn kind(&self) -> AuthnErrorKind {
        match self {
            AuthnError::InvalidCredentials => AuthnErrorKind::InvalidCredentials,
            AuthnError::Locked { .. } => AuthnErrorKind::Locked,
            AuthnError::Expired => AuthnErrorKind::Expired,
            AuthnError::Malformed { .. } => AuthnErrorKind::Malformed,
            AuthnError::NotApplicable => AuthnErrorKind::NotApplicable,
            AuthnError::Unavailable { .. } => AuthnErrorKind::Unavailable,
            AuthnError::Overloaded => AuthnErrorKind::Overloaded,
            AuthnError::Internal { .. } => AuthnErrorKind::Internal,
        }
    }

    /// Whether a lockout policy counts this as a failed attempt (AC-7).
    ///
    /// Only a credential that was checked and found bad counts: an outage, overload or a
    /// credential another authenticator handles must never lock anybody out.
    pub fn counts_as_failed_attempt(&self) -> bool {
        matches!(self, AuthnError::InvalidCredentials)
    }

    /// Shorthand for [`AuthnError::Malformed`].
    pub fn malformed(what: impl Into<String>) -> Self {
        AuthnError::Malformed { what: what.into() }
    }

    /// Shorthand for [`AuthnError::Unavailable`].
    pub fn unavailable(backend: impl Into<String>) -> Self {
        AuthnError::Unavailable {
            backend: backend.into(),
        }
    }

    /// Shorthand for [`AuthnError::Internal`].
    pub fn internal(what: impl Into<String>) -> Self {
        AuthnError::Internal { what: what.into() }
    }
}

/// Why an audit sink could not take an event.
///
/// A caller that gets this error for an event describing an action it is about to allow
/// must refuse the action (AU-5, fail closed) unless its policy says otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The sink cannot write now (disk full, collector down, read-only file system).
    #[error("audit sink unavailable: {what}")]
    Unavailable {
        /// What failed, for operators.
        what: String,
    },
    /// The sink's bounded queue is full and its policy is to refuse rather than wait.
    #[error("audit queue full")]
    Overloaded,
    /// The sink was shut down.
    #[error("audit sink closed")]
    Closed,
    /// The event was dropped under a drop-on-overload policy; the loss is counted and
    /// recorded as an `audit.loss` event when the sink recovers.
    #[error("audit event dropped under the overload policy")]
    Dropped,
    /// The event itself cannot be recorded (e.g. too large).
    #[error("audit event refused: {what}")]
    Invalid {
        /// Why, for operators.
        what: String,
    },
    /// An I/O error from the storage under the sink.
    #[error("audit i/o error")]
    Io(#[from] std::io::Error),
}

/// Why a text could not be read as an RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not an RFC 3339 date-time.
    #[error("not an RFC 3339 date-time")]
    Syntax,
    /// The fields are well formed but name no instant between years 1 and 9999.
    #[error("date-time out of range")]
    OutOfRange,
}

/// Why a SubjectAccessReview spec does not describe one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// Neither or both of `resourceAttributes` and `nonResourceAttributes` were given.
    #[error("exactly one of `resourceAttributes` and `nonResourceAttributes` must be set")]
    AttributesNotExactlyOne,
    /// Neither `user` nor `groups` was given.
    #[error("at least one of `user` and `groups` must be set")]
    NoSubject,
}

/// Why an action name is not in the audit catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action `{0}`; extensions must start with `x.` and use [a-z0-9._-]")]
pub struct UnknownAction(pub String);
