//! The layer's own routes: login, callback and logout.

mod callback;
mod login;
mod logout;
mod query;
mod respond;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use crate::pages;
use crate::paths::Route;
use crate::state::AuthState;

/// Answers a request for one of the layer's own routes.
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
                None,
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
