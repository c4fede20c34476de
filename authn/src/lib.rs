#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod oidc;
pub mod password;
#[cfg(feature = "saml")]
pub mod saml;
pub mod token;
#[cfg(any(feature = "fetch", feature = "saml"))]
mod url_encoding;
pub mod x509;

// What most users need, at the root; everything else is under its credential's module.
pub use oidc::{IdTokenPolicy, IssuerKey, OidcAuthenticator, TokenIssuer};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use password::SqlStore;
pub use password::{
    Account, AccountStore, AuditedStore, FileStore, LocalAuthenticator, MemoryStore,
    PasswordHasher, PasswordPolicy, StoreError,
};
#[cfg(feature = "saml")]
pub use saml::{SamlAuthenticator, ServiceProvider};
pub use token::{StaticTokens, review_token};
pub use x509::X509Authenticator;
