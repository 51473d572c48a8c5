//! Configuration: Streamlit's `[auth]` / `[auth.<provider>]` schema from `secrets.toml`,
//! environment variables, or a builder in code. Everything is validated here, before the
//! layer is built, so a misconfigured app fails at start-up rather than at the first login.
//!
//! OWNER: config helper. The public type shapes below are shared with the rest of the crate;
//! keep field names and meanings stable.

mod error;
pub use error::{ConfigError, ConfigSource};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

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
}

