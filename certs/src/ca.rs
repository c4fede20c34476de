//! The certificate authority (SC-17): roots, intermediates, and end-entity certificates.
//!
//! - Every certificate gets a 20-byte random serial, basicConstraints, keyUsage, subject
//!   and authority key identifiers; leaves get extendedKeyUsage and subjectAltName.
//! - notBefore is backdated a little (5 minutes by default) so a peer whose clock runs
//!   slow accepts a certificate issued a moment ago; notAfter never passes the issuer's.
//! - What a leaf may be is decided by the [`SigningPolicy`](crate::SigningPolicy) before
//!   this module builds it; the CA itself only refuses what no policy could allow (a
//!   leaf outliving its CA's key use, an expired CA).
//! - A loaded CA is checked: its key must match its certificate, and the certificate must
//!   be a CA certificate allowed to sign certificates.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString};
use rampart_core::Clock;
use ring::rand::SecureRandom;
use rustls::pki_types::CertificateDer;
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::der::{self, Decode, Encode};
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    NameConstraints, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki;
use x509_cert::time::{Time, Validity};

use crate::audit::CertAudit;
use crate::error::CertError;
use crate::files::{write_private, write_public};
use crate::pem::{certificates_from_pem, certificates_to_pem};
use crate::policy::{Candidate, SigningPolicy};
use rampart_core::CertificateSubject;
use rampart_core::{KeyAlgorithm, PrivateKey};

/// id-kp-serverAuth.
pub(crate) const SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth.
pub(crate) const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// How far notBefore is set before the moment of issue, by default.
pub const DEFAULT_BACKDATE: Duration = Duration::from_secs(5 * 60);

/// What an end-entity certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Usage {
    /// TLS server (EKU serverAuth).
    Server,
    /// TLS client (EKU clientAuth): Kubernetes users and kubelets.
    Client,
    /// Both, for a peer that dials and listens with one identity.
    ServerAndClient,
}

impl Usage {
    fn extended_key_usages(self) -> Vec<ObjectIdentifier> {
        match self {
            Usage::Server => vec![SERVER_AUTH],
            Usage::Client => vec![CLIENT_AUTH],
            Usage::ServerAndClient => vec![SERVER_AUTH, CLIENT_AUTH],
        }
    }
}

/// CertificateSubject alternative names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AltNames {
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
    /// URIs (e.g. SPIFFE IDs).
    pub uris: Vec<String>,
    /// Email addresses.
    pub emails: Vec<String>,
}

impl AltNames {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ips.is_empty() && self.uris.is_empty() && self.emails.is_empty()
    }

    fn general_names(&self) -> Result<Vec<GeneralName>, CertError> {
        let ia5 = |text: &str| {
            Ia5String::new(text).map_err(|_| {
                CertError::Invalid(format!("`{}` is not an ASCII name", text.escape_default()))
            })
        };
        let mut names = Vec::new();
        for dns in &self.dns {
            names.push(GeneralName::DnsName(ia5(dns)?));
        }
        for ip in &self.ips {
            names.push(GeneralName::from(*ip));
        }
        for uri in &self.uris {
            names.push(GeneralName::UniformResourceIdentifier(ia5(uri)?));
        }
        for email in &self.emails {
            names.push(GeneralName::Rfc822Name(ia5(email)?));
        }
        Ok(names)
    }
}

/// A request for an end-entity certificate, after the policy accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRequest {
    /// CN and O.
    pub subject: CertificateSubject,
    /// Alternative names.
    pub alt_names: AltNames,
    /// Server, client or both.
    pub usage: Usage,
    /// How long from now it is valid.
    pub ttl: Duration,
}

/// Constraints on the names an intermediate CA may certify (critical nameConstraints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermittedNames {
    /// DNS subtrees, e.g. `cluster.local` (the name and everything below it).
    pub dns: Vec<String>,
    /// IP ranges as (network, prefix length).
    pub ip_ranges: Vec<(IpAddr, u8)>,
}

