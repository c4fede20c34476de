//! `rampart certs`: a small CA on the command line, and an SSH certificate signer. Keys are written with mode 0600 and
//! never printed; every leaf passes the signing policy first.
//!
//! Exit codes: the table of [`crate::cli::EXIT_CODES`] (1: the signing policy, a CSR whose
//! signature does not verify; 3: the audit trail could not be written, so nothing was
//! issued).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use rampart_certs::{
    AltNames, Candidate, CertAudit, CertError, CertificateAuthority, CertificateSubject,
    KeyAlgorithm, KubernetesSigner, SigningPolicy, SshCa, SshCertKind, SshCertRequest, SshPolicy,
    Summary, Usage, certificate_path, certificates_from_pem, format_duration, parse_duration,
    summarize_certificate, summarize_csr, verify_csr, write_certificates,
};

use crate::cli::CliError;
use crate::operator_audit::AuditArgs;

/// The `rampart certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create a self-signed root CA: writes DIR/ca.crt and DIR/ca.key (0600).
    InitCa(InitCaArgs),
    /// Issue a certificate with a new key: writes PREFIX.crt (leaf, then chain) and PREFIX.key.
    Issue(IssueArgs),
    /// Sign a PKCS#10 CSR under the signing policy: writes the chain to --out.
    SignCsr(SignCsrArgs),
    /// Print a readable summary of a PEM certificate or CSR.
    Inspect(InspectArgs),
    /// Sign an OpenSSH public key: writes KEY-cert.pub next to it.
    SshSign(SshSignArgs),
}

/// Arguments of `ssh-sign`.
#[derive(Debug, Args)]
pub struct SshSignArgs {
    /// The CA's OpenSSH private key (unencrypted).
    #[arg(long)]
    ca_key: PathBuf,
    /// A principal: user name, or host name with --host (repeatable, at least one).
    #[arg(long = "principal", required = true)]
    principals: Vec<String>,
    /// Lifetime, like 15m, 12h.
    #[arg(long, value_parser = duration)]
    ttl: Duration,
    /// The public key file to certify (e.g. ~/.ssh/id_ed25519.pub).
    public_key: PathBuf,
    /// A host certificate instead of a user certificate.
    #[arg(long)]
    host: bool,
    /// The key id OpenSSH logs (default: the first principal).
    #[arg(long)]
    key_id: Option<String>,
    /// The only command the certificate may run.
    #[arg(long)]
    force_command: Option<String>,
    /// An address or CIDR the certificate may be used from (repeatable).
    #[arg(long = "source-address")]
    source_addresses: Vec<String>,
    /// An extension to grant (repeatable; default for user certificates: permit-pty).
    #[arg(long = "extension")]
    extensions: Vec<String>,
    /// The longest lifetime granted.
    #[arg(long, default_value = "16h", value_parser = duration)]
    max_ttl: Duration,
    #[command(flatten)]
    audit: AuditArgs,
}

/// Arguments of `init-ca`.
#[derive(Debug, Args)]
pub struct InitCaArgs {
    /// Directory for ca.crt and ca.key (created; an existing ca.key is never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// The CA's common name.
    #[arg(long, default_value = "rampart CA")]
    cn: String,
    /// Lifetime, like 3650d.
    #[arg(long, default_value = "3650d", value_parser = duration)]
    ttl: Duration,
    /// Key type: p256, p384 or ed25519.
    #[arg(long, default_value = "p256", value_parser = key_algorithm)]
    key_type: KeyAlgorithm,
    #[command(flatten)]
    audit: AuditArgs,
}

/// The signing policy's knobs.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The longest lifetime granted.
    #[arg(long, default_value = "30d", value_parser = duration)]
    max_ttl: Duration,
    /// Only DNS names in these domains (repeatable; default: any host name).
    #[arg(long = "allow-dns-suffix")]
    dns_suffixes: Vec<String>,
    /// Allow `*.` DNS names.
    #[arg(long)]
    allow_wildcards: bool,
    /// Allow URI names.
    #[arg(long)]
    allow_uris: bool,
    /// Allow email names.
    #[arg(long)]
    allow_emails: bool,
    /// Allow `system:` users and groups (e.g. `system:masters`, which bypasses RBAC).
    #[arg(long)]
    allow_system_identities: bool,
    /// Apply a Kubernetes signer's rules: kubernetes.io/kube-apiserver-client,
    /// kubernetes.io/kube-apiserver-client-kubelet or kubernetes.io/kubelet-serving.
    #[arg(long)]
    signer: Option<String>,
}

