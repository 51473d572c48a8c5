//! [`DevProvider`], the handle to a running development provider, and
//! [`DevProviderBuilder`], which configures and starts one.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

#[cfg(test)]
use serde_json::{Map, Value};

use super::behaviour::{Behaviour, Misbehaviour};
#[cfg(test)]
use super::behaviour::{Canned, Endpoint};
use super::keys::SigningKeys;
use super::records::{EndSessionCall, RequestCounts, TokenCall};
use super::server::{self, lock, AcceptedAuth, Shared, SharedConfig};
use super::user::DevUser;
use crate::config::TokenEndpointAuth;

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

    /// Every request the token endpoint has received, oldest first: how the client
    /// authenticated and what it sent (see [`TokenCall`] for an example).
    pub fn token_calls(&self) -> Vec<TokenCall> {
        lock(&self.shared.token_calls).clone()
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
        lock(&self.shared.behaviour).behave();
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

/// Test-only switches for this crate's tests of its own OpenID client, for exact values and
/// answers no [`Misbehaviour`] describes (see [`TestHooks`](super::behaviour::TestHooks));
/// [`DevProvider::behave`] switches them off too.
#[cfg(test)]
impl DevProvider {
    /// From the next token request on, `edit` rewrites each ID token's header and claims just
    /// before signing. An `alg` of `RS384` or `RS512` in the edited header is signed with it.
    pub(crate) fn edit_id_tokens(
        &self,
        edit: impl Fn(&mut Map<String, Value>, &mut Map<String, Value>) + Send + Sync + 'static,
    ) {
        lock(&self.shared.behaviour).hooks.id_token_edit = Some(Arc::new(edit));
    }

    /// From the next request on, discovery sets `name` to `value` (`Value::Null` removes it).
    pub(crate) fn discovery_field(&self, name: &str, value: Value) {
        lock(&self.shared.behaviour)
            .hooks
            .discovery_fields
            .insert(name.to_owned(), value);
    }

    /// From the next request on, `endpoint` answers every request with `answer`, or with its
    /// own answer again for `None`.
    pub(crate) fn answer_with(&self, endpoint: Endpoint, answer: Option<Canned>) {
        let mut behaviour = lock(&self.shared.behaviour);
        let answers = &mut behaviour.hooks.answers;
        answers.retain(|(e, _)| *e != endpoint);
        if let Some(answer) = answer {
            answers.push((endpoint, answer));
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
        let keys = SigningKeys::load()?;

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
        server::discovery_document(&shared, &Behaviour::default()).map_err(invalid)?;

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
