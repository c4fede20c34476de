//! `EncryptedAssertion` (XML Encryption 1.1) with the service provider's RSA key.
//!
//! Key transport: RSA-OAEP only (`rsa-oaep-mgf1p` and xmlenc11 `rsa-oaep`, with the digest
//! and MGF they name); RSA PKCS#1 v1.5 is refused (Bleichenbacher). Content: AES-GCM
//! (through ring) and AES-CBC (through openssl, which ring does not offer); 3DES only when
//! the caller opted in. Every failure after the algorithm check is one error, so a CBC
//! padding oracle learns nothing from the message; decryption never makes the assertion
//! trusted: it must still be covered by a verified signature.

use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use quick_xml::events::Event;
use quick_xml::reader::NsReader;

use super::{SamlError, decode_base64, shown};

const XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const XMLENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The service provider's RSA key (2048 bits or more): decrypts encrypted assertions and
/// signs AuthnRequests.
#[derive(Clone)]
pub struct SpKey {
    key: PKey<Private>,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("bits", &self.key.bits())
            .finish_non_exhaustive()
    }
}

impl SpKey {
    /// Reads a PEM private key (PKCS#8 or PKCS#1).
    ///
    /// # Errors
    /// Not a PEM private key, not RSA, or shorter than 2048 bits.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SamlError> {
        let key = PKey::private_key_from_pem(pem)
            .map_err(|_| SamlError::Config("the SP key is not a PEM private key".into()))?;
        if key.rsa().is_err() || key.bits() < 2048 {
            return Err(SamlError::Config(
                "the SP key must be RSA with at least 2048 bits".into(),
            ));
        }
        Ok(SpKey { key })
    }

    pub(crate) fn pkey(&self) -> &PKey<Private> {
        &self.key
    }
}

/// Which content-encryption algorithms beyond AES are accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecryptionPolicy {
    /// Accept `tripledes-cbc` (a 64-bit block cipher; off by default).
    pub allow_triple_des: bool,
    /// **Dangerous.** Decrypt a CBC-encrypted assertion (AES-CBC or 3DES) that no verified
    /// signature covers — an unsigned Response carrying an `EncryptedAssertion`. CBC is
    /// malleable: anyone holding one such response can alter its ciphertext and learn from
    /// how it is refused (Jager–Somorovsky, "How to break XML Encryption", 2011). Off by
    /// default: such a response is refused before any private-key operation; have the IdP
    /// sign the Response, or encrypt with AES-GCM. When on, every failure from key
    /// unwrapping through the inner signature is the one [`SamlError::Decryption`], but
    /// the time a refusal takes still depends on the plaintext: a timing oracle remains.
    pub danger_cbc_without_signed_envelope: bool,
}

/// Most `EncryptedKey`s tried per assertion: one per SP key an IdP may encrypt for during a
/// rollover. More is work an anonymous sender could multiply.
pub(crate) const MAX_ENCRYPTED_KEYS: usize = 2;

/// One `EncryptedKey`: how the content key was wrapped, and the wrapped bytes.
#[derive(Debug, Default, Clone)]
struct WrappedKey {
    algorithm: String,
    digest: Option<String>,
    mgf: Option<String>,
    cipher_value: String,
}

/// The parts of an `EncryptedAssertion` decryption needs.
#[derive(Debug, Default)]
struct Encrypted {
    data_algorithm: String,
    data_cipher_value: String,
    keys: Vec<WrappedKey>,
}

/// An `EncryptedAssertion` whose algorithms passed every check, ready to open: nothing
/// here has touched the private key.
pub(crate) struct Prepared {
    content: ContentCipher,
    ciphertext: Vec<u8>,
    keys: Vec<(Vec<u8>, &'static MdRef, &'static MdRef)>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("content", &self.content)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// Whether the content cipher is CBC (malleable, unauthenticated).
    pub(crate) fn is_cbc(&self) -> bool {
        matches!(
            self.content,
            ContentCipher::AesCbc(_) | ContentCipher::TripleDesCbc
        )
    }
}

