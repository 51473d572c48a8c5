//! The default session store: in process memory, bounded, with expiry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, SessionStore};

/// How many writes between sweeps of expired records: often enough to bound memory,
/// rare enough that the sweep's cost vanishes per request.
const SWEEP_EVERY: usize = 1024;

/// An in-memory [`SessionStore`] for a single process: records expire, expired records are
/// swept as new ones arrive, and the number of live records is capped.
///
/// Sessions live only as long as the process and are not shared between replicas; for
/// several replicas pass a shared store (Redis, SQL…) to
/// [`AuthLayerBuilder::session_store`](crate::AuthLayerBuilder::session_store).
///
/// ```
/// use tower_oidc_login::session::MemoryStore;
/// let store = MemoryStore::with_capacity(100_000);
/// # let _ = store;
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    records: Mutex<HashMap<Id, Record>>,
    writes: AtomicUsize,
    capacity: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(1_000_000)
    }
}

impl MemoryStore {
    /// A store holding at most `capacity` live records (sessions plus pending logins).
    /// When full, expired records are swept first; if it is still full, new records are
    /// refused with a store error (the login answers an error page) rather than growing
    /// without bound.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryStore {
            records: Mutex::new(HashMap::new()),
            writes: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Live (unexpired) records right now.
    pub fn len(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        self.lock().values().filter(|r| r.expiry_date > now).count()
    }

    /// Whether the store holds no live record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Record>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent
        // (every operation is a single insert/remove), so keep serving.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, record: &Record, new: bool) -> session_store::Result<bool> {
        let now = OffsetDateTime::now_utc();
        let mut map = self.lock();
        let writes = self.writes.fetch_add(1, Ordering::Relaxed);
        if writes.is_multiple_of(SWEEP_EVERY) || map.len() >= self.capacity {
            map.retain(|_, r| r.expiry_date > now);
        }
        if new && map.contains_key(&record.id) {
            return Ok(false);
        }
        if !map.contains_key(&record.id) && map.len() >= self.capacity {
            return Err(session_store::Error::Backend(
                "the in-memory session store is full".into(),
            ));
        }
        map.insert(record.id, record.clone());
        Ok(true)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A collision of 128-bit random ids is not expected, but a store must never let a
        // new session take over an existing one.
        while !self.insert(record, true)? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.insert(record, false).map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        Ok(self.lock().get(id).filter(|r| r.expiry_date > now).cloned())
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.lock().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(seconds: i64) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::seconds(seconds),
        }
    }

    #[tokio::test]
    async fn expired_records_are_not_loaded() {
        let store = MemoryStore::default();
        let mut live = record(60);
        let mut dead = record(-1);
        store.create(&mut live).await.unwrap();
        store.create(&mut dead).await.unwrap();
        assert!(store.load(&live.id).await.unwrap().is_some());
        assert!(store.load(&dead.id).await.unwrap().is_none());
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn create_never_overwrites_an_existing_record() {
        let store = MemoryStore::default();
        let mut first = record(60);
        store.create(&mut first).await.unwrap();
        let mut second = record(60);
        second.id = first.id;
        second.data.insert("x".into(), serde_json::json!(1));
        store.create(&mut second).await.unwrap();
        assert_ne!(first.id, second.id, "a colliding id is replaced");
        assert!(store
            .load(&first.id)
            .await
            .unwrap()
            .unwrap()
            .data
            .is_empty());
    }

    #[tokio::test]
    async fn capacity_is_enforced_after_sweeping_expired_records() {
        let store = MemoryStore::with_capacity(2);
        store.create(&mut record(-1)).await.unwrap();
        store.create(&mut record(60)).await.unwrap();
        // The expired one is swept to make room.
        store.create(&mut record(60)).await.unwrap();
        assert!(store.create(&mut record(60)).await.is_err(), "full");
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn delete_removes() {
        let store = MemoryStore::default();
        let mut r = record(60);
        store.create(&mut r).await.unwrap();
        store.delete(&r.id).await.unwrap();
        assert!(store.load(&r.id).await.unwrap().is_none());
        assert!(store.is_empty());
    }
}
