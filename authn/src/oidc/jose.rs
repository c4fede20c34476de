//! JSON Web Signatures, verified with ring (IA-2, IA-8).
//!
//! Written here rather than through jsonwebtoken: its defaults are loose (audience and
//! issuer checked only when present, a 60 s leeway, `nbf` ignored), its crypto backend is a
//! process-global provider an embedding application may already have installed
//! differently, and what it would add over ring is the parsing below. Every decision is
//! made in this module and `id_token`:
//!
//! - The algorithm comes from a fixed allow-list; `none` and the HMAC family are not even
//!   representable, so a public key can never be used as an HMAC secret.
//! - The key is found by `kid` in a JWKS obtained out of band; `jku`, `x5u`, `jwk` and `x5c`
//!   headers are never followed or trusted.
//! - The key's type (and curve, and its own `alg` if it names one) must match the
//!   algorithm in the header.
//! - `crit` is honoured: any critical extension is refused, since none is understood.
//! - Signatures are checked over the exact bytes received; ECDSA signatures are JOSE's
//!   fixed-width `r‖s`, never DER.
//! - Tokens larger than a bound are refused before decoding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Why a token was refused. Messages name the check, never the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a compact JWS, bad base64url or JSON, or too large.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The algorithm is not on the allow-list (or is not an asymmetric JWS algorithm).
    #[error("algorithm {0} is not allowed")]
    Algorithm(String),
    /// No key in the key set has this `kid` (or the header has none and several keys fit).
    #[error("no key for this token")]
    UnknownKey,
    /// The key's type or curve does not fit the algorithm.
    #[error("the key does not fit algorithm {0}")]
    KeyMismatch(String),
    /// A `crit` header names an extension this verifier does not understand.
    #[error("unsupported critical header")]
    Critical,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Signature,
    /// A claim check failed; the text says which.
    #[error("claim check failed: {0}")]
    Claim(String),
}

/// The JWS algorithms accepted here: asymmetric only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519, by its original name (`EdDSA`, RFC 8037).
    EdDSA,
    /// Ed25519, by its fully-specified name (`Ed25519`, RFC 9864), the successor of
    /// `EdDSA` for Ed25519 keys.
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, in the order discovery documents list them.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// Whether two names sign alike: `EdDSA` and `Ed25519` are the same signature on an
    /// Ed25519 key (RFC 9864 §2.2), so a key published under one verifies the other.
    pub(crate) fn same_signature_as(self, other: Algorithm) -> bool {
        let ed = |alg| matches!(alg, Algorithm::EdDSA | Algorithm::Ed25519);
        self == other || (ed(self) && ed(other))
    }

    /// The algorithm a JOSE name stands for, if it is one accepted here.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// ring's parameters for the RSA algorithms.
    fn rsa_parameters(self) -> Option<&'static ring_sig::RsaParameters> {
        match self {
            Algorithm::RS256 => Some(&ring_sig::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => Some(&ring_sig::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => Some(&ring_sig::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => Some(&ring_sig::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => Some(&ring_sig::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => Some(&ring_sig::RSA_PSS_2048_8192_SHA512),
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA | Algorithm::Ed25519 => None,
        }
    }

    /// ring's verifier for the elliptic-curve algorithms (fixed-width ECDSA, Ed25519).
    fn curve_verifier(self) -> Option<&'static dyn ring_sig::VerificationAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&ring_sig::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => Some(&ring_sig::ECDSA_P384_SHA384_FIXED),
            Algorithm::EdDSA | Algorithm::Ed25519 => Some(&ring_sig::ED25519),
            _ => None,
        }
    }

    /// The digest `at_hash`/`c_hash` use: the hash of the signature algorithm.
    pub(crate) fn hash(self) -> &'static ring::digest::Algorithm {
        match self {
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => &ring::digest::SHA256,
            Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => &ring::digest::SHA384,
            // OpenID Connect Core names SHA-512 for Ed25519's at_hash.
            Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA | Algorithm::Ed25519 => {
                &ring::digest::SHA512
            }
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key from a JWKS, ready for ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent (big-endian).
    Rsa {
        /// n.
        n: Vec<u8>,
        /// e.
        e: Vec<u8>,
    },
    /// An uncompressed P-256 point (0x04 ‖ x ‖ y).
    P256(Vec<u8>),
    /// An uncompressed P-384 point.
    P384(Vec<u8>),
    /// An Ed25519 public key.
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// Whether this key can verify `alg`.
    fn fits(&self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                PublicKey::Rsa { .. },
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (PublicKey::P256(_), Algorithm::ES256)
                | (PublicKey::P384(_), Algorithm::ES384)
                | (PublicKey::Ed25519(_), Algorithm::EdDSA | Algorithm::Ed25519)
        )
    }

    /// Verifies `signature` over `message` with `alg`.
    fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        let unfit = || TokenError::KeyMismatch(alg.name().into());
        let verified = match self {
            PublicKey::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(
                alg.rsa_parameters().ok_or_else(unfit)?,
                message,
                signature,
            ),
            PublicKey::P256(point) | PublicKey::P384(point) | PublicKey::Ed25519(point) => {
                UnparsedPublicKey::new(alg.curve_verifier().ok_or_else(unfit)?, point)
                    .verify(message, signature)
            }
        };
        verified.map_err(|_| TokenError::Signature)
    }
}

