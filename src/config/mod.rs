//! Configuration: Streamlit's `[auth]` / `[auth.<provider>]` schema from `secrets.toml`,
//! environment variables, or a builder in code.
//!
//! Everything is validated here, before the layer is built, so a misconfigured app fails at
//! start-up with a message naming the key, the provider and the file, rather than at the
//! first login. A `secrets.toml` written for Streamlit's `st.login()` works unchanged.
//!
//! # Example `secrets.toml`
//!
//! Microsoft Entra ID as the default provider plus Google, as in Streamlit's docs:
//!
//! ```toml
//! [auth]
//! redirect_uri = "https://app.example.com/oauth2callback"   # or "http://localhost:{port}/oauth2callback"
//! cookie_secret = "a long random string, e.g. from `openssl rand -hex 32`"
//! expose_tokens = ["id"]                   # optional: "id", "access" or both
//! # Extensions of this crate (Streamlit ignores them):
//! post_logout_redirect_uri = "https://app.example.com/"   # default: redirect_uri
//! session_lifetime_days = 30                               # 1..=400, default 30
//!
//! [auth.microsoft]
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret = "…"
//! server_metadata_url = "https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration"
//! client_kwargs = { prompt = "login", domain_hint = "contoso.com" }
//!
//! [auth.google]
//! client_id = "1234.apps.googleusercontent.com"
//! client_secret = "…"
//! server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
//!
//! [auth.google.client_kwargs]
//! scope = "openid email profile"
//! prompt = "select_account"
//! hd = "example.com"               # any other string is sent as an authorization parameter
//! timeout = 10                     # seconds per request to the provider, 0 < t <= 300
//! ```
//!
//! ```
//! # fn main() -> Result<(), tower_oidc_login::ConfigError> {
//! let config = tower_oidc_login::AuthConfig::from_toml_str(r#"
//!     [auth]
//!     redirect_uri = "http://localhost:{port}/oauth2callback"
//!     cookie_secret = "0123456789abcdef0123456789abcdef"
//!
//!     [auth.microsoft]
//!     client_id = "00000000-0000-0000-0000-000000000000"
//!     client_secret = "entra-secret"
//!     server_metadata_url = "https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration"
//!     client_kwargs = { prompt = "login", domain_hint = "contoso.com" }
//!
//!     [auth.google]
//!     client_id = "1234.apps.googleusercontent.com"
//!     client_secret = "google-secret"
//!     server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
//! "#)?;
//! assert_eq!(config.provider_names().collect::<Vec<_>>(), ["google", "microsoft"]);
//! let entra = &config.providers["microsoft"];
//! assert_eq!(entra.client_kwargs.prompt.as_deref(), Some("login"));
//! assert_eq!(entra.client_kwargs.authorize_params, [("domain_hint".to_string(), "contoso.com".to_string())]);
//! assert_eq!(
//!     config.redirect_uri_for_port(Some(8080))?.as_str(),
//!     "http://localhost:8080/oauth2callback"
//! );
//! # Ok(())
//! # }
//! ```
//!
//! # Providers
//!
//! `client_id`, `client_secret` and `server_metadata_url` (plus optional `client_kwargs`)
//! either directly in `[auth]` (the provider named `default`) or in `[auth.NAME]` tables,
//! several at once. An `[auth.default]` table, if present, is the default provider and
//! provider keys directly in `[auth]` are then ignored, as in Streamlit. Provider names may
//! not contain `_` (Streamlit's rule, kept so files stay portable).
//!
//! `client_kwargs` keeps Authlib's meaning: `scope` (space-separated; `openid` is added if
//! missing), `prompt` (default `select_account`; `""` sends none),
//! `token_endpoint_auth_method` (`client_secret_basic` or `client_secret_post`),
//! `code_challenge_method` (only `S256`; PKCE with S256 is always used) and `timeout`
//! (seconds). Every other string is sent as an authorization parameter (`domain_hint`,
//! `login_hint`, `audience`, `acr_values`…), in file order. Parameters the flow sets itself
//! (`response_type`, `client_id`, `redirect_uri`, `state`, `nonce`, `code_challenge`) are
//! refused. The undocumented Authlib table `authorize_params` is honoured too; other Authlib
//! keys (`authorize_url`, `access_token_url`, `api_base_url`…) are accepted with a warning and
//! ignored, since endpoints always come from discovery.
//!
//! Unknown keys produce a warning naming the key and the file (kept in
//! [`AuthConfig::warnings`] and logged with `tracing`), so typos do not pass silently.
//!
//! # Where configuration is looked for
//!
//! [`AuthConfig::load`] reads, like Streamlit, `$HOME/.streamlit/secrets.toml` and then
//! `$CWD/.streamlit/secrets.toml`. A later file's `[auth]` table replaces an earlier one
//! as a whole (Streamlit's top-level `dict.update`; tables are not deep-merged). Then the
//! environment variables below override single keys.
//!
//! # Environment variables
//!
//! Names start with `OIDC_AUTH__`; further segments are separated by a double underscore
//! and written in upper case (they are matched case-insensitively and lower-cased). Each
//! variable overrides one key of the file; the environment alone can also define a whole
//! configuration.
//!
//! | Variable | Key |
//! |---|---|
//! | `OIDC_AUTH__REDIRECT_URI` | `[auth] redirect_uri` |
//! | `OIDC_AUTH__COOKIE_SECRET` | `[auth] cookie_secret` |
//! | `OIDC_AUTH__EXPOSE_TOKENS` | `[auth] expose_tokens`, comma-separated: `id,access` |
//! | `OIDC_AUTH__POST_LOGOUT_REDIRECT_URI` | `[auth] post_logout_redirect_uri` |
//! | `OIDC_AUTH__SESSION_LIFETIME_DAYS` | `[auth] session_lifetime_days` |
//! | `OIDC_AUTH__CLIENT_ID`, `…__CLIENT_SECRET`, `…__SERVER_METADATA_URL` | the default provider's keys |
//! | `OIDC_AUTH__CLIENT_KWARGS__PROMPT` | the default provider's `client_kwargs.prompt` (any `client_kwargs` key) |
//! | `OIDC_AUTH__MICROSOFT__CLIENT_SECRET` | `[auth.microsoft] client_secret` |
//! | `OIDC_AUTH__MICROSOFT__CLIENT_KWARGS__DOMAIN_HINT` | `[auth.microsoft] client_kwargs.domain_hint` |
//! | `OIDC_AUTH__MICROSOFT__AUTHORIZE_PARAMS__AUDIENCE` | `[auth.microsoft] authorize_params.audience` |
//!
//! The default provider is `[auth.default]` if the file has that table, else `[auth]`
//! itself; `OIDC_AUTH__DEFAULT__CLIENT_ID` is the same as `OIDC_AUTH__CLIENT_ID`. A
//! provider segment matches a provider of the file case-insensitively, otherwise it is
//! lower-cased; since provider names cannot contain `_`, a single `_` in it stands for `-`
//! (`OIDC_AUTH__MY_IDP__CLIENT_ID` sets `[auth.my-idp] client_id`). Numbers (`timeout`,
//! `session_lifetime_days`) are parsed from the text; `scope` is space-separated.
//! Unrecognised `OIDC_AUTH__*` variables produce a warning, and errors name the variable.
//!
//! # In code
//!
//! ```
//! use tower_oidc_login::config::{AuthConfig, ExposeTokens, ProviderConfig, TokenEndpointAuth};
//!
//! # fn main() -> Result<(), tower_oidc_login::ConfigError> {
//! let config = AuthConfig::builder()
//!     .redirect_uri("https://app.example.com/oauth2callback")
//!     .cookie_secret("0123456789abcdef0123456789abcdef")
//!     .expose_tokens(ExposeTokens { id: true, access: false })
//!     .provider(
//!         ProviderConfig::new(
//!             "google",
//!             "1234.apps.googleusercontent.com",
//!             "google-secret",
//!             "https://accounts.google.com/.well-known/openid-configuration",
//!         )
//!         .scope("openid email")
//!         .prompt(None)
//!         .param("hd", "example.com")
//!         .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost),
//!     )
//!     .build()?;
//! assert!(config.provider("google").is_some());
//! # Ok(())
//! # }
//! ```

