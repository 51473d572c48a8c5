//! Which sessions belong to which user: the records that let the layer cap a user's
//! sessions and end them all (or those of one provider session, `sid`) when the provider
//! says so.
//!
//! A session store is a key-value store with no query, so the index is records of its own:
//! one per user (`provider` + `sub`) listing that user's sessions, and one per provider
//! session (`provider` + `sid`) naming its user. Records are found by a hash of what they
//! index, so the store never holds a user's `sub` or `sid` as a key. Updates are
//! read-modify-write, serialised within a process by the caller; two replicas logging the
//! same user in at the same instant can lose one entry, which the "ended" markers of
//! [`super::sessions`] cover for logout.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use super::record::{expiry_after, read, INDEX_KEY};

/// A user as the provider names them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UserKey<'a> {
    pub(crate) provider: &'a str,
    pub(crate) sub: &'a str,
}

/// One session of a user.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    /// The session id.
    id: String,
    /// The provider's session, if its ID token named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// Unix seconds of the login.
    at: i64,
}

/// A user's sessions, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct UserIndex {
    sessions: Vec<Entry>,
}

/// The user a provider session belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct SidIndex {
    sub: String,
}

/// What a record found by a hash of its subject is for; part of the hash, so records of
/// different purposes never share an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A user's sessions.
    UserIndex,
    /// A provider session's user.
    SidIndex,
    /// Sessions of a provider session ended (back- or front-channel logout by `sid`).
    EndedSid,
    /// Sessions of a user from before a time ended (back-channel logout by `sub`).
    EndedSub,
    /// A logout token's `jti`, accepted once.
    LogoutToken,
    /// A refresh under way (one per refresh token, across replicas).
    RefreshTurn,
    /// A login state that reached the callback.
    UsedState,
}

impl Purpose {
    /// The label hashed in (fixed: changing one would orphan the records of a running
    /// deployment).
    fn label(self) -> &'static str {
        match self {
            Purpose::UserIndex => "user index",
            Purpose::SidIndex => "sid index",
            Purpose::EndedSid => "ended sid",
            Purpose::EndedSub => "ended sub",
            Purpose::LogoutToken => "logout token",
            Purpose::RefreshTurn => "refresh",
            Purpose::UsedState => "used state",
        }
    }
}

