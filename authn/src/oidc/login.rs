//! The OpenID Connect authorization-code flow with PKCE, for a web application or a CLI
//! (feature `fetch`; IA-2, IA-8). Written over this crate's pieces rather than the
//! openidconnect crate, which brings the `rsa` crate (RUSTSEC-2023-0071) and a second
//! HTTP stack.
//!
//! - [`LoginRequest::start`] makes a fresh `state`, `nonce` and PKCE verifier (S256 only)
//!   from the system RNG and the authorization URL to send the browser to.
//! - [`LoginRequest::finish`] checks the callback's `state` in constant time (and refuses an
//!   `error` callback), exchanges the code with the verifier at the token endpoint, and
//!   verifies the ID token with the request's nonce and the access token's `at_hash`.
//! - [`refresh`] trades a refresh token for new tokens; a new ID token, if any, is verified
//!   again (without a nonce, per OpenID Connect Core §12.2).
//! - Secrets (verifier, tokens, client secret) live in [`SecretString`]s.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_core::SecretString;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::oidc::fetch::{Discovery, FetchError, HttpsFetcher, https_uri};
use crate::oidc::id_token::{IdTokenPolicy, VerifiedIdToken};
use crate::oidc::jose::{JwkSet, TokenError};
use crate::url_encoding::{encode, form, query_value};

/// Why a login could not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The callback's `state` is not the one this request sent (CSRF, or a mix-up).
    #[error("the callback does not belong to this login (state mismatch)")]
    State,
    /// The IdP answered the authorization request with an error.
    #[error("the identity provider refused: {0}")]
    Refused(String),
    /// The callback carries no code.
    #[error("the callback carries no authorization code")]
    NoCode,
    /// The token endpoint could not be reached or refused.
    #[error("token endpoint: {0}")]
    Fetch(#[from] FetchError),
    /// The token response is malformed or lacks an ID token.
    #[error("bad token response: {0}")]
    Response(String),
    /// The ID token failed verification.
    #[error("ID token refused: {0}")]
    Token(#[from] TokenError),
}

/// A client of one IdP.
#[derive(Clone, Debug)]
pub struct Client {
    /// The client id (the ID token's audience).
    pub client_id: String,
    /// The client secret, for confidential clients.
    pub client_secret: Option<SecretString>,
    /// Where the IdP sends the browser back.
    pub redirect_uri: String,
    /// The IdP's authorization endpoint (from discovery).
    pub authorization_endpoint: String,
    /// The IdP's token endpoint (from discovery).
    pub token_endpoint: String,
}

impl Client {
    /// A client of the provider `discovery` describes; its authorization and token
    /// endpoints must be https URLs (the same rule the fetcher applies).
    ///
    /// # Errors
    /// An endpoint is missing or not https.
    pub fn from_discovery(
        discovery: &Discovery,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        redirect_uri: impl Into<String>,
    ) -> Result<Self, FetchError> {
        let endpoint = |name: &str| {
            let url = discovery
                .document
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| FetchError::Document(format!("no {name}")))?;
            https_uri(url)
                .map(|_| url.to_owned())
                .map_err(|_| FetchError::Document(format!("{name} is not https")))
        };
        Ok(Client {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
        })
    }
}

/// A login in progress: what must be kept (server-side, or in the CLI's memory) between
/// sending the browser away and its return.
#[derive(Debug)]
pub struct LoginRequest {
    state: SecretString,
    nonce: SecretString,
    verifier: SecretString,
    /// The URL to send the browser to.
    pub authorization_url: String,
}

/// The tokens a login or refresh produced, the ID token verified.
#[derive(Debug)]
pub struct Tokens {
    /// The verified ID token's claims and expiry.
    pub id_token: VerifiedIdToken,
    /// The ID token as received (for a kubeconfig, an ExecCredential, or logout hints).
    pub raw_id_token: SecretString,
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, when the IdP gave one.
    pub refresh_token: Option<SecretString>,
}

fn random_token(bytes: usize) -> Result<String, LoginError> {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .map_err(|_| LoginError::Response("the system RNG failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// RFC 7636 `S256`: BASE64URL(SHA256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl LoginRequest {
    /// Starts a login for `scopes` (`openid` is always included).
    ///
    /// # Errors
    /// Only if the system RNG fails.
    pub fn start(client: &Client, scopes: &[&str]) -> Result<Self, LoginError> {
        let state = random_token(32)?;
        let nonce = random_token(32)?;
        let verifier = random_token(32)?;
        let mut scope = vec!["openid"];
        scope.extend(scopes.iter().copied().filter(|s| *s != "openid"));
        let query = form(&[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", &client.redirect_uri),
            ("scope", &scope.join(" ")),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &pkce_challenge(&verifier)),
            ("code_challenge_method", "S256"),
        ]);
        let separator = if client.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(LoginRequest {
            authorization_url: format!("{}{separator}{query}", client.authorization_endpoint),
            state: SecretString::from(state),
            nonce: SecretString::from(nonce),
            verifier: SecretString::from(verifier),
        })
    }

    /// Completes the login from the callback's query string.
    ///
    /// # Errors
    /// See [`LoginError`].
    pub async fn finish(
        self,
        client: &Client,
        callback_query: &str,
        fetcher: &HttpsFetcher,
        policy: &IdTokenPolicy,
        keys: &JwkSet,
        now: SystemTime,
    ) -> Result<Tokens, LoginError> {
        let state = query_value(callback_query, "state").unwrap_or_default();
        if !bool::from(
            state
                .as_bytes()
                .ct_eq(self.state.expose_secret().as_bytes()),
        ) {
            return Err(LoginError::State);
        }
        if let Some(error) = query_value(callback_query, "error") {
            return Err(LoginError::Refused(error.chars().take(64).collect()));
        }
        let code = query_value(callback_query, "code").ok_or(LoginError::NoCode)?;
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("client_id", &client.client_id),
            ("code_verifier", self.verifier.expose_secret()),
        ]);
        let response = token_request(client, fetcher, body).await?;
        tokens(
            response,
            policy,
            keys,
            now,
            Some(self.nonce.expose_secret()),
        )
    }
}

