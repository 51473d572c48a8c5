//! [`DevProvider`], the handle to a running development provider (started by the
//! [builder](super::DevProviderBuilder)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

#[cfg(test)]
use serde_json::{Map, Value};

use super::behaviour::Misbehaviour;
#[cfg(test)]
use super::behaviour::{Canned, Endpoint};
use super::records::{DevSession, EndSessionCall, RequestCounts, TokenCall};
use super::server::{self, lock, Shared, Tenancy};
use super::user::DevUser;

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
    /// The handle to a provider the builder started.
    pub(crate) fn from_parts(
        shared: Arc<Shared>,
        port: u16,
        shutdown: oneshot::Sender<()>,
        task: JoinHandle<()>,
    ) -> DevProvider {
        DevProvider {
            shared,
            port,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// The state the handlers share, for the parts of the handle in other files.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The issuer: `http://127.0.0.1:PORT` plus the issuer path, without a trailing slash.
    /// For an [Entra multi-tenant](super::DevProviderBuilder::entra_multi_tenant) provider,
    /// the template `http://127.0.0.1:PORT/{tenantid}/v2.0`.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The discovery document's URL: the issuer plus `/.well-known/openid-configuration`
    /// (for a multi-tenant provider, `common`'s:
    /// `http://127.0.0.1:PORT/common/v2.0/.well-known/openid-configuration`). This is
    /// `server_metadata_url` in `secrets.toml`.
    pub fn server_metadata_url(&self) -> String {
        self.shared.endpoint(server::DISCOVERY_PATH)
    }

    /// On a multi-tenant provider, the issuer of tenant `tid`:
    /// `http://127.0.0.1:PORT/<tid>/v2.0`. On a single-tenant provider, the issuer.
    pub fn tenant_issuer(&self, tid: &str) -> String {
        self.shared.tenant_issuer(tid)
    }

    /// On a multi-tenant provider, the discovery document of `tenant`: a tenant id, or
    /// `common` or `organizations` (`http://127.0.0.1:PORT/<tenant>/v2.0/.well-known/openid-configuration`).
    /// On a single-tenant provider, [`DevProvider::server_metadata_url`].
    pub fn tenant_metadata_url(&self, tenant: &str) -> String {
        match self.shared.tenancy {
            Tenancy::Single => self.server_metadata_url(),
            Tenancy::EntraMultiTenant => format!(
                "{}/{tenant}/v2.0{}",
                self.shared.origin,
                server::DISCOVERY_PATH
            ),
        }
    }

    /// Whether `url` is the authorization endpoint of one of a multi-tenant provider's
    /// tenants (`/<tenant>/v2.0/authorize` at this provider), whatever the query.
    pub(crate) fn is_tenant_authorization_url(&self, url: &Url) -> bool {
        if self.shared.tenancy != Tenancy::EntraMultiTenant
            || url.origin().ascii_serialization() != self.shared.origin
        {
            return false;
        }
        let mut segments = url.path().trim_start_matches('/').split('/');
        let tenant = segments.next().unwrap_or_default();
        !tenant.is_empty()
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
            && segments.next() == Some("v2.0")
            && segments.next() == Some(server::AUTHORIZE_PATH.trim_start_matches('/'))
            && segments.next().is_none()
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

    /// Ends every refresh token (and access token) issued to the user `sub`, as an
    /// administrator disabling an account or revoking its sessions does: the next refresh
    /// with one of them is refused with `invalid_grant`. Returns how many refresh tokens
    /// ended (rotated-out ones included).
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let provider = DevProvider::start().await?;
    /// assert_eq!(provider.revoke_grants("nobody"), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn revoke_grants(&self, sub: &str) -> usize {
        let ended = self.shared.revoke_grants(sub);
        tracing::debug!(ended, "development provider: grants revoked");
        ended
    }

    /// Every sign-in so far (each a provider-side session with its own `sid`), oldest
    /// first.
    pub fn sessions(&self) -> Vec<DevSession> {
        lock(&self.shared.sessions).clone()
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
