//! `rampart saml verify | sp-metadata | authn-request`: the SAML service provider on the
//! command line.
//!
//! `saml verify` reads base64 `SAMLResponse` values (as the HTTP-POST binding sends them),
//! one per line, and writes one JSON line each: `{"accepted": true, "name_id": "...",
//! "attributes": {"<Name>": ["v", ...]}, "user": {...}}` or `{"accepted": false, "error":
//! "..."}`. The replay cache and the pending request IDs live for the whole run, so a
//! response accepted on one line is refused on a later one. A line longer than 1 MiB or
//! not UTF-8 gets an error verdict of its own. Exit 0 when every line was read (whatever
//! the verdicts), 2 on a usage or input error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use rampart_authn::ServiceProvider;
use rampart_authn::saml::NAME_ID_CLAIM;
use rampart_authn::saml::{DecryptionPolicy, IdpMetadata, MAX_METADATA_BYTES, SpKey};
use rampart_core::{Clock, FixedClock, SharedClock, SystemClock, Timestamp};
use serde_json::json;

use crate::cli::CliError;
use crate::input::{judge_lines, read_bounded};
use crate::oidc::MappingArgs;

/// The largest PEM file read (a key or a certificate).
const MAX_PEM_BYTES: u64 = 64 * 1024;
/// How long the request IDs given with `--request-id` stay pending.
const PENDING_FOR: Duration = Duration::from_secs(24 * 3600);

/// The `rampart saml` subcommands.
#[derive(Debug, Subcommand)]
pub enum SamlCommand {
    /// Verify SAMLResponse values (base64, one per line on stdin) as an SP would.
    Verify(VerifyArgs),
    /// Print this SP's metadata for the IdP's administrator.
    SpMetadata(SpMetadataArgs),
    /// Print an AuthnRequest redirect (HTTP-Redirect binding) as JSON: url, request_id.
    AuthnRequest(AuthnRequestArgs),
}

/// The service provider's identity, shared by the subcommands.
#[derive(Debug, Args)]
pub struct SpArgs {
    /// This SP's entity ID (the Audience assertions must name).
    #[arg(long)]
    sp_entity_id: String,
    /// This SP's assertion consumer URL (the Destination and Recipient).
    #[arg(long)]
    acs_url: String,
}

/// Arguments of `saml verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The IdP's metadata (one md:EntityDescriptor with at least one signing certificate).
    #[arg(long)]
    idp_metadata: PathBuf,
    #[command(flatten)]
    sp: SpArgs,
    /// The SP's RSA private key (PEM), for encrypted assertions.
    #[arg(long)]
    sp_key: Option<PathBuf>,
    /// Judge validity at this instant (RFC 3339) instead of now.
    #[arg(long)]
    now: Option<String>,
    /// An AuthnRequest ID responses may answer (repeatable); each is answered once.
    #[arg(long = "request-id")]
    request_ids: Vec<String>,
    /// Accept IdP-initiated responses (no InResponseTo).
    #[arg(long)]
    allow_unsolicited: bool,
    /// Accept 3DES-encrypted assertions.
    #[arg(long)]
    allow_3des: bool,
    /// Dangerous: decrypt a CBC-encrypted assertion in an unsigned Response (malleable
    /// ciphertext, a decryption oracle); by default such a response is refused.
    #[arg(long)]
    danger_cbc_without_signed_envelope: bool,
    /// How the NameID (claim `name_id`) and attributes (claims by Name) become a user.
    #[command(flatten)]
    mapping: MappingArgs,
}

/// Arguments of `saml sp-metadata`.
#[derive(Debug, Args)]
pub struct SpMetadataArgs {
    #[command(flatten)]
    sp: SpArgs,
    /// The SP's certificate (PEM), published for encryption (and signing with
    /// `--sign-requests`).
    #[arg(long)]
    sp_cert: Option<PathBuf>,
    /// Say that AuthnRequests are signed (with the key of `--sp-cert`).
    #[arg(long, requires = "sp_cert")]
    sign_requests: bool,
    /// validUntil, RFC 3339.
    #[arg(long)]
    valid_until: Option<String>,
}

/// Arguments of `saml authn-request`.
#[derive(Debug, Args)]
pub struct AuthnRequestArgs {
    /// The IdP's metadata (its HTTP-Redirect SingleSignOnService is the destination).
    #[arg(long)]
    idp_metadata: PathBuf,
    #[command(flatten)]
    sp: SpArgs,
    /// Sign the request with this RSA key (PEM).
    #[arg(long)]
    sign_with: Option<PathBuf>,
    /// RelayState to carry (at most 80 bytes).
    #[arg(long)]
    relay_state: Option<String>,
}

