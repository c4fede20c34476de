#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod audit;
mod authn;
mod authz;
mod clock;
mod context;
mod credential;
mod error;
pub mod fs;
#[cfg(feature = "keys")]
pub mod keys;
mod review;
mod secret;
mod text;
mod ticket;
mod time;
mod user;
#[cfg(feature = "x509")]
mod x509;

#[cfg(feature = "test-util")]
pub use audit::MemorySink;
pub use audit::{
    Action, AuditEvent, AuditSink, CATALOGUE, CodeMismatch, EXTENSION_CODE, EventId, FanOutSink,
    MAX_EXTENSION_NAME, Outcome, SharedAuditSink, Target,
};
pub use authn::{
    Audited, Authenticated, AuthenticatedGroup, Authenticator, AuthnFuture,
    MAX_CLAIMED_USERNAME_CHARS, UnionAuthenticator, bounded_claim,
};
pub use authz::{
    Attributes, Authorizer, Decision, NonResourceAttributes, ResourceAttributes, UnionAuthorizer,
};
#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, FixedClock, SharedClock, SystemClock};
pub use context::{MAX_REQUEST_ID_CHARS, MAX_USER_AGENT_CHARS, RequestContext};
pub use credential::{
    BearerToken, ClientCertificateChain, Credential, CredentialKind, PasswordCredential,
    SamlPostResponse,
};
pub use error::{
    AuditError, AuthnError, AuthnErrorKind, ReviewError, TimestampError, UnknownAction,
};
#[cfg(feature = "keys")]
pub use keys::{KeyAlgorithm, KeyError, PrivateKey, PublicKeyParts};
pub use review::{SubjectAccessReviewSpec, SubjectAccessReviewStatus, TokenReviewStatus};
pub use secret::SecretString;
pub use text::{escape_for_display, is_deceptive_char, sanitized};
pub use ticket::{AuditCompleter, AuditFuture, AuditResult, AuditTicket};
pub use time::Timestamp;
pub use user::UserInfo;
#[cfg(feature = "x509")]
pub use x509::{
    CertificateSubject, MAX_SUBJECT_ATTRIBUTE_BYTES, SubjectError, certificate_allows_client_auth,
};
