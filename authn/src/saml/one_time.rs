//! IDs that may be used once: assertion IDs already consumed (the replay cache) and
//! AuthnRequest IDs still awaiting an answer. Both are bounded; when full of live entries
//! they refuse new ones rather than forget old ones, since forgetting re-opens a replay.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::SystemTime;

use super::SamlError;

/// Remembers consumed assertion IDs until they expire. Several service-provider instances
/// behind one load balancer must share one implementation (a database, Redis).
pub trait ReplayCache: Send + Sync + Debug {
    /// Records `id` as used until `until`. Must be atomic: of two concurrent calls with the
    /// same `id`, exactly one succeeds.
    ///
    /// # Errors
    /// [`SamlError::Replayed`] when `id` is already recorded and unexpired;
    /// [`SamlError::ReplayCacheFull`] when it cannot be recorded.
    fn first_use(&self, id: &str, until: SystemTime, now: SystemTime) -> Result<(), SamlError>;
}

/// An in-process [`ReplayCache`] of at most `capacity` live IDs.
#[derive(Debug)]
pub struct MemoryReplayCache {
    ids: ExpiringIds,
}

impl MemoryReplayCache {
    /// A cache holding at most `capacity` unexpired IDs.
    pub fn new(capacity: usize) -> Self {
        MemoryReplayCache {
            ids: ExpiringIds::new(capacity),
        }
    }
}

impl ReplayCache for MemoryReplayCache {
    fn first_use(&self, id: &str, until: SystemTime, now: SystemTime) -> Result<(), SamlError> {
        match self.ids.insert(id, until, now) {
            Insert::Added => Ok(()),
            Insert::Present => Err(SamlError::Replayed),
            Insert::Full => Err(SamlError::ReplayCacheFull),
        }
    }
}

/// AuthnRequest IDs awaiting their response.
#[derive(Debug)]
pub(crate) struct PendingRequests {
    ids: ExpiringIds,
}

impl PendingRequests {
    pub(crate) fn new(capacity: usize) -> Self {
        PendingRequests {
            ids: ExpiringIds::new(capacity),
        }
    }

    pub(crate) fn remember(
        &self,
        id: &str,
        until: SystemTime,
        now: SystemTime,
    ) -> Result<(), SamlError> {
        match self.ids.insert(id, until, now) {
            Insert::Added | Insert::Present => Ok(()),
            Insert::Full => Err(SamlError::Config("too many pending AuthnRequests".into())),
        }
    }

    /// Removes `id` if pending and unexpired; true when it was.
    pub(crate) fn take(&self, id: &str, now: SystemTime) -> bool {
        self.ids.take(id, now)
    }
}

enum Insert {
    Added,
    Present,
    Full,
}

/// A bounded map from ID to expiry under one lock.
#[derive(Debug)]
struct ExpiringIds {
    capacity: usize,
    entries: Mutex<HashMap<String, SystemTime>>,
}

impl ExpiringIds {
    fn new(capacity: usize) -> Self {
        ExpiringIds {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SystemTime>> {
        // A panic while holding the lock cannot leave the map half-updated (single calls).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, id: &str, until: SystemTime, now: SystemTime) -> Insert {
        let mut entries = self.lock();
        if entries.get(id).is_some_and(|expiry| *expiry > now) {
            return Insert::Present;
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, expiry| *expiry > now);
            if entries.len() >= self.capacity {
                return Insert::Full;
            }
        }
        entries.insert(id.to_owned(), until);
        Insert::Added
    }

    fn take(&self, id: &str, now: SystemTime) -> bool {
        self.lock().remove(id).is_some_and(|expiry| expiry > now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(seconds: u64) -> SystemTime {
        T0 + Duration::from_secs(seconds)
    }

    #[test]
    fn a_full_cache_refuses_until_entries_expire_and_never_forgets_a_live_one() {
        let cache = MemoryReplayCache::new(2);
        cache.first_use("a", at(100), at(0)).unwrap();
        cache.first_use("b", at(200), at(0)).unwrap();
        assert_eq!(
            cache.first_use("c", at(300), at(50)),
            Err(SamlError::ReplayCacheFull)
        );
        assert_eq!(
            cache.first_use("a", at(300), at(50)),
            Err(SamlError::Replayed)
        );
        // "a" expired: its place is free, and "b" is still remembered.
        cache.first_use("c", at(300), at(100)).unwrap();
        assert_eq!(
            cache.first_use("b", at(300), at(150)),
            Err(SamlError::Replayed)
        );
    }

    #[test]
    fn concurrent_inserts_never_exceed_the_capacity() {
        let cache = Arc::new(MemoryReplayCache::new(50));
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|i| {
                            cache
                                .first_use(&format!("{thread}-{i}"), at(1000), at(0))
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(accepted, 50);
    }

    #[test]
    fn a_pending_request_is_taken_once_and_not_after_it_expired() {
        let pending = PendingRequests::new(1);
        pending.remember("r1", at(10), at(0)).unwrap();
        assert!(matches!(
            pending.remember("r2", at(10), at(0)),
            Err(SamlError::Config(_))
        ));
        assert!(pending.take("r1", at(5)));
        assert!(!pending.take("r1", at(5)));
        pending.remember("r2", at(10), at(5)).unwrap();
        assert!(!pending.take("r2", at(10)));
    }
}