/// Runs one `rampart saml` subcommand.
pub fn run(command: SamlCommand) -> ExitCode {
    let result = match command {
        SamlCommand::Verify(args) => verify(&args),
        SamlCommand::SpMetadata(args) => sp_metadata(&args),
        SamlCommand::AuthnRequest(args) => authn_request(&args),
    };
    crate::cli::finish(result)
}

fn idp(path: &Path) -> Result<IdpMetadata, CliError> {
    let bytes = read_bounded(path, MAX_METADATA_BYTES as u64)?;
    let xml = String::from_utf8(bytes)
        .map_err(|_| CliError::failed("not UTF-8").context(path.display()))?;
    IdpMetadata::parse(&xml)
        .map_err(|error| CliError::failed(error.to_string()).context(path.display()))
}

fn sp_key(path: &Path) -> Result<SpKey, CliError> {
    SpKey::from_pem(&read_bounded(path, MAX_PEM_BYTES)?)
        .map_err(|error| CliError::failed(error.to_string()).context(path.display()))
}

fn service_provider(
    idp_path: &Path,
    sp: &SpArgs,
    clock: SharedClock,
) -> Result<ServiceProvider, CliError> {
    ServiceProvider::new(&sp.sp_entity_id, &sp.acs_url, idp(idp_path)?, clock)
        .map_err(|error| CliError::failed(error.to_string()))
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let clock: SharedClock = match &args.now {
        Some(text) => Arc::new(FixedClock(
            text.parse::<Timestamp>()
                .map_err(|error| format!("--now: {error}"))?
                .to_system_time(),
        )),
        None => SystemClock::shared(),
    };
    let now = clock.now();
    let mut sp = service_provider(&args.idp_metadata, &args.sp, clock)?
        .allow_unsolicited(args.allow_unsolicited)
        .with_decryption_policy(DecryptionPolicy {
            allow_triple_des: args.allow_3des,
            danger_cbc_without_signed_envelope: args.danger_cbc_without_signed_envelope,
        })
        .with_mapping(args.mapping.mapping(NAME_ID_CLAIM));
    if let Some(path) = &args.sp_key {
        sp = sp.with_key(sp_key(path)?, false);
    }
    for id in &args.request_ids {
        sp.expect_request(id, now + PENDING_FOR)
            .map_err(|error| error.to_string())?;
    }
    judge_lines(|encoded| match sp.consume(encoded) {
        Ok(login) => json!({
            "accepted": true,
            "name_id": login.name_id,
            "attributes": login.attributes,
            "user": login.user,
        }),
        Err(error) => json!({"accepted": false, "error": error.to_string()}),
    })?;
    Ok(ExitCode::SUCCESS)
}

fn sp_metadata(args: &SpMetadataArgs) -> Result<ExitCode, CliError> {
    let mut metadata =
        rampart_authn::saml::SpMetadata::new(&args.sp.sp_entity_id, &args.sp.acs_url);
    if let Some(path) = &args.sp_cert {
        let pem = read_bounded(path, MAX_PEM_BYTES)?;
        let der = rampart_certs::certificates_from_pem(&pem)
            .map_err(|error| format!("{}: {error}", path.display()))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{}: no certificate", path.display()))?;
        metadata = metadata.with_certificate(der.to_vec(), args.sign_requests);
    }
    if let Some(until) = &args.valid_until {
        let instant = until
            .parse::<Timestamp>()
            .map_err(|error| format!("--valid-until: {error}"))?;
        metadata = metadata.valid_until(instant.to_string());
    }
    print!("{}", metadata.to_xml());
    Ok(ExitCode::SUCCESS)
}

fn authn_request(args: &AuthnRequestArgs) -> Result<ExitCode, CliError> {
    let mut sp = service_provider(&args.idp_metadata, &args.sp, SystemClock::shared())?;
    if let Some(path) = &args.sign_with {
        sp = sp.with_key(sp_key(path)?, true);
    }
    let redirect = sp
        .authn_request(args.relay_state.as_deref(), Duration::from_secs(300))
        .map_err(|error| error.to_string())?;
    println!(
        "{}",
        json!({"url": redirect.url, "request_id": redirect.request_id})
    );
    Ok(ExitCode::SUCCESS)
}
