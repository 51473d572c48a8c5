//! [`TrustedHeaders`]: puts the user a front end's headers describe into every request.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::future::TrustedHeadersFuture;
use super::source::Shared;
use crate::user::User;

/// The [`Service`] made by [`TrustedHeadersLayer`](super::TrustedHeadersLayer).
#[derive(Clone)]
pub struct TrustedHeaders<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> TrustedHeaders<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        TrustedHeaders { inner, shared }
    }
}

impl<S, B> Service<Request<B>> for TrustedHeaders<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrustedHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match self.shared.user(req.headers()) {
            // The headers' user wins over anything a layer outside set.
            Some(user) => {
                req.extensions_mut().insert(user);
            }
            // Anonymous here: a user an outer AuthLayer found in its session stays.
            None if req.extensions().get::<User>().is_some() => {}
            None => {
                req.extensions_mut().insert(self.shared.anonymous());
            }
        }
        TrustedHeadersFuture::new(self.inner.call(req))
    }
}

impl<S> fmt::Debug for TrustedHeaders<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedHeaders")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}
