//! OpenID Connect ID tokens (IA-2, IA-8): the claim checks of OpenID Connect Core §3.1.3.7
//! and the claim-to-user mapping kube-apiserver applies (`--oidc-*` flags).
//!
//! [`IdTokenPolicy::verify`] is the one decision about a token: signature (through
//! [`verify_compact`]), `iss`, `aud` (required), `azp`, `exp` (required), `nbf`, `iat`
//! (required), `sub` (required), `nonce`, `at_hash`, each numeric date a JSON number, with
//! one small explicit clock skew. [`ClaimMapping::user`] then makes the Kubernetes user.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_core::UserInfo;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::oidc::jose::{Algorithm, JwkSet, TokenError, verify_compact};

/// Default largest token accepted (16 KiB): ID tokens are a few hundred bytes to a few KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(10);
/// The largest skew the builder accepts.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// The checks an ID token must pass for one issuer and one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenPolicy {
    issuer: String,
    client_id: String,
    algorithms: Vec<Algorithm>,
    skew: Duration,
    max_bytes: usize,
    trusted_audiences: Vec<String>,
}

/// What a verified token says, and who it names.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedIdToken {
    /// Every claim, after all checks passed.
    pub claims: Map<String, Value>,
    /// When it expires.
    pub expires_at: SystemTime,
    /// The algorithm it was signed with.
    pub alg: Algorithm,
}

impl IdTokenPolicy {
    /// Tokens from `issuer` (exact match) for `client_id`, RS256 or ES256, 10 s skew.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        IdTokenPolicy {
            issuer: issuer.into(),
            client_id: client_id.into(),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            skew: DEFAULT_SKEW,
            max_bytes: DEFAULT_MAX_TOKEN_BYTES,
            trusted_audiences: Vec::new(),
        }
    }

    /// Other audiences a token may name beside this client (OpenID Connect Core
    /// §3.1.3.7 item 3: a token that "contains additional audiences not trusted by the
    /// Client" is refused). None by default: a token also meant for someone else — who
    /// could replay it here, or to whom it could be replayed — is refused.
    pub fn trusted_audiences(mut self, audiences: impl IntoIterator<Item = String>) -> Self {
        self.trusted_audiences = audiences.into_iter().collect();
        self
    }

    /// The algorithms accepted (fixed by configuration, never by the token).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The clock skew allowed, at most [`MAX_SKEW`].
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew.min(MAX_SKEW);
        self
    }

    /// The largest token accepted, in bytes.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token` against `keys` at `now`. `nonce`: the nonce sent in the
    /// authentication request, when there was one. `access_token`: the access token
    /// returned with the ID token, whose `at_hash` is then checked if present.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify(
        &self,
        token: &str,
        keys: &JwkSet,
        now: SystemTime,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<VerifiedIdToken, TokenError> {
        let jws = verify_compact(token, keys, &self.algorithms, self.max_bytes)?;
        let claims = jws.claims;
        let claim = |why: &str| TokenError::Claim(why.to_owned());
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(claim("iss is not the configured issuer"));
        }
        self.check_audience(&claims)?;
        let now_secs = unix_seconds(now);
        let skew = self.skew.as_secs_f64();
        let exp = numeric_date(&claims, "exp")?.ok_or_else(|| claim("exp is missing"))?;
        if now_secs >= exp + skew {
            return Err(claim("the token has expired"));
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")?
            && now_secs + skew < nbf
        {
            return Err(claim("the token is not valid yet (nbf)"));
        }
        let iat = numeric_date(&claims, "iat")?.ok_or_else(|| claim("iat is missing"))?;
        if iat > now_secs + skew {
            return Err(claim("the token was issued in the future (iat)"));
        }
        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(claim("sub is missing"));
        }
        if let Some(expected) = nonce {
            let found = claims
                .get("nonce")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !bool::from(found.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(claim("nonce does not match the request"));
            }
        }
        if let (Some(access_token), Some(at_hash)) = (access_token, claims.get("at_hash")) {
            let digest = ring::digest::digest(jws.alg.hash(), access_token.as_bytes());
            let half = digest
                .as_ref()
                .get(..digest.as_ref().len() / 2)
                .unwrap_or_default();
            let expected = URL_SAFE_NO_PAD.encode(half);
            let found = at_hash.as_str().unwrap_or_default();
            if !bool::from(found.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(claim("at_hash does not match the access token"));
            }
        }
        let expires_at = Duration::try_from_secs_f64(exp.max(0.0))
            .ok()
            .and_then(|since| SystemTime::UNIX_EPOCH.checked_add(since))
            .ok_or_else(|| claim("exp is out of range"))?;
        Ok(VerifiedIdToken {
            claims,
            expires_at,
            alg: jws.alg,
        })
    }

    /// `aud` must name this client and no audience it does not trust; with several
    /// audiences `azp` must be present; when `azp` is present it must be this client
    /// (OpenID Connect Core §3.1.3.7, 3–5).
    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        let claim = |why: &str| Err(TokenError::Claim(why.to_owned()));
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => return claim("aud is missing"),
        };
        if !audiences.contains(&self.client_id.as_str()) {
            return claim("aud does not name this client");
        }
        if audiences
            .iter()
            .any(|aud| *aud != self.client_id && !self.trusted_audiences.iter().any(|t| t == aud))
        {
            return claim("aud names an audience this client does not trust");
        }
        match claims.get("azp") {
            Some(azp) if azp.as_str() != Some(self.client_id.as_str()) => {
                claim("azp names another client")
            }
            None if audiences.len() > 1 => claim("several audiences and no azp"),
            _ => Ok(()),
        }
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or(0.0)
}