/// An issued certificate: the leaf, and the issuer's chain up to and including the root.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The end-entity certificate.
    pub leaf: CertificateDer<'static>,
    /// Its issuer, then each issuer up to the root.
    pub issuers: Vec<CertificateDer<'static>>,
    /// notBefore (backdated).
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// The serial number's bytes, big-endian, without leading zeros.
    pub serial: Vec<u8>,
}

/// Lower-case hex, the form serial numbers are shown in.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Issued {
    /// The serial number in lower-case hex, the form events and reports show it in.
    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }

    /// Leaf first, then each issuer up to the root.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        std::iter::once(self.leaf.clone())
            .chain(self.issuers.iter().cloned())
            .collect()
    }

    /// The chain as PEM, leaf first.
    pub fn to_pem(&self) -> String {
        certificates_to_pem(&self.chain())
    }
}

/// The profile x509-cert's builder consults: our subject, issuer and extensions.
struct Profile {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

/// The key identifier of a public key: the first 160 bits of SHA-256 over the
/// subjectPublicKey bits (RFC 7093 §2, method 1).
pub(crate) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.subject_public_key.raw_bytes());
    digest.as_ref().get(..20).unwrap_or_default().to_vec()
}

fn extension<E: der::oid::AssociatedOid + Encode>(
    value: &E,
    subject: &Name,
    critical: bool,
) -> Result<Extension, CertError> {
    (critical, value)
        .to_extension(subject, &[])
        .map_err(CertError::der)
}

/// 20 random bytes with the top bit clear: a positive INTEGER of at most 20 octets.
fn random_serial() -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertError::Crypto("the system RNG failed"))?;
    if let Some(first) = bytes.first_mut() {
        *first &= 0x7f;
    }
    SerialNumber::new(&bytes).map_err(CertError::der)
}

/// A signer as x509-cert's builder wants one: the algorithm and the public key. The
/// signature itself is made by ring over the TBS bytes (`Builder::finalize`/`assemble`).
struct SignerInfo<'a>(&'a PrivateKey);

impl signature::Keypair for SignerInfo<'_> {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        PublicKey(self.0.public_key_info().ok())
    }
}

impl spki::DynSignatureAlgorithmIdentifier for SignerInfo<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        Ok(self.0.x509_signature_algorithm())
    }
}

/// The issuer's public key for the builder (`None` if it could not be encoded, which the
/// builder then reports).
#[derive(Clone)]
struct PublicKey(Option<SubjectPublicKeyInfoOwned>);

impl spki::EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        let spki = self.0.as_ref().ok_or(spki::Error::KeyMalformed)?;
        Ok(der::Document::encode_msg(spki)?)
    }
}

fn to_time(time: SystemTime) -> Result<Time, CertError> {
    // Whole seconds: X.509 times have no fraction.
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| CertError::Invalid("a time before 1970".into()))?
        .as_secs();
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)).map_err(CertError::der)
}

