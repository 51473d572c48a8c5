//! One provider table: `client_id`, `client_secret`, `server_metadata_url`, its subtables,
//! and the keys that do not belong there.
//!
//! The same functions read a file's table, take one environment variable (see `env`) and
//! take a [`ProviderConfig`] made in code (see `builder`), so the three cannot drift apart.

use url::Url;

use super::access::{self, AccessRules, RuleKey};
use super::credential::{self, ClientCredential, CredentialDraft, CREDENTIAL_KEYS};
use super::draft::{Place, ProviderDraft};
use super::error::{ConfigError, ConfigSource};
use super::kwargs::{self, apply_kwarg, apply_param, param_rule, set_param};
use super::model::{ProviderConfig, ProviderSettings, Secret};
use super::raw::{RawEntry, RawTable};
use super::schema::{
    Subtable, Table, AUTHLIB_IGNORED_KEYS, CLIENT_KWARGS_KEYS, PROVIDER_DEFAULT_KEYS, SHARED_KEYS,
};
use super::uri::check_metadata_url;
use super::values::{non_empty, At, Field};
use super::warnings::{ignored_key, Ignored, Issues};

/// Reads an `[auth.NAME]` table.
pub(crate) fn read_table(name: &str, table: &RawTable, origin: &ConfigSource) -> ProviderDraft {
    let mut p = ProviderDraft::new(Place::table(name), origin.clone());
    for (key, entry) in &table.entries {
        apply_entry(&mut p, key, entry);
    }
    p
}

/// Applies one entry of a provider table (or a provider key written directly in `[auth]`).
pub(crate) fn apply_entry(p: &mut ProviderDraft, name: &str, entry: &RawEntry) {
    let key = p.place.key(name);
    let field = Field::new(&key, entry);
    let at = field.at();
    p.issues.enter(&key);
    p.mark_given(name);
    p.replace(at);
    if let Err(e) = field.resolved() {
        return p.issues.error(&key, e);
    }
    if let Some(sub) = Subtable::named(name) {
        match field.table() {
            Ok(table) => {
                for (inner, entry) in &table.entries {
                    apply_sub_entry(p, sub, inner, entry);
                }
            }
            Err(e) => {
                // A value written over the subtable (only a variable can) replaces it.
                p.clear(sub);
                p.issues.error(&key, e);
            }
        }
        return;
    }
    let mut notes = Vec::new();
    match name {
        "client_id" => {
            let value = field.str().and_then(|v| client_id(at, v));
            if let Some(value) = p.issues.settle(&key, value, notes) {
                p.client_id = Some(value);
            }
        }
        "client_secret" => {
            let value = field.str().and_then(|v| client_secret(at, v));
            if let Some(value) = p.issues.settle(&key, value, notes) {
                p.credential.secret = Some(value);
            }
        }
        k if CREDENTIAL_KEYS.contains(&k) => {
            if let Some(result) = credential::apply(&mut p.credential, k, &field) {
                p.issues.settle(&key, result, notes);
            }
        }
        "server_metadata_url" => {
            let value = field
                .str()
                .and_then(|v| server_metadata_url(at, v, &mut notes));
            if let Some(value) = p.issues.settle(&key, value, notes) {
                p.server_metadata_url = Some(value);
            }
        }
        "fetch_userinfo" => {
            if let Some(value) = p.issues.settle(&key, field.boolean(), notes) {
                p.settings.fetch_userinfo = Some(value);
            }
        }
        k if PROVIDER_DEFAULT_KEYS.contains(&k) => {
            let (section, table) = (p.place.section.clone(), p.place.kind());
            apply_default_key(&mut p.settings, &mut p.issues, &section, table, field);
        }
        k if AUTHLIB_IGNORED_KEYS.contains(&k) => {
            ignored_key(&mut p.issues, field, k, Ignored::AuthlibSetting)
        }
        k if SHARED_KEYS.contains(&k) => ignored_key(&mut p.issues, field, k, Ignored::SharedKey),
        k if CLIENT_KWARGS_KEYS.contains(&k) => {
            ignored_key(&mut p.issues, field, k, Ignored::ClientKwarg)
        }
        k => {
            let (section, table) = (p.place.section.clone(), p.place.kind());
            ignored_key(
                &mut p.issues,
                field,
                k,
                Ignored::Unknown {
                    section: &section,
                    table,
                },
            )
        }
    }
}