/// One key of a JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// Its key id.
    pub kid: Option<String>,
    /// The algorithm it is restricted to, if it names one.
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: PublicKey,
}

/// A JWK as JSON; only the members used here.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

fn b64(member: &str, value: Option<&String>) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing `{member}`"))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("`{member}` is not base64url"))
}

impl RawJwk {
    /// The key, or why it cannot be used for signatures here.
    fn into_jwk(self) -> Result<Option<Jwk>, String> {
        if self.key_use.as_deref().is_some_and(|u| u != "sig") {
            return Ok(None); // an encryption key: not for verifying tokens
        }
        let alg = match &self.alg {
            None => None,
            Some(name) => match Algorithm::from_name(name) {
                Some(alg) => Some(alg),
                None => return Ok(None), // a key for an algorithm we never accept
            },
        };
        let point = |size: usize| -> Result<Vec<u8>, String> {
            let x = b64("x", self.x.as_ref())?;
            let y = b64("y", self.y.as_ref())?;
            if x.len() != size || y.len() != size {
                return Err("EC coordinates of the wrong length".into());
            }
            Ok([&[0x04][..], &x, &y].concat())
        };
        let key = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                let n = b64("n", self.n.as_ref())?;
                let e = b64("e", self.e.as_ref())?;
                PublicKey::Rsa { n, e }
            }
            ("EC", Some("P-256")) => PublicKey::P256(point(32)?),
            ("EC", Some("P-384")) => PublicKey::P384(point(48)?),
            ("OKP", Some("Ed25519")) => {
                let x = b64("x", self.x.as_ref())?;
                if x.len() != 32 {
                    return Err("an Ed25519 key of the wrong length".into());
                }
                PublicKey::Ed25519(x)
            }
            _ => return Ok(None), // a key type or curve we never accept
        };
        Ok(Some(Jwk {
            kid: self.kid,
            alg,
            key,
        }))
    }
}

