//! [`AuthLayer`]: the login routes, and the current user on every other request.
//!
//! # Example
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use tower_oidc_login::{AuthConfig, AuthLayer, User};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = AuthConfig::from_file(".streamlit/secrets.toml")?;
//! let auth = AuthLayer::builder(config).port(8501).build()?;
//!
//! let app = Router::new()
//!     .route("/", get(|user: User| async move {
//!         format!("logged in: {}", user.is_logged_in())
//!     }))
//!     .layer(auth);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8501").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! For the lowest cost per request, wrap the whole router rather than adding the layer with
//! `Router::layer` (which wraps every route in another boxed service); see BENCHMARKS.md:
//!
//! ```no_run
//! # use axum::{body::Body, routing::get, Router};
//! # use tower_oidc_login::{AuthConfig, AuthLayer};
//! # async fn run(auth: AuthLayer) -> Result<(), Box<dyn std::error::Error>> {
//! let app = tower::ServiceBuilder::new()
//!     .map_response(|r: http::Response<_>| r.map(Body::new))
//!     .layer(auth)
//!     .service(Router::new().route("/", get(|| async { "hello" })));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8501").await?;
//! axum::serve(listener, tower::make::Shared::new(app)).await?;
//! # Ok(()) }
//! ```
//!
//! The layer answers `GET /auth/login`, the callback path of `redirect_uri` (normally
//! `/oauth2callback`) and `GET`/`POST /auth/logout` itself, all under the path prefix of
//! `redirect_uri`; every other request goes to the wrapped service with a [`User`] in its
//! extensions.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{Either as FutureEither, MapOk, TryFutureExt};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_layer::Layer;
use tower_service::Service;
use url::Url;

use crate::config::{AuthConfig, ConfigError, ExposeTokens};
use crate::keys::Keys;
use crate::pages;
use crate::provider::Provider;
use crate::session::{CookieJar, Id, MemoryStore, SessionStore, Sessions};
use crate::user::{LoggedIn, User};

/// The response body of [`AuthService`]: the wrapped service's body, or one of the
/// layer's own small pages and redirects.
pub type AuthBody<B> = Either<B, Full<Bytes>>;

/// Default session cookie name. The login-binding and logout cookies add `_login` and
/// `_logout`.
pub const DEFAULT_COOKIE_NAME: &str = "oidc_session";

/// Default session lifetime, as in Streamlit.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A tower [`Layer`] that adds OpenID Connect login to any service; see the
/// [module docs](crate::layer).
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

/// Builds an [`AuthLayer`]; everything is validated in [`build`](Self::build).
pub struct AuthLayerBuilder {
    config: AuthConfig,
    port: Option<u16>,
    store: Option<Arc<dyn SessionStore>>,
    memory: Option<Arc<MemoryStore>>,
    cookie_name: String,
    lifetime: Option<Duration>,
}

impl AuthLayer {
    /// A layer for `config`, with the in-memory session store. Fails when `redirect_uri`
    /// contains `{port}`: use [`AuthLayer::builder`] with [`AuthLayerBuilder::port`].
    pub fn new(config: AuthConfig) -> Result<AuthLayer, ConfigError> {
        AuthLayer::builder(config).build()
    }

    /// Starts building a layer for `config`.
    pub fn builder(config: AuthConfig) -> AuthLayerBuilder {
        AuthLayerBuilder {
            config,
            port: None,
            store: None,
            memory: None,
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            lifetime: None,
        }
    }

    /// Fetches every provider's discovery document and key set now instead of at its
    /// first login, and logs a warning for each provider that is not reachable. The app
    /// works either way: an unreachable provider is retried at the next login.
    pub async fn warm_up(&self) {
        for provider in self.state.providers.values() {
            if let Err(e) = provider.ready().await {
                tracing::warn!(provider = provider.name(), error = %e, "provider not reachable at start-up; login with it will retry");
            }
        }
    }

    /// The paths the layer answers: login, logout and callback.
    pub fn routes(&self) -> &Routes {
        &self.state.routes
    }
}

impl AuthLayerBuilder {
    /// The port the app listens on, substituted for `{port}` in `redirect_uri`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Any tower-sessions 0.14 store (Redis, SQL, moka…) instead of the in-memory default.
    /// Pending logins live there too, so a store shared by several replicas lets a login
    /// start on one replica and finish on another.
    pub fn session_store(self, store: impl SessionStore) -> Self {
        self.shared_session_store(Arc::new(store))
    }

