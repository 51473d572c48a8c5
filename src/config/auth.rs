//! The `[auth]` table: its shared keys, and where every other key in it goes (the default
//! provider's keys, `[auth.NAME]` provider tables, or a warning).

use std::time::Duration;

use super::draft::AuthDraft;
use super::error::{ConfigError, ConfigSource};
use super::model::{ExposeTokens, Secret, SessionStoreConfig};
use super::provider::{self, apply_default_key};
use super::raw::{RawEntry, RawTable, RawValue};
use super::schema::{
    is_top_level_provider_key, Table, CLIENT_KWARGS_KEYS, PROVIDER_DEFAULT_KEYS, SHARED_KEYS,
};
use super::uri::{check_redirect_uri, UriKind};
use super::values::{At, Field, NotAList};
use super::warnings::{ignored_key, Ignored};
use crate::util::closest;

const MAX_SESSION_DAYS: i64 = 400;
const MIN_COOKIE_SECRET_BYTES: usize = 32;
const SECS_PER_DAY: u64 = 24 * 60 * 60;

/// Reads the `[auth]` table of a file; `origin` is where the table as a whole came from.
pub(crate) fn read_table(table: &RawTable, origin: ConfigSource) -> AuthDraft {
    let mut draft = AuthDraft::new(origin);
    for (key, entry) in &table.entries {
        apply_entry(&mut draft, key, entry);
    }
    draft
}

/// Applies one entry of `[auth]` (from a file, or an environment variable aimed at
/// `[auth]` itself).
pub(crate) fn apply_entry(draft: &mut AuthDraft, name: &str, entry: &RawEntry) {
    let key = format!("auth.{name}");
    let field = Field::new(&key, entry);
    draft.issues.enter(&key);
    // Each branch checks for an unresolved Key Vault reference once it has recorded the
    // key as given, so the error is about the value, never "missing cookie_secret" for a
    // variable that was set (provider keys: `provider::apply_entry`).
    match name {
        k if SHARED_KEYS.contains(&k) => apply_shared(draft, k, field),
        k if is_top_level_provider_key(k) => provider::apply_entry(&mut draft.top_level, k, entry),
        k if PROVIDER_DEFAULT_KEYS.contains(&k) => {
            draft.issues.forget(&key);
            draft.provenance.record(&key, &entry.origin);
            if let Err(e) = field.resolved() {
                return draft.issues.error(&key, e);
            }
            apply_default_key(
                &mut draft.provider_defaults,
                &mut draft.issues,
                "[auth]",
                Table::Auth,
                field,
            );
        }
        _ => match &entry.value {
            RawValue::Table(table) => {
                draft
                    .named
                    .push(provider::read_table(name, table, &entry.origin));
            }
            _ => {
                // A value replaces a provider table of the same name (only a variable can
                // write over a table).
                draft.named.retain(|p| p.place.provider != name);
                if CLIENT_KWARGS_KEYS.contains(&name) {
                    ignored_key(&mut draft.issues, field, name, Ignored::ClientKwarg)
                } else if name.contains('_')
                    || name.is_empty()
                    || closest(name, Table::Auth.known_keys()).is_some()
                {
                    // Provider names cannot contain `_` and every known key does, so an
                    // unknown key with `_` is a typo, and so is one close to a known key
                    // (`clientid`); any other is a provider that is not a table.
                    let section = Ignored::Unknown {
                        section: "[auth]",
                        table: Table::Auth,
                    };
                    ignored_key(&mut draft.issues, field, name, section)
                } else {
                    draft.issues.forget(&key);
                    if let Err(e) = field.table() {
                        draft.issues.error(&key, e);
                    }
                }
            }
        },
    }
}

