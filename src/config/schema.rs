//! The configuration schema itself: which keys exist where, the environment-variable naming
//! scheme, and the authorization parameters nobody may configure.
//!
//! This is the leaf of `config/`: it imports nothing from the rest of the crate, so every
//! other file (the rules, the environment overlay, the error messages, the provider's
//! backstop) reads the same lists and none of them can drift apart.

/// The name of the provider defined directly in `[auth]` (or by `[auth.default]`), which
/// `/auth/login` uses when no provider is named.
pub const DEFAULT_PROVIDER: &str = "default";

/// Every variable of the environment scheme starts with this.
pub(crate) const ENV_PREFIX: &str = "OIDC_AUTH__";

/// Keys only read from `[auth]` itself and shared by all providers, in the order
/// documented.
pub(crate) const SHARED_KEYS: [&str; 10] = [
    "redirect_uri",
    "cookie_secret",
    "expose_tokens",
    "post_logout_redirect_uri",
    "session_lifetime_days",
    "session_store",
    "session_max_age",
    "session_idle_timeout",
    "session_follows_provider",
    "canonical_host",
];

/// The shared keys every configuration needs (Streamlit's first check), in schema order.
pub(crate) const REQUIRED_SHARED_KEYS: [&str; 2] = ["redirect_uri", "cookie_secret"];

/// Keys every provider needs, in schema order (missing ones are listed in this order).
pub(crate) const REQUIRED_PROVIDER_KEYS: [&str; 3] =
    ["client_id", "client_secret", "server_metadata_url"];

/// Optional keys of a provider table only (neither shared nor inherited from `[auth]`).
/// Written directly in `[auth]`, such a key belongs to the default provider defined there.
pub(crate) const OPTIONAL_PROVIDER_KEYS: [&str; 6] = [
    "fetch_userinfo",
    "client_private_key_file",
    "client_private_key",
    "client_certificate_file",
    "client_assertion",
    "managed_identity_client_id",
];

/// Keys valid in a provider table and, directly in `[auth]`, as the default for every
/// provider (a provider's own value wins): who may log in. Listing a key here routes it to
/// the provider rules from both places; see "Adding a key" in the `config` module.
pub(crate) const PROVIDER_DEFAULT_KEYS: [&str; 6] = [
    "allowed_emails",
    "allowed_email_domains",
    "allowed_groups",
    "allowed_roles",
    "allowed_tenants",
    "allow_any_tenant",
];

/// The two kinds of table keys are written in, each with its own valid keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// `[auth]` itself: the shared keys, and the keys of the default provider written there.
    Auth,
    /// An `[auth.NAME]` provider table.
    Provider,
}

impl Table {
    /// Every key valid in this kind of table (subtables included), for naming the key a
    /// misspelt one meant.
    pub(crate) fn known_keys(self) -> impl Iterator<Item = &'static str> {
        let shared: &[&'static str] = match self {
            Table::Auth => &SHARED_KEYS,
            Table::Provider => &[],
        };
        shared
            .iter()
            .chain(&REQUIRED_PROVIDER_KEYS)
            .chain(&OPTIONAL_PROVIDER_KEYS)
            .chain(&PROVIDER_DEFAULT_KEYS)
            .chain(&PROVIDER_SUBTABLES)
            .copied()
    }
}

/// Tables inside a provider (or inside `[auth]` for the default provider).
pub(crate) const PROVIDER_SUBTABLES: [&str; 2] = ["client_kwargs", "authorize_params"];

/// A provider's subtable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subtable {
    /// `client_kwargs`.
    ClientKwargs,
    /// `authorize_params`.
    AuthorizeParams,
}

impl Subtable {
    /// The subtable called `name`, if it is one.
    pub(crate) fn named(name: &str) -> Option<Subtable> {
        match name {
            "client_kwargs" => Some(Subtable::ClientKwargs),
            "authorize_params" => Some(Subtable::AuthorizeParams),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Subtable::ClientKwargs => "client_kwargs",
            Subtable::AuthorizeParams => "authorize_params",
        }
    }
}

/// `client_kwargs` keys with a meaning of their own; every other string in `client_kwargs`
/// is an authorization parameter.
pub(crate) const CLIENT_KWARGS_KEYS: [&str; 5] = [
    "scope",
    "prompt",
    "token_endpoint_auth_method",
    "code_challenge_method",
    "timeout",
];

