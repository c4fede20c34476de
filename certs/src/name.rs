//! Certificate subjects the Kubernetes way: CN = username, O = groups, plus the uid
//! attribute Kubernetes 1.33+ reads. Building and reading, in one place.

use der::asn1::{ObjectIdentifier, Utf8StringRef};
use rampart_core::CertificateSubject;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::{self, Any, Decode, Encode};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::error::CertError;

/// commonName.
pub(crate) const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// organizationName.
pub(crate) const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// The Kubernetes uid attribute (see `UserInfo::CERTIFICATE_UID_OID`).
pub(crate) const KUBERNETES_UID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57683.2");

/// Longest attribute value accepted, in bytes: what rampart-core's reader accepts.
const MAX_ATTRIBUTE_BYTES: usize = rampart_core::MAX_SUBJECT_ATTRIBUTE_BYTES;

/// A subject: common name, organisations, optional Kubernetes uid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// CN: the Kubernetes username (or a host name for servers, a CA's name).
    pub common_name: String,
    /// O, in order: the Kubernetes groups.
    pub organizations: Vec<String>,
    /// The Kubernetes uid attribute, when the user has one.
    pub uid: Option<String>,
}

impl Subject {
    /// A subject with only a common name.
    pub fn new(common_name: impl Into<String>) -> Self {
        Subject {
            common_name: common_name.into(),
            ..Subject::default()
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

    /// The X.509 name: one RDN per O, then the uid, then CN, all UTF8String.
    ///
    /// # Errors
    /// An empty CN, an attribute with control characters or over 1 KiB.
    pub fn to_name(&self) -> Result<Name, CertError> {
        let mut rdns = Vec::new();
        let attribute = |oid, value: &str| -> Result<RelativeDistinguishedName, CertError> {
            check_attribute(value)?;
            let value = Any::encode_from(&Utf8StringRef::new(value).map_err(CertError::der)?)
                .map_err(CertError::der)?;
            RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value }])
                .map_err(CertError::der)
        };
        if self.common_name.is_empty() {
            return Err(CertError::Invalid("a subject needs a common name".into()));
        }
        for organization in &self.organizations {
            rdns.push(attribute(ORGANIZATION, organization)?);
        }
        if let Some(uid) = &self.uid {
            rdns.push(attribute(KUBERNETES_UID, uid)?);
        }
        rdns.push(attribute(COMMON_NAME, &self.common_name)?);
        // Through DER, so the name passes the same checks as one read from a certificate.
        let der = RdnSequence::from(rdns).to_der().map_err(CertError::der)?;
        Name::from_der(&der).map_err(CertError::der)
    }

    /// Reads CN, every O and the uid from a name, through rampart-core's one subject
    /// reader. Several CNs or uids are refused: which one names the user would be a guess.
    ///
    /// # Errors
    /// A repeated CN or uid, or a value that is not a string.
    pub fn from_name(name: &Name) -> Result<Subject, CertError> {
        let der = name.to_der().map_err(CertError::der)?;
        let subject = CertificateSubject::from_name_der(&der)
            .map_err(|error| CertError::Invalid(error.to_string()))?;
        Ok(Subject {
            common_name: subject.common_name,
            organizations: subject.organizations,
            uid: subject.uid,
        })
    }
}

fn check_attribute(value: &str) -> Result<(), CertError> {
    if value.len() > MAX_ATTRIBUTE_BYTES {
        return Err(CertError::Invalid(format!(
            "a subject attribute is longer than {MAX_ATTRIBUTE_BYTES} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(CertError::Invalid(
            "a subject attribute contains control characters".into(),
        ));
    }
    Ok(())
}
