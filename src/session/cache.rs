//! A short-lived local copy of sessions read from an external store (Redis, SQLite), so a
//! logged-in request costs a map lookup rather than a network round trip.
//!
//! Entries live for a fixed, short time ([`DEFAULT_TTL`]): a session ended on another
//! replica (logout, back-channel logout, expiry) stops working here within that time at
//! the latest, without any message between replicas that could be lost. A session ended
//! on this replica is dropped from the cache at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use foldhash::fast::RandomState;
use tower_sessions_core::session::Id;

use super::front::Generation;
use crate::user::LoggedIn;

/// How long a session read from the store is trusted without asking again. Under a
/// second, so an ending on any replica takes effect everywhere within a second.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_millis(750);

/// How many sessions are kept; a full shard starts afresh.
const CAPACITY: usize = 16_384;
const SHARDS: usize = 16;

/// Each copy with the instant it stops being trusted. Hashed with foldhash, seeded per
/// process: ids are random values this process read back from its own store, and SipHash
/// cost more than the rest of a lookup.
type Shard = HashMap<Id, (Arc<LoggedIn>, Instant), RandomState>;

pub(crate) struct LocalCache {
    shards: [Mutex<Shard>; SHARDS],
    ttl: Duration,
    /// Bumped whenever a copy takes the place of another or is dropped for a session that
    /// ended here, with the shard's lock held (for the per-thread front).
    generation: Generation,
}

impl LocalCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        LocalCache {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
            ttl,
            generation: Generation::default(),
        }
    }

    /// Counts the copies replaced and dropped (for the per-thread front).
    pub(crate) fn generation(&self) -> &Generation {
        &self.generation
    }

    fn shard(&self, id: &Id) -> MutexGuard<'_, Shard> {
        // Session ids are random: their low bits spread the load evenly.
        let index = (id.0 as usize) % SHARDS;
        // No code panics while holding the lock with an entry half-written.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The session, if it was read from the store less than the TTL ago and has not
    /// expired since, with the instant the copy stops counting. One monotonic clock read:
    /// both limits were turned into one instant when the copy was made.
    pub(crate) fn get(&self, id: &Id) -> Option<(Arc<LoggedIn>, Instant)> {
        let mut shard = self.shard(id);
        let (user, until) = shard.get(id)?;
        if Instant::now() < *until {
            return Some((user.clone(), *until));
        }
        shard.remove(id);
        None
    }

    /// Keeps `user` for the TTL, or until its session expires if that is sooner. An idle
    /// timeout that later moves the expiry out only makes the copy end early: the next
    /// request asks the store again.
    pub(crate) fn insert(&self, id: Id, user: Arc<LoggedIn>) {
        let now = Instant::now();
        let expires = u64::try_from(user.expires_at())
            .ok()
            .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
        let left = expires
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .unwrap_or_default();
        let keep = self.ttl.min(left);
        if keep.is_zero() {
            return;
        }
        let mut shard = self.shard(&id);
        if shard.len() >= CAPACITY / SHARDS {
            shard.retain(|_, (_, until)| *until > now);
            if shard.len() >= CAPACITY / SHARDS {
                shard.clear();
            }
        }
        // A copy that takes the place of another (a user refreshed here) ends the front's
        // slots of the old one; a first copy has none to end.
        if shard.insert(id, (user, now + keep)).is_some() {
            self.generation.bump();
        }
    }

    pub(crate) fn remove(&self, id: &Id) {
        let mut shard = self.shard(id);
        shard.remove(id);
        self.generation.bump();
    }
}

impl std::fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::memory::tests::user_entry;

    fn user(id: Id, expires_in: i64) -> Arc<LoggedIn> {
        LoggedIn::decode(user_entry(1), id, crate::pending::now_unix() + expires_in).unwrap()
    }

    #[test]
    fn a_copy_is_trusted_for_the_ttl_only() {
        let cache = LocalCache::new(Duration::from_millis(200));
        let id = Id::default();
        cache.insert(id, user(id, 3600));
        assert!(cache.get(&id).is_some());
        std::thread::sleep(Duration::from_millis(250));
        assert!(cache.get(&id).is_none());
        cache.insert(id, user(id, 3600));
        cache.remove(&id);
        assert!(cache.get(&id).is_none());
    }

    #[test]
    fn a_session_that_expires_first_is_not_served_past_its_expiry() {
        let cache = LocalCache::new(Duration::from_secs(60));
        let (soon, gone) = (Id::default(), Id::default());
        // Expiries are whole seconds: `soon` has between one and two seconds left.
        cache.insert(soon, user(soon, 2));
        cache.insert(gone, user(gone, 0));
        assert!(cache.get(&gone).is_none(), "already expired: never kept");
        assert!(cache.get(&soon).is_some());
        std::thread::sleep(Duration::from_millis(2100));
        assert!(cache.get(&soon).is_none(), "expired within the TTL");
    }

    #[test]
    fn a_copy_replaced_or_dropped_ends_the_per_thread_fronts_slots() {
        use crate::session::front::{Owner, Stamp};
        let cache = LocalCache::new(Duration::from_secs(60));
        let owner = Owner::unique();
        let stamp = || Stamp::new(&owner, cache.generation());
        let id = Id::default();
        let empty = stamp();
        cache.insert(id, user(id, 3600));
        let filled = stamp();
        assert_eq!(filled, empty, "a first copy ends no slot");
        assert!(cache.get(&id).is_some());
        assert_eq!(stamp(), filled, "reading changes nothing");
        cache.insert(id, user(id, 3600));
        let refreshed = stamp();
        assert_ne!(
            refreshed, filled,
            "a copy in place of another (a refreshed user)"
        );
        cache.remove(&id);
        assert_ne!(stamp(), refreshed, "a session ended here");
    }
}
