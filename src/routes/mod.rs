//! The layer's own routes: login, callback and logout.

mod backchannel;
mod callback;
mod frontchannel;
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

/// Answers a request for one of the layer's own routes. Only the back-channel logout reads
/// the request body (bounded); the others never do.
pub(crate) async fn handle<B>(
    state: &AuthState,
    route: Route,
    parts: Parts,
    body: B,
) -> Response<Full<Bytes>>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match (route, &parts.method) {
        (Route::Login, &Method::GET) => login::login(state, &parts).await,
        (Route::Callback, &Method::GET) => callback::callback(state, &parts).await,
        (Route::Logout, &Method::GET) => logout::logout_get(state, parts).await,
        (Route::Logout, &Method::POST) => logout::logout_post(state, parts).await,
        (Route::BackchannelLogout, &Method::POST) => {
            backchannel::backchannel_logout(state, &parts, body).await
        }
        (Route::FrontchannelLogout, &Method::GET) => {
            frontchannel::frontchannel_logout(state, &parts).await
        }
        _ => {
            let mut response = pages::error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "this address only answers the login flow's own requests",
                None,
                &state.routes.home,
            );
            let allow = match route {
                Route::Logout => "GET, POST",
                Route::BackchannelLogout => "POST",
                Route::Login | Route::Callback | Route::FrontchannelLogout => "GET",
            };
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
            response
        }
    }
}
