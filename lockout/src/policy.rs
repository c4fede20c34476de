//! The lockout policy (AC-7): how many consecutive failures, within what window, lock an
//! account for how long, and what repeated locks do. Built only through validation, so an
//! invalid combination is a construction error, never a surprise at login time.

use std::time::Duration;

use serde::Deserialize;

/// Why a policy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A value outside its bounds; the text names it.
    #[error("invalid lockout policy: {0}")]
    Invalid(&'static str),
    /// A preset name that does not exist.
    #[error(
        "unknown lockout preset `{0}` (fedramp-rev4-moderate, nist-800-63b, teleport, keycloak)"
    )]
    UnknownPreset(String),
}

/// How the lock grows when an account is locked again (progressive lockout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Every lock lasts `lock_duration`.
    Fixed,
    /// The n-th lock lasts n × `lock_duration` (Keycloak's "wait increment").
    Linear,
    /// The n-th lock lasts 2ⁿ⁻¹ × `lock_duration`.
    Doubling,
}

/// Most consecutive failures any policy may allow: NIST SP 800-63B-4 §3.2.2 caps it at 100.
pub const MAX_FAILURES_CEILING: u32 = 100;
/// Longest window or lock a policy may name (a permanent lock is its own setting).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A validated lockout policy. The default is FedRAMP Rev4 Moderate (AC-7: 3 consecutive
/// failures in 15 minutes lock the account for 30 minutes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    max_failures: u32,
    window: Duration,
    lock_duration: Duration,
    growth: Growth,
    max_lock_duration: Duration,
    permanent_after_locks: Option<u32>,
    reveal_lock: bool,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 3,
            window: Duration::from_secs(15 * 60),
            lock_duration: Duration::from_secs(30 * 60),
            growth: Growth::Fixed,
            max_lock_duration: Duration::from_secs(30 * 60),
            permanent_after_locks: None,
            reveal_lock: false,
        }
    }
}

/// The policy as written in configuration; [`LockoutPolicy::try_from`] validates it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PolicySpec {
    /// Start from a named preset (the rest overrides it).
    #[serde(default)]
    pub preset: Option<String>,
    /// Consecutive failures that lock.
    #[serde(default)]
    pub max_failures: Option<u32>,
    /// Seconds within which the failures must fall.
    #[serde(default)]
    pub window_seconds: Option<u64>,
    /// Seconds the (first) lock lasts.
    #[serde(default)]
    pub lock_seconds: Option<u64>,
    /// How repeated locks grow.
    #[serde(default)]
    pub growth: Option<Growth>,
    /// The longest a grown lock may last, in seconds.
    #[serde(default)]
    pub max_lock_seconds: Option<u64>,
    /// After this many locks, the account stays locked until an administrator unlocks it.
    #[serde(default)]
    pub permanent_after_locks: Option<u32>,
    /// Tell the caller the account is locked and for how long (off: a lock answers like a
    /// wrong password).
    #[serde(default)]
    pub reveal_lock: Option<bool>,
}

impl TryFrom<PolicySpec> for LockoutPolicy {
    type Error = PolicyError;

    fn try_from(spec: PolicySpec) -> Result<Self, PolicyError> {
        let mut builder = match &spec.preset {
            Some(name) => LockoutPolicy::preset(name)?.to_builder(),
            None => LockoutPolicy::builder(),
        };
        if let Some(n) = spec.max_failures {
            builder = builder.max_failures(n);
        }
        if let Some(s) = spec.window_seconds {
            builder = builder.window(Duration::from_secs(s));
        }
        if let Some(s) = spec.lock_seconds {
            builder = builder.lock_duration(Duration::from_secs(s));
        }
        if let Some(growth) = spec.growth {
            builder = builder.growth(growth);
        }
        if let Some(s) = spec.max_lock_seconds {
            builder = builder.max_lock_duration(Duration::from_secs(s));
        }
        if let Some(n) = spec.permanent_after_locks {
            builder = builder.permanent_after_locks(n);
        }
        if let Some(reveal) = spec.reveal_lock {
            builder = builder.reveal_lock(reveal);
        }
        builder.build()
    }
}

