//! `rampart oidc verify` and `rampart token issue | jwks | discovery | keygen`: ID tokens
//! checked the way the library checks them, and the issuer's side on the command line.
//!
//! `oidc verify` reads compact JWTs, one per line, from stdin and writes one JSON line per
//! token: `{"accepted": true, "user": {...}, "claims": {...}}` or
//! `{"accepted": false, "error": "..."}`; a line longer than 1 MiB or not UTF-8 gets an
//! error verdict of its own. Exit 0 when every line was read (whatever the verdicts), 2 on
//! a usage or input error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cli::CliError;
use crate::input::{judge_lines, read_bounded};
use rampart_authn::oidc::{Algorithm, ClaimMapping, JwkSet, UsernamePrefix};
use rampart_authn::{IdTokenPolicy, IssuerKey, TokenIssuer};
use rampart_certs::{KeyAlgorithm, PrivateKey, parse_duration};
use rampart_core::{Clock, SharedClock, SystemClock, Timestamp, UserInfo};
use serde_json::json;

/// The largest document (discovery, JWKS) read.
const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;
/// The largest CA bundle read (a system bundle is a few hundred KiB).
const MAX_CA_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;

/// The `rampart oidc` subcommands.
#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Verify ID tokens (one per line on stdin) against an issuer's discovery and JWKS.
    Verify(VerifyArgs),
}

/// Arguments of `oidc verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The issuer's discovery document (`.well-known/openid-configuration`): a file, or an
    /// https URL.
    #[arg(long)]
    discovery: String,
    /// The issuer's JWKS: a file, or an https URL.
    #[arg(long)]
    jwks: String,
    /// PEM roots trusted when fetching over https (default: the system bundle).
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_file: PathBuf,
    /// The client id tokens must be issued to (`aud`).
    #[arg(long)]
    client_id: String,
    /// Judge validity at this instant (RFC 3339) instead of now.
    #[arg(long)]
    now: Option<String>,
    /// The nonce of the authentication request.
    #[arg(long)]
    nonce: Option<String>,
    /// The access token returned with the ID tokens: their `at_hash` is then checked.
    #[arg(long)]
    access_token: Option<String>,
    /// Accepted algorithms, comma-separated (default RS256,ES256; `Ed25519` and `EdDSA`
    /// name Ed25519).
    #[arg(long, value_delimiter = ',')]
    allowed_algs: Vec<String>,
    /// Another audience tokens may name beside the client id (repeatable); by default a
    /// token naming any other audience is refused (OpenID Connect Core 3.1.3.7).
    #[arg(long = "trusted-audience", value_name = "AUD")]
    trusted_audiences: Vec<String>,
    #[command(flatten)]
    mapping: MappingArgs,
}

/// How verified claims become a Kubernetes user (kube-apiserver's `--oidc-*` flags).
#[derive(Debug, Args)]
pub struct MappingArgs {
    /// Require a verified email (email present, email_verified true), whatever the
    /// username claim is.
    #[arg(long)]
    require_email_verified: bool,
    /// The claim naming the user (default: sub for OIDC, name_id for SAML).
    #[arg(long)]
    username_claim: Option<String>,
    /// The username prefix; `-` for none (default: Kubernetes', issuer and `#`).
    #[arg(long)]
    username_prefix: Option<String>,
    /// The claim holding groups.
    #[arg(long)]
    groups_claim: Option<String>,
    /// The prefix of groups.
    #[arg(long, default_value = "")]
    groups_prefix: String,
}

impl MappingArgs {
    /// The mapping these flags describe, naming the user by `default_claim` unless told.
    pub(crate) fn mapping(&self, default_claim: &str) -> ClaimMapping {
        let mut mapping = ClaimMapping::default()
            .username_claim(self.username_claim.as_deref().unwrap_or(default_claim))
            .require_email_verified(self.require_email_verified);
        mapping = match self.username_prefix.as_deref() {
            None => mapping,
            Some("-") => mapping.username_prefix(UsernamePrefix::None),
            Some(prefix) => mapping.username_prefix(UsernamePrefix::Custom(prefix.to_owned())),
        };
        if let Some(claim) = &self.groups_claim {
            mapping = mapping.groups_claim(claim, &self.groups_prefix);
        }
        mapping
    }
}

