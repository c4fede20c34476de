//! OpenID Connect (IA-2, IA-8): JWS verification over ring ([`verify_compact`]), the ID-token
//! claim rules of OIDC Core and kube-apiserver's `--oidc-*` mapping ([`IdTokenPolicy`],
//! [`ClaimMapping`]), the bearer-token [`OidcAuthenticator`], a token issuer
//! ([`TokenIssuer`], signing through jsonwebtoken over [`RING_PROVIDER`]), and with the
//! `fetch` feature discovery, JWKS caching and the authorization-code flow ([`Client`]).
//!
//! Errors: [`TokenError`] (verification), [`IssueError`] (issuing), [`FetchError`] and
//! [`LoginError`] (feature `fetch`).

mod authenticator;
#[cfg(feature = "fetch")]
mod fetch;
mod id_token;
mod issuer;
mod jose;
mod jwt_ring;
#[cfg(feature = "fetch")]
mod login;

pub use authenticator::OidcAuthenticator;
#[cfg(feature = "fetch")]
pub use fetch::{
    CachePolicy, Discovery, FetchError, Fetched, HttpsFetcher, JwksCache, discover, discovery_url,
    parse_discovery,
};
pub use id_token::{
    ClaimMapping, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SKEW, IdTokenPolicy, MAX_SKEW, UsernamePrefix,
    VerifiedIdToken,
};
pub use issuer::{
    IssueError, IssuedToken, IssuerKey, KeyProblem, MAX_TOKEN_TTL, TokenIssuer, jwks_from_value,
};
pub use jose::{Algorithm, Jwk, JwkSet, PublicKey, TokenError, VerifiedJws, verify_compact};
pub use jwt_ring::{RING_PROVIDER, install_jsonwebtoken_provider};
#[cfg(feature = "fetch")]
pub use login::{Client, LoginError, LoginRequest, Tokens, pkce_challenge, refresh};
