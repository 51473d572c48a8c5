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
    shared: Arc<Shared>,
}

/// What every service and request of one layer shares, behind one `Arc`: axum clones the
/// service for every request of a route added with `Router::layer`, so one reference count
/// to move there, not two. Made once per layer: axum may also call `Layer::layer` per
/// request, so [`AuthService::new`] must not allocate.
pub(super) struct Shared {
    pub(super) state: Arc<AuthState>,
    /// What every request's [`User`] shares: the login route, the tokens handlers may
    /// see, and where fresh ones come from.
    context: Arc<UserContext>,
}

impl Shared {
    pub(super) fn new(state: Arc<AuthState>) -> Arc<Self> {
        let context = Arc::new(UserContext {
            expose: state.expose,
            login: Login::Layer(Arc::from(state.routes.login.as_str())),
            source: state.clone(),
        });
        Arc::new(Shared { state, context })
    }
}

impl<S> AuthService<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        AuthService { inner, shared }
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
        let shared = self.shared.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        AuthFuture::loading(Box::pin(async move {
            let Shared { state, context } = &*shared;
            let answer = match wait {
                Wait::Store(id) => state.ask_store(id).await,
                Wait::Upkeep(user, upkeep) => StoreAnswer::Upkeep(user, upkeep),
            };
            let (user, stale) = match answer {
                StoreAnswer::LoggedIn(user) => (Some(user), false),
                StoreAnswer::Gone => (None, true),
                StoreAnswer::Upkeep(user, upkeep) => {
                    match crate::refresh::upkeep(state, user, upkeep).await {
                        AfterUpkeep::LoggedIn(user) => (Some(user), false),
                        AfterUpkeep::Ended => (None, true),
                    }
                }
                StoreAnswer::Unreachable => {
                    return Loaded::Page(pages::sessions_unavailable(req.headers()))
                }
            };
            req.extensions_mut()
                .insert(User::new(user, context.clone()));
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
            .field("routes", &self.shared.state.routes)
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
        let shared = &*self.shared;
        if let Some(route) = shared.state.routes.route(req.uri().path()) {
            let state = shared.state.clone();
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
            _ => shared.state.ignored_headers.notice(req.headers()),
        }
        let (user, stale) = match shared.state.visitor_now(req.headers()) {
            Visitor::Anonymous => (None, false),
            Visitor::LoggedIn(user) => (Some(user), false),
            Visitor::StaleCookie => (None, true),
            Visitor::Ask(id) => return self.after(Wait::Store(id), req),
            Visitor::Upkeep(user, upkeep) => return self.after(Wait::Upkeep(user, upkeep), req),
        };
        req.extensions_mut()
            .insert(User::new(user, shared.context.clone()));
        let removal = stale.then(|| shared.state.cookies.remove_session());
        AuthFuture::inner(self.inner.call(req), removal)
    }
}
