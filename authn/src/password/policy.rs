//! Password policy per NIST SP 800-63B-4 §3.1.1.2 and FedRAMP IA-5(1).
//!
//! What is checked: length in Unicode code points after NFKC (at least 15 by default,
//! never below 8; at least 64 always accepted), a blocklist of commonly used and
//! compromised passwords, and context words (the username, the service's name).
//! What is deliberately *not* checked: composition rules (no "one digit, one symbol") and
//! rotation, which 800-63B-4 forbids because they push users to predictable passwords.
//!
//! Every rejection names its reason; no reason repeats the password or a context word.

use std::collections::BTreeSet;
use std::fmt;

use rampart_core::SecretString;
use ring::digest;
use zeroize::Zeroizing;

use crate::password::hash::{nfkc, normalize};

/// The built-in blocklist: sorted big-endian SHA-256 prefixes, see `data/blocklist.json`.
static BUILTIN_BLOCKLIST: &[u8] = include_bytes!("../../data/blocklist.bin");

/// The lowest minimum length any policy accepts (800-63B-4: "SHALL … at least 8").
pub const MIN_CHARS_FLOOR: usize = 8;
/// A policy must accept passwords at least this long (800-63B-4: "SHOULD … at least 64").
pub const MAX_CHARS_FLOOR: usize = 64;
/// The longest maximum a policy may set: beyond it hashing input is a denial-of-service aid.
pub const MAX_CHARS_CEILING: usize = 4096;
/// Context words shorter than this are refused only as the whole password, not as a part:
/// a two-letter username inside a long passphrase is a coincidence, not a derivative.
const CONTEXT_SUBSTRING_MIN: usize = 4;

/// A set of refused passwords, compared after NFKC and lowercasing.
///
/// The built-in list holds 200,000 entries of at least 8 characters, the most common
/// ones of the ten-million password corpus published by OWASP SecLists (CC BY-SA 3.0;
/// provenance, checksums and the script that rebuilds it are in `authn/data/`).
#[derive(Clone)]
pub struct Blocklist {
    builtin: bool,
    extra: BTreeSet<u64>,
}

impl Blocklist {
    /// The built-in list.
    pub fn builtin() -> Self {
        Blocklist {
            builtin: true,
            extra: BTreeSet::new(),
        }
    }

    /// An empty list (for tests of other rules, or callers that check a breach corpus
    /// elsewhere).
    pub fn empty() -> Self {
        Blocklist {
            builtin: false,
            extra: BTreeSet::new(),
        }
    }

    /// Adds organisation-specific entries (e.g. the product's name with a year).
    pub fn with_entries<I, S>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for entry in entries {
            self.extra.insert(fingerprint(&fold(entry.as_ref())));
        }
        self
    }

    /// How many entries the list holds.
    pub fn len(&self) -> usize {
        let builtin = if self.builtin {
            BUILTIN_BLOCKLIST.len() / 8
        } else {
            0
        };
        builtin + self.extra.len()
    }

    /// Whether the list holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `candidate` (any case, any Unicode form) is on the list.
    pub fn contains(&self, candidate: &str) -> bool {
        self.contains_folded(&fold(candidate))
    }

    fn contains_folded(&self, folded: &str) -> bool {
        let key = fingerprint(folded);
        self.extra.contains(&key) || (self.builtin && builtin_contains(key))
    }
}

impl fmt::Debug for Blocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocklist")
            .field("entries", &self.len())
            .finish()
    }
}

/// NFKC, then Unicode lowercase: the form both the list and candidates are compared in.
fn fold(text: &str) -> String {
    nfkc(text).to_lowercase()
}

fn fingerprint(folded: &str) -> u64 {
    let digest = digest::digest(&digest::SHA256, folded.as_bytes());
    digest
        .as_ref()
        .first_chunk::<8>()
        .map_or(0, |prefix| u64::from_be_bytes(*prefix))
}

