//! The layer's view of the store: logged-in users and used login states, nothing else.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tower_sessions_core::session::Id;
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

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

/// The layer's view of the store: users and pending logins, nothing else.
#[derive(Clone, Debug)]
pub(crate) struct Sessions {
    store: Arc<dyn SessionStore>,
    /// The same store when it is the built-in one, whose users are read without a copy
    /// and without waiting.
    memory: Option<Arc<MemoryStore>>,
    lifetime: Duration,
}

impl Sessions {
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        memory: Option<Arc<MemoryStore>>,
        lifetime: Duration,
    ) -> Self {
        Sessions {
            store,
            memory,
            lifetime,
        }
    }

    /// The user of session `id` if the store can answer at once (the in-memory store).
    pub(crate) fn load_user_now(&self, id: &Id) -> Lookup {
        match &self.memory {
            Some(memory) => match memory.load_user(id) {
                Some(user) => Lookup::Found(user),
                None => Lookup::Gone,
            },
            None => Lookup::AskStore,
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
        let Some(record) = self.store.load(id).await? else {
            return Ok(None);
        };
        Ok(read::<StoredUser>(record, USER_KEY).and_then(|u| Arc::new(u).decode()))
    }

    /// Stores `user` under a brand-new session id (never a caller-chosen one, so a planted
    /// id cannot become a logged-in session) and returns that id.
    pub(crate) async fn create_user(&self, user: StoredUser) -> Result<Id, StoreError> {
        if let Some(memory) = &self.memory {
            return memory.create_user(Arc::new(user), expiry_after(self.lifetime));
        }
        let mut record = new_record(USER_KEY, &user, self.lifetime)?;
        self.store.create(&mut record).await?;
        Ok(record.id)
    }

    pub(crate) async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.store.delete(id).await
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
        self.store.create(&mut record).await?;
        if record.id == id {
            return Ok(true);
        }
        if let Err(e) = self.store.delete(&record.id).await {
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
