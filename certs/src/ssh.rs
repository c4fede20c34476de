//! OpenSSH certificates (IA-2, IA-5(2)): user certificates with principals, a validity
//! window, `force-command` and `source-address`, and extensions; optionally host
//! certificates. Judged by [`SshPolicy::evaluate`] before signing, like X.509 leaves.
//!
//! - An empty principal list means "any principal" to OpenSSH; it is refused, always.
//! - Principals may not contain commas or whitespace (the separators of OpenSSH's
//!   principal lists) or control characters.
//! - Extensions default to `permit-pty` only; others must be asked for and allowed.
//! - The CA key is an OpenSSH private key (`ssh-keygen -t ed25519`, ECDSA P-256/P-384);
//!   signing is done by the ssh-key crate, serials and nonces come from the system RNG.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rampart_core::Clock;
use ring::rand::SecureRandom;
use ssh_key::certificate::{Builder, CertType};
use ssh_key::{Certificate, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::ca::DEFAULT_BACKDATE;
use crate::error::CertError;
use crate::policy::format_duration;

/// The extensions OpenSSH defines for user certificates.
pub const KNOWN_EXTENSIONS: [&str; 5] = [
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];

/// User or host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshCertKind {
    /// Authenticates a user to hosts that trust the CA (`TrustedUserCAKeys`).
    User,
    /// Authenticates a host to users that trust the CA (`@cert-authority` in known_hosts).
    Host,
}

/// What to certify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshCertRequest {
    /// The key to certify, in OpenSSH public key format.
    pub public_key: String,
    /// User names (user certificates) or host names (host certificates).
    pub principals: Vec<String>,
    /// The key id OpenSSH logs on every use.
    pub key_id: String,
    /// User or host.
    pub kind: SshCertKind,
    /// Lifetime from now.
    pub ttl: Duration,
    /// `force-command`: the only command the certificate may run.
    pub force_command: Option<String>,
    /// `source-address`: the networks the certificate may be used from.
    pub source_addresses: Vec<String>,
    /// Extensions to grant (user certificates).
    pub extensions: Vec<String>,
}

/// The rules SSH certificates are issued under. Defaults: at most 16 hours (step-ca's
/// user default), at most 64 principals, the OpenSSH extensions allowed on request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshPolicy {
    max_ttl: Duration,
    max_principals: usize,
    allowed_extensions: Vec<String>,
    allow_host: bool,
}

impl Default for SshPolicy {
    fn default() -> Self {
        SshPolicy {
            max_ttl: Duration::from_secs(16 * 3600),
            max_principals: 64,
            allowed_extensions: KNOWN_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
            allow_host: true,
        }
    }
}

impl SshPolicy {
    /// The longest lifetime granted.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// The extensions that may be granted.
    pub fn allowed_extensions<I, S>(mut self, extensions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_extensions = extensions.into_iter().map(Into::into).collect();
        self
    }

    /// Whether host certificates may be issued.
    pub fn allow_host(mut self, allow: bool) -> Self {
        self.allow_host = allow;
        self
    }

    /// The one decision about an SSH certificate request.
    ///
    /// # Errors
    /// [`CertError::Refused`] naming the rule.
    pub fn evaluate(&self, request: &SshCertRequest) -> Result<(), CertError> {
        let refuse = |reason: String| Err(CertError::Refused(reason));
        if request.ttl.is_zero() || request.ttl > self.max_ttl {
            return refuse(format!(
                "lifetime {} is outside 1s..={}",
                format_duration(request.ttl),
                format_duration(self.max_ttl)
            ));
        }
        if request.principals.is_empty() {
            return refuse("a certificate without principals is valid for every principal".into());
        }
        if request.principals.len() > self.max_principals {
            return refuse(format!("more than {} principals", self.max_principals));
        }
        if let Some(bad) = request.principals.iter().find(|p| !valid_principal(p)) {
            return refuse(format!(
                "principal `{}` is empty or contains commas, spaces, wildcards (`*`, `?`, `!`) or control characters",
                bad.escape_default()
            ));
        }
        if !valid_text(&request.key_id) {
            return refuse("the key id contains control characters".into());
        }
        if request.kind == SshCertKind::Host {
            if !self.allow_host {
                return refuse("host certificates are not allowed".into());
            }
            if request.force_command.is_some()
                || !request.source_addresses.is_empty()
                || !request.extensions.is_empty()
            {
                return refuse("host certificates carry no critical options or extensions".into());
            }
        }
        if let Some(command) = &request.force_command
            && (command.trim().is_empty() || command.contains(['\n', '\r', '\0']))
        {
            return refuse("force-command must be one non-empty line".into());
        }
        for address in &request.source_addresses {
            parse_cidr(address).map_err(|_| {
                CertError::Refused(format!(
                    "source-address `{}` is not an address or CIDR",
                    address.escape_default()
                ))
            })?;
        }
        if let Some(extension) = request
            .extensions
            .iter()
            .find(|e| !self.allowed_extensions.contains(e))
        {
            return refuse(format!(
                "extension `{}` is not allowed",
                extension.escape_default()
            ));
        }
        Ok(())
    }
}

