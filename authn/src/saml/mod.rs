//! A SAML 2.0 Web SSO service provider (IA-2, IA-8): IdP metadata, AuthnRequests over the
//! HTTP-Redirect binding, and the assertion consumer for HTTP-POST.
//!
//! samael (through xmlsec) does exactly one thing here: verify XML signatures against the
//! IdP's metadata certificates and reduce the document to what those signatures cover. Every
//! decision after that is made in `ServiceProvider::check` with the injected clock, and
//! nothing samael parsed is believed until it passed. Before xmlsec sees a byte, a
//! streaming pass (`guard`) refuses DTDs, comments, CDATA, processing instructions and
//! oversized or over-deep documents, and a Response must hold exactly one assertion
//! (encrypted or not) anywhere in the document, which leaves signature-wrapping attacks
//! nowhere to hide a second one.

mod decrypt;
mod guard;
mod metadata;
mod one_time;
mod request;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rampart_core::{
    Authenticated, Authenticator, AuthnError, AuthnFuture, RequestContext, SamlPostResponse,
    SharedClock, UserInfo,
};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};
use samael::schema::{Assertion, Response};
use serde_json::{Map, Value};

use crate::oidc::ClaimMapping;

pub use decrypt::{DecryptionPolicy, SpKey};
pub use metadata::{IdpMetadata, MAX_METADATA_BYTES, SpMetadata};
pub use one_time::{MemoryReplayCache, ReplayCache};
pub use request::{AuthnRedirect, MAX_RELAY_STATE_BYTES};

/// The largest base64 `SAMLResponse` accepted by default (256 KiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// The default allowance for clocks that disagree.
pub const DEFAULT_SAML_SKEW: Duration = Duration::from_secs(60);
/// The default age beyond which an `IssueInstant` is too old.
pub const DEFAULT_MAX_RESPONSE_AGE: Duration = Duration::from_secs(300);
/// The longest IssueInstant age the builder accepts: a response is a login in progress,
/// not a credential to keep.
pub const MAX_RESPONSE_AGE: Duration = Duration::from_secs(3600);

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// The claim name the NameID is known by in a [`ClaimMapping`].
pub const NAME_ID_CLAIM: &str = "name_id";

/// Signature algorithms xmlsec may accept: RSA and ECDSA with SHA-2. SHA-1 never.
const ALLOWED_SIGNATURES: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Why a SAML response, metadata document or configuration was refused. Messages name the
/// rule that failed and never repeat assertion contents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlError {
    /// The service provider is configured wrongly.
    #[error("SAML configuration: {0}")]
    Config(String),
    /// The IdP metadata cannot be used.
    #[error("IdP metadata: {0}")]
    Metadata(String),
    /// The IdP metadata's `validUntil` has passed.
    #[error("IdP metadata expired")]
    MetadataExpired,
    /// Larger than the configured bound.
    #[error("SAML message larger than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// Not base64, or not UTF-8 inside.
    #[error("SAMLResponse is not base64-encoded UTF-8")]
    Encoding,
    /// Not the XML a SAML response is.
    #[error("malformed SAML: {0}")]
    Malformed(String),
    /// No signature at all.
    #[error("the response and its assertion are unsigned")]
    Unsigned,
    /// A signature did not verify with any IdP signing certificate, used an algorithm
    /// outside the allow-list, or did not cover the assertion consumed.
    #[error("signature verification failed")]
    Signature,
    /// An algorithm that is refused (SHA-1, RSA PKCS#1 v1.5 key transport, 3DES, ...).
    #[error("refused algorithm: {0}")]
    Algorithm(String),
    /// The encrypted assertion could not be decrypted. One message for every cause.
    #[error("encrypted assertion could not be decrypted")]
    Decryption,
    /// The IdP answered with a status other than Success.
    #[error("IdP status is not Success: {0}")]
    Status(String),
    /// Response or assertion issued by another entity.
    #[error("issuer is not the configured IdP")]
    Issuer,
    /// The response was sent to another endpoint.
    #[error("Destination is not this ACS URL")]
    Destination,
    /// The assertion is meant for another service provider, or names none.
    #[error("audience restriction missing or not this SP")]
    Audience,
    /// No bearer confirmation names this ACS URL as its Recipient.
    #[error("no bearer SubjectConfirmation for this ACS URL")]
    Recipient,
    /// InResponseTo names no request this SP is waiting for.
    #[error("InResponseTo does not match a pending request")]
    InResponseTo,
    /// An IdP-initiated response, not allowed by configuration.
    #[error("unsolicited response not allowed")]
    Unsolicited,
    /// Past NotOnOrAfter, or issued too long ago.
    #[error("assertion expired")]
    Expired,
    /// Before NotBefore, or issued in the future.
    #[error("assertion not yet valid")]
    NotYetValid,
    /// This assertion was consumed before.
    #[error("assertion replayed")]
    Replayed,
    /// The replay cache is full of live entries; refusing is safer than forgetting.
    #[error("replay cache full")]
    ReplayCacheFull,
    /// The verified assertion does not name a Kubernetes user under the mapping.
    #[error("identity mapping: {0}")]
    Mapping(String),
}

