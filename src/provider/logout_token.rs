//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, section 2.6): a JWT
//! the provider POSTs to say a user's session ended there.
//!
//! Checked like an ID token (signature with the provider's published keys and an
//! asymmetric algorithm, `iss`, `aud`, `iat`, `exp`), plus what makes it a logout token and
//! not an ID token passed off as one: the back-channel `events` claim, a `jti`, `sid`
//! and/or `sub`, no `nonce`, and a `typ` header, when present, of `logout+jwt`. Signatures
//! are checked with openidconnect's key types; nothing here is hand-rolled cryptography.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm,
};
use openidconnect::JwsSigningAlgorithm;
use openidconnect::{JsonWebKey, JsonWebKeyId};
use serde_json::{Map, Value};

use super::verify::LEEWAY;

/// The `events` member that makes a JWT a back-channel logout token.
pub(crate) const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The oldest `iat` accepted: a logout token is sent the moment the session ends.
const MAX_AGE_SECS: i64 = 10 * 60;

/// Whose sessions a valid logout token ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogoutTarget {
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    /// The token's id, recorded so that the same token is accepted once.
    pub(crate) jti: String,
}

/// What a logout token must match.
pub(crate) struct Expected<'a> {
    pub(crate) client_id: &'a str,
    /// The issuer the token must name (for a multi-tenant provider, resolved by the caller
    /// with the token's `tid`).
    pub(crate) issuer: &'a str,
    pub(crate) signing_algs: &'a [CoreJwsSigningAlgorithm],
}

/// Why a logout token was refused.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No published key has the token's `kid`: the key set may be worth fetching again.
    UnknownKey,
    /// Anything else, as a plain reason (never a claim value).
    Invalid(&'static str),
}

/// The unverified `iss` and `tid` of `jwt`, to find the provider that must have signed it.
pub(crate) fn peek_issuer(jwt: &str) -> Option<(String, Option<String>)> {
    let claims = part(jwt, 1)?;
    let iss = claims.get("iss")?.as_str()?.to_owned();
    let tid = claims.get("tid").and_then(Value::as_str).map(str::to_owned);
    Some((iss, tid))
}

/// Verifies `jwt` against `keys` and `expected`.
pub(crate) fn verify(
    jwt: &str,
    keys: &CoreJsonWebKeySet,
    expected: &Expected<'_>,
) -> Result<LogoutTarget, Refused> {
    let invalid = Refused::Invalid;
    let mut segments = jwt.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(invalid("the logout token is not a signed JWT"));
    };
    let header =
        decode_object(header_b64).ok_or(invalid("the logout token's header cannot be read"))?;
    let claims =
        decode_object(payload_b64).ok_or(invalid("the logout token's claims cannot be read"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| invalid("the logout token's signature cannot be read"))?;

    match header.get("typ").map(Value::as_str) {
        None => {}
        Some(Some(typ))
            if typ.eq_ignore_ascii_case("logout+jwt")
                || typ.eq_ignore_ascii_case("application/logout+jwt") => {}
        Some(_) => return Err(invalid("the token's typ header is not logout+jwt")),
    }
    if header.contains_key("crit") {
        return Err(invalid("the logout token has critical header extensions"));
    }
    let alg: CoreJwsSigningAlgorithm = header
        .get("alg")
        .cloned()
        .and_then(|alg| serde_json::from_value(alg).ok())
        .ok_or(invalid("the logout token has no signing algorithm"))?;
    if !expected.signing_algs.contains(&alg) {
        return Err(invalid(
            "the logout token is signed with an algorithm that is not accepted",
        ));
    }
    let key = signing_key(keys, &header, &alg)?;
    let signing_input = &jwt[..header_b64.len() + 1 + payload_b64.len()];
    key.verify_signature(&alg, signing_input.as_bytes(), &signature)
        .map_err(|_| invalid("the logout token's signature is invalid"))?;

    check_claims(&claims, expected)
}

/// The one published key that may have signed the token: by `kid`, or the only key fit for
/// the algorithm when there is no `kid`.
fn signing_key<'k>(
    keys: &'k CoreJsonWebKeySet,
    header: &Map<String, Value>,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<&'k CoreJsonWebKey, Refused> {
    let key_type = alg.key_type().ok_or(Refused::Invalid(
        "the logout token's algorithm has no key type",
    ))?;
    let fits = |key: &&CoreJsonWebKey| {
        key.key_type() == &key_type
            && matches!(key.key_use(), None | Some(CoreJsonWebKeyUse::Signature))
    };
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) => {
            let kid = JsonWebKeyId::new(kid.to_owned());
            keys.keys()
                .iter()
                .filter(fits)
                .find(|key| key.key_id() == Some(&kid))
                .ok_or(Refused::UnknownKey)
        }
        None => {
            let mut candidates = keys.keys().iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Ok(only),
                (None, _) => Err(Refused::UnknownKey),
                (Some(_), Some(_)) => Err(Refused::Invalid(
                    "several of the provider's keys match the logout token and it names none (kid)",
                )),
            }
        }
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<LogoutTarget, Refused> {
    let invalid = Refused::Invalid;
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(invalid(
            "the logout token was issued by another provider (iss)",
        ));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.client_id,
        // Extra audiences are not trusted, as for ID tokens.
        Some(Value::Array(auds)) => auds.len() == 1 && auds[0].as_str() == Some(expected.client_id),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid(
            "the logout token was issued for another application (aud)",
        ));
    }
    let now = unix_now();
    let leeway = LEEWAY.as_secs() as i64;
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(invalid("the logout token has no iat"))?;
    if iat > now + leeway {
        return Err(invalid("the logout token was issued in the future"));
    }
    if iat < now - MAX_AGE_SECS {
        return Err(invalid("the logout token was issued too long ago (iat)"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(invalid("the logout token has no exp"))?;
    if exp < now - leeway {
        return Err(invalid("the logout token has expired"));
    }
    if claims.contains_key("nonce") {
        return Err(invalid(
            "the token carries a nonce, which a logout token never does",
        ));
    }
    let is_logout = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_EVENT))
        .is_some_and(Value::is_object);
    if !is_logout {
        return Err(invalid("the token has no back-channel logout event"));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
        .ok_or(invalid("the logout token has no jti"))?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (sub, sid) = (text("sub"), text("sid"));
    if sub.is_none() && sid.is_none() {
        return Err(invalid("the logout token names neither a sid nor a sub"));
    }
    Ok(LogoutTarget {
        sub,
        sid,
        jti: jti.to_owned(),
    })
}

fn part(jwt: &str, index: usize) -> Option<Map<String, Value>> {
    decode_object(jwt.split('.').nth(index)?)
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
