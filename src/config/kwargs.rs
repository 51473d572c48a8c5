//! `client_kwargs` and `authorize_params`: Authlib's options and the extra authorization
//! parameters of one provider.
//!
//! Each key has a typed rule (`scope`, `timeout`, `param`) that the builder calls directly,
//! and the `apply_*` functions read a written value (file or variable) into the type the rule
//! takes.

use std::time::Duration;

use super::draft::{Param, ProviderDraft};
use super::error::ConfigError;
use super::model::TokenEndpointAuth;
use super::raw::{RawEntry, RawValue};
use super::schema::{reserved_param, IGNORED_CLIENT_OPTIONS};
use super::values::{At, Field};
use super::warnings::{ignored_key, Ignored};

/// The longest timeout accepted for one request to the provider.
const MAX_TIMEOUT_SECS: f64 = 300.0;

/// Applies one entry of the provider's `client_kwargs` table.
pub(crate) fn apply_kwarg(p: &mut ProviderDraft, name: &str, entry: &RawEntry) {
    let key = p.place.key(&format!("client_kwargs.{name}"));
    let field = Field::new(&key, entry);
    p.kwargs_issues.enter(&key);
    p.replace(field.at());
    if let Err(e) = field.resolved() {
        return p.kwargs_issues.error(&key, e);
    }
    let mut notes = Vec::new();
    let issues = &mut p.kwargs_issues;
    match name {
        "scope" => {
            let result = read_scope(field).and_then(|tokens| scope(field.at(), tokens, &mut notes));
            if let Some(scope) = issues.settle(&key, result, notes) {
                p.kwargs.scope = scope;
            }
        }
        "prompt" => {
            // An empty prompt is how a file says "send no prompt at all".
            let prompt = field.str().map(|v| (!v.is_empty()).then(|| v.to_owned()));
            if let Some(prompt) = issues.settle(&key, prompt, notes) {
                p.kwargs.prompt = prompt;
            }
        }
        "token_endpoint_auth_method" => {
            let method = field
                .str()
                .and_then(|v| token_endpoint_auth_method(field, v));
            if let Some(method) = issues.settle(&key, method, notes) {
                p.kwargs.token_endpoint_auth_method = Some(method);
            }
        }
        "code_challenge_method" => {
            let checked = field.str().and_then(|v| code_challenge_method(field, v));
            issues.settle(&key, checked, notes);
        }
        "timeout" => {
            let timeout = field
                .seconds()
                .and_then(|secs| timeout_secs(field.at(), secs));
            if let Some(timeout) = issues.settle(&key, timeout, notes) {
                p.kwargs.timeout = timeout;
            }
        }
        option if IGNORED_CLIENT_OPTIONS.contains(&option) => {
            ignored_key(issues, field, option, Ignored::ClientOption)
        }
        param => {
            let value = match &entry.value {
                RawValue::Str(value) => param_rule(field.at(), param, value).map(|()| value),
                other => Err(field.invalid(format!(
                    "must be a string, not {}: every client_kwargs key other than scope, \
                     prompt, token_endpoint_auth_method, code_challenge_method and timeout is \
                     sent to the provider as an authorization parameter",
                    other.type_name()
                ))),
            };
            if let Some(value) = issues.settle(&key, value, notes) {
                set_param(&mut p.kwargs_params, field.at(), param, value);
            }
        }
    }
}

/// Applies one entry of the provider's `authorize_params` table (Authlib's, undocumented
/// by Streamlit): every entry is an authorization parameter.
pub(crate) fn apply_param(p: &mut ProviderDraft, name: &str, entry: &RawEntry) {
    let key = p.place.key(&format!("authorize_params.{name}"));
    let field = Field::new(&key, entry);
    p.param_issues.enter(&key);
    p.replace(field.at());
    if let Err(e) = field.resolved() {
        return p.param_issues.error(&key, e);
    }
    let value = match &entry.value {
        RawValue::Str(value) => param_rule(field.at(), name, value).map(|()| value),
        other => Err(field.invalid(format!(
            "authorization parameters must be strings, not {}",
            other.type_name()
        ))),
    };
    if let Some(value) = p.param_issues.settle(&key, value, Vec::new()) {
        set_param(&mut p.table_params, field.at(), name, value);
    }
}

