//! The default session store: in process memory, bounded, with expiry.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use foldhash::fast::RandomState;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, SessionStore};

use super::front::Generation;
use super::record::{USED_STATE_KEY, USER_KEY};
use crate::user::{LoggedIn, StoredUser};

/// An in-memory [`SessionStore`] for a single process: records expire, expired records are
/// swept as new ones arrive, and memory stays bounded whatever visitors do.
///
/// Two bounds, because the two kinds of record differ: logged-in sessions are capped
/// (default 1,000,000; past that a new login is refused with an error page, never an
/// existing session dropped), and the records of login states already used at the
/// callback (which keep a replayed callback from working; pending logins themselves live in
/// the browser's cookie), are capped separately (default 100,000) with the oldest evicted
/// first, so a flood of callbacks can only crowd out other such records.
///
/// The layer's own records are kept compact (a session holds the ID token's payload once,
/// about the size of the token), and the parsed claims of the most recently used sessions
/// (default 10,000) are kept beside them, so a request of a logged-in user costs a map
/// lookup, not a parse. Sweeping touches only records that have expired.
///
/// Sessions live only as long as the process and are not shared between replicas; for
/// several replicas pass a shared store (Redis, SQL…) to
/// [`AuthLayerBuilder::session_store`](crate::AuthLayerBuilder::session_store).
///
/// ```
/// use tower_oidc_login::session::MemoryStore;
/// let store = MemoryStore::with_capacity(100_000)
///     .with_pending_capacity(10_000)
///     .with_parsed_capacity(1_000);
/// # let _ = store;
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Counts the changes to sessions, for the per-thread front (`front`): readable
    /// without the lock. `Inner` holds the same counter and bumps it.
    generation: Arc<Generation>,
    capacity: usize,
    pending_capacity: usize,
    parsed_capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Keyed with foldhash (seeded per process): SipHash cost more than the rest of the
    /// lookup, and ids are random values this process made, not chosen by a client.
    entries: HashMap<Id, Entry, RandomState>,
    /// Every entry's expiry, soonest first, so a sweep pops what expired and stops.
    expiries: BTreeSet<(SystemTime, i128)>,
    /// Used-state ids in arrival order, for evicting the oldest. May hold ids already
    /// consumed; they are skipped and compacted away.
    pending_order: VecDeque<Id>,
    pending_live: usize,
    /// Sessions whose parsed claims are kept, oldest first (same compaction rule).
    parsed_order: VecDeque<Id>,
    parsed_live: usize,
    /// Bumped whenever a session is removed or changed, with the lock held.
    generation: Arc<Generation>,
}

struct Entry {
    /// As the clock reads it, not as a date: every logged-in request compares it with
    /// `SystemTime::now()`, one comparison, where a date costs working out today's date or
    /// a conversion per request. Dates are made from it only for records handed out.
    expiry: SystemTime,
    data: Data,
}

impl Entry {
    fn new(expiry: OffsetDateTime, data: Data) -> Entry {
        Entry {
            expiry: SystemTime::from(expiry),
            data,
        }
    }
}

enum Data {
    /// A used login state, as tower-sessions hands it over.
    Pending(HashMap<String, Value>),
    /// Any other record.
    Other(HashMap<String, Value>),
    /// A logged-in user in compact form, and its parsed claims while it is recently used.
    User {
        user: Arc<StoredUser>,
        parsed: Option<Arc<LoggedIn>>,
    },
}

impl std::fmt::Debug for Entry {
    // Records hold personal data: show their shape only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.data {
            Data::Pending(_) => "pending",
            Data::Other(_) => "other",
            Data::User { .. } => "user",
        };
        f.debug_struct("Entry")
            .field("kind", &kind)
            .field("expiry", &self.expiry)
            .finish()
    }
}

impl Data {
    fn from_record(record: &Record) -> Data {
        if record.data.contains_key(USED_STATE_KEY) {
            return Data::Pending(record.data.clone());
        }
        if record.data.len() == 1 {
            if let Some(user) = record.data.get(USER_KEY) {
                if let Ok(user) = StoredUser::deserialize(user) {
                    return Data::User {
                        user: Arc::new(user),
                        parsed: None,
                    };
                }
            }
        }
        Data::Other(record.data.clone())
    }

    fn to_record(&self, id: Id, expiry: SystemTime) -> Option<Record> {
        let data = match self {
            Data::Pending(data) | Data::Other(data) => data.clone(),
            Data::User { user, .. } => {
                HashMap::from([(USER_KEY.to_owned(), serde_json::to_value(&**user).ok()?)])
            }
        };
        Some(Record {
            id,
            data,
            expiry_date: OffsetDateTime::from(expiry),
        })
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(1_000_000)
    }
}

