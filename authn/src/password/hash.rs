//! argon2id password hashing with bounded parameters (IA-5(1)).
//!
//! - Passwords are normalised to Unicode NFKC before hashing and before verifying, so the
//!   same password typed on different keyboards or systems verifies (NIST SP 800-63B-4).
//! - Hashes are PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
//! - A stored hash names its own parameters. They are bounded *before* any work is done, so
//!   a corrupted or hostile row with a huge memory cost is refused, not computed.
//! - A successful verification says whether the stored parameters are weaker than the
//!   current ones, so the caller can rehash on login.
//! - [`PasswordHasher::verify_dummy`] does the full work of a verification against a hash of
//!   the current parameters and always fails: the unknown-user path costs what a wrong
//!   password costs.
//! - The argon2 working memory is a [`HashMemory`] the caller may keep and hand in again
//!   (`*_with`), so a thread that hashes all day holds one buffer of m KiB instead of
//!   asking the allocator for a fresh one per login. It is wiped after every use: a
//!   filled argon2 memory lets a password guess be checked without the memory-hard work.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use rampart_core::SecretString;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, Zeroizing};

/// Why hashing or verifying could not be done (a wrong password is not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The stored hash is not an argon2id PHC string.
    #[error("stored password hash is malformed")]
    Malformed,
    /// The stored hash asks for more work than the configured limits allow.
    #[error(
        "stored password hash parameters exceed the limits (m ≤ {max_m_kib} KiB, t ≤ {max_t}, p ≤ {max_p})"
    )]
    OutOfBounds {
        /// Memory limit in KiB.
        max_m_kib: u32,
        /// Iteration limit.
        max_t: u32,
        /// Parallelism limit.
        max_p: u32,
    },
    /// Parameters given to the builder are outside the documented bounds.
    #[error("invalid hashing parameters: {0}")]
    InvalidParams(String),
    /// The hash function failed (should not happen with valid parameters).
    #[error("password hashing failed")]
    Internal,
}

/// argon2id cost parameters, checked by [`HashParams::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl HashParams {
    /// OWASP's recommendation: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: HashParams = HashParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// Least memory accepted, KiB (OWASP's lowest option, 7 MiB with 5 passes).
    pub const MIN_M_KIB: u32 = 7 * 1024;
    /// Most memory accepted when configuring, KiB (1 GiB).
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// Least work accepted: memory × passes, in KiB·passes (OWASP's options are all ≥ this).
    pub const MIN_WORK: u64 = 7 * 1024 * 5;
    /// Most passes accepted.
    pub const MAX_T: u32 = 16;
    /// Most lanes accepted.
    pub const MAX_P: u32 = 16;

    /// Parameters to check with [`HashParamsBuilder::build`].
    pub fn builder() -> HashParamsBuilder {
        HashParamsBuilder(HashParams::DEFAULT)
    }

    /// Memory in KiB.
    pub fn m_kib(&self) -> u32 {
        self.m_kib
    }

    /// Passes.
    pub fn t(&self) -> u32 {
        self.t
    }

    /// Lanes.
    pub fn p(&self) -> u32 {
        self.p
    }

    /// Whether these are at least as strong as `other` in every dimension.
    fn at_least(&self, other: &HashParams) -> bool {
        self.m_kib >= other.m_kib && self.t >= other.t && self.p >= other.p
    }
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams::DEFAULT
    }
}

/// Builds [`HashParams`] within the documented bounds.
#[derive(Clone, Copy, Debug)]
pub struct HashParamsBuilder(HashParams);

impl HashParamsBuilder {
    /// Memory in KiB.
    pub fn m_kib(mut self, m_kib: u32) -> Self {
        self.0.m_kib = m_kib;
        self
    }

    /// Passes.
    pub fn t(mut self, t: u32) -> Self {
        self.0.t = t;
        self
    }

    /// Lanes.
    pub fn p(mut self, p: u32) -> Self {
        self.0.p = p;
        self
    }

