//! `GET /auth/login?provider=NAME&return_to=/path`: start a login.

use bytes::Bytes;
use http::request::Parts;
use http::{header::SET_COOKIE, Response};
use http_body_util::Full;

use super::{failure, login_href, query_params};
use crate::error::LoginError;
use crate::layer::AuthState;
use crate::pages;
use crate::pending::{browser_tag, now_unix, random_token, PendingLogin, PENDING_TTL};
use crate::redirect::safe_return_to;

pub(super) async fn login(state: &AuthState, parts: &Parts) -> Response<Full<Bytes>> {
    let (provider_name, return_to) = match query_params(parts, &["provider", "return_to"]) {
        Ok(mut v) => (v[0].take(), v[1].take()),
        Err(e) => return failure(&e, None, &state.routes.login),
    };
    let return_to = safe_return_to(return_to.as_deref(), &state.routes.home);

    let name = match provider_name.filter(|p| !p.is_empty()) {
        Some(name) => name,
        None if state.providers.len() == 1 => {
            // One provider: nothing to choose.
            match state.providers.keys().next() {
                Some(only) => only.clone(),
                None => return failure(&LoginError::UnknownProvider(String::new()), None, &state.routes.home),
            }
        }
        None => {
            let links: Vec<(String, String)> = state
                .providers
                .keys()
                .map(|n| (n.clone(), login_href(state, Some(n), Some(&return_to))))
                .collect();
            return pages::chooser(&links);
        }
    };
    let retry = login_href(state, Some(&name), Some(&return_to));
    let Some(provider) = state.providers.get(&name) else {
        return failure(&LoginError::UnknownProvider(name), None, &state.routes.login);
    };

    let login_state = random_token();
    let request = match provider.authorization_request(&login_state).await {
        Ok(r) => r,
        Err(e) => return failure(&e, Some(&name), &retry),
    };

    // One binding value per browser, shared by all its tabs: each tab's pending login is
    // its own record, so parallel logins do not clobber each other.
    let binding = state
        .cookies
        .read(&parts.headers, &state.cookies.login_name)
        .unwrap_or_else(random_token);
    let pending = PendingLogin {
        provider: name.clone(),
        nonce: request.nonce,
        pkce_verifier: request.pkce_verifier,
        return_to,
        browser: browser_tag(&binding),
        created: now_unix(),
    };
    if let Err(e) = state.sessions.put_pending(&login_state, &pending, PENDING_TTL).await {
        return failure(&LoginError::Session(e.to_string()), Some(&name), &retry);
    }
    tracing::debug!(provider = %name, "login started");
    let mut response = pages::redirect(request.url.as_str(), &state.routes.home);
    response.headers_mut().append(
        SET_COOKIE,
        state
            .cookies
            .set(&state.cookies.login_name, &binding, PENDING_TTL),
    );
    response
}
