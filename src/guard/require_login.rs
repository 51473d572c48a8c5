//! [`RequireLoginLayer`] and its service: anonymous requests never reach the wrapped service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::RequireLoginFuture;
use super::rejection::{AccessDenied, LoginRequired};
use super::rule::{AnyGroup, AnyRole, Rules, UserRule};
use crate::body::PageBody;
use crate::user::User;

/// A [`Layer`] that answers anonymous requests with [`LoginRequired`], and logged-in users
/// who fail one of its rules with [`AccessDenied`]; see the [module docs](crate::guard).
#[derive(Clone, Debug, Default)]
pub struct RequireLoginLayer {
    rules: Rules,
}

impl RequireLoginLayer {
    /// The guard: any logged-in user passes.
    pub fn new() -> Self {
        RequireLoginLayer::default()
    }

    /// Only users with at least one of `roles` (the `roles` claim; Microsoft Entra ID app
    /// roles) pass.
    #[must_use]
    pub fn require_roles<S: Into<String>>(self, roles: impl IntoIterator<Item = S>) -> Self {
        self.require(AnyRole(roles.into_iter().map(Into::into).collect()))
    }

    /// Only users in at least one of `groups` (the `groups` claim) pass.
    #[must_use]
    pub fn require_groups<S: Into<String>>(self, groups: impl IntoIterator<Item = S>) -> Self {
        self.require(AnyGroup(groups.into_iter().map(Into::into).collect()))
    }

    /// Only users `rule` allows pass; with several rules, all must hold.
    #[must_use]
    pub fn require(mut self, rule: impl UserRule) -> Self {
        self.rules.0.push(Arc::new(rule));
        self
    }
}

impl<S> Layer<S> for RequireLoginLayer {
    type Service = RequireLogin<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireLogin {
            inner,
            rules: self.rules.clone(),
        }
    }
}

/// The [`Service`] made by [`RequireLoginLayer`].
#[derive(Clone, Debug)]
pub struct RequireLogin<S> {
    inner: S,
    rules: Rules,
}

impl<S, B, ResBody> Service<Request<B>> for RequireLogin<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: PageBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireLoginFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match req.extensions().get::<User>() {
            Some(user) if user.is_logged_in() && self.rules.allow(user) => {
                RequireLoginFuture::inner(self.inner.call(req))
            }
            Some(user) if user.is_logged_in() => {
                tracing::info!(
                    provider = user.provider(),
                    "a route's rule refused a logged-in user"
                );
                RequireLoginFuture::rejected(AccessDenied::from_request(&req).into_http_response())
            }
            found => {
                if found.is_none() {
                    tracing::error!(
                        "RequireLoginLayer used without AuthLayer around it: every request is refused"
                    );
                }
                RequireLoginFuture::rejected(LoginRequired::from_request(&req).into_http_response())
            }
        }
    }
}