    /// Like [`session_store`](Self::session_store), for a store the caller keeps a handle
    /// to (to inspect it, or to share one store between several layers).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_oidc_login::{session::MemoryStore, AuthConfig, AuthLayer};
    ///
    /// # let config = AuthConfig::from_toml_str(r#"
    /// # [auth]
    /// # redirect_uri = "http://localhost:8501/oauth2callback"
    /// # cookie_secret = "a long random string, at least 32 bytes"
    /// # client_id = "id"
    /// # client_secret = "secret"
    /// # server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
    /// # "#).unwrap();
    /// let store = Arc::new(MemoryStore::default());
    /// let layer = AuthLayer::builder(config).shared_session_store(store.clone()).build()?;
    /// assert!(store.is_empty());
    /// # Ok::<(), tower_oidc_login::ConfigError>(())
    /// ```
    pub fn shared_session_store<S: SessionStore>(mut self, store: Arc<S>) -> Self {
        // The built-in store has a faster, copy-free read path; other stores go through
        // the `SessionStore` trait.
        let any: Arc<dyn std::any::Any + Send + Sync> = store.clone();
        self.memory = any.downcast::<MemoryStore>().ok();
        self.store = Some(store);
        self
    }

    /// The session cookie's name (default [`DEFAULT_COOKIE_NAME`]).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// How long a login lasts (default: `session_lifetime_days` from the config, else 30 days).
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Validates everything and builds the layer. No network access happens here.
    pub fn build(self) -> Result<AuthLayer, ConfigError> {
        let config = self.config;
        let redirect_uri = config.redirect_uri_for_port(self.port)?;
        let post_logout = match config.post_logout_redirect_uri() {
            Some(_) => config.post_logout_redirect_uri_for_port(self.port)?,
            None => None,
        }
        .unwrap_or_else(|| redirect_uri.clone());
        if !is_cookie_name(&self.cookie_name) {
            return Err(ConfigError::InvalidValue {
                key: "cookie_name".into(),
                reason: format!(
                    "\"{}\" is not a valid cookie name (use letters, digits, '_' or '-')",
                    self.cookie_name
                ),
                origin: config.source().clone(),
            });
        }
        let routes = Routes::from_redirect_uri(&redirect_uri);
        let mut providers = BTreeMap::new();
        for provider in config.valid_providers() {
            let name = provider.name().to_owned();
            providers.insert(
                name,
                Arc::new(Provider::new(provider, redirect_uri.clone())?),
            );
        }
        let keys = Keys::derive(config.cookie_secret().expose());
        let secure = redirect_uri.scheme() == "https";
        let cookies = CookieJar::new(&self.cookie_name, &routes.cookie_path, secure, keys);
        let (store, memory) = match self.store {
            Some(store) => (store, self.memory),
            None => {
                let memory = Arc::new(MemoryStore::default());
                (memory.clone() as Arc<dyn SessionStore>, Some(memory))
            }
        };
        let lifetime = self.lifetime.unwrap_or(config.session_lifetime());
        let origin = redirect_uri.origin().ascii_serialization();
        let csrf = CsrfLayer::new()
            .add_trusted_origin(&origin)
            .unwrap_or_else(|_| CsrfLayer::new())
            .with_rejection_response(csrf_rejected as CsrfRejection);
        Ok(AuthLayer {
            state: Arc::new(AuthState {
                providers,
                sessions: Sessions::new(store, memory, lifetime),
                cookies,
                routes,
                expose: config.expose_tokens(),
                post_logout_redirect_uri: post_logout,
                redirect_uri,
                csrf,
            }),
        })
    }
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) type CsrfRejection = fn(ProtectionError) -> Response<Full<Bytes>>;

fn csrf_rejected(_: ProtectionError) -> Response<Full<Bytes>> {
    tracing::warn!("cross-site logout request refused");
    pages::error_page(
        StatusCode::FORBIDDEN,
        "this logout request came from another site and was refused; use the logout button of this site",
        "/",
    )
}

/// The paths the layer answers, all under the path prefix of `redirect_uri`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routes {
    /// `<prefix>/auth/login`.
    pub login: String,
    /// `<prefix>/auth/logout`.
    pub logout: String,
    /// The path of `redirect_uri`, normally `<prefix>/oauth2callback`.
    pub callback: String,
    /// `<prefix>/`: where logout and failed redirects land.
    pub home: String,
    /// The path of every cookie the layer sets: the prefix, or `/`.
    pub cookie_path: String,
}