/// A set of verification keys (a JWKS document).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS document. Keys of types, curves, uses or algorithms never accepted
    /// here are skipped, and so is a malformed key: one bad key in an IdP's set must not
    /// take every other key (and so every login) down with it. A token naming a skipped
    /// key fails as an unknown key.
    ///
    /// # Errors
    /// Not a JWKS document.
    pub fn from_json(json: &str) -> Result<Self, TokenError> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<RawJwk>,
        }
        #[derive(Deserialize)]
        struct Loose {
            keys: Vec<Value>,
        }
        let loose: Loose = serde_json::from_str(json)
            .map_err(|_| TokenError::Malformed("not a JWKS document".into()))?;
        let raw = Raw {
            keys: loose
                .keys
                .into_iter()
                .filter_map(|key| serde_json::from_value(key).ok())
                .collect(),
        };
        let mut keys = Vec::new();
        for key in raw.keys {
            if let Ok(Some(jwk)) = key.into_jwk() {
                keys.push(jwk);
            }
        }
        Ok(JwkSet { keys })
    }

    /// A set of these keys.
    pub fn new(keys: Vec<Jwk>) -> Self {
        JwkSet { keys }
    }

    /// The keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Whether a key has this id.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// The key a token names: by `kid`; without a `kid`, the only key that fits the
    /// algorithm (several candidates are refused rather than tried in turn).
    fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, TokenError> {
        let key = match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or(TokenError::UnknownKey)?,
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.key.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => key,
                    _ => return Err(TokenError::UnknownKey),
                }
            }
        };
        if !key.key.fits(alg)
            || key
                .alg
                .is_some_and(|restricted| !restricted.same_signature_as(alg))
        {
            return Err(TokenError::KeyMismatch(alg.name().into()));
        }
        Ok(key)
    }
}

/// A compact JWS whose signature verified: its header algorithm, key id and claims.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedJws {
    /// The algorithm it was signed with.
    pub alg: Algorithm,
    /// The key id of the key that verified it.
    pub kid: Option<String>,
    /// The payload's JSON object.
    pub claims: Map<String, Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
    #[serde(default)]
    typ: Option<Value>,
}

/// RFC 8725 §3.11: a token whose `typ` says it is something else (an access token,
/// `at+jwt`; a logout token; any other JWT profile) must not pass for an ID token. Absent,
/// `JWT`, or the media type `application/jwt` (case-insensitive, RFC 7515 §4.1.9) pass.
fn typ_allows_id_token(typ: Option<&Value>) -> bool {
    match typ {
        None => true,
        Some(Value::String(typ)) => {
            let typ = typ.strip_prefix("application/").unwrap_or(typ);
            typ.eq_ignore_ascii_case("jwt")
        }
        Some(_) => false,
    }
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("the {what} is not base64url")))
}

/// Verifies a compact JWS against `keys` with one of `allowed` algorithms, and returns its
/// claims. The one place a token's signature is judged. It judges JWTs meant as
/// credentials (ID tokens, rampart-issued tokens): a `typ` header other than `JWT` (an
/// access token's `at+jwt`, a logout token) is refused, per RFC 8725 §3.11.
///
/// # Errors
/// See [`TokenError`].
pub fn verify_compact(
    token: &str,
    keys: &JwkSet,
    allowed: &[Algorithm],
    max_bytes: usize,
) -> Result<VerifiedJws, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::Malformed(format!(
            "larger than {max_bytes} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "not three dot-separated parts".into(),
        ));
    };
    let header: Header = serde_json::from_slice(&decode_part(header_b64, "header")?)
        .map_err(|_| TokenError::Malformed("the header is not a JSON object".into()))?;
    let alg = Algorithm::from_name(&header.alg)
        .filter(|alg| allowed.contains(alg))
        .ok_or_else(|| TokenError::Algorithm(header.alg.chars().take(16).collect()))?;
    if header.crit.is_some() {
        return Err(TokenError::Critical);
    }
    if !typ_allows_id_token(header.typ.as_ref()) {
        return Err(TokenError::Malformed(
            "the header's typ names another kind of token".into(),
        ));
    }
    let key = keys.select(header.kid.as_deref(), alg)?;
    let signature = decode_part(signature_b64, "signature")?;
    let signed = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or_else(|| TokenError::Malformed("truncated".into()))?;
    key.key.verify(alg, signed.as_bytes(), &signature)?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode_part(payload_b64, "payload")?)
        .map_err(|_| TokenError::Malformed("the payload is not a JSON object".into()))?;
    Ok(VerifiedJws {
        alg,
        kid: key.kid.clone(),
        claims,
    })
}
