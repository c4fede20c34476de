//! The signing policy (SC-17): what the CA will certify. Every request, from a CSR or from
//! a key made here, is judged by [`SigningPolicy::evaluate`] and nothing else; a refusal
//! names the rule it broke.
//!
//! Kubernetes' own signers are available as rule sets
//! ([`KubernetesSigner`]): `kube-apiserver-client` (users: CN = username, O = groups, no
//! `system:` identities), `kube-apiserver-client-kubelet` (CN `system:node:NAME`, O exactly
//! `system:nodes`, no alternative names, client usage) and `kubelet-serving` (the same
//! subject, at least one DNS or IP name and nothing else, server usage), as Kubernetes'
//! `IsKubeletClientCSR`/`IsKubeletServingCSR` define them.

use std::net::IpAddr;
use std::time::Duration;

use rampart_core::UserInfo;

use crate::ca::{AltNames, LeafRequest, Usage};
use crate::error::CertError;
use rampart_core::CertificateSubject;
use rampart_core::KeyAlgorithm;

/// The prefix of node identities.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group of nodes.
pub const NODES_GROUP: &str = "system:nodes";

/// Kubernetes' built-in signers, as rule sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KubernetesSigner {
    /// `kubernetes.io/kube-apiserver-client`: user client certificates.
    ApiserverClient,
    /// `kubernetes.io/kube-apiserver-client-kubelet`: kubelet client certificates.
    ApiserverClientKubelet,
    /// `kubernetes.io/kubelet-serving`: kubelet serving certificates.
    KubeletServing,
}

impl std::str::FromStr for KubernetesSigner {
    type Err = CertError;

    fn from_str(name: &str) -> Result<Self, CertError> {
        match name {
            "kubernetes.io/kube-apiserver-client" => Ok(KubernetesSigner::ApiserverClient),
            "kubernetes.io/kube-apiserver-client-kubelet" => {
                Ok(KubernetesSigner::ApiserverClientKubelet)
            }
            "kubernetes.io/kubelet-serving" => Ok(KubernetesSigner::KubeletServing),
            _ => Err(CertError::Invalid(format!("unknown signer `{name}`"))),
        }
    }
}

/// What a requester asks for: from a verified CSR, or from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// CN, O, uid.
    pub subject: CertificateSubject,
    /// Alternative names.
    pub alt_names: AltNames,
    /// The key's kind and size.
    pub key_algorithm: KeyAlgorithm,
    /// Server, client or both.
    pub usage: Usage,
    /// The lifetime asked for.
    pub ttl: Duration,
}

/// The rules a CA signs under. The default is strict: leaves of at most 30 days, ECDSA
/// P-256/P-384, Ed25519 or RSA ≥ 2048 bits, DNS names without wildcards, IP addresses,
/// no URI or email names, no `system:` identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningPolicy {
    max_ttl: Duration,
    min_rsa_bits: u32,
    allow_ecdsa: bool,
    allow_ed25519: bool,
    dns_suffixes: Vec<String>,
    allow_wildcards: bool,
    allow_ips: bool,
    allow_uris: bool,
    allow_emails: bool,
    allow_system_identities: bool,
    allow_uids: bool,
    usages: Vec<Usage>,
    signer: Option<KubernetesSigner>,
}

/// Longest Kubernetes uid a certificate may carry, in bytes.
pub const MAX_UID_BYTES: usize = 256;

impl Default for SigningPolicy {
    fn default() -> Self {
        SigningPolicy {
            max_ttl: Duration::from_secs(30 * 86_400),
            min_rsa_bits: 2048,
            allow_ecdsa: true,
            allow_ed25519: true,
            dns_suffixes: Vec::new(),
            allow_wildcards: false,
            allow_ips: true,
            allow_uris: false,
            allow_emails: false,
            allow_system_identities: false,
            allow_uids: false,
            usages: vec![Usage::Server, Usage::Client, Usage::ServerAndClient],
            signer: None,
        }
    }
}

impl SigningPolicy {
    /// The longest lifetime granted.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// The smallest RSA modulus accepted (never below 2048).
    pub fn min_rsa_bits(mut self, bits: u32) -> Self {
        self.min_rsa_bits = bits.max(2048);
        self
    }

    /// Only DNS names equal to or below one of these domains (e.g. `cluster.local`).
    pub fn dns_suffixes<I, S>(mut self, suffixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dns_suffixes = suffixes
            .into_iter()
            .map(|suffix| suffix.into().trim_start_matches('.').to_ascii_lowercase())
            .collect();
        self
    }

    /// Whether `*.` DNS names may be certified.
    pub fn allow_wildcards(mut self, allow: bool) -> Self {
        self.allow_wildcards = allow;
        self
    }

