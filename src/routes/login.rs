//! `GET /auth/login?provider=NAME&return_to=/path`: start a login.

use bytes::Bytes;
use http::request::Parts;
use http::{header::SET_COOKIE, Response};
use http_body_util::Full;

use super::query::query_params;
use super::respond::{failure, login_href};
use crate::error::LoginError;
use crate::pages;
use crate::pending::{now_unix, PendingLogin};
use crate::redirect::safe_return_to;
use crate::state::AuthState;
use crate::util::{bounded, is_loopback_host, random_token};

/// The most of a requested provider name echoed back.
const MAX_PROVIDER_NAME: usize = 64;

pub(super) async fn login(state: &AuthState, parts: &Parts) -> Response<Full<Bytes>> {
    if let Some(canonical) = other_host_redirect(state, parts) {
        return canonical;
    }
    let [provider_name, return_to] = match query_params(parts, ["provider", "return_to"]) {
        Ok(params) => params,
        Err(e) => return failure(&e, None, &state.routes.login),
    };
    let return_to = safe_return_to(return_to.as_deref(), &state.routes.home);

    let name = match provider_name.filter(|p| !p.is_empty()) {
        Some(name) => name,
        None if state.providers.len() == 1 => {
            // One provider: nothing to choose.
            match state.providers.keys().next() {
                Some(only) => only.clone(),
                None => {
                    return failure(
                        &LoginError::UnknownProvider(String::new()),
                        None,
                        &state.routes.home,
                    )
                }
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
        // The name came from the query: bounded, like every echoed text.
        return failure(
            &LoginError::UnknownProvider(bounded(&name, MAX_PROVIDER_NAME)),
            None,
            &state.routes.login,
        );
    };

    let login_state = random_token();
    let request = match provider.authorization_request(&login_state).await {
        Ok(r) => r,
        Err(e) => return failure(&e, Some(&name), &retry),
    };

    // The pending login rides in a sealed cookie of its own, sent back only to the
    // callback: any replica can finish it, nothing is stored for anonymous visitors, and
    // logins started in several tabs each keep theirs.
    let pending = PendingLogin {
        provider: name.clone(),
        nonce: request.nonce,
        pkce_verifier: request.pkce_verifier,
        return_to,
        created: now_unix(),
    };
    tracing::debug!(provider = %name, "login started");
    let mut response = pages::redirect(request.url.as_str(), &state.routes.home);
    response.headers_mut().append(
        SET_COOKIE,
        state
            .cookies
            .seal_pending(&login_state, &pending.to_cookie(), state.login_lifetime),
    );
    response
}

/// The provider sends the browser back to the one host in `redirect_uri`, where the
/// pending-login cookie set on any other host is missing. Starting the login on
/// `redirect_uri`'s own origin keeps the browser on one host:
/// - always between loopback names on the same port (in development the app answers on
///   `localhost` and on `127.0.0.1`);
/// - for any other host with `canonical_host = true` (an App Service app answers on its
///   generated `*.azurewebsites.net` name and on its custom domain). Opt-in, because behind
///   some proxies the `Host` header is not the public host. Only the `Host` header is read:
///   forwarded headers are never trusted, and the target is always `redirect_uri`'s own
///   origin, so a forged `Host` can at most send the browser to the configured host.
fn other_host_redirect(state: &AuthState, parts: &Parts) -> Option<Response<Full<Bytes>>> {
    let target = &state.redirect_uri;
    let target_host = target.host_str()?;
    let host = parts.headers.get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    let bare_target = target_host.trim_start_matches('[').trim_end_matches(']');
    if authority.host().eq_ignore_ascii_case(bare_target) {
        return None;
    }
    let same_port = authority.port_u16() == target.port_or_known_default();
    let loopback_alias =
        same_port && is_loopback_host(authority.host()) && is_loopback_host(target_host);
    if !loopback_alias && !state.canonical_host {
        return None;
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut url = target.clone();
    url.set_path("");
    let location = format!("{}{}", url.as_str().trim_end_matches('/'), path_and_query);
    Some(pages::redirect(&location, &state.routes.home))
}
