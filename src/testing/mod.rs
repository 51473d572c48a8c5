//! An embedded development OpenID provider, for examples and integration tests.
//!
//! [`DevProvider`] is a real OpenID Connect provider served on a loopback port
//! (`127.0.0.1` only). It speaks the authorization code flow with PKCE exactly as a hosted
//! provider does — discovery, a key set, a sign-in page, a token endpoint with client
//! authentication, userinfo and RP-initiated logout — so an app configured for it is
//! configured the way it will be in production, with a different `server_metadata_url`.
//!
//! There are no passwords: its sign-in page asks for a name, an email and optional extra
//! claims, and signs in whoever you type. **Never use it in production.** It signs ID tokens
//! with two RSA keys embedded in this crate (`src/testing/dev_key_*.pem`); those keys are
//! published with the source code and are not secret, so tokens it signs prove nothing to
//! anyone but a test.
//!
//! # Endpoints
//!
//! All under the [issuer](DevProvider::issuer), `http://127.0.0.1:PORT` plus an optional
//! [path](DevProviderBuilder::issuer_path):
//!
//! | Endpoint | Path |
//! |---|---|
//! | Discovery | `GET /.well-known/openid-configuration` |
//! | Key set | `GET /jwks` |
//! | Authorization (sign-in form) | `GET /authorize`, `POST /authorize` |
//! | Token | `POST /token` |
//! | Userinfo | `GET` or `POST /userinfo` |
//! | End session (logout) | `GET` or `POST /logout` |
//!
//! Some [misbehaviours](Misbehaviour) use three more: `GET /jwks/<random>` (the key set at a
//! randomised `jwks_uri`), and `GET /attacker/jwks` and `GET /attacker/cert.pem`, where
//! tokens signed with an unpublished key point (counted in
//! [`RequestCounts::attacker_keys`]).
//!
//! # A zero-setup login for an example app
//!
//! With no `secrets.toml`, start a provider and build the configuration from
//! [`DevProvider::secrets_toml`]; the provider stops when the handle is dropped, so keep it
//! alive as long as the app runs.
//!
//! ```
//! use tower_oidc_login::testing::DevProvider;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let provider = DevProvider::start().await?;
//! let secrets = provider.secrets_toml(
//!     "http://localhost:8000/oauth2callback",
//!     "a cookie secret for development only",
//! );
//! assert!(secrets.starts_with("[auth]\n"));
//! assert!(secrets.contains(&provider.server_metadata_url()));
//! // Hand `secrets` to the app's configuration loader, then serve the app.
//! # Ok(())
//! # }
//! ```
//!
//! # Logging in from an integration test
//!
//! [`DevProvider::login_as`] drives the whole browser flow against a running app over HTTP
//! and returns the app's session cookie:
//!
//! ```no_run
//! use tower_oidc_login::testing::{DevProvider, DevUser};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = DevProvider::builder()
//!     .redirect_uri("http://127.0.0.1:8000/oauth2callback")
//!     .start()
//!     .await?;
//! // … start the app on port 8000, configured with provider.secrets_toml(…) …
//! let user = DevUser::new("Alice", "alice@example.com").claim("groups", serde_json::json!(["admin"]));
//! let login = provider
//!     .login_as("http://127.0.0.1:8000/auth/login", &user)
//!     .await?;
//! let page = reqwest::Client::new()
//!     .get("http://127.0.0.1:8000/")
//!     .header("cookie", &login.cookie)
//!     .send()
//!     .await?;
//! assert!(page.status().is_success());
//! assert_eq!(provider.request_counts().token, 1);
//! # Ok(())
//! # }
//! ```

//!
//! # Misbehaving on purpose
//!
//! A provider can be broken or hostile: a token with a wrong `iss`, an unsigned token, a key
//! set that is down, a token endpoint that never answers… [`DevProvider::misbehave`] switches
//! on one such [`Misbehaviour`] (each reproduces a case of the OpenID Foundation's RP
//! certification or a known attack, named in its documentation) so a test can prove the app
//! refuses the login, and [`DevProvider::request_counts`] shows what the app asked the
//! provider before giving up:
//!
//! ```no_run
//! use tower_oidc_login::testing::{DevLoginError, DevProvider, DevUser, LoginStep, Misbehaviour};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = DevProvider::start().await?;
//! // … start the app on port 8000, configured with provider.secrets_toml(…) …
//! provider.misbehave(Misbehaviour::AlgNone);
//! let user = DevUser::new("Mallory", "mallory@example.com");
//! match provider.login_as("http://127.0.0.1:8000/auth/login", &user).await {
//!     Err(DevLoginError::UnexpectedStatus { step: LoginStep::AppCallback, status: 400, .. }) => {}
//!     other => panic!("an unsigned ID token must be refused, got {other:?}"),
//! }
//! assert_eq!(provider.request_counts().userinfo, 0);
//!
//! provider.behave();
//! provider.login_as("http://127.0.0.1:8000/auth/login", &user).await?;
//! # Ok(())
//! # }
//! ```

