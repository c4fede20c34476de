//! `rampart login`: a kubectl credential plugin. It logs the user in at an OpenID
//! Provider with the authorization-code flow (PKCE S256, state, nonce; RFC 8252's loopback
//! redirect), verifies the ID token, and prints a client.authentication.k8s.io/v1
//! `ExecCredential` carrying it. With `--cache-file`, a still-valid token is reused and a
//! refresh token is used before the browser is asked again; the file is mode 0600 and
//! holds the tokens only.
//!
//! The authorization URL goes to stderr (kubectl shows it to the user); stdout carries the
//! ExecCredential and nothing else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;
use rampart_authn::IdTokenPolicy;
use rampart_authn::oidc::{Client, HttpsFetcher, JwkSet, LoginRequest, Tokens, discover, refresh};
use rampart_core::{Clock, SecretString, SystemClock};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cli::CliError;
use crate::input::read_bounded;

/// The largest cache file or client-secret file read.
const MAX_SMALL_FILE_BYTES: u64 = 64 * 1024;
/// The largest CA bundle read.
const MAX_CA_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;
/// The largest HTTP request head the callback listener reads.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;
/// A cached token is reused only while it has at least this long to live.
const MIN_REMAINING: Duration = Duration::from_secs(60);

/// Arguments of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The OpenID Provider's issuer URL (https).
    #[arg(long)]
    issuer: String,
    /// This client's id (the ID token's audience; kube-apiserver's --oidc-client-id).
    #[arg(long)]
    client_id: String,
    /// A file holding the client secret, for confidential clients.
    #[arg(long)]
    client_secret_file: Option<PathBuf>,
    /// Extra scopes (openid is always asked for), e.g. --scope email --scope groups.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Where the callback listener binds: a loopback address (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// How long to wait for the browser to come back.
    #[arg(long, default_value = "300s", value_parser = crate::oidc::duration)]
    timeout: Duration,
    /// PEM roots trusted for the provider (default: the system bundle).
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_file: PathBuf,
    /// Accepted ID-token algorithms, comma-separated (default RS256,ES256).
    #[arg(long, value_delimiter = ',')]
    allowed_algs: Vec<String>,
    /// Keep tokens here between runs (mode 0600).
    #[arg(long)]
    cache_file: Option<PathBuf>,
}

/// Runs `rampart login`.
pub fn run(args: LoginArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return CliError::failed(error.to_string()).report(),
    };
    crate::cli::finish(runtime.block_on(login(&args)).map(|credential| {
        println!("{credential}");
        ExitCode::SUCCESS
    }))
}

/// The provider's pieces a login needs.
struct Provider {
    client: Client,
    fetcher: HttpsFetcher,
    policy: IdTokenPolicy,
    keys: JwkSet,
}

async fn login(args: &LoginArgs) -> Result<Value, CliError> {
    if !args.listen.ip().is_loopback() {
        return Err("--listen must be a loopback address (RFC 8252)".into());
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("--listen {}: {error}", args.listen))?;
    let port = listener
        .local_addr()
        .map_err(|error| error.to_string())?
        .port();
    let redirect_uri = format!("http://{}:{port}/callback", args.listen.ip());
    let provider = provider(args, redirect_uri).await?;
    let now = SystemClock.now();

    if let Some(cache) = &args.cache_file
        && let Some(tokens) = from_cache(cache, &provider, now).await
    {
        save(cache, &tokens)?;
        return Ok(exec_credential(&tokens));
    }

    let scopes: Vec<&str> = args.scopes.iter().map(String::as_str).collect();
    let request = LoginRequest::start(&provider.client, &scopes).map_err(|e| e.to_string())?;
    eprintln!(
        "Open this URL in a browser to log in:\n{}",
        request.authorization_url
    );
    let query = tokio::time::timeout(args.timeout, callback(&listener))
        .await
        .map_err(|_| "timed out waiting for the browser".to_owned())??;
    let tokens = request
        .finish(
            &provider.client,
            &query,
            &provider.fetcher,
            &provider.policy,
            &provider.keys,
            SystemClock.now(),
        )
        .await
        .map_err(|error| error.to_string())?;
    if let Some(cache) = &args.cache_file {
        save(cache, &tokens)?;
    }
    Ok(exec_credential(&tokens))
}