mod builder;
mod env;
mod error;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

pub use builder::AuthConfigBuilder;
pub use error::{ConfigError, ConfigSource};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use builder::{to_raw, Parts};
use raw::{parse_document, RawTable, RawValue};
use validate::{resolve_redirect_uri, substitute_port, validate_auth, UriKind, Warnings};

/// The name of the provider defined directly in `[auth]` (or by `[auth.default]`), which
/// `/auth/login` uses when no provider is named.
pub const DEFAULT_PROVIDER: &str = "default";

/// A string that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself. Only call this where the value is sent to its one legitimate reader.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKwargs {
    /// Scopes; default `openid email profile`. Always contains `openid`.
    pub scope: Vec<String>,
    /// The `prompt` parameter; default `select_account`. `None` sends no prompt.
    pub prompt: Option<String>,
    /// `None`: `client_secret_basic`, unless the provider advertises only `client_secret_post`.
    pub token_endpoint_auth_method: Option<TokenEndpointAuth>,
    /// Timeout for each request to the provider; default 10 s.
    pub timeout: Duration,
    /// Every other string in `client_kwargs`, sent as an authorization parameter
    /// (`domain_hint`, `login_hint`, `audience`, `acr_values`…), in file order.
    pub authorize_params: Vec<(String, String)>,
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

