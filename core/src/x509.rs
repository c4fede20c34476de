//! The subject of an X.509 certificate as Kubernetes reads it (feature `x509`): CN, every
//! O in order, and the uid attribute of Kubernetes 1.33+. One reader for the certificate
//! block and for authn's X.509 authenticator, so both map certificates to users the same
//! way ([`UserInfo::from_certificate_subject`]).

use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::asn1::{Ia5String, ObjectIdentifier};
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::user::UserInfo;

/// commonName.
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// organizationName.
const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// Kubernetes' uid attribute, from its one spelling ([`UserInfo::CERTIFICATE_UID_OID`]).
const KUBERNETES_UID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap(UserInfo::CERTIFICATE_UID_OID);

/// The longest attribute value read, in bytes.
pub const MAX_SUBJECT_ATTRIBUTE_BYTES: usize = 1024;

/// Why a subject could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// The certificate or name is not DER.
    #[error("not a DER certificate or name")]
    Malformed,
    /// An attribute is not a string, too long, or has control characters.
    #[error("a subject attribute is not usable text")]
    BadAttribute,
    /// More than one CN or uid: which one names the user would be a guess.
    #[error("the subject has more than one {0}")]
    Repeated(&'static str),
    /// A subject to be written has no CN.
    #[error("a subject needs a common name")]
    NoCommonName,
}

/// CN, O and uid of a certificate subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateSubject {
    /// CN (empty when absent).
    pub common_name: String,
    /// Every O, in order.
    pub organizations: Vec<String>,
    /// The Kubernetes uid attribute.
    pub uid: Option<String>,
}

impl CertificateSubject {
    /// A subject with only a common name.
    pub fn new(common_name: impl Into<String>) -> Self {
        CertificateSubject {
            common_name: common_name.into(),
            ..CertificateSubject::default()
        }
    }

    /// Adds organisations (groups).
    pub fn with_organizations<I, S>(mut self, organizations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.organizations
            .extend(organizations.into_iter().map(Into::into));
        self
    }

    /// Sets the Kubernetes uid attribute.
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// The X.509 name: one RDN per O, then the uid, then CN, all UTF8String. Read back
    /// through [`CertificateSubject::from_name_der`], so what is written is what any reader
    /// of it (this crate's or Kubernetes') sees.
    ///
    /// # Errors
    /// No CN, or an attribute with control characters or over
    /// [`MAX_SUBJECT_ATTRIBUTE_BYTES`].
    pub fn to_name(&self) -> Result<Name, SubjectError> {
        if self.common_name.is_empty() {
            return Err(SubjectError::NoCommonName);
        }
        let attribute = |oid, value: &str| -> Result<RelativeDistinguishedName, SubjectError> {
            if value.len() > MAX_SUBJECT_ATTRIBUTE_BYTES || value.chars().any(char::is_control) {
                return Err(SubjectError::BadAttribute);
            }
            let value = Any::encode_from(
                &Utf8StringRef::new(value).map_err(|_| SubjectError::BadAttribute)?,
            )
            .map_err(|_| SubjectError::BadAttribute)?;
            RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value }])
                .map_err(|_| SubjectError::Malformed)
        };
        let mut rdns = Vec::new();
        for organization in &self.organizations {
            rdns.push(attribute(ORGANIZATION, organization)?);
        }
        if let Some(uid) = &self.uid {
            rdns.push(attribute(KUBERNETES_UID, uid)?);
        }
        rdns.push(attribute(COMMON_NAME, &self.common_name)?);
        let der = RdnSequence::from(rdns)
            .to_der()
            .map_err(|_| SubjectError::Malformed)?;
        Name::from_der(&der).map_err(|_| SubjectError::Malformed)
    }

    /// The subject of a DER certificate (not verified here: verify the chain first).
    ///
    /// # Errors
    /// Not a certificate, or an unusable subject.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, SubjectError> {
        let certificate = Certificate::from_der(der).map_err(|_| SubjectError::Malformed)?;
        Self::from_name(certificate.tbs_certificate().subject())
    }

    /// A DER-encoded X.509 `Name`.
    ///
    /// # Errors
    /// Not a name, or an unusable attribute.
    pub fn from_name_der(der: &[u8]) -> Result<Self, SubjectError> {
        Self::from_name(&Name::from_der(der).map_err(|_| SubjectError::Malformed)?)
    }

    /// An X.509 `Name`.
    ///
    /// # Errors
    /// A repeated CN or uid, or an unusable attribute.
    pub fn from_name(name: &Name) -> Result<Self, SubjectError> {
        let mut subject = CertificateSubject::default();
        let mut seen_cn = false;
        for attribute in name.iter() {
            if attribute.oid == COMMON_NAME {
                if std::mem::replace(&mut seen_cn, true) {
                    return Err(SubjectError::Repeated("CN"));
                }
                subject.common_name = attribute_text(&attribute.value)?;
            } else if attribute.oid == ORGANIZATION {
                subject
                    .organizations
                    .push(attribute_text(&attribute.value)?);
            } else if attribute.oid == KUBERNETES_UID {
                if subject.uid.is_some() {
                    return Err(SubjectError::Repeated("uid"));
                }
                subject.uid = Some(attribute_text(&attribute.value)?);
            }
        }
        Ok(subject)
    }

    /// The Kubernetes user this subject names; `None` without a CN.
    pub fn user(&self) -> Option<UserInfo> {
        UserInfo::from_certificate_subject(
            &self.common_name,
            &self.organizations,
            self.uid.as_deref(),
        )
    }
}

