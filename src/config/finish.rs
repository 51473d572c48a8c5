//! The checks that need every key at once, and the finished [`AuthConfig`].
//!
//! By the time a draft gets here each value has been through its rule; what is left is what
//! no single key can decide: required keys, which table is the default provider, at least one
//! provider, provider names, and which of two parameters of the same name wins. Verdicts kept
//! in the draft are reported here in the order a reader goes through the file: `[auth]`'s
//! missing keys, `[auth]`'s own keys, the default provider, then each `[auth.NAME]` table
//! (its name, its missing keys, its keys, its `client_kwargs`, its `authorize_params`).

use std::collections::BTreeMap;

use super::credential::{self, AssertionSource, ClientCredential, TablePlace};
use super::draft::{AuthDraft, ProviderDraft};
use super::error::{ConfigError, Misspelling};
use super::platform::Platform;
use super::model::{AuthConfig, ProviderConfig, ProviderSettings, ValidProvider};
use super::provider::check_provider_name;
use super::uri::{entra_multi_tenant_reason, entra_multi_tenant_segment};
use super::schema::{DEFAULT_PROVIDER, REQUIRED_PROVIDER_KEYS, REQUIRED_SHARED_KEYS};
use super::warnings::Warnings;
use crate::util::closest;

/// Finishes a draft into a configuration, or the first error in reading order.
pub(crate) fn finish(draft: AuthDraft) -> Result<AuthConfig, ConfigError> {
    let AuthDraft {
        origin,
        given,
        redirect_uri,
        cookie_secret,
        settings,
        provider_defaults,
        top_level,
        mut named,
        issues,
        provenance,
        mut warnings,
    } = draft;
    let default_table = named.iter().any(|p| p.place.provider == DEFAULT_PROVIDER);
    let top_has_provider = REQUIRED_PROVIDER_KEYS
        .iter()
        .any(|k| top_level.given.iter().any(|g| g == k));

    // Streamlit's first checks: the shared keys, then the default provider's keys. All gaps
    // in [auth] are reported at once so a single edit fixes them.
    let mut missing = missing_keys(&REQUIRED_SHARED_KEYS, &given);
    let mut provider_gap = false;
    if !default_table && top_has_provider {
        let gap = missing_keys(&required_provider_keys(&top_level.given), &top_level.given);
        provider_gap = !gap.is_empty();
        missing.extend(gap);
    }
    let both = ["session_max_age", "session_lifetime_days"]
        .iter()
        .all(|k| given.iter().any(|g| g == k));
    if missing.is_empty() && both {
        let key = "auth.session_max_age";
        return Err(ConfigError::InvalidValue {
            key: key.to_owned(),
            reason: "`session_lifetime_days` sets the same thing; keep only `session_max_age` \
                     (e.g. \"30d\")"
                .to_owned(),
            origin: provenance
                .get(key)
                .cloned()
                .unwrap_or_else(|| origin.clone()),
        });
    }
    if !missing.is_empty() {
        let unknown = issues.unknown_keys().chain(top_level.issues.unknown_keys());
        return Err(ConfigError::MissingKeys {
            section: "[auth]".into(),
            provider: if provider_gap {
                DEFAULT_PROVIDER.into()
            } else {
                String::new()
            },
            misspelt: misspellings(&missing, unknown),
            keys: missing,
            origin,
        });
    }

    // Provider tables in the order of [auth]'s entries (a table the environment made where
    // the file had a value of the same name takes that value's place).
    named.sort_by_key(|p| issues.place_of(&p.place.prefix));
    issues.report(&mut warnings)?;

    let mut providers = BTreeMap::new();
    let top_keys = top_level.given.join(", ");
    if default_table {
        if !top_level.given.is_empty() {
            warnings.warn(format!(
                "[auth] in {origin} has both [auth.default] and default-provider keys directly \
                 in [auth] ({top_keys}); as in Streamlit, [auth.default] is used and those keys \
                 are ignored"
            ));
        }
    } else if top_has_provider {
        let provider = finish_provider(top_level, &provider_defaults, &mut warnings)?;
        providers.insert(DEFAULT_PROVIDER.to_owned(), provider);
    } else if !top_level.given.is_empty() {
        warnings.warn(format!(
            "[auth] in {origin} has {top_keys} but no client_id, client_secret or \
             server_metadata_url, so it defines no default provider and these keys are \
             ignored (they are not inherited by [auth.NAME] providers)"
        ));
    }

    for provider in named {
        check_provider_name(&provider.place.provider, &provider.origin)?;
        let provider = finish_provider(provider, &provider_defaults, &mut warnings)?;
        providers.insert(provider.name().to_owned(), provider);
    }

    if providers.is_empty() {
        return Err(ConfigError::NoProvider { origin });
    }

    // Both are present: the missing-keys check above returned otherwise, and an invalid
    // value was reported with the other verdicts on [auth].
    let (Some(redirect_uri), Some(cookie_secret)) = (redirect_uri, cookie_secret) else {
        return Err(ConfigError::MissingKeys {
            section: "[auth]".into(),
            provider: String::new(),
            keys: REQUIRED_SHARED_KEYS.map(str::to_owned).to_vec(),
            misspelt: Box::default(),
            origin,
        });
    };

    Ok(AuthConfig {
        redirect_uri,
        cookie_secret,
        settings,
        providers,
        source: origin,
        warnings: warnings.into_vec(),
        provenance,
        platform: Platform::from_process(),
    })
}