fn valid_text(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// A principal names one user or host. OpenSSH matches host-certificate principals as
/// patterns, so `*` would certify the key for every host: wildcard and negation characters
/// are refused, with list separators, spaces and control characters.
fn valid_principal(principal: &str) -> bool {
    !principal.is_empty()
        && principal.len() <= 256
        && !principal
            .chars()
            .any(|c| matches!(c, ',' | '*' | '?' | '!') || c.is_whitespace() || c.is_control())
}

/// Smallest RSA modulus certified, as on the X.509 side.
const MIN_SSH_RSA_BITS: usize = 2048;

/// Refuses keys weaker than the X.509 side accepts: DSA, RSA under 2048 bits, and key
/// types this signer does not know.
fn check_ssh_key_strength(key: &ssh_key::public::KeyData) -> Result<(), CertError> {
    use ssh_key::public::KeyData;
    match key {
        KeyData::Ed25519(_)
        | KeyData::Ecdsa(_)
        | KeyData::SkEcdsaSha2NistP256(_)
        | KeyData::SkEd25519(_) => Ok(()),
        KeyData::Rsa(rsa) => {
            let bits = rsa.n.as_positive_bytes().map_or(0, |n| {
                let leading = n.first().map_or(8, |b| b.leading_zeros() as usize);
                (n.len() * 8).saturating_sub(leading)
            });
            // An exponent of 1 (no encryption at all) or an even one is no RSA key.
            let exponent_ok = rsa.e.as_positive_bytes().is_some_and(|e| {
                let odd = e.last().is_some_and(|last| last & 1 == 1);
                let above_one = e.len() > 1 || e.first().is_some_and(|first| *first > 1);
                odd && above_one
            });
            if !exponent_ok {
                Err(CertError::Refused(
                    "the RSA public exponent must be odd and above 1".into(),
                ))
            } else if bits >= MIN_SSH_RSA_BITS {
                Ok(())
            } else {
                Err(CertError::Refused(format!(
                    "an RSA key of {bits} bits is below the minimum of {MIN_SSH_RSA_BITS}"
                )))
            }
        }
        _ => Err(CertError::Refused(
            "DSA and unknown SSH key types are not certified".into(),
        )),
    }
}

/// `ADDRESS` or `ADDRESS/PREFIX`.
fn parse_cidr(text: &str) -> Result<(IpAddr, u8), ()> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| ())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(prefix) => prefix.parse::<u8>().map_err(|_| ())?,
        None => max,
    };
    if prefix > max {
        return Err(());
    }
    Ok((address, prefix))
}

/// An SSH certificate authority: an OpenSSH private key and the clock that dates what it
/// signs.
pub struct SshCa {
    key: PrivateKey,
    clock: Arc<dyn Clock>,
    audit: Option<crate::CertAudit>,
}

impl std::fmt::Debug for SshCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshCa")
            .field("algorithm", &self.key.algorithm().as_str())
            .finish_non_exhaustive()
    }
}

fn ssh_error(what: &'static str) -> impl Fn(ssh_key::Error) -> CertError {
    move |source| CertError::Ssh { what, source }
}

impl SshCa {
    /// A CA from an unencrypted OpenSSH private key.
    ///
    /// # Errors
    /// Not an OpenSSH private key, or an encrypted one.
    pub fn from_openssh(pem: &str, clock: Arc<dyn Clock>) -> Result<Self, CertError> {
        let key = PrivateKey::from_openssh(pem).map_err(ssh_error("SSH CA key"))?;
        if key.is_encrypted() {
            return Err(CertError::Invalid(
                "the SSH CA key is encrypted; decrypt it for the signer (ssh-keygen -p)".into(),
            ));
        }
        Ok(SshCa {
            key,
            clock,
            audit: None,
        })
    }