impl MemoryStore {
    /// A store holding at most `capacity` logged-in sessions (and, separately, 100,000
    /// used login states). When full, expired records are swept first; if it is still full,
    /// a new login is refused with a store error (the callback answers an error page).
    pub fn with_capacity(capacity: usize) -> Self {
        let generation = Arc::new(Generation::default());
        MemoryStore {
            inner: Mutex::new(Inner {
                generation: generation.clone(),
                ..Inner::default()
            }),
            generation,
            capacity: capacity.max(1),
            pending_capacity: 100_000,
            parsed_capacity: 10_000,
        }
    }

    /// At most `capacity` records of used login states; past that the oldest is evicted.
    pub fn with_pending_capacity(mut self, capacity: usize) -> Self {
        self.pending_capacity = capacity.max(1);
        self
    }

    /// Keep the parsed claims of at most `capacity` sessions (default 10,000, the least
    /// recently parsed dropped first). A session whose claims were dropped is parsed again
    /// at its next request (a few microseconds); each kept one costs a few KB.
    pub fn with_parsed_capacity(mut self, capacity: usize) -> Self {
        self.parsed_capacity = capacity;
        self
    }

    /// Live (unexpired) records right now, sessions and used login states.
    pub fn len(&self) -> usize {
        let now = SystemTime::now();
        self.lock()
            .entries
            .values()
            .filter(|e| e.expiry > now)
            .count()
    }

    /// Records of used login states held right now (expired ones not yet swept included).
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

    /// Stores `entry` under `id`; with `new`, refuses (returns `false`) when `id` is taken.
    fn insert(&self, id: Id, entry: Entry, new: bool) -> session_store::Result<bool> {
        let mut inner = self.lock();
        inner.sweep(SystemTime::now());
        if inner.entries.contains_key(&id) {
            if new {
                return Ok(false);
            }
            inner.remove(&id);
        }
        if let Data::Pending(_) = entry.data {
            while inner.pending_live >= self.pending_capacity {
                let Some(oldest) = inner.pending_order.pop_front() else {
                    break;
                };
                if inner
                    .entries
                    .get(&oldest)
                    .is_some_and(|e| matches!(e.data, Data::Pending(_)))
                {
                    inner.remove(&oldest);
                }
            }
            inner.pending_order.push_back(id);
            inner.pending_live += 1;
            if inner.pending_order.len() > 2 * self.pending_capacity + 1024 {
                let Inner {
                    entries,
                    pending_order,
                    ..
                } = &mut *inner;
                pending_order.retain(|id| {
                    entries
                        .get(id)
                        .is_some_and(|e| matches!(e.data, Data::Pending(_)))
                });
            }
        } else if inner.entries.len() - inner.pending_live >= self.capacity {
            return Err(session_store::Error::Backend(
                "the in-memory session store is full".into(),
            ));
        }
        inner.expiries.insert((entry.expiry, id.0));
        inner.entries.insert(id, entry);
        Ok(true)
    }

    /// Stores a logged-in user under a new random id.
    pub(crate) fn create_user(
        &self,
        user: Arc<StoredUser>,
        expiry: OffsetDateTime,
    ) -> session_store::Result<Id> {
        loop {
            let id = Id::default();
            let data = Data::User {
                user: user.clone(),
                parsed: None,
            };
            let entry = Entry::new(expiry, data);
            if self.insert(id, entry, true)? {
                return Ok(id);
            }
        }
    }

    /// Counts the changes to this store's sessions (for the per-thread front).
    pub(crate) fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The user of session `id` with parsed claims, without a copy: the fast path of every
    /// logged-in request. Claims are parsed outside the lock, once per session while it
    /// stays among the recently used.
    pub(crate) fn load_user(&self, id: &Id) -> Option<Arc<LoggedIn>> {
        self.load_user_until(id).map(|(user, _)| user)
    }

    /// [`load_user`](Self::load_user), with the session's expiry.
    pub(crate) fn load_user_until(&self, id: &Id) -> Option<(Arc<LoggedIn>, SystemTime)> {
        // The clock as it is, not `OffsetDateTime::now_utc()`: the same comparison without
        // working out today's date on every logged-in request.
        let now = SystemTime::now();
        let (user, expiry) = {
            let inner = self.lock();
            let entry = inner.entries.get(id).filter(|e| e.expiry > now)?;
            let expiry = entry.expiry;
            let user = match &entry.data {
                Data::User {
                    parsed: Some(parsed),
                    ..
                } => return Some((parsed.clone(), expiry)),
                Data::User { user, .. } => user.clone(),
                Data::Pending(_) | Data::Other(_) => return None,
            };
            (user, expiry)
        };
        let expires_at = OffsetDateTime::from(expiry).unix_timestamp();
        let parsed = LoggedIn::decode(user.clone(), *id, expires_at)?;
        if self.parsed_capacity > 0 {
            self.lock()
                .keep_parsed(id, &user, &parsed, self.parsed_capacity);
        }
        Some((parsed, expiry))
    }
}

