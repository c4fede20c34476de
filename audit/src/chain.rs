//! The hash chain that makes the trail tamper-evident (AU-9, AU-10).
//!
//! Each record's chain value is SHA-256 (or HMAC-SHA-256 under an operator key) over the
//! record's own bytes, which include the previous record's chain value. Changing, inserting,
//! removing or reordering any record changes every chain value after it.

use std::fmt;

use ring::{digest, hmac};
use zeroize::Zeroizing;

use crate::error::Error;

/// Length of a chain value in bytes.
pub const CHAIN_LEN: usize = 32;

/// A chain value: the SHA-256 or HMAC-SHA-256 of one record.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainValue(pub [u8; CHAIN_LEN]);

impl ChainValue {
    /// The value before the first record of a trail.
    pub const GENESIS: ChainValue = ChainValue([0; CHAIN_LEN]);

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut bytes = Vec::with_capacity(CHAIN_LEN * 2);
        self.write_hex(&mut bytes);
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Appends the lowercase hex to `out` (the hot path of writing a record).
    pub(crate) fn write_hex(&self, out: &mut Vec<u8>) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for byte in self.0 {
            for nibble in [byte >> 4, byte & 0xf] {
                out.push(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'));
            }
        }
    }

    /// Parses 64 lowercase hex characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != CHAIN_LEN * 2 {
            return None;
        }
        let mut value = [0u8; CHAIN_LEN];
        for (slot, pair) in value.iter_mut().zip(bytes.chunks_exact(2)) {
            let high = hex_digit(*pair.first()?)?;
            let low = hex_digit(*pair.get(1)?)?;
            *slot = high << 4 | low;
        }
        Some(ChainValue(value))
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for ChainValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainValue({})", self.to_hex())
    }
}

impl fmt::Display for ChainValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// How chain values are computed. With a key, only its holder can recompute a chain, so an
/// attacker who rewrites the whole trail consistently is still caught.
#[derive(Clone)]
pub enum Chain {
    /// Plain SHA-256.
    Sha256,
    /// HMAC-SHA-256 under an operator key.
    Hmac(hmac::Key),
}

/// Shortest HMAC key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

impl Chain {
    /// An HMAC chain from key bytes (at least [`MIN_KEY_LEN`]).
    ///
    /// # Errors
    /// [`Error::Config`] for a short key; the key is never printed.
    pub fn hmac(key: &[u8]) -> Result<Self, Error> {
        if key.len() < MIN_KEY_LEN {
            return Err(Error::Config(format!(
                "the HMAC key must be at least {MIN_KEY_LEN} bytes"
            )));
        }
        Ok(Chain::Hmac(hmac::Key::new(hmac::HMAC_SHA256, key)))
    }

    /// An HMAC chain from a key file: raw bytes, or a line of hex (trailing newline ignored).
    ///
    /// # Errors
    /// The file cannot be read or the key is too short.
    pub fn hmac_from_file(path: &std::path::Path) -> Result<Self, Error> {
        let raw = Zeroizing::new(std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?);
        let trimmed = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let decoded: Option<Zeroizing<Vec<u8>>> = std::str::from_utf8(trimmed)
            .ok()
            .filter(|text| text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|text| {
                text.as_bytes()
                    .chunks_exact(2)
                    .map(|pair| {
                        Some(
                            hex_digit(pair.first()?.to_ascii_lowercase())? << 4
                                | hex_digit(pair.get(1)?.to_ascii_lowercase())?,
                        )
                    })
                    .collect::<Option<Vec<u8>>>()
                    .map(Zeroizing::new)
            });
        match decoded {
            Some(key) => Chain::hmac(&key),
            None => Chain::hmac(trimmed),
        }
    }

    /// The chain value of a record's bytes.
    pub fn value(&self, body: &[u8]) -> ChainValue {
        let mut value = [0u8; CHAIN_LEN];
        match self {
            Chain::Sha256 => value.copy_from_slice(digest::digest(&digest::SHA256, body).as_ref()),
            Chain::Hmac(key) => value.copy_from_slice(hmac::sign(key, body).as_ref()),
        }
        ChainValue(value)
    }

    /// `sha256` or `hmac-sha256`, as recorded in seals.
    pub fn name(&self) -> &'static str {
        match self {
            Chain::Sha256 => "sha256",
            Chain::Hmac(_) => "hmac-sha256",
        }
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let value = Chain::Sha256.value(b"abc");
        assert_eq!(
            value.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ChainValue::from_hex(&value.to_hex()), Some(value));
        assert_eq!(ChainValue::from_hex(&value.to_hex().to_uppercase()), None);
        assert_eq!(ChainValue::from_hex("00"), None);
    }

    #[test]
    fn hmac_keys_are_checked_and_never_printed() {
        assert!(Chain::hmac(b"short").is_err());
        let chain = Chain::hmac(&[7u8; 32]).unwrap();
        assert_eq!(format!("{chain:?}"), "hmac-sha256");
        assert_ne!(chain.value(b"x"), Chain::Sha256.value(b"x"));
        // Known answer from an independent implementation (OpenSSL), and its tampered twin.
        let key = Chain::hmac(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(key.value(b"rampart").to_hex(), OPENSSL_HMAC_RAMPART);
        assert_ne!(key.value(b"Rampart").to_hex(), OPENSSL_HMAC_RAMPART);
    }

    /// `printf rampart | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef`
    const OPENSSL_HMAC_RAMPART: &str =
        "91cd6dade490fbca1a508fc176639def1569da42983c6c6b93c67cc57d6a25b7";
}
