//! Compact JWS as the development provider writes and reads it: header and claims written as
//! JSON objects, signed with its own keys (or not at all, on purpose), and tokens from
//! clients split into their parts before they are verified.
//!
//! Writing the JSON directly (rather than through openidconnect's typed claims) is what lets
//! a misbehaviour remove a required claim, change a claim's shape or the header, or sign with
//! the wrong algorithm or key.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm};
use openidconnect::PrivateSigningKey;
use serde_json::{Map, Value};

use super::keys::SigningKeys;

/// How a token is signed.
pub(crate) enum Signer {
    /// RS256 with the key the key set publishes.
    Rs256Current,
    /// RS256 with the embedded key the key set does not publish.
    Rs256Other,
    /// HS256 with these bytes as the key.
    Hs256(Vec<u8>),
    /// `"alg": "none"` and an empty signature.
    Unsigned,
}

impl Signer {
    /// The header's `alg`.
    pub(crate) fn alg(&self) -> &'static str {
        match self {
            Signer::Unsigned => "none",
            Signer::Hs256(_) => "HS256",
            Signer::Rs256Current | Signer::Rs256Other => "RS256",
        }
    }
}

/// One base64url part of a compact JWS.
pub(crate) fn encode_part(value: &Map<String, Value>) -> Result<String, String> {
    serde_json::to_vec(value)
        .map(|json| URL_SAFE_NO_PAD.encode(json))
        .map_err(|e| e.to_string())
}

/// `header.claims.signature`, signed by `signer` (the RSA signers with `rsa_alg`); `corrupt`
/// flips a bit of the signature. The header is written as given: set its `alg` first.
pub(crate) fn sign(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    signer: &Signer,
    rsa_alg: &CoreJwsSigningAlgorithm,
    keys: &SigningKeys,
    corrupt: bool,
) -> Result<String, String> {
    let signing_input = format!("{}.{}", encode_part(header)?, encode_part(claims)?);
    let mut signature = match signer {
        Signer::Unsigned => Vec::new(),
        Signer::Hs256(key) => CoreHmacKey::new(key.clone())
            .sign(
                &CoreJwsSigningAlgorithm::HmacSha256,
                signing_input.as_bytes(),
            )
            .map_err(|e| e.to_string())?,
        Signer::Rs256Current => keys
            .signing_key()
            .sign(rsa_alg, signing_input.as_bytes())
            .map_err(|e| e.to_string())?,
        Signer::Rs256Other => keys
            .other_key()
            .sign(rsa_alg, signing_input.as_bytes())
            .map_err(|e| e.to_string())?,
    };
    if corrupt {
        if let Some(last) = signature.last_mut() {
            *last ^= 0x01;
        }
    }
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// A compact JWS split into its parts, not verified.
pub(crate) struct Decoded<'a> {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    /// `header.claims` as sent: what the signature covers.
    pub(crate) signing_input: &'a str,
    pub(crate) signature: Vec<u8>,
}

/// Splits `jwt` into header, claims and signature; `None` unless it is three base64url parts
/// whose first two are JSON objects.
pub(crate) fn decode(jwt: &str) -> Option<Decoded<'_>> {
    let (signing_input, signature) = jwt.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    let object = |part: &str| match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    Some(Decoded {
        header: object(header)?,
        claims: object(claims)?,
        signing_input,
        signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
    })
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, in seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    unix(SystemTime::now())
}