/// Binary search over the embedded sorted array without copying it to the heap.
fn builtin_contains(key: u64) -> bool {
    let entry = |index: usize| {
        BUILTIN_BLOCKLIST
            .get(index * 8..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map(|bytes| u64::from_be_bytes(*bytes))
    };
    let (mut low, mut high) = (0usize, BUILTIN_BLOCKLIST.len() / 8);
    while low < high {
        let mid = low + (high - low) / 2;
        let Some(found) = entry(mid) else {
            return false;
        };
        match found.cmp(&key) {
            std::cmp::Ordering::Less => low = mid + 1,
            std::cmp::Ordering::Greater => high = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Which context word a password was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextWord {
    /// The account's username.
    Username,
    /// The service's name, as configured on the policy.
    ServiceName,
    /// Another word the caller supplied (display name, e-mail local part, …).
    Other,
}

/// One reason a password was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Fewer code points than the policy's minimum.
    TooShort {
        /// The minimum.
        min: usize,
        /// The password's length in code points after NFKC.
        actual: usize,
    },
    /// More code points than the policy's maximum.
    TooLong {
        /// The maximum.
        max: usize,
        /// The password's length in code points after NFKC.
        actual: usize,
    },
    /// On the blocklist of commonly used or compromised passwords.
    Blocklisted,
    /// Contains (or is) a context word.
    ContainsContextWord(ContextWord),
    /// One character repeated throughout.
    Repetitive,
    /// Contains a control character (which no keyboard produces and logs may mangle).
    ControlCharacter,
}

impl Rejection {
    /// A stable machine-readable name (`too_short`, `blocklisted`, …) for logs and APIs.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TooShort { .. } => "too_short",
            Rejection::TooLong { .. } => "too_long",
            Rejection::Blocklisted => "blocklisted",
            Rejection::ContainsContextWord(ContextWord::Username) => "contains_username",
            Rejection::ContainsContextWord(ContextWord::ServiceName) => "contains_service_name",
            Rejection::ContainsContextWord(ContextWord::Other) => "contains_context_word",
            Rejection::Repetitive => "repetitive",
            Rejection::ControlCharacter => "control_character",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooShort { min, actual } => {
                write!(f, "too short: {actual} characters, at least {min} required")
            }
            Rejection::TooLong { max, actual } => {
                write!(f, "too long: {actual} characters, at most {max} accepted")
            }
            Rejection::Blocklisted => f.write_str("commonly used or known to be compromised"),
            Rejection::ContainsContextWord(ContextWord::Username) => {
                f.write_str("contains the username")
            }
            Rejection::ContainsContextWord(ContextWord::ServiceName) => {
                f.write_str("contains the service's name")
            }
            Rejection::ContainsContextWord(ContextWord::Other) => {
                f.write_str("contains a word tied to this account")
            }
            Rejection::Repetitive => f.write_str("one character repeated"),
            Rejection::ControlCharacter => f.write_str("contains a control character"),
        }
    }
}

/// A refused password: every reason, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyViolation {
    /// The reasons, never empty.
    pub reasons: Vec<Rejection>,
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("password refused: ")?;
        for (i, reason) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

/// A policy that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The minimum is below [`MIN_CHARS_FLOOR`].
    #[error("minimum length {0} is below the floor of {MIN_CHARS_FLOOR}")]
    MinimumTooLow(usize),
    /// The maximum is below [`MAX_CHARS_FLOOR`] or above [`MAX_CHARS_CEILING`].
    #[error("maximum length {0} must lie in {MAX_CHARS_FLOOR}..={MAX_CHARS_CEILING}")]
    MaximumOutOfRange(usize),
    /// The minimum exceeds the maximum.
    #[error("minimum length {min} exceeds maximum {max}")]
    MinimumAboveMaximum {
        /// The minimum.
        min: usize,
        /// The maximum.
        max: usize,
    },
}

