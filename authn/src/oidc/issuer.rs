//! An OIDC token issuer (the Dex role, IA-2, IA-8): short-lived ID tokens for a user who
//! authenticated any way (SAML, upstream OIDC, a local password), signed with ring, and the
//! discovery and JWKS documents a kube-apiserver configured with `--oidc-issuer-url` (or a
//! structured `AuthenticationConfiguration`) reads.
//!
//! - ES256 by default; ES384, RS256 and EdDSA with imported or generated keys, all
//!   rampart's one [`PrivateKey`] type (the certificate authority's too).
//! - `kid` is the key's RFC 7638 thumbprint.
//! - [`TokenIssuer::rotate`] makes a new key active at once and keeps publishing the old one
//!   until every token it signed has expired (its retirement is `now + max_ttl`), so a
//!   verifier that caches the JWKS never sees a token whose key it cannot find.
//! - Tokens carry `iss`, `sub` (the username), `aud`, `exp`, `iat`, `nbf`, a random `jti`,
//!   `groups`, `uid` when known, and `nonce` when asked.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_core::{
    Action, AuditEvent, Clock, Outcome, SharedAuditSink, SharedClock, Target, Timestamp, UserInfo,
};
use rampart_core::{KeyAlgorithm, PrivateKey, PublicKeyParts};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

use crate::oidc::jose::{Algorithm, TokenError};

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The key is not usable for the algorithm, or cannot be generated.
    #[error("issuer key: {0}")]
    Key(#[source] KeyProblem),
    /// The request is outside what this issuer issues.
    #[error("refused: {0}")]
    Refused(String),
    /// Signing failed.
    #[error("signing failed")]
    Signing,
    /// The token was signed but its `token.issued` event could not be recorded, so it
    /// was not handed out.
    #[error("the token could not be audited")]
    Unaudited,
}

/// What is wrong with an issuer key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The key could not be made or read.
    #[error(transparent)]
    Key(#[from] rampart_core::KeyError),
    /// The key is not of the kind the algorithm signs with.
    #[error("not a key for {0}")]
    Mismatch(Algorithm),
    /// The algorithm's keys are imported (ring cannot generate RSA keys).
    #[error("{0} keys are imported, not generated")]
    NotGenerated(Algorithm),
    /// The algorithm is not offered for issuing (tokens say `EdDSA`, not `Ed25519`: the
    /// name every verifier knows).
    #[error("{0} is not offered for issuing")]
    NotOffered(Algorithm),
    /// The key could not be handed to jsonwebtoken in the form it reads.
    #[error("the key cannot be prepared for signing")]
    Encoding,
}

/// One signing key: rampart's one key type ([`PrivateKey`], shared with the certificate
/// authority), the form jsonwebtoken signs with, and the public JWK with its thumbprint.
pub struct IssuerKey {
    algorithm: Algorithm,
    encoding: jsonwebtoken::EncodingKey,
    kid: String,
    jwk: Value,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl IssuerKey {
    /// A new key from the system RNG: ES256, ES384 or EdDSA (ring cannot generate RSA keys;
    /// import one with [`IssuerKey::new`]).
    ///
    /// # Errors
    /// RSA, or the RNG failed.
    pub fn generate(alg: Algorithm) -> Result<Self, IssueError> {
        let kind = match alg {
            Algorithm::ES256 => KeyAlgorithm::EcdsaP256,
            Algorithm::ES384 => KeyAlgorithm::EcdsaP384,
            Algorithm::EdDSA => KeyAlgorithm::Ed25519,
            Algorithm::Ed25519 => return Err(IssueError::Key(KeyProblem::NotOffered(alg))),
            other => return Err(IssueError::Key(KeyProblem::NotGenerated(other))),
        };
        let key = PrivateKey::generate(kind).map_err(|error| IssueError::Key(error.into()))?;
        Self::new(key)
    }

    /// The token-signing key for `key`: P-256 signs ES256, P-384 ES384, Ed25519 EdDSA, RSA
    /// (2048 bits or more) RS256.
    ///
    /// # Errors
    /// The key cannot be prepared for signing.
    pub fn new(key: PrivateKey) -> Result<Self, IssueError> {
        let (algorithm, jwk) = match (key.algorithm(), key.public_key_parts()) {
            (KeyAlgorithm::EcdsaP256, PublicKeyParts::EcPoint(point)) => {
                (Algorithm::ES256, ec_jwk("P-256", &point, 32))
            }
            (KeyAlgorithm::EcdsaP384, PublicKeyParts::EcPoint(point)) => {
                (Algorithm::ES384, ec_jwk("P-384", &point, 48))
            }
            (KeyAlgorithm::Ed25519, PublicKeyParts::Ed25519(x)) => (
                Algorithm::EdDSA,
                json!({"crv": "Ed25519", "kty": "OKP", "x": b64(&x)}),
            ),
            (KeyAlgorithm::Rsa { .. }, PublicKeyParts::Rsa { n, e }) => (
                Algorithm::RS256,
                json!({"e": b64(&e), "kty": "RSA", "n": b64(&n)}),
            ),
            _ => return Err(IssueError::Key(KeyProblem::Encoding)),
        };
        // RFC 7638: SHA-256 over the required members, lexicographic, no whitespace;
        // serde_json's maps are ordered by key, and `json!` wrote only those members.
        let thumbprint = ring::digest::digest(&ring::digest::SHA256, jwk.to_string().as_bytes());
        let kid = b64(thumbprint.as_ref());
        let mut jwk = jwk;
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(kid.clone()));
            members.insert("alg".into(), Value::String(algorithm.name().into()));
            members.insert("use".into(), Value::String("sig".into()));
        }
        let encoding = encoding_key(algorithm, key.pkcs8_der())?;
        Ok(IssuerKey {
            algorithm,
            encoding,
            kid,
            jwk,
        })
    }

    /// A key from PKCS#8 DER that must sign `alg`.
    ///
    /// # Errors
    /// Not a key ring reads, or not one for `alg`.
    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, IssueError> {
        let key =
            PrivateKey::from_pkcs8_der(pkcs8).map_err(|error| IssueError::Key(error.into()))?;
        let issuer_key = Self::new(key)?;
        if alg == Algorithm::Ed25519 {
            return Err(IssueError::Key(KeyProblem::NotOffered(alg)));
        }
        if issuer_key.algorithm != alg {
            return Err(IssueError::Key(KeyProblem::Mismatch(alg)));
        }
        Ok(issuer_key)
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public JWK.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The JWS algorithm as jsonwebtoken names it.
    fn jws_algorithm(&self) -> jsonwebtoken::Algorithm {
        match self.algorithm {
            Algorithm::ES384 => jsonwebtoken::Algorithm::ES384,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            _ => jsonwebtoken::Algorithm::ES256,
        }
    }
}