mod behaviour;
mod fallback;
mod keys;
mod login_as;
mod pages;
mod server;
mod tokens;
mod user;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use crate::config::TokenEndpointAuth;
pub use behaviour::{Endpoint, Misbehaviour};
pub use fallback::{config_or_dev_provider, FallbackError};
pub use login_as::{DevLogin, DevLoginError, LoginStep};
pub use user::DevUser;

use server::{lock, AcceptedAuth, Shared, SharedConfig};

/// How many requests each endpoint has received (valid or not), from
/// [`DevProvider::request_counts`].
///
/// ```
/// use tower_oidc_login::testing::DevProvider;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = DevProvider::start().await?;
/// reqwest::get(provider.server_metadata_url()).await?;
/// let counts = provider.request_counts();
/// assert_eq!((counts.discovery, counts.token), (1, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// `GET /.well-known/openid-configuration`.
    pub discovery: u64,
    /// `GET /jwks`.
    pub jwks: u64,
    /// `GET /authorize`: authorization requests (each shows the sign-in form or redirects
    /// with an error).
    pub authorize: u64,
    /// `POST /authorize`: submissions of the sign-in form (sign in or cancel).
    pub sign_in: u64,
    /// `POST /token`.
    pub token: u64,
    /// `/userinfo`.
    pub userinfo: u64,
    /// `/logout` (the end-session endpoint).
    pub end_session: u64,
    /// Requests that reached the target of a redirect sent under
    /// [`Misbehaviour::Redirect`]: a client that never follows redirects leaves it at 0.
    pub redirect_targets: u64,
    /// Requests for the attacker's key set or certificate that tokens signed under the
    /// `ForeignKeyIn*` misbehaviours point at (for example [`Misbehaviour::ForeignKeyInJku`]):
    /// a client that trusts only discovery's key set leaves it at 0.
    pub attacker_keys: u64,
}

/// What one request to the end-session endpoint (`/logout`) carried, from
/// [`DevProvider::end_session_calls`]. Recorded for every request, including refused ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndSessionCall {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `id_token_hint`, as sent (a test can check it is the ID token the app received).
    pub id_token_hint: Option<String>,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `logout_hint`.
    pub logout_hint: Option<String>,
}

