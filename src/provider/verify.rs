//! ID token checks: openidconnect's verifier, plus what it leaves to the caller (clock leeway,
//! `iat` too far in the future or the past, `typ`, `sub`, `azp`, `at_hash`).
//!
//! Choices where the specifications leave room:
//!
//! * Only asymmetric algorithms are accepted, from discovery's list ([`super::discovery`]):
//!   never `none`, never HS* (a client-secret-keyed token could be minted by anyone holding
//!   the secret, and an HS* token "keyed" with a public key is the algorithm-confusion attack).
//! * Only the key set named by discovery is trusted: `jku`, `jwk`, `x5u` and `x5c` headers are
//!   ignored, so a token signed with a key it carries or points at fails like any other
//!   unknown key.
//! * A token without `kid` is verified when exactly one key of the set fits its algorithm, and
//!   refused when several do (OpenID Connect Core 1.0 section 10.1 requires `kid` then; the
//!   RP certification case `rp-id_token-kid-absent-multiple-jwks` allows refusing).
//! * `iat` may be at most [`MAX_TOKEN_AGE`] in the past: a login cannot take longer than its
//!   pending lifetime, so an older token is a replay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IdTokenVerifier, IssuerUrl,
    JsonWebTokenType, Nonce, SignatureVerificationError,
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::claims::{IdToken, IdTokenClaims};

/// Clock difference tolerated between us and the provider, for `exp` and `iat`.
pub(crate) const LEEWAY: Duration = Duration::from_secs(60);

/// The oldest `iat` accepted: the lifetime of a pending login plus the clock leeway. The ID
/// token is issued when the code is redeemed, within the login's lifetime; a token issued
/// earlier than that was issued for another login.
pub(crate) const MAX_TOKEN_AGE: Duration =
    Duration::from_secs(crate::pending::PENDING_TTL.as_secs() + LEEWAY.as_secs());

/// The longest `sub` accepted: OpenID Connect Core 1.0 section 2 caps it at 255 ASCII
/// characters.
pub(crate) const MAX_SUBJECT_LEN: usize = 255;

/// The messages our `iat` checks report, to tell them apart from openidconnect's `exp`
/// message (all arrive as `ClaimsVerificationError::Expired`).
const IAT_IN_FUTURE: &str = "iat is in the future";
const IAT_TOO_OLD: &str = "iat is too old";

/// The claims every ID token has (OpenID Connect Core 1.0 section 2), in the order they are
/// reported missing.
const REQUIRED_CLAIMS: [&str; 5] = ["iss", "sub", "aud", "exp", "iat"];

/// What the token must match.
pub(crate) struct Expected<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) issuer: &'a IssuerUrl,
    pub(crate) signing_algs: &'a [CoreJwsSigningAlgorithm],
    pub(crate) nonce: NonceRule<'a>,
    pub(crate) access_token: &'a AccessToken,
}

/// What the token's `nonce` must be.
#[derive(Clone, Copy)]
pub(crate) enum NonceRule<'a> {
    /// A login's token: exactly the nonce this login sent.
    Equals(&'a Nonce),
    /// A refreshed token (OpenID Connect Core 1.0 section 12.2): no nonce, or the one of
    /// the login's token.
    AbsentOr(Option<&'a str>),
}

impl NonceRule<'_> {
    fn check(self, nonce: Option<&Nonce>) -> Result<(), String> {
        let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
        match (self, nonce) {
            (NonceRule::Equals(want), Some(got)) if same(want.secret(), got.secret()) => Ok(()),
            (NonceRule::Equals(_), Some(_)) => Err("nonce mismatch".to_owned()),
            (NonceRule::Equals(_), None) => Err("missing nonce claim".to_owned()),
            (NonceRule::AbsentOr(_), None) => Ok(()),
            (NonceRule::AbsentOr(Some(want)), Some(got)) if same(want, got.secret()) => Ok(()),
            (NonceRule::AbsentOr(_), Some(_)) => Err("nonce mismatch".to_owned()),
        }
    }
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
    // Checks of the unverified header and payload: they can only refuse, never accept.
    let jwt = id_token.to_string();
    check_type(&jwt)?;
    if let Some(claim) = missing_claim(&jwt) {
        return Err(Rejection::Invalid(format!(
            "the token has no {claim} claim"
        )));
    }

    // A public-client verifier has no client secret, so HS* could not verify even if it were
    // allowed; the allow-list below excludes it (and `none`) anyway.
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(expected.client_id.to_owned()),
        expected.issuer.clone(),
        keys.clone(),
    )
    .set_allowed_algs(expected.signing_algs.iter().cloned())
    // `typ` is checked above; this keeps openidconnect to the same rule (JWT or absent).
    .set_allowed_jose_types(JsonWebTokenType::new("JWT".to_owned()).normalize().ok())
    // openidconnect rejects when now >= exp with no leeway; judging "now" as a minute earlier
    // accepts a token that expired less than a minute ago by our clock.
    .set_time_fn(|| {
        SystemTime::now()
            .checked_sub(LEEWAY)
            .unwrap_or(UNIX_EPOCH)
            .into()
    })
    .set_issue_time_verifier_fn(|iat| {
        let now = unix_now();
        if iat.timestamp() > now.saturating_add(LEEWAY.as_secs() as i64) {
            Err(IAT_IN_FUTURE.to_owned())
        } else if iat.timestamp() < now.saturating_sub(MAX_TOKEN_AGE.as_secs() as i64) {
            Err(IAT_TOO_OLD.to_owned())
        } else {
            Ok(())
        }
    });

    let nonce = expected.nonce;
    let claims = id_token
        .claims(&verifier, |got: Option<&Nonce>| nonce.check(got))
        .map_err(rejection)?;

    // RFC 7519 4.1.5: a token must not be accepted before its `nbf`; openidconnect does not
    // read that claim.
    check_not_before(&claims.additional_claims().claims)?;

    // openidconnect takes any string as the subject.
    let subject = claims.subject().as_str();
    if subject.is_empty() {
        return Err(Rejection::Invalid(
            "the token's subject (sub) is empty".to_owned(),
        ));
    }
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(Rejection::Invalid(format!(
            "the token's subject (sub) is longer than {MAX_SUBJECT_LEN} characters"
        )));
    }

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

