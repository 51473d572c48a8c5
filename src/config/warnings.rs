//! What was found wrong or suspicious, kept until the whole configuration is known.
//!
//! Rules do not stop at the first problem: each value's verdict (its error, or its warnings)
//! is kept with its key in an [`Issues`] list, so a later source can replace the value (an
//! environment variable overriding a broken file value) and its verdict with it. Once every
//! source is in, the lists are reported in the order a reader would go through the file
//! (see `finish`), and [`ignored_key`] is the one place keys that are not used are reported.

use super::error::ConfigError;
use super::schema::{Table, PROVIDER_DEFAULT_KEYS};
use super::values::Field;
use crate::util::closest;

/// The warnings of one configuration, each logged once, when first reported.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    list: Vec<String>,
}

impl Warnings {
    /// Starts from warnings already reported (and logged) for the same configuration.
    pub(crate) fn new(existing: Vec<String>) -> Self {
        Warnings { list: existing }
    }

    /// Logs and keeps `message`, unless it was reported already.
    pub(crate) fn warn(&mut self, message: String) {
        if !self.list.contains(&message) {
            tracing::warn!("{message}");
            self.list.push(message);
        }
    }

    /// Every warning, in the order reported.
    pub(crate) fn into_vec(self) -> Vec<String> {
        self.list
    }
}

/// One verdict on a value.
#[derive(Debug)]
enum Issue {
    Error(ConfigError),
    Warning(String),
    /// A key the table does not have (reported as a warning), kept by name so that a
    /// required key found missing can point to it as a likely typo.
    Unknown {
        name: String,
        message: String,
    },
}

/// Verdicts of one section (a table), by dotted key, reported in the order of the table's
/// entries: a value given later for an entry (a variable overriding a file value) keeps the
/// entry's place, as it would in the file.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    found: Vec<(String, Issue)>,
    /// The table's entries (dotted keys), in the order first given.
    entries: Vec<String>,
}

impl Issues {
    /// Notes that the entry `key` of this table was given, keeping its first place.
    pub(crate) fn enter(&mut self, key: &str) {
        if !self.entries.iter().any(|e| e == key) {
            self.entries.push(key.to_owned());
        }
    }

    /// The place of the entry holding `key` (entries not given go last).
    pub(crate) fn place_of(&self, key: &str) -> usize {
        self.entries
            .iter()
            .position(|e| is_at_or_below(key, e))
            .unwrap_or(self.entries.len())
    }

    /// Records an error about `key`.
    pub(crate) fn error(&mut self, key: &str, error: ConfigError) {
        self.found.push((key.to_owned(), Issue::Error(error)));
    }

    /// Records a warning about `key`.
    pub(crate) fn warn(&mut self, key: &str, message: String) {
        self.found.push((key.to_owned(), Issue::Warning(message)));
    }

