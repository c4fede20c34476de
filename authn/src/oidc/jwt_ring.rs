//! A ring-backed [`CryptoProvider`] for jsonwebtoken: asymmetric JWS only (ES256, ES384,
//! RS256/384/512, PS256/384/512, EdDSA), the same library rustls and the rest of rampart use,
//! without aws-lc or the `rsa` crate. HMAC is refused: no rampart key is a shared secret.
//!
//! jsonwebtoken chooses its provider process-wide. [`install_jsonwebtoken_provider`]
//! installs this one unless the process already has one (an embedding application that
//! installed its own keeps it); rampart calls it before it signs.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature as ring_sig;

/// The provider (see the module documentation).
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |der| {
            let pair = ring_sig::RsaKeyPair::from_der(der)
                .map_err(|_| Error::from(ErrorKind::InvalidKeyFormat))?;
            let components = ring_sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            Ok((components.n, components.e))
        },
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidKeyFormat.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidKeyFormat.into()),
        ed_pub_components_from_private_key: |_, _: &EllipticCurve| {
            Err(ErrorKind::InvalidKeyFormat.into())
        },
        compute_digest: |data, hash| {
            let algorithm = match hash {
                ThumbprintHash::SHA256 => &ring::digest::SHA256,
                ThumbprintHash::SHA384 => &ring::digest::SHA384,
                ThumbprintHash::SHA512 => &ring::digest::SHA512,
                _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
            };
            Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
        },
    },
};

/// Makes [`RING_PROVIDER`] jsonwebtoken's provider for this process, unless one is already
/// installed. Returns whether this call installed it.
pub fn install_jsonwebtoken_provider() -> bool {
    RING_PROVIDER.install_default().is_ok()
}

/// A key pair and the JWS algorithm it signs for.
enum Pair {
    Ecdsa(ring_sig::EcdsaKeyPair),
    Rsa(ring_sig::RsaKeyPair, &'static dyn ring_sig::RsaEncoding),
    Ed25519(ring_sig::Ed25519KeyPair),
}

struct RingSigner {
    pair: Pair,
    algorithm: Algorithm,
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(signature::Error::from_source),
            Pair::Rsa(pair, padding) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(*padding, &rng, message, &mut signature)
                    .map_err(signature::Error::from_source)?;
                Ok(signature)
            }
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A signer for `algorithm` over `key`: PKCS#8 for EC and Ed25519, PKCS#1 for RSA (what
/// jsonwebtoken's own PEM readers produce).
fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let bytes = key.as_bytes();
    let rng = SystemRandom::new();
    let ecdsa = |alg| {
        ring_sig::EcdsaKeyPair::from_pkcs8(alg, bytes, &rng)
            .map(Pair::Ecdsa)
            .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))
    };
    let rsa = |padding: &'static dyn ring_sig::RsaEncoding| {
        ring_sig::RsaKeyPair::from_der(bytes)
            .map(|pair| Pair::Rsa(pair, padding))
            .map_err(|rejected| Error::from(ErrorKind::InvalidRsaKey(rejected.to_string())))
    };
    let (family, pair) = match algorithm {
        Algorithm::ES256 => (
            AlgorithmFamily::Ec,
            ecdsa(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING)?,
        ),
        Algorithm::ES384 => (
            AlgorithmFamily::Ec,
            ecdsa(&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING)?,
        ),
        Algorithm::RS256 => (AlgorithmFamily::Rsa, rsa(&ring_sig::RSA_PKCS1_SHA256)?),
        Algorithm::RS384 => (AlgorithmFamily::Rsa, rsa(&ring_sig::RSA_PKCS1_SHA384)?),
        Algorithm::RS512 => (AlgorithmFamily::Rsa, rsa(&ring_sig::RSA_PKCS1_SHA512)?),
        Algorithm::PS256 => (AlgorithmFamily::Rsa, rsa(&ring_sig::RSA_PSS_SHA256)?),
        Algorithm::PS384 => (AlgorithmFamily::Rsa, rsa(&ring_sig::RSA_PSS_SHA384)?),
        Algorithm::PS512 => (AlgorithmFamily::Rsa, rsa(&ring_sig::RSA_PSS_SHA512)?),
        Algorithm::EdDSA => (
            AlgorithmFamily::Ed,
            ring_sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map(Pair::Ed25519)
                .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?,
        ),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(RingSigner {
        pair,
        algorithm: *algorithm,
    }))
}