/// Refuses a token whose `nbf` lies in the future beyond the clock leeway, or is not a
/// number of seconds.
fn check_not_before(claims: &Map<String, Value>) -> Result<(), Rejection> {
    let Some(nbf) = claims.get("nbf") else {
        return Ok(());
    };
    let Some(nbf) = nbf.as_f64().filter(|n| n.is_finite()) else {
        return Err(Rejection::Invalid(
            "the token's nbf claim has the wrong type".to_owned(),
        ));
    };
    if nbf > (unix_now().saturating_add(LEEWAY.as_secs() as i64)) as f64 {
        return Err(Rejection::Invalid(
            "the token is not valid yet (nbf is in the future; is the server clock right?)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Refuses a token whose `typ` header names something other than a JWT (RFC 7519 section
/// 5.1: `JWT`, or `application/jwt`, in any case): an RFC 9068 access token (`at+jwt`), a
/// logout token (`logout+jwt`)… must never pass for an ID token.
fn check_type(jwt: &str) -> Result<(), Rejection> {
    let header = jwt_part(jwt, 0)
        .ok_or_else(|| Rejection::Invalid("the token's header cannot be read".to_owned()))?;
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(typ))
            if typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("application/jwt") =>
        {
            Ok(())
        }
        Some(_) => Err(Rejection::Invalid(
            "the token is not an ID token: its typ header names another kind of JWT (such as \
             an access token)"
                .to_owned(),
        )),
    }
}

/// The first required claim the token's payload lacks, if any.
fn missing_claim(jwt: &str) -> Option<&'static str> {
    let payload = jwt_part(jwt, 1)?;
    REQUIRED_CLAIMS
        .into_iter()
        .find(|claim| !payload.contains_key(*claim))
}

/// Part `index` of a compact JWT (0 header, 1 payload) as a JSON object.
pub(crate) fn jwt_part(jwt: &str, index: usize) -> Option<Map<String, Value>> {
    let part = jwt.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Why a token that openidconnect could not even parse is refused: a missing or mistyped
/// required claim when that is the problem, else a general reason. The token itself is never
/// repeated.
pub(crate) fn malformed_reason(jwt: &str) -> String {
    let Some(payload) = jwt_part(jwt, 1) else {
        return "the token is malformed (not a signed JWT)".to_owned();
    };
    if let Some(claim) = missing_claim(jwt) {
        return format!("the token has no {claim} claim");
    }
    let is_string = |v: &Value| v.is_string();
    let well_typed = |claim: &str, value: &Value| match claim {
        "iss" => value
            .as_str()
            .is_some_and(|iss| url::Url::parse(iss).is_ok()),
        "sub" => is_string(value),
        "aud" => {
            is_string(value)
                || value
                    .as_array()
                    .is_some_and(|auds| auds.iter().all(is_string))
        }
        _ => value.is_number(),
    };
    let mistyped = REQUIRED_CLAIMS
        .into_iter()
        .find(|claim| payload.get(*claim).is_some_and(|v| !well_typed(claim, v)));
    match mistyped {
        Some("iss") => "the token's iss claim is not a URL".to_owned(),
        Some(claim) => format!("the token's {claim} claim has the wrong type"),
        None => "the token is malformed (a header field or claim has the wrong type)".to_owned(),
    }
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
        ClaimsVerificationError::Expired(message) if message == IAT_TOO_OLD => {
            "the token was issued too long ago (iat) to belong to this login; it may be replayed"
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
