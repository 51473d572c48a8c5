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
//! let entra = config.provider("microsoft").unwrap();
//! assert_eq!(entra.client_kwargs().prompt(), Some("login"));
//! assert_eq!(entra.client_kwargs().authorize_params(), [("domain_hint".to_string(), "contoso.com".to_string())]);
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
//! Every value is checked once, when it is read; the configuration keeps where each came
//! from (the file, the variable or the builder), so an error found later, such as a `{port}`
//! that turns `redirect_uri` invalid, still names it.
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
//!
//! # How this module is built (for contributors)
//!
//! Each source is read once, value by value, into a draft; a finished configuration holds
//! only checked values and never goes back through the rules. Files import only the files
//! listed before them:
//!
//! | File | Job |
//! |---|---|
//! | `schema.rs` | the key lists, the reserved authorization parameters, `ENV_PREFIX`, `var_name` |
//! | `error.rs` | [`ConfigError`], [`ConfigSource`] |
//! | `raw.rs` | the TOML document, in file order, each value with its origin |
//! | `values.rs` | reading a written value (TOML or variable text) as a string, number, list… |
//! | `uri.rs` | the URL rules and `{port}` |
//! | `provenance.rs` | where each value came from, by dotted key |
//! | `warnings.rs` | verdicts kept by key until the end; the one place unused keys are reported |
//! | `model.rs` | the public, checked types and their getters |
//! | `draft.rs` | the partial configuration the sources fill in |
//! | `kwargs.rs` | the `client_kwargs` and `authorize_params` rules |
//! | `provider.rs` | the rules of one provider table |
//! | `auth.rs` | the rules of `[auth]`'s shared keys, and where each `[auth]` key goes |
//! | `finish.rs` | the checks that need every key at once; draft → [`AuthConfig`] |
//! | `env.rs` | `OIDC_AUTH__*` variables laid over a draft |
//! | `builder.rs` | [`AuthConfigBuilder`] and the [`ProviderConfig`] builder methods |
//! | `mod.rs` | loading: files, search order, [`AuthConfig::apply_env`] |
//!
//! # Adding a key
//!
//! 1. `schema.rs`: one entry in the list that says where the key is valid:
//!    `SHARED_KEYS` (`[auth]` only, e.g. `session_idle_timeout`), `OPTIONAL_PROVIDER_KEYS`
//!    (a provider table only, e.g. `fetch_userinfo`), `PROVIDER_DEFAULT_KEYS` (a provider
//!    table, and `[auth]` as every provider's default, e.g. `allowed_emails`) or
//!    `CLIENT_KWARGS_KEYS`. The environment overlay and the routing of `[auth]`'s keys follow
//!    from these lists; a key in none of them is reported by `warnings::ignored_key`, the one
//!    place unknown keys are reported.
//! 2. `model.rs`: one field and its getter, in `AuthSettings` (getter on [`AuthConfig`]),
//!    `ProviderSettings` as an `Option` (getter on [`ProviderConfig`]; a provider-default key
//!    also gets its line in `ProviderSettings::over`) or [`ClientKwargs`]. Drafts hold these
//!    very structs, so the value reaches the finished configuration, and goes back into a
//!    draft for [`AuthConfig::apply_env`], by itself.
//! 3. One rule: a function taking an `At` (key and origin) and the typed value, returning the
//!    checked value or a [`ConfigError`] (warnings go into `notes`), in `auth.rs`,
//!    `provider.rs` (its arm in `apply_entry`, or in `apply_default_key` for a
//!    provider-default key) or `kwargs.rs`, with a match arm reading the written value with a
//!    `values::Field` reader (`str`, `seconds`, `whole_number`, `string_list`…: they already
//!    parse environment text). A builder method, if any, calls the same rule.
//! 4. One error case: a [`ConfigError`] variant, only if `InvalidValue` cannot say it.
//! 5. One test in `tests.rs` (a good value, a bad one, the same from a variable), and a row
//!    in the README's key table (and, for a variable, in the table above).
//!
//! Provenance, the order of messages and the environment's semantics need no change.

mod access;
mod auth;
mod builder;
mod credential;
mod draft;
mod env;
mod error;
mod finish;
mod kwargs;
mod model;
mod platform;
mod provenance;
mod provider;
mod raw;
mod schema;
mod secret;
#[cfg(test)]
mod tests;
mod uri;
mod values;
mod warnings;

pub use access::AccessRules;
pub use builder::AuthConfigBuilder;
pub use credential::{AssertionSource, ClientCredential};
pub use error::{ConfigError, ConfigSource, Misspelling};
pub use model::{
    AuthConfig, ClientKwargs, ExposeTokens, ProviderConfig, Secret, SessionStoreConfig,
    TokenEndpointAuth,
};
pub use schema::DEFAULT_PROVIDER;

pub(crate) use model::ValidProvider;
pub(crate) use platform::{
    Platform, AZURE_FEDERATED_TOKEN_FILE, IDENTITY_ENDPOINT, IDENTITY_HEADER,
};
pub(crate) use schema::reserved_param;
pub(crate) use schema::var_name;
pub(crate) use schema::ADMITS_EVERY_TENANT;
#[cfg(test)]
pub(crate) use schema::RESERVED_PARAMS;
pub(crate) use uri::redact_userinfo;

use std::path::{Path, PathBuf};

use draft::AuthDraft;
use finish::finish;
use raw::{parse_document, RawEntry, RawTable, RawValue};

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
        let mut found: Option<(String, RawEntry)> = None;
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
                found = Some(doc.entries.swap_remove(index));
            }
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let platform = Platform::from_vars(&env);
        let vars = env::collect(env);
        let mut draft = match found {
            Some((key, entry)) => {
                let (table, origin) = auth_table(&key, entry)?;
                let origin = if vars.is_empty() {
                    origin
                } else {
                    origin.with_env()
                };
                auth::read_table(&table, origin)
            }
            None if vars.is_empty() => return Ok(None),
            None => AuthDraft::new(ConfigSource::Environment),
        };
        env::overlay(&mut draft, &vars);
        finish(draft).map(|config| Some(config.on_platform(platform)))
    }

    /// Applies `OIDC_AUTH__*` variables (others are skipped) on top of this configuration,
    /// key by key: each variable is checked like the key it sets, the other values are kept
    /// as they are (not checked again). Pass `std::env::vars()` for the process environment.
    pub fn apply_env(
        self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AuthConfig, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let platform = Platform::from_vars(&env);
        let vars = env::collect(env);
        if vars.is_empty() {
            return Ok(self.on_platform(platform));
        }
        let mut draft = AuthDraft::from_config(self);
        env::overlay(&mut draft, &vars);
        finish(draft).map(|config| config.on_platform(platform))
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
    finish(auth::read_table(&table, origin))
}

/// The `[auth]` table out of its entry, or `NotATable` for `auth = "…"`.
fn auth_table(key: &str, entry: RawEntry) -> Result<(RawTable, ConfigSource), ConfigError> {
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
