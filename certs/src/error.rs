//! What can go wrong, by kind. Messages name what and why; never key material.

use std::path::Path;

/// Why a certificate operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Input that is not what it claims to be (PEM, DER, a key, a name, a duration).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A signature did not verify (a CSR without proof of possession, a tampered file).
    #[error("signature check failed: {0}")]
    BadSignature(String),
    /// The signing policy refuses the request; the reason says which rule.
    #[error("refused by the signing policy: {0}")]
    Refused(String),
    /// The operation is not possible with this CA (expired, not a CA, key mismatch).
    #[error("unusable CA: {0}")]
    UnusableCa(String),
    /// ring reported a failure (it says no more than which operation).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// An OpenSSH key or certificate could not be read, built or encoded.
    #[error("{what}: {source}")]
    Ssh {
        /// Which one.
        what: &'static str,
        /// ssh-key's error.
        #[source]
        source: ssh_key::Error,
    },
    /// An ASN.1 encoding or decoding step failed.
    #[error("ASN.1 error: {0}")]
    Der(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A key could not be made, read, written or used.
    #[error(transparent)]
    Key(#[from] rampart_core::KeyError),
    /// The certificate was signed but its audit event could not be recorded, so it was not
    /// handed out; or credentials were removed but their removal was not recorded.
    #[error("the operation could not be audited")]
    Unaudited,
}

impl CertError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
        CertError::Io {
            path: path.display().to_string(),
            source: error,
        }
    }

    pub(crate) fn der(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        CertError::Der(Box::new(error))
    }
}

impl From<rampart_core::SubjectError> for CertError {
    fn from(error: rampart_core::SubjectError) -> Self {
        CertError::Invalid(error.to_string())
    }
}
