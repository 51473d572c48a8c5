//! ID token checks: openidconnect's verifier, plus what it leaves to the caller (clock leeway,
//! `iat` in the future, `azp`, `at_hash`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IdTokenVerifier, IssuerUrl,
    Nonce, SignatureVerificationError,
};
use subtle::ConstantTimeEq;

use super::claims::{IdToken, IdTokenClaims};

/// Clock difference tolerated between us and the provider, for `exp` and `iat`.
pub(crate) const LEEWAY: Duration = Duration::from_secs(60);

/// The message our `iat` check reports, to tell it apart from openidconnect's `exp` message
/// (both arrive as `ClaimsVerificationError::Expired`).
const IAT_IN_FUTURE: &str = "iat is in the future";

/// What the token must match.
pub(crate) struct Expected<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) issuer: &'a IssuerUrl,
    pub(crate) signing_algs: &'a [CoreJwsSigningAlgorithm],
    pub(crate) nonce: &'a Nonce,
    pub(crate) access_token: &'a AccessToken,
}

/// Why verification failed.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// No key in the set matches the token's `kid` and algorithm: the provider may have rotated
    /// its keys, so the set is worth fetching again.
    NoMatchingKey,
    /// Anything else, as a plain reason for the visitor.
    Invalid(String),
}

impl Rejection {
    pub(crate) fn into_reason(self) -> String {
        match self {
            Rejection::NoMatchingKey => {
                "the token is signed with a key the provider does not publish (kid)".to_owned()
            }
            Rejection::Invalid(reason) => reason,
        }
    }
}

/// Verifies `id_token` against `keys` and returns its claims.
pub(crate) fn verify(
    id_token: &IdToken,
    keys: &CoreJsonWebKeySet,
    expected: &Expected<'_>,
) -> Result<IdTokenClaims, Rejection> {
    // A public-client verifier has no client secret, so HS* could not verify even if it were
    // allowed; the allow-list below excludes it (and `none`) anyway.
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(expected.client_id.to_owned()),
        expected.issuer.clone(),
        keys.clone(),
    )
    .set_allowed_algs(expected.signing_algs.iter().cloned())
    // openidconnect rejects when now >= exp with no leeway; judging "now" as a minute earlier
    // accepts a token that expired less than a minute ago by our clock.
    .set_time_fn(|| {
        SystemTime::now()
            .checked_sub(LEEWAY)
            .unwrap_or(UNIX_EPOCH)
            .into()
    })
    .set_issue_time_verifier_fn(|iat| {
        if iat.timestamp() > unix_now().saturating_add(LEEWAY.as_secs() as i64) {
            Err(IAT_IN_FUTURE.to_owned())
        } else {
            Ok(())
        }
    });

    let claims = id_token
        .claims(&verifier, expected.nonce)
        .map_err(rejection)?;

    // openidconnect leaves azp alone (OIDC Core 3.1.3.7 steps 4-5).
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != expected.client_id => {
            return Err(Rejection::Invalid(
                "the token was issued to another application (azp)".to_owned(),
            ));
        }
        None if claims.audiences().len() > 1 => {
            return Err(Rejection::Invalid(
                "the token has several audiences but no azp".to_owned(),
            ));
        }
        _ => {}
    }

    // openidconnect does not check at_hash either. It binds the access token to the ID token,
    // so a swapped access token is caught.
    if let Some(claimed) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| rejection(ClaimsVerificationError::SignatureVerification(e)))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| rejection(ClaimsVerificationError::SignatureVerification(e)))?;
        let actual = AccessTokenHash::from_token(expected.access_token, alg, key)
            .map_err(|_| Rejection::Invalid("the token's at_hash cannot be checked".to_owned()))?;
        if !bool::from(actual.as_bytes().ct_eq(claimed.as_bytes())) {
            return Err(Rejection::Invalid(
                "the token does not belong to the access token it came with (at_hash)".to_owned(),
            ));
        }
    }

    Ok(claims.clone())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Plain reasons. openidconnect's own messages quote the token's values (audiences, issuer,
/// header fields) and are left out: they are attacker-influenced and mean nothing to a visitor.
fn rejection(error: ClaimsVerificationError) -> Rejection {
    let reason = match error {
        ClaimsVerificationError::Expired(message) if message == IAT_IN_FUTURE => {
            "the token was issued in the future (is the server clock right?)"
        }
        ClaimsVerificationError::Expired(_) => "the token has expired",
        ClaimsVerificationError::InvalidAudience(_) => {
            "the token was issued for another application (aud)"
        }
        ClaimsVerificationError::InvalidIssuer(_) => {
            "the token was issued by another provider (iss)"
        }
        ClaimsVerificationError::InvalidNonce(_) => "nonce mismatch",
        ClaimsVerificationError::InvalidAuthContext(_) => "the token's acr is not acceptable",
        ClaimsVerificationError::InvalidAuthTime(_) => "the token's auth_time is not acceptable",
        ClaimsVerificationError::InvalidSubject(_) => "the token's subject is invalid",
        ClaimsVerificationError::Unsupported(_) => {
            "the token uses an unsupported format (encrypted, nested, or with a critical header)"
        }
        ClaimsVerificationError::SignatureVerification(e) => return signature_rejection(e),
        _ => "the token failed verification",
    };
    Rejection::Invalid(reason.to_owned())
}

fn signature_rejection(error: SignatureVerificationError) -> Rejection {
    let reason = match error {
        SignatureVerificationError::NoMatchingKey => return Rejection::NoMatchingKey,
        SignatureVerificationError::NoSignature => "the token is not signed (alg none)",
        SignatureVerificationError::DisallowedAlg(_)
        | SignatureVerificationError::UnsupportedAlg(_) => {
            "the token is signed with an algorithm that is not accepted"
        }
        SignatureVerificationError::CryptoError(_) => "the token's signature is invalid",
        SignatureVerificationError::AmbiguousKeyId(_) => {
            "several of the provider's keys match the token and it names none (kid)"
        }
        SignatureVerificationError::InvalidKey(_) => {
            "the provider's key cannot be used to check this token"
        }
        _ => "the token's signature could not be checked",
    };
    Rejection::Invalid(reason.to_owned())
}
