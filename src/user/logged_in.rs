//! A logged-in user with the claims parsed: shared by every request of the session (the
//! in-memory store and the local cache keep it between requests, so the claims are parsed
//! once, not per request).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
use tower_sessions_core::session::Id;

use super::stored::StoredUser;
use super::tokens::ProviderTokens;

/// The string claims [`User`](super::User)'s accessors read on most requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Common {
    Sub,
    Name,
    Email,
    PreferredUsername,
}

impl Common {
    pub(crate) const ALL: [Common; 4] = [
        Common::Sub,
        Common::Name,
        Common::Email,
        Common::PreferredUsername,
    ];

    /// The claim's name in the ID token.
    pub(crate) fn claim(self) -> &'static str {
        match self {
            Common::Sub => "sub",
            Common::Name => "name",
            Common::Email => "email",
            Common::PreferredUsername => "preferred_username",
        }
    }
}

pub(crate) struct LoggedIn {
    id: Id,
    stored: Arc<StoredUser>,
    claims: Map<String, Value>,
    /// The [`Common`] claims' string values, copied out of `claims` once: a handler's
    /// `user.name()` is then a field read, not a search among two dozen claims (a tenth of
    /// the layer's own cost on a logged-in request).
    common: [Option<Box<str>>; 4],
    id_token: OnceLock<String>,
    /// The provider's tokens, opened once (the context holds the key).
    tokens: OnceLock<Option<ProviderTokens>>,
    /// When the session's record expires (Unix seconds): what an idle timeout slides.
    expires_at: AtomicI64,
    /// Unix seconds before which no refresh is tried on a request again (the provider was
    /// down at the last try).
    retry_refresh_at: AtomicI64,
}

impl std::fmt::Debug for LoggedIn {
    // Claims are personal data: name only the provider and the subject.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("provider", &self.stored.provider)
            .field("sub", &self.claims.get("sub"))
            .finish_non_exhaustive()
    }
}

impl LoggedIn {
    /// Parses `stored`'s claims once, into the form handlers read: session `id`, whose
    /// record expires at `expires_at` (Unix seconds). `None` (logged) when the stored
    /// claims do not read back, which makes the session absent, not an error.
    pub(crate) fn decode(stored: Arc<StoredUser>, id: Id, expires_at: i64) -> Option<Arc<Self>> {
        let parsed =
            serde_json::from_str::<Map<String, Value>>(&stored.claims).and_then(|mut claims| {
                // Added claims win over the ID token's of the same name.
                if let Some(added) = &stored.added_claims {
                    claims.extend(serde_json::from_str::<Map<String, Value>>(added)?);
                }
                Ok(claims)
            });
        match parsed {
            Ok(claims) => Some(Arc::new(LoggedIn {
                id,
                stored,
                common: Common::ALL
                    .map(|c| claims.get(c.claim()).and_then(Value::as_str).map(Box::from)),
                claims,
                id_token: OnceLock::new(),
                tokens: OnceLock::new(),
                expires_at: AtomicI64::new(expires_at),
                retry_refresh_at: AtomicI64::new(0),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "stored claims could not be read; treating the session as absent");
                None
            }
        }
    }

    /// One of the [`Common`] claims, if it is a string.
    pub(crate) fn common(&self, which: Common) -> Option<&str> {
        self.common[which as usize].as_deref()
    }

    /// The session's id.
    pub(crate) fn id(&self) -> Id {
        self.id
    }

    /// Every claim, parsed: the ID token's, with those added by userinfo or the app.
    pub(crate) fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub(crate) fn stored(&self) -> &Arc<StoredUser> {
        &self.stored
    }

    /// The ID token as the provider issued it, rebuilt once.
    pub(crate) fn id_token(&self) -> &str {
        self.id_token.get_or_init(|| self.stored.id_token())
    }

    /// The ID token's `exp` (Unix seconds), if it has one.
    pub(crate) fn id_token_expires_at(&self) -> Option<i64> {
        self.claims.get("exp").and_then(Value::as_i64)
    }

    /// When the session's record expires (Unix seconds).
    pub(crate) fn expires_at(&self) -> i64 {
        self.expires_at.load(Ordering::Relaxed)
    }

    /// Notes that the record now expires at `at`.
    pub(crate) fn set_expires_at(&self, at: i64) {
        self.expires_at.store(at, Ordering::Relaxed);
    }

    /// Whether a refresh may be tried on a request at `now`.
    pub(crate) fn may_retry_refresh(&self, now: i64) -> bool {
        self.retry_refresh_at.load(Ordering::Relaxed) <= now
    }

    /// No refresh on a request before `at` (the provider was down).
    pub(crate) fn retry_refresh_after(&self, at: i64) {
        self.retry_refresh_at.store(at, Ordering::Relaxed);
    }

    /// The provider's tokens, opened with `open` the first time they are asked for.
    pub(crate) fn provider_tokens(
        &self,
        open: impl FnOnce(&StoredUser) -> Option<ProviderTokens>,
    ) -> Option<&ProviderTokens> {
        self.tokens.get_or_init(|| open(&self.stored)).as_ref()
    }
}
