//! Typed configuration errors.
//!
//! Every message names the key, the provider and where the value came from, so the fix is
//! obvious from the message alone. No variant ever holds a secret (`client_secret`,
//! `cookie_secret`): values are only quoted for keys that are not secret, and TOML syntax
//! errors keep the parser's message but never the quoted source line.

use std::fmt;
use std::path::PathBuf;

use super::schema::{reserved_hint, var_name, DEFAULT_PROVIDER, ENV_PREFIX};

/// Where a configuration (or one value of it) came from; every [`ConfigError`] names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSource {
    /// A `secrets.toml` file.
    File(PathBuf),
    /// A string passed to [`AuthConfig::from_toml_str`](crate::AuthConfig::from_toml_str).
    String,
    /// Built in code with [`AuthConfig::builder`](crate::AuthConfig::builder).
    Builder,
    /// One environment variable, e.g. `OIDC_AUTH__CLIENT_ID`.
    Env(String),
    /// The `OIDC_AUTH__*` environment variables as a whole (a configuration defined only by
    /// the environment).
    Environment,
    /// A configuration from `base` with `OIDC_AUTH__*` environment variables applied on top.
    WithEnv(Box<ConfigSource>),
}

impl ConfigSource {
    /// The same source with environment variables applied on top (never wrapped twice).
    pub(crate) fn with_env(self) -> ConfigSource {
        match self {
            ConfigSource::WithEnv(_) | ConfigSource::Environment | ConfigSource::Env(_) => self,
            other => ConfigSource::WithEnv(Box::new(other)),
        }
    }

    /// Whether values from this source are environment strings that still need typing.
    pub(crate) fn is_env_var(&self) -> bool {
        matches!(self, ConfigSource::Env(_))
    }

    fn involves_env(&self) -> bool {
        matches!(
            self,
            ConfigSource::Env(_) | ConfigSource::Environment | ConfigSource::WithEnv(_)
        )
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::String => f.write_str("the secrets.toml text passed in code"),
            ConfigSource::Builder => f.write_str("the configuration built in code"),
            ConfigSource::Env(var) => write!(f, "environment variable {var}"),
            ConfigSource::Environment => write!(f, "the {ENV_PREFIX}* environment variables"),
            ConfigSource::WithEnv(base) => {
                write!(f, "{base} and the {ENV_PREFIX}* environment variables")
            }
        }
    }
}