async fn provider(args: &LoginArgs, redirect_uri: String) -> Result<Provider, CliError> {
    let bundle = read_bounded(&args.ca_file, MAX_CA_BUNDLE_BYTES)?;
    let roots = rampart_certs::certificates_from_pem(&bundle)
        .map_err(|error| format!("{}: {error}", args.ca_file.display()))?;
    let fetcher = HttpsFetcher::new(&roots).map_err(|error| error.to_string())?;
    let discovery = discover(&fetcher, &args.issuer)
        .await
        .map_err(|error| format!("discovery: {error}"))?;
    let client_secret = match &args.client_secret_file {
        Some(path) => {
            let bytes = read_bounded(path, MAX_SMALL_FILE_BYTES)?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
            Some(SecretString::from(text.trim()))
        }
        None => None,
    };
    let client = Client::from_discovery(&discovery, &args.client_id, client_secret, redirect_uri)
        .map_err(|error| format!("discovery: {error}"))?;
    let jwks = fetcher
        .get(&discovery.jwks_uri)
        .await
        .map_err(|error| format!("JWKS: {error}"))?;
    let keys = JwkSet::from_json(
        std::str::from_utf8(&jwks.body).map_err(|_| "JWKS: not UTF-8".to_owned())?,
    )
    .map_err(|error| format!("JWKS: {error}"))?;
    let mut policy = IdTokenPolicy::new(&args.issuer, &args.client_id);
    if !args.allowed_algs.is_empty() {
        policy = policy.algorithms(crate::oidc::algorithms(&args.allowed_algs)?);
    }
    Ok(Provider {
        client,
        fetcher,
        policy,
        keys,
    })
}

/// Waits for the browser's GET /callback?…, answers it, and returns its query string.
/// Other requests (a favicon) get a 404 and the wait goes on.
async fn callback(listener: &TcpListener) -> Result<String, CliError> {
    loop {
        let (mut stream, _) = listener.accept().await.map_err(|error| error.to_string())?;
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_CALLBACK_BYTES {
            let read = stream
                .read(&mut buffer)
                .await
                .map_err(|error| error.to_string())?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(buffer.get(..read).unwrap_or_default());
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let target = line
            .strip_prefix("GET ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_default();
        if let Some(query) = target.strip_prefix("/callback?") {
            let body = "Login complete; you can close this window.\n";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                 cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            return Ok(query.to_owned());
        }
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    }
}

fn exec_credential(tokens: &Tokens) -> Value {
    crate::cli::exec_credential(
        tokens.raw_id_token.expose_secret(),
        tokens.id_token.expires_at,
    )
}

/// A cached ID token still valid for a while, or one obtained with the cached refresh
/// token; `None` when a browser login is needed.
async fn from_cache(path: &Path, provider: &Provider, now: SystemTime) -> Option<Tokens> {
    // The cache is this command's own file: read without following a link planted in its
    // place (which could hand the user someone else's token) or blocking on a FIFO.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            rampart_core::fs::open_read_no_follow(path).ok()?,
            MAX_SMALL_FILE_BYTES + 1,
        ),
        &mut bytes,
    )
    .ok()?;
    if bytes.len() as u64 > MAX_SMALL_FILE_BYTES {
        return None;
    }
    let cached: Value = serde_json::from_slice(&bytes).ok()?;
    let refresh_token = cached
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(SecretString::from);
    if let Some(id_token) = cached.get("id_token").and_then(Value::as_str)
        && let Ok(verified) = provider
            .policy
            .verify(id_token, &provider.keys, now, None, None)
        && verified.expires_at > now + MIN_REMAINING
    {
        return Some(Tokens {
            id_token: verified,
            raw_id_token: SecretString::from(id_token),
            access_token: SecretString::from(""),
            refresh_token,
        });
    }
    let refresh_token = refresh_token?;
    let mut tokens = refresh(
        &provider.client,
        &refresh_token,
        &provider.fetcher,
        &provider.policy,
        &provider.keys,
        now,
    )
    .await
    .ok()?;
    // Providers that do not rotate refresh tokens send none back: keep the one we have.
    tokens.refresh_token = tokens.refresh_token.or(Some(refresh_token));
    Some(tokens)
}

/// Writes the cache with mode 0600 (created so; never widened).
fn save(path: &Path, tokens: &Tokens) -> Result<(), CliError> {
    let document = json!({
        "id_token": tokens.raw_id_token.expose_secret(),
        "refresh_token": tokens.refresh_token.as_ref().map(SecretString::expose_secret),
    });
    // Mode 0600, atomically, never through a link planted where the cache goes.
    rampart_core::fs::write_private_atomically(path, document.to_string().as_bytes())
        .map_err(|error| CliError::failed(error.to_string()).context(path.display()))
}