/// An EC JWK from an uncompressed point of coordinates `size` bytes long.
fn ec_jwk(curve: &str, point: &[u8], size: usize) -> Value {
    let x = point.get(1..=size).unwrap_or_default();
    let y = point.get(size + 1..=2 * size).unwrap_or_default();
    json!({"crv": curve, "kty": "EC", "x": b64(x), "y": b64(y)})
}

/// The private key as jsonwebtoken's providers read it: PKCS#8 for EC and Ed25519, the
/// PKCS#1 key inside the PKCS#8 for RSA (what its own PEM reader produces).
fn encoding_key(alg: Algorithm, pkcs8: &[u8]) -> Result<jsonwebtoken::EncodingKey, IssueError> {
    match alg {
        Algorithm::RS256 => {
            let pem = zeroize::Zeroizing::new(format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(pkcs8)
            ));
            jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|_| IssueError::Key(KeyProblem::Encoding))
        }
        Algorithm::EdDSA => Ok(jsonwebtoken::EncodingKey::from_ed_der(pkcs8)),
        _ => Ok(jsonwebtoken::EncodingKey::from_ec_der(pkcs8)),
    }
}

/// An issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// When it expires.
    pub expires_at: SystemTime,
}

struct KeyRing {
    active: IssuerKey,
    /// Earlier keys, published until the time given.
    retiring: Vec<(IssuerKey, SystemTime)>,
}

/// The longest lifetime an issuer may be configured for (24 h): tokens for Kubernetes
/// should live minutes, and a bound keeps every expiry computable.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Mints ID tokens and publishes the documents that let others verify them.
pub struct TokenIssuer {
    issuer: String,
    max_ttl: Duration,
    clock: SharedClock,
    keys: RwLock<KeyRing>,
    audit: Option<SharedAuditSink>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer at `issuer` (an https URL, the `iss` of every token) signing with `key`,
    /// issuing tokens of at most `max_ttl` (Kubernetes' tokens should be short: minutes).
    ///
    /// # Errors
    /// The issuer is not an https URL without query or fragment.
    pub fn new(
        issuer: impl Into<String>,
        key: IssuerKey,
        max_ttl: Duration,
        clock: SharedClock,
    ) -> Result<Self, IssueError> {
        let issuer = issuer.into();
        if max_ttl.is_zero() || max_ttl > MAX_TOKEN_TTL {
            return Err(IssueError::Refused(format!(
                "the maximum token lifetime must be 1 s to {} s",
                MAX_TOKEN_TTL.as_secs()
            )));
        }
        if !issuer.starts_with("https://") || issuer.contains(['?', '#']) || issuer.len() <= 8 {
            return Err(IssueError::Refused(
                "the issuer must be an https URL without query or fragment".into(),
            ));
        }
        Ok(TokenIssuer {
            issuer: issuer.trim_end_matches('/').to_owned(),
            max_ttl,
            clock,
            keys: RwLock::new(KeyRing {
                active: key,
                retiring: Vec::new(),
            }),
            audit: None,
        })
    }

