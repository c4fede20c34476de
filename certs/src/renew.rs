//! Renewal before expiry (SC-12, SC-17). Kubernetes cannot revoke client certificates, so
//! lifetimes are short and certificates are renewed automatically.
//!
//! - Each certificate is renewed at a random point between 70 % and 90 % of its lifetime
//!   (the kubelet's rule; configurable), drawn from the system RNG when it is installed,
//!   so a fleet issued together does not renew together.
//! - A failed attempt is retried with exponential backoff (1 s doubling to 5 min), never
//!   waiting more than half the time left before expiry: attempts get denser as expiry
//!   nears, so a CA that is reachable at any point before then gets asked.
//! - A renewed pair is swapped into the [`CertSlot`] that running rustls configurations
//!   resolve from: handshakes after the swap present it, connections already open are
//!   untouched.
//! - Issue, renewal and failure are audit events (`cert.issued`, `cert.renewed` with its
//!   outcome). An audit sink that refuses does not stop the renewal (an expired identity
//!   would take the service down); the refusal is returned to the caller to raise.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rampart_core::{Action, AuditEvent, AuditSink, Clock, Outcome, SharedAuditSink, Target};
use ring::rand::SecureRandom;

use crate::ca::{CertificateAuthority, Issued, LeafRequest};
use crate::error::CertError;
use crate::policy::{Candidate, SigningPolicy};
use crate::tls::{CertSlot, certified_key};
use rampart_core::{KeyAlgorithm, PrivateKey};

/// The future a [`Reissue`] returns.
pub type ReissueFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(Issued, PrivateKey), CertError>> + Send + 'a>>;

/// Where renewed certificates come from: a local CA, or a remote signer behind a CSR.
pub trait Reissue: Send + Sync {
    /// A new certificate and its key.
    fn reissue(&self) -> ReissueFuture<'_>;
    /// What the certificate names, for audit records (e.g. its CN).
    fn describe(&self) -> String;
}

/// Reissues from a [`CertificateAuthority`] in this process, with a new key each time
/// unless told to keep one.
///
/// Every renewal is judged again by the signing policy (the default policy unless
/// [`LocalCa::with_policy`] names one): a renewal is an issuance, and a request the policy
/// refuses — or has come to refuse — is never certified by renewing it.
#[derive(Debug)]
pub struct LocalCa {
    ca: Arc<CertificateAuthority>,
    request: LeafRequest,
    algorithm: KeyAlgorithm,
    fixed_key: Option<PrivateKey>,
    policy: SigningPolicy,
}

impl LocalCa {
    /// Issues `request` (already accepted by the signing policy) with new `algorithm` keys.
    pub fn new(
        ca: Arc<CertificateAuthority>,
        request: LeafRequest,
        algorithm: KeyAlgorithm,
    ) -> Self {
        LocalCa {
            ca,
            request,
            algorithm,
            fixed_key: None,
            policy: SigningPolicy::default(),
        }
    }