impl From<SamlError> for AuthnError {
    fn from(error: SamlError) -> Self {
        match error {
            SamlError::Expired => AuthnError::Expired,
            SamlError::TooLarge { .. } | SamlError::Encoding | SamlError::Malformed(_) => {
                AuthnError::Malformed {
                    what: "SAML response".into(),
                }
            }
            SamlError::ReplayCacheFull => AuthnError::Overloaded,
            SamlError::Config(what) => AuthnError::Internal { what },
            SamlError::Metadata(_) | SamlError::MetadataExpired => AuthnError::Unavailable {
                backend: "saml-idp-metadata".into(),
            },
            _ => AuthnError::InvalidCredentials,
        }
    }
}

/// The IdP's `SessionNotOnOrAfter`: a session the IdP has already ended is not started
/// here (with the same small skew as the other times).
fn session_still_open(
    not_on_or_after: Option<SystemTime>,
    now: SystemTime,
    skew: Duration,
) -> Result<(), SamlError> {
    match not_on_or_after {
        Some(until) if until.checked_add(skew).is_some_and(|limit| limit <= now) => {
            Err(SamlError::Expired)
        }
        _ => Ok(()),
    }
}

/// Which request a response must answer.
#[derive(Clone, Copy, Debug)]
enum Answering<'a> {
    /// Any request in the SP's global pending set (each answered once), or none when
    /// unsolicited responses are allowed.
    AnyPending,
    /// Exactly this request, whose ID the caller kept in the session of the browser that
    /// started the login: a response started by someone else is refused (login CSRF).
    Request(&'a str),
}

/// A verified SAML login.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SamlLogin {
    /// The subject's NameID value.
    pub name_id: String,
    /// The request this response answered (`InResponseTo`), `None` when unsolicited.
    pub in_response_to: Option<String>,
    /// The NameID's Format, when given.
    pub name_id_format: Option<String>,
    /// Attributes by their `Name`, values in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The Kubernetes user under the configured mapping.
    pub user: UserInfo,
    /// The assertion's ID (now in the replay cache).
    pub assertion_id: String,
    /// The IdP's SessionIndex, for logout.
    pub session_index: Option<String>,
    /// The IdP's SessionNotOnOrAfter: a session built on this login must end by then.
    pub session_not_on_or_after: Option<SystemTime>,
}

/// A SAML 2.0 service provider trusting one IdP.
pub struct ServiceProvider {
    entity_id: String,
    acs_url: String,
    idp: IdpMetadata,
    idp_certs: Vec<CertificateDer>,
    key: Option<SpKey>,
    sign_requests: bool,
    decryption: DecryptionPolicy,
    skew: Duration,
    max_age: Duration,
    max_response_bytes: usize,
    allow_unsolicited: bool,
    mapping: ClaimMapping,
    replay: Arc<dyn ReplayCache>,
    pending: one_time::PendingRequests,
    clock: SharedClock,
}

impl fmt::Debug for ServiceProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceProvider")
            .field("entity_id", &self.entity_id)
            .field("acs_url", &self.acs_url)
            .field("idp", &self.idp.entity_id())
            .field("allow_unsolicited", &self.allow_unsolicited)
            .finish_non_exhaustive()
    }
}

impl ServiceProvider {
    /// A service provider `entity_id` receiving responses at `acs_url` from `idp`, with an
    /// in-memory replay cache of 100,000 assertion IDs.
    ///
    /// # Errors
    /// An empty entity ID or an ACS URL that is not https (loopback http is allowed for
    /// development).
    pub fn new(
        entity_id: impl Into<String>,
        acs_url: impl Into<String>,
        idp: IdpMetadata,
        clock: SharedClock,
    ) -> Result<Self, SamlError> {
        let entity_id = entity_id.into();
        let acs_url = acs_url.into();
        if entity_id.trim().is_empty() {
            return Err(SamlError::Config("the SP entity ID is empty".into()));
        }
        if !request::is_acceptable_endpoint(&acs_url) {
            return Err(SamlError::Config(
                "the ACS URL must be https (http only on loopback)".into(),
            ));
        }
        let idp_certs = idp
            .signing_certificates()
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        Ok(ServiceProvider {
            entity_id,
            acs_url,
            idp,
            idp_certs,
            key: None,
            sign_requests: false,
            decryption: DecryptionPolicy::default(),
            skew: DEFAULT_SAML_SKEW,
            max_age: DEFAULT_MAX_RESPONSE_AGE,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_unsolicited: false,
            mapping: ClaimMapping::default().username_claim(NAME_ID_CLAIM),
            replay: Arc::new(MemoryReplayCache::new(100_000)),
            pending: one_time::PendingRequests::new(10_000),
            clock,
        })
    }

