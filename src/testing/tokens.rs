//! ID tokens, signed with openidconnect's JOSE implementation.

use std::time::{Duration, SystemTime};

use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, IdToken, IdTokenClaims, IssuerUrl, Nonce,
    StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The user's claims other than `sub`, flattened into the ID token next to the protocol
/// claims. Keeping every profile claim here (rather than in [`StandardClaims`]) lets a user
/// override any of them with any JSON value; the protocol claims never appear here because
/// [`super::DevUser::claim`] refuses them, so no claim is written twice.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct DevClaims {
    #[serde(flatten)]
    pub(crate) claims: Map<String, Value>,
}

impl AdditionalClaims for DevClaims {}

type DevIdToken =
    IdToken<DevClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// Everything an ID token says.
pub(crate) struct IdTokenInput<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) auth_time: SystemTime,
    pub(crate) lifetime: Duration,
    /// The user's claims, `sub` included.
    pub(crate) claims: Map<String, Value>,
    /// Bound to the ID token through `at_hash`.
    pub(crate) access_token: &'a str,
}

/// Signs an RS256 ID token; the error says why (never including a token).
pub(crate) fn sign_id_token(
    input: IdTokenInput<'_>,
    key: &CoreRsaPrivateSigningKey,
) -> Result<String, String> {
    let issuer = IssuerUrl::new(input.issuer.to_owned()).map_err(|e| e.to_string())?;
    let mut claims = input.claims;
    let sub = match claims.remove("sub") {
        Some(Value::String(sub)) => sub,
        _ => return Err("the user has no string `sub`".to_owned()),
    };
    let now = SystemTime::now();
    let expiry = now
        .checked_add(input.lifetime)
        .ok_or_else(|| "token lifetime overflows the clock".to_owned())?;
    let id_claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(input.client_id.to_owned())],
        expiry.into(),
        now.into(),
        StandardClaims::new(SubjectIdentifier::new(sub)),
        DevClaims { claims },
    )
    .set_auth_time(Some(input.auth_time.into()))
    .set_nonce(input.nonce.map(|n| Nonce::new(n.to_owned())));
    let access_token = AccessToken::new(input.access_token.to_owned());
    DevIdToken::new(
        id_claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access_token),
        None,
    )
    .map(|token| token.to_string())
    .map_err(|e| e.to_string())
}