/// Reads the first `EncryptedAssertion` in `xml` and judges its algorithms, its number of
/// `EncryptedKey`s and their sizes — everything that needs no private-key operation.
/// Errors here say what is wrong; nothing about the plaintext can be learnt from them.
pub(crate) fn prepare(
    xml: &str,
    key: &SpKey,
    policy: DecryptionPolicy,
) -> Result<Prepared, SamlError> {
    let encrypted = extract(xml)?;
    if encrypted.keys.len() > MAX_ENCRYPTED_KEYS {
        return Err(SamlError::Malformed(format!(
            "more than {MAX_ENCRYPTED_KEYS} EncryptedKey elements"
        )));
    }
    let content = ContentCipher::from_uri(&encrypted.data_algorithm, policy)?;
    let modulus_len = key.key.size();
    let mut keys = Vec::with_capacity(encrypted.keys.len());
    for wrapped in &encrypted.keys {
        let (oaep, mgf) = key_transport_digests(wrapped)?;
        // Only a CipherValue exactly the modulus long can be an RSA ciphertext for this
        // key: anything else is skipped without a private-key operation.
        if let Some(value) = decode_base64(&wrapped.cipher_value)
            && value.len() == modulus_len
        {
            keys.push((value, oaep, mgf));
        }
    }
    let ciphertext = decode_base64(&encrypted.data_cipher_value).ok_or(SamlError::Decryption)?;
    Ok(Prepared {
        content,
        ciphertext,
        keys,
    })
}

/// Unwraps the content key and decrypts: the assertion's XML, or `None` — one answer for
/// every way this can fail (no key fits, bad padding, bad length, not UTF-8).
pub(crate) fn open(prepared: &Prepared, key: &SpKey) -> Option<String> {
    let content_key = prepared.keys.iter().find_map(|(wrapped, oaep, mgf)| {
        unwrap_key(wrapped, (oaep, mgf), key).filter(|k| k.len() == prepared.content.key_len())
    })?;
    let plaintext = prepared
        .content
        .decrypt(&content_key, &prepared.ciphertext)?;
    String::from_utf8(plaintext).ok()
}

/// Decrypts the first `EncryptedAssertion` in `xml` and returns the assertion's XML.
pub(crate) fn decrypt_assertion(
    xml: &str,
    key: &SpKey,
    policy: DecryptionPolicy,
) -> Result<String, SamlError> {
    let prepared = prepare(xml, key, policy)?;
    open(&prepared, key).ok_or(SamlError::Decryption)
}