/// Everything that can be wrong with a configuration.
///
/// Messages are meant for the person running the app: each names the key (as a dotted path
/// such as `auth.google.client_kwargs.timeout`), the provider where there is one, and the
/// file or environment variable it came from. None contains a secret value.
///
/// `Debug` shows the variant's name and the message (`MissingKeys: [auth] in … is missing
/// …`), so `?` in a `main` that returns `Result<(), Box<dyn Error>>` prints something a
/// person can act on.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No `[auth]` table anywhere (and no `OIDC_AUTH__*` variables).
    #[error(
        "to use authentication you need to configure credentials for at least one login \
         provider, but no [auth] table was found (looked in {}); see the tower_oidc_login::config \
         documentation for an example secrets.toml",
        list_sources(searched)
    )]
    NoAuthSection {
        /// Every place that was searched, in search order.
        searched: Vec<ConfigSource>,
    },
    /// `[auth]` exists but defines no provider at all.
    #[error(
        "[auth] in {origin} defines no login provider: add client_id, client_secret and \
         server_metadata_url to [auth] (the default provider) or to an [auth.NAME] table"
    )]
    NoProvider {
        /// Where `[auth]` came from.
        origin: ConfigSource,
    },
    /// Required keys are missing from a section.
    #[error(
        "{section} in {origin} is missing {}{}{}{}",
        list_keys(keys),
        for_provider(provider),
        env_hint(origin, provider, keys),
        misspelt_hint(misspelt)
    )]
    MissingKeys {
        /// `"[auth]"` or `"[auth.google]"`.
        section: String,
        /// The provider the keys are for (`default` for the one in `[auth]` itself); empty
        /// when only the shared keys `redirect_uri` / `cookie_secret` are missing.
        provider: String,
        /// Every missing key, in schema order.
        keys: Vec<String>,
        /// Keys written in the same section that are not its keys but are close to a missing
        /// one: most likely the missing key, misspelt.
        /// (A boxed slice keeps every `Result<_, ConfigError>` small.)
        misspelt: Box<[Misspelling]>,
        /// Where the section came from.
        origin: ConfigSource,
    },
    /// A value that must be a table is not, e.g. `auth.google = "x"`.
    #[error(
        "`{key}` in {origin} must be a table (a [{key}] section or an inline {{ ... }} table), \
         not {found}{}",
        provider_hint(key)
    )]
    NotATable {
        /// The dotted key, e.g. `auth.google`.
        key: String,
        /// What was found instead (`a string`, `an integer`…).
        found: String,
        /// Where the value came from.
        origin: ConfigSource,
    },
    /// Streamlit forbids `_` in provider names; so do we, so files stay portable both ways.
    #[error(
        "login provider name \"{provider}\" in {origin} contains an underscore; please use a \
         name without underscores (for example \"{}\"). The provider name is part of the login \
         state key, which Streamlit splits on `_`, so Streamlit rejects such names and this \
         crate does too to keep secrets.toml files portable both ways",
        provider.replace('_', "-")
    )]
    UnderscoreInProviderName {
        /// The provider name as written.
        provider: String,
        /// Where it came from.
        origin: ConfigSource,
    },
    /// `redirect_uri` or `post_logout_redirect_uri` is not usable.
    #[error("invalid `{key}` \"{value}\" in {origin}: {reason}")]
    InvalidRedirectUri {
        /// The dotted key, `auth.redirect_uri` or `auth.post_logout_redirect_uri`.
        key: String,
        /// The value as written (any password in it replaced by `***`).
        value: String,
        /// What is wrong and how to fix it.
        reason: String,
        /// Where it came from.
        origin: ConfigSource,
    },
    /// `cookie_secret` is empty.
    #[error(
        "`auth.cookie_secret` in {origin} is empty; set it to a long random string (for \
         example the output of `openssl rand -hex 32`)"
    )]
    EmptyCookieSecret {
        /// Where it came from.
        origin: ConfigSource,
    },
    /// `expose_tokens` holds something other than `"id"` / `"access"`.
    #[error(
        "invalid expose_tokens configuration in {origin}: found {found}. Only 'id' and 'access' \
         are allowed (a string or a list of them)"
    )]
    InvalidExposeTokens {
        /// What was found (quoted values or a type name).
        found: String,
        /// Where it came from.
        origin: ConfigSource,
    },
    /// A value has the wrong type or an unacceptable value.
    #[error("invalid `{key}` in {origin}: {reason}")]
    InvalidValue {
        /// The dotted key, e.g. `auth.google.client_kwargs.timeout`.
        key: String,
        /// What is wrong and what is allowed. Never quotes a secret.
        reason: String,
        /// Where it came from.
        origin: ConfigSource,
    },
    /// An authorization parameter the login flow sets itself was set in the configuration.
    #[error(
        "`{key}` in {origin} cannot be set: the `{param}` authorization parameter is set by \
         the login flow itself{}",
        reserved_hint(param)
    )]
    ReservedParameter {
        /// The dotted key, e.g. `auth.google.client_kwargs.nonce`.
        key: String,
        /// The parameter name, e.g. `nonce`.
        param: String,
        /// Where it came from.
        origin: ConfigSource,
    },
    /// The file is not valid TOML.
    #[error("{origin} is not valid TOML: {message}")]
    Toml {
        /// The file (or string) that failed to parse.
        origin: ConfigSource,
        /// The parser's message with line and column, without the source text.
        message: String,
    },
    /// A configuration file exists but could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The skeleton's placeholder, kept only so code written against it still compiles.
    /// Use [`ConfigError::InvalidValue`] instead; this variant will be removed.
    #[doc(hidden)]
    #[error("invalid `{key}` in {origin}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Why it is invalid.
        reason: String,
        /// Where it came from.
        origin: ConfigSource,
    },
    /// `redirect_uri` (or `post_logout_redirect_uri`) contains `{port}` but no port is known.
    #[error(
        "\"{value}\" contains the {{port}} placeholder but the port the app listens on is not \
         known; pass it when building the layer or write the port into the URL"
    )]
    PortRequired {
        /// The URL with the placeholder.
        value: String,
    },
}