/// Applies one entry of a subtable (an environment variable such as
/// `OIDC_AUTH__GOOGLE__CLIENT_KWARGS__PROMPT`).
pub(crate) fn apply_sub_entry(p: &mut ProviderDraft, sub: Subtable, name: &str, entry: &RawEntry) {
    p.issues.enter(&p.place.key(sub.name()));
    p.mark_given(sub.name());
    match sub {
        Subtable::ClientKwargs => apply_kwarg(p, name, entry),
        Subtable::AuthorizeParams => apply_param(p, name, entry),
    }
}

/// Applies a key of `schema::PROVIDER_DEFAULT_KEYS`, written in `[auth]` (the default for
/// every provider) or in a provider table (that provider's own value).
pub(crate) fn apply_default_key(
    settings: &mut ProviderSettings,
    issues: &mut Issues,
    section: &str,
    table: Table,
    field: Field<'_>,
) {
    let name = field.key.rsplit('.').next().unwrap_or(field.key);
    match RuleKey::named(name) {
        Some(rule) => {
            let checked = access::apply(&mut settings.rules, rule, field);
            issues.settle(field.key, checked, Vec::new());
        }
        None => ignored_key(issues, field, name, Ignored::Unknown { section, table }),
    }
}

/// Takes a provider made in code, checking each value with the rule a file's would get.
/// Parameters count as written in `authorize_params`, where a name such as `timeout` or
/// `prompt` cannot be mistaken for one of `client_kwargs`' own keys.
pub(crate) fn apply_config(p: &mut ProviderDraft, config: ProviderConfig) {
    let origin = p.origin.clone();
    let ProviderConfig {
        name: _,
        client_id: id,
        credential: given_credential,
        server_metadata_url: url,
        client_kwargs,
        settings,
    } = config;
    // A setting made in code goes through its rule like the rest.
    let ProviderSettings {
        rules,
        fetch_userinfo,
    } = settings;
    apply_rules_from_code(p, rules, &origin);
    if let Some(fetch) = fetch_userinfo {
        begin(p, "fetch_userinfo", &origin);
        p.settings.fetch_userinfo = Some(fetch);
    }

    let key = begin(p, "client_id", &origin);
    let value = client_id(
        At {
            key: &key,
            origin: &origin,
        },
        &id,
    );
    p.client_id = p.issues.settle(&key, value, Vec::new());

    match given_credential {
        ClientCredential::Secret(secret) => {
            let key = begin(p, "client_secret", &origin);
            let value = client_secret(
                At {
                    key: &key,
                    origin: &origin,
                },
                secret.expose(),
            );
            p.credential.secret = p.issues.settle(&key, value, Vec::new());
        }
        // A key or an assertion source made in code is checked by its own type already.
        other => {
            let draft = CredentialDraft::from_credential(other);
            for name in draft.given_keys() {
                begin(p, name, &origin);
            }
            p.credential = draft;
        }
    }

    let key = begin(p, "server_metadata_url", &origin);
    let mut notes = Vec::new();
    let value = server_metadata_url(
        At {
            key: &key,
            origin: &origin,
        },
        &url,
        &mut notes,
    );
    p.server_metadata_url = p.issues.settle(&key, value, notes);

    p.mark_given("client_kwargs");
    let key = begin_kwarg(p, "scope", &origin);
    let mut notes = Vec::new();
    let value = kwargs::scope(
        At {
            key: &key,
            origin: &origin,
        },
        client_kwargs.scope,
        &mut notes,
    );
    if let Some(scope) = p.kwargs_issues.settle(&key, value, notes) {
        p.kwargs.scope = scope;
    }
    begin_kwarg(p, "prompt", &origin);
    p.kwargs.prompt = client_kwargs.prompt;
    if client_kwargs.token_endpoint_auth_method.is_some() {
        begin_kwarg(p, "token_endpoint_auth_method", &origin);
    }
    p.kwargs.token_endpoint_auth_method = client_kwargs.token_endpoint_auth_method;
    let key = begin_kwarg(p, "timeout", &origin);
    let value = kwargs::timeout(
        At {
            key: &key,
            origin: &origin,
        },
        client_kwargs.timeout,
    );
    if let Some(timeout) = p.kwargs_issues.settle(&key, value, Vec::new()) {
        p.kwargs.timeout = timeout;
    }

    for (name, value) in &client_kwargs.authorize_params {
        let key = p.place.key(&format!("authorize_params.{name}"));
        let at = At {
            key: &key,
            origin: &origin,
        };
        p.replace(at);
        let checked = param_rule(at, name, value);
        if p.param_issues.settle(&key, checked, Vec::new()).is_some() {
            set_param(&mut p.table_params, at, name, value);
        }
    }
}