/// Walks the first `EncryptedAssertion` and collects its algorithms and cipher values.
fn extract(xml: &str) -> Result<Encrypted, SamlError> {
    let malformed = |what: &str| SamlError::Malformed(what.to_owned());
    let mut reader = NsReader::from_str(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut inside = false;
    let mut encrypted = Encrypted::default();
    let mut current_key: Option<WrappedKey> = None;
    loop {
        let (_, event) = reader
            .read_resolved_event()
            .map_err(|_| malformed("encrypted assertion is not well-formed"))?;
        match event {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let local = element.local_name().as_ref().to_vec();
                if !inside && local == b"EncryptedAssertion" {
                    inside = true;
                    path.clear();
                }
                if inside {
                    let algorithm = super::guard::attribute(element, "Algorithm");
                    match (local.as_slice(), path.last().map(Vec::as_slice)) {
                        (b"EncryptedKey", _) => current_key = Some(WrappedKey::default()),
                        (b"EncryptionMethod", Some(b"EncryptedKey")) => {
                            if let Some(wrapped) = current_key.as_mut() {
                                wrapped.algorithm = algorithm.unwrap_or_default();
                            }
                        }
                        (b"EncryptionMethod", Some(b"EncryptedData")) => {
                            encrypted.data_algorithm = algorithm.unwrap_or_default();
                        }
                        (b"DigestMethod", Some(b"EncryptionMethod")) => {
                            if let Some(wrapped) = current_key.as_mut() {
                                wrapped.digest = algorithm;
                            }
                        }
                        (b"MGF", Some(b"EncryptionMethod")) => {
                            if let Some(wrapped) = current_key.as_mut() {
                                wrapped.mgf = algorithm;
                            }
                        }
                        _ => {}
                    }
                    if matches!(event, Event::Start(_)) {
                        path.push(local);
                    }
                }
            }
            Event::End(ref element) if inside => {
                let local = element.local_name().as_ref().to_vec();
                path.pop();
                if local == b"EncryptedKey"
                    && let Some(wrapped) = current_key.take()
                {
                    encrypted.keys.push(wrapped);
                }
                if local == b"EncryptedAssertion" && path.is_empty() {
                    break;
                }
            }
            Event::Text(ref text) if inside => {
                let in_cipher_value = path.last().map(Vec::as_slice) == Some(b"CipherValue");
                if in_cipher_value {
                    let value = text
                        .decode()
                        .map_err(|_| malformed("CipherValue is not text"))?;
                    match current_key.as_mut() {
                        Some(wrapped) => wrapped.cipher_value.push_str(&value),
                        None => encrypted.data_cipher_value.push_str(&value),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !inside {
        return Err(malformed("no EncryptedAssertion"));
    }
    if encrypted.data_cipher_value.is_empty() || encrypted.keys.is_empty() {
        return Err(malformed(
            "EncryptedAssertion lacks its CipherValue or EncryptedKey",
        ));
    }
    Ok(encrypted)
}

/// The OAEP digest and MGF digest an `EncryptedKey` asks for, or why it is refused.
fn key_transport_digests(
    wrapped: &WrappedKey,
) -> Result<(&'static MdRef, &'static MdRef), SamlError> {
    let refuse = |what: String| SamlError::Algorithm(what);
    let digest = |uri: Option<&str>| -> Result<&'static MdRef, SamlError> {
        match uri {
            None => Ok(Md::sha1()),
            Some(uri) if uri == format!("{XMLDSIG}sha1") => Ok(Md::sha1()),
            Some(uri) if uri == format!("{XMLENC}sha256") => Ok(Md::sha256()),
            Some(uri) if uri == format!("{XMLENC}sha512") => Ok(Md::sha512()),
            Some(uri) => Err(refuse(format!(
                "OAEP digest {} is not supported",
                shown(uri)
            ))),
        }
    };
    let algorithm = wrapped.algorithm.as_str();
    if algorithm == format!("{XMLENC}rsa-oaep-mgf1p") {
        // This identifier fixes MGF1 with SHA-1; only the OAEP digest may vary.
        Ok((digest(wrapped.digest.as_deref())?, Md::sha1()))
    } else if algorithm == format!("{XMLENC11}rsa-oaep") {
        let mgf = match wrapped.mgf.as_deref() {
            None => Md::sha1(),
            Some(uri) if uri == format!("{XMLENC11}mgf1sha1") => Md::sha1(),
            Some(uri) if uri == format!("{XMLENC11}mgf1sha256") => Md::sha256(),
            Some(uri) if uri == format!("{XMLENC11}mgf1sha512") => Md::sha512(),
            Some(uri) => return Err(refuse(format!("MGF {} is not supported", shown(uri)))),
        };
        Ok((digest(wrapped.digest.as_deref())?, mgf))
    } else if algorithm == format!("{XMLENC}rsa-1_5") {
        Err(refuse(
            "key transport rsa-1_5 is refused (PKCS#1 v1.5 padding oracle)".into(),
        ))
    } else {
        Err(refuse(format!(
            "key transport {} is not supported",
            shown(algorithm)
        )))
    }
}

/// The content key, or `None` when this key was not wrapped for us.
fn unwrap_key(
    ciphertext: &[u8],
    (oaep_digest, mgf_digest): (&'static MdRef, &'static MdRef),
    key: &SpKey,
) -> Option<Vec<u8>> {
    let mut ctx = PkeyCtx::new(&key.key).ok()?;
    ctx.decrypt_init().ok()?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).ok()?;
    ctx.set_rsa_oaep_md(oaep_digest).ok()?;
    ctx.set_rsa_mgf1_md(mgf_digest).ok()?;
    let mut out = Vec::new();
    ctx.decrypt_to_vec(ciphertext, &mut out).ok()?;
    Some(out)
}

/// The content-encryption algorithms we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContentCipher {
    AesCbc(usize),
    AesGcm(usize),
    TripleDesCbc,
}

impl ContentCipher {
    fn from_uri(uri: &str, policy: DecryptionPolicy) -> Result<Self, SamlError> {
        let cipher = match uri.strip_prefix(XMLENC) {
            Some("aes128-cbc") => ContentCipher::AesCbc(16),
            Some("aes192-cbc") => ContentCipher::AesCbc(24),
            Some("aes256-cbc") => ContentCipher::AesCbc(32),
            Some("tripledes-cbc") if policy.allow_triple_des => ContentCipher::TripleDesCbc,
            Some("tripledes-cbc") => {
                return Err(SamlError::Algorithm(
                    "content encryption tripledes-cbc is refused".into(),
                ));
            }
            _ => match uri.strip_prefix(XMLENC11) {
                Some("aes128-gcm") => ContentCipher::AesGcm(16),
                Some("aes192-gcm") => ContentCipher::AesGcm(24),
                Some("aes256-gcm") => ContentCipher::AesGcm(32),
                _ => {
                    return Err(SamlError::Algorithm(format!(
                        "content encryption {} is not supported",
                        shown(uri)
                    )));
                }
            },
        };
        Ok(cipher)
    }

    fn key_len(self) -> usize {
        match self {
            ContentCipher::AesCbc(len) | ContentCipher::AesGcm(len) => len,
            ContentCipher::TripleDesCbc => 24,
        }
    }

    fn decrypt(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        match self {
            ContentCipher::AesGcm(_) => aes_gcm_open(key, data),
            ContentCipher::AesCbc(16) => cbc_open(Cipher::aes_128_cbc(), key, data),
            ContentCipher::AesCbc(24) => cbc_open(Cipher::aes_192_cbc(), key, data),
            ContentCipher::AesCbc(_) => cbc_open(Cipher::aes_256_cbc(), key, data),
            ContentCipher::TripleDesCbc => cbc_open(Cipher::des_ede3_cbc(), key, data),
        }
    }
}

/// IV (12 bytes) ‖ ciphertext ‖ tag (16 bytes), as XML Encryption 1.1 lays out AES-GCM.
fn aes_gcm_open(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    let algorithm = match key.len() {
        16 => &AES_128_GCM,
        32 => &AES_256_GCM,
        // ring has no AES-192; openssl does.
        _ => return aes192_gcm_open(key, data),
    };
    let (iv, sealed) = data.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(iv).ok()?;
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).ok()?);
    let mut in_out = sealed.to_vec();
    let plaintext_len = key
        .open_in_place(nonce, Aad::empty(), &mut in_out)
        .ok()?
        .len();
    in_out.truncate(plaintext_len);
    Some(in_out)
}