/// The `rampart token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a signing key (PKCS#8 PEM, mode 0600): p256 (ES256, default) or ed25519 (EdDSA).
    Keygen(KeygenArgs),
    /// Mint an ID token for a user.
    Issue(IssueArgs),
    /// Print the JWKS document for the given keys (active first, then those in overlap).
    Jwks(KeysArgs),
    /// Print the discovery document for the given keys.
    Discovery(KeysArgs),
}

/// Arguments of `token keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key.
    #[arg(long)]
    out: PathBuf,
    /// p256 or ed25519 (RSA keys come from elsewhere, e.g. openssl).
    #[arg(long, default_value = "p256")]
    key_type: String,
}

/// Arguments of `token issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The issuer URL (https), the `iss` of the token.
    #[arg(long)]
    issuer: String,
    /// The signing key (PKCS#8 PEM: P-256 signs ES256, Ed25519 EdDSA, RSA RS256).
    #[arg(long)]
    key: PathBuf,
    /// The audience (the client id the verifier expects).
    #[arg(long)]
    audience: String,
    /// The username (`sub`).
    #[arg(long)]
    user: String,
    /// A group (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// The user's uid.
    #[arg(long)]
    uid: Option<String>,
    /// Lifetime, like 10m.
    #[arg(long, default_value = "10m", value_parser = duration)]
    ttl: Duration,
    /// Print a client.authentication.k8s.io/v1 ExecCredential (for kubectl) instead of the token.
    #[arg(long)]
    exec_credential: bool,
}

/// Arguments of `token jwks` and `token discovery`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The issuer URL (https).
    #[arg(long)]
    issuer: String,
    /// Signing keys: the active one first, then earlier ones still in their overlap.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
}

pub(crate) fn duration(text: &str) -> Result<Duration, CliError> {
    parse_duration(text).map_err(|error| CliError::failed(error.to_string()))
}

fn read_document(path: &Path) -> Result<String, CliError> {
    String::from_utf8(read_bounded(path, MAX_DOCUMENT_BYTES)?)
        .map_err(|_| CliError::failed("not UTF-8").context(path.display()))
}

/// The algorithms named on the command line (`--allowed-algs`).
pub(crate) fn algorithms(names: &[String]) -> Result<Vec<Algorithm>, CliError> {
    names
        .iter()
        .map(|name| {
            Algorithm::from_name(name).ok_or_else(|| {
                CliError::failed(format!("unknown or refused algorithm {name}"))
                    .hint("use ES256, ES384, RS256, PS256, EdDSA …")
            })
        })
        .collect()
}

/// Runs one `rampart oidc` subcommand.
pub fn run_oidc(command: OidcCommand) -> ExitCode {
    match command {
        OidcCommand::Verify(args) => crate::cli::finish(verify(&args)),
    }
}

