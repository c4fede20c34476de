//! The bearer-token authenticator for ID tokens of one OIDC issuer (IA-2, IA-8). It answers
//! `NotApplicable` for a token that is not its issuer's, so it sits in a
//! `UnionAuthenticator` in kube-apiserver's order.

use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_core::{
    Authenticated, Authenticator, AuthnError, AuthnFuture, BearerToken, RequestContext, SharedClock,
};
use serde_json::Value;

use crate::oidc::id_token::{ClaimMapping, IdTokenPolicy};
use crate::oidc::jose::{JwkSet, TokenError};

/// Where an [`OidcAuthenticator`] finds the issuer's keys.
enum KeySource {
    /// A key set given in configuration (replaceable with `set_keys`).
    Fixed(RwLock<Arc<JwkSet>>),
    /// The issuer's JWKS over https, cached (feature `fetch`).
    #[cfg(feature = "fetch")]
    Fetched(Arc<crate::oidc::fetch::JwksCache>),
}

/// The ID tokens of one issuer, verified against its current key set.
pub struct OidcAuthenticator {
    policy: IdTokenPolicy,
    mapping: ClaimMapping,
    keys: KeySource,
    clock: SharedClock,
}

impl std::fmt::Debug for OidcAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcAuthenticator")
            .field("issuer", &self.policy.issuer())
            .finish_non_exhaustive()
    }
}

impl OidcAuthenticator {
    /// Tokens passing `policy`, mapped by `mapping`, signed by a key in `keys`.
    pub fn new(
        policy: IdTokenPolicy,
        mapping: ClaimMapping,
        keys: JwkSet,
        clock: SharedClock,
    ) -> Self {
        OidcAuthenticator {
            policy,
            mapping,
            keys: KeySource::Fixed(RwLock::new(Arc::new(keys))),
            clock,
        }
    }

    /// Tokens passing `policy`, mapped by `mapping`, signed by a key of the issuer's JWKS
    /// as `keys` fetches and caches it (a token naming an unknown `kid` triggers a refetch,
    /// rate-limited by the cache).
    #[cfg(feature = "fetch")]
    pub fn with_jwks_cache(
        policy: IdTokenPolicy,
        mapping: ClaimMapping,
        keys: Arc<crate::oidc::fetch::JwksCache>,
        clock: SharedClock,
    ) -> Self {
        OidcAuthenticator {
            policy,
            mapping,
            keys: KeySource::Fetched(keys),
            clock,
        }
    }

    /// Replaces a configured key set (after the issuer's rotation). No effect on a fetched one.
    #[cfg_attr(
        not(feature = "fetch"),
        expect(
            irrefutable_let_patterns,
            reason = "without the fetch feature the key set is always configured"
        )
    )]
    pub fn set_keys(&self, keys: JwkSet) {
        if let KeySource::Fixed(lock) = &self.keys {
            *lock.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        }
    }

    /// Whether the token claims to come from this issuer: a JWT whose unverified `iss` is
    /// ours. Only decides which authenticator tries it; nothing is trusted from it.
    fn claims_our_issuer(&self, token: &str) -> bool {
        let Some(payload) = token.split('.').nth(1) else {
            return false;
        };
        URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .is_some_and(|claims| {
                claims.get("iss").and_then(Value::as_str) == Some(self.policy.issuer())
            })
    }

    /// The whole decision for one token.
    async fn check(&self, token: &str) -> Result<Authenticated, AuthnError> {
        if !self.claims_our_issuer(token) {
            return Err(AuthnError::NotApplicable);
        }
        let verified = match &self.keys {
            KeySource::Fixed(lock) => {
                let keys = Arc::clone(&lock.read().unwrap_or_else(PoisonError::into_inner));
                self.verify(token, &keys)
            }
            #[cfg(feature = "fetch")]
            KeySource::Fetched(cache) => {
                let unavailable = |_| AuthnError::Unavailable {
                    backend: "oidc-jwks".into(),
                };
                let keys = cache.keys().await.map_err(unavailable)?;
                match self.verify(token, &keys) {
                    // The issuer may have rotated: look again, at most once per interval.
                    Err(TokenError::UnknownKey) => {
                        let keys = cache.keys_after_unknown_kid().await.map_err(unavailable)?;
                        self.verify(token, &keys)
                    }
                    other => other,
                }
            }
        }
        .map_err(|error| match error {
            TokenError::Claim(why) if why.contains("expired") => AuthnError::Expired,
            _ => AuthnError::InvalidCredentials,
        })?;
        let user = self
            .mapping
            .user(&verified.claims, self.policy.issuer())
            .map_err(|_| AuthnError::InvalidCredentials)?;
        Ok(Authenticated::new(user).expiring_at(verified.expires_at))
    }

    fn verify(
        &self,
        token: &str,
        keys: &JwkSet,
    ) -> Result<crate::oidc::id_token::VerifiedIdToken, TokenError> {
        self.policy
            .verify(token, keys, self.clock.now(), None, None)
    }
}

impl Authenticator<BearerToken> for OidcAuthenticator {
    fn authenticate<'a>(
        &'a self,
        credential: &'a BearerToken,
        _context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(self.check(credential.token().expose_secret()))
    }
}