/// One OpenID provider: `[auth]` itself (named `default`) or an `[auth.NAME]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConfig {
    /// `default` for the unnamed provider, else the table name.
    pub name: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: Secret,
    /// `server_metadata_url`: the discovery document's URL.
    pub server_metadata_url: String,
    /// `client_kwargs`.
    pub client_kwargs: ClientKwargs,
}

/// The whole validated `[auth]` configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// `redirect_uri` as written, possibly with a `{port}` placeholder.
    pub redirect_uri: String,
    /// `cookie_secret`.
    pub cookie_secret: Secret,
    /// `expose_tokens`.
    pub expose_tokens: ExposeTokens,
    /// Where to send the browser back after logging out at the provider (crate extension key
    /// `post_logout_redirect_uri`); `None` means `redirect_uri` itself, as Streamlit 1.53+ does.
    pub post_logout_redirect_uri: Option<String>,
    /// Providers by name, in name order.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Where this configuration came from, for error messages.
    pub source: ConfigSource,
    /// How long a login lasts (crate extension key `session_lifetime_days`, 1 to 400 days);
    /// default 30 days, the lifetime of Streamlit's auth cookie.
    pub session_lifetime: Duration,
    /// Everything suspicious but not fatal found while loading (unknown keys, ignored Authlib
    /// settings, a short `cookie_secret`…). Each was also logged with `tracing::warn!`.
    pub warnings: Vec<String>,
}

impl AuthConfig {
    /// Parses `secrets.toml` text. Keys outside `[auth]` are ignored (they are the app's own
    /// secrets). Errors name "the secrets.toml text passed in code" ([`ConfigSource::String`]).
    pub fn from_toml_str(text: &str) -> Result<AuthConfig, ConfigError> {
        from_document(text, ConfigSource::String)
    }

