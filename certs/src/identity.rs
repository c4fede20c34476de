//! Who a verified client certificate names, and what a certificate says, for people.

use std::time::SystemTime;

use rampart_core::{CertificateSubject, UserInfo};
use x509_cert::certificate::Certificate;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

use crate::ca::{CLIENT_AUTH, SERVER_AUTH};
use crate::csr::VerifiedCsr;
use crate::error::CertError;

/// The Kubernetes user a client certificate names (CN = username, O = groups, the uid
/// attribute), through `UserInfo::from_certificate_subject`. Call it only on a chain the
/// TLS layer has verified. `None` when the CN is empty.
///
/// # Errors
/// The certificate does not parse, or names several CNs or uids.
pub fn user_from_certificate(der: &[u8]) -> Result<Option<UserInfo>, CertError> {
    CertificateSubject::from_certificate_der(der)
        .map(|subject| subject.user())
        .map_err(|error| CertError::Invalid(error.to_string()))
}

/// A readable summary of a certificate, as `rampart certs inspect` prints it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// `certificate` or `certificate request`.
    pub kind: &'static str,
    /// The subject, RFC 4514.
    pub subject: String,
    /// CN.
    pub common_name: String,
    /// O, in order.
    pub organizations: Vec<String>,
    /// The issuer, RFC 4514 (certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Serial number, hex (certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// notBefore, RFC 3339 (certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// notAfter, RFC 3339 (certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// `serverAuth`, `clientAuth`, or other OIDs.
    pub extended_key_usage: Vec<String>,
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<String>,
    /// URIs.
    pub uris: Vec<String>,
    /// Emails.
    pub emails: Vec<String>,
    /// Key algorithm.
    pub key: String,
    /// The Kubernetes user it would authenticate as, when it is a client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_user: Option<UserInfo>,
}

fn timestamp(time: SystemTime) -> String {
    rampart_core::Timestamp::from(time).to_string()
}

/// Summarises a DER certificate.
///
/// # Errors
/// It does not parse.
pub fn summarize_certificate(der: &[u8]) -> Result<Summary, CertError> {
    let cert = Certificate::from_der(der).map_err(CertError::der)?;
    let tbs = cert.tbs_certificate();
    let subject = CertificateSubject::from_name(tbs.subject())?;
    let eku: Vec<String> = tbs
        .get_extension::<ExtendedKeyUsage>()
        .map_err(CertError::der)?
        .map(|(_, eku)| {
            eku.0
                .iter()
                .map(|oid| match *oid {
                    SERVER_AUTH => "serverAuth".to_owned(),
                    CLIENT_AUTH => "clientAuth".to_owned(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut alt_names = crate::ca::AltNames::default();
    if let Some((_, san)) = tbs
        .get_extension::<SubjectAltName>()
        .map_err(CertError::der)?
    {
        for name in san.0 {
            crate::csr::add_alt_name(&mut alt_names, name)?;
        }
    }
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .map_err(CertError::der)?
        .is_some_and(|(_, bc)| bc.ca);
    let serial = crate::ca::hex(tbs.serial_number().as_bytes());
    let kubernetes_user = if eku.iter().any(|usage| usage == "clientAuth") && !is_ca {
        UserInfo::from_certificate_subject(
            &subject.common_name,
            &subject.organizations,
            subject.uid.as_deref(),
        )
    } else {
        None
    };
    Ok(Summary {
        kind: "certificate",
        subject: tbs.subject().to_string(),
        common_name: subject.common_name,
        organizations: subject.organizations,
        issuer: Some(tbs.issuer().to_string()),
        serial: Some(serial),
        not_before: Some(timestamp(tbs.validity().not_before.to_system_time())),
        not_after: Some(timestamp(tbs.validity().not_after.to_system_time())),
        is_ca,
        extended_key_usage: eku,
        dns: alt_names.dns,
        ips: alt_names.ips.iter().map(ToString::to_string).collect(),
        uris: alt_names.uris,
        emails: alt_names.emails,
        key: describe_public_key(tbs.subject_public_key_info()),
        kubernetes_user,
    })
}

/// Summarises a verified CSR.
pub fn summarize_csr(csr: &VerifiedCsr) -> Summary {
    Summary {
        kind: "certificate request",
        subject: csr
            .subject
            .to_name()
            .map(|name| name.to_string())
            .unwrap_or_default(),
        common_name: csr.subject.common_name.clone(),
        organizations: csr.subject.organizations.clone(),
        issuer: None,
        serial: None,
        not_before: None,
        not_after: None,
        is_ca: false,
        extended_key_usage: Vec::new(),
        dns: csr.alt_names.dns.clone(),
        ips: csr.alt_names.ips.iter().map(ToString::to_string).collect(),
        uris: csr.alt_names.uris.clone(),
        emails: csr.alt_names.emails.clone(),
        key: csr.key_algorithm.to_string(),
        kubernetes_user: None,
    }
}

/// A readable name for a certificate's public key.
fn describe_public_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> String {
    use rampart_core::KeyAlgorithm;
    use rampart_core::keys::{ID_EC_PUBLIC_KEY, ID_ED25519, RSA_ENCRYPTION, SECP256R1, SECP384R1};
    use x509_cert::der::asn1::ObjectIdentifier;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
    match (spki.algorithm.oid, curve) {
        (ID_EC_PUBLIC_KEY, Some(SECP256R1)) => KeyAlgorithm::EcdsaP256.to_string(),
        (ID_EC_PUBLIC_KEY, Some(SECP384R1)) => KeyAlgorithm::EcdsaP384.to_string(),
        (ID_ED25519, _) => KeyAlgorithm::Ed25519.to_string(),
        (RSA_ENCRYPTION, _) => "RSA".to_owned(),
        (oid, _) => oid.to_string(),
    }
}
