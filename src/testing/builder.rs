//! [`DevProviderBuilder`], which configures and starts a [`DevProvider`].

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

use super::behaviour::{Behaviour, DEFAULT_TOKEN_LIFETIME};
use super::dev_provider::DevProvider;
use super::keys::SigningKeys;
use super::registration::{
    ClientAuthMethod, FederatedCredential, RefreshTokenIssue, RefreshTokenRotation,
};
use super::server::{
    self, AcceptedAuth, Federated, JwkSet, Realm, Shared, SharedConfig, Tenancy,
    MULTI_TENANT_PREFIX,
};
use super::user::DevUser;
use crate::config::TokenEndpointAuth;

impl DevProvider {
    /// Starts a provider on a random loopback port with client `dev-client` / `dev-secret`,
    /// accepting any loopback redirect URI and both `client_secret_basic` and
    /// `client_secret_post`. Must be called inside a Tokio runtime.
    pub async fn start() -> io::Result<DevProvider> {
        DevProvider::builder().start().await
    }

    /// A builder for a provider with another client, port, issuer path, registered URIs,
    /// client authentication, refresh tokens, token lifetimes or tenancy.
    pub fn builder() -> DevProviderBuilder {
        DevProviderBuilder::default()
    }
}

/// Configures a [`DevProvider`] before starting it.
///
/// ```
/// use std::time::Duration;
/// use tower_oidc_login::testing::{DevProvider, RefreshTokenIssue, TokenEndpointAuth};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let provider = DevProvider::builder()
///     .client_id("my-app")
///     .client_secret("s3cr3t:with%odd+chars&é")
///     .redirect_uri("http://localhost:8000/oauth2callback")
///     .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost)
///     .issuer_path("/tenant/v2.0")
///     .refresh_tokens(RefreshTokenIssue::Always)
///     .access_token_lifetime(Duration::from_secs(2))
///     .backchannel_logout_uri("http://localhost:8000/auth/backchannel-logout")
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
    backchannel_logout_uri: Option<String>,
    frontchannel_logout_uri: Option<String>,
    /// `None`: the default set (the secret methods, plus the assertion methods that have
    /// keys registered).
    client_auth: Option<Vec<ClientAuthMethod>>,
    client_jwks: Vec<Value>,
    federated: Vec<FederatedCredential>,
    refresh_issue: RefreshTokenIssue,
    refresh_rotation: RefreshTokenRotation,
    access_token_lifetime: Duration,
    id_token_lifetime: Duration,
    issuer_path: String,
    tenancy: Tenancy,
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
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            client_auth: None,
            client_jwks: Vec::new(),
            federated: Vec::new(),
            refresh_issue: RefreshTokenIssue::default(),
            refresh_rotation: RefreshTokenRotation::default(),
            access_token_lifetime: DEFAULT_TOKEN_LIFETIME,
            id_token_lifetime: DEFAULT_TOKEN_LIFETIME,
            issuer_path: String::new(),
            tenancy: Tenancy::Single,
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
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .field("frontchannel_logout_uri", &self.frontchannel_logout_uri)
            .field("client_auth", &self.client_auth)
            .field("refresh_issue", &self.refresh_issue)
            .field("refresh_rotation", &self.refresh_rotation)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("id_token_lifetime", &self.id_token_lifetime)
            .field("issuer_path", &self.issuer_path)
            .field("tenancy", &self.tenancy)
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

    /// Registers the client's `backchannel_logout_uri` (OpenID Connect Back-Channel Logout
    /// 1.0 section 2.2), where
    /// [`DevProvider::backchannel_logout`](super::DevProvider::backchannel_logout) posts
    /// logout tokens. Without one, there is nowhere to send them.
    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// Registers the client's `frontchannel_logout_uri` (OpenID Connect Front-Channel Logout
    /// 1.0 section 2), from which
    /// [`DevProvider::frontchannel_logout_url`](super::DevProvider::frontchannel_logout_url)
    /// builds the URL a provider's logout page loads in an iframe.
    pub fn frontchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.frontchannel_logout_uri = Some(uri.into());
        self
    }

    /// Accepts only this client authentication at the token endpoint and advertises only it
    /// in `token_endpoint_auth_methods_supported`. By default both `client_secret_basic`
    /// and `client_secret_post` are accepted and advertised (and the assertion methods whose
    /// keys are registered). The same as
    /// [`client_auth_methods`](DevProviderBuilder::client_auth_methods) with one method.
    pub fn token_endpoint_auth(self, method: TokenEndpointAuth) -> Self {
        self.client_auth_methods([ClientAuthMethod::from(method)])
    }

    /// Accepts exactly these client authentication methods (several at once is fine) and
    /// advertises them. By default: `client_secret_basic`, `client_secret_post`,
    /// [`ClientAuthMethod::PrivateKeyJwt`] when [client keys](DevProviderBuilder::client_jwks)
    /// are registered and [`ClientAuthMethod::FederatedCredential`] when a
    /// [federated credential](DevProviderBuilder::federated_credential) is. `start()` fails
    /// for an empty list, or an assertion method without its keys.
    pub fn client_auth_methods(
        mut self,
        methods: impl IntoIterator<Item = ClientAuthMethod>,
    ) -> Self {
        self.client_auth = Some(methods.into_iter().collect());
        self
    }

    /// Registers the client's public keys for `private_key_jwt`: a JWK Set (`{"keys":
    /// [...]}`) of RSA keys (RS256) and P-256 keys (ES256), such as
    /// [`DevClientKey::jwks`](super::DevClientKey::jwks); call it again to add more. A key
    /// with `x5c` or `x5t#S256` can be found by the assertion header's `x5t#S256` thumbprint
    /// as well as by `kid`.
    pub fn client_jwks(mut self, jwks: Value) -> Self {
        self.client_jwks.push(jwks);
        self
    }

    /// Trusts a third party's tokens as the client's `client_assertion` (see
    /// [`FederatedCredential`]); call it again to trust several.
    pub fn federated_credential(mut self, credential: FederatedCredential) -> Self {
        self.federated.push(credential);
        self
    }

    /// When the code exchange issues a refresh token: with `offline_access` in the scope
    /// (the default), always, or never.
    pub fn refresh_tokens(mut self, issue: RefreshTokenIssue) -> Self {
        self.refresh_issue = issue;
        self
    }

    /// Whether a refresh rotates the refresh token (the default, with reuse detection) or
    /// keeps it.
    pub fn refresh_token_rotation(mut self, rotation: RefreshTokenRotation) -> Self {
        self.refresh_rotation = rotation;
        self
    }

    /// How long access tokens live (`expires_in`, and how long userinfo accepts them);
    /// default one hour. Whole seconds: a few seconds let a test wait for one to expire.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// How long ID tokens live (`exp - iat`); default one hour. Whole seconds.
    pub fn id_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.id_token_lifetime = lifetime;
        self
    }

    /// Appends a path to the issuer, as single-tenant Entra endpoints have (`/tenant/v2.0`
    /// makes the issuer `http://127.0.0.1:PORT/tenant/v2.0`); every endpoint moves under it.
    /// Letters, digits and `-._~` in `/`-separated segments; a trailing `/` is dropped.
    pub fn issuer_path(mut self, path: impl Into<String>) -> Self {
        self.issuer_path = path.into();
        self
    }

    /// Shapes the provider like Microsoft Entra ID's multi-tenant endpoints. Every endpoint
    /// is served under `/{tenant}/v2.0/` for `common`, `organizations` and any tenant id:
    ///
    /// - `/common/v2.0/.well-known/openid-configuration` (the
    ///   [`server_metadata_url`](super::DevProvider::server_metadata_url)) and
    ///   `/organizations/v2.0/…` name the templated issuer
    ///   `http://127.0.0.1:PORT/{tenantid}/v2.0` (literally, braces included), and their
    ///   endpoints under their own path;
    /// - `/<tid>/v2.0/.well-known/openid-configuration` names that tenant's issuer
    ///   `http://127.0.0.1:PORT/<tid>/v2.0`;
    /// - ID tokens carry the user's `tid` ([`DevUser::with_tenant`], else the tenant signed in
    ///   through, else [`DevUser::DEFAULT_TENANT`]) and `iss` = the template with that `tid`;
    /// - like Entra, authorization responses carry no `iss` and discovery does not advertise
    ///   `authorization_response_iss_parameter_supported`.
    ///
    /// [`DevProvider::issuer`](super::DevProvider::issuer) is then the template, and
    /// [`DevProvider::tenant_issuer`](super::DevProvider::tenant_issuer) and
    /// [`DevProvider::tenant_metadata_url`](super::DevProvider::tenant_metadata_url) give a
    /// tenant's. Cannot be combined with an issuer path.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provider = DevProvider::builder().entra_multi_tenant().start().await?;
    /// let port = provider.port();
    /// assert_eq!(provider.issuer(), format!("http://127.0.0.1:{port}/{{tenantid}}/v2.0"));
    /// let common: serde_json::Value =
    ///     serde_json::from_str(&reqwest::get(provider.server_metadata_url()).await?.text().await?)?;
    /// assert_eq!(common["issuer"], provider.issuer());
    /// let tenant: serde_json::Value = serde_json::from_str(
    ///     &reqwest::get(provider.tenant_metadata_url("t1")).await?.text().await?,
    /// )?;
    /// assert_eq!(tenant["issuer"], format!("http://127.0.0.1:{port}/t1/v2.0"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn entra_multi_tenant(mut self) -> Self {
        self.tenancy = Tenancy::EntraMultiTenant;
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
    /// path (or one on a multi-tenant provider), a registered URI that is not an absolute URL
    /// without fragment, a key set that does not parse, or client authentication methods
    /// that are empty or lack their keys; and with the bind error if the port is taken.
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
        if self.tenancy == Tenancy::EntraMultiTenant && !issuer_path.is_empty() {
            return Err(invalid(
                "a multi-tenant provider has no issuer path: its paths are /{tenant}/v2.0".into(),
            ));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
            .chain(&self.backchannel_logout_uri)
            .chain(&self.frontchannel_logout_uri)
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
        let mut client_keys = JwkSet::default();
        for jwks in &self.client_jwks {
            client_keys
                .extend(JwkSet::parse(jwks).map_err(|e| invalid(format!("client_jwks: {e}")))?);
        }
        let mut federated = Vec::new();
        for credential in &self.federated {
            let keys = JwkSet::parse(&credential.jwks).map_err(|e| {
                invalid(format!(
                    "the federated credential of {:?}: {e}",
                    credential.issuer
                ))
            })?;
            federated.push(Federated {
                issuer: credential.issuer.clone(),
                subject: credential.subject.clone(),
                audience: credential.audience.clone(),
                keys,
            });
        }
        let accepted_auth = accepted_auth(self.client_auth, &client_keys, &federated)
            .map_err(|e| invalid(e.to_owned()))?;
        let keys = SigningKeys::load()?;

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let port = listener.local_addr()?.port();
        let origin = format!("http://127.0.0.1:{port}");
        let (base, issuer, prefix, realm) = match self.tenancy {
            Tenancy::Single => {
                let issuer = format!("{origin}{issuer_path}");
                (issuer.clone(), issuer, issuer_path, Realm::Single)
            }
            Tenancy::EntraMultiTenant => (
                format!("{origin}/common/v2.0"),
                format!("{origin}/{{tenantid}}/v2.0"),
                MULTI_TENANT_PREFIX.to_owned(),
                Realm::Template("common".to_owned()),
            ),
        };
        let shared = Arc::new(Shared::new(SharedConfig {
            origin,
            base,
            issuer,
            tenancy: self.tenancy,
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri,
            frontchannel_logout_uri: self.frontchannel_logout_uri,
            accepted_auth,
            client_keys,
            federated,
            refresh_issue: self.refresh_issue,
            refresh_rotation: self.refresh_rotation,
            keys,
            default_user: self.default_user,
            behaviour: Behaviour {
                access_token_lifetime: self.access_token_lifetime,
                id_token_lifetime: self.id_token_lifetime,
                ..Behaviour::default()
            },
        }));
        server::discovery_document(&shared, &Behaviour::default(), &realm).map_err(invalid)?;

        let app = server::router(Arc::clone(&shared), &prefix);
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
        Ok(DevProvider::from_parts(shared, port, signal, task))
    }
}

/// The methods the token endpoint accepts: the chosen ones, or the default set.
fn accepted_auth(
    chosen: Option<Vec<ClientAuthMethod>>,
    client_keys: &JwkSet,
    federated: &[Federated],
) -> Result<AcceptedAuth, &'static str> {
    let methods = chosen.unwrap_or_else(|| {
        let mut methods = vec![
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
        ];
        if !client_keys.is_empty() {
            methods.push(ClientAuthMethod::PrivateKeyJwt);
        }
        if !federated.is_empty() {
            methods.push(ClientAuthMethod::FederatedCredential);
        }
        methods
    });
    if methods.contains(&ClientAuthMethod::PrivateKeyJwt) && client_keys.is_empty() {
        return Err("private_key_jwt is accepted but no client key is registered (client_jwks)");
    }
    if methods.contains(&ClientAuthMethod::FederatedCredential) && federated.is_empty() {
        return Err(
            "federated credentials are accepted but none is registered (federated_credential)",
        );
    }
    AcceptedAuth::new(methods).ok_or("no client authentication method is accepted")
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
