//! [`RequireLoginLayer`] and its service: anonymous requests never reach the wrapped service.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use super::future::RequireLoginFuture;
use super::rejection::LoginRequired;
use crate::user::User;

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
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<Either<ResBody, Full<Bytes>>>;
    type Error = S::Error;
    type Future = RequireLoginFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match req.extensions().get::<User>() {
            Some(user) if user.is_logged_in() => RequireLoginFuture::inner(self.inner.call(req)),
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
