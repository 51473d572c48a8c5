//! Turns the raw `[auth]` table into an [`AuthConfig`], checking everything up front.
//!
//! Streamlit checks its configuration when `st.login()` is first called; here every check
//! runs at start-up, so a typo fails the deploy instead of the first visitor's login.

use std::collections::BTreeMap;
use std::time::Duration;

use url::{Host, Url};

use super::error::{ConfigError, ConfigSource};
use super::raw::{RawEntry, RawTable, RawValue};
use super::{
    AuthConfig, ClientKwargs, ExposeTokens, ProviderConfig, Secret, TokenEndpointAuth,
    DEFAULT_PROVIDER,
};

/// Keys only read from `[auth]` itself, shared by all providers.
pub(crate) const SHARED_KEYS: [&str; 5] = [
    "redirect_uri",
    "cookie_secret",
    "expose_tokens",
    "post_logout_redirect_uri",
    "session_lifetime_days",
];

/// Keys every provider needs.
pub(crate) const REQUIRED_PROVIDER_KEYS: [&str; 3] =
    ["client_id", "client_secret", "server_metadata_url"];

/// Tables inside a provider (or inside `[auth]` for the default provider).
const PROVIDER_SUBTABLES: [&str; 2] = ["client_kwargs", "authorize_params"];

pub(crate) fn is_provider_subtable(key: &str) -> bool {
    PROVIDER_SUBTABLES.contains(&key)
}

/// Authlib's `OAUTH_CLIENT_PARAMS` that Streamlit passes through but this crate does not use:
/// endpoints always come from discovery. (`authorize_params` is used; see above.)
const AUTHLIB_IGNORED_KEYS: [&str; 8] = [
    "authorize_url",
    "access_token_url",
    "access_token_params",
    "refresh_token_url",
    "refresh_token_params",
    "request_token_url",
    "request_token_params",
    "api_base_url",
];

/// Authorization parameters the login flow sets itself; overriding them would break or
/// weaken the flow (state/nonce/PKCE are the CSRF and replay protections).
const RESERVED_PARAMS: [&str; 6] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
];

/// `client_kwargs` keys that Authlib/httpx treat as HTTP-session options, not authorization
/// parameters. Sending them to the provider would be wrong, so they are dropped with a warning.
const IGNORED_CLIENT_OPTIONS: [&str; 9] = [
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

/// `client_kwargs` keys with a meaning of their own (everything else is a parameter).
const CLIENT_KWARGS_KEYS: [&str; 5] = [
    "scope",
    "prompt",
    "token_endpoint_auth_method",
    "code_challenge_method",
    "timeout",
];

/// Stands in for `{port}` while validating, since the real port is only known at serve time.
pub(crate) const PLACEHOLDER_PORT: u16 = 8501;

const MAX_TIMEOUT_SECS: f64 = 300.0;
const MAX_SESSION_DAYS: i64 = 400;
const DEFAULT_SESSION_DAYS: u64 = 30;
const MIN_COOKIE_SECRET_BYTES: usize = 32;
const SECS_PER_DAY: u64 = 24 * 60 * 60;

/// The default `session_lifetime`: 30 days, like Streamlit's auth cookie.
pub(crate) const DEFAULT_SESSION_LIFETIME: Duration =
    Duration::from_secs(DEFAULT_SESSION_DAYS * SECS_PER_DAY);

/// Collected warnings, each logged once as it is first seen.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    list: Vec<String>,
}

impl Warnings {
    /// Starts from warnings already reported (and logged) for the same configuration.
    pub(crate) fn new(existing: Vec<String>) -> Self {
        Warnings { list: existing }
    }