/// A running development OpenID provider. It stops when dropped, or with
/// [`DevProvider::shutdown`].
///
/// ```
/// use tower_oidc_login::testing::DevProvider;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = DevProvider::start().await?;
/// assert_eq!(provider.issuer(), format!("http://127.0.0.1:{}", provider.port()));
/// assert_eq!((provider.client_id(), provider.client_secret()), ("dev-client", "dev-secret"));
///
/// let discovery: serde_json::Value =
///     serde_json::from_str(&reqwest::get(provider.server_metadata_url()).await?.text().await?)?;
/// assert_eq!(discovery["issuer"], provider.issuer());
/// # Ok(())
/// # }
/// ```
pub struct DevProvider {
    shared: Arc<Shared>,
    port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl DevProvider {
    /// Starts a provider on a random loopback port with client `dev-client` / `dev-secret`,
    /// accepting any loopback redirect URI and both `client_secret_basic` and
    /// `client_secret_post`. Must be called inside a Tokio runtime.
    pub async fn start() -> io::Result<DevProvider> {
        DevProvider::builder().start().await
    }

    /// A builder for a provider with another client, port, issuer path or registered
    /// redirect URIs.
    pub fn builder() -> DevProviderBuilder {
        DevProviderBuilder::default()
    }

    /// The issuer: `http://127.0.0.1:PORT` plus the issuer path, without a trailing slash.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The discovery document's URL: the issuer plus `/.well-known/openid-configuration`.
    /// This is `server_metadata_url` in `secrets.toml`.
    pub fn server_metadata_url(&self) -> String {
        self.shared.endpoint(server::DISCOVERY_PATH)
    }

    /// The authorization endpoint (the sign-in form).
    pub fn authorization_endpoint(&self) -> String {
        self.shared.endpoint(server::AUTHORIZE_PATH)
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        self.shared.endpoint(server::TOKEN_PATH)
    }

    /// The userinfo endpoint.
    pub fn userinfo_endpoint(&self) -> String {
        self.shared.endpoint(server::USERINFO_PATH)
    }

    /// The key set (`jwks_uri`).
    pub fn jwks_uri(&self) -> String {
        self.shared.endpoint(server::JWKS_PATH)
    }

    /// The end-session (RP-initiated logout) endpoint.
    pub fn end_session_endpoint(&self) -> String {
        self.shared.endpoint(server::END_SESSION_PATH)
    }

    /// The registered client's id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The registered client's secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// The port the provider listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A complete Streamlit-schema `secrets.toml` for one unnamed provider: the `[auth]` table
    /// with `redirect_uri`, `cookie_secret`, `client_id`, `client_secret` and
    /// `server_metadata_url`.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let provider = DevProvider::start().await?;
    /// let toml = provider.secrets_toml("http://localhost:8000/oauth2callback", "not a real secret");
    /// assert_eq!(
    ///     toml,
    ///     format!(
    ///         "[auth]\n\
    ///          redirect_uri = \"http://localhost:8000/oauth2callback\"\n\
    ///          cookie_secret = \"not a real secret\"\n\
    ///          client_id = \"dev-client\"\n\
    ///          client_secret = \"dev-secret\"\n\
    ///          server_metadata_url = \"{}\"\n",
    ///         provider.server_metadata_url()
    ///     )
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn secrets_toml(&self, redirect_uri: &str, cookie_secret: &str) -> String {
        format!(
            "[auth]\nredirect_uri = {}\ncookie_secret = {}\n{}",
            toml_string(redirect_uri),
            toml_string(cookie_secret),
            self.provider_keys()
        )
    }

    /// An `[auth.NAME]` table with this provider's `client_id`, `client_secret` and
    /// `server_metadata_url`, to append to a `secrets.toml` that configures several providers
    /// (its `[auth]` table then holds only `redirect_uri` and `cookie_secret`).
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (corp, partner) = (DevProvider::start().await?, DevProvider::start().await?);
    /// let toml = format!(
    ///     "[auth]\nredirect_uri = \"http://localhost:8000/oauth2callback\"\n\
    ///      cookie_secret = \"not a real secret\"\n\n{}\n{}",
    ///     corp.provider_table("corp"),
    ///     partner.provider_table("partner"),
    /// );
    /// assert!(toml.contains("[auth.corp]\nclient_id = \"dev-client\"\n"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn provider_table(&self, name: &str) -> String {
        format!("[auth.{}]\n{}", toml_key(name), self.provider_keys())
    }

    fn provider_keys(&self) -> String {
        format!(
            "client_id = {}\nclient_secret = {}\nserver_metadata_url = {}\n",
            toml_string(self.client_id()),
            toml_string(self.client_secret()),
            toml_string(&self.server_metadata_url())
        )
    }

