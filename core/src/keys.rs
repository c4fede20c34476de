//! Private keys (SC-12, feature `keys`): generated only from the system RNG, held as PKCS#8
//! in memory that is wiped on drop, written to disk with mode 0600, and used to sign through
//! ring. One key type for every block that signs: the certificate authority (X.509
//! signatures) and the token issuer (JWS).
//!
//! ECDSA P-256 is the default; P-384 and Ed25519 are offered; RSA keys can be imported (an
//! existing CA) but not generated (ring cannot, and new RSA keys have no reason to exist).

use std::fmt;
use std::path::Path;

use der::asn1::{BitString, ObjectIdentifier};
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, KeyPair as _};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::der::{self, Any, Encode};
use x509_cert::spki;
use zeroize::Zeroizing;

/// Why a key could not be made, read, written or used. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a PKCS#8 key of a kind ring signs with, or not a PEM `PRIVATE KEY`.
    #[error("{0}")]
    Unusable(&'static str),
    /// An algorithm name that is not offered.
    #[error("unknown key algorithm `{0}` (p256, p384, ed25519)")]
    UnknownAlgorithm(String),
    /// RSA keys are imported, never generated.
    #[error("RSA keys can be imported, not generated")]
    RsaNotGenerated,
    /// The system RNG or ring failed (it says no more than which operation).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The public key could not be encoded.
    #[error("ASN.1 error: {0}")]
    Der(#[source] der::Error),
}

/// id-ecPublicKey.
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 (P-256).
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (P-384).
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// id-Ed25519 (key and signature).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// rsaEncryption.
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// ecdsa-with-SHA256.
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384.
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// sha256WithRSAEncryption.
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption.
pub const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption.
pub const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// The kinds of key rampart signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256: the default, accepted everywhere.
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA with PKCS#1 v1.5 and SHA-256; import only.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = KeyError;

    /// `p256`, `p384` or `ed25519` (RSA keys are imported, never generated).
    fn from_str(text: &str) -> Result<Self, KeyError> {
        match text.to_ascii_lowercase().as_str() {
            "p256" | "ecdsa-p256" | "p-256" => Ok(KeyAlgorithm::EcdsaP256),
            "p384" | "ecdsa-p384" | "p-384" => Ok(KeyAlgorithm::EcdsaP384),
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            _ => Err(KeyError::UnknownAlgorithm(crate::text::sanitized(text, 32))),
        }
    }
}

enum Signer {
    P256(ring_sig::EcdsaKeyPair),
    P384(ring_sig::EcdsaKeyPair),
    Ed25519(ring_sig::Ed25519KeyPair),
    Rsa(ring_sig::RsaKeyPair),
}