/// How a verifier holds its public key.
enum PublicKey {
    /// SEC1 point, SubjectPublicKeyInfo-less RSA DER, or a raw Ed25519 key, as ring reads them.
    Bytes(Vec<u8>),
    /// RSA modulus and exponent from a JWK.
    RsaComponents { n: Vec<u8>, e: Vec<u8> },
}

struct RingVerifier {
    key: PublicKey,
    scheme: &'static dyn ring_sig::VerificationAlgorithm,
    rsa: Option<&'static ring_sig::RsaParameters>,
    algorithm: Algorithm,
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let verified = match (&self.key, self.rsa) {
            (PublicKey::RsaComponents { n, e }, Some(parameters)) => {
                ring_sig::RsaPublicKeyComponents { n, e }.verify(parameters, message, signature)
            }
            (PublicKey::Bytes(bytes), _) => {
                ring_sig::UnparsedPublicKey::new(self.scheme, bytes).verify(message, signature)
            }
            (PublicKey::RsaComponents { .. }, None) => Err(ring::error::Unspecified),
        };
        verified.map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A verifier for `algorithm` over `key`, refusing a key of another family (an RSA key
/// offered for ES256, a public key offered as an HMAC secret).
fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let (family, scheme, rsa): (
        AlgorithmFamily,
        &'static dyn ring_sig::VerificationAlgorithm,
        Option<&'static ring_sig::RsaParameters>,
    ) = match algorithm {
        Algorithm::ES256 => (
            AlgorithmFamily::Ec,
            &ring_sig::ECDSA_P256_SHA256_FIXED,
            None,
        ),
        Algorithm::ES384 => (
            AlgorithmFamily::Ec,
            &ring_sig::ECDSA_P384_SHA384_FIXED,
            None,
        ),
        Algorithm::RS256 => rsa_scheme(&ring_sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => rsa_scheme(&ring_sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => rsa_scheme(&ring_sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => rsa_scheme(&ring_sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => rsa_scheme(&ring_sig::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => rsa_scheme(&ring_sig::RSA_PSS_2048_8192_SHA512),
        Algorithm::EdDSA => (AlgorithmFamily::Ed, &ring_sig::ED25519, None),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => PublicKey::Bytes(bytes.clone()),
        DecodingKeyKind::RsaModulusExponent { n, e } => PublicKey::RsaComponents {
            n: n.clone(),
            e: e.clone(),
        },
    };
    Ok(Box::new(RingVerifier {
        key,
        scheme,
        rsa,
        algorithm: *algorithm,
    }))
}

fn rsa_scheme(
    parameters: &'static ring_sig::RsaParameters,
) -> (
    AlgorithmFamily,
    &'static dyn ring_sig::VerificationAlgorithm,
    Option<&'static ring_sig::RsaParameters>,
) {
    (AlgorithmFamily::Rsa, parameters, Some(parameters))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn shared_secrets_and_keys_of_another_family_are_refused() {
        let secret = EncodingKey::from_secret(b"a shared secret");
        assert!(new_signer(&Algorithm::HS256, &secret).is_err());
        assert!(new_verifier(&Algorithm::HS256, &DecodingKey::from_secret(b"s")).is_err());
        // An Ed25519 public key offered for ES256, and an RSA key offered for EdDSA.
        let ed =
            DecodingKey::from_ed_components("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        assert!(new_verifier(&Algorithm::ES256, &ed).is_err());
        let rsa = DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap();
        assert!(new_verifier(&Algorithm::EdDSA, &rsa).is_err());
        // A key that is not PKCS#8 for the algorithm.
        assert!(new_signer(&Algorithm::ES256, &EncodingKey::from_ec_der(b"junk")).is_err());
        assert!(new_signer(&Algorithm::RS256, &EncodingKey::from_rsa_der(b"junk")).is_err());
    }
}
