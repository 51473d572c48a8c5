//! `POST /auth/backchannel-logout`: the provider says a user's session ended there
//! (OpenID Connect Back-Channel Logout 1.0), and the sessions it names end here too, on
//! every replica that shares the store.
//!
//! Server to server: no cookie is read or set and there is no CSRF check; the signed
//! logout token is the whole authentication. The answer is 200 when the sessions ended,
//! 400 with a JSON error for a token that fails a check (the reason is logged too), and
//! 503 when the store cannot be reached (the provider may retry).

use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::pages;
use crate::provider::peek_issuer;
use crate::state::AuthState;

/// A logout token is a few KB; a body past this is refused unread.
const MAX_BODY: usize = 64 * 1024;

/// How long an accepted token's `jti` is remembered: longer than a token may be old.
const JTI_MEMORY: Duration = Duration::from_secs(15 * 60);

pub(super) async fn backchannel_logout<B>(
    state: &AuthState,
    _parts: &Parts,
    body: B,
) -> Response<Full<Bytes>>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return refused(
                None,
                "the request body is unreadable or larger than a logout token",
            )
        }
    };
    let mut tokens = form_urlencoded::parse(&body).filter(|(name, _)| name == "logout_token");
    let token = match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) => token.into_owned(),
        (None, _) => return refused(None, "the request has no logout_token"),
        (Some(_), Some(_)) => return refused(None, "the request has more than one logout_token"),
    };
    let Some((iss, tid)) = peek_issuer(&token) else {
        return refused(None, "the logout token is not a JWT naming its issuer");
    };
    let mut provider = None;
    for candidate in state.providers.values() {
        if candidate.is_issuer(&iss, tid.as_deref()).await {
            provider = Some(candidate);
            break;
        }
    }
    let Some(provider) = provider else {
        return refused(
            None,
            "the logout token's issuer is not a configured provider",
        );
    };
    let name = provider.name();
    let target = match provider.verify_logout_token(&token).await {
        Ok(target) => target,
        Err(reason) => return refused(Some(name), &reason),
    };
    match state
        .sessions
        .mark_logout_token_used(&iss, &target.jti, JTI_MEMORY)
        .await
    {
        Ok(true) => {}
        Ok(false) => return refused(Some(name), "this logout token was already used (jti)"),
        Err(e) => return unavailable(name, &e.to_string()),
    }
    match state
        .sessions
        .end_user_sessions(name, target.sub.as_deref(), target.sid.as_deref())
        .await
    {
        Ok(ended) => {
            tracing::info!(
                provider = name,
                ended,
                by_sid = target.sid.is_some(),
                "back-channel logout"
            );
            let mut response = Response::new(Full::default());
            *response.status_mut() = StatusCode::OK;
            pages::no_store(response)
        }
        Err(e) => unavailable(name, &e.to_string()),
    }
}

/// `400` with the JSON error body the specification asks for, and the reason logged: every
/// refusal, also of a token no configured provider issued, is one `warn` line.
fn refused(provider: Option<&str>, reason: &str) -> Response<Full<Bytes>> {
    match provider {
        Some(provider) => tracing::warn!(provider, reason, "back-channel logout token refused"),
        None => tracing::warn!(reason, "back-channel logout token refused"),
    }
    pages::json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": "invalid_request", "error_description": reason}),
    )
}

fn unavailable(provider: &str, detail: &str) -> Response<Full<Bytes>> {
    tracing::warn!(
        provider,
        detail,
        "back-channel logout: the session store cannot be reached"
    );
    pages::json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"error": "temporarily_unavailable", "error_description": "the session store cannot be reached"}),
    )
}