/// A CA: its certificate and chain, its key, and the clock that dates what it issues.
pub struct CertificateAuthority {
    certificate: CertificateDer<'static>,
    /// This CA's issuers up to the root; empty for a root.
    issuers: Vec<CertificateDer<'static>>,
    key: PrivateKey,
    subject: Name,
    key_id: Vec<u8>,
    not_after: SystemTime,
    clock: Arc<dyn Clock>,
    backdate: Duration,
    audit: Option<CertAudit>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject", &self.subject.to_string())
            .field("key", &self.key)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed root CA valid for `ttl`, with a new key.
    ///
    /// # Errors
    /// Key generation or encoding failed, or the name is invalid.
    pub fn create_root(
        subject: &CertificateSubject,
        ttl: Duration,
        algorithm: KeyAlgorithm,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CertError> {
        let key = PrivateKey::generate(algorithm)?;
        let spki = key.public_key_info()?;
        let name = subject.to_name()?;
        let key_id = key_identifier(&spki);
        let now = clock.now();
        let extensions = ca_extensions(&name, &key_id, &key_id, None, None)?;
        let Signed { der, not_after, .. } = sign(
            &key,
            Profile {
                subject: name.clone(),
                issuer: name.clone(),
                extensions,
            },
            spki,
            now.checked_sub(DEFAULT_BACKDATE).unwrap_or(now),
            now + ttl,
        )?;
        Ok(CertificateAuthority {
            certificate: der,
            issuers: Vec::new(),
            key,
            subject: name,
            key_id,
            not_after,
            clock,
            backdate: DEFAULT_BACKDATE,
            audit: None,
        })
    }

    /// A new intermediate CA under this one, with a new key: path length 0 (it issues only
    /// leaves), optionally constrained to `permitted` names.
    ///
    /// # Errors
    /// As for [`CertificateAuthority::create_root`], or this CA is expired.
    pub fn create_intermediate(
        &self,
        subject: &CertificateSubject,
        ttl: Duration,
        algorithm: KeyAlgorithm,
        permitted: Option<&PermittedNames>,
    ) -> Result<Self, CertError> {
        let key = PrivateKey::generate(algorithm)?;
        let spki = key.public_key_info()?;
        let name = subject.to_name()?;
        let key_id = key_identifier(&spki);
        let extensions = ca_extensions(&name, &key_id, &self.key_id, Some(0), permitted)?;
        let Signed {
            der,
            not_after,
            serial,
            ..
        } = self.sign_as_issuer(name.clone(), extensions, spki, ttl)?;
        // An intermediate is a certificate this CA issues: recorded, or not returned.
        if let Some(audit) = &self.audit {
            audit.issued(
                "certificate authority",
                &name.to_string(),
                &hex(&serial),
                not_after,
                crate::audit::subject_details(subject, &AltNames::default()),
            )?;
        }
        Ok(CertificateAuthority {
            certificate: der,
            issuers: self.chain(),
            key,
            subject: name,
            key_id,
            not_after,
            clock: Arc::clone(&self.clock),
            backdate: self.backdate,
            audit: self.audit.clone(),
        })
    }

    /// Loads a CA from its certificate chain (PEM, CA first) and its PKCS#8 key.
    ///
    /// # Errors
    /// The PEM does not parse, the certificate is not a CA allowed to sign certificates,
    /// or the key is not the certificate's.
    pub fn from_pem(
        chain_pem: &str,
        key_pem: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CertError> {
        let mut chain = certificates_from_pem(chain_pem.as_bytes())?.into_iter();
        let key = PrivateKey::from_pem(key_pem)?;
        let certificate = chain
            .next()
            .ok_or_else(|| CertError::Invalid("empty chain".into()))?;
        let cert = Certificate::from_der(certificate.as_ref()).map_err(CertError::der)?;
        let tbs = cert.tbs_certificate();
        let cert_spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(CertError::der)?;
        if cert_spki != key.public_key_info_der()? {
            return Err(CertError::UnusableCa(
                "the key does not belong to the certificate".into(),
            ));
        }
        check_is_ca(&cert)?;
        let key_id = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(CertError::der)?
            .map(|(_, ski)| ski.0.as_bytes().to_vec())
            .unwrap_or_else(|| key_identifier(tbs.subject_public_key_info()));
        Ok(CertificateAuthority {
            not_after: tbs.validity().not_after.to_system_time(),
            subject: tbs.subject().clone(),
            certificate,
            issuers: chain.collect(),
            key,
            key_id,
            clock,
            backdate: DEFAULT_BACKDATE,
            audit: None,
        })
    }

    /// Loads `DIR/ca.crt` and `DIR/ca.key`.
    ///
    /// # Errors
    /// As for [`CertificateAuthority::from_pem`], or a file cannot be read.
    pub fn load(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, CertError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|error| CertError::io(&path, error))
        };
        let key = zeroize::Zeroizing::new(read("ca.key")?);
        Self::from_pem(&read("ca.crt")?, &key, clock)
    }