impl LockoutPolicy {
    /// A builder starting from the default (FedRAMP Rev4 Moderate).
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder(LockoutPolicy::default())
    }

    /// A builder starting from this policy.
    pub fn to_builder(&self) -> PolicyBuilder {
        PolicyBuilder(self.clone())
    }

    /// A named preset:
    ///
    /// - `fedramp-rev4-moderate` (the default): 3 failures in 15 min lock 30 min (FedRAMP
    ///   Rev4 Moderate baseline, AC-7).
    /// - `nist-800-63b`: 100 failures in 24 h lock 1 h, doubling up to 24 h (SP 800-63B-4
    ///   §3.2.2 allows no more than 100 consecutive failures; the durations are rampart's,
    ///   meant to be paired with per-source throttling).
    /// - `teleport`: 5 failures in 30 min lock 30 min (Teleport's fixed values).
    /// - `keycloak`: 30 failures in 12 h lock 1 min, growing by 1 min per lock up to 15 min
    ///   (Keycloak's brute-force detection defaults: max login failures 30, wait increment
    ///   60 s, max wait 15 min, failure reset time 12 h).
    ///
    /// # Errors
    /// An unknown name.
    pub fn preset(name: &str) -> Result<Self, PolicyError> {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let builder = match name {
            "fedramp-rev4-moderate" => LockoutPolicy::builder(),
            "nist-800-63b" => LockoutPolicy::builder()
                .max_failures(100)
                .window(minutes(24 * 60))
                .lock_duration(minutes(60))
                .growth(Growth::Doubling)
                .max_lock_duration(minutes(24 * 60)),
            "teleport" => LockoutPolicy::builder()
                .max_failures(5)
                .window(minutes(30))
                .lock_duration(minutes(30)),
            "keycloak" => LockoutPolicy::builder()
                .max_failures(30)
                .window(minutes(12 * 60))
                .lock_duration(minutes(1))
                .growth(Growth::Linear)
                .max_lock_duration(minutes(15)),
            other => {
                return Err(PolicyError::UnknownPreset(rampart_core::sanitized(
                    other, 64,
                )));
            }
        };
        builder.build()
    }

    /// Consecutive failures that lock.
    pub fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// The window the failures must fall within.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether a lock is told to the caller (with its remaining time).
    pub fn reveals_lock(&self) -> bool {
        self.reveal_lock
    }

    /// After how many locks the account stays locked until unlocked by hand.
    pub fn permanent_after_locks(&self) -> Option<u32> {
        self.permanent_after_locks
    }

    /// How long the `n`-th lock (1-based) lasts.
    pub fn lock_duration(&self, n: u32) -> Duration {
        let n = n.max(1);
        let grown = match self.growth {
            Growth::Fixed => Some(self.lock_duration),
            Growth::Linear => self.lock_duration.checked_mul(n),
            Growth::Doubling => 2u32
                .checked_pow(n - 1)
                .and_then(|factor| self.lock_duration.checked_mul(factor)),
        };
        grown.map_or(self.max_lock_duration, |d| d.min(self.max_lock_duration))
    }
}

/// Builds a [`LockoutPolicy`]; [`PolicyBuilder::build`] validates.
#[derive(Clone, Debug)]
pub struct PolicyBuilder(LockoutPolicy);

impl PolicyBuilder {
    /// Consecutive failures that lock (1 to [`MAX_FAILURES_CEILING`]).
    pub fn max_failures(mut self, n: u32) -> Self {
        self.0.max_failures = n;
        self
    }

    /// The window the failures must fall within.
    pub fn window(mut self, window: Duration) -> Self {
        self.0.window = window;
        self
    }

    /// How long the first lock lasts (and every lock with [`Growth::Fixed`]). Also sets the
    /// cap when it was lower.
    pub fn lock_duration(mut self, duration: Duration) -> Self {
        self.0.lock_duration = duration;
        self.0.max_lock_duration = self.0.max_lock_duration.max(duration);
        self
    }

    /// How repeated locks grow.
    pub fn growth(mut self, growth: Growth) -> Self {
        self.0.growth = growth;
        self
    }

    /// The longest a grown lock lasts.
    pub fn max_lock_duration(mut self, duration: Duration) -> Self {
        self.0.max_lock_duration = duration;
        self
    }

    /// After `n` locks the account stays locked until an administrator unlocks it.
    pub fn permanent_after_locks(mut self, n: u32) -> Self {
        self.0.permanent_after_locks = Some(n);
        self
    }