/// Server or client.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct UsageArgs {
    /// A TLS server certificate.
    #[arg(long)]
    server: bool,
    /// A TLS client certificate (a Kubernetes user or kubelet).
    #[arg(long)]
    client: bool,
}

impl UsageArgs {
    fn usage(&self) -> Usage {
        match (self.server, self.client) {
            (true, true) => Usage::ServerAndClient,
            (true, false) => Usage::Server,
            _ => Usage::Client,
        }
    }
}

/// Arguments of `issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The CA directory (ca.crt, ca.key).
    #[arg(long)]
    ca: PathBuf,
    /// Common name: the Kubernetes username, or the server's name.
    #[arg(long)]
    cn: String,
    /// Organization: a Kubernetes group (repeatable).
    #[arg(long = "org")]
    orgs: Vec<String>,
    /// A DNS name (repeatable).
    #[arg(long)]
    dns: Vec<String>,
    /// An IP address (repeatable).
    #[arg(long)]
    ip: Vec<IpAddr>,
    /// A URI name (repeatable).
    #[arg(long)]
    uri: Vec<String>,
    /// An email name (repeatable).
    #[arg(long)]
    email: Vec<String>,
    /// Key type: p256, p384 or ed25519.
    #[arg(long, default_value = "p256", value_parser = key_algorithm)]
    key_type: KeyAlgorithm,
    /// Output prefix: writes PREFIX.crt and PREFIX.key.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    leaf: LeafArgs,
}

