//! Discovery and JWKS over https (feature `fetch`; IA-8, SC-8).
//!
//! - The HTTP client speaks https only (ring provider, the roots the caller gives), never
//!   follows a redirect (a 3xx is an error: a redirect could send the request, and what
//!   comes back, somewhere else), has a timeout on the whole exchange and a size cap on
//!   the body.
//! - [`discover`] reads `ISSUER/.well-known/openid-configuration` and insists the document
//!   names exactly that issuer and an https `jwks_uri`.
//! - [`JwksCache`] keeps the key set for as long as the response's `Cache-Control:
//!   max-age` says (between a floor and a ceiling; `no-store`/`no-cache` mean the floor).
//!   A token naming an unknown `kid` triggers at most one refetch per `unknown_kid_interval`
//!   (a key rotation is picked up at once; a flood of made-up `kid`s cannot turn into a
//!   flood of requests to the IdP).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rampart_core::SharedClock;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::oidc::jose::JwkSet;

/// Why a document could not be fetched or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not https, or not a URL.
    #[error("refused URL: {0}")]
    Url(String),
    /// Connecting, TLS or HTTP failed, or the timeout passed.
    #[error("fetch failed: {0}")]
    Transport(String),
    /// A status other than 200 (redirects included).
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is larger than the cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// The document is not what it should be.
    #[error("bad document: {0}")]
    Document(String),
    /// A recent fetch failed, and the next attempt waits out its backoff: an IdP that is
    /// down (or answers junk) is not asked again for every login.
    #[error("the last fetch failed; retrying after a backoff")]
    BackingOff,
}

/// A fetched body and how long it may be cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The body.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, `Some(0)` for `no-store`/`no-cache`, `None` without one.
    pub max_age: Option<Duration>,
}

/// An https-only, redirect-refusing, time- and size-bounded GET client.
#[derive(Clone)]
pub struct HttpsFetcher {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
}

impl std::fmt::Debug for HttpsFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsFetcher")
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpsFetcher {
    /// A client trusting `roots` (the IdP's CA, or the system bundle), with a 10 s timeout
    /// and a 1 MiB body cap.
    ///
    /// # Errors
    /// No usable root.
    pub fn new(roots: &[CertificateDer<'static>]) -> Result<Self, FetchError> {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store
                .add(root.clone())
                .map_err(|error| FetchError::Transport(format!("root certificate: {error}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| FetchError::Transport(error.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Ok(HttpsFetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
        })
    }

    /// The time allowed for one whole exchange.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest body accepted.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// GETs `url` (https only, no redirects, bounded).
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let request = hyper::Request::get(https_uri(url)?)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|error| FetchError::Url(error.to_string()))?;
        self.send(request).await
    }

    /// POSTs a form (`application/x-www-form-urlencoded`) to `url`, with an optional
    /// `Authorization` header; same rules as [`HttpsFetcher::get`].
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn post_form(
        &self,
        url: &str,
        form: String,
        authorization: Option<String>,
    ) -> Result<Fetched, FetchError> {
        let mut request = hyper::Request::post(https_uri(url)?)
            .header(hyper::header::ACCEPT, "application/json")
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if let Some(authorization) = authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(Bytes::from(form)))
            .map_err(|error| FetchError::Url(error.to_string()))?;
        self.send(request).await
    }

    /// One exchange: 200 only, body capped, the whole of it under the timeout.
    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<Fetched, FetchError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| FetchError::Transport(error.to_string()))?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(FetchError::Status(status));
            }
            let max_age = cache_max_age(response.headers());
            let body = Limited::new(response.into_body(), self.max_bytes)
                .collect()
                .await
                .map_err(|_| FetchError::TooLarge(self.max_bytes))?
                .to_bytes()
                .to_vec();
            Ok(Fetched { body, max_age })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| FetchError::Transport("timed out".into()))?
    }
}

/// `url` as a URI, if it is an https URL with a host.
pub(crate) fn https_uri(url: &str) -> Result<hyper::Uri, FetchError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| FetchError::Url("not a URL".into()))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(FetchError::Url("only https URLs are fetched".into()));
    }
    Ok(uri)
}

/// `max-age` of a `Cache-Control` header; `no-store`/`no-cache` as zero.
fn cache_max_age(headers: &hyper::HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(hyper::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=")
                && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
            {
                max_age = Some(Duration::from_secs(seconds));
            }
        }
    }
    max_age
}

/// What an issuer's discovery document says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer, exactly as configured.
    pub issuer: String,
    /// Where its keys are.
    pub jwks_uri: String,
    /// The whole document.
    pub document: Value,
}

/// Where `issuer` publishes its discovery document (OpenID Connect Discovery 1.0 §4: one
/// terminating `/` of the issuer removed before the well-known path is appended).
pub fn discovery_url(issuer: &str) -> String {
    let base = issuer.strip_suffix('/').unwrap_or(issuer);
    format!("{base}/.well-known/openid-configuration")
}