/// A document from a file, or fetched over https (never plain http).
fn load(source: &str, ca_file: &Path) -> Result<String, CliError> {
    // Anything URL-shaped goes to the fetcher, which decides what it fetches (https only).
    if !source.contains("://") {
        return read_document(Path::new(source));
    }
    let bundle = read_bounded(ca_file, MAX_CA_BUNDLE_BYTES)?;
    let roots = rampart_certs::certificates_from_pem(&bundle)
        .map_err(|error| format!("{}: {error}", ca_file.display()))?;
    let fetcher =
        rampart_authn::oidc::HttpsFetcher::new(&roots).map_err(|error| error.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let fetched = runtime
        .block_on(fetcher.get(source))
        .map_err(|error| format!("{source}: {error}"))?;
    String::from_utf8(fetched.body).map_err(|_| CliError::failed("not UTF-8").context(source))
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let fetched_from = args
        .discovery
        .contains("://")
        .then_some(args.discovery.as_str());
    let issuer = rampart_authn::oidc::parse_discovery(
        load(&args.discovery, &args.ca_file)?.as_bytes(),
        fetched_from,
        None,
    )
    .map_err(|error| error.to_string())?
    .issuer;
    let keys =
        JwkSet::from_json(&load(&args.jwks, &args.ca_file)?).map_err(|error| error.to_string())?;
    let mut policy = IdTokenPolicy::new(&issuer, &args.client_id)
        .trusted_audiences(args.trusted_audiences.iter().cloned());
    if !args.allowed_algs.is_empty() {
        policy = policy.algorithms(algorithms(&args.allowed_algs)?);
    }
    let now = match &args.now {
        Some(text) => text
            .parse::<Timestamp>()
            .map_err(|error| format!("--now: {error}"))?
            .to_system_time(),
        None => SystemClock.now(),
    };
    let mapping = args.mapping.mapping("sub");
    judge_lines(|token| {
        policy
            .verify(
                token,
                &keys,
                now,
                args.nonce.as_deref(),
                args.access_token.as_deref(),
            )
            .and_then(|verified| {
                let user = mapping.user(&verified.claims, &issuer)?;
                Ok(json!({"accepted": true, "user": user, "claims": verified.claims}))
            })
            .unwrap_or_else(|error| json!({"accepted": false, "error": error.to_string()}))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a PKCS#8 PEM key; the key's kind names its JOSE algorithm (the issuer's rule).
fn issuer_key(path: &Path) -> Result<IssuerKey, CliError> {
    IssuerKey::new(PrivateKey::read_pem_file(path)?)
        .map_err(|error| CliError::failed(error.to_string()).context(path.display()))
}

/// An issuer over `keys`: the first active, the rest published as in their overlap window.
fn issuer(
    url: &str,
    keys: &[PathBuf],
    max_ttl: Duration,
    clock: SharedClock,
) -> Result<TokenIssuer, CliError> {
    let mut keys = keys.iter().rev().map(|path| issuer_key(path));
    let oldest = keys.next().ok_or("no key")??;
    let issuer =
        TokenIssuer::new(url, oldest, max_ttl, clock).map_err(|error| error.to_string())?;
    for key in keys {
        issuer.rotate(key?);
    }
    Ok(issuer)
}

/// Runs one `rampart token` subcommand.
pub fn run_token(command: TokenCommand) -> ExitCode {
    let result = match command {
        TokenCommand::Keygen(args) => keygen(&args),
        TokenCommand::Issue(args) => issue(&args),
        TokenCommand::Jwks(args) => issuer(
            &args.issuer,
            &args.keys,
            Duration::from_secs(3600),
            Arc::new(SystemClock),
        )
        .map(|issuer| println!("{}", issuer.jwks())),
        TokenCommand::Discovery(args) => issuer(
            &args.issuer,
            &args.keys,
            Duration::from_secs(3600),
            Arc::new(SystemClock),
        )
        .map(|issuer| println!("{}", issuer.discovery())),
    };
    crate::cli::finish(result.map(|()| ExitCode::SUCCESS))
}

fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    let algorithm = match args.key_type.as_str() {
        "p256" => KeyAlgorithm::EcdsaP256,
        "ed25519" => KeyAlgorithm::Ed25519,
        other => return Err(format!("key type {other}: p256 or ed25519").into()),
    };
    if args.out.exists() {
        return Err(format!("{} exists: a key is never overwritten", args.out.display()).into());
    }
    let key = PrivateKey::generate(algorithm).map_err(|error| error.to_string())?;
    key.write_pem_file(&args.out)
        .map_err(|error| error.to_string())?;
    println!("{}", issuer_key(&args.out)?.kid());
    Ok(())
}

fn issue(args: &IssueArgs) -> Result<(), CliError> {
    // The maximum lifetime is the requested one: this is an operator's tool.
    let clock: SharedClock = Arc::new(SystemClock);
    let issuer = issuer(
        &args.issuer,
        std::slice::from_ref(&args.key),
        args.ttl,
        clock,
    )?;
    let mut user = UserInfo::new(&args.user).with_groups(args.groups.iter().cloned());
    if let Some(uid) = &args.uid {
        user = user.with_uid(uid);
    }
    let issued = issuer
        .mint(&user, &args.audience, args.ttl, None)
        .map_err(|error| error.to_string())?;
    if args.exec_credential {
        println!(
            "{}",
            crate::cli::exec_credential(&issued.token, issued.expires_at)
        );
    } else {
        println!("{}", issued.token);
    }
    Ok(())
}