/// The keys a provider table must have: `client_secret` is not one when another kind of
/// credential is given (`resolve` then sees that there is exactly one).
fn required_provider_keys(given: &[String]) -> Vec<&'static str> {
    let other_credential = ["client_private_key_file", "client_private_key", "client_assertion"]
        .iter()
        .any(|k| given.iter().any(|g| g == k));
    REQUIRED_PROVIDER_KEYS
        .into_iter()
        .filter(|k| !(other_credential && *k == "client_secret"))
        .collect()
}

/// The keys of `required` that are not in `given`, in schema order.
fn missing_keys(required: &[&str], given: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|k| !given.iter().any(|g| g == *k))
        .map(|k| (*k).to_owned())
        .collect()
}

/// The unknown keys of a section that most likely are its `missing` keys, misspelt: for
/// each missing key the nearest unknown one, each unknown key named at most once.
fn misspellings<'a>(
    missing: &[String],
    unknown: impl Iterator<Item = &'a str>,
) -> Box<[Misspelling]> {
    let mut unknown: Vec<&str> = unknown.collect();
    let mut found = Vec::new();
    for key in missing {
        if let Some(written) = closest(key, unknown.iter().copied()) {
            unknown.retain(|u| *u != written);
            found.push(Misspelling::new(written, key));
        }
    }
    found.into()
}

/// One provider: its required keys, its verdicts, its parameters merged.
fn finish_provider(
    draft: ProviderDraft,
    defaults: &ProviderSettings,
    warnings: &mut Warnings,
) -> Result<ValidProvider, ConfigError> {
    let ProviderDraft {
        place,
        origin,
        given,
        client_id,
        credential,
        server_metadata_url,
        mut kwargs,
        kwargs_params,
        table_params,
        settings,
        issues,
        kwargs_issues,
        param_issues,
        mut provenance,
    } = draft;
    let missing = missing_keys(&required_provider_keys(&given), &given);
    if !missing.is_empty() {
        return Err(ConfigError::MissingKeys {
            section: place.section,
            provider: place.provider,
            misspelt: misspellings(&missing, issues.unknown_keys()),
            keys: missing,
            origin,
        });
    }
    issues.report(warnings)?;
    kwargs_issues.report(warnings)?;
    param_issues.report(warnings)?;

    // A parameter in client_kwargs wins over the same one in authorize_params.
    let mut params: Vec<(String, String)> = kwargs_params
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect();
    for param in table_params {
        if params.iter().any(|(name, _)| *name == param.name) {
            warnings.warn(format!(
                "`{}` in {} is ignored: `{}` sets the same parameter and wins",
                param.key,
                param.origin,
                place.key(&format!("client_kwargs.{}", param.name))
            ));
            // Only values in use keep an origin (`ProviderDraft::from_valid` relies on it).
            provenance.remove(&param.key);
            continue;
        }
        params.push((param.name, param.value));
    }
    kwargs.authorize_params = params;

    let origin_of = |key: &str| provenance.get(key).cloned().unwrap_or_else(|| origin.clone());
    let both_keys = ["client_private_key_file", "client_private_key"]
        .iter()
        .all(|k| given.iter().any(|g| g == k));
    if both_keys {
        let key = place.key("client_private_key");
        return Err(ConfigError::InvalidValue {
            reason: "client_private_key_file names the same key; keep one of the two".to_owned(),
            origin: origin_of(&key),
            key,
        });
    }
    let table = TablePlace {
        prefix: &place.prefix,
        origin_of: &origin_of,
    };
    let secret_method = kwargs.token_endpoint_auth_method.is_some();
    let credential = credential::resolve(credential, &table, secret_method)?;
    if let Some(ClientCredential::Assertion(AssertionSource::AzureManagedIdentity {
        client_id: None,
    })) = &credential
    {
        warnings.warn(format!(
            "`{}` in {} uses the app's system-assigned managed identity: Microsoft Entra ID \
             trusts only user-assigned identities as federated credentials, so set \
             `managed_identity_client_id` to the client id of the user-assigned identity the \
             app registration trusts (other providers may accept the system-assigned one)",
            place.key("client_assertion"),
            origin_of(&place.key("client_assertion"))
        ));
    }
    let (Some(client_id), Some(credential), Some((written_url, discovery_url))) =
        (client_id, credential, server_metadata_url)
    else {
        // Every required key was given and every invalid one reported above.
        return Err(ConfigError::MissingKeys {
            section: place.section,
            provider: place.provider,
            keys: REQUIRED_PROVIDER_KEYS.map(str::to_owned).to_vec(),
            misspelt: Box::default(),
            origin,
        });
    };
    let settings = settings.over(defaults);
    if let Some(segment) = entra_multi_tenant_segment(&discovery_url) {
        let rules = &settings.rules;
        if rules.tenants().is_none() && !rules.allow_any_tenant() {
            let key = place.key("server_metadata_url");
            return Err(ConfigError::InvalidValue {
                reason: entra_multi_tenant_reason(&written_url, &discovery_url, segment),
                origin: origin_of(&key),
                key,
            });
        }
    }
    Ok(ValidProvider {
        config: ProviderConfig {
            name: place.provider,
            client_id,
            credential,
            server_metadata_url: written_url,
            client_kwargs: kwargs,
            // Keys set for every provider in [auth] apply unless this provider sets its own.
            settings,
        },
        discovery_url,
        prefix: place.prefix,
        origin,
        provenance,
    })
}
