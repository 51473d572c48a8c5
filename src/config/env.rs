//! `OIDC_AUTH__*` environment variables laid over a draft key by key.
//!
//! A variable's name says which key it sets; its value goes through exactly the rule a file
//! value of that key would (numbers and lists are parsed from the text), and replaces the
//! earlier value together with whatever was found wrong with it, so a broken file value that
//! a variable overrides is never reported. Every error about it names the variable.

use super::auth;
use super::draft::{AuthDraft, Place, ProviderDraft};
use super::error::{ConfigError, ConfigSource};
use super::provider;
use super::raw::{RawEntry, RawValue};
use super::schema::{Subtable, DEFAULT_PROVIDER, ENV_PREFIX, SHARED_KEYS};

/// The scheme's variables out of a whole environment, sorted by name so values appended to
/// `client_kwargs` come out in a stable order whatever order the OS lists them in.
pub(crate) fn collect(env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| has_prefix(name))
        .collect();
    vars.sort();
    vars
}

/// The process environment, refusing a scheme variable whose value is not UTF-8 rather than
/// silently dropping it.
pub(crate) fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        if !has_prefix(&name) {
            continue;
        }
        match value.into_string() {
            Ok(value) => out.push((name, value)),
            Err(_) => {
                return Err(ConfigError::InvalidValue {
                    key: name.clone(),
                    reason: "the value is not valid UTF-8".into(),
                    origin: ConfigSource::Env(name),
                })
            }
        }
    }
    Ok(out)
}

fn has_prefix(name: &str) -> bool {
    name.get(..ENV_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
}

/// Where a variable's value goes.
#[derive(Debug)]
enum Target {
    /// A key of `[auth]` itself: a shared key, or a key of the default provider when that
    /// provider is written directly in `[auth]`.
    Auth(String),
    /// A key of a provider table (`None`: the default provider).
    Provider(Option<String>, String),
    /// A key of a provider's subtable.
    Sub(Option<String>, Subtable, String),
}

/// Lays every variable over `draft`, in order.
pub(crate) fn overlay(draft: &mut AuthDraft, vars: &[(String, String)]) {
    for (name, value) in vars {
        let Some(target) = parse_name(name, draft) else {
            continue;
        };
        let entry = RawEntry {
            value: RawValue::Str(value.clone()),
            origin: ConfigSource::Env(name.clone()),
        };
        match target {
            Target::Auth(key) => auth::apply_entry(draft, &key, &entry),
            Target::Provider(None, key) if !draft.has_default_table() => {
                auth::apply_entry(draft, &key, &entry)
            }
            Target::Sub(None, sub, key) if !draft.has_default_table() => {
                provider::apply_sub_entry(&mut draft.top_level, sub, &key, &entry)
            }
            Target::Provider(provider, key) => {
                let table = provider_table(draft, provider);
                provider::apply_entry(table, &key, &entry);
            }
            Target::Sub(provider, sub, key) => {
                let table = provider_table(draft, provider);
                provider::apply_sub_entry(table, sub, &key, &entry);
            }
        }
    }
}

fn parse_name(name: &str, draft: &mut AuthDraft) -> Option<Target> {
    let rest = name.get(ENV_PREFIX.len()..).unwrap_or("");
    let segments: Vec<&str> = rest.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        draft.warnings.warn(format!(
            "environment variable {name} is ignored: its name has an empty segment (segments \
             are separated by exactly two underscores, e.g. {ENV_PREFIX}GOOGLE__CLIENT_ID)"
        ));
        return None;
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    let sub = |s: &str| Subtable::named(&lower(s));
    match segments.as_slice() {
        [key] => {
            let key = lower(key);
            if SHARED_KEYS.contains(&key.as_str()) {
                Some(Target::Auth(key))
            } else {
                Some(Target::Provider(None, key))
            }
        }
        [first, key] => Some(match sub(first) {
            Some(table) => Target::Sub(None, table, lower(key)),
            None => Target::Provider(provider_name(first, draft), lower(key)),
        }),
        [provider, table, key] if sub(table).is_some() => {
            sub(table).map(|table| Target::Sub(provider_name(provider, draft), table, lower(key)))
        }
        _ => {
            draft.warnings.warn(format!(
                "environment variable {name} is ignored: it does not follow the scheme \
                 {ENV_PREFIX}KEY, {ENV_PREFIX}PROVIDER__KEY or \
                 {ENV_PREFIX}[PROVIDER__]CLIENT_KWARGS__KEY"
            ));
            None
        }
    }
}

/// Maps a provider segment to a provider name; `None` is the default provider.
fn provider_name(segment: &str, draft: &AuthDraft) -> Option<String> {
    // Provider names cannot contain `_`, so a single `_` can only stand for `-`.
    let wanted = segment.replace('_', "-");
    if wanted.eq_ignore_ascii_case(DEFAULT_PROVIDER) {
        return None;
    }
    let existing = draft
        .named
        .iter()
        .find(|p| p.place.provider.eq_ignore_ascii_case(&wanted));
    Some(match existing {
        Some(p) => p.place.provider.clone(),
        None => wanted.to_ascii_lowercase(),
    })
}

/// The provider table `provider` names (`None`: `[auth.default]`), created if needed. The
/// default provider is `[auth.default]` when there is such a table (it wins over provider
/// keys directly in `[auth]`, as in Streamlit); `overlay` handles the other case.
fn provider_table(draft: &mut AuthDraft, provider: Option<String>) -> &mut ProviderDraft {
    let name = provider.unwrap_or_else(|| DEFAULT_PROVIDER.to_owned());
    let index = match draft.named.iter().position(|p| p.place.provider == name) {
        Some(index) => index,
        None => {
            // A value written where this table now goes (`google = "x"`) is replaced by it.
            let place = Place::table(&name);
            draft.issues.forget(&place.prefix);
            draft.issues.enter(&place.prefix);
            let table = ProviderDraft::new(place, draft.origin.clone());
            draft.named.push(table);
            draft.named.len() - 1
        }
    };
    let table = &mut draft.named[index];
    table.touched_by_env();
    table
}
