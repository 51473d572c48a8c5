//! The end-session endpoint (`GET` or `POST /logout`, RP-initiated logout): records what the
//! client sent, then shows the signed-out page or redirects to a registered
//! `post_logout_redirect_uri` with the `state`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::pages;
use super::params::Params;
use super::respond::{error_page, html, redirect, with_query};
use super::state::{bump, lock, Shared};
use crate::testing::records::EndSessionCall;

/// `GET` or `POST /logout`.
pub(crate) async fn end_session(
    State(shared): State<Arc<Shared>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    bump(&shared.counters.end_session);
    let params = if method == Method::POST {
        Params::parse(&body)
    } else {
        Params::parse(query.unwrap_or_default().as_bytes())
    };
    let value = |name: &str| params.first(name).map(str::to_owned);
    let call = EndSessionCall {
        client_id: value("client_id"),
        id_token_hint: value("id_token_hint"),
        post_logout_redirect_uri: value("post_logout_redirect_uri"),
        state: value("state"),
        logout_hint: value("logout_hint"),
    };
    lock(&shared.end_session_calls).push(call.clone());
    tracing::debug!(
        client_id = call.client_id.as_deref().unwrap_or(""),
        id_token_hint = call.id_token_hint.is_some(),
        post_logout_redirect_uri = call.post_logout_redirect_uri.as_deref().unwrap_or(""),
        "development provider: end session"
    );

    if let Some(client_id) = &call.client_id {
        if *client_id != shared.client_id {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown client",
                &format!("This provider knows no client \"{client_id}\"."),
            );
        }
    }
    let Some(target) = &call.post_logout_redirect_uri else {
        return html(StatusCode::OK, pages::signed_out());
    };
    if !shared.post_logout_redirect_uri_allowed(target) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid post-logout redirect URI",
            &format!(
                "The post_logout_redirect_uri \"{target}\" is not registered for this client."
            ),
        );
    }
    let state: Vec<(&str, &str)> = call
        .state
        .as_deref()
        .map(|s| ("state", s))
        .into_iter()
        .collect();
    match with_query(target, &state) {
        Some(location) => redirect(StatusCode::FOUND, &location),
        None => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid post-logout redirect URI",
            "The post_logout_redirect_uri is not an absolute URL.",
        ),
    }
}
