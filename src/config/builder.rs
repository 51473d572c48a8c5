//! Configuration in code, validated exactly like a file.
//!
//! The builder (and [`AuthConfig::apply_env`]) turn typed values back into the raw `[auth]`
//! table and run the file validator on it, so there is one set of rules, not two that drift.

use std::time::Duration;

use super::error::{ConfigError, ConfigSource};
use super::raw::{RawEntry, RawTable, RawValue};
use super::validate::{check_provider_name, validate_auth, Warnings};
use super::{
    AuthConfig, ExposeTokens, ProviderConfig, Secret, TokenEndpointAuth, DEFAULT_PROVIDER,
};

/// Builds an [`AuthConfig`] in code; see [`AuthConfig::builder`].
///
/// `build` applies the same validation as a `secrets.toml` file, and errors name
/// "the configuration built in code" ([`ConfigSource::Builder`]).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct AuthConfigBuilder {
    redirect_uri: Option<String>,
    cookie_secret: Option<Secret>,
    expose_tokens: ExposeTokens,
    post_logout_redirect_uri: Option<String>,
    session_lifetime: Option<Duration>,
    providers: Vec<ProviderConfig>,
}

impl AuthConfigBuilder {
    /// `redirect_uri`: the absolute callback URL, may contain `{port}`.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// `cookie_secret`: signs the session cookies; use at least 32 random bytes.
    pub fn cookie_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.cookie_secret = Some(secret.into());
        self
    }

    /// `expose_tokens`: which tokens handlers may read. Default: none.
    pub fn expose_tokens(mut self, tokens: ExposeTokens) -> Self {
        self.expose_tokens = tokens;
        self
    }

    /// `post_logout_redirect_uri`: where the provider sends the browser after logout.
    /// Default: `redirect_uri`.
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some(uri.into());
        self
    }

    /// How long a login lasts. Unlike the file's `session_lifetime_days`, any duration above
    /// zero and up to 400 days is accepted. Default: 30 days.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// Adds a provider. A provider named `default` is the one `/auth/login` uses without a
    /// `provider` parameter.
    pub fn provider(mut self, provider: ProviderConfig) -> Self {
        self.providers.push(provider);
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<AuthConfig, ConfigError> {
        let origin = ConfigSource::Builder;
        let mut seen: Vec<&str> = Vec::new();
        for p in &self.providers {
            check_provider_name(&p.name, &origin)?;
            if seen.contains(&p.name.as_str()) {
                return Err(ConfigError::InvalidValue {
                    key: format!("auth.{}", p.name),
                    reason: "two providers have this name".into(),
                    origin,
                });
            }
            seen.push(&p.name);
        }
        let raw = to_raw(&Parts {
            redirect_uri: self.redirect_uri.as_deref(),
            cookie_secret: self.cookie_secret.as_ref(),
            expose_tokens: self.expose_tokens,
            post_logout_redirect_uri: self.post_logout_redirect_uri.as_deref(),
            session_lifetime: self.session_lifetime,
            providers: self.providers.iter().collect(),
            origin: &origin,
        });
        let mut warnings = Warnings::default();
        let mut config = validate_auth(&raw, &origin, &mut warnings)?;
        config.warnings = warnings.into_vec();
        Ok(config)
    }
}

impl ProviderConfig {
    /// A provider with Streamlit's defaults for `client_kwargs` (scope `openid email profile`,
    /// prompt `select_account`). `name` is `default` for the unnamed provider.
    pub fn new(
        name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        server_metadata_url: impl Into<String>,
    ) -> Self {
        ProviderConfig {
            name: name.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            server_metadata_url: server_metadata_url.into(),
            client_kwargs: Default::default(),
        }
    }

    /// Space-separated scopes; `openid` is added (with a warning) if missing.
    #[must_use]
    pub fn scope(mut self, scope: &str) -> Self {
        self.client_kwargs.scope = scope.split_whitespace().map(str::to_owned).collect();
        self
    }

    /// The `prompt` parameter; `None` sends none.
    #[must_use]
    pub fn prompt(mut self, prompt: Option<&str>) -> Self {
        self.client_kwargs.prompt = prompt.filter(|p| !p.is_empty()).map(str::to_owned);
        self
    }