/// Reads and checks a discovery document: the one rule for every caller.
///
/// - `fetched_from`: the URL it came from, when it came from one; the document's issuer
///   must be the one whose discovery URL that is (§4.3: the issuer is the prefix used to
///   fetch it), so a document served for one issuer cannot speak for another.
/// - `expected_issuer`: the issuer configured, when one is; the document must name exactly
///   it (not a variant with or without a trailing slash).
/// - `jwks_uri` must be https.
///
/// # Errors
/// [`FetchError::Document`] saying which rule failed.
pub fn parse_discovery(
    body: &[u8],
    fetched_from: Option<&str>,
    expected_issuer: Option<&str>,
) -> Result<Discovery, FetchError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|_| FetchError::Document("the discovery document is not JSON".into()))?;
    let issuer = document
        .get("issuer")
        .and_then(Value::as_str)
        .filter(|issuer| !issuer.is_empty())
        .ok_or_else(|| FetchError::Document("the discovery document has no issuer".into()))?
        .to_owned();
    let served_elsewhere = fetched_from.is_some_and(|url| discovery_url(&issuer) != url);
    let not_configured = expected_issuer.is_some_and(|expected| expected != issuer);
    if served_elsewhere || not_configured {
        return Err(FetchError::Document(
            "the discovery document names another issuer".into(),
        ));
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .filter(|uri| https_uri(uri).is_ok())
        .ok_or_else(|| FetchError::Document("no https jwks_uri".into()))?
        .to_owned();
    Ok(Discovery {
        issuer,
        jwks_uri,
        document,
    })
}

/// Fetches and checks `ISSUER/.well-known/openid-configuration` ([`parse_discovery`]).
///
/// # Errors
/// The fetch failed, or the document names another issuer or a non-https `jwks_uri`.
pub async fn discover(fetcher: &HttpsFetcher, issuer: &str) -> Result<Discovery, FetchError> {
    let url = discovery_url(issuer);
    let fetched = fetcher.get(&url).await?;
    parse_discovery(&fetched.body, Some(&url), Some(issuer))
}

/// How long key sets are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// The shortest time a key set is kept, whatever the response says (default 60 s).
    pub min_age: Duration,
    /// The longest (default 24 h).
    pub max_age: Duration,
    /// Without a `max-age` (default 1 h).
    pub default_age: Duration,
    /// At most one refetch for an unknown `kid` per this interval (default 60 s).
    pub unknown_kid_interval: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            min_age: Duration::from_secs(60),
            max_age: Duration::from_secs(86_400),
            default_age: Duration::from_secs(3600),
            unknown_kid_interval: Duration::from_secs(60),
        }
    }
}

struct Cached {
    keys: Arc<JwkSet>,
    expires_at: SystemTime,
}

/// Fetch attempts, successful or not: the rate limits count attempts, so a failing IdP
/// cannot be made to receive a request per forged token.
#[derive(Default)]
struct Attempts {
    /// The last refetch attempted for an unknown `kid`.
    unknown_kid_at: Option<SystemTime>,
    /// When the last fetch failed, and how many failed in a row.
    failed_at: Option<SystemTime>,
    failures: u32,
}

/// The first backoff after a failed fetch; it doubles per failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Attempts {
    fn backing_off(&self, now: SystemTime) -> bool {
        let Some(failed_at) = self.failed_at else {
            return false;
        };
        let wait = FIRST_BACKOFF
            .checked_mul(1u32 << self.failures.saturating_sub(1).min(16))
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF);
        now.duration_since(failed_at)
            .is_ok_and(|since| since < wait)
    }
}