    /// The SP's RSA key: decrypts encrypted assertions and, with `sign_requests`, signs
    /// AuthnRequests.
    pub fn with_key(mut self, key: SpKey, sign_requests: bool) -> Self {
        self.key = Some(key);
        self.sign_requests = sign_requests;
        self
    }

    /// Content-encryption algorithms beyond AES (3DES).
    pub fn with_decryption_policy(mut self, policy: DecryptionPolicy) -> Self {
        self.decryption = policy;
        self
    }

    /// Clock skew allowance (at most five minutes).
    pub fn with_skew(mut self, skew: Duration) -> Self {
        self.skew = skew.min(Duration::from_secs(300));
        self
    }

    /// How old an IssueInstant may be (at most [`MAX_RESPONSE_AGE`]).
    pub fn with_max_response_age(mut self, age: Duration) -> Self {
        self.max_age = age.min(MAX_RESPONSE_AGE);
        self
    }

    /// The largest base64 SAMLResponse accepted.
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Accept IdP-initiated responses (no InResponseTo). Off by default: they cannot be
    /// bound to a browser session and invite login CSRF.
    pub fn allow_unsolicited(mut self, allow: bool) -> Self {
        self.allow_unsolicited = allow;
        self
    }

    /// How the NameID ([`NAME_ID_CLAIM`]) and attributes become a Kubernetes user. Attributes
    /// appear as claims under their Name: one value as a string, several as a list.
    /// The default: the NameID, prefixed with the IdP's entity ID and `#`.
    pub fn with_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// A shared replay cache (several SP instances must share one).
    pub fn with_replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.replay = cache;
        self
    }

    /// The IdP this SP trusts.
    pub fn idp(&self) -> &IdpMetadata {
        &self.idp
    }

    /// This SP's entity ID.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// This SP's ACS URL.
    pub fn acs_url(&self) -> &str {
        &self.acs_url
    }

    /// Waits for a response to request `id` (issued elsewhere) until `until`.
    ///
    /// # Errors
    /// Too many requests pending.
    pub fn expect_request(&self, id: &str, until: SystemTime) -> Result<(), SamlError> {
        self.pending.remember(id, until, self.clock.now())
    }

    /// Checks one base64 `SAMLResponse` (HTTP-POST binding). CPU-bound (xmlsec): call it
    /// from a blocking thread; the [`Authenticator`] implementation does.
    ///
    /// # Errors
    /// Every failed rule has its own [`SamlError`].
    pub fn consume(&self, encoded: &str) -> Result<SamlLogin, SamlError> {
        let xml = self.decode_response(encoded)?;
        self.consume_xml(&xml)
    }

    /// [`consume`](Self::consume) for the decoded XML.
    ///
    /// # Errors
    /// As for `consume`.
    pub fn consume_xml(&self, xml: &str) -> Result<SamlLogin, SamlError> {
        self.consume_answering(xml, Answering::AnyPending)
    }

    /// Checks one base64 `SAMLResponse` that must answer `request_id` — the ID of the
    /// AuthnRequest this browser started, kept by the caller in that browser's session
    /// (see [`ServiceProvider::authn_request_for_session`]). A response to any other
    /// request, or an unsolicited one, is refused whatever the other settings say, so an
    /// attacker cannot log a victim's browser in as the attacker (login CSRF). The global
    /// pending set is not consulted; the caller forgets the ID once used, and the replay
    /// cache refuses the same assertion twice.
    ///
    /// # Errors
    /// As for [`consume`](Self::consume); [`SamlError::InResponseTo`] for another request.
    pub fn consume_for_request(
        &self,
        encoded: &str,
        request_id: &str,
    ) -> Result<SamlLogin, SamlError> {
        // An empty ID would bind the response to nothing.
        if request_id.is_empty() {
            return Err(SamlError::InResponseTo);
        }
        let xml = self.decode_response(encoded)?;
        self.consume_answering(&xml, Answering::Request(request_id))
    }

    fn decode_response(&self, encoded: &str) -> Result<String, SamlError> {
        if encoded.len() > self.max_response_bytes {
            return Err(SamlError::TooLarge {
                limit: self.max_response_bytes,
            });
        }
        let bytes = decode_base64(encoded).ok_or(SamlError::Encoding)?;
        String::from_utf8(bytes).map_err(|_| SamlError::Encoding)
    }

    fn consume_answering(
        &self,
        xml: &str,
        answering: Answering<'_>,
    ) -> Result<SamlLogin, SamlError> {
        let now = self.clock.now();
        if self.idp.valid_until().is_some_and(|until| now >= until) {
            return Err(SamlError::MetadataExpired);
        }
        let shape = guard::inspect(xml)?;
        if !shape.root_is(guard::PROTOCOL_NS, b"Response") {
            return Err(SamlError::Malformed(
                "the root is not a SAML Response".into(),
            ));
        }
        // Untrusted: read only to refuse (status, destination, issuer, age).
        let envelope: Envelope = quick_xml::de::from_str(xml)
            .map_err(|_| SamlError::Malformed("not a SAML 2.0 Response".into()))?;
        // First, so that an IdP error (which carries no assertion) says what the IdP said.
        check_status(&envelope)?;
        if shape.assertions + shape.encrypted_assertions != 1 {
            return Err(SamlError::Malformed(
                "a response must carry exactly one assertion".into(),
            ));
        }
        refuse_weak_signature_algorithms(&shape.signature_algorithms)?;
        let (assertion, response_signed) = self.verified_assertion(xml, &shape)?;
        self.check(&envelope, response_signed, &assertion, answering, now)
    }

    /// The assertion as signed by the IdP, and whether the whole Response was signed.
    fn verified_assertion(
        &self,
        xml: &str,
        shape: &guard::Shape,
    ) -> Result<(Assertion, bool), SamlError> {
        if shape.signatures == 0 {
            if shape.encrypted_assertions == 1 {
                return self.verified_unsigned_envelope(xml);
            }
            return Err(SamlError::Unsigned);
        }
        let reduced = self.reduce_to_signed(xml)?;
        let reduced_shape = guard::inspect(&reduced)?;
        if reduced_shape.root_is(guard::PROTOCOL_NS, b"Response") {
            let assertion = match (reduced_shape.assertions, reduced_shape.encrypted_assertions) {
                (1, 0) => reduced
                    .parse::<Response>()
                    .map_err(|_| SamlError::Malformed("signed Response is not SAML".into()))?
                    .assertion
                    .ok_or(SamlError::Signature)?,
                (0, 1) => parse_assertion(&self.decrypt(&reduced)?)?,
                _ => return Err(SamlError::Signature),
            };
            Ok((assertion, true))
        } else if reduced_shape.root_is(ASSERTION_NS, b"Assertion") {
            Ok((parse_assertion(&reduced)?, false))
        } else {
            // A signature over something else (an Extensions element, a Status...).
            Err(SamlError::Signature)
        }
    }

    /// An encrypted assertion in an unsigned response: no signature covers its ciphertext,
    /// so CBC is refused before any private-key operation unless the caller accepted the
    /// danger, and then every failure from unwrapping the key through the inner signature
    /// is the one [`SamlError::Decryption`] — no padding or parsing oracle.
    fn verified_unsigned_envelope(&self, xml: &str) -> Result<(Assertion, bool), SamlError> {
        let key = self.sp_key()?;
        let prepared = decrypt::prepare(xml, key, self.decryption)?;
        if prepared.is_cbc() && !self.decryption.danger_cbc_without_signed_envelope {
            return Err(SamlError::Algorithm(
                "a CBC-encrypted assertion in an unsigned Response is refused (malleable ciphertext): sign the Response or encrypt with AES-GCM".into(),
            ));
        }
        let plaintext = decrypt::open(&prepared, key).ok_or(SamlError::Decryption)?;
        let verified = self.verified_standalone_assertion(&plaintext);
        if prepared.is_cbc() {
            // Malleable: how the altered plaintext fails must not show.
            verified.map_err(|_| SamlError::Decryption)
        } else {
            // AES-GCM authenticated the plaintext: its failures may say what they are.
            verified
        }
    }

    fn sp_key(&self) -> Result<&SpKey, SamlError> {
        self.key.as_ref().ok_or_else(|| {
            SamlError::Config("an encrypted assertion arrived and the SP has no key".into())
        })
    }

    /// A decrypted assertion from an unsigned response: it must be signed itself.
    fn verified_standalone_assertion(&self, xml: &str) -> Result<(Assertion, bool), SamlError> {
        let shape = guard::inspect(xml)?;
        if !shape.root_is(ASSERTION_NS, b"Assertion") || shape.assertions != 1 {
            return Err(SamlError::Decryption);
        }
        if shape.signatures == 0 {
            return Err(SamlError::Unsigned);
        }
        refuse_weak_signature_algorithms(&shape.signature_algorithms)?;
        let reduced = self.reduce_to_signed(xml)?;
        let reduced_shape = guard::inspect(&reduced)?;
        if !reduced_shape.root_is(ASSERTION_NS, b"Assertion") {
            return Err(SamlError::Signature);
        }
        Ok((parse_assertion(&reduced)?, false))
    }

    /// xmlsec verifies every signature with the metadata certificates and the allowed
    /// algorithms, and keeps only what they cover (no unsigned ancestors).
    ///
    /// One certificate at a time: given several, samael stops at the first whose key type
    /// does not fit the signature (an RSA certificate before the ECDSA one that signed)
    /// instead of trying the next.
    fn reduce_to_signed(&self, xml: &str) -> Result<String, SamlError> {
        self.idp_certs
            .iter()
            .find_map(|cert| {
                XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
                    xml,
                    std::slice::from_ref(cert),
                    ReduceMode::ValidateAndMarkNoAncestors,
                    Some(&ALLOWED_SIGNATURES),
                )
                .ok()
            })
            .ok_or(SamlError::Signature)
    }

    /// Decrypts an assertion whose ciphertext a verified signature covers.
    fn decrypt(&self, xml: &str) -> Result<String, SamlError> {
        decrypt::decrypt_assertion(xml, self.sp_key()?, self.decryption)
    }

    /// Every rule a verified assertion and its (possibly unsigned) envelope must meet (the
    /// IdP's Status was checked before the signature); the one place a SAML login is decided.
    fn check(
        &self,
        envelope: &Envelope,
        response_signed: bool,
        assertion: &Assertion,
        answering: Answering<'_>,
        now: SystemTime,
    ) -> Result<SamlLogin, SamlError> {
        // The envelope: unsigned fields may only ever make us refuse.
        if envelope.version != "2.0" || assertion.version != "2.0" {
            return Err(SamlError::Malformed("SAML version is not 2.0".into()));
        }
        match envelope.destination.as_deref() {
            Some(destination) if destination != self.acs_url => {
                return Err(SamlError::Destination);
            }
            None if response_signed => return Err(SamlError::Destination),
            _ => {}
        }
        if let Some(issuer) = &envelope.issuer
            && (issuer.value.as_deref() != Some(self.idp.entity_id())
                || issuer.format.as_deref().is_some_and(|f| f != ENTITY_FORMAT))
        {
            return Err(SamlError::Issuer);
        }
        let issued = chrono::DateTime::parse_from_rfc3339(&envelope.issue_instant)
            .map_err(|_| SamlError::Malformed("IssueInstant is not a date-time".into()))?;
        self.check_instant(issued.into(), now)?;

        // The assertion, as signed.
        if assertion.issuer.value.as_deref() != Some(self.idp.entity_id())
            || assertion
                .issuer
                .format
                .as_deref()
                .is_some_and(|f| f != ENTITY_FORMAT)
        {
            return Err(SamlError::Issuer);
        }
        self.check_instant(assertion.issue_instant.into(), now)?;
        let conditions = assertion.conditions.as_ref().ok_or(SamlError::Audience)?;
        if conditions
            .not_before
            .is_some_and(|t| SystemTime::from(t) > now + self.skew)
        {
            return Err(SamlError::NotYetValid);
        }
        let conditions_until = conditions.not_on_or_after.map(SystemTime::from);
        if conditions_until.is_some_and(|t| t + self.skew <= now) {
            return Err(SamlError::Expired);
        }
        let restrictions = conditions
            .audience_restrictions
            .as_deref()
            .unwrap_or_default();
        let for_us = !restrictions.is_empty()
            && restrictions
                .iter()
                .all(|r| r.audience.contains(&self.entity_id));
        if !for_us {
            return Err(SamlError::Audience);
        }
        let subject = assertion
            .subject
            .as_ref()
            .ok_or_else(|| SamlError::Malformed("assertion has no Subject".into()))?;
        let name_id = subject
            .name_id
            .as_ref()
            .filter(|n| !n.value.trim().is_empty())
            .ok_or_else(|| SamlError::Malformed("Subject has no NameID".into()))?;
        let name = name_id.value.trim();
        let authn_statement = assertion
            .authn_statements
            .as_deref()
            .and_then(<[_]>::first)
            .ok_or_else(|| SamlError::Malformed("assertion has no AuthnStatement".into()))?;

        // Bearer confirmation: for this ACS, unexpired, answering a request we made.
        let mut first_error = SamlError::Recipient;
        let mut confirmed: Option<(Option<String>, SystemTime)> = None;
        for confirmation in subject.subject_confirmations.as_deref().unwrap_or_default() {
            if confirmation.method.as_deref() != Some(BEARER) {
                continue;
            }
            let Some(data) = &confirmation.subject_confirmation_data else {
                continue;
            };
            if data.recipient.as_deref() != Some(self.acs_url.as_str()) {
                continue;
            }
            let Some(not_on_or_after) = data.not_on_or_after.map(SystemTime::from) else {
                continue;
            };
            if not_on_or_after + self.skew <= now {
                first_error = SamlError::Expired;
                continue;
            }
            if data
                .not_before
                .is_some_and(|t| SystemTime::from(t) > now + self.skew)
            {
                first_error = SamlError::NotYetValid;
                continue;
            }
            confirmed = Some((data.in_response_to.clone(), not_on_or_after));
            break;
        }
        let (in_response_to, confirmation_until) = confirmed.ok_or(first_error)?;
        if envelope.in_response_to.is_some() && envelope.in_response_to != in_response_to {
            return Err(SamlError::InResponseTo);
        }

        let (attributes, user) = self.identity(name, assertion)?;

        // Last, the two one-time steps: answer a pending request, and never twice.
        match (answering, in_response_to.as_deref()) {
            (Answering::Request(expected), Some(request_id)) => {
                if request_id != expected {
                    return Err(SamlError::InResponseTo);
                }
            }
            (Answering::Request(_), None) => return Err(SamlError::Unsolicited),
            (Answering::AnyPending, Some(request_id)) => {
                if !self.pending.take(request_id, now) {
                    return Err(SamlError::InResponseTo);
                }
            }
            (Answering::AnyPending, None) if self.allow_unsolicited => {}
            (Answering::AnyPending, None) => return Err(SamlError::Unsolicited),
        }
        // Remembered for as long as any part of the assertion could still be accepted.
        let replay_until =
            conditions_until.map_or(confirmation_until, |t| t.max(confirmation_until)) + self.skew;
        self.replay.first_use(&assertion.id, replay_until, now)?;

        let session_not_on_or_after = authn_statement.session_not_on_or_after.map(Into::into);
        session_still_open(session_not_on_or_after, now, self.skew)?;

        Ok(SamlLogin {
            name_id: name.to_owned(),
            in_response_to,
            name_id_format: name_id.format.clone(),
            attributes,
            user,
            assertion_id: assertion.id.clone(),
            session_index: authn_statement.session_index.clone(),
            session_not_on_or_after,
        })
    }

    /// IssueInstant no older than the maximum age and not in the future.
    fn check_instant(&self, issued: SystemTime, now: SystemTime) -> Result<(), SamlError> {
        if issued > now + self.skew {
            return Err(SamlError::NotYetValid);
        }
        let oldest = self.max_age.saturating_add(self.skew);
        if issued.checked_add(oldest).is_some_and(|limit| limit < now) {
            return Err(SamlError::Expired);
        }
        Ok(())
    }

    /// The attributes by Name and the user the mapping makes of them.
    fn identity(
        &self,
        name_id: &str,
        assertion: &Assertion,
    ) -> Result<(BTreeMap<String, Vec<String>>, UserInfo), SamlError> {
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for statement in assertion
            .attribute_statements
            .as_deref()
            .unwrap_or_default()
        {
            for attribute in &statement.attributes {
                let Some(name) = attribute.name.clone() else {
                    continue;
                };
                let values = attributes.entry(name).or_default();
                values.extend(attribute.values.iter().filter_map(|v| v.value.clone()));
            }
        }
        let mut claims: Map<String, Value> = attributes
            .iter()
            .map(|(name, values)| {
                let value = match values.as_slice() {
                    [one] => Value::String(one.clone()),
                    many => Value::Array(many.iter().cloned().map(Value::String).collect()),
                };
                (name.clone(), value)
            })
            .collect();
        claims.insert(NAME_ID_CLAIM.into(), Value::String(name_id.to_owned()));
        let user = self
            .mapping
            .user(&claims, self.idp.entity_id())
            .map_err(|error| SamlError::Mapping(error.to_string()))?;
        Ok((attributes, user))
    }

    /// An AuthnRequest for the IdP's HTTP-Redirect endpoint; its ID is remembered as
    /// pending for `lifetime`.
    ///
    /// # Errors
    /// The IdP has no HTTP-Redirect endpoint, signing failed, or too many are pending.
    pub fn authn_request(
        &self,
        relay_state: Option<&str>,
        lifetime: Duration,
    ) -> Result<AuthnRedirect, SamlError> {
        let now = self.clock.now();
        let redirect = request::redirect(self, relay_state, self.request_signer(), now)?;
        self.pending
            .remember(&redirect.request_id, now + lifetime, now)?;
        Ok(redirect)
    }

    /// An AuthnRequest whose ID the caller keeps in the session of the browser it
    /// redirects, and passes to [`ServiceProvider::consume_for_request`]: nothing is
    /// remembered by the SP, so no global capacity can run out.
    ///
    /// # Errors
    /// The IdP has no HTTP-Redirect endpoint, or signing failed.
    pub fn authn_request_for_session(
        &self,
        relay_state: Option<&str>,
    ) -> Result<AuthnRedirect, SamlError> {
        request::redirect(self, relay_state, self.request_signer(), self.clock.now())
    }

    /// The key AuthnRequests are signed with, when they are signed.
    fn request_signer(&self) -> Option<&SpKey> {
        self.key.as_ref().filter(|_| self.sign_requests)
    }

    /// How many AuthnRequests the global pending set holds at most (default 10,000).
    /// When it is full of live requests, new [`ServiceProvider::authn_request`]s are
    /// refused; logins already started still complete.
    pub fn with_pending_capacity(mut self, capacity: usize) -> Self {
        self.pending = one_time::PendingRequests::new(capacity.max(1));
        self
    }

    /// This SP's metadata document.
    pub fn metadata(&self) -> SpMetadata {
        SpMetadata::new(&self.entity_id, &self.acs_url)
    }
}

