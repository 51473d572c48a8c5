//! The concrete openidconnect types this crate instantiates, and the claim set that keeps every
//! claim a provider sends.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, EmptyExtraTokenFields, EndpointNotSet, StandardErrorResponse,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every claim that is not one of OpenID Connect's standard claims (`groups`, `roles`, `tid`,
/// `oid`, …), kept as JSON.
///
/// openidconnect parses the standard claims into typed fields and hands only the remaining keys
/// to this map (its `FilteredFlatten` removes the standard-claim keys, and `iss`, `aud`, `exp`,
/// `nonce`… are named fields of `IdTokenClaims`), so serialising the claims again yields each
/// key exactly once.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct ExtraClaims {
    #[serde(flatten)]
    pub(crate) claims: Map<String, Value>,
}

impl AdditionalClaims for ExtraClaims {}

/// An ID token carrying [`ExtraClaims`].
pub(crate) type IdToken = openidconnect::IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The verified claims of an [`IdToken`].
pub(crate) type IdTokenClaims = openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// The token endpoint's answer.
pub(crate) type TokenResponse = StandardTokenResponse<
    openidconnect::IdTokenFields<
        ExtraClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// The token endpoint's OAuth error answer (`invalid_grant`, …).
pub(crate) type TokenErrorResponse = StandardErrorResponse<CoreErrorResponseType>;

/// The client used for the code exchange, before (`EndpointNotSet`) and after
/// (`EndpointSet`) its token endpoint is set. No other endpoint is ever set: the authorization
/// URL is built by [`super::Provider::authorization_request`] itself.
pub(crate) type TokenClient<HasTokenUrl = EndpointNotSet> = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    TokenErrorResponse,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
    EndpointNotSet,
>;
