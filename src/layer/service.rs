//! [`AuthService`]: answers the layer's own routes and puts the visitor into every other
//! request.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{AuthFuture, Loaded};
use crate::body::PageBody;
use crate::pages;
use crate::refresh::AfterUpkeep;
use crate::session::Id;
use crate::state::{AuthState, StoreAnswer, Upkeep, Visitor};
use crate::user::{LoggedIn, Login, User, UserContext};

/// The [`Service`] made by [`AuthLayer`](super::AuthLayer).
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
    /// What every request's [`User`] shares: the login route, the tokens handlers may
    /// see, and where fresh ones come from.
    context: Arc<UserContext>,
}

/// What every request's [`User`] of one layer shares. Made once per layer: axum may call
/// `Layer::layer` for every request (routes added with `Router::layer`), so
/// [`AuthService::new`] must not allocate.
pub(super) fn user_context(state: &Arc<AuthState>) -> Arc<UserContext> {
    Arc::new(UserContext {
        expose: state.expose,
        login: Login::Layer(Arc::from(state.routes.login.as_str())),
        source: state.clone(),
    })
}

impl<S> AuthService<S> {
    pub(super) fn new(inner: S, state: Arc<AuthState>, context: Arc<UserContext>) -> Self {
        AuthService {
            inner,
            state,
            context,
        }
    }
}

/// What a request waits for before the wrapped service sees it.
enum Wait {
    /// The external store's answer about a session id.
    Store(Id),
    /// A live session's upkeep.
    Upkeep(Arc<LoggedIn>, Upkeep),
}

impl<S> AuthService<S> {
    /// Calls the wrapped service once `wait` is over. Only an external store or a session's
    /// upkeep gets here, so the wrapped service's clone goes into the future (the one polled
    /// ready is the one called).
    fn after<B, ResBody>(&mut self, wait: Wait, mut req: Request<B>) -> AuthFuture<S::Future>
    where
        S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        B: Send + 'static,
    {
        let state = self.state.clone();
        let context = self.context.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        AuthFuture::loading(Box::pin(async move {
            let answer = match wait {
                Wait::Store(id) => state.ask_store(id).await,
                Wait::Upkeep(user, upkeep) => StoreAnswer::Upkeep(user, upkeep),
            };
            let (user, stale) = match answer {
                StoreAnswer::LoggedIn(user) => (Some(user), false),
                StoreAnswer::Gone => (None, true),
                StoreAnswer::Upkeep(user, upkeep) => {
                    match crate::refresh::upkeep(&state, user, upkeep).await {
                        AfterUpkeep::LoggedIn(user) => (Some(user), false),
                        AfterUpkeep::Ended => (None, true),
                    }
                }
                StoreAnswer::Unreachable => {
                    return Loaded::Page(pages::sessions_unavailable(req.headers()))
                }
            };
            req.extensions_mut().insert(User::new(user, context));
            let stale = stale.then(|| state.cookies.remove_session());
            Loaded::Inner {
                output: inner.call(req).await,
                stale,
            }
        }))
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
    ResBody: PageBody,
{
    type Response = Response<ResBody>;
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
        match req.extensions().get::<User>() {
            // A TrustedHeadersLayer outside found the user in a front end's headers: that
            // user wins, and the session cookie is not read.
            Some(user) if user.is_from_front_end() && user.is_logged_in() => {
                return AuthFuture::inner(self.inner.call(req), None)
            }
            // It found nobody there: the session decides, as without it.
            Some(user) if user.is_from_front_end() => {}
            _ => self.state.ignored_headers.notice(req.headers()),
        }
        let (user, stale) = match self.state.visitor_now(req.headers()) {
            Visitor::Anonymous => (None, false),
            Visitor::LoggedIn(user) => (Some(user), false),
            Visitor::StaleCookie => (None, true),
            Visitor::Ask(id) => return self.after(Wait::Store(id), req),
            Visitor::Upkeep(user, upkeep) => return self.after(Wait::Upkeep(user, upkeep), req),
        };
        req.extensions_mut()
            .insert(User::new(user, self.context.clone()));
        let removal = stale.then(|| self.state.cookies.remove_session());
        AuthFuture::inner(self.inner.call(req), removal)
    }
}