    /// How many requests each endpoint has received so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.shared.counters.snapshot()
    }

    /// The ID token the token endpoint issued last, for a test that checks what the app
    /// sends back (an `id_token_hint` must be that token byte for byte).
    pub fn last_issued_id_token(&self) -> Option<String> {
        lock(&self.shared.last_id_token).clone()
    }

    /// Every request the end-session endpoint has received, oldest first.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provider = DevProvider::start().await?;
    /// let logout = format!(
    ///     "{}?client_id=dev-client&post_logout_redirect_uri=http://localhost:8000/&state=s1",
    ///     provider.end_session_endpoint()
    /// );
    /// let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    /// let response = client.get(logout).send().await?;
    /// assert_eq!(response.headers()["location"], "http://localhost:8000/?state=s1");
    ///
    /// let calls = provider.end_session_calls();
    /// assert_eq!(calls[0].client_id.as_deref(), Some("dev-client"));
    /// assert!(calls[0].id_token_hint.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn end_session_calls(&self) -> Vec<EndSessionCall> {
        lock(&self.shared.end_session_calls).clone()
    }

    /// Switches to the other embedded signing key under a new `kid`. From now on ID tokens
    /// are signed with it and the key set publishes only it, so a client that cached the key
    /// set must fetch it again.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let provider = DevProvider::start().await?;
    /// let before = provider.signing_key_id();
    /// provider.rotate_signing_key();
    /// assert_ne!(provider.signing_key_id(), before);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rotate_signing_key(&self) {
        lock(&self.shared.keys).rotate();
    }

    /// The `kid` of the key that signs ID tokens now (the only key in the key set).
    pub fn signing_key_id(&self) -> String {
        lock(&self.shared.keys).kid().to_owned()
    }

    /// Switches `misbehaviour` on: from the next request on, the provider misbehaves that way
    /// (see [`Misbehaviour`] for each way, and the OpenID certification case it reproduces)
    /// until [`DevProvider::behave`]. Several misbehaviours can be on at once; switching on
    /// one that is already on (with other data) replaces it.
    ///
    /// A client caches discovery and the key set, so switch discovery and key-set
    /// misbehaviours on before the client's first login.
    ///
    /// ```
    /// use tower_oidc_login::testing::{DevProvider, Misbehaviour};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provider = DevProvider::start().await?;
    /// provider.misbehave(Misbehaviour::JwksUnavailable);
    /// let keys = reqwest::get(provider.jwks_uri()).await?;
    /// assert_eq!(keys.status(), 503);
    ///
    /// provider.behave();
    /// let keys = reqwest::get(provider.jwks_uri()).await?;
    /// assert_eq!(keys.status(), 200);
    /// // A test of an app would now log in (for example with `login_as`) and check that the
    /// // app refused or accepted the login, and `request_counts()` for what it asked.
    /// assert_eq!(provider.request_counts().jwks, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn misbehave(&self, misbehaviour: Misbehaviour) {
        tracing::debug!(
            ?misbehaviour,
            "development provider: misbehaving from now on"
        );
        lock(&self.shared.behaviour).add(misbehaviour);
    }

    /// Switches every misbehaviour off: from the next request on, the provider behaves.
    pub fn behave(&self) {
        lock(&self.shared.behaviour).misbehaviours.clear();
    }

    /// The misbehaviours switched on, in the order they were switched on.
    pub fn misbehaviours(&self) -> Vec<Misbehaviour> {
        lock(&self.shared.behaviour).misbehaviours.clone()
    }

    /// The user the sign-in form suggests (name, email, extra claims); a `login_hint` in the
    /// authorization request still takes precedence for the email.
    pub fn set_default_user(&self, user: DevUser) {
        *lock(&self.shared.default_user) = user;
    }

    /// Stops the provider and waits until its port is free again (connections still open are
    /// closed once their current request completes, at most after five seconds). Dropping
    /// the provider stops it too, without waiting.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let provider = DevProvider::start().await?;
    /// let port = provider.port();
    /// provider.shutdown().await;
    /// // The same port can host a provider again, e.g. to test "provider down, then up".
    /// let again = DevProvider::builder().port(port).start().await?;
    /// assert_eq!(again.port(), port);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for DevProvider {
    fn drop(&mut self) {
        // The signal lets connections still open (keep-alive) close too; aborting stops
        // accepting at once, without waiting for them.
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for DevProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevProvider")
            .field("issuer", &self.shared.issuer)
            .field("client_id", &self.shared.client_id)
            .finish_non_exhaustive()
    }
}

/// Configures a [`DevProvider`] before starting it.
///
/// ```
/// use tower_oidc_login::testing::{DevProvider, TokenEndpointAuth};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let provider = DevProvider::builder()
///     .client_id("my-app")
///     .client_secret("s3cr3t:with%odd+chars&é")
///     .redirect_uri("http://localhost:8000/oauth2callback")
///     .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost)
///     .issuer_path("/tenant/v2.0")
///     .start()
///     .await?;
/// assert!(provider.issuer().ends_with("/tenant/v2.0"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DevProviderBuilder {
    client_id: String,
    client_secret: String,
    port: u16,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    accepted_auth: AcceptedAuth,
    issuer_path: String,
    default_user: DevUser,
}

impl Default for DevProviderBuilder {
    fn default() -> DevProviderBuilder {
        DevProviderBuilder {
            client_id: "dev-client".to_owned(),
            client_secret: "dev-secret".to_owned(),
            port: 0,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            accepted_auth: AcceptedAuth::Both,
            issuer_path: String::new(),
            default_user: DevUser::default(),
        }
    }
}

impl fmt::Debug for DevProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevProviderBuilder")
            .field("client_id", &self.client_id)
            .field("port", &self.port)
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("accepted_auth", &self.accepted_auth)
            .field("issuer_path", &self.issuer_path)
            .finish_non_exhaustive()
    }
}