    pub(crate) fn warn(&mut self, message: String) {
        if !self.list.contains(&message) {
            tracing::warn!("{message}");
            self.list.push(message);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.list
    }
}

/// Validates `[auth]`. `origin` is where the table as a whole came from.
pub(crate) fn validate_auth(
    auth: &RawTable,
    origin: &ConfigSource,
    warnings: &mut Warnings,
) -> Result<AuthConfig, ConfigError> {
    let default_table = match auth.get(DEFAULT_PROVIDER) {
        Some(RawEntry {
            value: RawValue::Table(t),
            origin,
        }) => Some((t, origin)),
        _ => None,
    };
    let top_has_provider = REQUIRED_PROVIDER_KEYS.iter().any(|k| auth.contains(k));

    // Streamlit's first checks: the shared keys, then the default provider's keys. All gaps
    // in [auth] are reported at once so a single edit fixes them.
    let mut missing: Vec<String> = ["redirect_uri", "cookie_secret"]
        .iter()
        .filter(|k| !auth.contains(k))
        .map(|k| (*k).to_owned())
        .collect();
    let mut provider_gap = false;
    if default_table.is_none() && top_has_provider {
        for k in REQUIRED_PROVIDER_KEYS {
            if !auth.contains(k) {
                missing.push(k.to_owned());
                provider_gap = true;
            }
        }
    }
    if !missing.is_empty() {
        return Err(ConfigError::MissingKeys {
            section: "[auth]".into(),
            provider: if provider_gap {
                DEFAULT_PROVIDER.into()
            } else {
                String::new()
            },
            keys: missing,
            origin: origin.clone(),
        });
    }

    let mut redirect_uri = None;
    let mut cookie_secret = None;
    let mut expose_tokens = ExposeTokens::default();
    let mut post_logout_redirect_uri = None;
    let mut session_lifetime = DEFAULT_SESSION_LIFETIME;
    let mut named: Vec<(&str, &RawTable, &ConfigSource)> = Vec::new();

    for (key, entry) in &auth.entries {
        let path = format!("auth.{key}");
        match key.as_str() {
            "redirect_uri" => {
                let value = expect_str(entry, &path)?;
                check_redirect_uri(&path, value, &entry.origin, UriKind::Redirect)?;
                redirect_uri = Some(value.to_owned());
            }
            "cookie_secret" => {
                let value = expect_str(entry, &path)?;
                if value.trim().is_empty() {
                    return Err(ConfigError::EmptyCookieSecret {
                        origin: entry.origin.clone(),
                    });
                }
                if value.len() < MIN_COOKIE_SECRET_BYTES {
                    warnings.warn(format!(
                        "`auth.cookie_secret` in {} is only {} bytes long; use at least {} \
                         random bytes (for example `openssl rand -hex 32`)",
                        entry.origin,
                        value.len(),
                        MIN_COOKIE_SECRET_BYTES
                    ));
                }
                cookie_secret = Some(Secret::new(value));
            }
            "expose_tokens" => expose_tokens = parse_expose_tokens(entry)?,
            "post_logout_redirect_uri" => {
                let value = expect_str(entry, &path)?;
                check_redirect_uri(&path, value, &entry.origin, UriKind::PostLogout)?;
                post_logout_redirect_uri = Some(value.to_owned());
            }
            "session_lifetime_days" => session_lifetime = parse_session_lifetime(entry, &path)?,
            k if REQUIRED_PROVIDER_KEYS.contains(&k)
                || is_provider_subtable(k)
                || AUTHLIB_IGNORED_KEYS.contains(&k) => {}
            _ => match &entry.value {
                RawValue::Table(t) => named.push((key.as_str(), t, &entry.origin)),
                _ if CLIENT_KWARGS_KEYS.contains(&key.as_str()) => {
                    warnings.warn(misplaced_kwarg(&path, key, &entry.origin))
                }
                // Provider names cannot contain `_` and every known key does, so an unknown
                // key with `_` is a typo and one without is a provider that is not a table.
                _ if key.contains('_') || key.is_empty() => {
                    warnings.warn(unknown_key(&path, "[auth]", &entry.origin))
                }
                other => {
                    return Err(ConfigError::NotATable {
                        key: path,
                        found: other.type_name().into(),
                        origin: entry.origin.clone(),
                    })
                }
            },
        }
    }

    let mut providers = BTreeMap::new();
    if default_table.is_some() {
        let shadowed: Vec<&str> = auth
            .entries
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                REQUIRED_PROVIDER_KEYS.contains(k)
                    || is_provider_subtable(k)
                    || AUTHLIB_IGNORED_KEYS.contains(k)
            })
            .collect();
        if !shadowed.is_empty() {
            warnings.warn(format!(
                "[auth] in {origin} has both [auth.default] and default-provider keys directly \
                 in [auth] ({}); as in Streamlit, [auth.default] is used and those keys are \
                 ignored",
                shadowed.join(", ")
            ));
        }
    } else if top_has_provider {
        let provider = parse_provider(
            DEFAULT_PROVIDER,
            "[auth]",
            "auth",
            auth,
            origin,
            true,
            warnings,
        )?;
        providers.insert(DEFAULT_PROVIDER.to_owned(), provider);
    } else {
        let stray: Vec<&str> = auth
            .entries
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| is_provider_subtable(k) || AUTHLIB_IGNORED_KEYS.contains(k))
            .collect();
        if !stray.is_empty() {
            warnings.warn(format!(
                "[auth] in {origin} has {} but no client_id, client_secret or \
                 server_metadata_url, so it defines no default provider and these keys are \
                 ignored (they are not inherited by [auth.NAME] providers)",
                stray.join(", ")
            ));
        }
    }

    for (name, table, table_origin) in named {
        check_provider_name(name, table_origin)?;
        let provider = parse_provider(
            name,
            &format!("[auth.{name}]"),
            &format!("auth.{name}"),
            table,
            table_origin,
            false,
            warnings,
        )?;
        providers.insert(name.to_owned(), provider);
    }

    if providers.is_empty() {
        return Err(ConfigError::NoProvider {
            origin: origin.clone(),
        });
    }

    // Both are present: the missing-keys check above returned otherwise.
    let (Some(redirect_uri), Some(cookie_secret)) = (redirect_uri, cookie_secret) else {
        return Err(ConfigError::MissingKeys {
            section: "[auth]".into(),
            provider: String::new(),
            keys: vec!["redirect_uri".into(), "cookie_secret".into()],
            origin: origin.clone(),
        });
    };

    Ok(AuthConfig {
        redirect_uri,
        cookie_secret,
        expose_tokens,
        post_logout_redirect_uri,
        providers,
        source: origin.clone(),
        session_lifetime,
        warnings: Vec::new(),
    })
}