/// One of `[auth]`'s shared keys, written in a file or a variable.
fn apply_shared(draft: &mut AuthDraft, name: &str, field: Field<'_>) {
    let at = field.at();
    draft.replace(name, at);
    if let Err(e) = field.resolved() {
        return draft.issues.error(at.key, e);
    }
    let mut notes = Vec::new();
    let issues = &mut draft.issues;
    match name {
        "redirect_uri" => {
            let value = field.str().and_then(|v| redirect_uri(at, v));
            if let Some(value) = issues.settle(at.key, value, notes) {
                draft.redirect_uri = Some(value);
            }
        }
        "cookie_secret" => {
            if let Some(mut secrets) =
                issues.settle(at.key, cookie_secrets(field, &mut notes), notes)
            {
                draft.cookie_secret = Some(secrets.remove(0));
                draft.settings.previous_cookie_secrets = secrets;
            }
        }
        "session_max_age" => {
            let value = field.duration().and_then(|d| session_lifetime(at, d));
            if let Some(value) = issues.settle(at.key, value, notes) {
                draft.settings.session_lifetime = value;
            }
        }
        "session_idle_timeout" => {
            let value = field.duration().and_then(|d| session_idle_timeout(at, d));
            if let Some(value) = issues.settle(at.key, value, notes) {
                draft.settings.session_idle_timeout = Some(value);
            }
        }
        "session_follows_provider" => {
            if let Some(value) = issues.settle(at.key, field.boolean(), notes) {
                draft.settings.session_follows_provider = value;
            }
        }
        "canonical_host" => {
            if let Some(value) = issues.settle(at.key, field.boolean(), notes) {
                draft.settings.canonical_host = value;
            }
        }
        "session_store" => {
            let value = field.str().and_then(|v| session_store(at, v));
            if let Some(value) = issues.settle(at.key, value, notes) {
                draft.settings.session_store = Some(value);
            }
        }
        "expose_tokens" => {
            if let Some(value) = issues.settle(at.key, expose_tokens(field), notes) {
                draft.settings.expose_tokens = value;
            }
        }
        "post_logout_redirect_uri" => {
            let value = field.str().and_then(|v| post_logout_redirect_uri(at, v));
            if let Some(value) = issues.settle(at.key, value, notes) {
                draft.settings.post_logout_redirect_uri = Some(value);
            }
        }
        "session_lifetime_days" => {
            if let Some(value) = issues.settle(at.key, session_lifetime_days(field), notes) {
                draft.settings.session_lifetime = value;
            }
        }
        // A key listed in `schema::SHARED_KEYS` without a rule here.
        _ => {
            let section = Ignored::Unknown {
                section: "[auth]",
                table: Table::Auth,
            };
            ignored_key(issues, field, name, section)
        }
    }
}

/// `redirect_uri`: an absolute callback URL, possibly with `{port}`.
pub(crate) fn redirect_uri(at: At<'_>, value: &str) -> Result<String, ConfigError> {
    check_redirect_uri(at, value, UriKind::Redirect)?;
    Ok(value.to_owned())
}

/// `post_logout_redirect_uri`: an absolute URL of the app, possibly with `{port}`.
pub(crate) fn post_logout_redirect_uri(at: At<'_>, value: &str) -> Result<String, ConfigError> {
    check_redirect_uri(at, value, UriKind::PostLogout)?;
    Ok(value.to_owned())
}

/// `cookie_secret`: not blank; shorter than 32 bytes is accepted (Streamlit's own examples
/// are short) with a warning.
pub(crate) fn cookie_secret(
    at: At<'_>,
    value: &str,
    notes: &mut Vec<String>,
) -> Result<Secret, ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::EmptyCookieSecret {
            origin: at.origin.clone(),
        });
    }
    if value.len() < MIN_COOKIE_SECRET_BYTES {
        notes.push(format!(
            "`auth.cookie_secret` in {} is only {} bytes long; use at least \
             {MIN_COOKIE_SECRET_BYTES} random bytes (for example `openssl rand -hex 32`)",
            at.origin,
            value.len(),
        ));
    }
    Ok(Secret::new(value))
}

/// `cookie_secret` as a string, or a list whose first secret signs and all verify (to rotate
/// the secret without logging everyone out). A variable holds one secret, or a TOML list
/// such as `["new secret", "old secret"]` (its text starts with `[`), since a secret may
/// contain commas. Never empty.
fn cookie_secrets(field: Field<'_>, notes: &mut Vec<String>) -> Result<Vec<Secret>, ConfigError> {
    let at = field.at();
    let written: Vec<String> = match field.value {
        RawValue::Str(s) if field.is_env_text() && s.trim_start().starts_with('[') => toml_list(s)
            .ok_or_else(|| {
                field.invalid(
                    "starts with `[` but is not a list of strings such as [\"new secret\", \
                     \"old secret\"]",
                )
            })?,
        RawValue::Str(s) => vec![s.clone()],
        RawValue::Array(_) => field.string_list().map_err(|e| match e {
            NotAList::Item(type_name) => field.invalid(format!(
                "must be a string or a list of strings, but the list holds {type_name}"
            )),
            NotAList::Value(type_name) => field.invalid(format!(
                "must be a string or a list of strings, not {type_name}"
            )),
        })?,
        other => {
            return Err(field.invalid(format!(
                "must be a string or a list of strings, not {}",
                other.type_name()
            )))
        }
    };
    if written.is_empty() {
        return Err(ConfigError::EmptyCookieSecret {
            origin: at.origin.clone(),
        });
    }
    written
        .iter()
        .map(|secret| cookie_secret(at, secret, notes))
        .collect()
}

