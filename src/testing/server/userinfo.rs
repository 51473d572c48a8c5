//! Userinfo (`GET` or `POST /userinfo`): the signed-in user's claims for a valid bearer
//! access token, and a `WWW-Authenticate` challenge (RFC 6750 section 3) otherwise.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::respond::{json_response, no_store, set_header};
use super::state::{bump, lock, Shared};
use crate::testing::behaviour::Misbehaviour;

/// `GET` or `POST /userinfo`.
pub(crate) async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    bump(&shared.counters.userinfo);
    let challenge = |error: Option<&'static str>| {
        tracing::debug!(
            error = error.unwrap_or("missing_token"),
            "development provider: userinfo refused"
        );
        let mut response = no_store(json_response(
            StatusCode::UNAUTHORIZED,
            &json!({ "error": error.unwrap_or("invalid_request") }),
        ));
        set_header(
            &mut response,
            header::WWW_AUTHENTICATE,
            match error {
                Some(_) => "Bearer error=\"invalid_token\"",
                None => "Bearer",
            },
        );
        response
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return challenge(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token else {
        return challenge(Some("invalid_token"));
    };
    let claims = {
        let tokens = lock(&shared.access_tokens);
        tokens
            .get(&token)
            .filter(|grant| grant.expires > Instant::now())
            .map(|grant| grant.claims.clone())
    };
    match claims {
        Some(mut claims) => {
            if shared.behaviour().has(&Misbehaviour::UserinfoWrongSubject) {
                claims.insert("sub".to_owned(), Value::String("foobar".to_owned()));
            }
            tracing::debug!("development provider: userinfo served");
            no_store(json_response(StatusCode::OK, &claims))
        }
        None => challenge(Some("invalid_token")),
    }
}