fn misplaced_kwarg(path: &str, key: &str, origin: &ConfigSource) -> String {
    let hint = if origin.is_env_var() {
        format!(
            "its variable needs a CLIENT_KWARGS__{} segment",
            key.to_ascii_uppercase()
        )
    } else {
        format!("e.g. `client_kwargs = {{ {key} = ... }}`")
    };
    format!("`{path}` in {origin} is ignored: `{key}` belongs in client_kwargs ({hint})")
}

fn unknown_key(path: &str, section: &str, origin: &ConfigSource) -> String {
    let hint = if origin.is_env_var() {
        " (environment variable segments are separated by two underscores, e.g. \
         OIDC_AUTH__GOOGLE__CLIENT_ID)"
    } else {
        ""
    };
    format!("unknown key `{path}` in {section} of {origin} is ignored{hint}")
}

pub(crate) fn check_provider_name(name: &str, origin: &ConfigSource) -> Result<(), ConfigError> {
    if name.contains('_') {
        return Err(ConfigError::UnderscoreInProviderName {
            provider: name.to_owned(),
            origin: origin.clone(),
        });
    }
    if name.trim().is_empty() {
        return Err(ConfigError::InvalidValue {
            key: format!("auth.\"{name}\""),
            reason: "a login provider needs a non-empty name".into(),
            origin: origin.clone(),
        });
    }
    Ok(())
}