/// A variable's text read as a TOML list of strings.
fn toml_list(text: &str) -> Option<Vec<String>> {
    let doc: toml::Table = toml::from_str(&format!("v = {text}")).ok()?;
    doc.get("v")?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The stores this build includes (their cargo features).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreFeatures {
    pub(crate) sqlite: bool,
    pub(crate) redis: bool,
}

impl StoreFeatures {
    pub(crate) const BUILT: StoreFeatures = StoreFeatures {
        sqlite: cfg!(feature = "sqlite"),
        redis: cfg!(feature = "redis"),
    };
}

/// `session_store`: `memory`, `sqlite://PATH`, `redis://…` or `rediss://…`. A store whose
/// cargo feature this build lacks is an error saying which feature to enable. The Redis URL
/// may hold a password: messages quote it without.
pub(crate) fn session_store(at: At<'_>, value: &str) -> Result<SessionStoreConfig, ConfigError> {
    session_store_in(at, value, StoreFeatures::BUILT)
}

/// [`session_store`] for a build with `features`.
pub(crate) fn session_store_in(
    at: At<'_>,
    value: &str,
    features: StoreFeatures,
) -> Result<SessionStoreConfig, ConfigError> {
    let value = value.trim();
    let shown = super::uri::redact_userinfo(value);
    let (scheme, rest) = value.split_once("://").unwrap_or((value, ""));
    let needs = |feature: &str, store: &str| {
        at.invalid(format!(
            "\"{shown}\" names the {store} store, which this build does not include; enable \
             the `{feature}` feature of tower-oidc-login (for example \
             `cargo build --features {feature}`)"
        ))
    };
    match scheme.to_ascii_lowercase().as_str() {
        "memory" if rest.is_empty() => Ok(SessionStoreConfig::Memory),
        "sqlite" => {
            if !features.sqlite {
                return Err(needs("sqlite", "SQLite"));
            }
            let path = rest.split(['?', '#']).next().unwrap_or("");
            if path.is_empty() || path.starts_with(':') {
                return Err(at.invalid(format!(
                    "\"{shown}\" names no file; write sqlite://PATH, e.g. \
                     sqlite://.streamlit/sessions.db (relative to the working directory) or \
                     sqlite:///var/lib/app/sessions.db"
                )));
            }
            Ok(SessionStoreConfig::Sqlite(std::path::PathBuf::from(path)))
        }
        "redis" | "rediss" => {
            if !features.redis {
                return Err(needs("redis", "Redis"));
            }
            let url = url::Url::parse(value)
                .map_err(|e| at.invalid(format!("\"{shown}\" is not a URL ({e})")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(at.invalid(format!(
                    "\"{shown}\" has no host; write redis://HOST:PORT or rediss://HOST:PORT"
                )));
            }
            let db_ok = matches!(url.path(), "" | "/") || url.path()[1..].parse::<u8>().is_ok();
            if !db_ok {
                return Err(at.invalid(format!(
                    "\"{shown}\": the path must be a database number such as /0"
                )));
            }
            Ok(SessionStoreConfig::Redis(Secret::new(value)))
        }
        _ => Err(at.invalid(format!(
            "\"{shown}\" is not a store this library knows; use \"memory\", \
             \"sqlite://PATH\", \"redis://HOST:PORT\" or \"rediss://HOST:PORT\" (TLS)"
        ))),
    }
}

/// `expose_tokens`: `"id"`, `"access"` or a list of them (comma-separated in a variable).
fn expose_tokens(field: Field<'_>) -> Result<ExposeTokens, ConfigError> {
    let invalid = |found: String| ConfigError::InvalidExposeTokens {
        found,
        origin: field.origin.clone(),
    };
    let names = field.string_list().map_err(|e| match e {
        NotAList::Item(type_name) => invalid(format!("a list holding {type_name}")),
        NotAList::Value(type_name) => invalid(type_name.to_owned()),
    })?;
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

/// `session_lifetime_days`: a whole number of days from 1 to 400.
fn session_lifetime_days(field: Field<'_>) -> Result<Duration, ConfigError> {
    let expected = format!("a whole number of days from 1 to {MAX_SESSION_DAYS}");
    let days = field.whole_number("days", &expected)?;
    if !(1..=MAX_SESSION_DAYS).contains(&days) {
        return Err(field.invalid(format!(
            "{days} is out of range; it must be from 1 to {MAX_SESSION_DAYS} days"
        )));
    }
    Ok(Duration::from_secs(days.unsigned_abs() * SECS_PER_DAY))
}

/// `session_idle_timeout`: more than zero, at most the longest session (400 days).
pub(crate) fn session_idle_timeout(at: At<'_>, timeout: Duration) -> Result<Duration, ConfigError> {
    let max = Duration::from_secs(MAX_SESSION_DAYS.unsigned_abs() * SECS_PER_DAY);
    if timeout.is_zero() || timeout > max {
        return Err(at.invalid(format!(
            "{} seconds is out of range; the idle timeout must be more than 0 and at most \
             {MAX_SESSION_DAYS} days",
            timeout.as_secs()
        )));
    }
    Ok(timeout)
}

/// A session lifetime set in code may be shorter than a day, but not zero or above 400 days
/// (the longest cookie lifetime browsers honour).
pub(crate) fn session_lifetime(at: At<'_>, lifetime: Duration) -> Result<Duration, ConfigError> {
    let max = Duration::from_secs(MAX_SESSION_DAYS.unsigned_abs() * SECS_PER_DAY);
    if lifetime.is_zero() || lifetime > max {
        return Err(at.invalid(format!(
            "{} seconds is out of range; the session lifetime must be more than 0 and at most \
             {MAX_SESSION_DAYS} days",
            lifetime.as_secs()
        )));
    }
    Ok(lifetime)
}