    /// Adds (or replaces) an extra authorization parameter such as `domain_hint`.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        let params = &mut self.client_kwargs.authorize_params;
        match params.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => params.push((name, value)),
        }
        self
    }

    /// How the client authenticates at the token endpoint.
    #[must_use]
    pub fn token_endpoint_auth(mut self, method: TokenEndpointAuth) -> Self {
        self.client_kwargs.token_endpoint_auth_method = Some(method);
        self
    }

    /// Timeout for each request to the provider (more than 0, at most 300 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client_kwargs.timeout = timeout;
        self
    }
}

/// A typed configuration's pieces, borrowed.
pub(crate) struct Parts<'a> {
    pub(crate) redirect_uri: Option<&'a str>,
    pub(crate) cookie_secret: Option<&'a Secret>,
    pub(crate) expose_tokens: ExposeTokens,
    pub(crate) post_logout_redirect_uri: Option<&'a str>,
    pub(crate) session_lifetime: Option<Duration>,
    pub(crate) providers: Vec<&'a ProviderConfig>,
    pub(crate) origin: &'a ConfigSource,
}

/// The raw `[auth]` table a file would have had to produce these values.
pub(crate) fn to_raw(parts: &Parts<'_>) -> RawTable {
    let entry = |value: RawValue| RawEntry {
        value,
        origin: parts.origin.clone(),
    };
    let mut auth = RawTable::default();
    if let Some(uri) = parts.redirect_uri {
        auth.set("redirect_uri", entry(RawValue::Str(uri.to_owned())));
    }
    if let Some(secret) = parts.cookie_secret {
        auth.set(
            "cookie_secret",
            entry(RawValue::Str(secret.expose().to_owned())),
        );
    }
    let ExposeTokens { id, access } = parts.expose_tokens;
    if id || access {
        let names = [("id", id), ("access", access)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| RawValue::Str(n.to_owned()))
            .collect();
        auth.set("expose_tokens", entry(RawValue::Array(names)));
    }
    if let Some(uri) = parts.post_logout_redirect_uri {
        auth.set(
            "post_logout_redirect_uri",
            entry(RawValue::Str(uri.to_owned())),
        );
    }
    if let Some(lifetime) = parts.session_lifetime {
        auth.set("session_lifetime_days", entry(RawValue::Duration(lifetime)));
    }
    for provider in &parts.providers {
        let table = provider_to_raw(provider, parts.origin);
        if provider.name == DEFAULT_PROVIDER {
            auth.entries.extend(table.entries);
        } else {
            auth.set(&provider.name, entry(RawValue::Table(table)));
        }
    }
    auth
}

fn provider_to_raw(provider: &ProviderConfig, origin: &ConfigSource) -> RawTable {
    let entry = |value: RawValue| RawEntry {
        value,
        origin: origin.clone(),
    };
    let str_entry = |s: &str| entry(RawValue::Str(s.to_owned()));
    let kwargs = &provider.client_kwargs;

    let mut ck = RawTable::default();
    ck.set("scope", str_entry(&kwargs.scope.join(" ")));
    ck.set("prompt", str_entry(kwargs.prompt.as_deref().unwrap_or("")));
    if let Some(method) = kwargs.token_endpoint_auth_method {
        let name = match method {
            TokenEndpointAuth::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuth::ClientSecretPost => "client_secret_post",
        };
        ck.set("token_endpoint_auth_method", str_entry(name));
    }
    ck.set("timeout", entry(RawValue::Duration(kwargs.timeout)));

    // Parameters go in `authorize_params`, where a name such as `timeout` or `prompt` cannot
    // be mistaken for one of client_kwargs' own keys.
    let mut params = RawTable::default();
    for (name, value) in &kwargs.authorize_params {
        params.entries.push((name.clone(), str_entry(value)));
    }

    let mut table = RawTable::default();
    table.set("client_id", str_entry(&provider.client_id));
    table.set("client_secret", str_entry(provider.client_secret.expose()));
    table.set(
        "server_metadata_url",
        str_entry(&provider.server_metadata_url),
    );
    table.set("client_kwargs", entry(RawValue::Table(ck)));
    if !params.entries.is_empty() {
        table.set("authorize_params", entry(RawValue::Table(params)));
    }
    table
}