    /// Checks the bounds.
    ///
    /// # Errors
    /// [`HashError::InvalidParams`] outside `MIN_*`/`MAX_*` or below `MIN_WORK`.
    pub fn build(self) -> Result<HashParams, HashError> {
        let HashParams { m_kib, t, p } = self.0;
        if !(HashParams::MIN_M_KIB..=HashParams::MAX_M_KIB).contains(&m_kib) {
            return Err(HashError::InvalidParams(format!(
                "memory must be {}..={} KiB",
                HashParams::MIN_M_KIB,
                HashParams::MAX_M_KIB
            )));
        }
        if !(1..=HashParams::MAX_T).contains(&t) || !(1..=HashParams::MAX_P).contains(&p) {
            return Err(HashError::InvalidParams(format!(
                "passes must be 1..={} and lanes 1..={}",
                HashParams::MAX_T,
                HashParams::MAX_P
            )));
        }
        if u64::from(m_kib) * u64::from(t) < HashParams::MIN_WORK {
            return Err(HashError::InvalidParams(format!(
                "memory × passes must be at least {} KiB",
                HashParams::MIN_WORK
            )));
        }
        Ok(self.0)
    }
}

/// Limits on the parameters of stored hashes, checked before verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredLimits {
    /// Most memory, KiB.
    pub max_m_kib: u32,
    /// Most passes.
    pub max_t: u32,
    /// Most lanes.
    pub max_p: u32,
}

impl Default for StoredLimits {
    /// 256 MiB, 16 passes, 16 lanes.
    fn default() -> Self {
        StoredLimits {
            max_m_kib: 256 * 1024,
            max_t: HashParams::MAX_T,
            max_p: HashParams::MAX_P,
        }
    }
}

/// The outcome of verifying a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Verified {
    /// The password matches. `needs_rehash`: the stored parameters are weaker than the
    /// current ones; store a fresh hash now that the password is known.
    Match {
        /// Whether to rehash.
        needs_rehash: bool,
    },
    /// The password does not match.
    Mismatch,
}

/// Longest password accepted at login, in bytes (UTF-8), checked before NFKC: far above
/// any policy's maximum (at most a few hundred code points), so that a 10 MB "password"
/// costs neither normalisation nor hashing.
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// Whether a password is short enough to normalise and verify: the one length gate at
/// login (see [`MAX_PASSWORD_BYTES`]).
pub fn password_within_limit(password: &SecretString) -> bool {
    password.expose_secret().len() <= MAX_PASSWORD_BYTES
}

/// The password as hashed: NFKC-normalised, wiped on drop. The one place normalisation happens.
pub fn normalize(password: &SecretString) -> Zeroizing<String> {
    Zeroizing::new(nfkc(password.expose_secret()))
}

/// The one normal form every password comparison uses: hashing, the blocklist and
/// context words.
pub(crate) fn nfkc(text: &str) -> String {
    text.nfkc().collect()
}

/// argon2 working memory, reusable across hashes and wiped after each.
///
/// It keeps at most the current parameters' size between uses: a stored hash with a
/// larger memory cost (still within [`StoredLimits`]) gets a buffer of its own that is
/// freed when that verification ends.
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
}

impl HashMemory {
    /// Empty; it grows on first use.
    pub fn new() -> Self {
        HashMemory::default()
    }

    /// Bytes currently held.
    pub fn capacity_bytes(&self) -> usize {
        self.blocks.capacity().saturating_mul(Block::SIZE)
    }
}

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMemory")
            .field("bytes", &self.capacity_bytes())
            .finish()
    }
}

impl Drop for HashMemory {
    fn drop(&mut self) {
        self.blocks.zeroize();
    }
}

/// Hashes and verifies passwords with argon2id.
pub struct PasswordHasher {
    params: HashParams,
    limits: StoredLimits,
    argon_params: Params,
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The one place argon2id runs: `out` receives the tag of `password` under `salt` and
/// `params`, computed in `memory`, which is wiped afterwards.
fn argon2id_into(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut HashMemory,
    keep_blocks: usize,
) -> Result<(), HashError> {
    let needed = params.block_count();
    let mut oversized = Vec::new();
    let blocks = if needed <= keep_blocks.max(memory.blocks.len()) {
        if memory.blocks.len() < needed {
            memory.blocks.resize(needed, Block::default());
        }
        memory.blocks.get_mut(..needed).ok_or(HashError::Internal)?
    } else {
        oversized.resize(needed, Block::default());
        oversized.as_mut_slice()
    };
    let result = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt, out, &mut *blocks)
        .map_err(|_| HashError::Internal);
    blocks.iter_mut().for_each(Zeroize::zeroize);
    result
}