fn parse_provider(
    name: &str,
    section: &str,
    prefix: &str,
    table: &RawTable,
    table_origin: &ConfigSource,
    top_level: bool,
    warnings: &mut Warnings,
) -> Result<ProviderConfig, ConfigError> {
    let missing: Vec<String> = REQUIRED_PROVIDER_KEYS
        .iter()
        .filter(|k| !table.contains(k))
        .map(|k| (*k).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(ConfigError::MissingKeys {
            section: section.to_owned(),
            provider: name.to_owned(),
            keys: missing,
            origin: table_origin.clone(),
        });
    }

    let mut client_id = String::new();
    let mut client_secret = Secret::new("");
    let mut server_metadata_url = String::new();
    let mut client_kwargs: Option<(&RawTable, &ConfigSource)> = None;
    let mut authorize_params: Option<(&RawTable, &ConfigSource)> = None;

    for (key, entry) in &table.entries {
        let path = format!("{prefix}.{key}");
        match key.as_str() {
            "client_id" => {
                client_id = non_empty_str(entry, &path)?.to_owned();
            }
            "client_secret" => {
                client_secret = Secret::new(non_empty_str(entry, &path)?);
            }
            "server_metadata_url" => {
                let value = non_empty_str(entry, &path)?;
                check_metadata_url(&path, value, &entry.origin, warnings)?;
                server_metadata_url = value.to_owned();
            }
            "client_kwargs" | "authorize_params" => {
                let RawValue::Table(t) = &entry.value else {
                    return Err(ConfigError::NotATable {
                        key: path,
                        found: entry.value.type_name().into(),
                        origin: entry.origin.clone(),
                    });
                };
                if key == "client_kwargs" {
                    client_kwargs = Some((t, &entry.origin));
                } else {
                    authorize_params = Some((t, &entry.origin));
                }
            }
            k if AUTHLIB_IGNORED_KEYS.contains(&k) => warnings.warn(format!(
                "`{path}` in {} is an Authlib setting that tower-oidc-login does not support; \
                 it is ignored (endpoints always come from server_metadata_url)",
                entry.origin
            )),
            _ if top_level => {}
            "expose_tokens" => warnings.warn(format!(
                "`{path}` in {} is ignored: expose_tokens is only read from [auth] itself",
                entry.origin
            )),
            k if SHARED_KEYS.contains(&k) => warnings.warn(format!(
                "`{path}` in {} is ignored: `{k}` is shared by all providers and only read \
                 from [auth] itself",
                entry.origin
            )),
            k if CLIENT_KWARGS_KEYS.contains(&k) => {
                warnings.warn(misplaced_kwarg(&path, k, &entry.origin))
            }
            _ => warnings.warn(unknown_key(&path, section, &entry.origin)),
        }
    }

    let mut kwargs = match client_kwargs {
        Some((t, _)) => parse_client_kwargs(t, &format!("{prefix}.client_kwargs"), warnings)?,
        None => ClientKwargs::default(),
    };
    if let Some((t, _)) = authorize_params {
        let ap_prefix = format!("{prefix}.authorize_params");
        let mut from_table: Vec<&str> = Vec::new();
        for (param, entry) in &t.entries {
            let path = format!("{ap_prefix}.{param}");
            let RawValue::Str(value) = &entry.value else {
                return Err(ConfigError::InvalidValue {
                    key: path,
                    reason: format!(
                        "authorization parameters must be strings, not {}",
                        entry.value.type_name()
                    ),
                    origin: entry.origin.clone(),
                });
            };
            check_param(param, value, &path, &entry.origin, true)?;
            if from_table.contains(&param.as_str()) {
                return Err(ConfigError::InvalidValue {
                    key: path,
                    reason: "the parameter is set twice".into(),
                    origin: entry.origin.clone(),
                });
            }
            from_table.push(param);
            if kwargs.authorize_params.iter().any(|(k, _)| k == param) {
                warnings.warn(format!(
                    "`{path}` in {} is ignored: `{prefix}.client_kwargs.{param}` sets the same \
                     parameter and wins",
                    entry.origin
                ));
                continue;
            }
            kwargs.authorize_params.push((param.clone(), value.clone()));
        }
    }

    Ok(ProviderConfig {
        name: name.to_owned(),
        client_id,
        client_secret,
        server_metadata_url,
        client_kwargs: kwargs,
    })
}

fn parse_client_kwargs(
    table: &RawTable,
    prefix: &str,
    warnings: &mut Warnings,
) -> Result<ClientKwargs, ConfigError> {
    let mut kwargs = ClientKwargs::default();
    for (key, entry) in &table.entries {
        let path = format!("{prefix}.{key}");
        match key.as_str() {
            "scope" => kwargs.scope = parse_scope(entry, &path, warnings)?,
            "prompt" => {
                let value = expect_str(entry, &path)?;
                // An empty prompt is how a file says "send no prompt at all".
                kwargs.prompt = (!value.is_empty()).then(|| value.to_owned());
            }
            "token_endpoint_auth_method" => {
                let value = expect_str(entry, &path)?;
                kwargs.token_endpoint_auth_method = Some(match value {
                    "client_secret_basic" => TokenEndpointAuth::ClientSecretBasic,
                    "client_secret_post" => TokenEndpointAuth::ClientSecretPost,
                    other => {
                        return Err(ConfigError::InvalidValue {
                            key: path,
                            reason: format!(
                                "\"{other}\" is not supported; allowed values are \
                                 \"client_secret_basic\" and \"client_secret_post\""
                            ),
                            origin: entry.origin.clone(),
                        })
                    }
                });
            }
            "code_challenge_method" => {
                let value = expect_str(entry, &path)?;
                if value != "S256" {
                    return Err(ConfigError::InvalidValue {
                        key: path,
                        reason: format!(
                            "\"{value}\" is not supported; only \"S256\" is accepted (PKCE with \
                             S256 is always used, so this key can be left out)"
                        ),
                        origin: entry.origin.clone(),
                    });
                }
            }
            "timeout" => kwargs.timeout = parse_timeout(entry, &path)?,
            k if IGNORED_CLIENT_OPTIONS.contains(&k) => warnings.warn(format!(
                "`{path}` in {} is an Authlib/HTTP-client option that tower-oidc-login does not \
                 support; it is ignored",
                entry.origin
            )),
            param => {
                let RawValue::Str(value) = &entry.value else {
                    return Err(ConfigError::InvalidValue {
                        key: path,
                        reason: format!(
                            "must be a string, not {}: every client_kwargs key other than scope, \
                             prompt, token_endpoint_auth_method, code_challenge_method and \
                             timeout is sent to the provider as an authorization parameter",
                            entry.value.type_name()
                        ),
                        origin: entry.origin.clone(),
                    });
                };
                check_param(param, value, &path, &entry.origin, false)?;
                if let Some(slot) = kwargs.authorize_params.iter_mut().find(|(k, _)| k == param) {
                    slot.1 = value.clone();
                } else {
                    kwargs
                        .authorize_params
                        .push((param.to_owned(), value.clone()));
                }
            }
        }
    }
    Ok(kwargs)
}

