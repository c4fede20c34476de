//! `Lockout<A>`: account lockout (AC-7) around any authenticator of credentials that name a
//! user (a password login form). Refused attempts never reach the inner authenticator, so no
//! hash is computed for them; only `AuthnError::InvalidCredentials` counts as a failure.

use std::fmt;
use std::time::SystemTime;

use rampart_core::{
    Action, AuditEvent, Authenticator, AuthnError, AuthnFuture, Credential, Outcome,
    RequestContext, SharedAuditSink, SharedClock, Target, UserInfo, bounded_claim,
};

use crate::state::{Admission, AttemptOutcome, LockPlaced};
use crate::store::{LockoutStore, StoreError};

/// Why an administrative operation did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The store did not answer: nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change was made but its audit event was not recorded: alert.
    #[error("the change was made but could not be audited")]
    Unaudited,
}

/// Wraps `inner` with account lockout kept in `store`.
///
/// Put it outside the audited authenticator (`Lockout<Audited<Local>>`): an attempt the
/// lockout refuses is recorded once, as `lockout.refused`, never as `authn.attempt`, so the
/// `authn.attempt` events count exactly the attempts that reached the password check.
/// Credentials that name no user (tokens) pass straight through: single sign-on accounts are
/// their identity provider's to lock.
pub struct Lockout<A, S> {
    inner: A,
    store: S,
    sink: SharedAuditSink,
    clock: SharedClock,
}

impl<A, S: LockoutStore> fmt::Debug for Lockout<A, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field("policy", self.store.policy())
            .finish_non_exhaustive()
    }
}

impl<A, S: LockoutStore> Lockout<A, S> {
    /// Lockout under the policy of `store`, events in `sink`, time from `clock`.
    pub fn new(inner: A, store: S, sink: SharedAuditSink, clock: SharedClock) -> Self {
        Lockout {
            inner,
            store,
            sink,
            clock,
        }
    }

    /// The store, for the administrative operations (list, status, lock, unlock).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Lifts every lock on `username`, recorded as `lockout.unlocked` naming the
    /// `administrator` and their `reason`; whether it was locked.
    ///
    /// # Errors
    /// The store did not answer, or the event could not be recorded (the unlock stands).
    pub async fn unlock(
        &self,
        username: &str,
        administrator: &UserInfo,
        reason: &str,
    ) -> Result<bool, AdminError> {
        let was_locked = self.store.unlock(username, self.clock.now()).await?;
        let event = AuditEvent::new(Action::LockoutUnlocked, Outcome::Success, self.clock.now())
            .with_actor(administrator.clone())
            .with_target(Target::new("account", username))
            .with_reason(reason)
            .with_detail("was_locked", was_locked);
        self.sink
            .submit(event)
            .await
            .map_err(|_| AdminError::Unaudited)?;
        Ok(was_locked)
    }

    /// Locks `username` until `until` (or until unlocked), placed by `administrator` (or
    /// another block) for `reason`, recorded as `lockout.locked`.
    ///
    /// # Errors
    /// The store did not answer, or the event could not be recorded (the lock stands).
    pub async fn lock(
        &self,
        username: &str,
        administrator: &UserInfo,
        reason: &str,
        until: Option<SystemTime>,
    ) -> Result<(), AdminError> {
        let now = self.clock.now();
        self.store
            .lock(username, now, until, reason.to_owned())
            .await?;
        let event = AuditEvent::new(Action::LockoutLocked, Outcome::Success, now)
            .with_actor(administrator.clone())
            .with_target(Target::new("account", username))
            .with_reason(reason)
            .with_detail(
                "until",
                until.map_or_else(
                    || "unlocked by an administrator".to_owned(),
                    |until| rampart_core::Timestamp::from(until).to_string(),
                ),
            );
        self.sink
            .submit(event)
            .await
            .map_err(|_| AdminError::Unaudited)
    }