    /// Whether IP addresses may be certified.
    pub fn allow_ips(mut self, allow: bool) -> Self {
        self.allow_ips = allow;
        self
    }

    /// Whether URI names (e.g. SPIFFE IDs) may be certified.
    pub fn allow_uris(mut self, allow: bool) -> Self {
        self.allow_uris = allow;
        self
    }

    /// Whether email names may be certified.
    pub fn allow_emails(mut self, allow: bool) -> Self {
        self.allow_emails = allow;
        self
    }

    /// Whether `system:` usernames and groups may be certified outside a Kubernetes node
    /// signer (a client certificate in `system:masters` bypasses RBAC entirely).
    pub fn allow_system_identities(mut self, allow: bool) -> Self {
        self.allow_system_identities = allow;
        self
    }

    /// Whether a requested Kubernetes `uid` subject attribute may be certified (off by
    /// default: whoever writes the CSR would choose the identity's uid, which audit trails
    /// and sessions key on). Never for the kubelet signers.
    pub fn allow_uids(mut self, allow: bool) -> Self {
        self.allow_uids = allow;
        self
    }

    /// Which usages may be granted.
    pub fn usages(mut self, usages: impl IntoIterator<Item = Usage>) -> Self {
        self.usages = usages.into_iter().collect();
        self
    }

