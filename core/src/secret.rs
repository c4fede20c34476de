//! Secrets that cannot leak by accident.

use std::fmt;

use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret text: a password, a bearer token, a session id, a client secret.
///
/// - `Debug` prints `SecretString(<redacted>)`; there is no `Display` and no `Serialize`, so
///   a secret cannot reach a log line, an error message or an audit event by formatting.
/// - The memory is overwritten when the value is dropped.
/// - `==` compares in time independent of the contents (it does reveal the lengths).
/// - It can be deserialised, so configuration files can carry secrets.
///
/// # Security
/// [`SecretString::expose_secret`] is the only way to the text. Call it where the secret is
/// used (hashing, signing, a constant-time comparison) and nowhere else; never format it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret. The caller's `String` moves in and is wiped on drop.
    pub fn new(secret: String) -> Self {
        SecretString(secret)
    }

    /// The secret text. See the type's security note before calling.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Length in bytes; lengths are not treated as secret.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        SecretString(secret)
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        SecretString(secret.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl ConstantTimeEq for SecretString {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_bytes().ct_eq(other.0.as_bytes())
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretString {}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretString::from("hunter2-correct-horse");
        let printed = format!("{secret:?} {secret:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretString::from("abc"), SecretString::from("abc"));
        assert_ne!(SecretString::from("abc"), SecretString::from("abd"));
        assert_ne!(SecretString::from("abc"), SecretString::from("abcd"));
        assert_eq!(SecretString::from("").len(), 0);
    }

    #[test]
    fn zeroize_wipes_the_text() {
        let mut secret = SecretString::from("wipe me");
        secret.zeroize();
        assert!(secret.is_empty());
    }

    #[test]
    fn deserialises_from_configuration() {
        let secret: SecretString = serde_json::from_str("\"s3cret\"").unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");
    }
}
