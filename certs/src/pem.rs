//! PEM in and out. Reading goes through rustls-pki-types' parser; writing through der's
//! encoder (64-column base64, LF line endings).

use der::pem::LineEnding;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_cert::der;

use crate::error::CertError;

/// One PEM block with `label` around `der`.
pub(crate) fn encode(label: &'static str, der: &[u8]) -> String {
    // Encoding into a String cannot fail for a valid label; an empty string would be
    // caught by every reader.
    der::pem::encode_string(label, LineEnding::LF, der).unwrap_or_default()
}

/// PEM for a certificate chain, in order.
pub fn certificates_to_pem(chain: &[CertificateDer<'_>]) -> String {
    chain
        .iter()
        .map(|cert| encode("CERTIFICATE", cert.as_ref()))
        .collect()
}

/// Every `CERTIFICATE` block in `pem`, in order; at least one.
///
/// # Errors
/// A malformed block, or none.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| CertError::Invalid(format!("bad PEM certificate: {error}")))?;
    if chain.is_empty() {
        return Err(CertError::Invalid("no PEM certificate found".into()));
    }
    Ok(chain)
}