/// What every leaf-issuing command takes: usage, lifetime, policy, audit.
#[derive(Debug, Args)]
pub struct LeafArgs {
    #[command(flatten)]
    usage: UsageArgs,
    /// Lifetime, like 15m, 12h, 30d.
    #[arg(long, default_value = "24h", value_parser = duration)]
    ttl: Duration,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

/// Arguments of `sign-csr`.
#[derive(Debug, Args)]
pub struct SignCsrArgs {
    /// The CA directory (ca.crt, ca.key).
    #[arg(long)]
    ca: PathBuf,
    /// The CSR (PEM or DER).
    #[arg(long)]
    csr: PathBuf,
    /// Where to write the certificate chain (PEM, leaf first).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    leaf: LeafArgs,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A PEM file with certificates or a CSR.
    file: PathBuf,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// A certificate error as the exit-code table reads it: a policy or signature refusal is 1,
/// a certificate that could not be audited 3, anything else 2.
impl From<CertError> for CliError {
    fn from(error: CertError) -> Self {
        match error {
            CertError::Refused(_) | CertError::BadSignature(_) => {
                CliError::refused(error.to_string())
            }
            CertError::Unaudited => CliError::unaudited(
                "the certificate was signed but could not be audited, so it was not written",
            ),
            _ => CliError::failed(error.to_string()),
        }
    }
}

fn duration(text: &str) -> Result<Duration, CliError> {
    Ok(parse_duration(text)?)
}

fn key_algorithm(text: &str) -> Result<KeyAlgorithm, CliError> {
    Ok(text.parse::<KeyAlgorithm>()?)
}

/// Runs one `rampart certs` subcommand.
pub fn run(command: CertsCommand) -> ExitCode {
    let result = match command {
        CertsCommand::InitCa(args) => init_ca(&args),
        CertsCommand::Issue(args) => issue(&args),
        CertsCommand::SignCsr(args) => sign_csr(&args),
        CertsCommand::Inspect(args) => inspect(&args),
        CertsCommand::SshSign(args) => ssh_sign(&args),
    };
    crate::cli::finish(result.map(|()| ExitCode::SUCCESS))
}

fn init_ca(args: &InitCaArgs) -> Result<(), CliError> {
    let key_path = args.out.join("ca.key");
    if key_path.exists() {
        return Err(CliError::from(CertError::Invalid(format!(
            "{} exists: a CA key is never overwritten",
            key_path.display()
        ))));
    }
    let ca = CertificateAuthority::create_root(
        &CertificateSubject::new(&args.cn),
        args.ttl,
        args.key_type,
        rampart_core::SystemClock::shared(),
    )?;
    let ca = match cert_audit(&args.audit)? {
        Some(audit) => ca.audit_to(audit),
        None => ca,
    };
    ca.record_creation()?;
    ca.save(&args.out)?;
    println!("{}", args.out.join("ca.crt").display());
    Ok(())
}

/// The library's certificate audit over the command's trail, when one is configured.
fn cert_audit(audit: &AuditArgs) -> Result<Option<CertAudit>, CliError> {
    Ok(audit
        .sink()
        .map_err(|error| {
            CliError::unaudited(format!("the audit trail cannot be written: {error}"))
                .hint("nothing was issued")
        })?
        .map(|(sink, actor)| CertAudit::new(sink, rampart_core::SystemClock::shared(), actor)))
}

/// The CA in `dir`, auditing what it issues when a trail is configured.
fn load_ca(dir: &Path, audit: &AuditArgs) -> Result<CertificateAuthority, CliError> {
    let ca = CertificateAuthority::load(dir, rampart_core::SystemClock::shared())?;
    Ok(match cert_audit(audit)? {
        Some(audit) => ca.audit_to(audit),
        None => ca,
    })
}

fn policy(args: &PolicyArgs) -> Result<SigningPolicy, CertError> {
    let mut policy = SigningPolicy::default()
        .max_ttl(args.max_ttl)
        .dns_suffixes(args.dns_suffixes.iter().cloned())
        .allow_wildcards(args.allow_wildcards)
        .allow_uris(args.allow_uris)
        .allow_emails(args.allow_emails)
        .allow_system_identities(args.allow_system_identities);
    if let Some(signer) = &args.signer {
        policy = policy.kubernetes_signer(signer.parse::<KubernetesSigner>()?);
    }
    Ok(policy)
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut path = prefix.as_os_str().to_owned();
    path.push(extension);
    PathBuf::from(path)
}

fn issue(args: &IssueArgs) -> Result<(), CliError> {
    let ca = load_ca(&args.ca, &args.leaf.audit)?;
    let subject = CertificateSubject::new(&args.cn).with_organizations(args.orgs.iter().cloned());
    let alt_names = AltNames {
        dns: args.dns.clone(),
        ips: args.ip.clone(),
        uris: args.uri.clone(),
        emails: args.email.clone(),
    };
    let request = args.leaf.accept(subject, alt_names, args.key_type)?;
    let (issued, key) = ca.issue_with_new_key(&request, args.key_type)?;
    key.write_pem_file(&with_extension(&args.out, ".key"))?;
    args.leaf
        .deliver(&with_extension(&args.out, ".crt"), &issued)
}

fn sign_csr(args: &SignCsrArgs) -> Result<(), CliError> {
    let bytes = read_limited(&args.csr)?;
    let csr = verify_csr(&bytes)?;
    let ca = load_ca(&args.ca, &args.leaf.audit)?;
    let candidate = args
        .leaf
        .candidate(csr.subject, csr.alt_names, csr.key_algorithm);
    let (_, issued) = ca.issue_judged(&candidate, &policy(&args.leaf.policy)?, csr.public_key)?;
    args.leaf.deliver(&args.out, &issued)
}

impl LeafArgs {
    /// The signing policy's verdict on a leaf for `subject` with `key_algorithm`.
    fn accept(
        &self,
        subject: CertificateSubject,
        alt_names: AltNames,
        key_algorithm: KeyAlgorithm,
    ) -> Result<rampart_certs::LeafRequest, CliError> {
        let candidate = self.candidate(subject, alt_names, key_algorithm);
        Ok(policy(&self.policy)?.evaluate(&candidate)?)
    }

    /// What is asked for: a leaf for `subject` with `key_algorithm`, as these arguments say.
    fn candidate(
        &self,
        subject: CertificateSubject,
        alt_names: AltNames,
        key_algorithm: KeyAlgorithm,
    ) -> Candidate {
        Candidate {
            subject,
            alt_names,
            key_algorithm,
            usage: self.usage.usage(),
            ttl: self.ttl,
        }
    }