/// The words a password must not be built from, for one account.
#[derive(Clone, Copy, Debug, Default)]
pub struct PasswordContext<'a> {
    /// The account's username.
    pub username: Option<&'a str>,
    /// Further account-specific words (display name, e-mail local part).
    pub other: &'a [&'a str],
}

impl<'a> PasswordContext<'a> {
    /// The context of an account known by `username`.
    pub fn for_user(username: &'a str) -> Self {
        PasswordContext {
            username: Some(username),
            other: &[],
        }
    }
}

/// A validated password policy; build it with [`PasswordPolicy::builder`].
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_chars: usize,
    service_words: Vec<String>,
    blocklist: Blocklist,
}

impl Default for PasswordPolicy {
    /// 15 to 128 code points, the built-in blocklist, no service name.
    fn default() -> Self {
        PasswordPolicy {
            min_chars: 15,
            max_chars: 128,
            service_words: Vec::new(),
            blocklist: Blocklist::builtin(),
        }
    }
}

/// Builder for [`PasswordPolicy`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PasswordPolicyBuilder(PasswordPolicy);

impl PasswordPolicyBuilder {
    /// Minimum length in code points (default 15, the single-factor minimum; 8 is the
    /// floor, for passwords used only with a second factor).
    pub fn min_chars(mut self, min: usize) -> Self {
        self.0.min_chars = min;
        self
    }

    /// Maximum length in code points (default 128; at least 64).
    pub fn max_chars(mut self, max: usize) -> Self {
        self.0.max_chars = max;
        self
    }

    /// A name of the service, refused inside passwords (may be called more than once).
    pub fn service_name(mut self, name: &str) -> Self {
        self.0.service_words.push(name.to_owned());
        self
    }

    /// Replaces the blocklist (default: [`Blocklist::builtin`]).
    pub fn blocklist(mut self, blocklist: Blocklist) -> Self {
        self.0.blocklist = blocklist;
        self
    }

    /// Checks the bounds.
    pub fn build(self) -> Result<PasswordPolicy, PolicyError> {
        let policy = self.0;
        if policy.min_chars < MIN_CHARS_FLOOR {
            return Err(PolicyError::MinimumTooLow(policy.min_chars));
        }
        if !(MAX_CHARS_FLOOR..=MAX_CHARS_CEILING).contains(&policy.max_chars) {
            return Err(PolicyError::MaximumOutOfRange(policy.max_chars));
        }
        if policy.min_chars > policy.max_chars {
            return Err(PolicyError::MinimumAboveMaximum {
                min: policy.min_chars,
                max: policy.max_chars,
            });
        }
        Ok(policy)
    }
}

impl PasswordPolicy {
    /// Starts from the defaults.
    pub fn builder() -> PasswordPolicyBuilder {
        PasswordPolicyBuilder(PasswordPolicy::default())
    }

    /// The minimum length in code points.
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// The maximum length in code points.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// The blocklist in force.
    pub fn blocklist(&self) -> &Blocklist {
        &self.blocklist
    }

    /// Checks a new password; `Err` lists every reason it is refused.
    ///
    /// This is the one place a password is judged: the stores, the CLI and any
    /// self-service flow call it before hashing.
    pub fn check(
        &self,
        password: &SecretString,
        context: &PasswordContext<'_>,
    ) -> Result<(), PolicyViolation> {
        let normalized = normalize(password);
        let actual = normalized.chars().count();
        let mut reasons = Vec::new();
        if actual < self.min_chars {
            reasons.push(Rejection::TooShort {
                min: self.min_chars,
                actual,
            });
        }
        if actual > self.max_chars {
            // Nothing else is looked at: an oversized input is not worth folding.
            reasons.push(Rejection::TooLong {
                max: self.max_chars,
                actual,
            });
            return Err(PolicyViolation { reasons });
        }
        if normalized.chars().any(char::is_control) {
            reasons.push(Rejection::ControlCharacter);
        }
        let folded = Zeroizing::new(normalized.to_lowercase());
        let mut chars = folded.chars();
        if let Some(first) = chars.next()
            && actual > 1
            && chars.all(|c| c == first)
        {
            reasons.push(Rejection::Repetitive);
        }
        if self.blocklist.contains_folded(&folded) {
            reasons.push(Rejection::Blocklisted);
        }
        if let Some(word) = self.context_word(&folded, context) {
            reasons.push(Rejection::ContainsContextWord(word));
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(PolicyViolation { reasons })
        }
    }

