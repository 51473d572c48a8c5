//! The token endpoint (`POST /token`): counts and records the request, lets a token-endpoint
//! misbehaviour answer first, authenticates the client, then hands the grant to
//! [`super::code`] (`authorization_code`) or [`super::refresh`] (`refresh_token`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderMap};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::client_assertion::TokenRequestTarget;
use super::client_auth::{authenticate_client, recognised_method};
use super::params::Params;
use super::realm::Realm;
use super::respond::{misbehaving_redirect, oauth_error, set_header, TokenError};
use super::state::{bump, lock, Shared};
use super::{code, refresh};
use crate::testing::behaviour::{Behaviour, Endpoint, Misbehaviour};
use crate::testing::jwt;
use crate::testing::records::TokenCall;

/// `POST /token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(&body);
    let refreshing = params.first("grant_type") == Some("refresh_token");
    bump(if refreshing {
        &shared.counters.refresh
    } else {
        &shared.counters.token
    });
    record(&shared, &headers, &params);
    let behaviour = shared.behaviour();
    #[cfg(test)]
    if let Some(response) = super::respond::canned(&behaviour, Endpoint::Token) {
        return response;
    }
    if let Some(response) =
        misbehaving_redirect(&shared, &behaviour, Endpoint::Token, &uri, query.as_deref())
    {
        return response;
    }
    if let Some(delay) = behaviour.token_delay() {
        tracing::debug!(
            ?delay,
            "development provider: token endpoint misbehaving with a delay"
        );
        tokio::time::sleep(delay).await;
    }
    if let Some(response) = broken_token_answer(&behaviour) {
        return response;
    }
    let realm = Realm::of(shared.tenancy, uri.path());
    let target = TokenRequestTarget {
        token_url: format!("{}{}", shared.origin, uri.path()),
        issuer: shared.issuer_of(&realm),
    };
    match grant(&shared, &behaviour, &headers, &params, &target) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Records what the request carried, the client assertion decoded (not verified).
fn record(shared: &Shared, headers: &HeaderMap, params: &Params) {
    let assertion = params.first("client_assertion").and_then(jwt::decode);
    let (assertion_header, assertion_claims) = match assertion {
        Some(decoded) => (Some(decoded.header), Some(decoded.claims)),
        None => (None, None),
    };
    lock(&shared.token_calls).push(TokenCall {
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        params: params.0.clone(),
        client_auth: recognised_method(shared, headers, params),
        client_assertion_header: assertion_header,
        client_assertion_claims: assertion_claims,
    });
}

/// Authenticates the client and hands the grant to its handler.
fn grant(
    shared: &Shared,
    behaviour: &Behaviour,
    headers: &HeaderMap,
    params: &Params,
    target: &TokenRequestTarget,
) -> Result<Response, TokenError> {
    authenticate_client(shared, headers, params, target)?;
    match params
        .get("grant_type")
        .map_err(|e| TokenError::bad_request("invalid_request", e))?
    {
        Some("authorization_code") => code::redeem(shared, behaviour, params),
        Some("refresh_token") => refresh::refresh(shared, behaviour, params),
        Some(other) => Err(TokenError::bad_request(
            "unsupported_grant_type",
            format!("grant_type \"{other}\" is not supported"),
        )),
        None => Err(TokenError::bad_request(
            "invalid_request",
            "grant_type is required",
        )),
    }
}

/// The answers of a broken token endpoint, given before the request is even read.
fn broken_token_answer(behaviour: &Behaviour) -> Option<Response> {
    const PAGE: &str = "<!doctype html><html><body><h1>Something went wrong</h1></body></html>";
    let raw = |status: StatusCode, content_type: &'static str, body: Body| {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        set_header(&mut response, header::CONTENT_TYPE, content_type);
        response
    };
    if behaviour.has(&Misbehaviour::TokenEndpointUnavailable) {
        tracing::debug!("development provider: token endpoint misbehaving with 503");
        let mut response = oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the provider is down for a moment",
        );
        set_header(&mut response, header::RETRY_AFTER, "1");
        return Some(response);
    }
    let response = if behaviour.has(&Misbehaviour::TokenEndpointError) {
        raw(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html; charset=utf-8",
            Body::from(PAGE),
        )
    } else if behaviour.has(&Misbehaviour::TokenResponseHtml) {
        raw(StatusCode::OK, "text/html; charset=utf-8", Body::from(PAGE))
    } else if behaviour.has(&Misbehaviour::TokenResponseBadJson) {
        raw(
            StatusCode::OK,
            "application/json",
            Body::from(r#"{"access_token": "abc", "token_type": "Bearer", "id_token": "#),
        )
    } else if behaviour.has(&Misbehaviour::HugeTokenResponse) {
        raw(StatusCode::OK, "application/json", huge_json_body())
    } else {
        return None;
    };
    tracing::debug!("development provider: token endpoint misbehaving with a broken answer");
    Some(response)
}

/// 2 MiB of valid JSON in 64 KiB chunks, without `Content-Length`.
fn huge_json_body() -> Body {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 32;
    let head =
        Bytes::from_static(br#"{"access_token": "abc", "token_type": "Bearer", "padding": ""#);
    let filler = Bytes::from(vec![b'a'; CHUNK]);
    let tail = Bytes::from_static(br#""}"#);
    let chunks = std::iter::once(head)
        .chain(std::iter::repeat_n(filler, CHUNKS))
        .chain(std::iter::once(tail))
        .map(Ok::<_, std::io::Error>);
    Body::from_stream(futures_util::stream::iter(chunks))
}
