//! [`AuthService`]: answers the layer's own routes and puts the visitor into every other
//! request.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{AuthBody, AuthFuture, Loaded};
use crate::pages;
use crate::state::{AuthState, StoreAnswer, Visitor};
use crate::user::User;

/// The [`Service`] made by [`AuthLayer`](super::AuthLayer).
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
    /// The login route, shared by every request's [`User`] (for extractors and guards).
    login_path: Arc<str>,
}

impl<S> AuthService<S> {
    pub(super) fn new(inner: S, state: Arc<AuthState>) -> Self {
        let login_path = Arc::from(state.routes.login.as_str());
        AuthService {
            inner,
            state,
            login_path,
        }
    }
}

impl<S> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("routes", &self.state.routes)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(route) = self.state.routes.route(req.uri().path()) {
            let state = self.state.clone();
            let (parts, body) = req.into_parts();
            return AuthFuture::route(Box::pin(async move {
                crate::routes::handle(&state, route, parts, body).await
            }));
        }
        let expose = self.state.expose;
        let (user, stale) = match self.state.visitor_now(req.headers()) {
            Visitor::Anonymous => (None, false),
            Visitor::LoggedIn(user) => (Some(user), false),
            Visitor::StaleCookie => (None, true),
            Visitor::Ask(id) => {
                // Only an external store gets here: the store is awaited before the wrapped
                // service is called, so that service's clone goes into the future (the one
                // polled ready is the one called).
                let state = self.state.clone();
                let login_path = self.login_path.clone();
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                return AuthFuture::loading(Box::pin(async move {
                    let (user, stale) = match state.ask_store(id).await {
                        StoreAnswer::LoggedIn(user) => (Some(user), false),
                        StoreAnswer::Gone => (None, true),
                        StoreAnswer::Unreachable => {
                            return Loaded::Page(pages::sessions_unavailable(req.headers()))
                        }
                    };
                    req.extensions_mut()
                        .insert(User::new(user, expose, login_path));
                    let stale = stale.then(|| state.cookies.remove_session());
                    Loaded::Inner {
                        output: inner.call(req).await,
                        stale,
                    }
                }));
            }
        };
        req.extensions_mut()
            .insert(User::new(user, expose, self.login_path.clone()));
        let removal = stale.then(|| self.state.cookies.remove_session());
        AuthFuture::inner(self.inner.call(req), removal)
    }
}
