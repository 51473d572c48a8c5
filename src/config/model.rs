//! The validated configuration: what the layer reads.
//!
//! Values only get here through the rules (a file, the environment or the builder, see
//! `finish`), so every field holds a checked value and nothing downstream checks it again.
//! Fields are private; getters keep the types free to grow (new keys, typed values) without
//! breaking callers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use url::Url;

use super::access::AccessRules;
use super::credential::ClientCredential;
use super::error::{ConfigError, ConfigSource};
use super::platform::Platform;
use super::platform::WEBSITE_HOSTNAME;
use super::provenance::{key_and_parents, Provenance};
use super::schema::DEFAULT_PROVIDER;
pub use super::secret::Secret;
use super::uri::{
    check_served_port, resolve_redirect_uri, substitute_host, substitute_port, UriKind,
};
use super::values::At;

/// Which tokens handlers may read through [`crate::User::tokens`] (Streamlit's `expose_tokens`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExposeTokens {
    /// `"id"`: the raw ID token.
    pub id: bool,
    /// `"access"`: the access token.
    pub access: bool,
}

/// How the client authenticates at the token endpoint (`client_kwargs.token_endpoint_auth_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenEndpointAuth {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

/// Streamlit's `client_kwargs`, with the meaning Authlib gives its keys.
///
/// Set in code with the [`ProviderConfig`] builder methods ([`ProviderConfig::scope`],
/// [`ProviderConfig::param`]…).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientKwargs {
    pub(super) scope: Vec<String>,
    pub(super) prompt: Option<String>,
    pub(super) token_endpoint_auth_method: Option<TokenEndpointAuth>,
    pub(super) timeout: Duration,
    pub(super) authorize_params: Vec<(String, String)>,
}

impl ClientKwargs {
    /// Scopes; default `openid email profile`. Always contains `openid` once validated.
    pub fn scope(&self) -> &[String] {
        &self.scope
    }

    /// The `prompt` parameter; default `select_account`. `None` sends no prompt.
    pub fn prompt(&self) -> Option<&str> {
        self.prompt.as_deref()
    }

    /// `None`: `client_secret_basic`, unless the provider advertises only `client_secret_post`.
    pub fn token_endpoint_auth_method(&self) -> Option<TokenEndpointAuth> {
        self.token_endpoint_auth_method
    }

    /// Timeout for each request to the provider; default 10 s.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Every other string in `client_kwargs` (and the `authorize_params` table), sent as an
    /// authorization parameter (`domain_hint`, `login_hint`, `audience`, `acr_values`…), in
    /// file order.
    pub fn authorize_params(&self) -> &[(String, String)] {
        &self.authorize_params
    }
}

impl Default for ClientKwargs {
    fn default() -> Self {
        ClientKwargs {
            scope: vec!["openid".into(), "email".into(), "profile".into()],
            prompt: Some("select_account".into()),
            token_endpoint_auth_method: None,
            timeout: Duration::from_secs(10),
            authorize_params: Vec::new(),
        }
    }
}

/// The optional settings of a provider other than `client_kwargs`, each `None` until given.
/// A key of `schema::PROVIDER_DEFAULT_KEYS` may also be given in `[auth]` for every provider;
/// [`ProviderSettings::over`] resolves the two. Drafts hold this very struct, so nothing
/// else needs to carry them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ProviderSettings {
    /// Who may log in (`allowed_*`, `allow_any_tenant`).
    pub(super) rules: AccessRules,
    /// `fetch_userinfo`: merge the userinfo response into the claims.
    pub(super) fetch_userinfo: Option<bool>,
}

impl ProviderSettings {
    /// A provider's own settings, each falling back to the one set in `[auth]` for every
    /// provider.
    pub(super) fn over(self, defaults: &ProviderSettings) -> ProviderSettings {
        // Destructured so that a new field cannot be left out: `x: self.x.or(x.clone())`.
        // `fetch_userinfo` is a provider's own key: `[auth]` gives no default for it.
        let ProviderSettings {
            rules,
            fetch_userinfo: _,
        } = defaults;
        ProviderSettings {
            rules: self.rules.over(rules),
            fetch_userinfo: self.fetch_userinfo,
        }
    }
}

