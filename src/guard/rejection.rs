//! [`LoginRequired`]: the answer to an anonymous request for something that needs a login.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Extensions, HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::Full;

use crate::pages;
use crate::user::User;

/// Why a request needed a login, and where to send it: the rejection of
/// [`CurrentUser`](crate::CurrentUser) and the answer of
/// [`RequireLoginLayer`](super::RequireLoginLayer).
#[derive(Debug, Clone)]
pub struct LoginRequired {
    login_url: Option<String>,
    browser: bool,
}

impl LoginRequired {
    /// The answer for a request with these parts. The visitor comes back to the URI the
    /// request was sent to: inside axum's `Router::nest` the request's own URI has lost the
    /// nest prefix, so axum's `OriginalUri` is used when present.
    pub(crate) fn new(headers: &HeaderMap, uri: &Uri, extensions: &Extensions) -> Self {
        let uri = original_uri(extensions).unwrap_or(uri);
        let return_to = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let login_url = extensions
            .get::<User>()
            .and_then(|user| user.login_url(return_to));
        LoginRequired {
            login_url,
            browser: pages::wants_html(headers),
        }
    }

    /// The answer for an anonymous `request`, for plain hyper or tower code that checks
    /// the [`User`] itself (the extractor and the guard use the same rule).
    pub fn from_request<B>(request: &Request<B>) -> Self {
        LoginRequired::new(request.headers(), request.uri(), request.extensions())
    }

    /// The login URL that brings the visitor back here, if the layer is installed.
    pub fn login_url(&self) -> Option<&str> {
        self.login_url.as_deref()
    }

    /// The response: a redirect to login for browsers, `401` otherwise.
    pub fn into_http_response(self) -> Response<Full<Bytes>> {
        match (&self.login_url, self.browser) {
            (Some(url), true) => pages::redirect(url, "/"),
            _ => {
                let body = serde_json::json!({
                    "error": "login_required",
                    "message": "Log in to use this resource.",
                    "login_url": self.login_url,
                });
                let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                pages::no_store(response)
            }
        }
    }
}

/// The answer to a logged-in user whom a route's rule refuses: `403`, a page for browsers and
/// JSON for everything else. The rejection of [`Authorized`](crate::extract::Authorized) and
/// the answer of [`RequireLoginLayer`](super::RequireLoginLayer) with a rule.
#[derive(Debug, Clone)]
pub struct AccessDenied {
    browser: bool,
    home: Option<String>,
}

impl AccessDenied {
    pub(crate) fn new(headers: &HeaderMap, extensions: &Extensions) -> Self {
        AccessDenied {
            browser: pages::wants_html(headers),
            home: extensions
                .get::<User>()
                .and_then(User::home)
                .map(str::to_owned),
        }
    }

    /// The answer for a `request` whose user a rule refused.
    pub fn from_request<B>(request: &Request<B>) -> Self {
        AccessDenied::new(request.headers(), request.extensions())
    }

    /// The response: `403`, a page for browsers, JSON otherwise.
    pub fn into_http_response(self) -> Response<Full<Bytes>> {
        if self.browser {
            return pages::forbidden(
                "you are logged in, but this page needs a permission your account does not have",
                self.home.as_deref().unwrap_or("/"),
            );
        }
        let body = serde_json::json!({
            "error": "forbidden",
            "message": "Your account does not have the permission this resource needs.",
        });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        pages::no_store(response)
    }
}

impl std::fmt::Display for AccessDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("access denied")
    }
}

impl std::error::Error for AccessDenied {}

#[cfg(feature = "axum")]
fn original_uri(extensions: &Extensions) -> Option<&Uri> {
    extensions
        .get::<axum::extract::OriginalUri>()
        .map(|original| &original.0)
}

#[cfg(not(feature = "axum"))]
fn original_uri(_: &Extensions) -> Option<&Uri> {
    None
}

impl std::fmt::Display for LoginRequired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("login required")
    }
}

impl std::error::Error for LoginRequired {}