/// A private key: its PKCS#8 document (wiped on drop) and ring's key pair for signing.
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    signer: Signer,
    algorithm: KeyAlgorithm,
    /// The public half, encoded once: every certificate this key signs names it.
    public: SubjectPublicKeyInfoOwned,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A new key from the system RNG.
    ///
    /// # Errors
    /// RSA (import only), or the RNG failed.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let failed = |_| KeyError::Crypto("key generation failed");
        let pkcs8 = match algorithm {
            KeyAlgorithm::EcdsaP256 => ring_sig::EcdsaKeyPair::generate_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                &rng,
            )
            .map_err(failed)?,
            KeyAlgorithm::EcdsaP384 => ring_sig::EcdsaKeyPair::generate_pkcs8(
                &ring_sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                &rng,
            )
            .map_err(failed)?,
            KeyAlgorithm::Ed25519 => {
                ring_sig::Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?
            }
            KeyAlgorithm::Rsa { .. } => return Err(KeyError::RsaNotGenerated),
        };
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// A key from PKCS#8 DER (ECDSA P-256/P-384, Ed25519 v1 or v2, RSA ≥ 2048 bits).
    ///
    /// # Errors
    /// Not PKCS#8, or a key type ring does not sign with.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = Zeroizing::new(der.to_vec());
        let (signer, algorithm) = if let Ok(pair) =
            ring_sig::EcdsaKeyPair::from_pkcs8(&ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
        {
            (Signer::P256(pair), KeyAlgorithm::EcdsaP256)
        } else if let Ok(pair) =
            ring_sig::EcdsaKeyPair::from_pkcs8(&ring_sig::ECDSA_P384_SHA384_ASN1_SIGNING, der, &rng)
        {
            (Signer::P384(pair), KeyAlgorithm::EcdsaP384)
        } else if let Ok(pair) = ring_sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            (Signer::Ed25519(pair), KeyAlgorithm::Ed25519)
        } else if let Ok(pair) = ring_sig::RsaKeyPair::from_pkcs8(der) {
            let bits = u32::try_from(pair.public().modulus_len() * 8).unwrap_or(u32::MAX);
            (Signer::Rsa(pair), KeyAlgorithm::Rsa { bits })
        } else {
            return Err(KeyError::Unusable(
                "not a PKCS#8 ECDSA P-256/P-384, Ed25519 or RSA (2048-8192 bit) private key",
            ));
        };
        let public = public_key_info(&signer)?;
        Ok(PrivateKey {
            pkcs8,
            signer,
            algorithm,
            public,
        })
    }

    /// A second handle on the same key (it is parsed again from its PKCS#8 document).
    ///
    /// # Errors
    /// Only if the document no longer parses, which cannot happen for a key made here.
    pub fn try_clone(&self) -> Result<Self, KeyError> {
        Self::from_pkcs8_der(&self.pkcs8)
    }

    /// A key from a `PRIVATE KEY` PEM block (PKCS#8).
    ///
    /// # Errors
    /// No PKCS#8 block, or an unusable key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(der)) => Self::from_pkcs8_der(der.secret_pkcs8_der()),
            Ok(_) => Err(KeyError::Unusable(
                "the key must be PKCS#8 (`BEGIN PRIVATE KEY`); convert with `openssl pkcs8 -topk8 -nocrypt`",
            )),
            Err(_) => Err(KeyError::Unusable("no PEM private key found")),
        }
    }

    /// Reads a PKCS#8 PEM key file.
    ///
    /// # Errors
    /// The file cannot be read or holds no usable key.
    pub fn read_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        Self::from_pem(&text)
    }

    /// The key as a PKCS#8 PEM block, in memory that is wiped on drop.
    pub fn to_pem(&self) -> Zeroizing<String> {
        // Encoding into a String cannot fail for this label; an empty string would be
        // refused by every reader.
        Zeroizing::new(
            der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &self.pkcs8)
                .unwrap_or_default(),
        )
    }

    /// Writes the PEM to `path` with mode 0600, atomically and durably.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_pem_file(&self, path: &Path) -> Result<(), KeyError> {
        crate::fs::write_private_atomically(path, self.to_pem().as_bytes()).map_err(|source| {
            KeyError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// The PKCS#8 document, for other signers (e.g. a token issuer) that take one.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The PKCS#8 document, for rustls.
    pub fn to_rustls(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.pkcs8.to_vec().into())
    }

    /// What kind of key this is.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public half as a SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// Never today; kept fallible for key types whose encoding can fail.
    pub fn public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
        Ok(self.public.clone())
    }

    /// The X.509 signature algorithm this key signs certificates with.
    pub fn x509_signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match &self.signer {
            // RFC 5758: ECDSA signature algorithm identifiers have absent parameters.
            Signer::P256(_) => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            Signer::P384(_) => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA384,
                parameters: None,
            },
            Signer::Ed25519(_) => AlgorithmIdentifierOwned {
                oid: ID_ED25519,
                parameters: None,
            },
            // RFC 4055: RSA PKCS#1 v1.5 identifiers carry NULL parameters.
            Signer::Rsa(_) => AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(Any::null()),
            },
        }
    }

    /// Signs `message` (DER-encoded ECDSA signatures, as X.509 wants them).
    ///
    /// # Errors
    /// The signing operation failed.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        let failed = |_| KeyError::Crypto("signing failed");
        match &self.signer {
            Signer::P256(pair) | Signer::P384(pair) => pair
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(failed),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&ring_sig::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
        }
    }

    /// DER of the public key info, for comparing a certificate's key with this one.
    ///
    /// # Errors
    /// The encoding failed.
    pub fn public_key_info_der(&self) -> Result<Vec<u8>, KeyError> {
        self.public_key_info()?.to_der().map_err(KeyError::Der)
    }

    /// The public half as a JWS verifier reads it (RFC 7518, RFC 8037): an uncompressed
    /// EC point, the 32 bytes of an Ed25519 key, or an RSA modulus and exponent.
    pub fn public_key_parts(&self) -> PublicKeyParts {
        match &self.signer {
            Signer::P256(pair) | Signer::P384(pair) => {
                PublicKeyParts::EcPoint(pair.public_key().as_ref().to_vec())
            }
            Signer::Ed25519(pair) => PublicKeyParts::Ed25519(pair.public_key().as_ref().to_vec()),
            Signer::Rsa(pair) => {
                let components = ring_sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                PublicKeyParts::Rsa {
                    n: components.n,
                    e: components.e,
                }
            }
        }
    }
}

/// The public half of a [`PrivateKey`] in the parts a JWK names.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyParts {
    /// `0x04 || x || y`.
    EcPoint(Vec<u8>),
    /// The 32-byte public key.
    Ed25519(Vec<u8>),
    /// Modulus and public exponent, big-endian without leading zeros.
    Rsa {
        /// n.
        n: Vec<u8>,
        /// e.
        e: Vec<u8>,
    },
}

/// The SubjectPublicKeyInfo of a ring key pair.
fn public_key_info(signer: &Signer) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
    let (oid, parameters, key) = match signer {
        Signer::P256(pair) => (
            ID_EC_PUBLIC_KEY,
            Some(SECP256R1),
            pair.public_key().as_ref(),
        ),
        Signer::P384(pair) => (
            ID_EC_PUBLIC_KEY,
            Some(SECP384R1),
            pair.public_key().as_ref(),
        ),
        Signer::Ed25519(pair) => (ID_ED25519, None, pair.public_key().as_ref()),
        Signer::Rsa(pair) => (RSA_ENCRYPTION, None, pair.public_key().as_ref()),
    };
    // RFC 3279: rsaEncryption carries NULL parameters; EC keys name their curve.
    let parameters = if oid == RSA_ENCRYPTION {
        Some(Any::null())
    } else {
        parameters
            .map(|curve| Any::encode_from(&curve))
            .transpose()
            .map_err(KeyError::Der)?
    };
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned { oid, parameters },
        subject_public_key: BitString::from_bytes(key).map_err(KeyError::Der)?,
    })
}