/// The parts of a `samlp:Response` checked outside the assertion, read leniently (samael's
/// own `Response` type cannot hold every EncryptedAssertion layout real IdPs send).
#[derive(Debug, serde::Deserialize)]
struct Envelope {
    #[serde(rename = "@Version")]
    version: String,
    #[serde(rename = "@IssueInstant")]
    issue_instant: String,
    #[serde(rename = "@Destination")]
    destination: Option<String>,
    #[serde(rename = "@InResponseTo")]
    in_response_to: Option<String>,
    #[serde(rename = "Issuer")]
    issuer: Option<samael::schema::Issuer>,
    #[serde(rename = "Status")]
    status: Option<samael::schema::Status>,
}

/// The SAML 2.0 assertion namespace.
const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";

/// Base64 as XML carries it: line breaks and other ASCII white space allowed, anything
/// else non-base64 refused.
pub(crate) fn decode_base64(value: &str) -> Option<Vec<u8>> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// The IdP said Success; a Response without a Status is malformed.
fn check_status(envelope: &Envelope) -> Result<(), SamlError> {
    let status = envelope
        .status
        .as_ref()
        .ok_or_else(|| SamlError::Malformed("Response has no Status".into()))?;
    match status.status_code.value.as_deref() {
        Some(SUCCESS) => Ok(()),
        other => Err(SamlError::Status(shown(other.unwrap_or("(none)")))),
    }
}