/// id-kp-clientAuth.
const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// Whether a DER certificate lists clientAuth in an extendedKeyUsage extension, as
/// Kubernetes' client-certificate authenticator requires. (webpki checks EKU only when the
/// extension is present, so a certificate without one would pass it.)
pub fn certificate_allows_client_auth(der: &[u8]) -> bool {
    Certificate::from_der(der)
        .ok()
        .and_then(|certificate| {
            certificate
                .tbs_certificate()
                .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
                .ok()
                .flatten()
        })
        .is_some_and(|(_, usage)| usage.0.contains(&CLIENT_AUTH))
}

/// The text of a DirectoryString (UTF8String, PrintableString, TeletexString, BMPString)
/// or an IA5String, bounded and without control characters.
fn attribute_text(value: &Any) -> Result<String, SubjectError> {
    let text = if let Ok(directory) = value.decode_as::<DirectoryString>() {
        match directory {
            DirectoryString::PrintableString(s) => s.to_string(),
            DirectoryString::TeletexString(s) => s.to_string(),
            DirectoryString::Utf8String(s) => s,
            DirectoryString::BmpString(s) => s.to_string(),
        }
    } else if let Ok(ia5) = value.decode_as::<Ia5String>() {
        ia5.to_string()
    } else {
        return Err(SubjectError::BadAttribute);
    };
    if text.len() > MAX_SUBJECT_ATTRIBUTE_BYTES || text.chars().any(char::is_control) {
        return Err(SubjectError::BadAttribute);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_written_subject_reads_back_the_same_and_bad_ones_are_refused() {
        let subject = CertificateSubject::new("alice")
            .with_organizations(["dev", "ops"])
            .with_uid("u-1");
        let name = subject.to_name().unwrap();
        assert_eq!(CertificateSubject::from_name(&name).unwrap(), subject);
        assert_eq!(
            CertificateSubject::from_name_der(&name.to_der().unwrap()).unwrap(),
            subject
        );
        assert_eq!(
            CertificateSubject::new("").to_name().unwrap_err(),
            SubjectError::NoCommonName
        );
        for bad in [
            CertificateSubject::new("a\nb"),
            CertificateSubject::new("alice").with_organizations(["x".repeat(1025)]),
            CertificateSubject::new("alice").with_uid("\u{7}"),
        ] {
            assert_eq!(bad.to_name().unwrap_err(), SubjectError::BadAttribute);
        }
    }
}
