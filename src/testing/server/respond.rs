//! How the endpoints answer: HTML pages, JSON, OAuth errors and redirects, with the headers
//! each kind of answer needs, and the redirect that
//! [`Misbehaviour::Redirect`](crate::testing::Misbehaviour::Redirect) sends instead.

use axum::body::Body;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use url::Url;

use super::pages;
use super::params::Params;
use super::state::{bump, Shared};
#[cfg(test)]
use crate::testing::behaviour::Canned;
use crate::testing::behaviour::{Behaviour, Endpoint};

pub(crate) fn set_header(response: &mut Response, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    set_header(
        &mut response,
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    );
    set_header(&mut response, header::CACHE_CONTROL, "no-store");
    set_header(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    );
    set_header(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_header(&mut response, header::REFERRER_POLICY, "no-referrer");
    response
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, pages::error(title, message))
}

pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            set_header(&mut response, header::CONTENT_TYPE, "application/json");
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "development provider: JSON serialization failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "serialization failed")
        }
    }
}

pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    set_header(
        &mut response,
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    );
    response
}

/// `no-store` responses that carry credentials or one-time values (RFC 6749 section 5.1).
pub(crate) fn no_store(mut response: Response) -> Response {
    set_header(&mut response, header::CACHE_CONTROL, "no-store");
    set_header(&mut response, header::PRAGMA, "no-cache");
    response
}

pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    ))
}

pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            response.headers_mut().insert(header::LOCATION, value);
            set_header(&mut response, header::CACHE_CONTROL, "no-store");
            response
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The redirect target cannot be sent in a Location header.",
        ),
    }
}

/// `base` with `params` appended to its query (keeping any query it already has).
pub(crate) fn with_query(base: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = Url::parse(base).ok()?;
    // `query_pairs_mut` leaves a bare `?` behind even when nothing is appended.
    if !params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    Some(url.into())
}

pub(crate) async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

/// A token-endpoint failure: status, OAuth error code, description, and whether the client
/// tried HTTP Basic (which obliges a `WWW-Authenticate` challenge on 401, RFC 6749 section 5.2).
pub(crate) struct TokenError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: String,
    pub(crate) basic_challenge: bool,
}

impl TokenError {
    pub(crate) fn invalid_client(
        description: impl Into<String>,
        basic_challenge: bool,
    ) -> TokenError {
        TokenError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            basic_challenge,
        }
    }

    /// The one value of token-request parameter `name`; a repeated one is `invalid_request`.
    pub(crate) fn param<'p>(params: &'p Params, name: &str) -> Result<Option<&'p str>, TokenError> {
        params
            .get(name)
            .map_err(|e| TokenError::bad_request("invalid_request", e))
    }

    pub(crate) fn bad_request(error: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub(crate) fn into_response(self) -> Response {
        tracing::debug!(error = self.error, reason = %self.description, "development provider: token request refused");
        let mut response = oauth_error(self.status, self.error, &self.description);
        if self.basic_challenge {
            set_header(
                &mut response,
                header::WWW_AUTHENTICATE,
                "Basic realm=\"tower-oidc-login development provider\"",
            );
        }
        response
    }
}

/// Whether this request is the target of a
/// [`Misbehaviour::Redirect`](crate::testing::Misbehaviour::Redirect) (it carries `moved=1`);
/// counted in [`RequestCounts::redirect_targets`](crate::testing::RequestCounts::redirect_targets).
fn redirect_target(shared: &Shared, query: Option<&str>) -> bool {
    let moved = query.is_some_and(|q| q.split('&').any(|pair| pair == "moved=1"));
    if moved {
        bump(&shared.counters.redirect_targets);
    }
    moved
}

/// A `307` to the same URL with `?moved=1`, or `None` when `endpoint` does not redirect (or
/// this request already is the redirect's target).
pub(crate) fn misbehaving_redirect(
    shared: &Shared,
    behaviour: &Behaviour,
    endpoint: Endpoint,
    uri: &Uri,
    query: Option<&str>,
) -> Option<Response> {
    if redirect_target(shared, query) || !behaviour.redirects(endpoint) {
        return None;
    }
    let mut target = Url::parse(&shared.origin).ok()?;
    target.set_path(uri.path());
    target.set_query(Some("moved=1"));
    tracing::debug!(
        ?endpoint,
        "development provider: misbehaving with a redirect"
    );
    Some(redirect(StatusCode::TEMPORARY_REDIRECT, target.as_str()))
}

/// The answer a test set for `endpoint` with [`DevProvider::answer_with`], if any.
///
/// [`DevProvider::answer_with`]: crate::testing::DevProvider::answer_with
#[cfg(test)]
pub(crate) fn canned(behaviour: &Behaviour, endpoint: Endpoint) -> Option<Response> {
    let Canned {
        status,
        content_type,
        body,
        chunked,
    } = behaviour.hooks.answer(endpoint)?.clone();
    let body = if chunked {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    set_header(&mut response, header::CONTENT_TYPE, content_type);
    tracing::debug!(?endpoint, "development provider: a test's canned answer");
    Some(response)
}