/// Rules for a name/value sent as an authorization parameter.
pub(crate) fn check_param(
    name: &str,
    value: &str,
    path: &str,
    origin: &ConfigSource,
    from_authorize_params: bool,
) -> Result<(), ConfigError> {
    let owned_elsewhere = ["scope", "prompt", "code_challenge_method"];
    if RESERVED_PARAMS.contains(&name) || (from_authorize_params && owned_elsewhere.contains(&name))
    {
        return Err(ConfigError::ReservedParameter {
            key: path.to_owned(),
            param: name.to_owned(),
            origin: origin.clone(),
        });
    }
    if name.trim().is_empty() {
        return Err(ConfigError::InvalidValue {
            key: path.to_owned(),
            reason: "an authorization parameter needs a non-empty name".into(),
            origin: origin.clone(),
        });
    }
    if name == "response_mode" && value != "query" {
        return Err(ConfigError::InvalidValue {
            key: path.to_owned(),
            reason: format!(
                "\"{value}\" is not supported; only \"query\" works because the callback \
                 route receives the provider's answer as a GET request"
            ),
            origin: origin.clone(),
        });
    }
    Ok(())
}

fn parse_scope(
    entry: &RawEntry,
    path: &str,
    warnings: &mut Warnings,
) -> Result<Vec<String>, ConfigError> {
    let tokens: Vec<String> = match &entry.value {
        RawValue::Str(s) => s.split_whitespace().map(str::to_owned).collect(),
        RawValue::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                let RawValue::Str(s) = item else {
                    return Err(ConfigError::InvalidValue {
                        key: path.to_owned(),
                        reason: format!(
                            "must be a space-separated string (or a list of strings), but the \
                             list holds {}",
                            item.type_name()
                        ),
                        origin: entry.origin.clone(),
                    });
                };
                out.extend(s.split_whitespace().map(str::to_owned));
            }
            out
        }
        other => {
            return Err(ConfigError::InvalidValue {
                key: path.to_owned(),
                reason: format!(
                    "must be a space-separated string such as \"openid email profile\", not {}",
                    other.type_name()
                ),
                origin: entry.origin.clone(),
            })
        }
    };
    normalize_scope(tokens, path, &entry.origin, warnings)
}

/// Deduplicates scopes, checks RFC 6749's scope-token characters, and makes sure `openid` is
/// there: without it the provider does not run OpenID Connect and returns no ID token.
pub(crate) fn normalize_scope(
    tokens: Vec<String>,
    path: &str,
    origin: &ConfigSource,
    warnings: &mut Warnings,
) -> Result<Vec<String>, ConfigError> {
    let mut scope: Vec<String> = Vec::new();
    for token in tokens {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(ConfigError::InvalidValue {
                key: path.to_owned(),
                reason: format!(
                    "the scope \"{}\" contains characters scopes cannot have (quotes, \
                     backslashes or non-ASCII)",
                    token.escape_debug()
                ),
                origin: origin.clone(),
            });
        }
        if !scope.contains(&token) {
            scope.push(token);
        }
    }
    if !scope.iter().any(|s| s == "openid") {
        warnings.warn(format!(
            "`{path}` in {origin} does not include `openid`; it was added, since OpenID Connect \
             login needs it"
        ));
        scope.insert(0, "openid".into());
    }
    Ok(scope)
}

