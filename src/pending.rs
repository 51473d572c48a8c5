//! A login in progress: what the callback needs to finish it.
//!
//! Kept in the browser that started the login, in a cookie of its own sealed with a key
//! only the app holds (see `session::cookie`), and sent only to the callback. So any
//! replica with the same `cookie_secret` can finish a login another one started, an
//! anonymous `/auth/login` makes the server hold nothing, and a callback opened in another
//! browser (login CSRF) finds nothing to finish. The cookie is deleted at the callback and
//! its `state` is recorded as used in the session store, so a replayed callback fails on
//! every replica.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a visitor may spend at the provider before the login expires, by default.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    #[serde(rename = "p")]
    pub(crate) provider: String,
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    #[serde(rename = "v")]
    pub(crate) pkce_verifier: String,
    #[serde(rename = "r")]
    pub(crate) return_to: String,
    /// Unix seconds; the cookie's own `Max-Age` is the first line, this the second.
    #[serde(rename = "t")]
    pub(crate) created: i64,
}

impl PendingLogin {
    /// The cookie's content (JSON, short keys: it is sealed, then base64-encoded).
    pub(crate) fn to_cookie(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The login a cookie's content describes; `None` for anything else.
    pub(crate) fn from_cookie(content: &str) -> Option<PendingLogin> {
        serde_json::from_str(content).ok()
    }

    /// Whether more than `lifetime` has passed since the login started.
    pub(crate) fn expired(&self, lifetime: Duration) -> bool {
        now_unix().saturating_sub(self.created)
            > i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)
    }
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// Unix seconds now. Read from `SystemTime` directly: `OffsetDateTime::now_utc` works out
/// the calendar date as well, which a logged-in request has no use for.
pub(crate) fn now_unix() -> i64 {
    i64::try_from(now_unix_nanos().div_euclid(1_000_000_000)).unwrap_or(i64::MAX)
}

/// Unix nanoseconds now (negative before 1970, on a clock set that way).
fn now_unix_nanos() -> i128 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_expires() {
        let pending = PendingLogin {
            provider: "google".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/x".into(),
            created: now_unix() - 30,
        };
        let back = PendingLogin::from_cookie(&pending.to_cookie()).unwrap();
        assert_eq!(back.provider, "google");
        assert_eq!(back.return_to, "/x");
        assert!(!back.expired(Duration::from_secs(60)));
        assert!(back.expired(Duration::from_secs(10)));
        assert!(PendingLogin::from_cookie("{}").is_none());
        assert!(!format!("{pending:?}").contains("\"n\""));
    }
}