    /// Reads and parses one `secrets.toml` file. Environment variables are not applied; see
    /// [`AuthConfig::apply_env`] or [`AuthConfig::load`] for that.
    pub fn from_file(path: impl AsRef<Path>) -> Result<AuthConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        from_document(&text, ConfigSource::File(path.to_owned()))
    }

    /// Streamlit's search: `$HOME/.streamlit/secrets.toml`, then
    /// `$CWD/.streamlit/secrets.toml` (a later `[auth]` replaces an earlier one as a whole),
    /// then the `OIDC_AUTH__*` environment variables on top.
    ///
    /// Fails with [`ConfigError::NoAuthSection`], naming the places searched, when none of
    /// them yields an `[auth]` table.
    pub fn load() -> Result<AuthConfig, ConfigError> {
        let (home, cwd) = process_dirs()?;
        AuthConfig::load_from(home.as_deref(), &cwd, env::process_env()?)
    }

    /// Like [`AuthConfig::load`], but `Ok(None)` when there is no `[auth]` table in any file
    /// and no `OIDC_AUTH__*` variable, so an app can fall back to something else (such as a
    /// development provider). A file that exists but is broken is still an error.
    pub fn load_optional() -> Result<Option<AuthConfig>, ConfigError> {
        let (home, cwd) = process_dirs()?;
        AuthConfig::load_optional_from(home.as_deref(), &cwd, env::process_env()?)
    }

    /// [`AuthConfig::load`] with an explicit home directory, working directory and
    /// environment (all variables, or only the `OIDC_AUTH__*` ones), for tests and for apps
    /// that keep their secrets elsewhere.
    pub fn load_from(
        home: Option<&Path>,
        cwd: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AuthConfig, ConfigError> {
        match AuthConfig::load_optional_from(home, cwd, env)? {
            Some(config) => Ok(config),
            None => {
                let mut searched: Vec<ConfigSource> = secrets_paths(home, cwd)
                    .into_iter()
                    .map(ConfigSource::File)
                    .collect();
                searched.push(ConfigSource::Environment);
                Err(ConfigError::NoAuthSection { searched })
            }
        }
    }

    /// [`AuthConfig::load_optional`] with an explicit home directory, working directory and
    /// environment.
    pub fn load_optional_from(
        home: Option<&Path>,
        cwd: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Option<AuthConfig>, ConfigError> {
        let mut found: Option<(String, raw::RawEntry)> = None;
        for path in secrets_paths(home, cwd) {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ConfigError::Io {
                        path,
                        message: e.to_string(),
                    })
                }
            };
            let origin = ConfigSource::File(path);
            let mut doc = parse_document(&text, &origin)?;
            if let Some(index) = doc.entries.iter().position(|(k, _)| k == "auth") {
                let (key, entry) = doc.entries.swap_remove(index);
                found = Some((key, entry));
            }
        }
        let vars = env::collect(env);
        let (auth, origin) = match found {
            Some((key, entry)) => (auth_table(&key, entry)?, None),
            None if vars.is_empty() => return Ok(None),
            None => (
                (RawTable::default(), ConfigSource::Environment),
                Some(ConfigSource::Environment),
            ),
        };
        let (mut table, file_origin) = auth;
        let origin = match (origin, vars.is_empty()) {
            (Some(env_only), _) => env_only,
            (None, true) => file_origin,
            (None, false) => file_origin.with_env(),
        };
        let mut warnings = Warnings::default();
        env::apply(&mut table, &vars, &origin, &mut warnings);
        let mut config = validate_auth(&table, &origin, &mut warnings)?;
        config.warnings = warnings.into_vec();
        Ok(Some(config))
    }

    /// Applies `OIDC_AUTH__*` variables (others are skipped) on top of this configuration,
    /// key by key, and validates the result again. Pass `std::env::vars()` for the process
    /// environment.
    pub fn apply_env(
        self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AuthConfig, ConfigError> {
        let vars = env::collect(env);
        if vars.is_empty() {
            return Ok(self);
        }
        let mut table = to_raw(&Parts {
            redirect_uri: Some(&self.redirect_uri),
            cookie_secret: Some(&self.cookie_secret),
            expose_tokens: self.expose_tokens,
            post_logout_redirect_uri: self.post_logout_redirect_uri.as_deref(),
            session_lifetime: Some(self.session_lifetime),
            providers: self.providers.values().collect(),
            origin: &self.source,
        });
        let origin = self.source.clone().with_env();
        let mut warnings = Warnings::new(self.warnings);
        env::apply(&mut table, &vars, &origin, &mut warnings);
        let mut config = validate_auth(&table, &origin, &mut warnings)?;
        config.warnings = warnings.into_vec();
        Ok(config)
    }

    /// Starts a configuration in code; `build()` validates it like a file.
    pub fn builder() -> AuthConfigBuilder {
        AuthConfigBuilder::default()
    }

    /// The provider called `name` (`default` for the one in `[auth]` itself).
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.get(name)
    }

    /// The default provider, used by `/auth/login` without a `provider` parameter.
    pub fn default_provider(&self) -> Option<&ProviderConfig> {
        self.providers.get(DEFAULT_PROVIDER)
    }

    /// Provider names in name order.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.providers.keys().map(String::as_str)
    }

    /// `redirect_uri` with `{port}` replaced by the port the app listens on.
    ///
    /// Fails with [`ConfigError::PortRequired`] if the URL has `{port}` and `port` is
    /// `None`. A port given for a URL without the placeholder is ignored.
    pub fn redirect_uri_for_port(&self, port: Option<u16>) -> Result<url::Url, ConfigError> {
        let concrete = substitute_port(&self.redirect_uri, port)?;
        resolve_redirect_uri(
            "auth.redirect_uri",
            &self.redirect_uri,
            &concrete,
            &self.source,
            UriKind::Redirect,
        )
    }

    /// `post_logout_redirect_uri` with `{port}` replaced by the port the app listens on;
    /// `None` when it is not set (then `redirect_uri` is used, as Streamlit 1.53+ does).
    pub fn post_logout_redirect_uri_for_port(
        &self,
        port: Option<u16>,
    ) -> Result<Option<url::Url>, ConfigError> {
        let Some(uri) = &self.post_logout_redirect_uri else {
            return Ok(None);
        };
        let concrete = substitute_port(uri, port)?;
        resolve_redirect_uri(
            "auth.post_logout_redirect_uri",
            uri,
            &concrete,
            &self.source,
            UriKind::PostLogout,
        )
        .map(Some)
    }
}