/// Trades `refresh_token` for new tokens.
///
/// # Errors
/// See [`LoginError`]; a response without an ID token is refused (the user must be
/// re-identified, not only re-authorised).
pub async fn refresh(
    client: &Client,
    refresh_token: &SecretString,
    fetcher: &HttpsFetcher,
    policy: &IdTokenPolicy,
    keys: &JwkSet,
    now: SystemTime,
) -> Result<Tokens, LoginError> {
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
        ("client_id", &client.client_id),
    ]);
    let response = token_request(client, fetcher, body).await?;
    tokens(response, policy, keys, now, None)
}

async fn token_request(
    client: &Client,
    fetcher: &HttpsFetcher,
    body: String,
) -> Result<Value, LoginError> {
    let basic = client.client_secret.as_ref().map(|secret| {
        let pair = format!(
            "{}:{}",
            encode(&client.client_id),
            encode(secret.expose_secret())
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    });
    let fetched = fetcher
        .post_form(&client.token_endpoint, body, basic)
        .await?;
    serde_json::from_slice(&fetched.body).map_err(|_| LoginError::Response("not JSON".into()))
}

fn tokens(
    response: Value,
    policy: &IdTokenPolicy,
    keys: &JwkSet,
    now: SystemTime,
    nonce: Option<&str>,
) -> Result<Tokens, LoginError> {
    let field = |name: &str| {
        response
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if field("token_type").is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer")) {
        return Err(LoginError::Response("token_type is not Bearer".into()));
    }
    let access_token =
        field("access_token").ok_or_else(|| LoginError::Response("no access_token".into()))?;
    let raw_id_token =
        field("id_token").ok_or_else(|| LoginError::Response("no id_token".into()))?;
    let id_token = policy.verify(&raw_id_token, keys, now, nonce, Some(&access_token))?;
    Ok(Tokens {
        id_token,
        raw_id_token: SecretString::from(raw_id_token),
        access_token: SecretString::from(access_token),
        refresh_token: field("refresh_token").map(SecretString::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url_encoding::decode;

    #[test]
    fn a_client_needs_https_endpoints_from_discovery() {
        let discovery = |authorization: &str, token: Option<&str>| Discovery {
            issuer: "https://idp.example.test".into(),
            jwks_uri: "https://idp.example.test/jwks".into(),
            document: serde_json::json!({
                "authorization_endpoint": authorization,
                "token_endpoint": token,
            }),
        };
        let ok = Client::from_discovery(
            &discovery(
                "https://idp.example.test/auth",
                Some("https://idp.example.test/token"),
            ),
            "c",
            None,
            "http://127.0.0.1:1/callback",
        );
        assert!(
            matches!(ok, Ok(client) if client.token_endpoint == "https://idp.example.test/token")
        );
        for (authorization, token) in [
            (
                "http://idp.example.test/auth",
                Some("https://idp.example.test/token"),
            ),
            (
                "https://idp.example.test/auth",
                Some("http://idp.example.test/token"),
            ),
            ("https://idp.example.test/auth", None),
            (
                "javascript:alert(1)",
                Some("https://idp.example.test/token"),
            ),
        ] {
            let refused = Client::from_discovery(&discovery(authorization, token), "c", None, "x");
            assert!(
                matches!(refused, Err(FetchError::Document(_))),
                "{authorization} {token:?}"
            );
        }
    }

    /// RFC 7636 Appendix B.
    #[test]
    fn pkce_matches_the_rfc_7636_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn query_values_decode_and_repeats_are_refused() {
        assert_eq!(
            query_value("?code=a%2Bb+c&state=s", "code").as_deref(),
            Some("a+b c")
        );
        assert_eq!(query_value("code=1&code=2", "code"), None);
        assert_eq!(query_value("code=%zz", "code"), None);
        assert_eq!(query_value("state=x", "code"), None);
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(decode(&encode("a b&c=d/é")).as_deref(), Some("a b&c=d/é"));
    }

    #[test]
    fn every_start_is_fresh_and_carries_pkce_s256() {
        let client = Client {
            client_id: "rampart".into(),
            client_secret: None,
            redirect_uri: "http://127.0.0.1:8000/callback".into(),
            authorization_endpoint: "https://idp.example.test/authorize".into(),
            token_endpoint: "https://idp.example.test/token".into(),
        };
        let first = LoginRequest::start(&client, &["email", "groups"]).unwrap();
        let second = LoginRequest::start(&client, &[]).unwrap();
        assert_ne!(first.state.expose_secret(), second.state.expose_secret());
        assert_ne!(first.nonce.expose_secret(), second.nonce.expose_secret());
        let url = &first.authorization_url;
        let query = url.split_once('?').unwrap().1;
        assert_eq!(
            query_value(query, "scope").as_deref(),
            Some("openid email groups")
        );
        assert_eq!(
            query_value(query, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert_eq!(
            query_value(query, "code_challenge").unwrap(),
            pkce_challenge(first.verifier.expose_secret())
        );
        assert_eq!(
            query_value(query, "redirect_uri").as_deref(),
            Some("http://127.0.0.1:8000/callback")
        );
        assert!(
            !url.contains(first.verifier.expose_secret()),
            "the verifier never leaves"
        );
    }
}
