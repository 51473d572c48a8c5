//! The partial configuration every source fills in before it is finished.
//!
//! A draft holds typed values (each checked by its rule as it comes in), which keys were
//! given, where each came from, and what was found wrong, by key. Sources are applied one
//! after the other (a file, then the environment; or the builder; or a finished
//! configuration, then the environment), a later value replacing an earlier one together with
//! its verdict. `finish` then only does what needs every key at once.

use url::Url;

use super::credential::CredentialDraft;
use super::error::ConfigSource;
use super::model::{
    AuthConfig, AuthSettings, ClientKwargs, ExposeTokens, ProviderConfig, ProviderSettings, Secret,
    ValidProvider,
};
use super::provenance::Provenance;
use super::schema::{Subtable, Table, CLIENT_KWARGS_KEYS, DEFAULT_PROVIDER, SHARED_KEYS};
use super::values::At;
use super::warnings::{Issues, Warnings};

/// A provider table's entries in the order a finished provider is laid out again.
const PROVIDER_ENTRIES: [&str; 5] = [
    "client_id",
    "client_secret",
    "server_metadata_url",
    "client_kwargs",
    "authorize_params",
];

/// Which provider table a draft is, and how its keys are named in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// The provider's name (`default` for the one in `[auth]` itself).
    pub(crate) provider: String,
    /// The section as written in a file: `[auth]`, `[auth.google]`.
    pub(crate) section: String,
    /// The dotted key of the table: `auth`, `auth.google`.
    pub(crate) prefix: String,
}

impl Place {
    /// The default provider written directly in `[auth]`.
    pub(crate) fn top_level() -> Place {
        Place {
            provider: DEFAULT_PROVIDER.to_owned(),
            section: "[auth]".to_owned(),
            prefix: "auth".to_owned(),
        }
    }

    /// The `[auth.NAME]` table.
    pub(crate) fn table(name: &str) -> Place {
        Place {
            provider: name.to_owned(),
            section: format!("[auth.{name}]"),
            prefix: format!("auth.{name}"),
        }
    }

    /// The dotted key of `key` in this table.
    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    /// The kind of table the keys are written in: `[auth]` itself for the default provider
    /// written there, else a provider table.
    pub(crate) fn kind(&self) -> Table {
        if self.prefix == Place::top_level().prefix {
            Table::Auth
        } else {
            Table::Provider
        }
    }
}

/// An authorization parameter and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) value: String,
    /// Its dotted key, e.g. `auth.google.authorize_params.audience`.
    pub(crate) key: String,
    pub(crate) origin: ConfigSource,
}

/// What is known about one provider so far.
#[derive(Debug)]
pub(crate) struct ProviderDraft {
    pub(crate) place: Place,
    /// Where the table came from.
    pub(crate) origin: ConfigSource,
    /// Keys given in the table (valid or not), in the order first given.
    pub(crate) given: Vec<String>,
    pub(crate) client_id: Option<String>,
    /// `client_secret` or another credential (see `credential`).
    pub(crate) credential: CredentialDraft,
    /// As written, and parsed.
    pub(crate) server_metadata_url: Option<(String, Url)>,
    /// `client_kwargs`' own keys (defaults until given); its parameters are kept apart below
    /// until `finish` merges them.
    pub(crate) kwargs: ClientKwargs,
    /// Parameters from `client_kwargs`: these win over `authorize_params`.
    pub(crate) kwargs_params: Vec<Param>,
    /// Parameters from `authorize_params` (and `ProviderConfig::param`).
    pub(crate) table_params: Vec<Param>,
    /// The other optional keys: the provider's own values, resolved against `[auth]`'s in
    /// `finish`.
    pub(crate) settings: ProviderSettings,
    /// Verdicts on the table's own keys, on `client_kwargs` and on `authorize_params`,
    /// reported in that order.
    pub(crate) issues: Issues,
    pub(crate) kwargs_issues: Issues,
    pub(crate) param_issues: Issues,
    pub(crate) provenance: Provenance,
}