fn aes192_gcm_open(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let (iv, sealed) = data.split_at_checked(12)?;
    let tag_at = sealed.len().checked_sub(16)?;
    let (ciphertext, tag) = sealed.split_at_checked(tag_at)?;
    openssl::symm::decrypt_aead(Cipher::aes_192_gcm(), key, Some(iv), &[], ciphertext, tag).ok()
}

/// IV ‖ ciphertext, padded as XML Encryption says: the last byte counts the padding bytes,
/// whose other values are arbitrary (so not PKCS#7, which openssl would insist on).
fn cbc_open(cipher: Cipher, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let block = cipher.block_size();
    let (iv, ciphertext) = data.split_at_checked(block)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(block) {
        return None;
    }
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).ok()?;
    crypter.pad(false);
    let mut out = vec![0u8; ciphertext.len() + block];
    let mut len = crypter.update(ciphertext, &mut out).ok()?;
    len += crypter.finalize(out.get_mut(len..)?).ok()?;
    out.truncate(len);
    let padding = usize::from(*out.last()?);
    if padding == 0 || padding > block || padding > out.len() {
        return None;
    }
    out.truncate(out.len() - padding);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn short_or_malformed_ciphertexts_fail_without_panicking() {
        let key16 = [7u8; 16];
        for data in [
            &[][..],
            &[0u8; 8],
            &[0u8; 16],
            &[0u8; 17],
            &[0u8; 27],
            &[0u8; 28],
        ] {
            assert!(cbc_open(Cipher::aes_128_cbc(), &key16, data).is_none());
            assert!(aes_gcm_open(&key16, data).is_none());
            assert!(aes192_gcm_open(&[7u8; 24], data).is_none());
        }
        // A well-formed CBC block whose last byte is not a valid XML-Enc pad length.
        let mut crypter = Crypter::new(
            Cipher::aes_128_cbc(),
            Mode::Encrypt,
            &key16,
            Some(&[0u8; 16]),
        )
        .unwrap();
        crypter.pad(false);
        let mut block = [0u8; 32];
        let written = crypter.update(&[0u8; 16], &mut block).unwrap();
        assert_eq!(written, 16);
        let mut data = vec![0u8; 16];
        data.extend_from_slice(&block[..16]);
        assert!(
            cbc_open(Cipher::aes_128_cbc(), &key16, &data).is_none(),
            "pad length 0"
        );
    }

    #[test]
    fn key_transport_and_content_algorithms_are_allow_listed() {
        let wrapped = |algorithm: &str| WrappedKey {
            algorithm: algorithm.into(),
            ..WrappedKey::default()
        };
        assert!(
            key_transport_digests(&wrapped("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"))
                .is_ok()
        );
        assert!(
            key_transport_digests(&wrapped("http://www.w3.org/2009/xmlenc11#rsa-oaep")).is_ok()
        );
        let refused = key_transport_digests(&wrapped("http://www.w3.org/2001/04/xmlenc#rsa-1_5"));
        assert!(matches!(refused, Err(SamlError::Algorithm(why)) if why.contains("rsa-1_5")));
        let policy = DecryptionPolicy::default();
        assert!(
            ContentCipher::from_uri("http://www.w3.org/2009/xmlenc11#aes256-gcm", policy).is_ok()
        );
        assert!(
            ContentCipher::from_uri("http://www.w3.org/2001/04/xmlenc#tripledes-cbc", policy)
                .is_err()
        );
        assert!(
            ContentCipher::from_uri(
                "http://www.w3.org/2001/04/xmlenc#tripledes-cbc",
                DecryptionPolicy {
                    allow_triple_des: true,
                    ..DecryptionPolicy::default()
                }
            )
            .is_ok()
        );
        assert!(ContentCipher::from_uri("http://example.test/rot13", policy).is_err());
    }
}