/// An issuer's key set, fetched on demand and kept as long as it may be.
pub struct JwksCache {
    fetcher: HttpsFetcher,
    jwks_uri: String,
    policy: CachePolicy,
    clock: SharedClock,
    cached: Mutex<Option<Cached>>,
    attempts: Mutex<Attempts>,
    /// Serialises fetches so concurrent callers share one request.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("jwks_uri", &self.jwks_uri)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache of the key set at `jwks_uri` (https).
    pub fn new(
        fetcher: HttpsFetcher,
        jwks_uri: impl Into<String>,
        policy: CachePolicy,
        clock: SharedClock,
    ) -> Self {
        JwksCache {
            fetcher,
            jwks_uri: jwks_uri.into(),
            policy,
            clock,
            cached: Mutex::new(None),
            attempts: Mutex::new(Attempts::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<(Arc<JwkSet>, SystemTime)> {
        self.cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|cached| (Arc::clone(&cached.keys), cached.expires_at))
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, Attempts> {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key set, fetched if there is none or it has expired.
    ///
    /// # Errors
    /// A fetch was needed and failed, or a recent failure's backoff is not over (an
    /// expired set is not used past its time).
    pub async fn keys(&self) -> Result<Arc<JwkSet>, FetchError> {
        if let Some((keys, expires_at)) = self.current()
            && self.clock.now() < expires_at
        {
            return Ok(keys);
        }
        self.refresh(false).await
    }

    /// The key set for a token whose `kid` is not in the current one: refetched, unless a
    /// refetch for an unknown `kid` was *attempted* within the interval — successful or
    /// not, so forged `kid`s cannot make a failing IdP receive a request each.
    ///
    /// # Errors
    /// The refetch failed or is backing off.
    pub async fn keys_after_unknown_kid(&self) -> Result<Arc<JwkSet>, FetchError> {
        if self.unknown_kid_refetched_recently(self.clock.now()) {
            return self.keys().await;
        }
        self.refresh(true).await
    }

    fn unknown_kid_refetched_recently(&self, now: SystemTime) -> bool {
        self.attempts().unknown_kid_at.is_some_and(|last| {
            now.duration_since(last)
                .is_ok_and(|since| since < self.policy.unknown_kid_interval)
        })
    }

    async fn refresh(&self, for_unknown_kid: bool) -> Result<Arc<JwkSet>, FetchError> {
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.clock.now();
        // Someone else may have fetched (or tried) while this caller waited.
        if let Some((keys, expires_at)) = self.current() {
            let fresh = now < expires_at;
            if (!for_unknown_kid && fresh)
                || (for_unknown_kid && self.unknown_kid_refetched_recently(now))
            {
                return Ok(keys);
            }
        }
        {
            let mut attempts = self.attempts();
            if attempts.backing_off(now) {
                return Err(FetchError::BackingOff);
            }
            if for_unknown_kid {
                attempts.unknown_kid_at = Some(now);
            }
        }
        let result = self.fetch().await;
        let mut attempts = self.attempts();
        if result.is_ok() {
            attempts.failures = 0;
            attempts.failed_at = None;
        } else {
            attempts.failures = attempts.failures.saturating_add(1);
            attempts.failed_at = Some(self.clock.now());
        }
        result
    }

    /// One fetch of the key set, cached for as long as Cache-Control and the policy say.
    async fn fetch(&self) -> Result<Arc<JwkSet>, FetchError> {
        let fetched = self.fetcher.get(&self.jwks_uri).await?;
        let text = std::str::from_utf8(&fetched.body)
            .map_err(|_| FetchError::Document("the JWKS is not UTF-8".into()))?;
        let keys = Arc::new(
            JwkSet::from_json(text).map_err(|error| FetchError::Document(error.to_string()))?,
        );
        // max() then min(): never a panic, even when min_age > max_age (max_age wins).
        let age = fetched
            .max_age
            .unwrap_or(self.policy.default_age)
            .max(self.policy.min_age)
            .min(self.policy.max_age);
        let now = self.clock.now();
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            keys: Arc::clone(&keys),
            expires_at: now.checked_add(age).unwrap_or(now),
        });
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn document(issuer: &str, jwks_uri: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"issuer": issuer, "jwks_uri": jwks_uri})).unwrap()
    }

    #[test]
    fn the_discovery_url_drops_one_terminating_slash() {
        assert_eq!(
            discovery_url("https://idp.test/realms/a/"),
            "https://idp.test/realms/a/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.test"),
            "https://idp.test/.well-known/openid-configuration"
        );
    }

    #[test]
    fn a_discovery_document_speaks_only_for_its_own_issuer() {
        let keys = "https://idp.test/keys";
        let url = "https://idp.test/.well-known/openid-configuration";
        // Served where it says, and for the issuer configured.
        let found = parse_discovery(
            &document("https://idp.test", keys),
            Some(url),
            Some("https://idp.test"),
        )
        .unwrap();
        assert_eq!(
            (found.issuer.as_str(), found.jwks_uri.as_str()),
            ("https://idp.test", keys)
        );
        // A trailing slash is an issuer of its own, but served from the same URL.
        assert!(parse_discovery(&document("https://idp.test/", keys), Some(url), None).is_ok());
        for (body, from, expected) in [
            (document("https://evil.test", keys), Some(url), None),
            (
                document("https://idp.test/", keys),
                Some(url),
                Some("https://idp.test"),
            ),
            (
                document("https://idp.test", keys),
                None,
                Some("https://other.test"),
            ),
            (document("", keys), None, None),
            (
                document("https://idp.test", "http://idp.test/keys"),
                Some(url),
                None,
            ),
            (b"{\"issuer\":7}".to_vec(), None, None),
            (b"not json".to_vec(), None, None),
        ] {
            assert!(
                matches!(
                    parse_discovery(&body, from, expected),
                    Err(FetchError::Document(_))
                ),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