    /// The names of the keys written in this table that it does not have, in the order found.
    pub(crate) fn unknown_keys(&self) -> impl Iterator<Item = &str> {
        self.found.iter().filter_map(|(_, issue)| match issue {
            Issue::Unknown { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// Records a rule's verdict on the value at `key` (its notes, or its error) and hands
    /// back the value when there is one.
    pub(crate) fn settle<T>(
        &mut self,
        key: &str,
        result: Result<T, ConfigError>,
        notes: Vec<String>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                for note in notes {
                    self.warn(key, note);
                }
                Some(value)
            }
            Err(error) => {
                self.error(key, error);
                None
            }
        }
    }

    /// Forgets verdicts on `key` and on any table above it: a new value for `key` replaces
    /// the old one, and a table that was not a table is replaced by one.
    pub(crate) fn forget(&mut self, key: &str) {
        self.found.retain(|(k, _)| !is_at_or_below(key, k));
    }

    /// Reports the warnings in order, up to the first error, which is returned.
    pub(crate) fn report(mut self, warnings: &mut Warnings) -> Result<(), ConfigError> {
        let mut found = std::mem::take(&mut self.found);
        // Stable: verdicts on one entry stay in the order found.
        found.sort_by_key(|(key, _)| self.place_of(key));
        for (_, issue) in found {
            match issue {
                Issue::Warning(message) | Issue::Unknown { message, .. } => warnings.warn(message),
                Issue::Error(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// Whether the dotted `key` is `table` or a key inside it.
fn is_at_or_below(key: &str, table: &str) -> bool {
    key.strip_prefix(table)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Why a key is ignored where it is written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ignored<'a> {
    /// No such key in this section (`[auth]`, `[auth.google]`).
    Unknown {
        /// The section, as written in a file: `[auth]`, `[auth.google]`.
        section: &'a str,
        /// Which kind of table it is, for naming the key a misspelt one meant.
        table: Table,
    },
    /// One of `client_kwargs`' own keys written in the provider table itself.
    ClientKwarg,
    /// An Authlib client setting that this crate does not support.
    AuthlibSetting,
    /// An Authlib/HTTP-client option written in `client_kwargs`.
    ClientOption,
    /// A shared `[auth]` key written in a provider table.
    SharedKey,
}

/// The one place a key that is not used is reported (as a warning: Streamlit ignores such
/// keys too, so a file that works there keeps working here). `name` is the key's last part.
/// Replaces whatever was said about an earlier value of the same key.
pub(crate) fn ignored_key(issues: &mut Issues, field: Field<'_>, name: &str, why: Ignored<'_>) {
    let (path, origin) = (field.key, field.origin);
    issues.forget(path);
    let issue = match why {
        Ignored::Unknown { section, table } => {
            // Kept by name: a missing required key may be this one, misspelt.
            let hint = if origin.is_env_var() {
                " (environment variable segments are separated by two underscores, e.g. \
                 OIDC_AUTH__GOOGLE__CLIENT_ID)"
            } else {
                ""
            };
            let near = closest(name, table.known_keys());
            let meant = match near {
                Some(known) => format!("; did you mean `{known}`?"),
                None => String::new(),
            };
            // A misspelt allow-list would silently admit everyone: an error, not a warning.
            let rule_like = name.to_ascii_lowercase().starts_with("allow")
                || near.is_some_and(|known| PROVIDER_DEFAULT_KEYS.contains(&known));
            if rule_like {
                issues.found.push((
                    path.to_owned(),
                    Issue::Error(ConfigError::InvalidValue {
                        key: path.to_owned(),
                        reason: format!(
                            "`{name}` is not a rule this crate knows{} A misspelt \
                             allow-list would admit everyone, so the app does not start. The \
                             rules are {}.",
                            if meant.is_empty() { "." } else { &meant },
                            PROVIDER_DEFAULT_KEYS.join(", ")
                        ),
                        origin: origin.clone(),
                    }),
                ));
                return;
            }
            Issue::Unknown {
                name: name.to_owned(),
                message: format!(
                    "unknown key `{path}` in {section} of {origin} is ignored{hint}{meant}"
                ),
            }
        }
        Ignored::ClientKwarg => {
            let hint = if origin.is_env_var() {
                format!(
                    "its variable needs a CLIENT_KWARGS__{} segment",
                    name.to_ascii_uppercase()
                )
            } else {
                format!("e.g. `client_kwargs = {{ {name} = ... }}`")
            };
            Issue::Warning(format!(
                "`{path}` in {origin} is ignored: `{name}` belongs in client_kwargs ({hint})"
            ))
        }
        Ignored::AuthlibSetting => Issue::Warning(format!(
            "`{path}` in {origin} is an Authlib setting that tower-oidc-login does not support; \
             it is ignored (endpoints always come from server_metadata_url)"
        )),
        Ignored::ClientOption => Issue::Warning(format!(
            "`{path}` in {origin} is an Authlib/HTTP-client option that tower-oidc-login does not \
             support; it is ignored"
        )),
        Ignored::SharedKey if name == "expose_tokens" => Issue::Warning(format!(
            "`{path}` in {origin} is ignored: expose_tokens is only read from [auth] itself"
        )),
        Ignored::SharedKey => Issue::Warning(format!(
            "`{path}` in {origin} is ignored: `{name}` is shared by all providers and only read \
             from [auth] itself"
        )),
    };
    issues.found.push((path.to_owned(), issue));
}
