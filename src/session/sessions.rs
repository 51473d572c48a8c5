//! The layer's view of the store: logged-in users and used login states, nothing else.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tower_sessions_core::session::Id;
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use super::cache::LocalCache;
use super::index::{self, UserKey};
use super::memory::MemoryStore;
use super::record::{expiry_after, new_record, read, USED_STATE_KEY, USER_KEY};
use crate::user::{LoggedIn, StoredUser};

/// What [`Sessions::load_user_now`] knows without waiting.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A live session.
    Found(Arc<LoggedIn>),
    /// No such session, or it expired.
    Gone,
    /// Only the (external) store can tell: ask [`Sessions::load_user`].
    AskStore,
}

/// Where sessions live.
#[derive(Debug)]
enum Backend {
    /// The built-in store: users are read without a copy and without waiting.
    Memory(Arc<MemoryStore>),
    /// Any other store, with a short-lived local copy of the sessions read from it.
    External {
        store: Arc<dyn SessionStore>,
        cache: Box<LocalCache>,
    },
}

/// The most sessions one user keeps by default; a new login past it ends their oldest.
pub(crate) const DEFAULT_MAX_PER_USER: usize = 32;

/// The layer's view of the store: users and used login states, nothing else.
#[derive(Debug)]
pub(crate) struct Sessions {
    backend: Backend,
    lifetime: Duration,
    max_per_user: usize,
    /// Serialises this process's updates of the per-user index records.
    index_lock: tokio::sync::Mutex<()>,
}

impl Sessions {
    /// Sessions in the built-in in-memory store.
    pub(crate) fn in_memory(store: Arc<MemoryStore>, lifetime: Duration) -> Self {
        Sessions::with_backend(Backend::Memory(store), lifetime)
    }

    fn with_backend(backend: Backend, lifetime: Duration) -> Self {
        Sessions {
            backend,
            lifetime,
            max_per_user: DEFAULT_MAX_PER_USER,
            index_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// At most `max` sessions per user (provider and `sub`); a login past it ends the
    /// user's oldest session.
    pub(crate) fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// Sessions in `store`. A session read from it is trusted for `cache_ttl` before the
    /// store is asked again: how long a session ended on another replica may still work
    /// here.
    pub(crate) fn external(
        store: Arc<dyn SessionStore>,
        lifetime: Duration,
        cache_ttl: Duration,
    ) -> Self {
        let backend = Backend::External {
            store,
            cache: Box::new(LocalCache::new(cache_ttl)),
        };
        Sessions::with_backend(backend, lifetime)
    }

    fn store(&self) -> &dyn SessionStore {
        match &self.backend {
            Backend::Memory(memory) => &**memory,
            Backend::External { store, .. } => &**store,
        }
    }

    /// The user of session `id` if it is known without waiting: always with the in-memory
    /// store, and for a session another store answered for moments ago.
    pub(crate) fn load_user_now(&self, id: &Id) -> Lookup {
        match &self.backend {
            Backend::Memory(memory) => match memory.load_user(id) {
                Some(user) => Lookup::Found(user),
                None => Lookup::Gone,
            },
            Backend::External { cache, .. } => match cache.get(id) {
                Some(user) => Lookup::Found(user),
                None => Lookup::AskStore,
            },
        }
    }

    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The user of session `id`, or `None` when the session is unknown, expired or holds
    /// something this version cannot read (which then reads as anonymous, not an error).
    pub(crate) async fn load_user(&self, id: &Id) -> Result<Option<Arc<LoggedIn>>, StoreError> {
        match self.load_user_now(id) {
            Lookup::Found(user) => return Ok(Some(user)),
            Lookup::Gone => return Ok(None),
            Lookup::AskStore => {}
        }
        let Backend::External { store, cache } = &self.backend else {
            return Ok(None);
        };
        let Some(record) = store.load(id).await? else {
            return Ok(None);
        };
        let user = read::<StoredUser>(record, USER_KEY).and_then(|u| Arc::new(u).decode());
        if let Some(user) = &user {
            cache.insert(*id, user.clone());
        }
        Ok(user)
    }

    /// Stores `user` under a brand-new session id (never a caller-chosen one, so a planted
    /// id cannot become a logged-in session) and returns that id. The user's oldest
    /// sessions past the per-user cap end: one account cannot fill the store.
    pub(crate) async fn create_user(&self, user: StoredUser) -> Result<Id, StoreError> {
        let ids = user.subject_and_session();
        let provider = user.provider.clone();
        let id = match &self.backend {
            Backend::Memory(memory) => {
                memory.create_user(Arc::new(user), expiry_after(self.lifetime))?
            }
            Backend::External { store, .. } => {
                let mut record = new_record(USER_KEY, &user, self.lifetime)?;
                store.create(&mut record).await?;
                record.id
            }
        };
        let Some((sub, sid)) = ids else {
            return Ok(id);
        };
        let key = UserKey {
            provider: &provider,
            sub: &sub,
        };
        let session = (id, sid.as_deref(), crate::pending::now_unix());
        let indexed = {
            let _serialised = self.index_lock.lock().await;
            index::add(self.store(), key, session, self.max_per_user, self.lifetime).await
        };
        match indexed {
            Ok(evicted) => {
                for old in evicted {
                    tracing::info!(
                        provider = %provider,
                        "a login past the per-user session cap ended the user's oldest session"
                    );
                    self.delete(&old).await?;
                }
                Ok(id)
            }
            Err(e) => {
                // A session the index does not know could escape a logout by the provider:
                // no login rather than that.
                let _ = self.delete(&id).await;
                Err(e)
            }
        }
    }

    /// Ends session `id` of `user` (a logout): gone from the store and from its user's
    /// index.
    pub(crate) async fn end(&self, id: &Id, user: &StoredUser) -> Result<(), StoreError> {
        self.delete(id).await?;
        if let Some((sub, _)) = user.subject_and_session() {
            let key = UserKey {
                provider: &user.provider,
                sub: &sub,
            };
            let _serialised = self.index_lock.lock().await;
            index::remove(self.store(), key, *id).await?;
        }
        Ok(())
    }

    /// Ends session `id`: gone from the store, and from this replica's local copy at once.
    pub(crate) async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        if let Backend::External { cache, .. } = &self.backend {
            cache.remove(id);
        }
        self.store().delete(id).await
    }

    /// Records that the login of `state` reached its callback, for `ttl` (its lifetime):
    /// `true` the first time, `false` when it was recorded before (a replayed callback, on
    /// this replica or any other that shares the store).
    ///
    /// The store's `create` never overwrites a record: given an id that exists, it picks
    /// another one, which is how a second use shows (and that stray record is removed).
    pub(crate) async fn mark_state_used(
        &self,
        state: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut record = new_record(USED_STATE_KEY, &true, ttl)?;
        let id = used_state_id(state);
        record.id = id;
        self.store().create(&mut record).await?;
        if record.id == id {
            return Ok(true);
        }
        if let Err(e) = self.store().delete(&record.id).await {
            tracing::debug!(error = %e, "could not remove the record of a replayed state");
        }
        Ok(false)
    }
}

/// A used state is recorded under a hash of it, so that the store (and whoever can read
/// it) never holds a state value.
fn used_state_id(state: &str) -> Id {
    let digest = Sha256::new()
        .chain_update(b"tower-oidc-login used state\0")
        .chain_update(state.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(bytes))
}
