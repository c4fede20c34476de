//! One account's lockout state and the only function that changes it: pure, so every store
//! (memory today) applies exactly the same rules, and a model test can drive it.

use std::time::SystemTime;

use std::time::Duration;

use crate::policy::LockoutPolicy;

/// The longest an admitted attempt may hold its reservation: far beyond any password check,
/// and short enough that reservations leaked by a crash heal on their own.
pub const RESERVATION_LEASE: Duration = Duration::from_secs(120);

/// What the store keeps per account (or claimed username: unknown names are tracked alike).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    /// Consecutive failures in the current window.
    pub failures: u32,
    /// When the current window's first failure happened.
    pub window_start: Option<SystemTime>,
    /// Attempts admitted and not finished: reserved against the limit, so concurrent
    /// attempts can never let more than the policy's number reach the password check.
    pub in_flight: u32,
    /// When the latest reservation was made: reservations are leases that lapse after
    /// [`RESERVATION_LEASE`], so an attempt that never finishes cannot hold one for ever.
    pub reserved_at: Option<SystemTime>,
    /// Locks so far, for progressive and permanent locking; reset by a success or an unlock.
    pub locks: u32,
    /// Locked until then.
    pub locked_until: Option<SystemTime>,
    /// Locked until an administrator unlocks.
    pub permanent: bool,
    /// Why it is locked, when an administrator or another block locked it.
    pub reason: Option<String>,
}

/// The answer to an attempt's admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may go to the password check; it holds a reservation until finished.
    Admitted,
    /// The account is locked: until then, or until unlocked (`None`).
    Locked {
        /// When the lock lifts by itself.
        until: Option<SystemTime>,
    },
    /// Attempts already in flight could use up the remaining failures: refused so that no
    /// more than the policy's number is ever checked.
    Busy,
}

/// How a finished attempt counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The credential was checked and is bad (`AuthnError::InvalidCredentials`).
    Failed,
    /// The credential was good.
    Succeeded,
    /// Anything else (an outage, malformed input): never counted.
    Neutral,
}

/// A lock placed by a finished attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockPlaced {
    /// When it lifts (`None`: permanent, until unlocked).
    pub until: Option<SystemTime>,
    /// Which lock this is (1 for the first).
    pub count: u32,
    /// The failures that placed it.
    pub failures: u32,
}

impl AccountState {
    /// Whether there is nothing to keep (the store may forget the account).
    pub fn is_idle(&self) -> bool {
        self.failures == 0
            && self.in_flight == 0
            && self.locks == 0
            && self.locked_until.is_none()
            && !self.permanent
    }

    /// Clears a lock that has run out, a window that has passed, and lapsed reservations.
    fn expire(&mut self, policy: &LockoutPolicy, now: SystemTime) {
        if self
            .reserved_at
            .is_some_and(|at| now.duration_since(at).unwrap_or_default() >= RESERVATION_LEASE)
        {
            self.in_flight = 0;
            self.reserved_at = None;
        }
        if self.locked_until.is_some_and(|until| until <= now) {
            self.locked_until = None;
            self.reason = None;
            self.failures = 0;
            self.window_start = None;
        }
        if self
            .window_start
            .is_some_and(|start| now.duration_since(start).unwrap_or_default() >= policy.window())
        {
            self.failures = 0;
            self.window_start = None;
        }
    }

    /// Admits an attempt or says why not; an admitted attempt is reserved.
    pub fn admit(&mut self, policy: &LockoutPolicy, now: SystemTime) -> Admission {
        self.expire(policy, now);
        if self.permanent {
            return Admission::Locked { until: None };
        }
        if let Some(until) = self.locked_until {
            return Admission::Locked { until: Some(until) };
        }
        if self.failures.saturating_add(self.in_flight) >= policy.max_failures() {
            return Admission::Busy;
        }
        self.in_flight += 1;
        self.reserved_at = Some(now);
        Admission::Admitted
    }

