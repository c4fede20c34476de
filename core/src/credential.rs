//! What a client presents to prove who it is.

use std::fmt;

use crate::secret::SecretString;

/// The kinds of credential, as named in audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A username and password.
    Password,
    /// A bearer token (OIDC ID token, static token, rampart-issued token).
    BearerToken,
    /// An X.509 client certificate chain verified by the TLS layer.
    ClientCertificate,
    /// A SAML 2.0 response.
    SamlResponse,
    /// A session id issued after an earlier login.
    Session,
}

impl CredentialKind {
    /// The stable snake_case name used in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Password => "password",
            CredentialKind::BearerToken => "bearer_token",
            CredentialKind::ClientCertificate => "client_certificate",
            CredentialKind::SamlResponse => "saml_response",
            CredentialKind::Session => "session",
        }
    }
}

/// Something an [`Authenticator`](crate::Authenticator) can check.
///
/// Decorators such as [`Audited`](crate::Audited) and lockout use this to say what was tried
/// and by whom without seeing the secret.
pub trait Credential {
    /// The kind of credential.
    fn kind(&self) -> CredentialKind;

    /// The username the client claims, before any check, when the credential carries one in
    /// the clear (a login form does; a token does not until verified).
    fn claimed_username(&self) -> Option<&str> {
        None
    }
}

/// A username and password from a login form or HTTP Basic.
#[derive(Clone)]
pub struct PasswordCredential {
    username: String,
    password: SecretString,
}

impl PasswordCredential {
    /// A credential from what the client sent.
    pub fn new(username: impl Into<String>, password: SecretString) -> Self {
        PasswordCredential {
            username: username.into(),
            password,
        }
    }

    /// The claimed username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &SecretString {
        &self.password
    }
}

impl fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Credential for PasswordCredential {
    fn kind(&self) -> CredentialKind {
        CredentialKind::Password
    }

    fn claimed_username(&self) -> Option<&str> {
        Some(&self.username)
    }
}

/// A bearer token from an `Authorization: Bearer` header.
#[derive(Clone, Debug)]
pub struct BearerToken {
    token: SecretString,
}

impl BearerToken {
    /// Wraps the token text.
    pub fn new(token: SecretString) -> Self {
        BearerToken { token }
    }

    /// Reads the token out of an `Authorization` header value (`Bearer <token>`, scheme
    /// case-insensitive as RFC 7235 says). `None` for any other scheme or an empty token.
    pub fn from_authorization_header(value: &str) -> Option<Self> {
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim_start_matches(' ');
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
            return None;
        }
        Some(BearerToken::new(SecretString::from(token)))
    }

    /// The token.
    pub fn token(&self) -> &SecretString {
        &self.token
    }
}

impl Credential for BearerToken {
    fn kind(&self) -> CredentialKind {
        CredentialKind::BearerToken
    }
}

/// A SAML 2.0 response as the HTTP-POST binding delivers it: the base64 `SAMLResponse`
/// form value. Holding one proves nothing until a service provider verified it; a valid
/// one is a live, one-time credential, so `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SamlPostResponse {
    encoded: String,
    request_id: Option<String>,
}

impl SamlPostResponse {
    /// Wraps the `SAMLResponse` form value.
    pub fn new(encoded: impl Into<String>) -> Self {
        SamlPostResponse {
            encoded: encoded.into(),
            request_id: None,
        }
    }

    /// The response must answer `request_id`: the AuthnRequest ID kept in the session of
    /// the browser that posted it, so that a response started by someone else is refused
    /// (login CSRF).
    pub fn answering(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The base64 value.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The request this response must answer, when the caller bound it to one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl fmt::Debug for SamlPostResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamlPostResponse")
            .field("encoded_bytes", &self.encoded.len())
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl Credential for SamlPostResponse {
    fn kind(&self) -> CredentialKind {
        CredentialKind::SamlResponse
    }
}

/// A client certificate chain, DER-encoded, end-entity first, as the TLS layer received it.
///
/// Holding one says nothing about its validity: an authenticator must verify the chain (or
/// rely on a TLS verifier configured to do so) before trusting any name in it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificateChain {
    certificates: Vec<Vec<u8>>,
}

impl ClientCertificateChain {
    /// A chain from DER certificates, end-entity first. `None` if empty.
    pub fn new(certificates: Vec<Vec<u8>>) -> Option<Self> {
        if certificates.is_empty() {
            return None;
        }
        Some(ClientCertificateChain { certificates })
    }

    /// The end-entity (leaf) certificate, DER.
    pub fn end_entity(&self) -> &[u8] {
        self.certificates.first().map_or(&[], Vec::as_slice)
    }

    /// The intermediates the client sent after its own certificate.
    pub fn intermediates(&self) -> &[Vec<u8>] {
        self.certificates.get(1..).unwrap_or(&[])
    }
}

impl fmt::Debug for ClientCertificateChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateChain")
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl Credential for ClientCertificateChain {
    fn kind(&self) -> CredentialKind {
        CredentialKind::ClientCertificate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saml_response_debug_shows_its_length_not_the_assertion() {
        let response = SamlPostResponse::new("PHNhbWxwOlJlc3BvbnNlIHNlY3JldA==").answering("_r1");
        let printed = format!("{response:?}");
        assert!(!printed.contains("PHNhbWxw"), "{printed}");
        assert!(
            printed.contains("32") && printed.contains("_r1"),
            "{printed}"
        );
    }

    #[test]
    fn password_debug_shows_the_user_but_not_the_password() {
        let credential = PasswordCredential::new("alice", SecretString::from("Tr0ub4dor&3-long"));
        let printed = format!("{credential:?}");
        assert!(printed.contains("alice"));
        assert!(!printed.contains("Tr0ub4dor"), "{printed}");
        assert_eq!(credential.claimed_username(), Some("alice"));
    }

    #[test]
    fn bearer_header_parsing() {
        let token = BearerToken::from_authorization_header("Bearer abc.def.ghi").unwrap();
        assert_eq!(token.token().expose_secret(), "abc.def.ghi");
        assert!(BearerToken::from_authorization_header("bearer  xyz").is_some());
        for bad in [
            "Basic abc",
            "Bearer ",
            "Bearer",
            "Bearer a b",
            "Bearerabc",
            "",
        ] {
            assert!(
                BearerToken::from_authorization_header(bad).is_none(),
                "{bad:?}"
            );
        }
        assert!(!format!("{token:?}").contains("abc.def"));
    }

    #[test]
    fn certificate_chain_is_never_empty() {
        assert!(ClientCertificateChain::new(vec![]).is_none());
        let chain = ClientCertificateChain::new(vec![vec![1], vec![2], vec![3]]).unwrap();
        assert_eq!(chain.end_entity(), [1]);
        assert_eq!(chain.intermediates(), [vec![2], vec![3]]);
        let single = ClientCertificateChain::new(vec![vec![1]]).unwrap();
        assert!(single.intermediates().is_empty());
    }
}
