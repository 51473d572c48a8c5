//! The layer's own routes: login, callback and logout.

mod callback;
mod login;
mod logout;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use crate::error::LoginError;
use crate::layer::{AuthState, Routes};
use crate::pages;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Login,
    Callback,
    Logout,
}

impl Route {
    pub(crate) fn match_path(routes: &Routes, path: &str) -> Option<Route> {
        if path == routes.login {
            Some(Route::Login)
        } else if path == routes.callback {
            Some(Route::Callback)
        } else if path == routes.logout {
            Some(Route::Logout)
        } else {
            None
        }
    }
}

pub(crate) async fn handle(state: &AuthState, route: Route, parts: Parts) -> Response<Full<Bytes>> {
    match (route, &parts.method) {
        (Route::Login, &Method::GET) => login::login(state, &parts).await,
        (Route::Callback, &Method::GET) => callback::callback(state, &parts).await,
        (Route::Logout, &Method::GET) => logout::logout_get(state, parts).await,
        (Route::Logout, &Method::POST) => logout::logout_post(state, parts).await,
        _ => {
            let mut response = pages::error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "this address only answers the login flow's own requests",
                &state.routes.home,
            );
            let allow = if route == Route::Logout {
                "GET, POST"
            } else {
                "GET"
            };
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
            response
        }
    }
}

/// The query string's pairs, refusing a repeated parameter: with two `state`s or two
/// `code`s, which one a component reads is a guess an attacker can exploit.
pub(crate) fn query_params(
    parts: &Parts,
    names: &[&str],
) -> Result<Vec<Option<String>>, LoginError> {
    let mut found: Vec<Option<String>> = vec![None; names.len()];
    let query = parts.uri.query().unwrap_or("");
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(i) = names.iter().position(|n| *n == key) {
            if found[i].is_some() {
                return Err(LoginError::BadRequest(format!(
                    "the parameter \"{key}\" appears more than once"
                )));
            }
            found[i] = Some(value.into_owned());
        }
    }
    Ok(found)
}

/// The error page for `err`, logged with its reason (which never holds a secret).
pub(crate) fn failure(
    err: &LoginError,
    provider: Option<&str>,
    retry_href: &str,
) -> Response<Full<Bytes>> {
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(provider, status = status.as_u16(), reason = %err, "login failed");
    } else {
        tracing::warn!(provider, status = status.as_u16(), reason = %err, "login failed");
    }
    pages::error_page(status, &err.to_string(), retry_href)
}

/// `<login>?provider=NAME` (and `return_to`), query-encoded.
pub(crate) fn login_href(
    state: &AuthState,
    provider: Option<&str>,
    return_to: Option<&str>,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(p) = provider {
        query.append_pair("provider", p);
    }
    if let Some(r) = return_to {
        query.append_pair("return_to", r);
    }
    let query = query.finish();
    if query.is_empty() {
        state.routes.login.clone()
    } else {
        format!("{}?{query}", state.routes.login)
    }
}