    fn context_word(&self, folded: &str, context: &PasswordContext<'_>) -> Option<ContextWord> {
        let built_from = |word: &str| {
            let word = fold(word.trim());
            !word.is_empty()
                && (folded == word
                    || (word.chars().count() >= CONTEXT_SUBSTRING_MIN && folded.contains(&word)))
        };
        if context.username.is_some_and(built_from) {
            return Some(ContextWord::Username);
        }
        if self.service_words.iter().any(|word| built_from(word)) {
            return Some(ContextWord::ServiceName);
        }
        if context.other.iter().any(|word| built_from(word)) {
            return Some(ContextWord::Other);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn reasons(policy: &PasswordPolicy, password: &str, user: &str) -> Vec<Rejection> {
        match policy.check(&secret(password), &PasswordContext::for_user(user)) {
            Ok(()) => Vec::new(),
            Err(violation) => violation.reasons,
        }
    }

    #[test]
    fn builtin_blocklist_is_sorted_and_large() {
        assert_eq!(BUILTIN_BLOCKLIST.len() % 8, 0);
        let keys: Vec<u64> = BUILTIN_BLOCKLIST
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert!(keys.len() >= 100_000, "{} entries", keys.len());
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "not strictly sorted");
    }

    #[test]
    fn binary_search_finds_every_embedded_key_and_rejects_neighbours() {
        for chunk in BUILTIN_BLOCKLIST.chunks_exact(8).step_by(997) {
            let key = u64::from_be_bytes(chunk.try_into().unwrap());
            assert!(builtin_contains(key));
            let neighbour = key.wrapping_add(1);
            let present = BUILTIN_BLOCKLIST
                .chunks_exact(8)
                .any(|c| u64::from_be_bytes(c.try_into().unwrap()) == neighbour);
            assert_eq!(builtin_contains(neighbour), present);
        }
        assert!(!builtin_contains(0) || BUILTIN_BLOCKLIST[..8] == [0; 8]);
    }

    #[test]
    fn bounds_are_enforced_by_the_builder() {
        assert_eq!(
            PasswordPolicy::builder().min_chars(7).build().unwrap_err(),
            PolicyError::MinimumTooLow(7)
        );
        assert_eq!(
            PasswordPolicy::builder().max_chars(63).build().unwrap_err(),
            PolicyError::MaximumOutOfRange(63)
        );
        assert_eq!(
            PasswordPolicy::builder()
                .max_chars(MAX_CHARS_CEILING + 1)
                .build()
                .unwrap_err(),
            PolicyError::MaximumOutOfRange(MAX_CHARS_CEILING + 1)
        );
        assert_eq!(
            PasswordPolicy::builder()
                .min_chars(100)
                .max_chars(64)
                .build()
                .unwrap_err(),
            PolicyError::MinimumAboveMaximum { min: 100, max: 64 }
        );
        let policy = PasswordPolicy::builder()
            .min_chars(8)
            .max_chars(64)
            .build()
            .unwrap();
        assert_eq!((policy.min_chars(), policy.max_chars()), (8, 64));
    }

    #[test]
    fn every_reason_is_reported_at_once() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            reasons(&policy, "password", "alice"),
            vec![
                Rejection::TooShort { min: 15, actual: 8 },
                Rejection::Blocklisted
            ]
        );
        assert_eq!(
            reasons(&policy, "aaaaaaaa", "bob"),
            vec![
                Rejection::TooShort { min: 15, actual: 8 },
                Rejection::Repetitive,
                Rejection::Blocklisted
            ]
        );
    }
}
