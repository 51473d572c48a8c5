//! Server-side sessions behind a narrow seam.
//!
//! The layer keeps two kinds of record in one [`SessionStore`] (tower-sessions-core 0.14,
//! the version every published store crate — Redis, SQL, moka — implements): the logged-in
//! user, keyed by a random session id that the session cookie carries, and each pending
//! login, keyed by a hash of its `state`. Nothing but that id ever leaves the server, so
//! the cookie stays small however many claims the provider sends.

mod cookie;
mod memory;

pub(crate) use self::cookie::CookieJar;
pub use self::memory::MemoryStore;
pub use tower_sessions_core::session::{Id, Record};
pub use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::pending::PendingLogin;
use crate::user::{LoggedIn, StoredUser};

pub(crate) const USER_KEY: &str = "tower_oidc_login.user";
pub(crate) const PENDING_KEY: &str = "tower_oidc_login.pending";

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

    /// The user of session `id` when the store can answer at once (the in-memory store):
    /// `Some(user or None)`; `None` means "ask [`Self::load_user`]".
    pub(crate) fn load_user_now(&self, id: &Id) -> Option<Option<Arc<LoggedIn>>> {
        self.memory.as_ref().map(|m| m.load_user(id))
    }

    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The user of session `id`, or `None` when the session is unknown, expired or holds
    /// something this version cannot read (which then reads as anonymous, not an error).
    pub(crate) async fn load_user(&self, id: &Id) -> Result<Option<Arc<LoggedIn>>, StoreError> {
        if let Some(user) = self.load_user_now(id) {
            return Ok(user);
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

    /// Keeps a pending login until `ttl` passes or [`Self::take_pending`] consumes it.
    pub(crate) async fn put_pending(
        &self,
        state: &str,
        pending: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut record = new_record(PENDING_KEY, pending, ttl)?;
        record.id = pending_id(state);
        self.store.save(&record).await
    }

    /// Removes and returns the pending login for `state`: a state is good for one
    /// callback only, whatever that callback's outcome.
    pub(crate) async fn take_pending(
        &self,
        state: &str,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let id = pending_id(state);
        let Some(record) = self.store.load(&id).await? else {
            return Ok(None);
        };
        self.store.delete(&id).await?;
        Ok(read(record, PENDING_KEY))
    }
}

/// Pending logins are found by their `state`, but the store key is a hash of it so that
/// the store (and whoever can read it) never holds a usable state value.
fn pending_id(state: &str) -> Id {
    let digest = Sha256::new()
        .chain_update(b"tower-oidc-login pending login\0")
        .chain_update(state.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(bytes))
}

fn new_record<T: Serialize>(key: &str, value: &T, ttl: Duration) -> Result<Record, StoreError> {
    let value = serde_json::to_value(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(Record {
        id: Id::default(),
        data: HashMap::from([(key.to_owned(), value)]),
        expiry_date: expiry_after(ttl),
    })
}

fn expiry_after(ttl: Duration) -> OffsetDateTime {
    let ttl = time::Duration::try_from(ttl).unwrap_or(time::Duration::days(30));
    OffsetDateTime::now_utc()
        .checked_add(ttl)
        .unwrap_or(OffsetDateTime::now_utc() + time::Duration::days(30))
}

/// Takes the value out of the record (the store handed us our own copy), so the claims
/// are moved into the user, not copied a second time.
fn read<T: DeserializeOwned>(mut record: Record, key: &str) -> Option<T> {
    if record.expiry_date <= OffsetDateTime::now_utc() {
        return None;
    }
    let value = record.data.remove(key)?;
    match serde_json::from_value(value) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "a session record could not be read; treating it as absent");
            None
        }
    }
}