/// One OpenID provider: `[auth]` itself (named `default`) or an `[auth.NAME]` table.
///
/// Made in code with [`ProviderConfig::new`] and its builder methods, and checked when
/// [`AuthConfigBuilder::build`](crate::AuthConfigBuilder::build) runs; the ones an
/// [`AuthConfig`] hands out are always checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderConfig {
    pub(super) name: String,
    pub(super) client_id: String,
    pub(super) credential: ClientCredential,
    pub(super) server_metadata_url: String,
    pub(super) client_kwargs: ClientKwargs,
    pub(super) settings: ProviderSettings,
}

impl ProviderConfig {
    /// `default` for the unnamed provider, else the table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `client_id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `client_secret`, when that is how the app authenticates (see
    /// [`ProviderConfig::credential`]).
    pub fn client_secret(&self) -> Option<&Secret> {
        match &self.credential {
            ClientCredential::Secret(secret) => Some(secret),
            _ => None,
        }
    }

    /// How the app authenticates at the token endpoint: `client_secret`, a private key, or
    /// a client assertion from the platform.
    pub fn credential(&self) -> &ClientCredential {
        &self.credential
    }

    /// `server_metadata_url` as written: the discovery document's URL.
    pub fn server_metadata_url(&self) -> &str {
        &self.server_metadata_url
    }

    /// `client_kwargs`.
    pub fn client_kwargs(&self) -> &ClientKwargs {
        &self.client_kwargs
    }

    /// Who may log in with this provider: its `allowed_*` keys, each falling back to the
    /// one in `[auth]`.
    pub fn access_rules(&self) -> &AccessRules {
        &self.settings.rules
    }

    /// `fetch_userinfo`: whether the userinfo response is merged into the claims at login
    /// and at refresh (one more request to the provider each time). Default `false`.
    pub fn fetches_userinfo(&self) -> bool {
        self.settings.fetch_userinfo.unwrap_or(false)
    }
}

/// A provider that went through the rules: its settings, its parsed discovery URL and where
/// each of its values came from. Only [`AuthConfig`] holds these, so a `ValidProvider` is
/// proof that nothing in it needs checking again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidProvider {
    pub(super) config: ProviderConfig,
    pub(super) discovery_url: Url,
    /// The dotted key of its table: `auth` (provider keys directly in `[auth]`),
    /// `auth.default`, `auth.google`.
    pub(super) prefix: String,
    /// Where its table came from.
    pub(super) origin: ConfigSource,
    pub(super) provenance: Provenance,
}

impl ValidProvider {
    /// The provider's settings.
    pub(crate) fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The provider's name.
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// `server_metadata_url`, parsed.
    pub(crate) fn discovery_url(&self) -> &Url {
        &self.discovery_url
    }

    /// The dotted key of one of its settings, e.g. `auth.google.client_kwargs`.
    pub(crate) fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.prefix)
    }

    /// Where `key` (a dotted key of this provider) came from: the value's own origin, else
    /// that of the nearest table holding it.
    pub(crate) fn origin_of(&self, key: &str) -> ConfigSource {
        key_and_parents(key)
            .find_map(|k| self.provenance.get(k))
            .unwrap_or(&self.origin)
            .clone()
    }

    /// A provider as given, without any rule run on it, for tests that need values the
    /// configuration refuses (to exercise the provider's own backstops).
    #[cfg(test)]
    pub(crate) fn unchecked(config: ProviderConfig, discovery_url: Url) -> ValidProvider {
        let prefix = if config.name == DEFAULT_PROVIDER {
            "auth".to_owned()
        } else {
            format!("auth.{}", config.name)
        };
        ValidProvider {
            config,
            discovery_url,
            prefix,
            origin: ConfigSource::Builder,
            provenance: Provenance::default(),
        }
    }
}

/// The default session lifetime: 30 days, like Streamlit's auth cookie.
const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Where sessions live (`session_store`).
///
/// `Debug` never shows a Redis password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStoreConfig {
    /// `"memory"`: in this process; gone at a restart, not shared between replicas.
    Memory,
    /// `"sqlite://PATH"`: a file on this machine (feature `sqlite`). A relative path is
    /// relative to the working directory, as `.streamlit/` is.
    Sqlite(std::path::PathBuf),
    /// `"redis://…"` or `"rediss://…"` (TLS): shared by every replica (feature `redis`).
    Redis(Secret),
}