    /// Tell the caller about a lock (off by default: a lock answers like a wrong password,
    /// so it reveals neither the lock nor that the account exists).
    pub fn reveal_lock(mut self, reveal: bool) -> Self {
        self.0.reveal_lock = reveal;
        self
    }

    /// The policy.
    ///
    /// # Errors
    /// A value out of bounds, or a cap below the first lock.
    pub fn build(self) -> Result<LockoutPolicy, PolicyError> {
        let policy = self.0;
        let bounded = |d: Duration| !d.is_zero() && d <= MAX_DURATION;
        if policy.max_failures == 0 || policy.max_failures > MAX_FAILURES_CEILING {
            return Err(PolicyError::Invalid(
                "max_failures must be 1 to 100 (NIST SP 800-63B-4 allows no more than 100)",
            ));
        }
        if !bounded(policy.window) {
            return Err(PolicyError::Invalid("the window must be 1 s to 30 days"));
        }
        if !bounded(policy.lock_duration) || !bounded(policy.max_lock_duration) {
            return Err(PolicyError::Invalid(
                "lock durations must be 1 s to 30 days",
            ));
        }
        if policy.max_lock_duration < policy.lock_duration {
            return Err(PolicyError::Invalid(
                "max_lock_duration must be at least lock_duration",
            ));
        }
        if policy.permanent_after_locks == Some(0) {
            return Err(PolicyError::Invalid(
                "permanent_after_locks must be at least 1",
            ));
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_default_is_fedramp_moderate_and_presets_carry_their_sources_values() {
        let default = LockoutPolicy::default();
        assert_eq!(
            default,
            LockoutPolicy::preset("fedramp-rev4-moderate").unwrap()
        );
        assert_eq!(
            (default.max_failures(), default.window()),
            (3, Duration::from_secs(900))
        );
        assert_eq!(default.lock_duration(1), Duration::from_secs(1800));
        assert!(!default.reveals_lock());
        let teleport = LockoutPolicy::preset("teleport").unwrap();
        assert_eq!(teleport.max_failures(), 5);
        let keycloak = LockoutPolicy::preset("keycloak").unwrap();
        assert_eq!(keycloak.lock_duration(3), Duration::from_secs(180));
        assert_eq!(keycloak.lock_duration(40), Duration::from_secs(900));
        let nist = LockoutPolicy::preset("nist-800-63b").unwrap();
        assert_eq!(nist.max_failures(), 100);
        assert_eq!(nist.lock_duration(2), Duration::from_secs(7200));
        assert_eq!(nist.lock_duration(u32::MAX), Duration::from_secs(24 * 3600));
        assert!(matches!(
            LockoutPolicy::preset("lax\u{202e}"),
            Err(PolicyError::UnknownPreset(name)) if !name.contains('\u{202e}')
        ));
    }

    #[test]
    fn invalid_combinations_are_construction_errors() {
        for builder in [
            LockoutPolicy::builder().max_failures(0),
            LockoutPolicy::builder().max_failures(101),
            LockoutPolicy::builder().window(Duration::ZERO),
            LockoutPolicy::builder().window(MAX_DURATION + Duration::from_secs(1)),
            LockoutPolicy::builder().lock_duration(Duration::ZERO),
            LockoutPolicy::builder()
                .lock_duration(Duration::from_secs(600))
                .max_lock_duration(Duration::from_secs(60)),
            LockoutPolicy::builder().permanent_after_locks(0),
        ] {
            assert!(builder.build().is_err());
        }
    }

    #[test]
    fn configuration_is_read_strictly_and_validated() {
        let spec: PolicySpec =
            serde_json::from_str(r#"{"preset":"teleport","max_failures":4,"reveal_lock":true}"#)
                .unwrap();
        let policy = LockoutPolicy::try_from(spec).unwrap();
        assert_eq!(policy.max_failures(), 4);
        assert!(policy.reveals_lock());
        assert!(serde_json::from_str::<PolicySpec>(r#"{"max_failure":4}"#).is_err());
        let spec: PolicySpec = serde_json::from_str(r#"{"max_failures":1000}"#).unwrap();
        assert!(LockoutPolicy::try_from(spec).is_err());
    }
}