/// Text taken from a document, fit for an error message (which may reach logs and audit
/// events): at most 100 characters, control characters replaced, so a hostile document
/// can neither flood a log nor forge lines in it.
pub(crate) fn shown(untrusted: &str) -> String {
    const MAX_CHARS: usize = 100;
    let mut out: String = untrusted
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if untrusted.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// SHA-1 anywhere in a signature gets its own error (xmlsec's allow-list would refuse it
/// too, but only as "signature verification failed").
fn refuse_weak_signature_algorithms(algorithms: &[String]) -> Result<(), SamlError> {
    if let Some(weak) = algorithms
        .iter()
        .find(|a| a.contains("sha1") || a.ends_with("md5"))
    {
        return Err(SamlError::Algorithm(format!("{} is refused", shown(weak))));
    }
    Ok(())
}

fn parse_assertion(xml: &str) -> Result<Assertion, SamlError> {
    xml.parse()
        .map_err(|_| SamlError::Malformed("assertion is not well-formed SAML".into()))
}

/// A [`ServiceProvider`] as an [`Authenticator`] of HTTP-POST responses; verification runs
/// on tokio's blocking pool (xmlsec is CPU-bound C).
///
/// Verification (and RSA decryption, for encrypted assertions) runs for anonymous senders,
/// so at most a bounded number run at once: beyond it a response is refused as
/// [`AuthnError::Overloaded`] at once rather than queued, as local password hashing is.
#[derive(Clone, Debug)]
pub struct SamlAuthenticator {
    sp: Arc<ServiceProvider>,
    require_binding: bool,
    permits: Arc<tokio::sync::Semaphore>,
    running: Arc<(
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    )>,
}

impl SamlAuthenticator {
    /// Wraps a service provider, verifying at most as many responses at once as the
    /// machine has cores.
    pub fn new(sp: Arc<ServiceProvider>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        SamlAuthenticator::with_max_concurrent(sp, cores)
    }

    /// Wraps a service provider, verifying at most `max` responses at once (at least one).
    pub fn with_max_concurrent(sp: Arc<ServiceProvider>, max: usize) -> Self {
        SamlAuthenticator {
            sp,
            require_binding: false,
            permits: Arc::new(tokio::sync::Semaphore::new(max.max(1))),
            running: Arc::default(),
        }
    }

    /// Refuse every response whose credential is not bound to the request its browser
    /// started ([`SamlPostResponse::answering`]): no response is checked against the
    /// global pending set, so login CSRF is impossible whatever the caller forgets.
    pub fn require_request_binding(mut self, require: bool) -> Self {
        self.require_binding = require;
        self
    }

    /// The most verifications that ever ran at once.
    pub fn peak_running(&self) -> usize {
        self.running.1.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Counts a verification as ended however it ends.
struct DecrementOnDrop<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for DecrementOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Authenticator<SamlPostResponse> for SamlAuthenticator {
    fn authenticate<'a>(
        &'a self,
        credential: &'a SamlPostResponse,
        _context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        let sp = Arc::clone(&self.sp);
        let encoded = credential.encoded().to_owned();
        let request_id = credential.request_id().map(str::to_owned);
        let unbound_refused = self.require_binding && request_id.is_none();
        let permits = Arc::clone(&self.permits);
        let running = Arc::clone(&self.running);
        Box::pin(async move {
            if unbound_refused {
                return Err(SamlError::InResponseTo.into());
            }
            let permit = permits
                .try_acquire_owned()
                .map_err(|_| AuthnError::Overloaded)?;
            // The permit moves into the job: it is held until the work really ends.
            let login = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                use std::sync::atomic::Ordering::SeqCst;
                let now = running.0.fetch_add(1, SeqCst) + 1;
                running.1.fetch_max(now, SeqCst);
                let _done = DecrementOnDrop(&running.0);
                match request_id {
                    Some(request_id) => sp.consume_for_request(&encoded, &request_id),
                    None => sp.consume(&encoded),
                }
            })
            .await
            .map_err(|_| AuthnError::Internal {
                what: "SAML verification task failed".into(),
            })??;
            let authenticated = Authenticated::new(login.user);
            Ok(match login.session_not_on_or_after {
                Some(until) => authenticated.expiring_at(until),
                None => authenticated,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;

    /// Without the one-assertion rule, the signature layer alone still never yields the
    /// attacker's assertion from any of the eight wrapping families: it fails, or returns
    /// the signed original.
    #[test]
    fn a_session_the_idp_already_ended_is_not_started() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let skew = Duration::from_secs(60);
        assert_eq!(session_still_open(None, now, skew), Ok(()));
        let ended = now - Duration::from_secs(61);
        assert_eq!(
            session_still_open(Some(ended), now, skew),
            Err(SamlError::Expired)
        );
        let within_skew = now - Duration::from_secs(30);
        assert_eq!(session_still_open(Some(within_skew), now, skew), Ok(()));
        assert_eq!(session_still_open(Some(now + skew), now, skew), Ok(()));
    }

    #[test]
    fn document_text_in_errors_is_bounded_and_single_line() {
        assert_eq!(shown("urn:x:Responder"), "urn:x:Responder");
        assert_eq!(shown("a\nforged: line\r"), "a?forged: line?");
        let long = shown(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), 101);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn signature_reduction_alone_defeats_every_wrapping_family() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let idp = IdpMetadata::parse(&read("idp-metadata.xml")).unwrap();
        let sp = ServiceProvider::new(
            "https://rampart.example.test/saml/metadata",
            "https://rampart.example.test/saml/acs",
            idp,
            rampart_core::SystemClock::shared(),
        )
        .unwrap();
        for family in 1..=8 {
            let encoded = read(&format!("xsw{family}.b64"));
            let xml = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .unwrap(),
            )
            .unwrap();
            // The guard and the one-assertion rule refuse every family before xmlsec;
            // this test skips both on purpose.
            assert!(
                xml.matches("Assertion ").count() >= 2,
                "xsw{family} carries the evil assertion"
            );
            let shape = guard::Shape {
                signatures: 1,
                assertions: 2,
                ..guard::Shape::default()
            };
            match sp.verified_assertion(&xml, &shape) {
                Err(_) => {}
                Ok((assertion, _)) => {
                    let name = assertion.subject.unwrap().name_id.unwrap().value;
                    assert_eq!(name, "alice@example.test", "xsw{family}");
                }
            }
        }
    }
}