fn parse_timeout(entry: &RawEntry, path: &str) -> Result<Duration, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: path.to_owned(),
        reason,
        origin: entry.origin.clone(),
    };
    let secs = match &entry.value {
        RawValue::Int(i) => *i as f64,
        RawValue::Float(f) => *f,
        RawValue::Duration(d) => d.as_secs_f64(),
        RawValue::Str(s) if entry.origin.is_env_var() => s
            .trim()
            .parse::<f64>()
            .map_err(|_| invalid(format!("\"{s}\" is not a number of seconds")))?,
        other => {
            return Err(invalid(format!(
                "must be a number of seconds (e.g. 10 or 2.5), not {}",
                other.type_name()
            )))
        }
    };
    check_timeout_secs(secs).map_err(invalid)
}

pub(crate) fn check_timeout_secs(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_TIMEOUT_SECS {
        return Err(format!(
            "{secs} seconds is out of range; the timeout must be more than 0 and at most \
             {MAX_TIMEOUT_SECS} seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_session_lifetime(entry: &RawEntry, path: &str) -> Result<Duration, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: path.to_owned(),
        reason,
        origin: entry.origin.clone(),
    };
    let days = match &entry.value {
        RawValue::Int(i) => *i,
        RawValue::Duration(d) => {
            return check_session_lifetime(*d).map_err(invalid);
        }
        RawValue::Str(s) if entry.origin.is_env_var() => s
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(format!("\"{s}\" is not a whole number of days")))?,
        other => {
            return Err(invalid(format!(
                "must be a whole number of days from 1 to {MAX_SESSION_DAYS}, not {}",
                other.type_name()
            )))
        }
    };
    if !(1..=MAX_SESSION_DAYS).contains(&days) {
        return Err(invalid(format!(
            "{days} is out of range; it must be from 1 to {MAX_SESSION_DAYS} days"
        )));
    }
    Ok(Duration::from_secs(days.unsigned_abs() * SECS_PER_DAY))
}

/// Session lifetimes set in code may be shorter than a day but not zero or above 400 days
/// (the longest cookie lifetime browsers honour).
pub(crate) fn check_session_lifetime(d: Duration) -> Result<Duration, String> {
    let max = Duration::from_secs(MAX_SESSION_DAYS.unsigned_abs() * SECS_PER_DAY);
    if d.is_zero() || d > max {
        return Err(format!(
            "{} seconds is out of range; the session lifetime must be more than 0 and at most \
             {MAX_SESSION_DAYS} days",
            d.as_secs()
        ));
    }
    Ok(d)
}

fn parse_expose_tokens(entry: &RawEntry) -> Result<ExposeTokens, ConfigError> {
    let invalid = |found: String| ConfigError::InvalidExposeTokens {
        found,
        origin: entry.origin.clone(),
    };
    let names: Vec<String> = match &entry.value {
        // The environment has no lists, so a comma-separated string stands in for one.
        RawValue::Str(s) if entry.origin.is_env_var() => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        RawValue::Str(s) => vec![s.clone()],
        RawValue::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    RawValue::Str(s) => out.push(s.clone()),
                    other => return Err(invalid(format!("a list holding {}", other.type_name()))),
                }
            }
            out
        }
        other => return Err(invalid(other.type_name().into())),
    };
    let mut tokens = ExposeTokens::default();
    for name in names {
        match name.as_str() {
            "id" => tokens.id = true,
            "access" => tokens.access = true,
            other => return Err(invalid(format!("\"{}\"", other.escape_debug()))),
        }
    }
    Ok(tokens)
}

fn expect_str<'a>(entry: &'a RawEntry, path: &str) -> Result<&'a str, ConfigError> {
    match &entry.value {
        RawValue::Str(s) => Ok(s),
        other => Err(ConfigError::InvalidValue {
            key: path.to_owned(),
            reason: format!("must be a string, not {}", other.type_name()),
            origin: entry.origin.clone(),
        }),
    }
}