    /// Reads the CA key file.
    ///
    /// # Errors
    /// As for [`SshCa::from_openssh`], or the file cannot be read.
    pub fn read_file(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, CertError> {
        let pem = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|error| CertError::io(path, error))?,
        );
        Self::from_openssh(&pem, clock)
    }

    /// The CA's public key, as `TrustedUserCAKeys` or `@cert-authority` lines want it.
    ///
    /// # Errors
    /// Only on an encoding failure.
    pub fn public_key(&self) -> Result<String, CertError> {
        self.key
            .public_key()
            .to_openssh()
            .map_err(ssh_error("SSH CA public key"))
    }

    /// Signs `request` after `policy` accepted it; returns the certificate in OpenSSH
    /// format (one line, as `*-cert.pub` files hold it).
    ///
    /// # Errors
    /// The policy refuses, the public key does not parse, or signing failed.
    pub fn sign(&self, request: &SshCertRequest, policy: &SshPolicy) -> Result<String, CertError> {
        policy.evaluate(request).inspect_err(|error| {
            if let Some(audit) = &self.audit {
                audit.refused("ssh certificate", &request.key_id, error);
            }
        })?;
        let public_key =
            PublicKey::from_openssh(request.public_key.trim()).map_err(ssh_error("public key"))?;
        check_ssh_key_strength(public_key.key_data())?;
        let now = self.clock.now();
        let valid_after = unix_seconds(now.checked_sub(DEFAULT_BACKDATE).unwrap_or(now))?;
        let valid_before = unix_seconds(now.checked_add(request.ttl).unwrap_or(now))?;
        let rng = ring::rand::SystemRandom::new();
        let mut nonce = [0u8; Builder::RECOMMENDED_NONCE_SIZE];
        let mut serial = [0u8; 8];
        rng.fill(&mut nonce)
            .and_then(|()| rng.fill(&mut serial))
            .map_err(|_| CertError::Crypto("the system RNG failed"))?;
        let invalid = ssh_error("certificate field");
        let mut builder = Builder::new(
            nonce.to_vec(),
            public_key.key_data().clone(),
            valid_after,
            valid_before,
        )
        .map_err(&invalid)?;
        builder
            .serial(u64::from_be_bytes(serial))
            .and_then(|b| b.key_id(request.key_id.clone()))
            .and_then(|b| {
                b.cert_type(match request.kind {
                    SshCertKind::User => CertType::User,
                    SshCertKind::Host => CertType::Host,
                })
            })
            .map_err(&invalid)?;
        for principal in &request.principals {
            builder
                .valid_principal(principal.clone())
                .map_err(&invalid)?;
        }
        if let Some(command) = &request.force_command {
            builder
                .critical_option("force-command", command.clone())
                .map_err(&invalid)?;
        }
        if !request.source_addresses.is_empty() {
            builder
                .critical_option("source-address", request.source_addresses.join(","))
                .map_err(&invalid)?;
        }
        for extension in &request.extensions {
            builder.extension(extension.clone(), "").map_err(&invalid)?;
        }
        let certificate: Certificate = builder
            .sign(&self.key)
            .map_err(ssh_error("SSH certificate signing"))?;
        let encoded = certificate
            .to_openssh()
            .map_err(ssh_error("SSH certificate encoding"))?;
        if let Some(audit) = &self.audit {
            let kind = match request.kind {
                SshCertKind::User => "user",
                SshCertKind::Host => "host",
            };
            audit.issued(
                "ssh certificate",
                &request.key_id,
                &crate::ca::hex(&serial),
                now.checked_add(request.ttl).unwrap_or(now),
                vec![
                    ("principals", serde_json::json!(request.principals)),
                    ("certificate_type", serde_json::json!(kind)),
                    ("force_command", serde_json::json!(request.force_command)),
                    (
                        "source_addresses",
                        serde_json::json!(request.source_addresses),
                    ),
                    ("extensions", serde_json::json!(request.extensions)),
                ],
            )?;
        }
        Ok(encoded)
    }

    /// Records every certificate this CA signs, and every request its policy refuses, in
    /// `audit`; a certificate whose event cannot be recorded is not returned.
    pub fn audit_to(mut self, audit: crate::CertAudit) -> Self {
        self.audit = Some(audit);
        self
    }
}

fn unix_seconds(time: SystemTime) -> Result<u64, CertError> {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .map_err(|_| CertError::Invalid("a time before 1970".into()))
}

/// Where OpenSSH looks for the certificate of `public_key_path`: `id_ed25519.pub` →
/// `id_ed25519-cert.pub`.
pub fn certificate_path(public_key_path: &Path) -> std::path::PathBuf {
    let name = public_key_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".pub").unwrap_or(&name);
    public_key_path.with_file_name(format!("{stem}-cert.pub"))
}
