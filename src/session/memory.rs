//! The default session store: in process memory, bounded, with expiry.

use std::collections::{HashMap, VecDeque};
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
/// swept as new ones arrive, and memory stays bounded whatever visitors do.
///
/// Two bounds, because the two kinds of record differ: logged-in sessions are capped
/// (default 1,000,000; past that a new login is refused with an error page, never an
/// existing session dropped), and pending logins, which anyone can create by opening
/// `/auth/login`, are capped separately (default 100,000) with the oldest evicted first,
/// so a flood of login starts can only crowd out other unfinished logins.
///
/// Sessions live only as long as the process and are not shared between replicas; for
/// several replicas pass a shared store (Redis, SQL…) to
/// [`AuthLayerBuilder::session_store`](crate::AuthLayerBuilder::session_store).
///
/// ```
/// use tower_oidc_login::session::MemoryStore;
/// let store = MemoryStore::with_capacity(100_000).with_pending_capacity(10_000);
/// # let _ = store;
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    writes: AtomicUsize,
    capacity: usize,
    pending_capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<Id, Record>,
    /// Pending-login ids in arrival order (all share one lifetime, so this is also expiry
    /// order). May hold ids already consumed; they are skipped and compacted away.
    pending_order: VecDeque<Id>,
    pending_live: usize,
}

fn is_pending(record: &Record) -> bool {
    record.data.contains_key(super::PENDING_KEY)
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(1_000_000)
    }
}

impl MemoryStore {
    /// A store holding at most `capacity` logged-in sessions (and, separately, 100,000
    /// pending logins). When full, expired records are swept first; if it is still full,
    /// a new login is refused with a store error (the callback answers an error page).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            writes: AtomicUsize::new(0),
            capacity: capacity.max(1),
            pending_capacity: 100_000,
        }
    }

    /// At most `capacity` pending logins; past that the oldest is evicted.
    pub fn with_pending_capacity(mut self, capacity: usize) -> Self {
        self.pending_capacity = capacity.max(1);
        self
    }

    /// Live (unexpired) records right now, sessions and pending logins.
    pub fn len(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        self.lock()
            .records
            .values()
            .filter(|r| r.expiry_date > now)
            .count()
    }

    /// Pending logins held right now (expired ones not yet swept included).
    pub fn pending_len(&self) -> usize {
        self.lock().pending_live
    }

    /// Whether the store holds no live record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves maps that are still consistent
        // (every operation is a single insert/remove), so keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, record: &Record, new: bool) -> session_store::Result<bool> {
        let now = OffsetDateTime::now_utc();
        let mut inner = self.lock();
        let writes = self.writes.fetch_add(1, Ordering::Relaxed);
        let sessions = inner.records.len() - inner.pending_live;
        if writes.is_multiple_of(SWEEP_EVERY) || sessions >= self.capacity {
            inner.sweep(now);
        }
        if inner.records.contains_key(&record.id) {
            if new {
                return Ok(false);
            }
            inner.remove(&record.id);
        }
        if is_pending(record) {
            while inner.pending_live >= self.pending_capacity {
                let Some(oldest) = inner.pending_order.pop_front() else {
                    break;
                };
                if inner.records.get(&oldest).is_some_and(is_pending) {
                    inner.remove(&oldest);
                }
            }
            inner.pending_order.push_back(record.id);
            inner.pending_live += 1;
            if inner.pending_order.len() > 2 * self.pending_capacity + SWEEP_EVERY {
                let Inner {
                    records,
                    pending_order,
                    ..
                } = &mut *inner;
                pending_order.retain(|id| records.get(id).is_some_and(is_pending));
            }
        } else if inner.records.len() - inner.pending_live >= self.capacity {
            return Err(session_store::Error::Backend(
                "the in-memory session store is full".into(),
            ));
        }
        inner.records.insert(record.id, record.clone());
        Ok(true)
    }
}

impl Inner {
    fn remove(&mut self, id: &Id) -> Option<Record> {
        let removed = self.records.remove(id)?;
        if is_pending(&removed) {
            self.pending_live = self.pending_live.saturating_sub(1);
        }
        Some(removed)
    }

    fn sweep(&mut self, now: OffsetDateTime) {
        self.records.retain(|_, r| r.expiry_date > now);
        self.pending_live = self.records.values().filter(|r| is_pending(r)).count();
        let records = &self.records;
        self.pending_order
            .retain(|id| records.get(id).is_some_and(is_pending));
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
        Ok(self
            .lock()
            .records
            .get(id)
            .filter(|r| r.expiry_date > now)
            .cloned())
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.lock().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn pending(seconds: i64) -> Record {
        let mut r = record(seconds);
        r.data
            .insert(crate::session::PENDING_KEY.into(), serde_json::json!({}));
        r
    }

    #[tokio::test]
    async fn pending_logins_are_capped_oldest_first_and_never_crowd_out_sessions() {
        let store = MemoryStore::with_capacity(10).with_pending_capacity(3);
        let mut session = record(60);
        store.create(&mut session).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..50 {
            let r = pending(60);
            store.save(&r).await.unwrap();
            ids.push(r.id);
        }
        assert_eq!(store.pending_len(), 3);
        assert_eq!(store.len(), 4);
        for old in &ids[..47] {
            assert!(store.load(old).await.unwrap().is_none(), "oldest evicted");
        }
        for new in &ids[47..] {
            assert!(store.load(new).await.unwrap().is_some(), "newest kept");
        }
        assert!(
            store.load(&session.id).await.unwrap().is_some(),
            "sessions untouched"
        );
        // Consuming a pending login frees its place.
        store.delete(&ids[49]).await.unwrap();
        assert_eq!(store.pending_len(), 2);
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
