//! Client authentication with a `client_assertion` (RFC 7521, RFC 7523, OpenID Connect Core
//! 1.0 section 9): `private_key_jwt`, signed by the client with a registered key, or a token
//! of a trusted federated issuer (Microsoft Entra's federated identity credentials).

use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::{Map, Value};

use super::params::Params;
use super::respond::TokenError;
use super::state::{lock, Shared};
use crate::testing::jwt;
use crate::testing::registration::ClientAuthMethod;

/// The only `client_assertion_type` there is for JWTs (RFC 7523 section 2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated for `iat` and `nbf` in the future.
const LEEWAY: i64 = 60;
/// The longest a `private_key_jwt` assertion may still be valid: clients sign short-lived
/// ones (MSAL: 10 minutes), so an hour is already generous.
const MAX_PRIVATE_KEY_JWT_LIFETIME: i64 = 3600;
/// The longest a federated token may still be valid: managed-identity tokens live up to a day.
const MAX_FEDERATED_LIFETIME: i64 = 25 * 3600;

/// What the assertion must say, by the kind of assertion.
struct Expected<'a> {
    method: ClientAuthMethod,
    subject: &'a str,
    audiences: Vec<String>,
    max_lifetime: i64,
    keys: &'a super::jwk_set::JwkSet,
}

/// Where the request was sent, for the audiences a `private_key_jwt` assertion may name.
pub(crate) struct TokenRequestTarget {
    /// The token endpoint's URL as requested.
    pub(crate) token_url: String,
    /// The issuer of the realm the request came through.
    pub(crate) issuer: String,
}

/// The kind of assertion `claims` is, by its `iss`: the client itself or a federated issuer.
pub(crate) fn assertion_kind(shared: &Shared, claims: &Map<String, Value>) -> ClientAuthMethod {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == shared.client_id => ClientAuthMethod::PrivateKeyJwt,
        _ => ClientAuthMethod::FederatedCredential,
    }
}

/// Verifies the request's client assertion; the method it authenticated with, or
/// `invalid_client` saying what is wrong.
pub(crate) fn verify_assertion(
    shared: &Shared,
    params: &Params,
    target: &TokenRequestTarget,
) -> Result<ClientAuthMethod, TokenError> {
    let single = |name: &str| TokenError::param(params, name);
    let refuse = |why: String| TokenError::invalid_client(why, false);
    match single("client_assertion_type")? {
        Some(JWT_BEARER) => {}
        _ => {
            return Err(refuse(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )))
        }
    }
    let assertion = single("client_assertion")?
        .ok_or_else(|| refuse("client_assertion is required".to_owned()))?;
    let decoded = jwt::decode(assertion)
        .ok_or_else(|| refuse("the client_assertion is not a signed JWT".to_owned()))?;
    let alg = match decoded.header.get("alg").and_then(Value::as_str) {
        Some("RS256") => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some("ES256") => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        other => {
            return Err(refuse(format!(
                "alg {} is not accepted for client assertions (RS256, ES256)",
                other.unwrap_or("(missing)")
            )))
        }
    };
    let claims = &decoded.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let iss = text("iss").ok_or_else(|| refuse("the assertion has no iss".to_owned()))?;

    let expected = if iss == shared.client_id {
        let mut audiences: Vec<String> = Vec::new();
        for audience in [
            &target.token_url,
            &shared.endpoint(super::state::TOKEN_PATH),
            &target.issuer,
            &shared.issuer,
        ] {
            if !audiences.contains(audience) {
                audiences.push(audience.clone());
            }
        }
        Expected {
            method: ClientAuthMethod::PrivateKeyJwt,
            subject: &shared.client_id,
            audiences,
            max_lifetime: MAX_PRIVATE_KEY_JWT_LIFETIME,
            keys: &shared.client_keys,
        }
    } else if let Some(federated) = shared.federated.iter().find(|f| f.issuer == iss) {
        Expected {
            method: ClientAuthMethod::FederatedCredential,
            subject: &federated.subject,
            audiences: vec![federated.audience.clone()],
            max_lifetime: MAX_FEDERATED_LIFETIME,
            keys: &federated.keys,
        }
    } else {
        return Err(refuse(format!(
            "the assertion's iss \"{iss}\" is neither the client id nor a trusted federated issuer"
        )));
    };
    if !shared.accepted_auth.accepts(expected.method) {
        let what = match expected.method {
            ClientAuthMethod::FederatedCredential => "a federated credential",
            _ => "private_key_jwt",
        };
        return Err(refuse(format!("{what} is not accepted by this provider")));
    }
    match (
        single("client_id")?,
        expected.method == ClientAuthMethod::FederatedCredential,
    ) {
        (Some(id), _) if id != shared.client_id => {
            return Err(refuse(format!("unknown client \"{id}\"")));
        }
        (None, true) => {
            return Err(refuse(
                "client_id is required with a federated credential".to_owned(),
            ))
        }
        _ => {}
    }
    expected
        .keys
        .verify(
            &decoded.header,
            &alg,
            decoded.signing_input.as_bytes(),
            &decoded.signature,
        )
        .map_err(refuse)?;

    if text("sub") != Some(expected.subject) {
        return Err(refuse(format!(
            "the assertion's sub must be \"{}\"",
            expected.subject
        )));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => expected.audiences.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| expected.audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(refuse(format!(
            "the assertion's aud must be {}",
            expected.audiences.join(" or ")
        )));
    }
    let now = jwt::now();
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or_else(|| refuse("the assertion has no exp".to_owned()))?;
    if exp <= now {
        return Err(refuse("the assertion has expired".to_owned()));
    }
    if exp > now + expected.max_lifetime + LEEWAY {
        return Err(refuse(format!(
            "the assertion's exp is more than {} seconds away",
            expected.max_lifetime
        )));
    }
    for name in ["nbf", "iat"] {
        if number(name).is_some_and(|t| t > now + LEEWAY) {
            return Err(refuse(format!("the assertion's {name} is in the future")));
        }
    }
    let jti = text("jti")
        .filter(|jti| !jti.is_empty())
        .ok_or_else(|| refuse("the assertion has no jti".to_owned()))?;
    // A federated token is the platform's, fetched once and presented until it nears its
    // expiry (a managed identity's token is cached for hours, a workload identity's file
    // read for every request), and Entra accepts it again and again; only an assertion the
    // client signs itself is single-use.
    if expected.method == ClientAuthMethod::FederatedCredential {
        return Ok(expected.method);
    }
    let mut seen = lock(&shared.assertion_jtis);
    seen.retain(|_, until| *until >= now);
    let key = format!("{iss} {jti}");
    if seen.contains_key(&key) {
        return Err(refuse(
            "the assertion's jti was already used (an assertion is accepted once)".to_owned(),
        ));
    }
    seen.insert(key, exp);
    Ok(expected.method)
}