/// A key written in a section that the section does not have, close to the name of a key it
/// needs: most likely that key, misspelt (see [`ConfigError::MissingKeys`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Misspelling {
    /// The key as written, e.g. `client_secrte`.
    pub written: String,
    /// The missing key it is close to, e.g. `client_secret`.
    pub meant: String,
}

impl Misspelling {
    pub(crate) fn new(written: &str, meant: &str) -> Misspelling {
        Misspelling {
            written: written.to_owned(),
            meant: meant.to_owned(),
        }
    }
}

impl ConfigError {
    /// The variant's name, as `Debug` shows it.
    fn variant(&self) -> &'static str {
        match self {
            ConfigError::NoAuthSection { .. } => "NoAuthSection",
            ConfigError::NoProvider { .. } => "NoProvider",
            ConfigError::MissingKeys { .. } => "MissingKeys",
            ConfigError::NotATable { .. } => "NotATable",
            ConfigError::UnderscoreInProviderName { .. } => "UnderscoreInProviderName",
            ConfigError::InvalidRedirectUri { .. } => "InvalidRedirectUri",
            ConfigError::EmptyCookieSecret { .. } => "EmptyCookieSecret",
            ConfigError::InvalidExposeTokens { .. } => "InvalidExposeTokens",
            ConfigError::InvalidValue { .. } => "InvalidValue",
            ConfigError::ReservedParameter { .. } => "ReservedParameter",
            ConfigError::Toml { .. } => "Toml",
            ConfigError::Io { .. } => "Io",
            ConfigError::Invalid { .. } => "Invalid",
            ConfigError::PortRequired { .. } => "PortRequired",
        }
    }
}

/// The message, after the variant's name: what `?` in `main` prints is then the message
/// itself rather than a struct dump (whose fields the message already names).
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {self}", self.variant())
    }
}

fn list_sources(sources: &[ConfigSource]) -> String {
    if sources.is_empty() {
        return "nowhere".into();
    }
    sources
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_keys(keys: &[String]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.len() {
        0 => "required keys".into(),
        1 => format!("the required key {}", quoted[0]),
        _ => format!("the required keys {}", quoted.join(", ")),
    }
}

fn for_provider(provider: &str) -> String {
    if provider.is_empty() {
        String::new()
    } else if provider == DEFAULT_PROVIDER {
        " for the default login provider".into()
    } else {
        format!(" for the login provider \"{provider}\"")
    }
}

/// Names the variables that would fill the gap, when the environment is already in play.
fn env_hint(origin: &ConfigSource, provider: &str, keys: &[String]) -> String {
    if !origin.involves_env() || keys.is_empty() {
        return String::new();
    }
    let vars: Vec<String> = keys.iter().map(|k| var_name(provider, k)).collect();
    format!(" (or set {})", vars.join(", "))
}

/// Names the keys written that most likely are the missing ones, misspelt.
fn misspelt_hint(misspelt: &[Misspelling]) -> String {
    if misspelt.is_empty() {
        return String::new();
    }
    let found: Vec<String> = misspelt
        .iter()
        .map(|m| format!("found `{}`: did you mean `{}`?", m.written, m.meant))
        .collect();
    format!(" ({})", found.join("; "))
}

fn provider_hint(key: &str) -> &'static str {
    if key.matches('.').count() == 1 && key.starts_with("auth.") {
        "; a key in [auth] that is not one of the known keys names a login provider"
    } else {
        ""
    }
}
