//! The `[auth]` table: its shared keys, and where every other key in it goes (the default
//! provider's keys, `[auth.NAME]` provider tables, or a warning).

use std::time::Duration;

use super::draft::AuthDraft;
use super::error::{ConfigError, ConfigSource};
use super::model::{ExposeTokens, Secret};
use super::provider::{self, apply_default_key};
use super::raw::{RawEntry, RawTable, RawValue};
use super::schema::{
    is_top_level_provider_key, CLIENT_KWARGS_KEYS, PROVIDER_DEFAULT_KEYS, SHARED_KEYS,
};
use super::uri::{check_redirect_uri, UriKind};
use super::values::{At, Field, NotAList};
use super::warnings::{ignored_key, Ignored};

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
    match name {
        k if SHARED_KEYS.contains(&k) => apply_shared(draft, k, field),
        k if is_top_level_provider_key(k) => provider::apply_entry(&mut draft.top_level, k, entry),
        k if PROVIDER_DEFAULT_KEYS.contains(&k) => {
            draft.issues.forget(&key);
            draft.provenance.record(&key, &entry.origin);
            apply_default_key(
                &mut draft.provider_defaults,
                &mut draft.issues,
                "[auth]",
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
                } else if name.contains('_') || name.is_empty() {
                    // Provider names cannot contain `_` and every known key does, so an
                    // unknown key with `_` is a typo and one without is a provider that is
                    // not a table.
                    let section = Ignored::Unknown { section: "[auth]" };
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
            let value = field.str().and_then(|v| cookie_secret(at, v, &mut notes));
            if let Some(value) = issues.settle(at.key, value, notes) {
                draft.cookie_secret = Some(value);
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
        _ => ignored_key(issues, field, name, Ignored::Unknown { section: "[auth]" }),
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
