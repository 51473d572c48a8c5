//! Configuration in code, checked by the same rules as a file.
//!
//! The builder's typed values go straight into a draft through each key's rule (the same
//! functions the file and the environment use after reading their text), so there is one set
//! of rules, and nothing is turned back into TOML.

use std::time::Duration;

use super::auth;
use super::credential::ClientCredential;
use super::draft::{AuthDraft, Place, ProviderDraft};
use super::error::{ConfigError, ConfigSource};
use super::finish::finish;
use super::model::{
    AuthConfig, ExposeTokens, ProviderConfig, Secret, SessionStoreConfig, TokenEndpointAuth,
};
use super::provider::{apply_config, check_provider_name};
use super::schema::DEFAULT_PROVIDER;
use super::values::At;

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
    previous_cookie_secrets: Vec<Secret>,
    session_store: Option<SessionStoreConfig>,
    session_idle_timeout: Option<Duration>,
    session_follows_provider: bool,
    canonical_host: bool,
    providers: Vec<ProviderConfig>,
}

impl AuthConfig {
    /// Starts a configuration in code; `build()` validates it like a file.
    pub fn builder() -> AuthConfigBuilder {
        AuthConfigBuilder::default()
    }
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

    /// Earlier cookie secrets that still verify cookies (signed before a rotation); the one
    /// given to [`cookie_secret`](Self::cookie_secret) signs. Like a list in the file's
    /// `cookie_secret`.
    pub fn previous_cookie_secrets<S: Into<Secret>>(
        mut self,
        secrets: impl IntoIterator<Item = S>,
    ) -> Self {
        self.previous_cookie_secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// `session_idle_timeout`: a session ends after so long without a request. Default:
    /// none (only the maximum age ends it).
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = Some(timeout);
        self
    }

    /// `session_follows_provider`: a session ends when the provider's does. Default `false`.
    pub fn session_follows_provider(mut self, follows: bool) -> Self {
        self.session_follows_provider = follows;
        self
    }

    /// `canonical_host`: a login started on a host other than `redirect_uri`'s is first sent
    /// to `redirect_uri`'s host. Default `false`.
    pub fn canonical_host(mut self, canonical: bool) -> Self {
        self.canonical_host = canonical;
        self
    }

    /// `session_store`: where sessions live. Default: in memory.
    pub fn session_store(mut self, store: SessionStoreConfig) -> Self {
        self.session_store = Some(store);
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

        let mut draft = AuthDraft::new(origin.clone());
        let at = |key| At {
            key,
            origin: &origin,
        };
        if let Some(uri) = self.redirect_uri {
            let at = at("auth.redirect_uri");
            draft.replace("redirect_uri", at);
            draft.redirect_uri =
                draft
                    .issues
                    .settle(at.key, auth::redirect_uri(at, &uri), Vec::new());
        }
        if let Some(secret) = self.cookie_secret {
            let at = at("auth.cookie_secret");
            draft.replace("cookie_secret", at);
            let mut notes = Vec::new();
            let checked = std::iter::once(&secret)
                .chain(&self.previous_cookie_secrets)
                .map(|s| auth::cookie_secret(at, s.expose(), &mut notes))
                .collect::<Result<Vec<_>, _>>();
            if let Some(mut secrets) = draft.issues.settle(at.key, checked, notes) {
                draft.cookie_secret = Some(secrets.remove(0));
                draft.settings.previous_cookie_secrets = secrets;
            }
        }
        if let Some(timeout) = self.session_idle_timeout {
            let at = at("auth.session_idle_timeout");
            draft.replace("session_idle_timeout", at);
            let checked = auth::session_idle_timeout(at, timeout);
            draft.settings.session_idle_timeout = draft.issues.settle(at.key, checked, Vec::new());
        }
        if self.session_follows_provider {
            draft.replace(
                "session_follows_provider",
                at("auth.session_follows_provider"),
            );
            draft.settings.session_follows_provider = true;
        }
        if self.canonical_host {
            draft.replace("canonical_host", at("auth.canonical_host"));
            draft.settings.canonical_host = true;
        }
        if let Some(store) = self.session_store {
            let at = at("auth.session_store");
            draft.replace("session_store", at);
            let checked = match store {
                // The rule checks the written form, features included.
                SessionStoreConfig::Memory => auth::session_store(at, "memory"),
                SessionStoreConfig::Sqlite(path) => {
                    auth::session_store(at, &format!("sqlite://{}", path.display()))
                }
                SessionStoreConfig::Redis(url) => auth::session_store(at, url.expose()),
            };
            draft.settings.session_store = draft.issues.settle(at.key, checked, Vec::new());
        }
        if self.expose_tokens != ExposeTokens::default() {
            draft.replace("expose_tokens", at("auth.expose_tokens"));
            draft.settings.expose_tokens = self.expose_tokens;
        }
        if let Some(uri) = self.post_logout_redirect_uri {
            let at = at("auth.post_logout_redirect_uri");
            draft.replace("post_logout_redirect_uri", at);
            let checked = auth::post_logout_redirect_uri(at, &uri);
            draft.settings.post_logout_redirect_uri =
                draft.issues.settle(at.key, checked, Vec::new());
        }
        if let Some(lifetime) = self.session_lifetime {
            // Named after the file's key, the one a reader of the message knows.
            let at = at("auth.session_lifetime_days");
            draft.replace("session_lifetime_days", at);
            let checked = auth::session_lifetime(at, lifetime);
            if let Some(lifetime) = draft.issues.settle(at.key, checked, Vec::new()) {
                draft.settings.session_lifetime = lifetime;
            }
        }
        for provider in self.providers {
            // The default provider's keys count as written directly in [auth], as in a file.
            let place = if provider.name == DEFAULT_PROVIDER {
                Place::top_level()
            } else {
                Place::table(&provider.name)
            };
            let mut table = ProviderDraft::new(place, origin.clone());
            apply_config(&mut table, provider);
            if table.place.prefix == "auth" {
                draft.top_level = table;
            } else {
                draft.named.push(table);
            }
        }
        finish(draft)
    }
}