    /// Applies one of Kubernetes' signers' rules on top of this policy.
    pub fn kubernetes_signer(mut self, signer: KubernetesSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The one decision: accepts `candidate` as a [`LeafRequest`] or names the rule it
    /// breaks.
    ///
    /// # Errors
    /// [`CertError::Refused`] with the reason.
    pub fn evaluate(&self, candidate: &Candidate) -> Result<LeafRequest, CertError> {
        let refuse = |reason: String| Err(CertError::Refused(reason));
        if candidate.ttl.is_zero() {
            return refuse("a lifetime of zero".into());
        }
        if candidate.ttl > self.max_ttl {
            return refuse(format!(
                "lifetime {} exceeds the maximum {}",
                format_duration(candidate.ttl),
                format_duration(self.max_ttl)
            ));
        }
        self.check_key(candidate.key_algorithm)?;
        if !self.usages.contains(&candidate.usage) {
            return refuse(format!("usage {:?} is not allowed", candidate.usage));
        }
        if candidate.subject.common_name.is_empty() {
            return refuse("the subject has no common name".into());
        }
        self.check_alt_names(&candidate.alt_names)?;
        self.check_uid(candidate)?;
        match self.signer {
            Some(KubernetesSigner::ApiserverClientKubelet | KubernetesSigner::KubeletServing) => {
                self.check_node(candidate)?;
            }
            Some(KubernetesSigner::ApiserverClient) | None => {
                self.check_not_system(&candidate.subject)?;
                if self.signer.is_some() && candidate.usage != Usage::Client {
                    return refuse(
                        "kube-apiserver-client certificates are client certificates".into(),
                    );
                }
            }
        }
        Ok(LeafRequest {
            subject: candidate.subject.clone(),
            alt_names: candidate.alt_names.clone(),
            usage: candidate.usage,
            ttl: candidate.ttl,
        })
    }

    fn check_key(&self, key: KeyAlgorithm) -> Result<(), CertError> {
        let allowed = match key {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => self.allow_ecdsa,
            KeyAlgorithm::Ed25519 => self.allow_ed25519,
            KeyAlgorithm::Rsa { bits } => {
                if bits < self.min_rsa_bits {
                    return Err(CertError::Refused(format!(
                        "an RSA key of {bits} bits is below the minimum of {}",
                        self.min_rsa_bits
                    )));
                }
                true
            }
            // A kind of key this policy does not know is not allowed.
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(CertError::Refused(format!("{key} keys are not allowed")))
        }
    }

    fn check_alt_names(&self, names: &AltNames) -> Result<(), CertError> {
        for dns in &names.dns {
            check_dns_name(dns, self.allow_wildcards)?;
            let lower = dns.to_ascii_lowercase();
            let base = lower.strip_prefix("*.").unwrap_or(&lower);
            if !self.dns_suffixes.is_empty()
                && !self
                    .dns_suffixes
                    .iter()
                    .any(|suffix| base == suffix || base.ends_with(&format!(".{suffix}")))
            {
                return Err(CertError::Refused(format!(
                    "DNS name `{dns}` is outside the allowed domains ({})",
                    self.dns_suffixes.join(", ")
                )));
            }
        }
        if !names.ips.is_empty() && !self.allow_ips {
            return Err(CertError::Refused(
                "IP address names are not allowed".into(),
            ));
        }
        if let Some(ip) = names
            .ips
            .iter()
            .find(|ip| ip.is_unspecified() || is_multicast(ip))
        {
            return Err(CertError::Refused(format!(
                "IP address {ip} cannot name a host"
            )));
        }
        if !names.uris.is_empty() && !self.allow_uris {
            return Err(CertError::Refused("URI names are not allowed".into()));
        }
        if !names.emails.is_empty() && !self.allow_emails {
            return Err(CertError::Refused("email names are not allowed".into()));
        }
        Ok(())
    }

    fn check_not_system(&self, subject: &CertificateSubject) -> Result<(), CertError> {
        if self.allow_system_identities {
            return Ok(());
        }
        if UserInfo::is_reserved_name(&subject.common_name) {
            return Err(CertError::Refused(format!(
                "`{}` is a Kubernetes system identity; nodes use the kubelet signers",
                subject.common_name
            )));
        }
        if let Some(group) = subject
            .organizations
            .iter()
            .find(|group| UserInfo::is_reserved_name(group))
        {
            return Err(CertError::Refused(format!(
                "group `{group}` is a Kubernetes system group"
            )));
        }
        Ok(())
    }

    /// The uid attribute is decided like the other identity fields: refused unless the
    /// policy allows uids (never for nodes, whose identity is their name), and then only a
    /// bounded value without control or deceptive characters.
    fn check_uid(&self, candidate: &Candidate) -> Result<(), CertError> {
        let Some(uid) = &candidate.subject.uid else {
            return Ok(());
        };
        let refuse = |reason: &str| Err(CertError::Refused(reason.to_owned()));
        let node_signer = matches!(
            self.signer,
            Some(KubernetesSigner::ApiserverClientKubelet | KubernetesSigner::KubeletServing)
        );
        if node_signer || !self.allow_uids {
            return refuse(
                "the subject asks for a Kubernetes uid, which this policy does not grant",
            );
        }
        if uid.is_empty()
            || uid.len() > MAX_UID_BYTES
            || uid.chars().any(rampart_core::is_deceptive_char)
        {
            return refuse("the requested uid is empty, too long or holds control characters");
        }
        Ok(())
    }

    /// Kubernetes' `IsKubeletClientCSR` / `IsKubeletServingCSR`.
    fn check_node(&self, candidate: &Candidate) -> Result<(), CertError> {
        let refuse = |reason: &str| Err(CertError::Refused(reason.to_owned()));
        let subject = &candidate.subject;
        if subject.organizations != [NODES_GROUP] {
            return refuse("a node certificate must have exactly one organization, `system:nodes`");
        }
        if subject.common_name.len() <= NODE_USER_PREFIX.len()
            || !subject.common_name.starts_with(NODE_USER_PREFIX)
        {
            return refuse("a node certificate's common name must be `system:node:NAME`");
        }
        let names = &candidate.alt_names;
        if !names.emails.is_empty() || !names.uris.is_empty() {
            return refuse("a node certificate may not carry email or URI names");
        }
        if self.signer == Some(KubernetesSigner::ApiserverClientKubelet) {
            if !names.dns.is_empty() || !names.ips.is_empty() {
                return refuse("a kubelet client certificate may not carry DNS or IP names");
            }
            if candidate.usage != Usage::Client {
                return refuse("a kubelet client certificate is a client certificate");
            }
        } else {
            if names.dns.is_empty() && names.ips.is_empty() {
                return refuse("a kubelet serving certificate needs at least one DNS or IP name");
            }
            if candidate.usage != Usage::Server {
                return refuse("a kubelet serving certificate is a server certificate");
            }
        }
        Ok(())
    }
}

fn is_multicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// A DNS name as a certificate may carry it: LDH labels of 1–63 characters, at most 253
/// in all, optionally one leading `*.` label.
fn check_dns_name(name: &str, allow_wildcard: bool) -> Result<(), CertError> {
    let bad = |why: &str| {
        Err(CertError::Refused(format!(
            "DNS name `{}` {why}",
            name.escape_default()
        )))
    };
    let (wildcard, rest) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    if wildcard && !allow_wildcard {
        return bad("is a wildcard, which this policy does not certify");
    }
    if rest.is_empty() || name.len() > 253 {
        return bad("has an invalid length");
    }
    for label in rest.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return bad("is not a valid host name");
        }
    }
    Ok(())
}

/// `15m`, `12h`, `30d`, `90s`: a number and a unit.
///
/// # Errors
/// Any other shape, or zero.
pub fn parse_duration(text: &str) -> Result<Duration, CertError> {
    let invalid = || CertError::Invalid(format!("`{text}` is not a duration like 15m, 12h or 30d"));
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    let total = number.checked_mul(seconds).ok_or_else(invalid)?;
    if total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

/// The largest whole unit that divides `duration` exactly: `30d`, `12h`, `90s`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}