    /// Writes `DIR/ca.crt` (this CA's chain, 0644) and `DIR/ca.key` (0600), creating `DIR`.
    ///
    /// # Errors
    /// A file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<(), CertError> {
        std::fs::create_dir_all(dir).map_err(|error| CertError::io(dir, error))?;
        write_private(&dir.join("ca.key"), self.key.to_pem().as_bytes())?;
        write_public(
            &dir.join("ca.crt"),
            certificates_to_pem(&self.chain()).as_bytes(),
        )
    }

    /// Sets how far notBefore is backdated (default 5 minutes).
    pub fn with_backdate(mut self, backdate: Duration) -> Self {
        self.backdate = backdate;
        self
    }

    /// This CA's certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// This CA's certificate, then its issuers up to the root.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        std::iter::once(self.certificate.clone())
            .chain(self.issuers.iter().cloned())
            .collect()
    }

    /// The root of the chain: the trust anchor to distribute.
    pub fn root(&self) -> &CertificateDer<'static> {
        self.issuers.last().unwrap_or(&self.certificate)
    }

    /// When this CA's certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The clock this CA dates certificates by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Records every certificate this CA issues, and every request
    /// [`issue_judged`](CertificateAuthority::issue_judged) refuses, in `audit`. A
    /// certificate whose event cannot be recorded is not returned
    /// ([`CertError::Unaudited`]).
    pub fn audit_to(mut self, audit: CertAudit) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Records this CA's own certificate as issued (after creating a CA).
    ///
    /// # Errors
    /// [`CertError::Unaudited`] when it could not be recorded; without an audit, nothing.
    pub fn record_creation(&self) -> Result<(), CertError> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let serial = crate::identity::summarize_certificate(self.certificate.as_ref())?
            .serial
            .unwrap_or_default();
        audit.issued(
            "certificate authority",
            &self.subject.to_string(),
            &serial,
            self.not_after,
            Vec::new(),
        )
    }

    /// Judges `candidate` by `policy`, then issues for `public_key`: the path for requests
    /// from others (a CSR), where a refusal is recorded too.
    ///
    /// # Errors
    /// The policy refuses, or as for [`CertificateAuthority::issue`].
    pub fn issue_judged(
        &self,
        candidate: &Candidate,
        policy: &SigningPolicy,
        public_key: SubjectPublicKeyInfoOwned,
    ) -> Result<(LeafRequest, Issued), CertError> {
        let request = policy.evaluate(candidate).inspect_err(|error| {
            if let Some(audit) = &self.audit {
                audit.refused("certificate", &candidate.subject.common_name, error);
            }
        })?;
        let issued = self.issue(&request, public_key)?;
        Ok((request, issued))
    }

    /// Issues an end-entity certificate for `public_key` (from a verified CSR or a key
    /// made here). notAfter is capped at this CA's own notAfter.
    ///
    /// # Errors
    /// The CA has expired, or a name cannot be encoded.
    pub fn issue(
        &self,
        request: &LeafRequest,
        public_key: SubjectPublicKeyInfoOwned,
    ) -> Result<Issued, CertError> {
        let name = request.subject.to_name()?;
        let leaf_id = key_identifier(&public_key);
        let mut extensions = vec![
            extension(
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
                &name,
                true,
            )?,
            extension(
                &KeyUsage(leaf_key_usage(&public_key, request.usage)),
                &name,
                true,
            )?,
            extension(
                &ExtendedKeyUsage(request.usage.extended_key_usages()),
                &name,
                false,
            )?,
            extension(&SubjectKeyIdentifier(octets(&leaf_id)?), &name, false)?,
            extension(&authority_key_id(&self.key_id)?, &name, false)?,
        ];
        if !request.alt_names.is_empty() {
            extensions.push(extension(
                &SubjectAltName(request.alt_names.general_names()?),
                &name,
                false,
            )?);
        }
        let Signed {
            der,
            not_before,
            not_after,
            serial,
        } = self.sign_as_issuer(name, extensions, public_key, request.ttl)?;
        if let Some(audit) = &self.audit {
            audit.issued(
                "certificate",
                &request.subject.common_name,
                &hex(&serial),
                not_after,
                crate::audit::subject_details(&request.subject, &request.alt_names),
            )?;
        }
        Ok(Issued {
            leaf: der,
            issuers: self.chain(),
            not_before,
            not_after,
            serial,
        })
    }

    /// Issues a certificate for a key made here; the caller writes the key where it goes.
    ///
    /// # Errors
    /// As for [`CertificateAuthority::issue`].
    pub fn issue_with_new_key(
        &self,
        request: &LeafRequest,
        algorithm: KeyAlgorithm,
    ) -> Result<(Issued, PrivateKey), CertError> {
        let key = PrivateKey::generate(algorithm)?;
        let issued = self.issue(request, key.public_key_info()?)?;
        Ok((issued, key))
    }

    /// Signs with this CA's key, dating from the clock, refusing once the CA has expired.
    fn sign_as_issuer(
        &self,
        subject: Name,
        extensions: Vec<Extension>,
        public_key: SubjectPublicKeyInfoOwned,
        ttl: Duration,
    ) -> Result<Signed, CertError> {
        let now = self.clock.now();
        if now >= self.not_after {
            return Err(CertError::UnusableCa(
                "the CA certificate has expired".into(),
            ));
        }
        let not_after = (now + ttl).min(self.not_after);
        let not_before = now.checked_sub(self.backdate).unwrap_or(now);
        sign(
            &self.key,
            Profile {
                subject,
                issuer: self.subject.clone(),
                extensions,
            },
            public_key,
            not_before,
            not_after,
        )
    }
}

