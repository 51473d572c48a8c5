//! Reading one written value as the type its key needs.
//!
//! A value is written either in a TOML file (typed by TOML) or in an environment variable
//! (always text). The readers here are the only place that difference is handled: an
//! environment value is parsed from its text (numbers, comma-separated lists) exactly where
//! a file would have had a TOML number or array. Every error names the key and the origin.

use super::error::{ConfigError, ConfigSource};
use super::raw::{RawEntry, RawTable, RawValue};

/// Where a value is being checked: its dotted key and its origin. Typed values (from the
/// builder) are checked with this alone; written ones come as a [`Field`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'a> {
    /// The dotted key, e.g. `auth.google.client_kwargs.timeout`.
    pub(crate) key: &'a str,
    /// Where the value came from.
    pub(crate) origin: &'a ConfigSource,
}

impl At<'_> {
    /// [`ConfigError::InvalidValue`] for this key.
    pub(crate) fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.key.to_owned(),
            reason: reason.into(),
            origin: self.origin.clone(),
        }
    }
}

/// The rule for strings that must say something (`client_id`, `client_secret`…).
pub(crate) fn non_empty<'v>(at: At<'_>, value: &'v str) -> Result<&'v str, ConfigError> {
    if value.trim().is_empty() {
        return Err(at.invalid("must not be empty"));
    }
    Ok(value)
}

/// How an App Service Key Vault reference starts (compared case-sensitively, as App Service
/// recognises it).
const KEY_VAULT_REFERENCE: &str = "@Microsoft.KeyVault(";

/// One written value with its dotted key and origin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field<'a> {
    /// The dotted key.
    pub(crate) key: &'a str,
    /// The value as written.
    pub(crate) value: &'a RawValue,
    /// Where it was written.
    pub(crate) origin: &'a ConfigSource,
}