impl ProviderConfig {
    /// A provider with Streamlit's defaults for `client_kwargs` (scope `openid email profile`,
    /// prompt `select_account`). `name` is `default` for the unnamed provider. Nothing is
    /// checked until [`AuthConfigBuilder::build`].
    pub fn new(
        name: impl Into<String>,
        client_id: impl Into<String>,
        credential: impl Into<ClientCredential>,
        server_metadata_url: impl Into<String>,
    ) -> Self {
        ProviderConfig {
            name: name.into(),
            client_id: client_id.into(),
            credential: credential.into(),
            server_metadata_url: server_metadata_url.into(),
            client_kwargs: Default::default(),
            settings: Default::default(),
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

    /// `allowed_emails`: only these (verified) email addresses may log in.
    #[must_use]
    pub fn allowed_emails<S: Into<String>>(mut self, emails: impl IntoIterator<Item = S>) -> Self {
        self.settings.rules.emails = Some(emails.into_iter().map(Into::into).collect());
        self
    }

    /// `allowed_email_domains`: only (verified) email addresses of these domains may log in.
    #[must_use]
    pub fn allowed_email_domains<S: Into<String>>(
        mut self,
        domains: impl IntoIterator<Item = S>,
    ) -> Self {
        self.settings.rules.email_domains = Some(domains.into_iter().map(Into::into).collect());
        self
    }

    /// `allowed_groups`: only members of one of these groups (the `groups` claim).
    #[must_use]
    pub fn allowed_groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.settings.rules.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// `allowed_roles`: only holders of one of these roles (the `roles` claim).
    #[must_use]
    pub fn allowed_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.settings.rules.roles = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// `allowed_tenants`: only users of these Microsoft Entra tenants (the `tid` claim).
    #[must_use]
    pub fn allowed_tenants<S: Into<String>>(
        mut self,
        tenants: impl IntoIterator<Item = S>,
    ) -> Self {
        self.settings.rules.tenants = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// `fetch_userinfo`: merge the userinfo response into the claims at login and refresh.
    #[must_use]
    pub fn fetch_userinfo(mut self, fetch: bool) -> Self {
        self.settings.fetch_userinfo = Some(fetch);
        self
    }

    /// `allow_any_tenant`: a multi-tenant Microsoft Entra provider admits every tenant.
    #[must_use]
    pub fn allow_any_tenant(mut self, any: bool) -> Self {
        self.settings.rules.allow_any_tenant = Some(any);
        self
    }
}