impl fmt::Debug for SessionStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionStoreConfig::Memory => f.write_str("Memory"),
            SessionStoreConfig::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            SessionStoreConfig::Redis(url) => f
                .debug_tuple("Redis")
                .field(&super::uri::redact_userinfo(url.expose()))
                .finish(),
        }
    }
}

/// `[auth]`'s optional shared settings, with their defaults. Drafts hold this very struct,
/// so a new shared key is a field here and a getter on [`AuthConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AuthSettings {
    pub(super) expose_tokens: ExposeTokens,
    pub(super) post_logout_redirect_uri: Option<String>,
    pub(super) session_lifetime: Duration,
    /// `cookie_secret` after the first, when it is a list: they still verify cookies.
    pub(super) previous_cookie_secrets: Vec<Secret>,
    /// `None`: not set (the in-memory store, with a warning for a real deployment).
    pub(super) session_store: Option<SessionStoreConfig>,
    /// `session_idle_timeout`: a session ends after so long without a request.
    pub(super) session_idle_timeout: Option<Duration>,
    /// `session_follows_provider`: a session ends when the provider's does.
    pub(super) session_follows_provider: bool,
    /// `canonical_host`: a login started on another host is first sent to `redirect_uri`'s.
    pub(super) canonical_host: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            expose_tokens: ExposeTokens::default(),
            post_logout_redirect_uri: None,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            previous_cookie_secrets: Vec::new(),
            session_store: None,
            session_idle_timeout: None,
            session_follows_provider: false,
            canonical_host: false,
        }
    }
}

/// The whole validated `[auth]` configuration.
///
/// Made by [`AuthConfig::from_file`], [`AuthConfig::load`] (files and environment),
/// [`AuthConfig::from_toml_str`] or [`AuthConfig::builder`]; read with the getters below.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthConfig {
    pub(super) redirect_uri: String,
    pub(super) cookie_secret: Secret,
    pub(super) settings: AuthSettings,
    pub(super) providers: BTreeMap<String, ValidProvider>,
    pub(super) source: ConfigSource,
    pub(super) warnings: Vec<String>,
    /// Origins of `[auth]`'s own keys; each provider keeps those of its own.
    pub(super) provenance: Provenance,
    /// The hosting platform's variables (managed identity, host name).
    pub(super) platform: Platform,
}

impl AuthConfig {
    /// `redirect_uri` as written, possibly with a `{port}` placeholder.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// `cookie_secret`: the current secret (the first, when it is a list), which signs
    /// every new cookie.
    pub fn cookie_secret(&self) -> &Secret {
        &self.cookie_secret
    }