impl PasswordHasher {
    /// A hasher for `params`, refusing stored hashes beyond `limits`.
    ///
    /// # Errors
    /// [`HashError::InvalidParams`] when `params` exceed `limits` (its own hashes would be
    /// refused); otherwise only on an internal failure.
    pub fn new(params: HashParams, limits: StoredLimits) -> Result<Self, HashError> {
        if params.m_kib > limits.max_m_kib || params.t > limits.max_t || params.p > limits.max_p {
            return Err(HashError::InvalidParams(
                "the hashing parameters exceed the stored-hash limits: the verifier would refuse its own hashes"
                    .into(),
            ));
        }
        let argon_params =
            Params::new(params.m_kib, params.t, params.p, None).map_err(|_| HashError::Internal)?;
        let mut hasher = PasswordHasher {
            params,
            limits,
            argon_params,
            dummy: String::new(),
        };
        // A hash at the current parameters for the unknown-user path; what it hashes does
        // not matter, `verify_dummy` never reports a match.
        hasher.dummy = hasher.hash_bytes(b"rampart unknown-user dummy", &mut HashMemory::new())?;
        Ok(hasher)
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a password (normalised first) with a fresh random salt.
    ///
    /// # Errors
    /// [`HashError::Internal`] if the hash function fails.
    pub fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        self.hash_with(password, &mut HashMemory::new())
    }

    /// [`PasswordHasher::hash`] in reusable working memory.
    ///
    /// # Errors
    /// [`HashError::Internal`] if the hash function fails.
    pub fn hash_with(
        &self,
        password: &SecretString,
        memory: &mut HashMemory,
    ) -> Result<String, HashError> {
        self.hash_bytes(normalize(password).as_bytes(), memory)
    }

