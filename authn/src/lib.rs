#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod account;
mod audited_store;
mod bearer;
#[cfg(feature = "fetch")]
mod fetch;
mod file_store;
mod id_token;
mod issuer;
mod jose;
mod jwt_ring;
mod local;
#[cfg(feature = "fetch")]
mod login;
mod password;
mod policy;
#[cfg(feature = "saml")]
mod saml;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_store;
mod token_review;
#[cfg(any(feature = "fetch", feature = "saml"))]
mod url_encoding;
mod x509;

pub use account::{
    Account, AccountChange, AccountError, AccountStore, MAX_ACCOUNT_GROUPS, MAX_ACCOUNT_NAME_BYTES,
    MemoryStore, ReservedGroups, StoreError, StoreFuture, disable_inactive,
};
pub use audited_store::AuditedStore;
pub use bearer::{MAX_TOKEN_FILE_BYTES, OidcAuthenticator, StaticTokens, TokenFileError};
#[cfg(feature = "fetch")]
pub use fetch::{
    CachePolicy, Discovery, FetchError, Fetched, HttpsFetcher, JwksCache, discover, discovery_url,
    parse_discovery,
};
pub use file_store::{FileStore, MAX_FILE_BYTES, parse_accounts, render_accounts};
pub use id_token::{
    ClaimMapping, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SKEW, IdTokenPolicy, MAX_SKEW, UsernamePrefix,
    VerifiedIdToken,
};
pub use issuer::{
    IssueError, IssuedToken, IssuerKey, KeyProblem, MAX_TOKEN_TTL, TokenIssuer, jwks_from_value,
};
pub use jose::{Algorithm, Jwk, JwkSet, PublicKey, TokenError, VerifiedJws, verify_compact};
pub use jwt_ring::{RING_PROVIDER, install_jsonwebtoken_provider};
pub use local::{LocalAuthenticator, LocalStats, MUST_CHANGE_PASSWORD};
#[cfg(feature = "fetch")]
pub use login::{Client, LoginError, LoginRequest, Tokens, pkce_challenge, refresh};
pub use password::{
    HashError, HashMemory, HashParams, HashParamsBuilder, MAX_PASSWORD_BYTES, PasswordHasher,
    StoredLimits, Verified, normalize, password_within_limit,
};
pub use policy::{
    Blocklist, ContextWord, MAX_CHARS_CEILING, MAX_CHARS_FLOOR, MIN_CHARS_FLOOR, PasswordContext,
    PasswordPolicy, PasswordPolicyBuilder, PolicyError, PolicyViolation, Rejection,
};
#[cfg(feature = "saml")]
pub use saml::{
    AuthnRedirect, DEFAULT_MAX_RESPONSE_AGE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SAML_SKEW,
    DecryptionPolicy, IdpMetadata, MAX_METADATA_BYTES, MAX_RELAY_STATE_BYTES, MAX_RESPONSE_AGE,
    MemoryReplayCache, NAME_ID_CLAIM, ReplayCache, SamlAuthenticator, SamlError, SamlLogin,
    ServiceProvider, SpKey, SpMetadata,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql_store::SqlStore;
#[cfg(feature = "postgres")]
pub use sql_store::{PgConnectOptions, PgSslMode};
pub use token_review::{MAX_TOKEN_REVIEW_BYTES, TokenReviewError, review_token};
pub use x509::{X509Authenticator, X509Error};
