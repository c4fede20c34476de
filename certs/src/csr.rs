//! PKCS#10 certificate signing requests: parsed, checked to be strict DER, and their
//! self-signature verified over the bytes as received (proof of possession).
//!
//! x509-cert accepts some non-DER encodings and re-encodes them canonically, so the
//! signature is verified over the original `certificationRequestInfo` bytes, and a request
//! whose decoded form does not re-encode to exactly those bytes is refused: what is
//! checked is what was signed.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use ring::signature::{self as ring_sig, UnparsedPublicKey, VerificationAlgorithm};
use rustls::pki_types::CertificateSigningRequestDer;
use rustls::pki_types::pem::PemObject;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::der;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::spki;

use crate::ca::AltNames;
use crate::error::CertError;
use rampart_core::CertificateSubject;
use rampart_core::keys::{
    ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, ID_EC_PUBLIC_KEY, ID_ED25519, KeyAlgorithm,
    RSA_ENCRYPTION, SECP256R1, SECP384R1, SHA256_WITH_RSA, SHA384_WITH_RSA, SHA512_WITH_RSA,
};

/// The largest CSR accepted, in bytes (PEM or DER): real ones are well under 4 KiB.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// pkcs-9 extensionRequest.
const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// id-ce-subjectAltName.
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// What a CSR asks for, after its signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCsr {
    /// CN, O and uid as requested.
    pub subject: CertificateSubject,
    /// The subjectAltName of the extension request, if any.
    pub alt_names: AltNames,
    /// The key to certify.
    pub public_key: SubjectPublicKeyInfoOwned,
    /// Its kind (and size, for RSA).
    pub key_algorithm: KeyAlgorithm,
}

/// Parses a CSR (PEM `CERTIFICATE REQUEST` or DER) and verifies its signature.
///
/// # Errors
/// Too large, not a CSR, not strict DER, an unsupported key or signature algorithm, or a
/// signature that does not verify.
pub fn verify_csr(input: &[u8]) -> Result<VerifiedCsr, CertError> {
    if input.len() > MAX_CSR_BYTES {
        return Err(CertError::Invalid(format!(
            "the CSR is larger than {MAX_CSR_BYTES} bytes"
        )));
    }
    let pem;
    let der = if input.trim_ascii_start().starts_with(b"-----BEGIN") {
        pem = CertificateSigningRequestDer::from_pem_slice(input)
            .map_err(|error| CertError::Invalid(format!("bad PEM CSR: {error}")))?;
        pem.as_ref()
    } else {
        input
    };
    let signed_info = certification_request_info_bytes(der)?;
    let request = CertReq::from_der(der)
        .map_err(|error| CertError::Invalid(format!("not a PKCS#10 CSR: {error}")))?;
    if request.info.to_der().map_err(CertError::der)? != signed_info {
        return Err(CertError::Invalid("the CSR is not strict DER".into()));
    }
    let public_key = request.info.public_key.clone();
    let (key_algorithm, verifier) = verification(&public_key, &request.algorithm.oid)?;
    let signature = request
        .signature
        .as_bytes()
        .ok_or_else(|| CertError::Invalid("the CSR signature has unused bits".into()))?;
    UnparsedPublicKey::new(verifier, public_key.subject_public_key.raw_bytes())
        .verify(signed_info, signature)
        .map_err(|_| {
            CertError::BadSignature("the CSR is not signed by the key it carries".into())
        })?;
    Ok(VerifiedCsr {
        subject: CertificateSubject::from_name(&request.info.subject)?,
        alt_names: requested_alt_names(&request)?,
        public_key,
        key_algorithm,
    })
}

/// The exact bytes of `certificationRequestInfo`, the first element of the outer SEQUENCE.
fn certification_request_info_bytes(der: &[u8]) -> Result<&[u8], CertError> {
    let not_csr = |_| CertError::Invalid("not a DER-encoded CSR".into());
    let outer = AnyRef::from_der(der).map_err(not_csr)?;
    if outer.tag() != Tag::Sequence {
        return Err(CertError::Invalid("not a DER-encoded CSR".into()));
    }
    let mut reader = SliceReader::new(outer.value()).map_err(not_csr)?;
    reader.tlv_bytes().map_err(not_csr)
}