    /// Writes the chain to `path` and reports it on stdout (the CA recorded the issue).
    fn deliver(&self, path: &Path, issued: &rampart_certs::Issued) -> Result<(), CliError> {
        write_certificates(path, &issued.chain())?;
        report(path, issued);
        Ok(())
    }
}

/// One JSON line on stdout: where the certificate went, its serial and lifetime.
fn report(path: &Path, issued: &rampart_certs::Issued) {
    let serial = issued.serial_hex();
    let lifetime = issued
        .not_after
        .duration_since(issued.not_before)
        .unwrap_or_default();
    let line = serde_json::json!({
        "certificate": path.display().to_string(),
        "serial": serial,
        "not_before": rampart_core::Timestamp::from(issued.not_before).to_string(),
        "not_after": rampart_core::Timestamp::from(issued.not_after).to_string(),
        "lifetime": format_duration(lifetime),
    });
    println!("{line}");
}

/// An input file (CSR, public key, certificate) of at most the CSR bound.
fn read_limited(path: &Path) -> Result<Vec<u8>, CertError> {
    crate::input::read_bounded(path, rampart_certs::MAX_CSR_BYTES as u64)
        .map_err(|error| CertError::Invalid(error.to_string()))
}

fn ssh_sign(args: &SshSignArgs) -> Result<(), CliError> {
    let ca = SshCa::read_file(&args.ca_key, rampart_core::SystemClock::shared())?;
    let ca = match cert_audit(&args.audit)? {
        Some(audit) => ca.audit_to(audit),
        None => ca,
    };
    let public_key = String::from_utf8(read_limited(&args.public_key)?)
        .map_err(|_| CertError::Invalid("the public key file is not text".into()))?;
    let kind = if args.host {
        SshCertKind::Host
    } else {
        SshCertKind::User
    };
    let extensions = if args.extensions.is_empty() && kind == SshCertKind::User {
        vec!["permit-pty".to_owned()]
    } else {
        args.extensions.clone()
    };
    let request = SshCertRequest {
        public_key,
        key_id: args
            .key_id
            .clone()
            .unwrap_or_else(|| args.principals.first().cloned().unwrap_or_default()),
        principals: args.principals.clone(),
        kind,
        ttl: args.ttl,
        force_command: args.force_command.clone(),
        source_addresses: args.source_addresses.clone(),
        extensions,
    };
    let certificate = ca.sign(&request, &SshPolicy::default().max_ttl(args.max_ttl))?;
    let path = certificate_path(&args.public_key);
    // Public, but written like every file rampart makes: atomically, never through a link.
    rampart_core::fs::write_atomically_with_mode(
        &path,
        format!("{certificate}\n").as_bytes(),
        0o644,
    )
    .map_err(|source| CertError::Io {
        path: path.display().to_string(),
        source,
    })?;
    println!("{}", path.display());
    Ok(())
}

fn inspect(args: &InspectArgs) -> Result<(), CliError> {
    let bytes = read_limited(&args.file)?;
    let summaries: Vec<Summary> = if bytes.windows(19).any(|w| w == b"CERTIFICATE REQUEST") {
        vec![summarize_csr(&verify_csr(&bytes)?)]
    } else {
        certificates_from_pem(&bytes)?
            .iter()
            .map(|cert| summarize_certificate(cert.as_ref()))
            .collect::<Result<_, _>>()?
    };
    for (n, summary) in summaries.iter().enumerate() {
        if args.json {
            println!("{}", serde_json::to_string(summary).unwrap_or_default());
        } else {
            if n > 0 {
                println!();
            }
            print_summary(summary);
        }
    }
    Ok(())
}

fn print_summary(summary: &Summary) {
    let list = |items: &[String]| items.join(", ");
    println!("{}: {}", summary.kind, summary.subject);
    if let Some(issuer) = &summary.issuer {
        println!("  issuer:      {issuer}");
    }
    if let Some(serial) = &summary.serial {
        println!("  serial:      {serial}");
    }
    if let (Some(from), Some(to)) = (&summary.not_before, &summary.not_after) {
        println!("  valid:       {from} to {to}");
    }
    println!("  key:         {}", summary.key);
    println!(
        "  CA:          {}",
        if summary.is_ca { "yes" } else { "no" }
    );
    if !summary.extended_key_usage.is_empty() {
        println!("  usage:       {}", list(&summary.extended_key_usage));
    }
    for (label, items) in [
        ("DNS", &summary.dns),
        ("IP", &summary.ips),
        ("URI", &summary.uris),
        ("email", &summary.emails),
    ] {
        if !items.is_empty() {
            println!("  {label:<12} {}", list(items));
        }
    }
    if let Some(user) = &summary.kubernetes_user {
        println!(
            "  Kubernetes:  user {} groups [{}]",
            user.username,
            list(&user.groups)
        );
    }
}
