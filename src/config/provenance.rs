//! Where each value came from: a file (and key), a variable, or the builder.
//!
//! Errors found after loading (the port substituted into `redirect_uri`, a provider's HTTP
//! client) read the origin of the key they are about from here, so they name the right file
//! or variable without anyone patching the error afterwards.

use std::collections::BTreeMap;

use super::error::ConfigSource;

/// Origins by dotted key (`auth.redirect_uri`, `auth.google.client_kwargs.timeout`,
/// `auth.google` for the table itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Provenance {
    origins: BTreeMap<String, ConfigSource>,
}

impl Provenance {
    /// Records (or replaces) where `key` came from.
    pub(crate) fn record(&mut self, key: &str, origin: &ConfigSource) {
        self.origins.insert(key.to_owned(), origin.clone());
    }

    /// Where exactly `key` came from, if it was given.
    pub(crate) fn get(&self, key: &str) -> Option<&ConfigSource> {
        self.origins.get(key)
    }

    /// Forgets `key`: its value was dropped.
    pub(crate) fn remove(&mut self, key: &str) {
        self.origins.remove(key);
    }

    /// Forgets every key inside the table `table`: its values were dropped.
    pub(crate) fn remove_below(&mut self, table: &str) {
        let inside = format!("{table}.");
        self.origins.retain(|key, _| !key.starts_with(&inside));
    }

    /// Adds every origin of `other`.
    pub(crate) fn extend(&mut self, other: Provenance) {
        self.origins.extend(other.origins);
    }
}

/// `key`, then each table above it: `auth.google.client_kwargs.timeout`,
/// `auth.google.client_kwargs`, `auth.google`, `auth`.
pub(crate) fn key_and_parents(key: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(key), |k| k.rfind('.').and_then(|i| k.get(..i)))
}
