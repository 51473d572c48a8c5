//! Discovery: the provider's metadata document (`/.well-known/openid-configuration`), built
//! with openidconnect's types and then bent by the discovery misbehaviours.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, EndSessionUrl, IssuerUrl, JsonWebKeySetUrl,
    LogoutProviderMetadata, ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::realm::{Realm, Tenancy};
use super::respond::{json_response, misbehaving_redirect, plain};
use super::state::{bump, Shared, AUTHORIZE_PATH, END_SESSION_PATH, TOKEN_PATH, USERINFO_PATH};
use crate::testing::behaviour::{Behaviour, Endpoint, Misbehaviour};

/// Discovery fields openidconnect's [`ProviderMetadata`] has no slot for.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ExtraMetadata {
    code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: bool,
    /// OpenID Connect Back-Channel Logout 1.0 section 2.1.
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
    /// OpenID Connect Front-Channel Logout 1.0 section 3.
    frontchannel_logout_supported: bool,
    frontchannel_logout_session_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

type DevProviderMetadata = ProviderMetadata<
    LogoutProviderMetadata<ExtraMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

const CLAIMS_SUPPORTED: [&str; 13] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "email",
    "email_verified",
    "preferred_username",
    "sid",
];

/// The discovery document of `realm` (the provider's only one, or on a multi-tenant
/// provider `common`, `organizations` or one tenant's). Also called at start-up, so an issuer
/// that cannot be expressed fails `start()` rather than every discovery request.
pub(crate) fn discovery_document(
    shared: &Shared,
    behaviour: &Behaviour,
    realm: &Realm,
) -> Result<Value, String> {
    let url_err = |e: url::ParseError| e.to_string();
    let endpoint = |path: &str| shared.endpoint_in(realm, path);
    let issuer = shared.issuer_of(realm);
    let metadata = DevProviderMetadata::new(
        IssuerUrl::new(issuer.clone()).map_err(url_err)?,
        AuthUrl::new(endpoint(AUTHORIZE_PATH)).map_err(url_err)?,
        JsonWebKeySetUrl::new(shared.jwks_uri(behaviour, realm)).map_err(url_err)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        LogoutProviderMetadata {
            end_session_endpoint: Some(
                EndSessionUrl::new(endpoint(END_SESSION_PATH)).map_err(url_err)?,
            ),
            additional_metadata: ExtraMetadata {
                code_challenge_methods_supported: vec!["S256".to_owned()],
                authorization_response_iss_parameter_supported: true,
                backchannel_logout_supported: true,
                backchannel_logout_session_supported: true,
                frontchannel_logout_supported: true,
                frontchannel_logout_session_supported: true,
            },
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(endpoint(TOKEN_PATH)).map_err(url_err)?))
    .set_userinfo_endpoint(Some(
        UserInfoUrl::new(endpoint(USERINFO_PATH)).map_err(url_err)?,
    ))
    .set_scopes_supported(Some(
        ["openid", "email", "profile", "offline_access"]
            .into_iter()
            .map(|s| Scope::new(s.to_owned()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(shared.accepted_auth.advertised()))
    .set_token_endpoint_auth_signing_alg_values_supported(
        shared.accepted_auth.any_assertion().then(|| {
            vec![
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ]
        }),
    )
    .set_claims_supported(Some(
        CLAIMS_SUPPORTED
            .into_iter()
            .map(|c| CoreClaimName::new(c.to_owned()))
            .collect(),
    ));
    let mut document = serde_json::to_value(&metadata).map_err(|e| e.to_string())?;
    if let Value::Object(fields) = &mut document {
        // The templated issuer verbatim (a URL type would percent-encode its braces).
        fields.insert("issuer".to_owned(), Value::String(issuer));
        if shared.tenancy == Tenancy::EntraMultiTenant {
            // Entra sends no `iss` in authorization responses and says so by not advertising it.
            fields.remove("authorization_response_iss_parameter_supported");
        }
        misbehave_in_discovery(fields, behaviour);
        #[cfg(test)]
        behaviour.hooks.edit_discovery(fields);
    }
    Ok(document)
}

/// The discovery misbehaviours, applied to the JSON so any value can be written.
fn misbehave_in_discovery(fields: &mut Map<String, Value>, behaviour: &Behaviour) {
    let mut set = |name: &str, value: Value| {
        fields.insert(name.to_owned(), value);
    };
    if let Some(issuer) = behaviour.announced_issuer() {
        set("issuer", Value::String(issuer.to_owned()));
    }
    let algs: Option<Vec<String>> = if let Some(algs) = behaviour.signing_algs() {
        Some(algs.to_vec())
    } else if behaviour.has(&Misbehaviour::AlgNone) {
        Some(vec!["RS256".to_owned(), "none".to_owned()])
    } else if behaviour.any(&[
        Misbehaviour::Hs256WithClientSecret,
        Misbehaviour::Hs256WithPublicKeyPem,
        Misbehaviour::Hs256WithPublicKeyModulus,
    ]) {
        Some(vec!["RS256".to_owned(), "HS256".to_owned()])
    } else {
        None
    };
    if let Some(algs) = algs {
        set(
            "id_token_signing_alg_values_supported",
            Value::Array(algs.into_iter().map(Value::String).collect()),
        );
    }
    if behaviour.has(&Misbehaviour::IssParameterNotAdvertised) {
        fields.remove("authorization_response_iss_parameter_supported");
    }
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    bump(&shared.counters.discovery);
    let behaviour = shared.behaviour();
    #[cfg(test)]
    if let Some(response) = super::respond::canned(&behaviour, Endpoint::Discovery) {
        return response;
    }
    if let Some(response) = misbehaving_redirect(
        &shared,
        &behaviour,
        Endpoint::Discovery,
        &uri,
        query.as_deref(),
    ) {
        return response;
    }
    tracing::debug!("development provider: discovery");
    let realm = Realm::of(shared.tenancy, uri.path());
    match discovery_document(&shared, &behaviour, &realm) {
        Ok(document) => json_response(StatusCode::OK, &document),
        Err(e) => {
            tracing::error!(error = %e, "development provider: discovery document failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "discovery document failed",
            )
        }
    }
}
