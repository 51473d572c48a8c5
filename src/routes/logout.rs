//! `GET` and `POST /auth/logout`: end the session here and, where the provider supports
//! it, at the provider.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{header::SET_COOKIE, Request, Response};
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;

use crate::pages;
use crate::pending::PENDING_TTL;
use crate::provider::EndSessionHints;
use crate::session::SessionCookie;
use crate::state::AuthState;
use crate::util::random_token;

/// A cross-site `GET` (an image tag, a link on another site) must not log anyone out
/// silently. A navigation from this site (`Sec-Fetch-Site: same-origin`) or one the user
/// typed (`none`) logs out at once, which keeps Streamlit's `st.logout` redirect working;
/// anything else gets a page with a logout button that `POST`s.
pub(super) async fn logout_get(state: &AuthState, parts: Parts) -> Response<Full<Bytes>> {
    let fetch_site = parts.headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if matches!(fetch_site, Some(b"same-origin") | Some(b"none")) {
        return perform(state, &parts).await;
    }
    pages::logout_confirm(&state.routes.logout, &state.routes.home)
}

/// `POST` passes tower-http's CSRF check (`Sec-Fetch-Site`, then `Origin` against the
/// host and `redirect_uri`'s origin) before anything happens.
pub(super) async fn logout_post(state: &AuthState, parts: Parts) -> Response<Full<Bytes>> {
    // The check reads only the method, the target and these headers; hand it a copy of
    // them so the original request stays here.
    let mut probe = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for name in ["origin", "sec-fetch-site", "host"] {
        for value in parts.headers.get_all(name) {
            probe = probe.header(name, value.clone());
        }
    }
    let Ok(probe) = probe.body(()) else {
        return pages::redirect(&state.routes.home, "/");
    };
    let mut guarded = state.csrf.clone().layer(Passes);
    match guarded.call(probe).await {
        Ok(response) if response.extensions().get::<Passed>().is_some() => {
            perform(state, &parts).await
        }
        Ok(rejected) => rejected,
        Err(never) => match never {},
    }
}

/// The service behind the CSRF check: reaching it means the check passed.
#[derive(Clone, Copy)]
struct Passes;

#[derive(Clone, Copy)]
struct Passed;

impl Service<Request<()>> for Passes {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let mut response = Response::new(Full::default());
        response.extensions_mut().insert(Passed);
        std::future::ready(Ok(response))
    }
}

async fn perform(state: &AuthState, parts: &Parts) -> Response<Full<Bytes>> {
    let mut ended = None;
    if let SessionCookie::Valid(id) = state.cookies.session(&parts.headers) {
        // Server-side first: a copy of the cookie replayed later must find nothing. While
        // the store is unreachable the session cannot be ended, and the visitor is told so
        // rather than shown a logout that did not happen.
        let loaded = state.sessions.load_user(&id).await;
        let deleted = match &loaded {
            Ok(Some(user)) => state.sessions.end(&id, user.stored()).await,
            Ok(None) => state.sessions.delete(&id).await,
            Err(_) => Ok(()),
        };
        match (loaded, deleted) {
            (Ok(user), Ok(())) => ended = user,
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "the session store cannot be reached; logout answered 503");
                return pages::sessions_unavailable(&parts.headers);
            }
        }
    }
    let mut location = None;
    let mut logout_state = None;
    if let Some(user) = &ended {
        let login_hint = user
            .claims()
            .get("login_hint")
            .and_then(|h| h.as_str())
            .map(str::to_owned);
        let user = user.stored();
        if let Some(provider) = state.providers.get(&*user.provider) {
            let s = random_token();
            let id_token = user.id_token();
            let hints = EndSessionHints {
                id_token: Some(&id_token),
                logout: login_hint.as_deref(),
            };
            location = provider
                .end_session_url(hints, state.post_logout_redirect_uri.as_str(), &s)
                .await;
            logout_state = Some(s);
        }
        tracing::info!(provider = %user.provider, at_provider = location.is_some(), "logged out");
    }
    let mut response = match &location {
        Some(url) => pages::redirect(url.as_str(), &state.routes.home),
        None => pages::redirect(&state.routes.home, "/"),
    };
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, state.cookies.remove_session());
    if let (Some(_), Some(s)) = (&location, logout_state.as_deref()) {
        headers.append(SET_COOKIE, state.cookies.set_logout_state(s, PENDING_TTL));
    }
    response
}