impl Routes {
    fn from_redirect_uri(redirect_uri: &Url) -> Routes {
        let callback = redirect_uri.path().to_owned();
        let prefix = callback
            .rsplit_once('/')
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        Routes {
            login: format!("{prefix}/auth/login"),
            logout: format!("{prefix}/auth/logout"),
            home: format!("{prefix}/"),
            cookie_path: if prefix.is_empty() {
                "/".into()
            } else {
                prefix
            },
            callback,
        }
    }
}

/// Everything the layer's services share.
pub(crate) struct AuthState {
    pub(crate) providers: BTreeMap<String, Arc<Provider>>,
    pub(crate) sessions: Sessions,
    pub(crate) cookies: CookieJar,
    pub(crate) routes: Routes,
    pub(crate) expose: ExposeTokens,
    pub(crate) post_logout_redirect_uri: Url,
    /// `redirect_uri` itself: its origin is where logins must start (see the login route).
    pub(crate) redirect_uri: Url,
    pub(crate) csrf: CsrfLayer<CsrfRejection>,
}

impl AuthState {
    /// The session id the request's cookie carries, if validly signed.
    pub(crate) fn session_id(&self, headers: &http::HeaderMap) -> Option<Id> {
        self.cookies.session_id(headers)
    }

    /// The visitor of this request when it is known without waiting: always for a request
    /// without a session cookie (which never touches the store), and for the in-memory
    /// store. `Err(id)` means the store must be asked.
    fn current_user_now(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<(Option<Arc<LoggedIn>>, bool), Id> {
        let Some(id) = self.session_id(headers) else {
            let stale = CookieJar::present(headers, &self.cookies.session_name);
            return Ok((None, stale));
        };
        match self.sessions.load_user_now(&id) {
            Some(Some(user)) => Ok((Some(user), false)),
            Some(None) => Ok((None, true)),
            None => Err(id),
        }
    }

    /// The visitor of session `id`, from a store that must be awaited. One whose session
    /// is gone, expired or unreadable is anonymous.
    async fn load_user(&self, id: Id) -> (Option<Arc<LoggedIn>>, bool) {
        match self.sessions.load_user(&id).await {
            Ok(Some(user)) => (Some(user), false),
            Ok(None) => (None, true),
            Err(e) => {
                tracing::error!(error = %e, "session store failed; treating the request as anonymous");
                (None, false)
            }
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
            login_path: Arc::from(self.state.routes.login.as_str()),
        }
    }
}

/// The [`Service`] made by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
    login_path: Arc<str>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type MapBody<R> = fn(Response<R>) -> Response<AuthBody<R>>;

/// The future of [`AuthService`]: the wrapped service's own future when the user was known
/// at once (no allocation on the hot path), else a boxed one.
pub type AuthFuture<F, R, E> =
    FutureEither<MapOk<F, MapBody<R>>, BoxFuture<Result<Response<AuthBody<R>>, E>>>;

impl<S, B, ResBody> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = AuthFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(route) = crate::routes::Route::match_path(&self.state.routes, req.uri().path())
        {
            let state = self.state.clone();
            let (parts, _body) = req.into_parts();
            return FutureEither::Right(Box::pin(async move {
                let response = crate::routes::handle(&state, route, parts).await;
                Ok(response.map(Either::Right))
            }));
        }
        let expose = self.state.expose;
        match self.state.current_user_now(req.headers()) {
            Ok((user, false)) => {
                req.extensions_mut()
                    .insert(User::new(user, expose, self.login_path.clone()));
                let map: MapBody<ResBody> = |response| response.map(Either::Left);
                FutureEither::Left(self.inner.call(req).map_ok(map))
            }
            found => {
                let state = self.state.clone();
                let login_path = self.login_path.clone();
                // Swap in a fresh clone: the one that was polled ready is the one we call.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                FutureEither::Right(Box::pin(async move {
                    let (user, stale_cookie) = match found {
                        Ok(known) => known,
                        Err(id) => state.load_user(id).await,
                    };
                    req.extensions_mut()
                        .insert(User::new(user, expose, login_path));
                    let mut response = inner.call(req).await?;
                    if stale_cookie {
                        response.headers_mut().append(
                            http::header::SET_COOKIE,
                            state.cookies.remove(&state.cookies.session_name),
                        );
                    }
                    Ok(response.map(Either::Left))
                }))
            }
        }
    }
}
