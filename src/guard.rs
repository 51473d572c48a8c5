//! [`RequireLoginLayer`]: make every route of a service login-only.
//!
//! An anonymous browser (`Accept: text/html`) is redirected to the login, which brings it
//! back to the page it asked for; anything else (an API call, `fetch`) gets `401` with a
//! small JSON body, because a redirect to a provider's login page is useless to a script.
//!
//! The guard reads the [`User`] that [`AuthLayer`](crate::AuthLayer) puts in the request,
//! so it must sit inside that layer.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_oidc_login::{AuthConfig, AuthLayer, CurrentUser, RequireLoginLayer};
//!
//! # fn app(config: AuthConfig) -> Result<Router, tower_oidc_login::ConfigError> {
//! let private = Router::new()
//!     .route("/reports", get(|CurrentUser(user): CurrentUser| async move {
//!         format!("reports for {}", user.email().unwrap_or("you"))
//!     }))
//!     // route_layer: only matched routes are guarded, so unknown paths still 404.
//!     .route_layer(RequireLoginLayer::new());
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "public" }))
//!     .merge(private)
//!     .layer(AuthLayer::builder(config).port(8501).build()?);
//! # Ok(app) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use crate::pages;
use crate::user::User;

/// Why a request needed a login, and where to send it: the rejection of
/// [`CurrentUser`](crate::CurrentUser) and the answer of [`RequireLoginLayer`].
#[derive(Debug, Clone)]
pub struct LoginRequired {
    login_url: Option<String>,
    browser: bool,
}

impl LoginRequired {
    pub(crate) fn new(headers: &HeaderMap, uri: &Uri, user: Option<&User>) -> Self {
        let return_to = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let login_url = user.and_then(User::login_path).map(|login_path| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", return_to)
                .finish();
            format!("{login_path}?{query}")
        });
        LoginRequired {
            login_url,
            browser: wants_html(headers),
        }
    }

    /// The answer for an anonymous `request`, for plain hyper or tower code that checks
    /// the [`User`] itself (the extractor and the guard use the same rule).
    pub fn from_request<B>(request: &Request<B>) -> Self {
        LoginRequired::new(request.headers(), request.uri(), request.extensions().get())
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

impl std::fmt::Display for LoginRequired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("login required")
    }
}

impl std::error::Error for LoginRequired {}

/// Browsers ask for `text/html` when they navigate; `fetch` and API clients do not.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// A [`Layer`] that answers anonymous requests with [`LoginRequired`]; see the
/// [module docs](crate::guard).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireLoginLayer;

impl RequireLoginLayer {
    /// The guard.
    pub fn new() -> Self {
        RequireLoginLayer
    }
}

impl<S> Layer<S> for RequireLoginLayer {
    type Service = RequireLogin<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireLogin { inner }
    }
}

/// The [`Service`] made by [`RequireLoginLayer`].
#[derive(Clone, Debug)]
pub struct RequireLogin<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for RequireLogin<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Either<ResBody, Full<Bytes>>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let logged_in = req
            .extensions()
            .get::<User>()
            .is_some_and(User::is_logged_in);
        if !logged_in {
            let rejection = LoginRequired::from_request(&req);
            if req.extensions().get::<User>().is_none() {
                tracing::error!(
                    "RequireLoginLayer used without AuthLayer around it: every request is refused"
                );
            }
            return Box::pin(async move { Ok(rejection.into_http_response().map(Either::Right)) });
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { Ok(inner.call(req).await?.map(Either::Left)) })
    }
}