    /// The signing policy every renewal must pass.
    pub fn with_policy(mut self, policy: SigningPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The request as the policy accepts it for a key of `algorithm`.
    fn approved(&self, algorithm: KeyAlgorithm) -> Result<LeafRequest, CertError> {
        self.policy.evaluate(&Candidate {
            subject: self.request.subject.clone(),
            alt_names: self.request.alt_names.clone(),
            key_algorithm: algorithm,
            usage: self.request.usage,
            ttl: self.request.ttl,
        })
    }

    /// Certifies `key` at every renewal instead of a new key (for a key pinned elsewhere,
    /// e.g. in a hardware module's allow-list). A new key per renewal is the default.
    pub fn reusing_key(mut self, key: PrivateKey) -> Self {
        self.fixed_key = Some(key);
        self
    }
}

impl Reissue for LocalCa {
    /// Signs (and makes a key) on tokio's blocking pool: RSA key generation takes
    /// seconds, and signing waits for the CA's audit sink, neither of which may hold an
    /// async worker.
    fn reissue(&self) -> ReissueFuture<'_> {
        let job = (|| {
            let ca = Arc::clone(&self.ca);
            let fixed_key = self
                .fixed_key
                .as_ref()
                .map(PrivateKey::try_clone)
                .transpose()?;
            let algorithm = fixed_key
                .as_ref()
                .map_or(self.algorithm, PrivateKey::algorithm);
            let request = self.approved(algorithm)?;
            Ok::<_, CertError>((ca, fixed_key, request, algorithm))
        })();
        Box::pin(async move {
            let (ca, fixed_key, request, algorithm) = job?;
            tokio::task::spawn_blocking(move || match fixed_key {
                None => ca.issue_with_new_key(&request, algorithm),
                Some(key) => {
                    let issued = ca.issue(&request, key.public_key_info()?)?;
                    Ok((issued, key))
                }
            })
            .await
            .map_err(|_| CertError::Crypto("the signing task failed"))?
        })
    }

    fn describe(&self) -> String {
        self.request.subject.common_name.clone()
    }
}

/// When to renew and how to retry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenewalPolicy {
    /// Earliest renewal point, as a fraction of the lifetime (default 0.7).
    pub earliest: f64,
    /// Latest renewal point (default 0.9).
    pub latest: f64,
    /// First retry delay after a failure (default 1 s).
    pub first_retry: Duration,
    /// Longest retry delay (default 5 min).
    pub max_retry: Duration,
    /// How often [`Renewer::run`] looks at the clock while waiting (default 60 s), so a
    /// suspended machine or a stepped clock is noticed.
    pub check_interval: Duration,
}

impl RenewalPolicy {
    /// Checks the fractions: finite, within 0..=1, earliest ≤ latest; and a non-zero
    /// check interval.
    ///
    /// # Errors
    /// [`CertError::Invalid`] naming the bad field.
    pub fn check(&self) -> Result<(), CertError> {
        let fraction = |value: f64| value.is_finite() && (0.0..=1.0).contains(&value);
        if !fraction(self.earliest) || !fraction(self.latest) || self.earliest > self.latest {
            return Err(CertError::Invalid(
                "renewal fractions must be numbers with 0 <= earliest <= latest <= 1".into(),
            ));
        }
        if self.check_interval.is_zero() {
            return Err(CertError::Invalid(
                "the renewal check interval must be above zero".into(),
            ));
        }
        Ok(())
    }
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        RenewalPolicy {
            earliest: 0.7,
            latest: 0.9,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            check_interval: Duration::from_secs(60),
        }
    }
}

/// What one [`Renewer::poll`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Polled {
    /// Not due; the next attempt is at this time.
    NotDue(SystemTime),
    /// A new certificate is in the slot; the next renewal is at this time.
    Renewed {
        /// The new certificate's notAfter.
        not_after: SystemTime,
        /// When it will be renewed.
        next: SystemTime,
        /// Set when the audit record of the renewal could not be written.
        audit_error: Option<String>,
    },
    /// The attempt failed; the next one is at this time.
    Failed {
        /// What went wrong (no secrets).
        error: String,
        /// When the next attempt is.
        retry_at: SystemTime,
    },
}

struct State {
    not_before: SystemTime,
    not_after: SystemTime,
    next_attempt: SystemTime,
    failures: u32,
}

