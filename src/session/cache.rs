//! A short-lived local copy of sessions read from an external store (Redis, SQLite), so a
//! logged-in request costs a map lookup rather than a network round trip.
//!
//! Entries live for a fixed, short time ([`DEFAULT_TTL`]): a session ended on another
//! replica (logout, back-channel logout, expiry) stops working here within that time at
//! the latest, without any message between replicas that could be lost. A session ended
//! on this replica is dropped from the cache at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tower_sessions_core::session::Id;

use crate::user::LoggedIn;

/// How long a session read from the store is trusted without asking again. Under a
/// second, so an ending on any replica takes effect everywhere within a second.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_millis(750);

/// How many sessions are kept; a full shard starts afresh.
const CAPACITY: usize = 16_384;
const SHARDS: usize = 16;

type Shard = HashMap<Id, (Arc<LoggedIn>, Instant)>;

pub(crate) struct LocalCache {
    shards: [Mutex<Shard>; SHARDS],
    ttl: Duration,
}

impl LocalCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        LocalCache {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            ttl,
        }
    }

    fn shard(&self, id: &Id) -> MutexGuard<'_, Shard> {
        // Session ids are random: their low bits spread the load evenly.
        let index = (id.0 as usize) % SHARDS;
        // No code panics while holding the lock with an entry half-written.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The session, if it was read from the store less than the TTL ago.
    pub(crate) fn get(&self, id: &Id) -> Option<Arc<LoggedIn>> {
        let mut shard = self.shard(id);
        let (user, read_at) = shard.get(id)?;
        // An idle timeout may end a session before the copy's time is up.
        if read_at.elapsed() < self.ttl && user.expires_at() > crate::pending::now_unix() {
            return Some(user.clone());
        }
        shard.remove(id);
        None
    }

    pub(crate) fn insert(&self, id: Id, user: Arc<LoggedIn>) {
        let mut shard = self.shard(&id);
        if shard.len() >= CAPACITY / SHARDS {
            let ttl = self.ttl;
            shard.retain(|_, (_, read_at)| read_at.elapsed() < ttl);
            if shard.len() >= CAPACITY / SHARDS {
                shard.clear();
            }
        }
        shard.insert(id, (user, Instant::now()));
    }

    pub(crate) fn remove(&self, id: &Id) {
        self.shard(id).remove(id);
    }
}

impl std::fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}