impl MemoryStore {
    /// Puts `user` in place of session `id`'s user (a refresh), keeping its expiry. `false`
    /// when the session is gone.
    pub(crate) fn replace_user(&self, id: &Id, user: Arc<StoredUser>) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get_mut(id) else {
            return false;
        };
        let Data::User { parsed, .. } = &entry.data else {
            return false;
        };
        let was_parsed = parsed.is_some();
        entry.data = Data::User { user, parsed: None };
        if was_parsed {
            inner.parsed_live = inner.parsed_live.saturating_sub(1);
        }
        inner.generation.bump();
        true
    }

    /// Moves session `id`'s expiry to `expiry` (an idle timeout sliding). `false` when the
    /// session is gone.
    pub(crate) fn set_expiry(&self, id: &Id, expiry: OffsetDateTime) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get_mut(id) else {
            return false;
        };
        let new_expiry = SystemTime::from(expiry);
        let old = std::mem::replace(&mut entry.expiry, new_expiry);
        if let Data::User {
            parsed: Some(parsed),
            ..
        } = &entry.data
        {
            parsed.set_expires_at(expiry.unix_timestamp());
        }
        inner.expiries.remove(&(old, id.0));
        inner.expiries.insert((new_expiry, id.0));
        inner.generation.bump();
        true
    }
}

impl Inner {
    fn remove(&mut self, id: &Id) -> Option<Entry> {
        let removed = self.entries.remove(id)?;
        if let Data::User { .. } = removed.data {
            // Only a logged-in session can be in a front's slot: the used login states
            // swept at every login end none.
            self.generation.bump();
        }
        self.expiries.remove(&(removed.expiry, id.0));
        match removed.data {
            Data::Pending(_) => self.pending_live = self.pending_live.saturating_sub(1),
            Data::User {
                parsed: Some(_), ..
            } => self.parsed_live = self.parsed_live.saturating_sub(1),
            _ => {}
        }
        Some(removed)
    }

    /// Removes what has expired: O(expired), not a walk over every record.
    fn sweep(&mut self, now: SystemTime) {
        while let Some(&(expiry, id)) = self.expiries.first() {
            if expiry > now {
                break;
            }
            if self.remove(&Id(id)).is_none() {
                self.expiries.pop_first();
            }
        }
    }

    fn keep_parsed(&mut self, id: &Id, user: &Arc<StoredUser>, parsed: &Arc<LoggedIn>, cap: usize) {
        let Some(Entry {
            data:
                Data::User {
                    user: stored,
                    parsed: slot @ None,
                },
            ..
        }) = self.entries.get_mut(id)
        else {
            return;
        };
        if !Arc::ptr_eq(stored, user) {
            return;
        }
        *slot = Some(parsed.clone());
        self.parsed_order.push_back(*id);
        self.parsed_live += 1;
        while self.parsed_live > cap {
            let Some(oldest) = self.parsed_order.pop_front() else {
                break;
            };
            if let Some(Entry {
                data: Data::User { parsed, .. },
                ..
            }) = self.entries.get_mut(&oldest)
            {
                if parsed.take().is_some() {
                    self.parsed_live -= 1;
                }
            }
        }
        if self.parsed_order.len() > 2 * cap + 1024 {
            let Inner {
                entries,
                parsed_order,
                ..
            } = self;
            parsed_order.retain(|id| {
                entries.get(id).is_some_and(|e| {
                    matches!(
                        e.data,
                        Data::User {
                            parsed: Some(_),
                            ..
                        }
                    )
                })
            });
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A collision of 128-bit random ids is not expected, but a store must never let a
        // new session take over an existing one.
        loop {
            let entry = Entry::new(record.expiry_date, Data::from_record(record));
            if self.insert(record.id, entry, true)? {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let entry = Entry::new(record.expiry_date, Data::from_record(record));
        self.insert(record.id, entry, false).map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = SystemTime::now();
        Ok(self
            .lock()
            .entries
            .get(id)
            .filter(|e| e.expiry > now)
            .and_then(|e| e.data.to_record(*id, e.expiry)))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.lock().remove(id);
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests;
