//! `GET /auth/frontchannel-logout?iss=…&sid=…`: the provider's sign-out page loads this in a
//! hidden frame (OpenID Connect Front-Channel Logout 1.0; Microsoft Entra ID's single
//! sign-out), and the sessions of that provider session end here too.
//!
//! A third-party frame carries no session cookie of ours (`SameSite=Lax`), so the session
//! is found by `sid`, an unguessable value only the provider and the session know. The
//! answer is a tiny page that only the provider's own origin may frame.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_SECURITY_POLICY};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::query::query_params;
use crate::pages;
use crate::state::AuthState;

pub(super) async fn frontchannel_logout(state: &AuthState, parts: &Parts) -> Response<Full<Bytes>> {
    let [iss, sid] = match query_params(parts, ["iss", "sid"]) {
        Ok(params) => params,
        Err(e) => {
            return pages::error_page(StatusCode::BAD_REQUEST, &e.to_string(), None, &state.routes.home)
        }
    };
    let (Some(iss), Some(sid)) = (iss, sid) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "a front-channel logout names the provider (iss) and its session (sid)",
            None,
            &state.routes.home,
        );
    };
    let mut provider = None;
    for candidate in state.providers.values() {
        if candidate.is_issuer(&iss, None).await {
            provider = Some(candidate);
            break;
        }
    }
    let Some(provider) = provider else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "this logout does not come from a configured provider",
            None,
            &state.routes.home,
        );
    };
    let name = provider.name();
    let ended = match state
        .sessions
        .end_user_sessions(name, None, Some(&sid))
        .await
    {
        Ok(ended) => ended,
        Err(e) => {
            tracing::warn!(provider = name, error = %e, "front-channel logout: the session store cannot be reached");
            return pages::sessions_unavailable(&parts.headers);
        }
    };
    tracing::info!(provider = name, ended, "front-channel logout");
    let mut response = pages::signed_out();
    // Only the provider's own pages may frame this one.
    let origin = url::Url::parse(&iss)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| "'none'".to_owned());
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {origin}; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}