/// Parses one document that must contain `[auth]`.
fn from_document(text: &str, origin: ConfigSource) -> Result<AuthConfig, ConfigError> {
    let mut doc = parse_document(text, &origin)?;
    let Some(index) = doc.entries.iter().position(|(k, _)| k == "auth") else {
        return Err(ConfigError::NoAuthSection {
            searched: vec![origin],
        });
    };
    let (key, entry) = doc.entries.swap_remove(index);
    let (table, origin) = auth_table(&key, entry)?;
    let mut warnings = Warnings::default();
    let mut config = validate_auth(&table, &origin, &mut warnings)?;
    config.warnings = warnings.into_vec();
    Ok(config)
}

/// The `[auth]` table out of its entry, or `NotATable` for `auth = "…"`.
fn auth_table(key: &str, entry: raw::RawEntry) -> Result<(RawTable, ConfigSource), ConfigError> {
    match entry.value {
        RawValue::Table(table) => Ok((table, entry.origin)),
        other => Err(ConfigError::NotATable {
            key: key.to_owned(),
            found: other.type_name().into(),
            origin: entry.origin,
        }),
    }
}

/// Streamlit's `secrets.files` default, without duplicates (home may be the working dir).
fn secrets_paths(home: Option<&Path>, cwd: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(home) = home {
        paths.push(home.join(".streamlit").join("secrets.toml"));
    }
    let local = cwd.join(".streamlit").join("secrets.toml");
    if !paths.contains(&local) {
        paths.push(local);
    }
    paths
}

/// The home directory (as Python's `expanduser("~")` finds it) and the working directory.
fn process_dirs() -> Result<(Option<PathBuf>, PathBuf), ConfigError> {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let cwd = std::env::current_dir().map_err(|e| ConfigError::Io {
        path: PathBuf::from("."),
        message: format!("cannot determine the working directory: {e}"),
    })?;
    Ok((home, cwd))
}
