//! axum extractors: [`User`] (never rejects), [`CurrentUser`] (requires a login) and
//! `Option<CurrentUser>`.
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use tower_oidc_login::{CurrentUser, User};
//!
//! async fn me(user: User) -> Json<serde_json::Value> {
//!     Json(user.to_json()) // like st.user.to_dict()
//! }
//!
//! async fn private(CurrentUser(user): CurrentUser) -> String {
//!     format!("hello {}", user.name().unwrap_or("there"))
//! }
//!
//! async fn maybe(user: Option<CurrentUser>) -> &'static str {
//!     if user.is_some() { "welcome back" } else { "hello, stranger" }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/private", get(private))
//!     .route("/maybe", get(maybe));
//! ```

use std::convert::Infallible;
use std::marker::PhantomData;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::guard::{AccessDenied, LoginRequired};
use crate::user::User;

/// A logged-in user; rejects anonymous requests with [`LoginRequired`] (a redirect to
/// login for browsers, `401` for everything else). `Option<CurrentUser>` never rejects.
#[derive(Clone, Debug)]
pub struct CurrentUser(pub User);

impl std::ops::Deref for CurrentUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0
    }
}

/// The rejection of [`User`] when no [`AuthLayer`](crate::AuthLayer) runs in front of the
/// handler: a programming error, answered with `500`.
#[derive(Debug, Clone, Copy)]
pub struct MissingAuthLayer;

impl IntoResponse for MissingAuthLayer {
    fn into_response(self) -> Response {
        tracing::error!(
            "a handler asked for the user but no AuthLayer is installed in front of it"
        );
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "AuthLayer is not installed in front of this handler",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = MissingAuthLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<User>()
            .cloned()
            .ok_or(MissingAuthLayer)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = LoginRequired;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<User>() {
            Some(user) if user.is_logged_in() => Ok(CurrentUser(user.clone())),
            _ => Err(LoginRequired::new(
                &parts.headers,
                &parts.uri,
                &parts.extensions,
            )),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<User>()
            .filter(|u| u.is_logged_in())
            .cloned()
            .map(CurrentUser))
    }
}

/// A rule for the [`Authorized`] extractor: a type (usually a unit struct) naming who may
/// use a handler.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_oidc_login::extract::{Authorized, Policy};
/// use tower_oidc_login::User;
///
/// struct ReportReaders;
/// impl Policy for ReportReaders {
///     fn allows(user: &User) -> bool {
///         user.has_role("Reports.Read")
///     }
/// }
///
/// async fn reports(Authorized(user, ..): Authorized<ReportReaders>) -> String {
///     format!("reports for {}", user.name().unwrap_or("you"))
/// }
/// let app: Router = Router::new().route("/reports", get(reports));
/// ```
pub trait Policy: Send + Sync + 'static {
    /// Whether `user` (logged in) may use the handler.
    fn allows(user: &User) -> bool;
}

/// A logged-in user whom policy `P` allows. Anonymous requests are rejected as by
/// [`CurrentUser`] (a login redirect for browsers, `401` otherwise), logged-in users `P`
/// refuses with `403` ([`AccessDenied`]).
pub struct Authorized<P: Policy>(pub User, pub PhantomData<P>);

impl<P: Policy> Clone for Authorized<P> {
    fn clone(&self) -> Self {
        Authorized(self.0.clone(), PhantomData)
    }
}

impl<P: Policy> std::fmt::Debug for Authorized<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Authorized").field(&self.0).finish()
    }
}

impl<P: Policy> std::ops::Deref for Authorized<P> {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0
    }
}

/// The rejection of [`Authorized`].
#[derive(Debug, Clone)]
pub enum AuthorizedRejection {
    /// Nobody is logged in.
    LoginRequired(LoginRequired),
    /// The logged-in user does not pass the policy.
    Denied(AccessDenied),
}

impl IntoResponse for AuthorizedRejection {
    fn into_response(self) -> Response {
        match self {
            AuthorizedRejection::LoginRequired(r) => r.into_response(),
            AuthorizedRejection::Denied(r) => r.into_response(),
        }
    }
}

impl<S: Send + Sync, P: Policy> FromRequestParts<S> for Authorized<P> {
    type Rejection = AuthorizedRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<User>() {
            Some(user) if user.is_logged_in() && P::allows(user) => {
                Ok(Authorized(user.clone(), PhantomData))
            }
            Some(user) if user.is_logged_in() => Err(AuthorizedRejection::Denied(
                AccessDenied::new(&parts.headers, &parts.extensions),
            )),
            _ => Err(AuthorizedRejection::LoginRequired(LoginRequired::new(
                &parts.headers,
                &parts.uri,
                &parts.extensions,
            ))),
        }
    }
}

impl IntoResponse for AccessDenied {
    fn into_response(self) -> Response {
        self.into_http_response().map(axum_core::body::Body::new)
    }
}

impl IntoResponse for crate::TokenError {
    fn into_response(self) -> Response {
        self.into_http_response().map(axum_core::body::Body::new)
    }
}

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        self.into_http_response().map(axum_core::body::Body::new)
    }
}