fn non_empty_str<'a>(entry: &'a RawEntry, path: &str) -> Result<&'a str, ConfigError> {
    let value = expect_str(entry, path)?;
    if value.trim().is_empty() {
        return Err(ConfigError::InvalidValue {
            key: path.to_owned(),
            reason: "must not be empty".into(),
            origin: entry.origin.clone(),
        });
    }
    Ok(value)
}

/// Which URL rules apply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriKind {
    /// `redirect_uri`: the callback route, so it needs its own path and no query.
    Redirect,
    /// `post_logout_redirect_uri`: any page of the app.
    PostLogout,
}

/// Replaces `{port}`; `None` with a placeholder present is [`ConfigError::PortRequired`].
pub(crate) fn substitute_port(value: &str, port: Option<u16>) -> Result<String, ConfigError> {
    if !value.contains("{port}") {
        return Ok(value.to_owned());
    }
    match port {
        Some(p) => Ok(value.replace("{port}", &p.to_string())),
        None => Err(ConfigError::PortRequired {
            value: redact_userinfo(value),
        }),
    }
}

/// Checks a redirect URL as it will be used, with `{port}` filled in by a stand-in.
pub(crate) fn check_redirect_uri(
    path: &str,
    value: &str,
    origin: &ConfigSource,
    kind: UriKind,
) -> Result<Url, ConfigError> {
    let concrete = substitute_port(value, Some(PLACEHOLDER_PORT))?;
    resolve_redirect_uri(path, value, &concrete, origin, kind)
}

/// Parses and checks `concrete` (the URL with the real port); errors quote `written`.
pub(crate) fn resolve_redirect_uri(
    path: &str,
    written: &str,
    concrete: &str,
    origin: &ConfigSource,
    kind: UriKind,
) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidRedirectUri {
        key: path.to_owned(),
        value: redact_userinfo(written),
        reason,
        origin: origin.clone(),
    };
    let example = match kind {
        UriKind::Redirect => "https://app.example.com/oauth2callback",
        UriKind::PostLogout => "https://app.example.com/",
    };
    let url = Url::parse(concrete).map_err(|e| {
        invalid(format!(
            "it is not an absolute URL ({e}); write the full URL, e.g. {example}"
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(format!(
            "the scheme must be https (or http on localhost), not \"{}\"",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(invalid(format!("it has no host; e.g. {example}")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it must not contain a user name or password".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("it must not have a #fragment".into()));
    }
    if kind == UriKind::Redirect {
        if url.query().is_some() {
            return Err(invalid(
                "it must not have a ?query; providers compare the redirect URI exactly".into(),
            ));
        }
        if url.path().is_empty() || url.path() == "/" {
            return Err(invalid(format!(
                "it needs a path of its own such as /oauth2callback (e.g. {example}): the \
                 login callback is served on that path"
            )));
        }
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(invalid(
            "plain http is only allowed on localhost, 127.0.0.0/8 or [::1]; use https so the \
             login code and session cookie cannot be intercepted"
                .into(),
        ));
    }
    Ok(url)
}

fn check_metadata_url(
    path: &str,
    value: &str,
    origin: &ConfigSource,
    warnings: &mut Warnings,
) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: path.to_owned(),
        reason,
        origin: origin.clone(),
    };
    let url = Url::parse(value).map_err(|e| {
        invalid(format!(
            "\"{}\" is not an absolute URL ({e}); it must be the provider's discovery URL, e.g. \
             https://accounts.google.com/.well-known/openid-configuration",
            redact_userinfo(value)
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(format!(
            "the scheme must be https (or http on localhost), not \"{}\"",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(invalid("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the URL must not contain a user name or password".into(),
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(invalid(format!(
            "\"{value}\" uses plain http on a host that is not localhost; use https, since the \
             provider's signing keys are fetched from there"
        )));
    }
    if !url.path().contains("/.well-known/") {
        warnings.warn(format!(
            "`{path}` in {origin} (\"{value}\") does not look like a discovery URL; it usually \
             ends in /.well-known/openid-configuration (the issuer URL alone is not enough)"
        ));
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Hides a `user:password@` part so a credential written into a URL is never echoed.
pub(crate) fn redact_userinfo(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = value.get(authority_start..).unwrap_or("");
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or("");
    match authority.rfind('@') {
        Some(at) => format!(
            "{}***{}",
            value.get(..authority_start).unwrap_or(""),
            value.get(authority_start + at..).unwrap_or("")
        ),
        None => value.to_owned(),
    }
}