/// Sets a parameter in place (a later value replaces an earlier one where it stood) or
/// appends it, so parameters are sent in the order first written.
pub(crate) fn set_param(params: &mut Vec<Param>, at: At<'_>, name: &str, value: &str) {
    let param = Param {
        name: name.to_owned(),
        value: value.to_owned(),
        key: at.key.to_owned(),
        origin: at.origin.clone(),
    };
    match params.iter_mut().find(|p| p.name == name) {
        Some(slot) => *slot = param,
        None => params.push(param),
    }
}

/// Rules for a name/value sent as an authorization parameter: not one the flow sets itself
/// (`schema::RESERVED_PARAMS`), not nameless, and no `response_mode` the callback cannot read.
pub(crate) fn param_rule(at: At<'_>, name: &str, value: &str) -> Result<(), ConfigError> {
    // In client_kwargs, `scope`, `prompt` and `code_challenge_method` are that table's own
    // keys and never get here; everywhere else the whole list is refused.
    if reserved_param(name).is_some() {
        return Err(ConfigError::ReservedParameter {
            key: at.key.to_owned(),
            param: name.to_owned(),
            origin: at.origin.clone(),
        });
    }
    if name.trim().is_empty() {
        return Err(at.invalid("an authorization parameter needs a non-empty name"));
    }
    if name == "response_mode" && value != "query" {
        return Err(at.invalid(format!(
            "\"{value}\" is not supported; only \"query\" works because the callback route \
             receives the provider's answer as a GET request"
        )));
    }
    Ok(())
}

/// A written `scope`: a space-separated string, or a list of them.
fn read_scope(field: Field<'_>) -> Result<Vec<String>, ConfigError> {
    match field.value {
        RawValue::Str(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        RawValue::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                let RawValue::Str(s) = item else {
                    return Err(field.invalid(format!(
                        "must be a space-separated string (or a list of strings), but the list \
                         holds {}",
                        item.type_name()
                    )));
                };
                out.extend(s.split_whitespace().map(str::to_owned));
            }
            Ok(out)
        }
        other => Err(field.invalid(format!(
            "must be a space-separated string such as \"openid email profile\", not {}",
            other.type_name()
        ))),
    }
}

/// Deduplicates scopes, checks RFC 6749's scope-token characters, and makes sure `openid` is
/// there: without it the provider does not run OpenID Connect and returns no ID token.
pub(crate) fn scope(
    at: At<'_>,
    tokens: Vec<String>,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let mut scope: Vec<String> = Vec::new();
    for token in tokens {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(at.invalid(format!(
                "the scope \"{}\" contains characters scopes cannot have (quotes, backslashes or \
                 non-ASCII)",
                token.escape_debug()
            )));
        }
        if !scope.contains(&token) {
            scope.push(token);
        }
    }
    if !scope.iter().any(|s| s == "openid") {
        notes.push(format!(
            "`{}` in {} does not include `openid`; it was added, since OpenID Connect login \
             needs it",
            at.key, at.origin
        ));
        scope.insert(0, "openid".into());
    }
    Ok(scope)
}

fn token_endpoint_auth_method(
    field: Field<'_>,
    value: &str,
) -> Result<TokenEndpointAuth, ConfigError> {
    match value {
        "client_secret_basic" => Ok(TokenEndpointAuth::ClientSecretBasic),
        "client_secret_post" => Ok(TokenEndpointAuth::ClientSecretPost),
        other => Err(field.invalid(format!(
            "\"{other}\" is not supported; allowed values are \"client_secret_basic\" and \
             \"client_secret_post\""
        ))),
    }
}

/// Only `S256` is accepted: PKCE with S256 is always used, whatever is written.
fn code_challenge_method(field: Field<'_>, value: &str) -> Result<(), ConfigError> {
    if value != "S256" {
        return Err(field.invalid(format!(
            "\"{value}\" is not supported; only \"S256\" is accepted (PKCE with S256 is always \
             used, so this key can be left out)"
        )));
    }
    Ok(())
}

/// A timeout in seconds: more than 0, at most [`MAX_TIMEOUT_SECS`].
fn timeout_secs(at: At<'_>, secs: f64) -> Result<Duration, ConfigError> {
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_TIMEOUT_SECS {
        return Err(at.invalid(format!(
            "{secs} seconds is out of range; the timeout must be more than 0 and at most \
             {MAX_TIMEOUT_SECS} seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The timeout rule for a typed duration (from the builder); the duration is kept as given.
pub(crate) fn timeout(at: At<'_>, timeout: Duration) -> Result<Duration, ConfigError> {
    timeout_secs(at, timeout.as_secs_f64()).map(|_| timeout)
}