impl ProviderDraft {
    /// An empty provider table.
    pub(crate) fn new(place: Place, origin: ConfigSource) -> ProviderDraft {
        let mut provenance = Provenance::default();
        provenance.record(&place.prefix, &origin);
        ProviderDraft {
            place,
            origin,
            given: Vec::new(),
            client_id: None,
            credential: CredentialDraft::default(),
            server_metadata_url: None,
            kwargs: ClientKwargs::default(),
            kwargs_params: Vec::new(),
            table_params: Vec::new(),
            settings: ProviderSettings::default(),
            issues: Issues::default(),
            kwargs_issues: Issues::default(),
            param_issues: Issues::default(),
            provenance,
        }
    }

    /// A checked provider back as a draft, to lay other values over it. No rule runs again.
    pub(crate) fn from_valid(valid: ValidProvider) -> ProviderDraft {
        let ValidProvider {
            config,
            discovery_url,
            prefix,
            origin,
            provenance,
        } = valid;
        let ProviderConfig {
            name,
            client_id,
            credential,
            server_metadata_url,
            mut client_kwargs,
            settings,
        } = config;
        let place = if prefix == "auth" {
            Place::top_level()
        } else {
            Place {
                section: format!("[{prefix}]"),
                prefix,
                provider: name,
            }
        };
        // Parameters go back to the table they were written in, so a variable replaces
        // the one it names instead of competing with it. A name that is one of
        // client_kwargs' own keys can only have come from authorize_params; otherwise the
        // origin kept for `authorize_params.NAME` (only the winner's is kept) tells.
        let (mut kwargs_params, mut table_params) = (Vec::new(), Vec::new());
        for (name, value) in std::mem::take(&mut client_kwargs.authorize_params) {
            let table_key = place.key(&format!("authorize_params.{name}"));
            let from_table =
                CLIENT_KWARGS_KEYS.contains(&name.as_str()) || provenance.get(&table_key).is_some();
            let (key, list) = if from_table {
                (table_key, &mut table_params)
            } else {
                (
                    place.key(&format!("client_kwargs.{name}")),
                    &mut kwargs_params,
                )
            };
            let origin = provenance.get(&key).unwrap_or(&origin).clone();
            list.push(Param {
                name,
                value,
                key,
                origin,
            });
        }
        // Later values (variables) are reported after these, as if appended to the table.
        let mut issues = Issues::default();
        for key in PROVIDER_ENTRIES {
            issues.enter(&place.key(key));
        }
        let mut kwargs_issues = Issues::default();
        for key in ["scope", "prompt", "token_endpoint_auth_method", "timeout"] {
            kwargs_issues.enter(&place.key(&format!("client_kwargs.{key}")));
        }
        for param in &kwargs_params {
            kwargs_issues.enter(&param.key);
        }
        let mut param_issues = Issues::default();
        for param in &table_params {
            param_issues.enter(&param.key);
        }
        let credential = CredentialDraft::from_credential(credential);
        let given = ["client_id", "server_metadata_url"]
            .into_iter()
            .chain(credential.given_keys())
            .map(str::to_owned)
            .collect();
        ProviderDraft {
            given,
            client_id: Some(client_id),
            credential,
            server_metadata_url: Some((server_metadata_url, discovery_url)),
            kwargs: client_kwargs,
            kwargs_params,
            table_params,
            place,
            origin,
            settings,
            issues,
            kwargs_issues,
            param_issues,
            provenance,
        }
    }

    /// Notes that `name` (a key of the table itself) was given.
    pub(crate) fn mark_given(&mut self, name: &str) {
        if !self.given.iter().any(|g| g == name) {
            self.given.push(name.to_owned());
        }
    }

    /// A new value arrives at `at`: what was said about an older one (or about a table that
    /// was not a table) no longer applies, and the new origin is recorded.
    pub(crate) fn replace(&mut self, at: At<'_>) {
        self.issues.forget(at.key);
        self.kwargs_issues.forget(at.key);
        self.param_issues.forget(at.key);
        self.provenance.record(at.key, at.origin);
    }

    /// Empties a subtable: everything given in it is gone.
    pub(crate) fn clear(&mut self, sub: Subtable) {
        self.provenance.remove_below(&self.place.key(sub.name()));
        match sub {
            Subtable::ClientKwargs => {
                self.kwargs = ClientKwargs::default();
                self.kwargs_params.clear();
                self.kwargs_issues = Issues::default();
            }
            Subtable::AuthorizeParams => {
                self.table_params.clear();
                self.param_issues = Issues::default();
            }
        }
    }

