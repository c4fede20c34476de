//! An OIDC token issuer (the Dex role, IA-2, IA-8): short-lived ID tokens for a user who
//! authenticated any way (SAML, upstream OIDC, a local password), signed with ring, and the
//! discovery and JWKS documents a kube-apiserver configured with `--oidc-issuer-url` (or a
//! structured `AuthenticationConfiguration`) reads.
//!
//! - ES256 by default; RS256 and EdDSA with imported or generated keys.
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
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self as ring_sig, KeyPair as _, RsaPublicKeyComponents};
use serde_json::{Value, json};

use crate::oidc::jose::{Algorithm, TokenError};

/// Why a token could not be issued.
#[derive(Clone, Debug, thiserror::Error)]
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
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// ring refused the key for the algorithm.
    #[error("not a PKCS#8 key for {alg}")]
    Rejected {
        /// The algorithm it was offered for.
        alg: Algorithm,
        /// ring's reason.
        #[source]
        source: ring::error::KeyRejected,
    },
    /// The algorithm's keys are imported (ring cannot generate RSA keys).
    #[error("{0} keys are imported, not generated")]
    NotGenerated(Algorithm),
    /// The algorithm is not offered for issuing.
    #[error("{0} is not offered for issuing")]
    NotOffered(Algorithm),
    /// The system RNG failed while generating a key.
    #[error("key generation failed")]
    Generation,
    /// The key could not be handed to jsonwebtoken in the form it reads.
    #[error("the key cannot be prepared for signing")]
    Encoding,
}

/// The kind of key: ring checks it when it is loaded (and its public half is read for the
/// JWK); signing is jsonwebtoken's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pair {
    Es256,
    Rs256,
    EdDsa,
}

/// The private key as jsonwebtoken's providers read it: PKCS#8 for EC and Ed25519, the
/// PKCS#1 key inside the PKCS#8 for RSA (what its own PEM reader produces).
fn encoding_key(pair: &Pair, pkcs8: &[u8]) -> Result<jsonwebtoken::EncodingKey, IssueError> {
    match pair {
        Pair::Es256 => Ok(jsonwebtoken::EncodingKey::from_ec_der(pkcs8)),
        Pair::EdDsa => Ok(jsonwebtoken::EncodingKey::from_ed_der(pkcs8)),
        Pair::Rs256 => {
            let pem = zeroize::Zeroizing::new(format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(pkcs8)
            ));
            jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|_| IssueError::Key(KeyProblem::Encoding))
        }
    }
}

/// One signing key: the key jsonwebtoken signs with, its public JWK and thumbprint.
pub struct IssuerKey {
    pair: Pair,
    /// The same private key in the form jsonwebtoken's providers read.
    encoding: jsonwebtoken::EncodingKey,
    kid: String,
    jwk: Value,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl IssuerKey {
    /// A new key from the system RNG: ES256 or EdDSA (ring cannot generate RSA keys;
    /// import one with [`IssuerKey::from_pkcs8`]).
    ///
    /// # Errors
    /// RSA, or the RNG failed.
    pub fn generate(alg: Algorithm) -> Result<Self, IssueError> {
        let rng = SystemRandom::new();
        let failed = |_| IssueError::Key(KeyProblem::Generation);
        let pkcs8 = match alg {
            Algorithm::ES256 => ring_sig::EcdsaKeyPair::generate_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(failed)?,
            Algorithm::EdDSA | Algorithm::Ed25519 => {
                ring_sig::Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?
            }
            other => return Err(IssueError::Key(KeyProblem::NotGenerated(other))),
        };
        Self::from_pkcs8(alg, pkcs8.as_ref())
    }

    /// A key from PKCS#8 DER for `alg` (ES256: P-256; RS256: RSA 2048–8192; EdDSA: Ed25519).
    ///
    /// # Errors
    /// The key does not fit the algorithm.
    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, IssueError> {
        let rng = SystemRandom::new();
        let unfit = |source| IssueError::Key(KeyProblem::Rejected { alg, source });
        let (pair, jwk) = match alg {
            Algorithm::ES256 => {
                let pair = ring_sig::EcdsaKeyPair::from_pkcs8(
                    &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &rng,
                )
                .map_err(unfit)?;
                let point = pair.public_key().as_ref();
                let (x, y) = (
                    point.get(1..33).unwrap_or_default(),
                    point.get(33..65).unwrap_or_default(),
                );
                let jwk = json!({"crv": "P-256", "kty": "EC", "x": b64(x), "y": b64(y)});
                (Pair::Es256, jwk)
            }
            Algorithm::RS256 => {
                let pair = ring_sig::RsaKeyPair::from_pkcs8(pkcs8).map_err(unfit)?;
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                let jwk = json!({"e": b64(&components.e), "kty": "RSA", "n": b64(&components.n)});
                (Pair::Rs256, jwk)
            }
            Algorithm::EdDSA | Algorithm::Ed25519 => {
                let pair =
                    ring_sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(unfit)?;
                let jwk =
                    json!({"crv": "Ed25519", "kty": "OKP", "x": b64(pair.public_key().as_ref())});
                (Pair::EdDsa, jwk)
            }
            other => return Err(IssueError::Key(KeyProblem::NotOffered(other))),
        };
        // RFC 7638: SHA-256 over the required members, lexicographic, no whitespace;
        // serde_json's maps are ordered by key, and `json!` wrote only those members.
        let thumbprint = ring::digest::digest(&ring::digest::SHA256, jwk.to_string().as_bytes());
        let kid = b64(thumbprint.as_ref());
        let mut jwk = jwk;
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(kid.clone()));
            members.insert("alg".into(), Value::String(alg.name().into()));
            members.insert("use".into(), Value::String("sig".into()));
        }
        let encoding = encoding_key(&pair, pkcs8)?;
        Ok(IssuerKey {
            pair,
            encoding,
            kid,
            jwk,
        })
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Es256 => Algorithm::ES256,
            Pair::Rs256 => Algorithm::RS256,
            Pair::EdDsa => Algorithm::EdDSA,
        }
    }

    /// The public JWK.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The JWS algorithm as jsonwebtoken names it.
    fn jws_algorithm(&self) -> jsonwebtoken::Algorithm {
        match self.pair {
            Pair::Es256 => jsonwebtoken::Algorithm::ES256,
            Pair::Rs256 => jsonwebtoken::Algorithm::RS256,
            Pair::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
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
        let ring = self.ring();
        let key = &ring.active;
        let mut header = jsonwebtoken::Header::new(key.jws_algorithm());
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".to_owned());
        // Signed by jsonwebtoken, through rampart's ring provider unless the process chose
        // another before.
        crate::oidc::jwt_ring::install_jsonwebtoken_provider();
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|_| IssueError::Signing)?;
        let expires_at = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(iat.saturating_add(ttl.as_secs())))
            .unwrap_or(now);
        if let Some(sink) = &self.audit {
            let event = AuditEvent::new(Action::TokenIssued, Outcome::Success, now)
                .with_actor(user.clone())
                .with_target(Target::new("id_token", b64(&jti)))
                .with_detail("audience", audience)
                .with_detail("kid", key.kid.as_str())
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
        {
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
