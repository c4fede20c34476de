//! Time, injected: every time-based decision in rampart reads a [`Clock`].

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

/// A source of wall-clock time.
///
/// Blocks take a clock instead of calling `SystemTime::now` so that tests drive time
/// (expiry, lockout windows, idle timeouts) without sleeping, and so that a deployment can
/// substitute a trusted time source.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for Box<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// A clock shared between blocks.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the operating system clock"
    )]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant: for judging credentials "as of" a given time (an
/// operator re-checking evidence, a command-line `--now`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

#[cfg(feature = "test-util")]
pub use manual::ManualClock;

#[cfg(feature = "test-util")]
mod manual {
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, SystemTime};

    use super::Clock;

    /// A clock that moves only when told to; clones share one time.
    ///
    /// Available with the `test-util` feature.
    #[derive(Clone, Debug)]
    pub struct ManualClock {
        now: Arc<Mutex<SystemTime>>,
    }

    impl ManualClock {
        /// A clock stopped at `start`.
        pub fn new(start: SystemTime) -> Self {
            ManualClock {
                now: Arc::new(Mutex::new(start)),
            }
        }

        /// A clock stopped at `unix_seconds` after the Unix epoch.
        pub fn at_unix(unix_seconds: u64) -> Self {
            ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds))
        }

        /// Moves the clock forward.
        pub fn advance(&self, by: Duration) {
            let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
            *now += by;
        }

        /// Sets the clock to `time`, which may be in the past (to test clock steps).
        pub fn set(&self, time: SystemTime) {
            *self.now.lock().unwrap_or_else(PoisonError::into_inner) = time;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            *self.now.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::at_unix(1_000);
        let shared: SharedClock = Arc::new(clock.clone());
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            shared.now(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_005)
        );
        clock.set(SystemTime::UNIX_EPOCH);
        assert_eq!(shared.now(), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn system_clock_is_after_2020() {
        let now = SystemClock.now();
        assert!(now > SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800));
    }
}