/// A record id derived from what it indexes, never containing it.
pub(crate) fn derived_id(purpose: Purpose, parts: &[&str]) -> Id {
    let mut hash = Sha256::new()
        .chain_update(b"tower-oidc-login ")
        .chain_update(purpose.label());
    for part in parts {
        hash.update([0u8]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(bytes))
}

fn user_id(user: UserKey<'_>) -> Id {
    derived_id(Purpose::UserIndex, &[user.provider, user.sub])
}

fn sid_id(provider: &str, sid: &str) -> Id {
    derived_id(Purpose::SidIndex, &[provider, sid])
}

/// Records session `id` (login time `at`) for `user`, and `sid` if any. Returns the ids of
/// the user's oldest sessions beyond `cap`, removed from the index: the caller ends them.
pub(crate) async fn add(
    store: &dyn SessionStore,
    user: UserKey<'_>,
    session: (Id, Option<&str>, i64),
    cap: usize,
    ttl: Duration,
) -> Result<Vec<Id>, StoreError> {
    let (id, sid, at) = session;
    let key = user_id(user);
    let mut index: UserIndex = load(store, key).await?.unwrap_or_default();
    index.sessions.push(Entry {
        id: id.to_string(),
        sid: sid.map(str::to_owned),
        at,
    });
    let excess = index.sessions.len().saturating_sub(cap.max(1));
    let gone: Vec<Entry> = index.sessions.drain(..excess).collect();
    put(store, key, &index, ttl).await?;
    // An evicted session's provider session record goes too (unless a kept session shares
    // it): otherwise each login past the cap would leave one behind for the whole lifetime.
    forget_sids(store, user.provider, &index, &gone).await?;
    let evicted: Vec<Id> = gone.iter().filter_map(|e| e.id.parse().ok()).collect();
    if let Some(sid) = sid {
        let sub = SidIndex {
            sub: user.sub.to_owned(),
        };
        put(store, sid_id(user.provider, sid), &sub, ttl).await?;
    }
    Ok(evicted)
}

/// Deletes the provider session records of `gone` that no session left in `index` names.
async fn forget_sids(
    store: &dyn SessionStore,
    provider: &str,
    index: &UserIndex,
    gone: &[Entry],
) -> Result<(), StoreError> {
    for sid in gone.iter().filter_map(|e| e.sid.as_deref()) {
        if !index.sessions.iter().any(|e| e.sid.as_deref() == Some(sid)) {
            store.delete(&sid_id(provider, sid)).await?;
        }
    }
    Ok(())
}

/// Removes session `id` from `user`'s index (after a logout).
pub(crate) async fn remove(
    store: &dyn SessionStore,
    user: UserKey<'_>,
    id: Id,
) -> Result<(), StoreError> {
    let key = user_id(user);
    let Some(mut index) = load::<UserIndex>(store, key).await? else {
        return Ok(());
    };
    let id = id.to_string();
    let (gone, kept): (Vec<Entry>, Vec<Entry>) =
        index.sessions.into_iter().partition(|e| e.id == id);
    index.sessions = kept;
    forget_sids(store, user.provider, &index, &gone).await?;
    if index.sessions.is_empty() {
        return store.delete(&key).await;
    }
    // Keep the record's own expiry: the index outlives its newest session by no more.
    put_keeping_expiry(store, key, &index).await
}

/// Takes out of `user`'s index every session (or, with `sid`, those of that provider
/// session) and returns their ids.
pub(crate) async fn take(
    store: &dyn SessionStore,
    user: UserKey<'_>,
    sid: Option<&str>,
) -> Result<Vec<Id>, StoreError> {
    let key = user_id(user);
    let Some(mut index) = load::<UserIndex>(store, key).await? else {
        return Ok(Vec::new());
    };
    let (taken, kept): (Vec<Entry>, Vec<Entry>) = index
        .sessions
        .drain(..)
        .partition(|e| sid.is_none_or(|sid| e.sid.as_deref() == Some(sid)));
    index.sessions = kept;
    if index.sessions.is_empty() {
        store.delete(&key).await?;
    } else {
        put_keeping_expiry(store, key, &index).await?;
    }
    Ok(taken
        .into_iter()
        .filter_map(|e| e.id.parse().ok())
        .collect())
}

/// Whether session `id` is in `user`'s index.
pub(crate) async fn contains(
    store: &dyn SessionStore,
    user: UserKey<'_>,
    id: Id,
) -> Result<bool, StoreError> {
    let id = id.to_string();
    Ok(load::<UserIndex>(store, user_id(user))
        .await?
        .is_some_and(|index| index.sessions.iter().any(|e| e.id == id)))
}

/// The user of provider session `sid`, if any login recorded it.
pub(crate) async fn user_of_sid(
    store: &dyn SessionStore,
    provider: &str,
    sid: &str,
) -> Result<Option<String>, StoreError> {
    Ok(load::<SidIndex>(store, sid_id(provider, sid))
        .await?
        .map(|s| s.sub))
}

async fn load<T: for<'de> Deserialize<'de>>(
    store: &dyn SessionStore,
    id: Id,
) -> Result<Option<T>, StoreError> {
    Ok(store.load(&id).await?.and_then(|r| read(r, INDEX_KEY)))
}

/// Writes `value` under `id` (a derived id), creating or replacing the record. A store's
/// `create` never overwrites and `save` may only replace (Redis), so a missing record is
/// created, and one created meanwhile by another replica is replaced.
async fn put<T: Serialize>(
    store: &dyn SessionStore,
    id: Id,
    value: &T,
    ttl: Duration,
) -> Result<(), StoreError> {
    let record = record(id, value, expiry_after(ttl))?;
    upsert(store, record).await
}

async fn put_keeping_expiry<T: Serialize>(
    store: &dyn SessionStore,
    id: Id,
    value: &T,
) -> Result<(), StoreError> {
    let Some(existing) = store.load(&id).await? else {
        return Ok(());
    };
    upsert(store, record(id, value, existing.expiry_date)?).await
}

fn record<T: Serialize>(
    id: Id,
    value: &T,
    expiry_date: time::OffsetDateTime,
) -> Result<Record, StoreError> {
    let value = serde_json::to_value(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(Record {
        id,
        data: HashMap::from([(INDEX_KEY.to_owned(), value)]),
        expiry_date,
    })
}

async fn upsert(store: &dyn SessionStore, record: Record) -> Result<(), StoreError> {
    if store.load(&record.id).await?.is_some() {
        return store.save(&record).await;
    }
    let mut created = record.clone();
    store.create(&mut created).await?;
    if created.id != record.id {
        // Created by someone else in the meantime: drop ours, replace theirs.
        store.delete(&created.id).await?;
        store.save(&record).await?;
    }
    Ok(())
}
