//! Who may log in: the `allowed_*` keys of a provider table, or of `[auth]` as the default
//! for every provider (a provider's own key wins).
//!
//! Each list holds values written the way the provider's claims carry them; a user is
//! admitted when every rule that is set holds (any value of a list matching). The rules are
//! checked by `crate::access` at every login and whenever a stored session is read again.

use super::error::ConfigError;
use super::values::{At, Field, NotAList};

/// The authorization rules of one provider. Empty (every rule unset) admits everyone the
/// provider vouches for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRules {
    pub(super) emails: Option<Vec<String>>,
    pub(super) email_domains: Option<Vec<String>>,
    pub(super) groups: Option<Vec<String>>,
    pub(super) roles: Option<Vec<String>>,
    pub(super) tenants: Option<Vec<String>>,
    pub(super) allow_any_tenant: Option<bool>,
}

impl AccessRules {
    /// `allowed_emails`, lower-cased (compared case-insensitively, as people type them).
    pub fn emails(&self) -> Option<&[String]> {
        self.emails.as_deref()
    }

    /// `allowed_email_domains`, lower-cased.
    pub fn email_domains(&self) -> Option<&[String]> {
        self.email_domains.as_deref()
    }

    /// `allowed_groups` (the `groups` claim: Entra ID sends group object ids).
    pub fn groups(&self) -> Option<&[String]> {
        self.groups.as_deref()
    }

    /// `allowed_roles` (the `roles` claim: Entra ID app roles assigned to the user).
    pub fn roles(&self) -> Option<&[String]> {
        self.roles.as_deref()
    }

    /// `allowed_tenants`, lower-cased (Entra ID's `tid` claim).
    pub fn tenants(&self) -> Option<&[String]> {
        self.tenants.as_deref()
    }

    /// `allow_any_tenant`: a multi-tenant Entra ID provider may admit every tenant.
    pub fn allow_any_tenant(&self) -> bool {
        self.allow_any_tenant.unwrap_or(false)
    }

    /// Whether no rule is set (everyone the provider vouches for is admitted).
    pub fn admits_everyone(&self) -> bool {
        self.emails.is_none()
            && self.email_domains.is_none()
            && self.groups.is_none()
            && self.roles.is_none()
            && self.tenants.is_none()
    }

    /// A provider's own rules, each falling back to the one set in `[auth]` for every
    /// provider.
    pub(super) fn over(self, defaults: &AccessRules) -> AccessRules {
        // Destructured so that a new rule cannot be left out.
        let AccessRules {
            emails,
            email_domains,
            groups,
            roles,
            tenants,
            allow_any_tenant,
        } = defaults;
        AccessRules {
            emails: self.emails.or_else(|| emails.clone()),
            email_domains: self.email_domains.or_else(|| email_domains.clone()),
            groups: self.groups.or_else(|| groups.clone()),
            roles: self.roles.or_else(|| roles.clone()),
            tenants: self.tenants.or_else(|| tenants.clone()),
            allow_any_tenant: self.allow_any_tenant.or(*allow_any_tenant),
        }
    }
}

/// One of the rule keys, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleKey {
    Emails,
    EmailDomains,
    Groups,
    Roles,
    Tenants,
    AnyTenant,
}

impl RuleKey {
    /// The key called `name`, if it is a rule.
    pub(crate) fn named(name: &str) -> Option<RuleKey> {
        Some(match name {
            "allowed_emails" => RuleKey::Emails,
            "allowed_email_domains" => RuleKey::EmailDomains,
            "allowed_groups" => RuleKey::Groups,
            "allowed_roles" => RuleKey::Roles,
            "allowed_tenants" => RuleKey::Tenants,
            "allow_any_tenant" => RuleKey::AnyTenant,
            _ => return None,
        })
    }
}

/// Reads the written value of rule `key` into `rules`.
pub(crate) fn apply(
    rules: &mut AccessRules,
    key: RuleKey,
    field: Field<'_>,
) -> Result<(), ConfigError> {
    let at = field.at();
    if key == RuleKey::AnyTenant {
        rules.allow_any_tenant = Some(field.boolean()?);
        return Ok(());
    }
    let values = field.string_list().map_err(|e| match e {
        NotAList::Item(type_name) => field.invalid(format!(
            "must be a list of strings, but the list holds {type_name}"
        )),
        NotAList::Value(type_name) => {
            field.invalid(format!("must be a list of strings, not {type_name}"))
        }
    })?;
    set(rules, key, at, values)
}

/// Checks `values` for rule `key` and stores them: the rule of a file's value and a value
/// made in code alike.
pub(crate) fn set(
    rules: &mut AccessRules,
    key: RuleKey,
    at: At<'_>,
    values: Vec<String>,
) -> Result<(), ConfigError> {
    if values.is_empty() {
        return Err(at.invalid(
            "an empty list admits nobody; remove the key to admit everyone the provider \
             vouches for",
        ));
    }
    let mut checked = Vec::with_capacity(values.len());
    for value in values {
        let value = value.trim();
        if value.is_empty() {
            return Err(at.invalid("holds an empty value"));
        }
        let checked_value = match key {
            RuleKey::Emails => email(at, value)?,
            RuleKey::EmailDomains => domain(at, value)?,
            RuleKey::Tenants => tenant(at, value)?,
            RuleKey::Groups | RuleKey::Roles | RuleKey::AnyTenant => value.to_owned(),
        };
        if !checked.contains(&checked_value) {
            checked.push(checked_value);
        }
    }
    let slot = match key {
        RuleKey::Emails => &mut rules.emails,
        RuleKey::EmailDomains => &mut rules.email_domains,
        RuleKey::Groups => &mut rules.groups,
        RuleKey::Roles => &mut rules.roles,
        RuleKey::Tenants => &mut rules.tenants,
        RuleKey::AnyTenant => return Ok(()),
    };
    *slot = Some(checked);
    Ok(())
}

fn email(at: At<'_>, value: &str) -> Result<String, ConfigError> {
    match value.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => {
            Ok(value.to_lowercase())
        }
        _ => Err(at.invalid(format!(
            "\"{}\" is not an email address",
            value.escape_debug()
        ))),
    }
}

fn domain(at: At<'_>, value: &str) -> Result<String, ConfigError> {
    let valid = value.contains('.')
        && !value.starts_with('.')
        && !value.ends_with('.')
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(at.invalid(format!(
            "\"{}\" is not a domain name such as example.com (no @, no wildcard: the email's \
             domain must match exactly)",
            value.escape_debug()
        )));
    }
    Ok(value.to_lowercase())
}

/// A tenant id as Entra's `tid` claim carries it: a GUID. A domain name never matches a
/// `tid`, so accepting one would admit nobody while looking right.
fn tenant(at: At<'_>, value: &str) -> Result<String, ConfigError> {
    let groups: Vec<&str> = value.split('-').collect();
    let is_guid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if !is_guid {
        return Err(at.invalid(format!(
            "\"{}\" is not a tenant id: write the directory (tenant) ID, a GUID such as \
             72f988bf-86f1-41af-91ab-2d7cd011db47, as the tid claim carries it",
            value.escape_debug()
        )));
    }
    Ok(value.to_ascii_lowercase())
}