    /// Every secret of `cookie_secret`, the current one first: a cookie signed with any of
    /// them is accepted, so a secret can be rotated without logging everyone out.
    pub fn cookie_secrets(&self) -> impl Iterator<Item = &Secret> + '_ {
        std::iter::once(&self.cookie_secret).chain(&self.settings.previous_cookie_secrets)
    }

    /// `session_store`: where sessions live; `None` when it is not set (the in-memory
    /// store).
    pub fn session_store(&self) -> Option<&SessionStoreConfig> {
        self.settings.session_store.as_ref()
    }

    /// `expose_tokens`.
    pub fn expose_tokens(&self) -> ExposeTokens {
        self.settings.expose_tokens
    }

    /// Where to send the browser back after logging out at the provider (crate extension key
    /// `post_logout_redirect_uri`) as written; `None` means `redirect_uri` itself, as
    /// Streamlit 1.53+ does.
    pub fn post_logout_redirect_uri(&self) -> Option<&str> {
        self.settings.post_logout_redirect_uri.as_deref()
    }

    /// Every provider, in name order.
    pub fn providers(&self) -> impl ExactSizeIterator<Item = &ProviderConfig> + '_ {
        self.providers.values().map(ValidProvider::config)
    }

    /// The provider called `name` (`default` for the one in `[auth]` itself).
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.get(name).map(ValidProvider::config)
    }

    /// The default provider, used by `/auth/login` without a `provider` parameter.
    pub fn default_provider(&self) -> Option<&ProviderConfig> {
        self.provider(DEFAULT_PROVIDER)
    }

    /// Provider names in name order.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.providers.keys().map(String::as_str)
    }

    /// How long a login lasts at most, whatever happens (`session_max_age`, or the older
    /// `session_lifetime_days`); default 30 days, the lifetime of Streamlit's auth cookie.
    pub fn session_lifetime(&self) -> Duration {
        self.settings.session_lifetime
    }

    /// `session_max_age`: the same as [`AuthConfig::session_lifetime`].
    pub fn session_max_age(&self) -> Duration {
        self.settings.session_lifetime
    }

    /// `session_idle_timeout`: a session ends after so long without a request; `None` (the
    /// default): only the maximum age ends it.
    pub fn session_idle_timeout(&self) -> Option<Duration> {
        self.settings.session_idle_timeout
    }

    /// `session_follows_provider`: whether a session ends when the provider's does (the
    /// refresh token refused, or, without one, the ID token expired). Default `false`.
    pub fn session_follows_provider(&self) -> bool {
        self.settings.session_follows_provider
    }

    /// `canonical_host`: whether a login started on a host other than `redirect_uri`'s is
    /// first sent to `redirect_uri`'s host (always done between loopback names). Default
    /// `false`.
    pub fn canonical_host(&self) -> bool {
        self.settings.canonical_host
    }

    /// The hosting platform's variables, read with the configuration.
    pub(crate) fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The same configuration on a platform whose variables are `platform`.
    pub(super) fn on_platform(self, platform: Platform) -> AuthConfig {
        AuthConfig { platform, ..self }
    }

    /// Where this configuration came from, for error messages.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// Everything suspicious but not fatal found while loading (unknown keys, ignored Authlib
    /// settings, a short `cookie_secret`…). Each was also logged with `tracing::warn!`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `redirect_uri` with `{port}` replaced by the port the app listens on.
    ///
    /// Fails with [`ConfigError::PortRequired`] if the URL has `{port}` and `port` is
    /// `None`. A port given for a URL without the placeholder is ignored.
    pub fn redirect_uri_for_port(&self, port: Option<u16>) -> Result<Url, ConfigError> {
        resolve_for_port(
            self,
            "auth.redirect_uri",
            &self.redirect_uri,
            port,
            UriKind::Redirect,
        )
    }

    /// Checks that `redirect_uri` (as resolved for `port`), when on loopback, points to
    /// `port`, the port the app listens on.
    pub(crate) fn check_served_port(
        &self,
        redirect_uri: &Url,
        port: Option<u16>,
    ) -> Result<(), ConfigError> {
        let key = "auth.redirect_uri";
        let origin = self.origin_of(key);
        check_served_port(
            At {
                key,
                origin: &origin,
            },
            &self.redirect_uri,
            redirect_uri,
            port,
        )
    }

    /// `post_logout_redirect_uri` with `{port}` replaced by the port the app listens on;
    /// `None` when it is not set (then `redirect_uri` is used, as Streamlit 1.53+ does).
    pub fn post_logout_redirect_uri_for_port(
        &self,
        port: Option<u16>,
    ) -> Result<Option<Url>, ConfigError> {
        let Some(uri) = &self.settings.post_logout_redirect_uri else {
            return Ok(None);
        };
        let key = "auth.post_logout_redirect_uri";
        resolve_for_port(self, key, uri, port, UriKind::PostLogout).map(Some)
    }

    /// The providers with everything the layer needs to run them, in name order.
    pub(crate) fn valid_providers(&self) -> impl Iterator<Item = &ValidProvider> + '_ {
        self.providers.values()
    }

    /// Where the value at the dotted `key` came from (the file, the variable or the
    /// builder); for a key that was not given, where the nearest table holding it came from.
    pub(crate) fn origin_of(&self, key: &str) -> ConfigSource {
        key_and_parents(key)
            .find_map(|k| {
                self.provenance
                    .get(k)
                    .or_else(|| self.providers.values().find_map(|p| p.provenance.get(k)))
            })
            .unwrap_or(&self.source)
            .clone()
    }
}

/// A redirect URL with the real port, checked by the same rule as at load time.
fn resolve_for_port(
    config: &AuthConfig,
    key: &str,
    written: &str,
    port: Option<u16>,
    kind: UriKind,
) -> Result<Url, ConfigError> {
    let origin = config.origin_of(key);
    let at = At {
        key,
        origin: &origin,
    };
    let concrete = substitute_port(written, port)?;
    let concrete = substitute_host(at, &concrete, config.platform.get(WEBSITE_HOSTNAME))?;
    resolve_redirect_uri(at, written, &concrete, kind)
}