    fn hash_bytes(&self, password: &[u8], memory: &mut HashMemory) -> Result<String, HashError> {
        let salt = Salt::generate();
        let mut tag = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
        argon2id_into(
            &self.argon_params,
            password,
            &salt,
            tag.as_mut_slice(),
            memory,
            self.argon_params.block_count(),
        )?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.argon_params).map_err(|_| HashError::Internal)?,
            salt: Some(salt),
            hash: Some(Output::new(tag.as_slice()).map_err(|_| HashError::Internal)?),
        };
        Ok(phc.to_string())
    }

    /// The parameters a stored hash names, if it is an argon2id PHC string within the limits.
    ///
    /// # Errors
    /// [`HashError::Malformed`] or [`HashError::OutOfBounds`]; no hashing work is done.
    pub fn stored_params(&self, stored: &str) -> Result<HashParams, HashError> {
        self.parse_stored(stored).map(|(found, _)| found)
    }

    /// Parses and bounds a stored hash: the one gate before any argon2 work.
    fn parse_stored(&self, stored: &str) -> Result<(HashParams, Stored), HashError> {
        let parsed = PasswordHash::new(stored).map_err(|_| HashError::Malformed)?;
        if parsed.algorithm != ARGON2ID_IDENT || parsed.version != Some(0x13) {
            return Err(HashError::Malformed);
        }
        let params = Params::try_from(&parsed).map_err(|_| HashError::Malformed)?;
        let found = HashParams {
            m_kib: params.m_cost(),
            t: params.t_cost(),
            p: params.p_cost(),
        };
        if found.m_kib > self.limits.max_m_kib
            || found.t > self.limits.max_t
            || found.p > self.limits.max_p
        {
            return Err(HashError::OutOfBounds {
                max_m_kib: self.limits.max_m_kib,
                max_t: self.limits.max_t,
                max_p: self.limits.max_p,
            });
        }
        let (Some(salt), Some(tag)) = (parsed.salt, parsed.hash) else {
            return Err(HashError::Malformed);
        };
        Ok((found, Stored { params, salt, tag }))
    }

    /// Verifies a password (normalised first) against a stored hash, after bounding the
    /// stored parameters.
    ///
    /// # Errors
    /// The stored hash is malformed or out of bounds (the caller must deny).
    pub fn verify(&self, password: &SecretString, stored: &str) -> Result<Verified, HashError> {
        self.verify_with(password, stored, &mut HashMemory::new())
    }

    /// [`PasswordHasher::verify`] in reusable working memory.
    ///
    /// # Errors
    /// The stored hash is malformed or out of bounds (the caller must deny).
    pub fn verify_with(
        &self,
        password: &SecretString,
        stored: &str,
        memory: &mut HashMemory,
    ) -> Result<Verified, HashError> {
        let (found, stored) = self.parse_stored(stored)?;
        let expected = stored.tag.as_bytes();
        let mut tag = Zeroizing::new(vec![0u8; expected.len()]);
        argon2id_into(
            &stored.params,
            normalize(password).as_bytes(),
            &stored.salt,
            tag.as_mut_slice(),
            memory,
            self.argon_params.block_count(),
        )
        .map_err(|_| HashError::Malformed)?;
        if bool::from(tag.as_slice().ct_eq(expected)) {
            Ok(Verified::Match {
                needs_rehash: !found.at_least(&self.params),
            })
        } else {
            Ok(Verified::Mismatch)
        }
    }

    /// Does the work of one verification at the current parameters and fails: call it for
    /// unknown or disabled accounts so they cost what a wrong password costs.
    pub fn verify_dummy(&self, password: &SecretString) -> Verified {
        self.verify_dummy_with(password, &mut HashMemory::new())
    }

    /// [`PasswordHasher::verify_dummy`] in reusable working memory.
    pub fn verify_dummy_with(&self, password: &SecretString, memory: &mut HashMemory) -> Verified {
        match self.verify_with(password, &self.dummy, memory) {
            Ok(_) | Err(_) => Verified::Mismatch,
        }
    }
}

/// A stored hash, parsed and bounded.
struct Stored {
    params: Params,
    salt: Salt,
    tag: Output,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    fn fast() -> PasswordHasher {
        PasswordHasher::new(
            HashParams::builder().m_kib(8 * 1024).t(5).build().unwrap(),
            StoredLimits::default(),
        )
        .unwrap()
    }