    /// Gives back a reservation whose attempt ended without an outcome (its caller went
    /// away): nothing is counted.
    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.reserved_at = None;
        }
    }

    /// Records how an admitted attempt ended; returns the lock it placed, if any.
    pub fn finish(
        &mut self,
        policy: &LockoutPolicy,
        now: SystemTime,
        outcome: AttemptOutcome,
    ) -> Option<LockPlaced> {
        self.release();
        self.expire(policy, now);
        match outcome {
            AttemptOutcome::Neutral => None,
            // A success while locked (an administrator locked the account while its
            // password was being checked) changes nothing; the caller refuses it.
            AttemptOutcome::Succeeded if self.locked_at(now).is_some() => None,
            AttemptOutcome::Succeeded => {
                self.failures = 0;
                self.window_start = None;
                self.locks = 0;
                None
            }
            AttemptOutcome::Failed => {
                if self.permanent || self.locked_until.is_some() {
                    return None;
                }
                self.window_start.get_or_insert(now);
                self.failures += 1;
                if self.failures < policy.max_failures() {
                    return None;
                }
                let failures = self.failures;
                self.failures = 0;
                self.window_start = None;
                self.locks = self.locks.saturating_add(1);
                let until = if policy
                    .permanent_after_locks()
                    .is_some_and(|n| self.locks >= n)
                {
                    self.permanent = true;
                    None
                } else {
                    let until = now
                        .checked_add(policy.lock_duration(self.locks))
                        .unwrap_or(now);
                    self.locked_until = Some(until);
                    Some(until)
                };
                Some(LockPlaced {
                    until,
                    count: self.locks,
                    failures,
                })
            }
        }
    }

    /// An administrator's (or another block's) lock, until `until` or until unlocked.
    pub fn lock(&mut self, until: Option<SystemTime>, reason: String) {
        match until {
            Some(until) => self.locked_until = Some(until),
            None => self.permanent = true,
        }
        self.reason = Some(reason);
    }

    /// Lifts every lock and forgets the failures and reservations (an attempt still in
    /// flight finishes harmlessly); returns whether it was locked.
    pub fn unlock(&mut self, policy: &LockoutPolicy, now: SystemTime) -> bool {
        self.expire(policy, now);
        let was_locked = self.permanent || self.locked_until.is_some();
        *self = AccountState::default();
        was_locked
    }

    /// Whether it is locked at `now`, and until when.
    pub fn locked_at(&self, now: SystemTime) -> Option<Option<SystemTime>> {
        if self.permanent {
            return Some(None);
        }
        self.locked_until.filter(|until| *until > now).map(Some)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    fn fail(
        state: &mut AccountState,
        policy: &LockoutPolicy,
        now: SystemTime,
    ) -> Option<LockPlaced> {
        assert_eq!(state.admit(policy, now), Admission::Admitted);
        state.finish(policy, now, AttemptOutcome::Failed)
    }

    #[test]
    fn the_nth_failure_locks_and_the_lock_lifts_exactly_when_it_ends() {
        let policy = LockoutPolicy::default();
        let mut state = AccountState::default();
        assert_eq!(fail(&mut state, &policy, at(0)), None);
        assert_eq!(fail(&mut state, &policy, at(10)), None);
        let lock = fail(&mut state, &policy, at(20)).unwrap();
        assert_eq!(lock.until, Some(at(20 + 1800)));
        assert_eq!(
            state.admit(&policy, at(20 + 1799)),
            Admission::Locked {
                until: Some(at(1820))
            }
        );
        assert_eq!(state.admit(&policy, at(20 + 1800)), Admission::Admitted);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up_and_a_success_resets() {
        let policy = LockoutPolicy::default();
        let mut state = AccountState::default();
        fail(&mut state, &policy, at(0));
        fail(&mut state, &policy, at(10));
        assert_eq!(
            fail(&mut state, &policy, at(900)),
            None,
            "the window restarted"
        );
        fail(&mut state, &policy, at(901));
        assert_eq!(state.admit(&policy, at(902)), Admission::Admitted);
        assert_eq!(
            state.finish(&policy, at(902), AttemptOutcome::Succeeded),
            None
        );
        assert_eq!(state.failures, 0);
        assert_eq!(state.admit(&policy, at(903)), Admission::Admitted);
        assert_eq!(
            state.finish(&policy, at(903), AttemptOutcome::Neutral),
            None
        );
        assert!(state.is_idle());
    }

    #[test]
    fn concurrent_attempts_are_reserved_so_no_more_than_n_are_checked() {
        let policy = LockoutPolicy::default();
        let mut state = AccountState::default();
        let admitted = (0..1000)
            .filter(|_| state.admit(&policy, at(0)) == Admission::Admitted)
            .count();
        assert_eq!(admitted, 3);
        for _ in 0..3 {
            state.finish(&policy, at(1), AttemptOutcome::Failed);
        }
        assert_eq!(
            state.admit(&policy, at(2)),
            Admission::Locked {
                until: Some(at(1801))
            }
        );
    }

    #[test]
    fn a_reservation_never_finished_lapses_and_a_released_one_counts_nothing() {
        let policy = LockoutPolicy::default();
        let mut state = AccountState::default();
        for _ in 0..3 {
            assert_eq!(state.admit(&policy, at(0)), Admission::Admitted);
        }
        assert_eq!(state.admit(&policy, at(1)), Admission::Busy);
        state.release();
        assert_eq!(state.admit(&policy, at(2)), Admission::Admitted);
        assert_eq!(state.admit(&policy, at(3)), Admission::Busy);
        assert_eq!(
            state.admit(&policy, at(2 + 120)),
            Admission::Admitted,
            "the lease lapsed"
        );
        assert_eq!(state.failures, 0);
    }

    #[test]
    fn a_success_while_locked_by_an_administrator_changes_nothing() {
        let policy = LockoutPolicy::default();
        let mut state = AccountState::default();
        assert_eq!(state.admit(&policy, at(0)), Admission::Admitted);
        state.lock(None, "suspected compromise".into());
        assert_eq!(
            state.finish(&policy, at(1), AttemptOutcome::Succeeded),
            None
        );
        assert_eq!(state.locked_at(at(1)), Some(None));
    }

    #[test]
    fn locks_grow_and_become_permanent_until_unlocked() {
        let policy = LockoutPolicy::builder()
            .max_failures(1)
            .lock_duration(Duration::from_secs(60))
            .growth(crate::Growth::Doubling)
            .max_lock_duration(Duration::from_secs(600))
            .permanent_after_locks(3)
            .build()
            .unwrap();
        let mut state = AccountState::default();
        assert_eq!(
            fail(&mut state, &policy, at(0)).unwrap().until,
            Some(at(60))
        );
        assert_eq!(
            fail(&mut state, &policy, at(60)).unwrap().until,
            Some(at(60 + 120))
        );
        assert_eq!(fail(&mut state, &policy, at(180)).unwrap().until, None);
        assert_eq!(
            state.admit(&policy, at(1_000_000)),
            Admission::Locked { until: None }
        );
        assert!(state.unlock(&policy, at(1_000_000)));
        assert_eq!(state.admit(&policy, at(1_000_001)), Admission::Admitted);
    }

    /// The reference model: the policy as a list of failure times, written the obvious way.
    #[derive(Default)]
    struct Model {
        failures: Vec<u64>,
        locked_until: Option<u64>,
    }

    proptest! {
        #[test]
        fn the_state_machine_agrees_with_a_reference_model(
            steps in proptest::collection::vec((0u8..4, 0u64..400), 1..200)
        ) {
            let policy = LockoutPolicy::builder()
                .max_failures(3)
                .window(Duration::from_secs(300))
                .lock_duration(Duration::from_secs(600))
                .build()
                .unwrap();
            let mut state = AccountState::default();
            let mut model = Model::default();
            let mut now = 0u64;
            for (kind, step) in steps {
                now += step;
                let time = at(now);
                if model.locked_until.is_some_and(|until| until <= now) {
                    model.locked_until = None;
                    model.failures.clear();
                }
                if model.failures.first().is_some_and(|first| now - first >= 300) {
                    model.failures.clear();
                }
                match kind {
                    // An admin unlock.
                    3 => {
                        state.unlock(&policy, time);
                        model = Model::default();
                    }
                    _ => {
                        let admission = state.admit(&policy, time);
                        let expected = match model.locked_until {
                            Some(until) => Admission::Locked { until: Some(at(until)) },
                            None => Admission::Admitted,
                        };
                        prop_assert_eq!(&admission, &expected);
                        if admission == Admission::Admitted {
                            let outcome = match kind {
                                0 => AttemptOutcome::Failed,
                                1 => AttemptOutcome::Succeeded,
                                _ => AttemptOutcome::Neutral,
                            };
                            let placed = state.finish(&policy, time, outcome);
                            match outcome {
                                AttemptOutcome::Failed => {
                                    model.failures.push(now);
                                    if model.failures.len() == 3 {
                                        model.failures.clear();
                                        model.locked_until = Some(now + 600);
                                    }
                                }
                                AttemptOutcome::Succeeded => model.failures.clear(),
                                AttemptOutcome::Neutral => {}
                            }
                            prop_assert_eq!(placed.map(|p| p.until), model.locked_until.filter(|u| *u == now + 600).map(|u| Some(at(u))));
                        }
                    }
                }
            }
        }
    }
}