/// Why a value is not a list of strings; callers word the error for their key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotAList {
    /// The value is a list, but this item is not a string (its type name).
    Item(&'static str),
    /// The value is neither a string nor a list (its type name).
    Value(&'static str),
}

impl<'a> Field<'a> {
    /// `entry` under the dotted `key`.
    pub(crate) fn new(key: &'a str, entry: &'a RawEntry) -> Self {
        Field {
            key,
            value: &entry.value,
            origin: &entry.origin,
        }
    }

    /// The key and origin, for the typed rules.
    pub(crate) fn at(&self) -> At<'a> {
        At {
            key: self.key,
            origin: self.origin,
        }
    }

    /// [`ConfigError::InvalidValue`] for this key.
    pub(crate) fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        self.at().invalid(reason)
    }

    /// Whether the value is an environment variable's text (which still needs typing).
    pub(crate) fn is_env_text(&self) -> bool {
        self.origin.is_env_var()
    }

    /// `Err` when the value (or an item of a list) is an App Service Key Vault reference
    /// that the platform did not resolve: App Service then hands the app the reference's
    /// own text, `@Microsoft.KeyVault(...)`, which would otherwise become a client secret
    /// refused at the first login, or silently the cookie signing key.
    pub(crate) fn resolved(&self) -> Result<(), ConfigError> {
        fn unresolved(value: &RawValue) -> bool {
            match value {
                RawValue::Str(s) => s.trim_start().starts_with(KEY_VAULT_REFERENCE),
                RawValue::Array(items) => items.iter().any(unresolved),
                _ => false,
            }
        }
        if !unresolved(self.value) {
            return Ok(());
        }
        Err(self.invalid(
            "the value is an App Service Key Vault reference that was not resolved \
             (@Microsoft.KeyVault(...) reached the app as text): the app's identity needs \
             permission to read the secret (the Key Vault Secrets User role), the reference must \
             name an existing secret, and App Service shows the reference's status under \
             Environment variables; see docs/entra-id-on-azure-app-service.md, section 4",
        ))
    }

    /// The value as a string.
    pub(crate) fn str(&self) -> Result<&'a str, ConfigError> {
        match self.value {
            RawValue::Str(s) => Ok(s),
            other => Err(self.invalid(format!("must be a string, not {}", other.type_name()))),
        }
    }

    /// The value as a table, or [`ConfigError::NotATable`].
    pub(crate) fn table(&self) -> Result<&'a RawTable, ConfigError> {
        match self.value {
            RawValue::Table(t) => Ok(t),
            other => Err(ConfigError::NotATable {
                key: self.key.to_owned(),
                found: other.type_name().into(),
                origin: self.origin.clone(),
            }),
        }
    }

    /// A number of seconds: a TOML integer or float, or a variable's text.
    pub(crate) fn seconds(&self) -> Result<f64, ConfigError> {
        match self.value {
            RawValue::Int(i) => Ok(*i as f64),
            RawValue::Float(f) => Ok(*f),
            RawValue::Str(s) if self.is_env_text() => s
                .trim()
                .parse::<f64>()
                .map_err(|_| self.invalid(format!("\"{s}\" is not a number of seconds"))),
            other => Err(self.invalid(format!(
                "must be a number of seconds (e.g. 10 or 2.5), not {}",
                other.type_name()
            ))),
        }
    }

    /// A whole number of `unit`: a TOML integer, or a variable's text. `expected` says what
    /// is allowed when the type is wrong ("a whole number of days from 1 to 400").
    pub(crate) fn whole_number(&self, unit: &str, expected: &str) -> Result<i64, ConfigError> {
        match self.value {
            RawValue::Int(i) => Ok(*i),
            RawValue::Str(s) if self.is_env_text() => s
                .trim()
                .parse::<i64>()
                .map_err(|_| self.invalid(format!("\"{s}\" is not a whole number of {unit}"))),
            other => Err(self.invalid(format!("must be {expected}, not {}", other.type_name()))),
        }
    }

    /// A duration written as a number and a unit: `"4s"`, `"30m"`, `"8h"`, `"30d"` (in a
    /// file and in a variable alike).
    pub(crate) fn duration(&self) -> Result<std::time::Duration, ConfigError> {
        let example = "a duration such as \"30m\", \"8h\" or \"30d\" (units s, m, h, d)";
        let RawValue::Str(text) = self.value else {
            return Err(self.invalid(format!("must be {example}, not {}", self.value.type_name())));
        };
        parse_duration(text)
            .ok_or_else(|| self.invalid(format!("\"{}\" is not {example}", text.escape_debug())))
    }

    /// A boolean: a TOML boolean, or a variable's `true`/`false` (any case).
    pub(crate) fn boolean(&self) -> Result<bool, ConfigError> {
        match self.value {
            RawValue::Bool(b) => Ok(*b),
            RawValue::Str(s) if self.is_env_text() => {
                match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(self.invalid(format!("\"{s}\" is not true or false"))),
                }
            }
            other => Err(self.invalid(format!("must be true or false, not {}", other.type_name()))),
        }
    }

    /// A list of strings: a TOML array of strings or a single string (one item); a
    /// variable's text is split at commas, since the environment has no lists.
    pub(crate) fn string_list(&self) -> Result<Vec<String>, NotAList> {
        match self.value {
            RawValue::Str(s) if self.is_env_text() => Ok(s
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()),
            RawValue::Str(s) => Ok(vec![s.clone()]),
            RawValue::Array(items) => items
                .iter()
                .map(|item| match item {
                    RawValue::Str(s) => Ok(s.clone()),
                    other => Err(NotAList::Item(other.type_name())),
                })
                .collect(),
            other => Err(NotAList::Value(other.type_name())),
        }
    }
}

/// `"30m"` and the like: a whole number and one unit of s, m, h or d.
pub(crate) fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let seconds = match unit {
        's' => number,
        'm' => number.checked_mul(60)?,
        'h' => number.checked_mul(60 * 60)?,
        'd' => number.checked_mul(24 * 60 * 60)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(seconds))
}