impl DevProviderBuilder {
    /// The client id (default `dev-client`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// The client secret (default `dev-secret`).
    pub fn client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.client_secret = client_secret.into();
        self
    }

    /// Listens on this port of 127.0.0.1 instead of a random one (0, the default). A fixed
    /// port lets a test start the app while the provider is down and bring the provider up
    /// later at the same address:
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // Reserve a free port, then release it.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// // … start the app with `server_metadata_url = http://127.0.0.1:{port}/.well-known/…` …
    /// let provider = DevProvider::builder().port(port).start().await?;
    /// assert_eq!(provider.issuer(), format!("http://127.0.0.1:{port}"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Registers a redirect URI; call it again to register several. Authorization requests
    /// must then use one of them exactly. With none registered (the default), any `http` URL
    /// on `127.0.0.1`, `localhost` or `[::1]` is accepted.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uris.push(redirect_uri.into());
        self
    }

    /// Registers a `post_logout_redirect_uri`; call it again to register several. The
    /// end-session endpoint redirects to a registered post-logout URI or a registered
    /// redirect URI (Streamlit logs out back to its `redirect_uri`); with neither
    /// registered, to any loopback `http` URL.
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uris.push(uri.into());
        self
    }

    /// Accepts only this client authentication at the token endpoint and advertises only it
    /// in `token_endpoint_auth_methods_supported`. By default both `client_secret_basic`
    /// and `client_secret_post` are accepted and advertised.
    pub fn token_endpoint_auth(mut self, method: TokenEndpointAuth) -> Self {
        self.accepted_auth = AcceptedAuth::Only(method);
        self
    }

    /// Appends a path to the issuer, as multi-tenant providers do (`/tenant/v2.0` makes the
    /// issuer `http://127.0.0.1:PORT/tenant/v2.0`); every endpoint moves under it. Letters,
    /// digits and `-._~` in `/`-separated segments; a trailing `/` is dropped.
    pub fn issuer_path(mut self, path: impl Into<String>) -> Self {
        self.issuer_path = path.into();
        self
    }

    /// The user the sign-in form suggests (default "Dev User", `dev@example.com`); see
    /// [`DevProvider::set_default_user`].
    pub fn default_user(mut self, user: DevUser) -> Self {
        self.default_user = user;
        self
    }

    /// Binds `127.0.0.1:PORT` and starts serving on the current Tokio runtime.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] for an empty client id, an invalid issuer
    /// path or a registered URI that is not an absolute URL without fragment, and with the
    /// bind error if the port is taken.
    pub async fn start(self) -> io::Result<DevProvider> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        if self.client_id.is_empty() {
            return Err(invalid(
                "the development provider's client_id is empty".into(),
            ));
        }
        let issuer_path = normalize_issuer_path(&self.issuer_path).ok_or_else(|| {
            invalid(format!(
                "invalid issuer path {:?}: use /-separated segments of letters, digits and -._~",
                self.issuer_path
            ))
        })?;
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            match Url::parse(uri) {
                Ok(url) if url.fragment().is_none() => {}
                _ => {
                    return Err(invalid(format!(
                        "registered URI {uri:?} is not an absolute URL without a fragment"
                    )))
                }
            }
        }
        let keys = keys::SigningKeys::load()?;

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::new(SharedConfig {
            issuer: format!("http://127.0.0.1:{port}{issuer_path}"),
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            accepted_auth: self.accepted_auth,
            keys,
            default_user: self.default_user,
        }));
        server::discovery_document(&shared, &behaviour::Behaviour::default()).map_err(invalid)?;

        let app = server::router(Arc::clone(&shared), &issuer_path);
        let (signal, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // A dropped sender is a stop signal too.
                let _ = stop.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "development provider stopped with an error");
            }
        });
        tracing::debug!(issuer = %shared.issuer, "development provider started");
        Ok(DevProvider {
            shared,
            port,
            shutdown: Some(signal),
            task: Some(task),
        })
    }
}

/// `""`, or `/seg/seg` with unreserved characters only (so it is both a valid URL path and a
/// literal axum route).
fn normalize_issuer_path(path: &str) -> Option<String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Some(String::new());
    }
    let rest = trimmed.strip_prefix('/').unwrap_or(trimmed);
    let valid_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    };
    rest.split('/')
        .all(valid_segment)
        .then(|| format!("/{rest}"))
}

/// A TOML basic string, escaped.
fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// A TOML key: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_owned()
    } else {
        toml_string(key)
    }
}