/// Authlib's `OAUTH_CLIENT_PARAMS` that Streamlit passes through but this crate does not use:
/// endpoints always come from discovery. (`authorize_params` is used: it is a subtable.)
pub(crate) const AUTHLIB_IGNORED_KEYS: [&str; 8] = [
    "authorize_url",
    "access_token_url",
    "access_token_params",
    "refresh_token_url",
    "refresh_token_params",
    "request_token_url",
    "request_token_params",
    "api_base_url",
];

/// `client_kwargs` keys that Authlib/httpx treat as HTTP-session options, not authorization
/// parameters. Sending them to the provider would be wrong, so they are dropped with a warning.
pub(crate) const IGNORED_CLIENT_OPTIONS: [&str; 9] = [
    "token_placement",
    "revocation_endpoint_auth_method",
    "verify",
    "trust_env",
    "proxies",
    "proxy",
    "cert",
    "headers",
    "leeway",
];

/// Why an authorization parameter cannot be configured as a free-form parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// The login flow sets it on every request; a configured value would break or weaken
    /// the flow (`state`, `nonce` and PKCE are the CSRF and replay protections).
    SetByFlow,
    /// The flow sets it too, from the `client_kwargs` key of this name (`scope`, `prompt`)
    /// or from a fixed choice (`code_challenge_method` is always `S256`). In `client_kwargs`
    /// these names are that key, never a parameter; in `authorize_params` (or
    /// `ProviderConfig::param`) they are refused so the value is not sent twice.
    OwnedByClientKwargs,
}

/// THE list of authorization parameters nobody configures. The configuration refuses them
/// ([`super::error::ConfigError::ReservedParameter`]) and the provider drops them from the
/// authorization URL as a backstop, both from this one list.
/// The tenant segments of Microsoft Entra ID's discovery documents that admit users of
/// every Entra tenant (`consumers`, the other multi-tenant segment, is one fixed tenant:
/// personal Microsoft accounts). Checked by the configuration (Entra's hosts) and by
/// discovery (any host whose document turns out to be such a template).
pub(crate) const ADMITS_EVERY_TENANT: [&str; 2] = ["common", "organizations"];

pub(crate) const RESERVED_PARAMS: [(&str, Reserved); 9] = [
    ("response_type", Reserved::SetByFlow),
    ("client_id", Reserved::SetByFlow),
    ("redirect_uri", Reserved::SetByFlow),
    ("state", Reserved::SetByFlow),
    ("nonce", Reserved::SetByFlow),
    ("code_challenge", Reserved::SetByFlow),
    ("scope", Reserved::OwnedByClientKwargs),
    ("prompt", Reserved::OwnedByClientKwargs),
    ("code_challenge_method", Reserved::OwnedByClientKwargs),
];

/// Whether (and why) `name` is a reserved authorization parameter. Names are compared
/// exactly, as providers do.
pub(crate) fn reserved_param(name: &str) -> Option<Reserved> {
    RESERVED_PARAMS
        .iter()
        .find(|(reserved, _)| *reserved == name)
        .map(|(_, why)| *why)
}

/// How the error message tells the user where the value really belongs.
pub(crate) fn reserved_hint(param: &str) -> &'static str {
    match param {
        "scope" => "; set the scopes with client_kwargs.scope",
        "prompt" => "; set it with client_kwargs.prompt",
        "code_challenge_method" => "; PKCE with S256 is always used",
        _ => "",
    }
}

/// Whether `key` is one of a provider's subtables (`client_kwargs`, `authorize_params`).
pub(crate) fn is_provider_subtable(key: &str) -> bool {
    PROVIDER_SUBTABLES.contains(&key)
}

/// Whether `key`, written directly in `[auth]`, belongs to the default provider defined
/// there (rather than being a shared key or a provider name).
pub(crate) fn is_top_level_provider_key(key: &str) -> bool {
    REQUIRED_PROVIDER_KEYS.contains(&key)
        || OPTIONAL_PROVIDER_KEYS.contains(&key)
        || is_provider_subtable(key)
        || AUTHLIB_IGNORED_KEYS.contains(&key)
}

/// The variable that sets `key` of `provider` (`default` or empty: the unnamed provider).
pub(crate) fn var_name(provider: &str, key: &str) -> String {
    let upper = key.to_ascii_uppercase();
    if provider.is_empty()
        || provider == DEFAULT_PROVIDER
        || SHARED_KEYS.contains(&key.to_ascii_lowercase().as_str())
    {
        format!("{ENV_PREFIX}{upper}")
    } else {
        // Provider names cannot contain `_`, so the scheme spells `-` as `_`.
        format!(
            "{ENV_PREFIX}{}__{upper}",
            provider.to_ascii_uppercase().replace('-', "_")
        )
    }
}
