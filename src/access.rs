//! Who may log in: a provider's [`AccessRules`] checked against a user's claims.
//!
//! A user is admitted when every rule that is set holds; a list rule holds when any of its
//! values matches. Rules about email addresses only trust an address the provider says it
//! verified: an unverified `email` claim is whatever the user typed into their profile
//! (Microsoft Entra ID's, for one), and matching on it lets anyone in who claims an allowed
//! address (the "nOAuth" class of account takeover).

use serde_json::{Map, Value};

use crate::config::AccessRules;

/// Which rule refused a user: shown to them (without the list itself) and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `allowed_emails` does not list the user's address.
    Email,
    /// `allowed_email_domains` does not list the address's domain.
    EmailDomain,
    /// An email rule is set, but the provider did not say the address is verified.
    EmailNotVerified,
    /// `allowed_groups` lists none of the user's groups.
    Group,
    /// `allowed_groups` is set, but the token names no groups because the user has too many
    /// (Microsoft Entra ID's groups overage): they must be resolved by an after-login hook.
    GroupsOverage,
    /// `allowed_roles` lists none of the user's roles.
    Role,
    /// `allowed_tenants` does not list the user's organization (`tid`).
    Tenant,
}

impl Refusal {
    /// The rule's name, for the log.
    pub(crate) fn rule(self) -> &'static str {
        match self {
            Refusal::Email | Refusal::EmailNotVerified => "allowed_emails",
            Refusal::EmailDomain => "allowed_email_domains",
            Refusal::Group | Refusal::GroupsOverage => "allowed_groups",
            Refusal::Role => "allowed_roles",
            Refusal::Tenant => "allowed_tenants",
        }
    }

    /// Why, in words for the user: which kind of rule, never the list.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Email => "your email address is not one this app admits",
            Refusal::EmailDomain => "your email address's domain is not one this app admits",
            Refusal::EmailNotVerified => {
                "this app admits people by email address, and the login provider did not say \
                 yours is verified"
            }
            Refusal::Group => "you are not in a group this app admits",
            Refusal::GroupsOverage => {
                "this app admits members of certain groups, and the login provider left your \
                 groups out of the login (you are in too many); the app cannot check them"
            }
            Refusal::Role => "you do not have a role this app requires",
            Refusal::Tenant => "your organization is not one this app admits",
        }
    }
}

/// Checks `claims` against `rules`.
pub(crate) fn check(rules: &AccessRules, claims: &Map<String, Value>) -> Result<(), Refusal> {
    if rules.emails().is_some() || rules.email_domains().is_some() {
        let Some(email) = verified_email(claims) else {
            return Err(Refusal::EmailNotVerified);
        };
        let email = email.to_lowercase();
        if let Some(allowed) = rules.emails() {
            if !allowed.contains(&email) {
                return Err(Refusal::Email);
            }
        }
        if let Some(domains) = rules.email_domains() {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            if !domains.iter().any(|d| d == domain) {
                return Err(Refusal::EmailDomain);
            }
        }
    }
    if let Some(allowed) = rules.groups() {
        match strings(claims, "groups") {
            Some(groups) if groups.iter().any(|g| allowed.iter().any(|a| a == g)) => {}
            None if has_groups_overage(claims) => return Err(Refusal::GroupsOverage),
            _ => return Err(Refusal::Group),
        }
    }
    if let Some(allowed) = rules.roles() {
        let roles = strings(claims, "roles").unwrap_or_default();
        if !roles.iter().any(|r| allowed.iter().any(|a| a == r)) {
            return Err(Refusal::Role);
        }
    }
    if let Some(allowed) = rules.tenants() {
        let tid = claims
            .get("tid")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        if !tid.is_some_and(|tid| allowed.contains(&tid)) {
            return Err(Refusal::Tenant);
        }
    }
    Ok(())
}

/// Whether the token left the user's groups out because there are too many (Microsoft
/// Entra ID, over 200 groups): `_claim_names` names `groups` instead.
pub(crate) fn has_groups_overage(claims: &Map<String, Value>) -> bool {
    claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|names| names.contains_key("groups"))
}

/// The `email` claim when the provider vouches for it: `email_verified` is `true` (a
/// boolean, or the string some providers send), or Microsoft Entra ID's `xms_edov`
/// ("email domain owner verified") is.
fn verified_email(claims: &Map<String, Value>) -> Option<&str> {
    let email = claims.get("email")?.as_str()?;
    let yes = |name: &str| match claims.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    (yes("email_verified") || yes("xms_edov")).then_some(email)
}

fn strings<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<Vec<&'a str>> {
    match claims.get(name)? {
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect()),
        // A single value where a list is expected (some providers send one role as a string).
        Value::String(one) => Some(vec![one.as_str()]),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