    /// The environment changed this table.
    pub(crate) fn touched_by_env(&mut self) {
        self.origin = self.origin.clone().with_env();
    }
}

/// What is known about the whole `[auth]` table so far.
#[derive(Debug)]
pub(crate) struct AuthDraft {
    /// Where `[auth]` as a whole came from.
    pub(crate) origin: ConfigSource,
    /// Shared keys given (valid or not).
    pub(crate) given: Vec<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) cookie_secret: Option<Secret>,
    /// The optional shared keys (defaults until given).
    pub(crate) settings: AuthSettings,
    /// Provider keys set in `[auth]` for every provider.
    pub(crate) provider_defaults: ProviderSettings,
    /// Provider keys written directly in `[auth]`: the default provider, unless there is an
    /// `[auth.default]` table (then they are ignored, as in Streamlit).
    pub(crate) top_level: ProviderDraft,
    /// `[auth.NAME]` tables, in the order given (`[auth.default]` among them).
    pub(crate) named: Vec<ProviderDraft>,
    /// Verdicts on `[auth]`'s own keys.
    pub(crate) issues: Issues,
    pub(crate) provenance: Provenance,
    /// Warnings already reported: from an earlier load, and about variable names.
    pub(crate) warnings: Warnings,
}

impl AuthDraft {
    /// An empty `[auth]` table from `origin`.
    pub(crate) fn new(origin: ConfigSource) -> AuthDraft {
        let mut provenance = Provenance::default();
        provenance.record("auth", &origin);
        AuthDraft {
            given: Vec::new(),
            redirect_uri: None,
            cookie_secret: None,
            settings: AuthSettings::default(),
            provider_defaults: ProviderSettings::default(),
            top_level: ProviderDraft::new(Place::top_level(), origin.clone()),
            named: Vec::new(),
            issues: Issues::default(),
            provenance,
            warnings: Warnings::default(),
            origin,
        }
    }

    /// A finished configuration back as a draft, to lay the environment over it. Values are
    /// not checked again and its warnings are kept (and not repeated).
    pub(crate) fn from_config(config: AuthConfig) -> AuthDraft {
        let AuthConfig {
            redirect_uri,
            cookie_secret,
            settings,
            providers,
            source,
            warnings,
            provenance,
            // Read again by whoever finishes the draft.
            platform: _,
        } = config;
        let origin = source.with_env();
        let mut draft = AuthDraft::new(origin);
        draft.given = ["redirect_uri", "cookie_secret"]
            .map(str::to_owned)
            .to_vec();
        draft.redirect_uri = Some(redirect_uri);
        draft.cookie_secret = Some(cookie_secret);
        draft.settings = settings;
        draft.provenance.extend(provenance);
        // `[auth]` as a whole now also comes from the environment.
        draft.provenance.record("auth", &draft.origin.clone());
        draft.warnings = Warnings::new(warnings);
        // Variables are reported after the keys the configuration has, as if appended.
        let has = |key: &str| match key {
            "expose_tokens" => draft.settings.expose_tokens != ExposeTokens::default(),
            "post_logout_redirect_uri" => draft.settings.post_logout_redirect_uri.is_some(),
            "session_store" => draft.settings.session_store.is_some(),
            _ => true,
        };
        let entries: Vec<String> = SHARED_KEYS
            .iter()
            .filter(|key| has(key))
            .map(|key| format!("auth.{key}"))
            .collect();
        for key in entries {
            draft.issues.enter(&key);
        }
        for provider in providers.into_values() {
            let provider = ProviderDraft::from_valid(provider);
            if provider.place.prefix == "auth" {
                draft.top_level = provider;
            } else {
                draft.issues.enter(&provider.place.prefix);
                draft.named.push(provider);
            }
        }
        draft
    }

    /// Whether the default provider is an `[auth.default]` table.
    pub(crate) fn has_default_table(&self) -> bool {
        self.named
            .iter()
            .any(|p| p.place.provider == DEFAULT_PROVIDER)
    }

    /// A new value of the shared key `name` arrives at `at`.
    pub(crate) fn replace(&mut self, name: &str, at: At<'_>) {
        if !self.given.iter().any(|g| g == name) {
            self.given.push(name.to_owned());
        }
        self.issues.forget(at.key);
        self.provenance.record(at.key, at.origin);
    }
}
