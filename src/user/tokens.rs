//! The provider's tokens of a session, and what handlers get when they ask for a fresh
//! access token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The tokens a session keeps (sealed in the store).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProviderTokens {
    #[serde(rename = "a")]
    pub(crate) access_token: String,
    /// Unix seconds; `None` when the provider did not say (`expires_in` absent).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_expires_at: Option<i64>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// The access token's whole lifetime in seconds (`expires_in` when it came); `None`
    /// when the provider did not say, and in records written before it was kept.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_lifetime: Option<i64>,
}

impl ProviderTokens {
    /// Whether the access token still has more than `margin` to live (one without a known
    /// expiry is taken as fresh). A token that lives less than twice `margin` in all (a
    /// provider issuing short-lived tokens) needs only half its lifetime left: otherwise
    /// it would be refreshed at every call, even by a call that comes just after a refresh.
    pub(crate) fn fresh_for(&self, margin: Duration) -> bool {
        let margin = margin.as_secs() as i64;
        let margin = match self.access_lifetime {
            Some(lifetime) => margin.min(lifetime / 2),
            None => margin,
        };
        match self.access_expires_at {
            Some(at) => at > crate::pending::now_unix() + margin,
            None => true,
        }
    }
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("access_expires_at", &self.access_expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// A fresh access token for calling the provider's (or a resource's) APIs on the user's
/// behalf, from [`User::access_token`](crate::User::access_token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: String,
    expires_at: Option<i64>,
}

impl AccessToken {
    pub(crate) fn new(value: String, expires_at: Option<i64>) -> Self {
        AccessToken { value, expires_at }
    }

    /// The token, for an `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// When it expires, if the provider said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        let secs = u64::try_from(self.expires_at?).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(secs))
    }

    /// When it expires in Unix seconds, if the provider said.
    pub fn expires_at_unix(&self) -> Option<i64> {
        self.expires_at
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why [`User::access_token`](crate::User::access_token) has no token to give.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Nobody is logged in.
    #[error("nobody is logged in")]
    NotLoggedIn,
    /// `expose_tokens` does not include `"access"`: handlers may not read access tokens.
    #[error("`expose_tokens` does not include \"access\"; add it to read access tokens")]
    NotExposed,
    /// The access token expired and the provider gave no refresh token (ask for one: the
    /// `offline_access` scope, or Google's `access_type = "offline"`); log in again.
    #[error("the access token expired and there is no refresh token; log in again")]
    Expired,
    /// The provider refused the refresh (`invalid_grant`: the grant was revoked, the user
    /// signed out or was disabled): the session has ended.
    #[error("the login provider ended the session; log in again")]
    SessionEnded,
    /// The provider (or the session store) cannot be reached right now; the session
    /// survives and a later call may succeed.
    #[error("the login provider cannot be reached right now; try again in a moment")]
    Unavailable,
    /// The user was logged in by a front end that sets trusted identity headers
    /// ([`crate::headers`]): this app holds none of their tokens.
    #[error("the user was logged in by the front end; this app holds none of their tokens")]
    FrontEndLogin,
}

impl TokenError {
    /// A short code for machines: the `error` field of [`TokenError::into_http_response`].
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::NotLoggedIn => "not_logged_in",
            TokenError::NotExposed => "access_token_not_exposed",
            TokenError::Expired => "access_token_expired",
            TokenError::SessionEnded => "session_ended",
            TokenError::Unavailable => "provider_unavailable",
            TokenError::FrontEndLogin => "front_end_login",
        }
    }

    /// The HTTP status that says it: 401 when the visitor must log in (again), 503 when a
    /// later try may work, 500 when the app is not configured for access tokens (or its
    /// users come from a front end's headers, which carry none).
    pub fn status(&self) -> http::StatusCode {
        match self {
            TokenError::NotLoggedIn | TokenError::Expired | TokenError::SessionEnded => {
                http::StatusCode::UNAUTHORIZED
            }
            TokenError::NotExposed | TokenError::FrontEndLogin => {
                http::StatusCode::INTERNAL_SERVER_ERROR
            }
            TokenError::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A JSON answer, `{"error": code, "message": …}`, never cached; 503 asks to come back
    /// in a few seconds (`Retry-After`).
    pub fn into_http_response(self) -> http::Response<http_body_util::Full<bytes::Bytes>> {
        let body = serde_json::json!({"error": self.code(), "message": self.to_string()});
        let mut response = crate::pages::json(self.status(), body);
        if self == TokenError::Unavailable {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(left: i64, lifetime: Option<i64>) -> ProviderTokens {
        ProviderTokens {
            access_token: "at".into(),
            access_expires_at: Some(crate::pending::now_unix() + left),
            refresh_token: None,
            access_lifetime: lifetime,
        }
    }

    #[test]
    fn a_token_is_fresh_with_a_minute_left_or_half_its_lifetime_when_that_is_shorter() {
        let minute = Duration::from_secs(60);
        assert!(tokens(90, Some(3600)).fresh_for(minute));
        assert!(!tokens(30, Some(3600)).fresh_for(minute));
        // Unknown lifetime (a record from before it was kept): the minute.
        assert!(!tokens(30, None).fresh_for(minute));
        // A provider's 4-second tokens: fresh while more than 2 s are left, not refreshed
        // at every call.
        assert!(tokens(4, Some(4)).fresh_for(minute));
        assert!(!tokens(1, Some(4)).fresh_for(minute));
        assert!(!tokens(0, Some(4)).fresh_for(Duration::ZERO));
    }
}
