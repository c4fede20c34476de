//! Discovery and JWKS over https against a real TLS server on loopback (certificates made
//! by openssl): caching by Cache-Control, a key rotation picked up through an unknown
//! `kid`, refetches rate-limited against a flood of made-up `kid`s, and refusals (http,
//! redirects, timeouts, oversized bodies, another issuer, an untrusted server).
#![cfg(feature = "fetch")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_authn::oidc::{
    Algorithm, CachePolicy, ClaimMapping, FetchError, HttpsFetcher, JwksCache, UsernamePrefix,
    discover,
};
use rampart_authn::{IdTokenPolicy, IssuerKey, OidcAuthenticator, TokenIssuer};
use rampart_core::{
    Authenticator, AuthnError, BearerToken, Clock, ManualClock, RequestContext, SecretString,
    SharedClock, SystemClock, UserInfo,
};
use rampart_testing::{openssl_ca, openssl_request, openssl_sign};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and a server certificate for localhost, made by openssl: (CA, chain, key).
fn certificates(
    dir: &Path,
    name: &str,
) -> (
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
) {
    let ca = format!("{name}-ca");
    openssl_ca(dir, &ca);
    openssl_request(dir, name, &["-subj", "/CN=localhost"]);
    let cert = openssl_sign(
        dir,
        name,
        &ca,
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    (
        CertificateDer::from_pem_file(dir.join(format!("{ca}.crt"))).unwrap(),
        vec![CertificateDer::from_pem_file(cert).unwrap()],
        PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap(),
    )
}

/// What the IdP serves, changeable while it runs.
/// The token endpoint's behaviour: form body in, (status line, JSON body) out.
type TokenEndpoint = Box<dyn Fn(&str) -> (&'static str, String) + Send + Sync>;

struct Idp {
    issuer: String,
    jwks: Mutex<String>,
    cache_control: Mutex<String>,
    jwks_hits: AtomicUsize,
    token_endpoint: Mutex<Option<TokenEndpoint>>,
}

/// An https server on loopback answering the IdP's paths, one thread per connection.
fn serve(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<Mutex<Option<Arc<Idp>>>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let idp: Arc<Mutex<Option<Arc<Idp>>>> = Arc::new(Mutex::new(None));
    let shared = Arc::clone(&idp);
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = Arc::clone(&config);
            let idp = shared.lock().unwrap().clone().unwrap();
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, tcp);
                let mut request_line = String::new();
                let request_body;
                {
                    let mut reader = BufReader::new(&mut tls);
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    let mut header = String::new();
                    let mut length = 0usize;
                    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                        if let Some(value) =
                            header.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        header.clear();
                    }
                    let mut form = vec![0u8; length];
                    if std::io::Read::read_exact(&mut reader, &mut form).is_err() {
                        return;
                    }
                    request_body = String::from_utf8(form).unwrap_or_default();
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_owned();
                let (status, extra, body) = match path.as_str() {
                    "/.well-known/openid-configuration" => (
                        "200 OK",
                        String::new(),
                        serde_json::json!({"issuer": idp.issuer, "jwks_uri": format!("{}/jwks", idp.issuer)}).to_string(),
                    ),
                    "/other/.well-known/openid-configuration" => ("200 OK", String::new(), serde_json::json!({"issuer": "https://elsewhere.test", "jwks_uri": "https://elsewhere.test/jwks"}).to_string()),
                    "/jwks" => {
                        idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
                        let control = idp.cache_control.lock().unwrap().clone();
                        ("200 OK", format!("Cache-Control: {control}\r\n"), idp.jwks.lock().unwrap().clone())
                    }
                    "/token" => match idp.token_endpoint.lock().unwrap().as_ref() {
                        Some(endpoint) => {
                            let (status, body) = endpoint(&request_body);
                            (status, "Content-Type: application/json\r\n".into(), body)
                        }
                        None => ("404 Not Found", String::new(), String::new()),
                    },
                    "/redirect" => ("302 Found", format!("Location: {}/jwks\r\n", idp.issuer), String::new()),
                    "/slow" => {
                        std::thread::sleep(Duration::from_secs(3));
                        ("200 OK", String::new(), "{}".into())
                    }
                    "/big" => ("200 OK", String::new(), "x".repeat(2 * 1024 * 1024)),
                    _ => ("404 Not Found", String::new(), String::new()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, idp)
}

struct Setup {
    idp: Arc<Idp>,
    issuer: String,
    fetcher: HttpsFetcher,
    untrusting: HttpsFetcher,
    clock: Arc<ManualClock>,
}

fn setup(name: &str) -> Setup {
    let dir = rampart_testing::scratch_dir(&format!("authn-fetch-{name}"));
    let (ca, chain, key) = certificates(&dir, "idp");
    let (other_ca, _, _) = certificates(&dir, "other");
    let (port, slot) = serve(chain, key);
    let issuer = format!("https://localhost:{port}");
    let idp = Arc::new(Idp {
        issuer: issuer.clone(),
        jwks: Mutex::new(r#"{"keys":[]}"#.into()),
        cache_control: Mutex::new("max-age=300".into()),
        jwks_hits: AtomicUsize::new(0),
        token_endpoint: Mutex::new(None),
    });
    *slot.lock().unwrap() = Some(Arc::clone(&idp));
    Setup {
        idp,
        issuer,
        fetcher: HttpsFetcher::new(&[ca])
            .unwrap()
            .timeout(Duration::from_secs(1)),
        untrusting: HttpsFetcher::new(&[other_ca]).unwrap(),
        clock: Arc::new(ManualClock::new(SystemClock.now())),
    }
}

/// An OIDC authenticator for "kubernetes" over a fresh key-set cache of the IdP.
struct Login {
    auth: OidcAuthenticator,
    context: RequestContext,
}

impl Login {
    async fn login(&self, token: String) -> Result<rampart_core::Authenticated, AuthnError> {
        self.auth
            .authenticate(&BearerToken::new(SecretString::from(token)), &self.context)
            .await
    }
}

fn authenticator(setup: &Setup, clock: &SharedClock) -> Login {
    let cache = Arc::new(JwksCache::new(
        setup.fetcher.clone(),
        format!("{}/jwks", setup.issuer),
        CachePolicy::default(),
        Arc::clone(clock),
    ));
    Login {
        auth: OidcAuthenticator::with_jwks_cache(
            IdTokenPolicy::new(&setup.issuer, "kubernetes"),
            ClaimMapping::default().username_prefix(UsernamePrefix::None),
            cache,
            Arc::clone(clock),
        ),
        context: RequestContext::new(),
    }
}

/// An issuer at the IdP's URL with a key the IdP never published: its tokens name a
/// `kid` the key set does not hold.
fn stranger(setup: &Setup, clock: &SharedClock) -> TokenIssuer {
    TokenIssuer::new(
        &setup.issuer,
        IssuerKey::generate(Algorithm::ES256).unwrap(),
        Duration::from_secs(600),
        Arc::clone(clock),
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn discovery_and_jwks_are_fetched_and_cached_as_cache_control_says() {
    let setup = setup("cache");
    let key = IssuerKey::generate(Algorithm::ES256).unwrap();
    *setup.idp.jwks.lock().unwrap() = serde_json::json!({"keys": [key.public_jwk()]}).to_string();
    runtime().block_on(async {
        let discovery = discover(&setup.fetcher, &setup.issuer).await.unwrap();
        assert_eq!(discovery.jwks_uri, format!("{}/jwks", setup.issuer));
        let clock: SharedClock = setup.clock.clone();
        let cache = JwksCache::new(
            setup.fetcher.clone(),
            discovery.jwks_uri,
            CachePolicy::default(),
            clock,
        );
        assert_eq!(cache.keys().await.unwrap().keys().len(), 1);
        assert_eq!(cache.keys().await.unwrap().keys().len(), 1);
        assert_eq!(
            setup.idp.jwks_hits.load(Ordering::SeqCst),
            1,
            "kept for max-age"
        );
        setup.clock.advance(Duration::from_secs(299));
        cache.keys().await.unwrap();
        assert_eq!(setup.idp.jwks_hits.load(Ordering::SeqCst), 1);
        setup.clock.advance(Duration::from_secs(2));
        cache.keys().await.unwrap();
        assert_eq!(
            setup.idp.jwks_hits.load(Ordering::SeqCst),
            2,
            "refetched after max-age"
        );
        // no-store: kept for the floor (60 s) only, never refetched on every call.
        *setup.idp.cache_control.lock().unwrap() = "no-store".into();
        setup.clock.advance(Duration::from_secs(301));
        cache.keys().await.unwrap();
        cache.keys().await.unwrap();
        assert_eq!(setup.idp.jwks_hits.load(Ordering::SeqCst), 3);
        setup.clock.advance(Duration::from_secs(61));
        cache.keys().await.unwrap();
        assert_eq!(setup.idp.jwks_hits.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn a_rotation_is_picked_up_and_made_up_kids_cannot_flood_the_idp() {
    let setup = setup("rotation");
    let old = IssuerKey::generate(Algorithm::ES256).unwrap();
    let old_jwk = old.public_jwk().clone();
    *setup.idp.jwks.lock().unwrap() = serde_json::json!({"keys": [old_jwk]}).to_string();
    let clock: SharedClock = setup.clock.clone();
    let issuer = TokenIssuer::new(
        &setup.issuer,
        old,
        Duration::from_secs(600),
        Arc::clone(&clock),
    )
    .unwrap();
    runtime().block_on(async {
        let auth = authenticator(&setup, &clock);
        let login = |token: String| auth.login(token);
        let alice = UserInfo::new("alice");
        let token = issuer
            .mint(&alice, "kubernetes", Duration::from_secs(300), None)
            .unwrap()
            .token;
        assert_eq!(login(token).await.unwrap().user.username, "alice");
        assert_eq!(setup.idp.jwks_hits.load(Ordering::SeqCst), 1);

        // The IdP rotates: the new key is published; a token signed with it names a kid the
        // cache has not seen, which triggers one refetch.
        let new = IssuerKey::generate(Algorithm::ES256).unwrap();
        *setup.idp.jwks.lock().unwrap() =
            serde_json::json!({"keys": [new.public_jwk(), old_jwk]}).to_string();
        issuer.rotate(new);
        let token = issuer
            .mint(&alice, "kubernetes", Duration::from_secs(300), None)
            .unwrap()
            .token;
        assert_eq!(login(token).await.unwrap().user.username, "alice");
        assert_eq!(setup.idp.jwks_hits.load(Ordering::SeqCst), 2);

        // Fifty tokens naming made-up kids within the interval: no more requests.
        let stranger = stranger(&setup, &clock);
        for _ in 0..50 {
            let forged = stranger
                .mint(&alice, "kubernetes", Duration::from_secs(300), None)
                .unwrap()
                .token;
            assert_eq!(
                login(forged).await.unwrap_err(),
                AuthnError::InvalidCredentials
            );
        }
        assert_eq!(
            setup.idp.jwks_hits.load(Ordering::SeqCst),
            2,
            "made-up kids were rate-limited"
        );
        setup.clock.advance(Duration::from_secs(61));
        let forged = stranger
            .mint(&alice, "kubernetes", Duration::from_secs(300), None)
            .unwrap()
            .token;
        assert!(login(forged).await.is_err());
        assert_eq!(
            setup.idp.jwks_hits.load(Ordering::SeqCst),
            3,
            "one refetch per interval"
        );
    });
}

#[test]
fn the_client_refuses_what_it_should_not_follow_or_read() {
    let setup = setup("refusals");
    runtime().block_on(async {
        let get = |path: &str| {
            let url = format!("{}{path}", setup.issuer);
            let fetcher = setup.fetcher.clone();
            async move { fetcher.get(&url).await }
        };
        assert!(get("/jwks").await.is_ok());
        assert_eq!(get("/redirect").await.unwrap_err(), FetchError::Status(302));
        assert_eq!(get("/missing").await.unwrap_err(), FetchError::Status(404));
        assert!(matches!(get("/slow").await.unwrap_err(), FetchError::Transport(why) if why.contains("timed out")));
        assert!(matches!(get("/big").await.unwrap_err(), FetchError::TooLarge(_)));
        let plain = setup.issuer.replace("https://", "http://");
        assert!(matches!(setup.fetcher.get(&format!("{plain}/jwks")).await, Err(FetchError::Url(_))));
        assert!(matches!(setup.untrusting.get(&format!("{}/jwks", setup.issuer)).await, Err(FetchError::Transport(_))));
        let other = discover(&setup.fetcher, &format!("{}/other", setup.issuer)).await;
        assert!(matches!(other, Err(FetchError::Document(why)) if why.contains("another issuer")));
    });
}

/// The value of `name` in a form or query string (test side, with percent-decoding).
fn form_value(form: &str, name: &str) -> Option<String> {
    form.trim_start_matches('?').split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            let mut out = Vec::new();
            let bytes = value.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    out.push(
                        u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16)
                            .unwrap(),
                    );
                    i += 3;
                } else {
                    out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
    })
}

/// The authorization-code flow against the loopback IdP: the IdP side (authorization and
/// token endpoint) is played by this test, checking PKCE as RFC 7636 says and minting the
/// ID token with rampart's issuer; a real OpenID Provider (e.g. oidc-provider) is not
/// started here.
#[test]
fn the_code_flow_with_pkce_state_and_nonce_logs_in_and_refreshes() {
    use rampart_authn::oidc::{Client, LoginError, LoginRequest, pkce_challenge, refresh};

    let setup = setup("code-flow");
    let clock: SharedClock = Arc::new(SystemClock);
    let issuer = Arc::new(
        TokenIssuer::new(
            &setup.issuer,
            IssuerKey::generate(Algorithm::ES256).unwrap(),
            Duration::from_secs(600),
            Arc::clone(&clock),
        )
        .unwrap(),
    );
    let keys = rampart_authn::oidc::jwks_from_value(&issuer.jwks()).unwrap();
    let client = Client {
        client_id: "rampart-cli".into(),
        client_secret: Some(SecretString::from("s3cret")),
        redirect_uri: "http://127.0.0.1:8000/callback".into(),
        authorization_endpoint: format!("{}/authorize", setup.issuer),
        token_endpoint: format!("{}/token", setup.issuer),
    };
    // What the IdP remembers between the authorization and the token request.
    let granted: Arc<Mutex<Option<(String, String, String)>>> = Arc::new(Mutex::new(None)); // code, challenge, nonce
    let seen_bodies: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let granted = Arc::clone(&granted);
        let seen = Arc::clone(&seen_bodies);
        let issuer = Arc::clone(&issuer);
        *setup.idp.token_endpoint.lock().unwrap() = Some(Box::new(move |form: &str| {
            seen.lock().unwrap().push(form.to_owned());
            let alice = UserInfo::new("alice").with_groups(["dev"]);
            match form_value(form, "grant_type").as_deref() {
                Some("authorization_code") => {
                    let Some((code, challenge, nonce)) = granted.lock().unwrap().take() else {
                        return ("400 Bad Request", r#"{"error":"invalid_grant"}"#.into());
                    };
                    let verifier = form_value(form, "code_verifier").unwrap_or_default();
                    if form_value(form, "code").as_deref() != Some(code.as_str())
                        || pkce_challenge(&verifier) != challenge
                    {
                        return ("400 Bad Request", r#"{"error":"invalid_grant"}"#.into());
                    }
                    let id_token = issuer
                        .mint(
                            &alice,
                            "rampart-cli",
                            Duration::from_secs(300),
                            Some(&nonce),
                        )
                        .unwrap()
                        .token;
                    ("200 OK", serde_json::json!({"token_type": "Bearer", "access_token": "at-1", "refresh_token": "rt-1", "id_token": id_token}).to_string())
                }
                Some("refresh_token")
                    if form_value(form, "refresh_token").as_deref() == Some("rt-1") =>
                {
                    let id_token = issuer
                        .mint(&alice, "rampart-cli", Duration::from_secs(300), None)
                        .unwrap()
                        .token;
                    ("200 OK", serde_json::json!({"token_type": "Bearer", "access_token": "at-2", "id_token": id_token}).to_string())
                }
                _ => ("400 Bad Request", r#"{"error":"invalid_grant"}"#.into()),
            }
        }));
    }
    let policy = IdTokenPolicy::new(&setup.issuer, "rampart-cli");
    runtime().block_on(async {
        // The browser goes to the IdP; the IdP grants a code for this request.
        let login = LoginRequest::start(&client, &["groups"]).unwrap();
        let query = login.authorization_url.split_once('?').unwrap().1.to_owned();
        let state = form_value(&query, "state").unwrap();
        *granted.lock().unwrap() = Some(("code-123".into(), form_value(&query, "code_challenge").unwrap(), form_value(&query, "nonce").unwrap()));
        let callback = format!("code=code-123&state={state}");
        let tokens = login.finish(&client, &callback, &setup.fetcher, &policy, &keys, SystemClock.now()).await.unwrap();
        assert_eq!(tokens.id_token.claims["sub"], "alice");
        assert_eq!(tokens.access_token.expose_secret(), "at-1");
        // The token request carried the verifier and the client's credentials were sent
        // as HTTP Basic, not in the form.
        let body = seen_bodies.lock().unwrap()[0].clone();
        assert!(form_value(&body, "code_verifier").is_some_and(|v| v.len() >= 43));
        assert!(form_value(&body, "client_secret").is_none());

        let refreshed = refresh(&client, tokens.refresh_token.as_ref().unwrap(), &setup.fetcher, &policy, &keys, SystemClock.now()).await.unwrap();
        assert_eq!(refreshed.access_token.expose_secret(), "at-2");

        // A callback with another login's state: refused before any request.
        let before = seen_bodies.lock().unwrap().len();
        let other = LoginRequest::start(&client, &[]).unwrap();
        let error = other.finish(&client, &format!("code=code-123&state={state}"), &setup.fetcher, &policy, &keys, SystemClock.now()).await.unwrap_err();
        assert_eq!(error, LoginError::State);
        assert_eq!(seen_bodies.lock().unwrap().len(), before, "no token request for a foreign state");

        // The IdP's error callback; a code replayed after use (the IdP refuses it).
        let refused = LoginRequest::start(&client, &[]).unwrap();
        let refused_state = form_value(refused.authorization_url.split_once('?').unwrap().1, "state").unwrap();
        let error = refused.finish(&client, &format!("error=access_denied&state={refused_state}"), &setup.fetcher, &policy, &keys, SystemClock.now()).await.unwrap_err();
        assert!(matches!(error, LoginError::Refused(why) if why == "access_denied"));
        let replay = LoginRequest::start(&client, &[]).unwrap();
        let replay_state = form_value(replay.authorization_url.split_once('?').unwrap().1, "state").unwrap();
        let error = replay.finish(&client, &format!("code=code-123&state={replay_state}"), &setup.fetcher, &policy, &keys, SystemClock.now()).await.unwrap_err();
        assert_eq!(error, LoginError::Fetch(FetchError::Status(400)));

        // A code granted with another request's nonce: the ID token is refused.
        let mixed = LoginRequest::start(&client, &[]).unwrap();
        let mixed_query = mixed.authorization_url.split_once('?').unwrap().1.to_owned();
        *granted.lock().unwrap() = Some(("code-456".into(), form_value(&mixed_query, "code_challenge").unwrap(), "some-other-nonce".into()));
        let mixed_state = form_value(&mixed_query, "state").unwrap();
        let error = mixed.finish(&client, &format!("code=code-456&state={mixed_state}"), &setup.fetcher, &policy, &keys, SystemClock.now()).await.unwrap_err();
        assert!(matches!(error, LoginError::Token(rampart_authn::oidc::TokenError::Claim(why)) if why.contains("nonce")));
    });
}

/// The unknown-`kid` refetch limit counts attempts, not successes: while the IdP answers
/// junk, fifty forged tokens cause one request, and a failing IdP is retried only after a
/// backoff that grows, also for a cache that never held keys.
#[test]
fn a_failing_idp_is_not_asked_again_for_every_forged_token() {
    let setup = setup("failing");
    let good = IssuerKey::generate(Algorithm::ES256).unwrap();
    *setup.idp.jwks.lock().unwrap() = serde_json::json!({"keys": [good.public_jwk()]}).to_string();
    let clock: SharedClock = setup.clock.clone();
    let stranger = stranger(&setup, &clock);
    let forged = || {
        stranger
            .mint(
                &UserInfo::new("alice"),
                "kubernetes",
                Duration::from_secs(300),
                None,
            )
            .unwrap()
            .token
    };
    runtime().block_on(async {
        let auth = authenticator(&setup, &clock);
        let login = |token: String| auth.login(token);
        assert!(login(forged()).await.is_err());
        let hits = setup.idp.jwks_hits.load(Ordering::SeqCst);
        assert!(hits <= 2, "{hits}");
        // The IdP now answers junk.
        *setup.idp.jwks.lock().unwrap() = "<html>maintenance</html>".into();
        setup.clock.advance(Duration::from_secs(61));
        for _ in 0..50 {
            assert!(login(forged()).await.is_err());
        }
        let after = setup.idp.jwks_hits.load(Ordering::SeqCst);
        assert_eq!(
            after,
            hits + 1,
            "one attempt in the interval, though it failed"
        );

        // A cache that never held keys, against the failing IdP: backoff, not a request
        // per login.
        let empty = Arc::new(JwksCache::new(
            setup.fetcher.clone(),
            format!("{}/jwks", setup.issuer),
            CachePolicy::default(),
            Arc::clone(&clock),
        ));
        for _ in 0..50 {
            assert!(empty.keys().await.is_err());
        }
        assert_eq!(setup.idp.jwks_hits.load(Ordering::SeqCst), after + 1);
        setup.clock.advance(Duration::from_secs(2));
        assert!(empty.keys().await.is_err());
        assert_eq!(
            setup.idp.jwks_hits.load(Ordering::SeqCst),
            after + 2,
            "retried after the backoff"
        );
    });
}
