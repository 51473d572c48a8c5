//! How the layer's values sit in a tower-sessions [`Record`]: one key per kind of value,
//! JSON, with the record's own expiry.

use std::collections::HashMap;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::Error as StoreError;

/// The record key of a logged-in user.
pub(crate) const USER_KEY: &str = "tower_oidc_login.user";
/// The record key of the index records (a user's sessions, a provider session's user).
pub(crate) const INDEX_KEY: &str = "tower_oidc_login.index";

/// The record key of an "ended" marker: sessions of a user (or provider session) from
/// before a time are over (a logout notification from the provider).
pub(crate) const ENDED_KEY: &str = "tower_oidc_login.ended";

/// The record key of a login state that reached the callback (single use).
pub(crate) const USED_STATE_KEY: &str = "tower_oidc_login.used_state";

/// A record holding `value` under `key`, expiring after `ttl`, with a fresh random id.
pub(crate) fn new_record<T: Serialize>(
    key: &str,
    value: &T,
    ttl: Duration,
) -> Result<Record, StoreError> {
    let value = serde_json::to_value(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(Record {
        id: Id::default(),
        data: HashMap::from([(key.to_owned(), value)]),
        expiry_date: expiry_after(ttl),
    })
}

/// Now plus `ttl`; 30 days when `ttl` does not fit a date (it never should).
pub(crate) fn expiry_after(ttl: Duration) -> OffsetDateTime {
    let ttl = time::Duration::try_from(ttl).unwrap_or(time::Duration::days(30));
    OffsetDateTime::now_utc()
        .checked_add(ttl)
        .unwrap_or(OffsetDateTime::now_utc() + time::Duration::days(30))
}

/// Takes the value out of the record (the store handed us our own copy), so the claims
/// are moved into the user, not copied a second time. An expired record, or one this
/// version cannot read, is absent.
pub(crate) fn read<T: DeserializeOwned>(mut record: Record, key: &str) -> Option<T> {
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
