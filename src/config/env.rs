//! `OIDC_AUTH__*` environment variables laid over the `[auth]` table key by key.
//!
//! The overlay works on the raw table, before validation, so an environment value goes
//! through exactly the checks a file value would, and every error names the variable.

use super::error::{ConfigError, ConfigSource};
use super::raw::{RawEntry, RawTable, RawValue};
use super::validate::{is_provider_subtable, Warnings, SHARED_KEYS};
use super::DEFAULT_PROVIDER;

/// Every variable of the scheme starts with this.
pub(crate) const ENV_PREFIX: &str = "OIDC_AUTH__";

/// The variable that sets `key` of `provider` (`default` or empty: the unnamed provider).
pub(crate) fn var_name(provider: &str, key: &str) -> String {
    let key = key.to_ascii_uppercase();
    if provider.is_empty()
        || provider == DEFAULT_PROVIDER
        || SHARED_KEYS.contains(&key.to_ascii_lowercase().as_str())
    {
        format!("{ENV_PREFIX}{key}")
    } else {
        format!(
            "{ENV_PREFIX}{}__{key}",
            provider.to_ascii_uppercase().replace('-', "_")
        )
    }
}

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

/// Where a variable's value goes in `[auth]`.
enum Target {
    /// A key of `[auth]` itself (`redirect_uri`…).
    Shared(String),
    /// A key of a provider (`None`: the default provider).
    Provider(Option<String>, String),
    /// A key of a provider's `client_kwargs` or `authorize_params` table.
    Sub(Option<String>, String, String),
}

/// Sets every variable into `auth`. `table_origin` is the origin given to tables the
/// environment creates.
pub(crate) fn apply(
    auth: &mut RawTable,
    vars: &[(String, String)],
    table_origin: &ConfigSource,
    warnings: &mut Warnings,
) {
    for (name, value) in vars {
        let Some(target) = parse_name(name, auth, warnings) else {
            continue;
        };
        let leaf = RawEntry {
            value: RawValue::Str(value.clone()),
            origin: ConfigSource::Env(name.clone()),
        };
        match target {
            Target::Shared(key) => auth.set(&key, leaf),
            Target::Provider(provider, key) => {
                provider_table(auth, provider.as_deref(), table_origin).set(&key, leaf)
            }
            Target::Sub(provider, sub, key) => {
                let table = provider_table(auth, provider.as_deref(), table_origin);
                sub_table(table, &sub, table_origin).set(&key, leaf);
            }
        }
    }
}

fn parse_name(name: &str, auth: &RawTable, warnings: &mut Warnings) -> Option<Target> {
    let rest = name.get(ENV_PREFIX.len()..).unwrap_or("");
    let segments: Vec<&str> = rest.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        warnings.warn(format!(
            "environment variable {name} is ignored: its name has an empty segment (segments \
             are separated by exactly two underscores, e.g. {ENV_PREFIX}GOOGLE__CLIENT_ID)"
        ));
        return None;
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    match segments.as_slice() {
        [key] => {
            let key = lower(key);
            if SHARED_KEYS.contains(&key.as_str()) {
                Some(Target::Shared(key))
            } else {
                Some(Target::Provider(None, key))
            }
        }
        [sub, key] if is_provider_subtable(&lower(sub)) => {
            Some(Target::Sub(None, lower(sub), lower(key)))
        }
        [provider, key] => Some(Target::Provider(provider_name(provider, auth), lower(key))),
        [provider, sub, key] if is_provider_subtable(&lower(sub)) => Some(Target::Sub(
            provider_name(provider, auth),
            lower(sub),
            lower(key),
        )),
        _ => {
            warnings.warn(format!(
                "environment variable {name} is ignored: it does not follow the scheme \
                 {ENV_PREFIX}KEY, {ENV_PREFIX}PROVIDER__KEY or \
                 {ENV_PREFIX}[PROVIDER__]CLIENT_KWARGS__KEY"
            ));
            None
        }
    }
}

/// Maps a provider segment to a provider name; `None` is the default provider.
fn provider_name(segment: &str, auth: &RawTable) -> Option<String> {
    // Provider names cannot contain `_`, so a single `_` can only stand for `-`.
    let wanted = segment.replace('_', "-");
    if wanted.eq_ignore_ascii_case(DEFAULT_PROVIDER) {
        return None;
    }
    let existing = auth.entries.iter().find(|(k, e)| {
        matches!(e.value, RawValue::Table(_))
            && !is_provider_subtable(k)
            && k.eq_ignore_ascii_case(&wanted)
    });
    Some(match existing {
        Some((k, _)) => k.clone(),
        None => wanted.to_ascii_lowercase(),
    })
}

/// The table holding `provider`'s keys, created if needed. The default provider is
/// `[auth.default]` when the file has that table (it wins over `[auth]`, as in Streamlit),
/// else `[auth]` itself.
fn provider_table<'a>(
    auth: &'a mut RawTable,
    provider: Option<&str>,
    table_origin: &ConfigSource,
) -> &'a mut RawTable {
    let name = match provider {
        Some(name) => name.to_owned(),
        None => {
            let has_default_table = auth
                .get(DEFAULT_PROVIDER)
                .is_some_and(|e| matches!(e.value, RawValue::Table(_)));
            if !has_default_table {
                return auth;
            }
            DEFAULT_PROVIDER.to_owned()
        }
    };
    sub_table(auth, &name, table_origin)
}

/// `parent[key]` as a table: an existing table is marked as changed by the environment; a
/// missing one, or a non-table value the environment overrides, becomes a new table.
fn sub_table<'a>(
    parent: &'a mut RawTable,
    key: &str,
    table_origin: &ConfigSource,
) -> &'a mut RawTable {
    let index = match parent.entries.iter().position(|(k, _)| k == key) {
        Some(i) => {
            let entry = &mut parent.entries[i].1;
            if matches!(entry.value, RawValue::Table(_)) {
                entry.origin = entry.origin.clone().with_env();
            } else {
                entry.origin = table_origin.clone();
            }
            i
        }
        None => {
            parent.entries.push((
                key.to_owned(),
                RawEntry {
                    value: RawValue::Table(RawTable::default()),
                    origin: table_origin.clone(),
                },
            ));
            parent.entries.len() - 1
        }
    };
    make_table(&mut parent.entries[index].1.value)
}

fn make_table(value: &mut RawValue) -> &mut RawTable {
    match value {
        RawValue::Table(t) => t,
        other => {
            *other = RawValue::Table(RawTable::default());
            make_table(other)
        }
    }
}