/// One signed certificate: its DER, validity as encoded, and serial.
struct Signed {
    der: CertificateDer<'static>,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: Vec<u8>,
}

/// Builds and signs one certificate.
fn sign(
    key: &PrivateKey,
    profile: Profile,
    public_key: SubjectPublicKeyInfoOwned,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Signed, CertError> {
    let validity = Validity::new(to_time(not_before)?, to_time(not_after)?);
    let (not_before, not_after) = (
        validity.not_before.to_system_time(),
        validity.not_after.to_system_time(),
    );
    let serial = random_serial()?;
    let serial_bytes = serial.as_bytes().to_vec();
    let signer = SignerInfo(key);
    let mut builder =
        CertificateBuilder::new(profile, serial, validity, public_key).map_err(CertError::der)?;
    let tbs = builder.finalize(&signer).map_err(CertError::der)?;
    let signature = BitString::from_bytes(&key.sign(&tbs)?).map_err(CertError::der)?;
    Ok(Signed {
        der: certificate_der(&tbs, key, &signature)?,
        not_before,
        not_after,
        serial: serial_bytes,
    })
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`,
/// written around the TBS bytes that were signed (re-encoding the decoded TBS, as the
/// builder's `assemble` + `to_der` would, costs a third of the time spent outside the
/// signature).
fn certificate_der(
    tbs: &[u8],
    key: &PrivateKey,
    signature: &BitString,
) -> Result<CertificateDer<'static>, CertError> {
    let algorithm = key
        .x509_signature_algorithm()
        .to_der()
        .map_err(CertError::der)?;
    let signature = signature.to_der().map_err(CertError::der)?;
    let length = der::Length::try_from(tbs.len() + algorithm.len() + signature.len())
        .map_err(CertError::der)?;
    let mut der = der::Header::new(der::Tag::Sequence, length)
        .to_der()
        .map_err(CertError::der)?;
    der.extend_from_slice(tbs);
    der.extend_from_slice(&algorithm);
    der.extend_from_slice(&signature);
    Ok(CertificateDer::from(der))
}

fn octets(bytes: &[u8]) -> Result<OctetString, CertError> {
    OctetString::new(bytes).map_err(CertError::der)
}

fn authority_key_id(issuer_key_id: &[u8]) -> Result<AuthorityKeyIdentifier, CertError> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(octets(issuer_key_id)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
}

/// digitalSignature always; keyEncipherment too for an RSA server key (TLS 1.2 RSA key
/// exchange), as Kubernetes' signers allow.
fn leaf_key_usage(
    public_key: &SubjectPublicKeyInfoOwned,
    usage: Usage,
) -> der::flagset::FlagSet<KeyUsages> {
    let rsa = public_key.algorithm.oid == rampart_core::keys::RSA_ENCRYPTION;
    if rsa && usage != Usage::Client {
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
    } else {
        KeyUsages::DigitalSignature.into()
    }
}

fn ca_extensions(
    name: &Name,
    key_id: &[u8],
    issuer_key_id: &[u8],
    path_len: Option<u8>,
    permitted: Option<&PermittedNames>,
) -> Result<Vec<Extension>, CertError> {
    let mut extensions = vec![
        extension(
            &BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
            name,
            true,
        )?,
        extension(
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature),
            name,
            true,
        )?,
        extension(&SubjectKeyIdentifier(octets(key_id)?), name, false)?,
        extension(&authority_key_id(issuer_key_id)?, name, false)?,
    ];
    if let Some(permitted) = permitted {
        let mut subtrees = Vec::new();
        for dns in &permitted.dns {
            let base = GeneralName::DnsName(
                Ia5String::new(dns)
                    .map_err(|_| CertError::Invalid(format!("`{dns}` is not a DNS name")))?,
            );
            subtrees.push(GeneralSubtree {
                base,
                minimum: 0,
                maximum: None,
            });
        }
        for (network, prefix) in &permitted.ip_ranges {
            subtrees.push(GeneralSubtree {
                base: GeneralName::IpAddress(octets(&ip_range_bytes(*network, *prefix)?)?),
                minimum: 0,
                maximum: None,
            });
        }
        extensions.push(extension(
            &NameConstraints {
                permitted_subtrees: Some(subtrees),
                excluded_subtrees: None,
            },
            name,
            true,
        )?);
    }
    Ok(extensions)
}

/// An IP range in nameConstraints form: address then mask (RFC 5280 §4.2.1.10).
fn ip_range_bytes(network: IpAddr, prefix: u8) -> Result<Vec<u8>, CertError> {
    let address = match network {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let bits = address.len() * 8;
    if usize::from(prefix) > bits {
        return Err(CertError::Invalid(format!(
            "prefix /{prefix} is too long for {network}"
        )));
    }
    let mask: Vec<u8> = (0..address.len())
        .map(|byte| {
            let ones = usize::from(prefix).saturating_sub(byte * 8).min(8);
            // `ones` is 0..=8; a u16 shift keeps 8 in range.
            (0xff00u16 >> ones) as u8
        })
        .collect();
    let mut bytes: Vec<u8> = address.iter().zip(&mask).map(|(a, m)| a & m).collect();
    bytes.extend(mask);
    Ok(bytes)
}

/// A certificate that may sign certificates: basicConstraints CA and, when keyUsage is
/// present, keyCertSign.
pub(crate) fn check_is_ca(cert: &Certificate) -> Result<(), CertError> {
    let tbs = cert.tbs_certificate();
    let constraints = tbs
        .get_extension::<BasicConstraints>()
        .map_err(CertError::der)?;
    if !constraints.is_some_and(|(_, bc)| bc.ca) {
        return Err(CertError::UnusableCa(
            "the certificate is not a CA (basicConstraints)".into(),
        ));
    }
    if let Some((_, usage)) = tbs.get_extension::<KeyUsage>().map_err(CertError::der)?
        && !usage.key_cert_sign()
    {
        return Err(CertError::UnusableCa(
            "the certificate may not sign certificates (keyUsage)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The certificate written around the signed TBS is exactly what x509-cert encodes:
    /// strict DER, so every parser reads the bytes that were signed.
    #[test]
    fn issued_certificates_are_canonical_der() {
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let ca = CertificateAuthority::create_root(
                &CertificateSubject::new("der root"),
                Duration::from_secs(3600),
                algorithm,
                rampart_core::SystemClock::shared(),
            )
            .unwrap();
            let request = LeafRequest {
                subject: CertificateSubject::new("alice").with_organizations(["dev"]),
                alt_names: AltNames {
                    dns: vec!["alice.example.test".into()],
                    ..AltNames::default()
                },
                usage: Usage::Client,
                ttl: Duration::from_secs(60),
            };
            let (issued, _) = ca.issue_with_new_key(&request, algorithm).unwrap();
            for der in [issued.leaf.as_ref(), ca.certificate().as_ref()] {
                let parsed = Certificate::from_der(der).unwrap();
                assert_eq!(parsed.to_der().unwrap(), der);
                assert!(parsed.tbs_certificate().serial_number().as_bytes().len() <= 20);
            }
            assert_eq!(
                Certificate::from_der(issued.leaf.as_ref())
                    .unwrap()
                    .tbs_certificate()
                    .serial_number()
                    .as_bytes(),
                issued.serial.as_slice()
            );
        }
    }
}