/// The access rules of a provider made in code, each through its rule.
fn apply_rules_from_code(p: &mut ProviderDraft, rules: AccessRules, origin: &ConfigSource) {
    let AccessRules {
        emails,
        email_domains,
        groups,
        roles,
        tenants,
        allow_any_tenant,
    } = rules;
    let lists = [
        ("allowed_emails", RuleKey::Emails, emails),
        (
            "allowed_email_domains",
            RuleKey::EmailDomains,
            email_domains,
        ),
        ("allowed_groups", RuleKey::Groups, groups),
        ("allowed_roles", RuleKey::Roles, roles),
        ("allowed_tenants", RuleKey::Tenants, tenants),
    ];
    for (name, rule, values) in lists {
        let Some(values) = values else { continue };
        let key = begin(p, name, origin);
        let checked = access::set(
            &mut p.settings.rules,
            rule,
            At { key: &key, origin },
            values,
        );
        p.issues.settle(&key, checked, Vec::new());
    }
    if let Some(any) = allow_any_tenant {
        begin(p, "allow_any_tenant", origin);
        p.settings.rules.allow_any_tenant = Some(any);
    }
}

/// Marks the table key `name` given (by code) and returns its dotted key.
fn begin(p: &mut ProviderDraft, name: &str, origin: &ConfigSource) -> String {
    let key = p.place.key(name);
    p.mark_given(name);
    p.replace(At { key: &key, origin });
    key
}

/// Marks the `client_kwargs` key `name` given (by code) and returns its dotted key.
fn begin_kwarg(p: &mut ProviderDraft, name: &str, origin: &ConfigSource) -> String {
    let key = p.place.key(&format!("client_kwargs.{name}"));
    p.replace(At { key: &key, origin });
    key
}

/// `client_id`: any non-blank string.
fn client_id(at: At<'_>, value: &str) -> Result<String, ConfigError> {
    non_empty(at, value).map(str::to_owned)
}

/// `client_secret`: any non-blank string.
fn client_secret(at: At<'_>, value: &str) -> Result<Secret, ConfigError> {
    non_empty(at, value).map(Secret::new)
}

/// `server_metadata_url`: kept as written (the issuer is compared with it) and parsed.
fn server_metadata_url(
    at: At<'_>,
    value: &str,
    notes: &mut Vec<String>,
) -> Result<(String, Url), ConfigError> {
    let value = non_empty(at, value)?;
    let url = check_metadata_url(at, value, notes)?;
    Ok((value.to_owned(), url))
}

/// Provider names: Streamlit's rule (no `_`), and not blank.
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
