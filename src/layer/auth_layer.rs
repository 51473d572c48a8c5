//! [`AuthLayer`] and its builder: everything validated once, at build time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::service::{AuthService, Shared};
use crate::config::{AuthConfig, ConfigError, Secret, SessionStoreConfig};
use crate::hook::AfterLoginHook;
use crate::keys::KeyRing;
use crate::paths::Routes;
use crate::pending::PENDING_TTL;
use crate::provider::Provider;
use crate::session::{
    CookieJar, MemoryStore, RefreshLocks, SessionStore, Sessions, CACHE_TTL, DEFAULT_MAX_PER_USER,
};
use crate::state::{logout_csrf_check, AuthState, ProviderRules};

/// The longest [`AuthLayerBuilder::login_timeout`]: nobody needs an hour at a sign-in
/// page, and a longer window only keeps a login's sealed nonce and verifier usable longer.
const MAX_LOGIN_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Where the layer's sessions live.
#[derive(Debug)]
enum StoreChoice {
    /// Nothing chosen in code: the in-memory store.
    Default,
    /// The built-in store, read without a copy.
    Memory(Arc<MemoryStore>),
    /// Any other store.
    Other(Arc<dyn SessionStore>),
}

/// Default session cookie name. The login-binding and logout cookies add `_login` and
/// `_logout`.
pub const DEFAULT_COOKIE_NAME: &str = "oidc_session";

/// A tower [`Layer`] that adds OpenID Connect login to any service; see the
/// [module docs](crate::layer).
#[derive(Clone)]
pub struct AuthLayer {
    /// Shared by every service and request of this layer (see `service::Shared`).
    shared: Arc<Shared>,
}

/// Builds an [`AuthLayer`]; everything is validated in [`build`](Self::build).
pub struct AuthLayerBuilder {
    config: AuthConfig,
    port: Option<u16>,
    store: StoreChoice,
    cookie_name: String,
    lifetime: Option<Duration>,
    login_timeout: Duration,
    max_sessions_per_user: usize,
    after_login: Option<Arc<dyn AfterLoginHook>>,
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
            store: StoreChoice::Default,
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            lifetime: None,
            login_timeout: PENDING_TTL,
            max_sessions_per_user: DEFAULT_MAX_PER_USER,
            after_login: None,
        }
    }

    /// Fetches every provider's discovery document and key set now instead of at its
    /// first login, and logs a warning for each provider that is not reachable. The app
    /// works either way: an unreachable provider is retried at the next login.
    pub async fn warm_up(&self) {
        for provider in self.shared.state.providers.values() {
            if let Err(e) = provider.ready().await {
                tracing::warn!(provider = provider.name(), error = %e, "provider not reachable at start-up; login with it will retry");
            }
        }
    }

    /// The paths the layer answers: login, logout and callback.
    pub fn routes(&self) -> &Routes {
        &self.shared.state.routes
    }
}

impl AuthLayerBuilder {
    /// The port the app listens on, substituted for `{port}` in `redirect_uri`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Any tower-sessions 0.14 store (Redis, SQL, moka…) instead of the in-memory default
    /// (or the one `session_store` names in the configuration). A store shared by several
    /// replicas lets every replica serve every user; each replica keeps what it read from
    /// the store for under a second, so a session ended on one replica stops working on
    /// the others within a second.
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
        self.store = match any.downcast::<MemoryStore>() {
            Ok(memory) => StoreChoice::Memory(memory),
            Err(_) => StoreChoice::Other(store),
        };
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

    /// How long a visitor may spend at the provider, from `/auth/login` to the callback,
    /// before the login expires and must be started again (default 10 minutes; more than
    /// zero, at most an hour).
    pub fn login_timeout(mut self, timeout: Duration) -> Self {
        self.login_timeout = timeout;
        self
    }