/// Keeps one certificate fresh in a [`CertSlot`].
pub struct Renewer {
    source: Arc<dyn Reissue>,
    slot: Arc<CertSlot>,
    clock: Arc<dyn Clock>,
    policy: RenewalPolicy,
    audit: Option<SharedAuditSink>,
    state: Mutex<State>,
    /// Held by the one poll that is reissuing: concurrent polls never issue twice.
    in_flight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Renewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renewer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Renewer {
    /// Obtains the first certificate from `source` (recorded as `cert.issued`) and puts it
    /// in a new slot.
    ///
    /// # Errors
    /// The policy is invalid ([`RenewalPolicy::check`]), the first certificate could not
    /// be obtained, or its key is unusable for TLS.
    pub async fn start(
        source: Arc<dyn Reissue>,
        clock: Arc<dyn Clock>,
        policy: RenewalPolicy,
        audit: Option<SharedAuditSink>,
    ) -> Result<Arc<Renewer>, CertError> {
        policy.check()?;
        let (issued, key) = source.reissue().await?;
        let slot = CertSlot::new(certified_key(issued.chain(), &key)?);
        let renewer = Renewer {
            state: Mutex::new(State {
                not_before: issued.not_before,
                not_after: issued.not_after,
                next_attempt: SystemTime::UNIX_EPOCH,
                failures: 0,
            }),
            source,
            slot,
            clock,
            policy,
            audit,
            in_flight: tokio::sync::Mutex::new(()),
        };
        let next = renewal_time(issued.not_before, issued.not_after, &renewer.policy)?;
        renewer.state().next_attempt = next;
        // The first issue is recorded; a refusing sink is not a reason not to serve.
        let _ = renewer
            .record(Action::CertificateIssued, Outcome::Success, &issued, None)
            .await;
        Ok(Arc::new(renewer))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot rustls configurations resolve from.
    pub fn slot(&self) -> Arc<CertSlot> {
        Arc::clone(&self.slot)
    }

    /// When the next attempt is due.
    pub fn next_attempt(&self) -> SystemTime {
        self.state().next_attempt
    }

    /// The current certificate's notAfter.
    pub fn not_after(&self) -> SystemTime {
        self.state().not_after
    }

    /// Renews if due. Safe to call at any time and from several tasks: one attempt runs
    /// at a time, and a poll that finds one running answers with the current schedule
    /// instead of issuing a second certificate.
    pub async fn poll(&self) -> Polled {
        let Ok(_attempt) = self.in_flight.try_lock() else {
            return Polled::NotDue(self.state().next_attempt);
        };
        let now = self.clock.now();
        let due = self.state().next_attempt;
        if now < due {
            return Polled::NotDue(due);
        }
        match self.source.reissue().await {
            Ok((issued, key)) => match certified_key(issued.chain(), &key) {
                Ok(pair) => self.install(pair, &issued).await,
                Err(error) => self.failed(&error, now).await,
            },
            Err(error) => self.failed(&error, now).await,
        }
    }

    async fn install(&self, pair: Arc<rustls::sign::CertifiedKey>, issued: &Issued) -> Polled {
        let next = match renewal_time(issued.not_before, issued.not_after, &self.policy) {
            Ok(next) => next,
            Err(error) => return self.failed(&error, self.clock.now()).await,
        };
        self.slot.set(pair);
        {
            let mut state = self.state();
            state.not_before = issued.not_before;
            state.not_after = issued.not_after;
            state.next_attempt = next;
            state.failures = 0;
        }
        let audit_error = self
            .record(Action::CertificateRenewed, Outcome::Success, issued, None)
            .await
            .err();
        Polled::Renewed {
            not_after: issued.not_after,
            next,
            audit_error,
        }
    }

    async fn failed(&self, error: &CertError, now: SystemTime) -> Polled {
        let retry_at = {
            let mut state = self.state();
            state.failures = state.failures.saturating_add(1);
            let delay = retry_delay(&self.policy, state.failures, now, state.not_after);
            state.next_attempt = now.checked_add(delay).unwrap_or(now);
            state.next_attempt
        };
        let reason = error.to_string();
        let event = AuditEvent::new(Action::CertificateRenewed, Outcome::Failure, now)
            .with_target(Target::new("certificate", self.source.describe()))
            .with_reason(reason.clone());
        if let Some(sink) = &self.audit {
            let _ = sink.submit(event).await;
        }
        Polled::Failed {
            error: reason,
            retry_at,
        }
    }

    /// Records a renewal event without blocking the runtime (the sink's async form).
    async fn record(
        &self,
        action: Action,
        outcome: Outcome,
        issued: &Issued,
        reason: Option<String>,
    ) -> Result<(), String> {
        let Some(sink) = &self.audit else {
            return Ok(());
        };
        let serial = issued.serial_hex();
        let mut event = AuditEvent::new(action, outcome, self.clock.now())
            .with_target(Target::new("certificate", self.source.describe()))
            .with_detail("serial", serial)
            .with_detail(
                "not_after",
                rampart_core::Timestamp::from(issued.not_after).to_string(),
            );
        if let Some(reason) = reason {
            event = event.with_reason(reason);
        }
        sink.submit(event).await.map_err(|error| error.to_string())
    }

    /// Polls until `shutdown` completes: sleeps until the next attempt, looking at the
    /// clock at least every `check_interval`.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let wait = match self.poll().await {
                Polled::NotDue(at)
                | Polled::Renewed { next: at, .. }
                | Polled::Failed { retry_at: at, .. } => {
                    at.duration_since(self.clock.now()).unwrap_or_default()
                }
            };
            let wait = wait.min(self.policy.check_interval);
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// A uniformly random point in [earliest, latest] of the lifetime after notBefore.
fn renewal_time(
    not_before: SystemTime,
    not_after: SystemTime,
    policy: &RenewalPolicy,
) -> Result<SystemTime, CertError> {
    let lifetime = not_after
        .duration_since(not_before)
        .map_err(|_| CertError::Invalid("a certificate that ends before it begins".into()))?;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertError::Crypto("the system RNG failed"))?;
    // 53 random bits give a uniform float in [0, 1).
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    policy.check()?;
    let fraction = policy.earliest + (policy.latest - policy.earliest) * unit;
    let offset = Duration::try_from_secs_f64(lifetime.as_secs_f64() * fraction)
        .map_err(|_| CertError::Invalid("a renewal point out of range".into()))?;
    not_before
        .checked_add(offset)
        .ok_or_else(|| CertError::Invalid("a renewal point out of range".into()))
}

/// Exponential backoff capped at `max_retry` and at half the time left before expiry
/// (never below one second while time is left).
fn retry_delay(
    policy: &RenewalPolicy,
    failures: u32,
    now: SystemTime,
    not_after: SystemTime,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let backoff = policy
        .first_retry
        .saturating_mul(1u32 << exponent)
        .min(policy.max_retry);
    let left = not_after.duration_since(now).unwrap_or_default();
    backoff
        .min(left / 2)
        .max(Duration::from_secs(1).min(policy.first_retry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_points_fall_in_the_window_and_spread() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = start + Duration::from_secs(10_000);
        let policy = RenewalPolicy::default();
        let points: Vec<u64> = (0..200)
            .map(|_| {
                renewal_time(start, end, &policy)
                    .unwrap()
                    .duration_since(start)
                    .unwrap()
                    .as_secs()
            })
            .collect();
        assert!(
            points.iter().all(|p| (7_000..=9_000).contains(p)),
            "{points:?}"
        );
        let low = points.iter().filter(|p| **p < 8_000).count();
        assert!(
            (50..150).contains(&low),
            "not spread: {low} of 200 in the first half"
        );
    }

    #[test]
    fn retries_back_off_and_tighten_near_expiry() {
        let policy = RenewalPolicy::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let far = now + Duration::from_secs(86_400);
        let delays: Vec<u64> = (1..=12)
            .map(|n| retry_delay(&policy, n, now, far).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        let near = now + Duration::from_secs(100);
        assert_eq!(retry_delay(&policy, 12, now, near), Duration::from_secs(50));
        assert_eq!(
            retry_delay(&policy, 12, now, now + Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}