/// The key type a CSR carries and the ring algorithm that checks its signature. Only
/// pairings ring verifies and X.509 uses are accepted; RSA-PSS and SHA-1 are not.
fn verification(
    key: &SubjectPublicKeyInfoOwned,
    signature_algorithm: &ObjectIdentifier,
) -> Result<(KeyAlgorithm, &'static dyn VerificationAlgorithm), CertError> {
    let unsupported = || {
        CertError::Invalid(format!(
            "unsupported key/signature combination ({} / {signature_algorithm})",
            key.algorithm.oid
        ))
    };
    let curve = key
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
    let signature = *signature_algorithm;
    match key.algorithm.oid {
        ID_EC_PUBLIC_KEY => match (curve, signature) {
            (Some(SECP256R1), ECDSA_WITH_SHA256) => {
                Ok((KeyAlgorithm::EcdsaP256, &ring_sig::ECDSA_P256_SHA256_ASN1))
            }
            (Some(SECP256R1), ECDSA_WITH_SHA384) => {
                Ok((KeyAlgorithm::EcdsaP256, &ring_sig::ECDSA_P256_SHA384_ASN1))
            }
            (Some(SECP384R1), ECDSA_WITH_SHA256) => {
                Ok((KeyAlgorithm::EcdsaP384, &ring_sig::ECDSA_P384_SHA256_ASN1))
            }
            (Some(SECP384R1), ECDSA_WITH_SHA384) => {
                Ok((KeyAlgorithm::EcdsaP384, &ring_sig::ECDSA_P384_SHA384_ASN1))
            }
            _ => Err(unsupported()),
        },
        ID_ED25519 if signature == ID_ED25519 && key.algorithm.parameters.is_none() => {
            Ok((KeyAlgorithm::Ed25519, &ring_sig::ED25519))
        }
        RSA_ENCRYPTION => {
            let bits = rsa_modulus_bits(key.subject_public_key.raw_bytes())?;
            if !(2048..=8192).contains(&bits) {
                return Err(CertError::Invalid(format!(
                    "an RSA key of {bits} bits (2048 to 8192 are accepted)"
                )));
            }
            let verifier: &'static dyn VerificationAlgorithm = match signature {
                SHA256_WITH_RSA => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
                SHA384_WITH_RSA => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
                SHA512_WITH_RSA => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
                _ => return Err(unsupported()),
            };
            Ok((KeyAlgorithm::Rsa { bits }, verifier))
        }
        _ => Err(unsupported()),
    }
}

/// The size of an RSAPublicKey's modulus in bits.
fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<u32, CertError> {
    let malformed = |_| CertError::Invalid("malformed RSA public key".into());
    let outer = AnyRef::from_der(rsa_public_key).map_err(malformed)?;
    let mut reader = SliceReader::new(outer.value()).map_err(malformed)?;
    let modulus = der::asn1::UintRef::decode(&mut reader).map_err(malformed)?;
    let bytes = modulus.as_bytes();
    let leading = bytes.first().map_or(8, |byte| byte.leading_zeros());
    let bits = bytes.len() as u64 * 8 - u64::from(leading);
    u32::try_from(bits).map_err(|_| CertError::Invalid("RSA key too large".into()))
}

/// The subjectAltName of the CSR's extensionRequest attribute. Other requested extensions
/// are ignored: what a certificate may do is the CA's decision, not the requester's.
fn requested_alt_names(request: &CertReq) -> Result<AltNames, CertError> {
    let mut names = AltNames::default();
    for attribute in request.info.attributes.iter() {
        if attribute.oid != EXTENSION_REQUEST {
            continue;
        }
        for value in attribute.values.iter() {
            let extensions: ExtensionReq = value
                .decode_as()
                .map_err(|_| CertError::Invalid("malformed extensionRequest".into()))?;
            for extension in extensions
                .0
                .iter()
                .filter(|e| e.extn_id == SUBJECT_ALT_NAME)
            {
                let san = SubjectAltName::from_der(extension.extn_value.as_bytes())
                    .map_err(|_| CertError::Invalid("malformed subjectAltName".into()))?;
                for name in san.0 {
                    add_alt_name(&mut names, name)?;
                }
            }
        }
    }
    Ok(names)
}

pub(crate) fn add_alt_name(names: &mut AltNames, name: GeneralName) -> Result<(), CertError> {
    match name {
        GeneralName::DnsName(dns) => names.dns.push(dns.to_string()),
        GeneralName::Rfc822Name(email) => names.emails.push(email.to_string()),
        GeneralName::UniformResourceIdentifier(uri) => names.uris.push(uri.to_string()),
        GeneralName::IpAddress(bytes) => {
            let ip = match bytes.as_bytes() {
                &[a, b, c, d] => std::net::IpAddr::from([a, b, c, d]),
                octets => <[u8; 16]>::try_from(octets)
                    .map(std::net::IpAddr::from)
                    .map_err(|_| CertError::Invalid("an IP subjectAltName of bad length".into()))?,
            };
            names.ips.push(ip);
        }
        _ => {
            return Err(CertError::Invalid(
                "the CSR asks for an alternative name type other than DNS, IP, URI or email".into(),
            ));
        }
    }
    Ok(())
}