    /// The answer to a refused attempt: the same as a wrong password unless the policy
    /// reveals locks.
    fn refusal(&self, until: Option<SystemTime>, now: SystemTime) -> AuthnError {
        if self.store.policy().reveals_lock() {
            AuthnError::Locked {
                retry_after: until.map(|until| until.duration_since(now).unwrap_or_default()),
            }
        } else {
            AuthnError::InvalidCredentials
        }
    }

    fn event(&self, action: Action, username: &str, context: &RequestContext) -> AuditEvent {
        AuditEvent::new(action, Outcome::Failure, self.clock.now())
            .with_actor(UserInfo::new(username))
            .with_source(context.clone())
            .with_target(Target::new("account", username))
    }

    /// Records a refusal; an attempt whose refusal cannot be recorded is still refused.
    async fn refused(&self, username: &str, context: &RequestContext, why: &'static str) {
        let event = self
            .event(Action::LockoutRefused, username, context)
            .with_reason(why);
        let _ = self.sink.submit(event).await;
    }

    async fn locked(&self, username: &str, context: &RequestContext, placed: LockPlaced) {
        let mut event = self
            .event(Action::LockoutLocked, username, context)
            .with_reason("consecutive_failures")
            .with_detail("failures", placed.failures)
            .with_detail("lock", placed.count);
        event.outcome = Outcome::Success;
        event = match placed.until {
            Some(until) => {
                event.with_detail("until", rampart_core::Timestamp::from(until).to_string())
            }
            None => event.with_detail("until", "unlocked by an administrator"),
        };
        let _ = self.sink.submit(event).await;
    }
}

/// An admitted attempt's place, given back if the attempt is dropped before it finishes.
struct Reservation<'a, S: LockoutStore> {
    store: &'a S,
    username: &'a str,
    armed: bool,
}

impl<S: LockoutStore> Drop for Reservation<'_, S> {
    fn drop(&mut self) {
        if self.armed {
            self.store.release(self.username);
        }
    }
}

impl<C, A, S> Authenticator<C> for Lockout<A, S>
where
    C: Credential + Sync + ?Sized,
    A: Authenticator<C>,
    S: LockoutStore,
{
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(async move {
            let Some(claimed) = credential.claimed_username() else {
                return self.inner.authenticate(credential, context).await;
            };
            // Bounded and cleaned: an attacker's name is a key here and text in events.
            let username = bounded_claim(claimed);
            let now = self.clock.now();
            let unavailable = |_| AuthnError::unavailable("lockout");
            match self
                .store
                .admit(&username, now)
                .await
                .map_err(unavailable)?
            {
                Admission::Admitted => {}
                Admission::Locked { until } => {
                    self.refused(&username, context, "account_locked").await;
                    return Err(self.refusal(until, now));
                }
                Admission::Busy => {
                    self.refused(&username, context, "attempts_in_flight").await;
                    // Not a lock: other attempts for the account are being checked.
                    return Err(if self.store.policy().reveals_lock() {
                        AuthnError::Overloaded
                    } else {
                        AuthnError::InvalidCredentials
                    });
                }
            }
            // Given back if this attempt is dropped before it finishes (a client that went
            // away, a timeout): a dropped attempt must never hold the account's place.
            let mut reservation = Reservation {
                store: &self.store,
                username: &username,
                armed: true,
            };
            let result = self.inner.authenticate(credential, context).await;
            reservation.armed = false;
            let outcome = match &result {
                Ok(_) => AttemptOutcome::Succeeded,
                Err(error) if error.counts_as_failed_attempt() => AttemptOutcome::Failed,
                Err(_) => AttemptOutcome::Neutral,
            };
            let placed = self
                .store
                .finish(&username, self.clock.now(), outcome)
                .await
                .map_err(unavailable)?;
            if let Some(placed) = placed {
                self.locked(&username, context, placed).await;
            }
            // An administrator may have locked the account while its password was checked.
            if result.is_ok()
                && self
                    .store
                    .is_locked(&username, self.clock.now())
                    .await
                    .map_err(unavailable)?
            {
                self.refused(&username, context, "account_locked").await;
                return Err(self.refusal(None, now));
            }
            result
        })
    }
}
