//! The layer's view of the store: logged-in users and used login states, nothing else.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tower_sessions_core::session::Id;
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use super::cache::LocalCache;
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

/// The layer's view of the store: users and used login states, nothing else.
#[derive(Debug)]
pub(crate) struct Sessions {
    backend: Backend,
    lifetime: Duration,
}

impl Sessions {
    /// Sessions in the built-in in-memory store.
    pub(crate) fn in_memory(store: Arc<MemoryStore>, lifetime: Duration) -> Self {
        Sessions {
            backend: Backend::Memory(store),
            lifetime,
        }
    }

    /// Sessions in `store`. A session read from it is trusted for `cache_ttl` before the
    /// store is asked again: how long a session ended on another replica may still work
    /// here.
    pub(crate) fn external(
        store: Arc<dyn SessionStore>,
        lifetime: Duration,
        cache_ttl: Duration,
    ) -> Self {
        Sessions {
            backend: Backend::External {
                store,
                cache: Box::new(LocalCache::new(cache_ttl)),
            },
            lifetime,
        }
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
    /// id cannot become a logged-in session) and returns that id.
    pub(crate) async fn create_user(&self, user: StoredUser) -> Result<Id, StoreError> {
        match &self.backend {
            Backend::Memory(memory) => {
                memory.create_user(Arc::new(user), expiry_after(self.lifetime))
            }
            Backend::External { store, .. } => {
                let mut record = new_record(USER_KEY, &user, self.lifetime)?;
                store.create(&mut record).await?;
                Ok(record.id)
            }
        }
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