    /// Records every token minted as a `token.issued` event in `sink` (the user it names
    /// as actor; audience, key id, token id and expiry as details — never the token). A
    /// token whose event cannot be recorded is not returned ([`IssueError::Unaudited`]).
    /// Minting then waits for the sink: call it off async workers, as RS256 signing needs
    /// anyway.
    pub fn audit_to(mut self, sink: SharedAuditSink) -> Self {
        self.audit = Some(sink);
        self
    }

    /// The `iss` of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signs a token naming `user` for `audience`, valid for `ttl` (at most the maximum).
    ///
    /// # Errors
    /// An empty username or audience, a lifetime beyond the maximum, or a signing failure.
    pub fn mint(
        &self,
        user: &UserInfo,
        audience: &str,
        ttl: Duration,
        nonce: Option<&str>,
    ) -> Result<IssuedToken, IssueError> {
        if user.username.is_empty() || audience.is_empty() {
            return Err(IssueError::Refused(
                "a token needs a user and an audience".into(),
            ));
        }
        if ttl.is_zero() || ttl > self.max_ttl {
            return Err(IssueError::Refused(format!(
                "lifetime must be 1 s to {} s",
                self.max_ttl.as_secs()
            )));
        }
        let now = self.clock.now();
        let iat = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| IssueError::Refused("the clock is before 1970".into()))?
            .as_secs();
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| IssueError::Signing)?;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": user.username,
            "aud": audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat.saturating_add(ttl.as_secs()),
            "jti": b64(&jti),
            "groups": user.groups,
        });
        if let Value::Object(members) = &mut claims {
            if !user.uid.is_empty() {
                members.insert("uid".into(), Value::String(user.uid.clone()));
            }
            if let Some(nonce) = nonce {
                members.insert("nonce".into(), Value::String(nonce.to_owned()));
            }
        }
        // The active key is copied out: signing and recording happen without the lock, so
        // a slow audit sink never holds up the JWKS or a rotation.
        let (algorithm, kid, encoding) = {
            let ring = self.ring();
            let key = &ring.active;
            (key.jws_algorithm(), key.kid.clone(), key.encoding.clone())
        };
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = Some(kid.clone());
        header.typ = Some("JWT".to_owned());
        // Signed by jsonwebtoken, through rampart's ring provider unless the process chose
        // another before.
        crate::oidc::jwt_ring::install_jsonwebtoken_provider();
        let token =
            jsonwebtoken::encode(&header, &claims, &encoding).map_err(|_| IssueError::Signing)?;
        let expires_at = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(iat.saturating_add(ttl.as_secs())))
            .unwrap_or(now);
        if let Some(sink) = &self.audit {
            let event = AuditEvent::new(Action::TokenIssued, Outcome::Success, now)
                .with_actor(user.clone())
                .with_target(Target::new("id_token", b64(&jti)))
                .with_detail("audience", audience)
                .with_detail("kid", kid)
                .with_detail("expires_at", Timestamp::from(expires_at).to_string());
            sink.record(event).map_err(|_| IssueError::Unaudited)?;
        }
        Ok(IssuedToken { token, expires_at })
    }

    /// Makes `next` the signing key. The previous key stays in the JWKS until every token
    /// it signed has expired.
    pub fn rotate(&self, next: IssuerKey) {
        let retire_at = self.clock.now() + self.max_ttl;
        let mut ring = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let previous = std::mem::replace(&mut ring.active, next);
        ring.retiring.push((previous, retire_at));
    }

    /// The JWKS document: the active key and every earlier key still in its overlap window.
    /// Retired keys are dropped as a side effect.
    pub fn jwks(&self) -> Value {
        let now = self.clock.now();
        let expired = self.ring().retiring.iter().any(|(_, until)| *until <= now);
        if expired {
            let mut ring = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            ring.retiring.retain(|(_, until)| *until > now);
        }
        let ring = self.ring();
        let keys: Vec<Value> = std::iter::once(&ring.active)
            .chain(ring.retiring.iter().map(|(key, _)| key))
            .map(|key| key.jwk.clone())
            .collect();
        json!({ "keys": keys })
    }

    /// The discovery document (`/.well-known/openid-configuration`) for an issuer that
    /// serves its JWKS at `ISSUER/keys`.
    pub fn discovery(&self) -> Value {
        let ring = self.ring();
        let mut algorithms: Vec<&str> = std::iter::once(&ring.active)
            .chain(ring.retiring.iter().map(|(key, _)| key))
            .map(|key| key.algorithm().name())
            .collect();
        algorithms.dedup();
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/keys", self.issuer),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "groups", "uid", "nonce"],
        })
    }
}

/// The verifier side of [`TokenIssuer::jwks`], for tests and for services that verify the
/// issuer's tokens in process.
///
/// # Errors
/// The document is not a JWKS.
pub fn jwks_from_value(jwks: &Value) -> Result<crate::oidc::jose::JwkSet, TokenError> {
    crate::oidc::jose::JwkSet::from_json(&jwks.to_string())
}