/// A NumericDate claim: absent, or a JSON number (a string is refused, not ignored).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_f64()
            .filter(|value| value.is_finite())
            .map(Some)
            .ok_or_else(|| TokenError::Claim(format!("{name} is not a number"))),
        Some(_) => Err(TokenError::Claim(format!("{name} is not a number"))),
    }
}

/// How the username is prefixed (kube-apiserver's `--oidc-username-prefix`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsernamePrefix {
    /// Kubernetes' default: the issuer URL and `#`, unless the username claim is `email`.
    KubernetesDefault,
    /// No prefix (`-`).
    None,
    /// This prefix.
    Custom(String),
}

/// How verified claims become a Kubernetes user, as kube-apiserver's `--oidc-username-claim`,
/// `--oidc-username-prefix`, `--oidc-groups-claim`, `--oidc-groups-prefix` and
/// `--oidc-required-claim` do it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    username_claim: String,
    username_prefix: UsernamePrefix,
    groups_claim: Option<String>,
    groups_prefix: String,
    uid_claim: Option<String>,
    required: Vec<(String, String)>,
    require_email_verified: bool,
}

impl Default for ClaimMapping {
    /// `sub` with Kubernetes' default prefix, no groups.
    fn default() -> Self {
        ClaimMapping {
            username_claim: "sub".into(),
            username_prefix: UsernamePrefix::KubernetesDefault,
            groups_claim: None,
            groups_prefix: String::new(),
            uid_claim: None,
            required: Vec::new(),
            require_email_verified: false,
        }
    }
}

impl ClaimMapping {
    /// The claim that names the user.
    pub fn username_claim(mut self, claim: impl Into<String>) -> Self {
        self.username_claim = claim.into();
        self
    }

    /// The username prefix.
    pub fn username_prefix(mut self, prefix: UsernamePrefix) -> Self {
        self.username_prefix = prefix;
        self
    }

    /// The claim holding groups (a string or an array of strings), and their prefix.
    pub fn groups_claim(mut self, claim: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.groups_claim = Some(claim.into());
        self.groups_prefix = prefix.into();
        self
    }

    /// The claim holding the user's uid.
    pub fn uid_claim(mut self, claim: impl Into<String>) -> Self {
        self.uid_claim = Some(claim.into());
        self
    }

    /// A claim that must be present with exactly this string value.
    pub fn required_claim(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.required.push((claim.into(), value.into()));
        self
    }

    /// Require a verified email — `email` present and `email_verified` true — whatever
    /// the username claim is. (Kubernetes itself, with `email` as the username, only
    /// refuses `email_verified` when it is present and not true.)
    pub fn require_email_verified(mut self, require: bool) -> Self {
        self.require_email_verified = require;
        self
    }

    /// The Kubernetes user these verified claims name.
    ///
    /// # Errors
    /// A missing or non-string username, a required claim missing or different, an
    /// unverified email as username, a malformed groups claim, or a `system:` name.
    pub fn user(&self, claims: &Map<String, Value>, issuer: &str) -> Result<UserInfo, TokenError> {
        let claim = |why: String| TokenError::Claim(why);
        for (name, value) in &self.required {
            if claims.get(name).and_then(Value::as_str) != Some(value.as_str()) {
                return Err(claim(format!(
                    "required claim {name} is missing or different"
                )));
            }
        }
        let raw_username = claims
            .get(&self.username_claim)
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| claim(format!("username claim {} is missing", self.username_claim)))?;
        let email_verified = claims.get("email_verified") == Some(&Value::Bool(true))
            && claims
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|email| !email.is_empty());
        if self.require_email_verified && !email_verified {
            return Err(claim(
                "a verified email is required and the token has none".into(),
            ));
        }
        if self.username_claim == "email"
            && claims.get("email_verified").is_some()
            && !email_verified
        {
            return Err(claim("email is the username but is not verified".into()));
        }
        let username = match &self.username_prefix {
            UsernamePrefix::None => raw_username.to_owned(),
            UsernamePrefix::Custom(prefix) => format!("{prefix}{raw_username}"),
            UsernamePrefix::KubernetesDefault if self.username_claim == "email" => {
                raw_username.to_owned()
            }
            UsernamePrefix::KubernetesDefault => format!("{issuer}#{raw_username}"),
        };
        if UserInfo::is_reserved_name(&username) {
            return Err(claim("usernames starting with system: are reserved".into()));
        }
        let mut groups = Vec::new();
        if let Some(groups_claim) = &self.groups_claim {
            let values: Vec<&str> = match claims.get(groups_claim) {
                None => Vec::new(),
                Some(Value::String(group)) => vec![group.as_str()],
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|value| {
                        value
                            .as_str()
                            .ok_or_else(|| claim(format!("{groups_claim} holds a non-string")))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(claim(format!("{groups_claim} is not a string or a list"))),
            };
            for group in values {
                let group = format!("{}{group}", self.groups_prefix);
                if UserInfo::is_reserved_name(&group) {
                    return Err(claim("groups starting with system: are reserved".into()));
                }
                groups.push(group);
            }
        }
        let mut user = UserInfo::new(username).with_groups(groups);
        if let Some(uid_claim) = &self.uid_claim
            && let Some(uid) = claims.get(uid_claim).and_then(Value::as_str)
        {
            user = user.with_uid(uid);
        }
        Ok(user)
    }
}