    /// RFC 9106 §5.3 (Argon2id test vector), through the same crate, and a tampered twin.
    #[test]
    fn rfc9106_argon2id_vector() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .data(argon2::AssociatedData::new(&[4u8; 12]).unwrap())
            .output_len(32)
            .build()
            .unwrap();
        let secret_key = [3u8; 8];
        let argon =
            Argon2::new_with_secret(&secret_key, Algorithm::Argon2id, Version::V0x13, params)
                .unwrap();
        let mut tag = [0u8; 32];
        argon
            .hash_password_into(&[1u8; 32], &[2u8; 16], &mut tag)
            .unwrap();
        let expected = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659";
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        argon
            .hash_password_into(&[1u8; 31], &[2u8; 16], &mut tag)
            .unwrap();
        let tampered: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(tampered, expected);
    }

    #[test]
    fn hash_verify_and_nfkc() {
        let hasher = fast();
        let hash = hasher
            .hash(&secret("correct horse battery staple"))
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=8192,t=5,p=1$"), "{hash}");
        assert_eq!(
            hasher.verify(&secret("correct horse battery staple"), &hash),
            Ok(Verified::Match {
                needs_rehash: false
            })
        );
        assert_eq!(
            hasher.verify(&secret("correct horse battery stapl"), &hash),
            Ok(Verified::Mismatch)
        );
        // U+FB01 LATIN SMALL LIGATURE FI and a decomposed é both normalise.
        let hash = hasher
            .hash(&secret("ﬁle caf\u{65}\u{301} passphrase"))
            .unwrap();
        assert_eq!(
            hasher.verify(&secret("file caf\u{e9} passphrase"), &hash),
            Ok(Verified::Match {
                needs_rehash: false
            })
        );
    }

    #[test]
    fn stored_parameters_are_bounded_before_any_work() {
        let hasher = fast();
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$7Q2Y0gXGWZmHFh6uYbk7J0jS1y9t9c0tO3l1dQ6pYfU";
        assert!(matches!(
            hasher.verify(&secret("x"), huge),
            Err(HashError::OutOfBounds { .. })
        ));
        for bad in [
            "",
            "plaintext",
            "$argon2i$v=19$m=8192,t=5,p=1$c2FsdHNhbHQ$aGFzaA",
            "$2b$12$abcdefghijklmnopqrstuu",
            "$argon2id$v=16$m=8192,t=5,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert_eq!(
                hasher.verify(&secret("x"), bad),
                Err(HashError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn weaker_stored_hashes_ask_for_a_rehash() {
        let old = PasswordHasher::new(
            HashParams::builder().m_kib(8 * 1024).t(5).build().unwrap(),
            StoredLimits::default(),
        )
        .unwrap();
        let hash = old.hash(&secret("a long enough passphrase")).unwrap();
        let current = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap();
        assert_eq!(
            current.verify(&secret("a long enough passphrase"), &hash),
            Ok(Verified::Match { needs_rehash: true })
        );
        assert_eq!(
            current.verify_dummy(&secret("a long enough passphrase")),
            Verified::Mismatch
        );
        assert_eq!(
            current.stored_params(&current.dummy),
            Ok(HashParams::DEFAULT),
            "the dummy uses the current parameters"
        );
    }

    /// Reused memory gives the same answers, is wiped after each use, and keeps no more
    /// than the current parameters' size after a larger stored hash.
    #[test]
    fn working_memory_is_reused_wiped_and_bounded() {
        let hasher = fast();
        let mut memory = HashMemory::new();
        let password = secret("correct horse battery staple");
        let hash = hasher.hash_with(&password, &mut memory).unwrap();
        let salt = hash.split('$').nth(4).unwrap();
        assert_eq!(salt.len(), 22, "16-byte salt: {hash}");
        let current_bytes = 8 * 1024 * 1024;
        assert_eq!(memory.capacity_bytes(), current_bytes);
        for _ in 0..2 {
            assert_eq!(
                hasher.verify_with(&password, &hash, &mut memory),
                Ok(Verified::Match {
                    needs_rehash: false
                })
            );
            assert_eq!(
                hasher.verify_with(&secret("wrong"), &hash, &mut memory),
                Ok(Verified::Mismatch)
            );
            assert!(
                memory
                    .blocks
                    .iter()
                    .all(|block| block.as_ref().iter().all(|word| *word == 0)),
                "wiped after use"
            );
        }
        let bigger = PasswordHasher::new(
            HashParams::builder().m_kib(12 * 1024).t(5).build().unwrap(),
            StoredLimits::default(),
        )
        .unwrap();
        let big_hash = bigger.hash(&password).unwrap();
        assert_eq!(
            hasher.verify_with(&password, &big_hash, &mut memory),
            Ok(Verified::Match {
                needs_rehash: false
            })
        );
        assert_eq!(
            memory.capacity_bytes(),
            current_bytes,
            "larger buffer not kept"
        );
        assert_eq!(
            hasher.verify_dummy_with(&password, &mut memory),
            Verified::Mismatch
        );
    }

    #[test]
    fn the_builder_enforces_the_bounds() {
        assert!(HashParams::builder().build().is_ok());
        assert!(HashParams::builder().m_kib(4096).build().is_err());
        assert!(
            HashParams::builder().m_kib(8 * 1024).t(1).build().is_err(),
            "too little work"
        );
        assert!(HashParams::builder().t(0).build().is_err());
        assert!(HashParams::builder().p(17).build().is_err());
        assert!(
            HashParams::builder()
                .m_kib(2 * 1024 * 1024)
                .build()
                .is_err()
        );
        assert!(
            !format!("{:?}", fast()).contains('$'),
            "Debug shows no hash"
        );
    }
}