    /// The most sessions one user (a provider's `sub`) keeps at once (default 32): a login
    /// past it ends that user's oldest session, so one account cannot fill the session
    /// store. At least 1.
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_sessions_per_user = max;
        self
    }

    /// The app's after-login hook: called once per login with the verified user (and the
    /// access token), before the session is stored, to admit, refuse (with a reason shown to
    /// the user) or add claims. See [`crate::hook`].
    pub fn after_login(mut self, hook: impl AfterLoginHook) -> Self {
        self.after_login = Some(Arc::new(hook));
        self
    }

    /// Validates everything and builds the layer. No network access happens here.
    pub fn build(self) -> Result<AuthLayer, ConfigError> {
        let config = self.config;
        let redirect_uri = config.redirect_uri_for_port(self.port)?;
        // A mistaken port would otherwise be found by the first user to log in. (A proxy or
        // another replica on this machine serving the redirect URI's port: leave out .port().)
        config.check_served_port(&redirect_uri, self.port)?;
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
        if self.login_timeout.is_zero() || self.login_timeout > MAX_LOGIN_TIMEOUT {
            return Err(ConfigError::InvalidValue {
                key: "login_timeout".into(),
                reason: format!(
                    "{} seconds is out of range; it must be more than 0 and at most {} seconds",
                    self.login_timeout.as_secs(),
                    MAX_LOGIN_TIMEOUT.as_secs()
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
                Arc::new(Provider::new(
                    provider,
                    redirect_uri.clone(),
                    config.platform(),
                )?),
            );
        }
        let keys = KeyRing::derive(config.cookie_secrets().map(Secret::expose));
        let secure = redirect_uri.scheme() == "https";
        let cookies = CookieJar::new(&self.cookie_name, &routes.cookie_path, secure, keys.clone());
        let lifetime = self.lifetime.unwrap_or(config.session_lifetime());
        let sessions = match self.store {
            StoreChoice::Default => configured_sessions(&config, lifetime)?,
            StoreChoice::Memory(memory) => Sessions::in_memory(memory, lifetime),
            StoreChoice::Other(store) => Sessions::external(store, lifetime, CACHE_TTL),
        }
        .with_max_per_user(self.max_sessions_per_user)
        .with_idle_timeout(config.session_idle_timeout())
        .with_admission(Arc::new(ProviderRules(providers.clone())));
        let csrf = logout_csrf_check(&redirect_uri);
        let state = Arc::new(AuthState {
            providers,
            sessions,
            cookies,
            routes,
            expose: config.expose_tokens(),
            post_logout_redirect_uri: post_logout,
            redirect_uri,
            csrf,
            login_lifetime: self.login_timeout,
            after_login: self.after_login,
            keys,
            follows_provider: config.session_follows_provider(),
            refresh_locks: RefreshLocks::default(),
            canonical_host: config.canonical_host(),
            ignored_headers: Default::default(),
        });
        Ok(AuthLayer {
            shared: Shared::new(state),
        })
    }
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, self.shared.clone())
    }
}

impl fmt::Debug for AuthLayer {
    // The state holds keys and the store: show what the layer answers, nothing secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("routes", &self.shared.state.routes)
            .field(
                "providers",
                &self.shared.state.providers.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `AuthConfig`'s own Debug redacts its secrets.
        f.debug_struct("AuthLayerBuilder")
            .field("config", &self.config)
            .field("port", &self.port)
            .field("store", &self.store)
            .field("cookie_name", &self.cookie_name)
            .field("lifetime", &self.lifetime)
            .field("login_timeout", &self.login_timeout)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("after_login", &self.after_login.is_some())
            .finish()
    }
}

/// The store `session_store` names, opened. Not set: the in-memory store, with a warning,
/// since sessions then end at every restart and are not shared between replicas.
fn configured_sessions(config: &AuthConfig, lifetime: Duration) -> Result<Sessions, ConfigError> {
    const KEY: &str = "auth.session_store";
    let failed = |reason: String| ConfigError::InvalidValue {
        key: KEY.to_owned(),
        reason,
        origin: config.origin_of(KEY),
    };
    let store: Arc<dyn SessionStore> = match config.session_store() {
        None => {
            tracing::warn!(
                "sessions are kept in memory: they end when the app restarts and are not shared \
                 between replicas; set `session_store` in [auth] (or OIDC_AUTH__SESSION_STORE) to \
                 \"sqlite://PATH\" or \"redis://HOST:PORT\" to keep them, or to \"memory\" to \
                 silence this warning"
            );
            return Ok(Sessions::in_memory(
                Arc::new(MemoryStore::default()),
                lifetime,
            ));
        }
        Some(SessionStoreConfig::Memory) => {
            return Ok(Sessions::in_memory(
                Arc::new(MemoryStore::default()),
                lifetime,
            ))
        }
        Some(SessionStoreConfig::Sqlite(path)) => {
            crate::session::open_sqlite(path).map_err(failed)?
        }
        Some(SessionStoreConfig::Redis(url)) => {
            let shown = crate::config::redact_userinfo(url.expose());
            crate::session::open_redis(url.expose(), &shown).map_err(failed)?
        }
    };
    Ok(Sessions::external(store, lifetime, CACHE_TTL))
}
