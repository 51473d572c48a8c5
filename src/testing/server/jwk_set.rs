//! Public keys the provider verifies client assertions with: the client's registered JWK Set
//! (`private_key_jwt`) or a federated issuer's.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One registered public key, with what an assertion's header can name it by.
#[derive(Clone, Debug)]
struct RegisteredKey {
    jwk: CoreJsonWebKey,
    kid: Option<String>,
    /// `x5t#S256`: given in the JWK, or computed from its first `x5c` certificate.
    thumbprint: Option<String>,
    /// `RSA` or `EC`.
    kty: String,
}

/// A set of public keys, parsed once at start-up.
#[derive(Clone, Debug, Default)]
pub(crate) struct JwkSet {
    keys: Vec<RegisteredKey>,
}

impl JwkSet {
    /// Parses a JWK Set (`{"keys": [...]}`) of RSA and P-256 keys; the error names the key.
    pub(crate) fn parse(jwks: &Value) -> Result<JwkSet, String> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("a JWK Set must be an object with a \"keys\" array")?;
        let mut parsed = Vec::with_capacity(keys.len());
        for (index, key) in keys.iter().enumerate() {
            let bad = |why: &str| format!("key {index} of the JWK Set {why}");
            let kty = key.get("kty").and_then(Value::as_str).unwrap_or_default();
            match kty {
                "RSA" => {}
                "EC" if key.get("crv").and_then(Value::as_str) == Some("P-256") => {}
                _ => return Err(bad("is neither an RSA key nor an EC key on P-256")),
            }
            let jwk: CoreJsonWebKey = serde_json::from_value(key.clone())
                .map_err(|e| bad(&format!("does not parse: {e}")))?;
            let text = |name: &str| key.get(name).and_then(Value::as_str).map(str::to_owned);
            let from_certificate = || {
                let der = key
                    .get("x5c")?
                    .get(0)?
                    .as_str()
                    .and_then(|c| STANDARD.decode(c).ok())?;
                Some(URL_SAFE_NO_PAD.encode(Sha256::digest(der)))
            };
            parsed.push(RegisteredKey {
                jwk,
                kid: text("kid"),
                thumbprint: text("x5t#S256").or_else(from_certificate),
                kty: kty.to_owned(),
            });
        }
        Ok(JwkSet { keys: parsed })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds the keys of `other`.
    pub(crate) fn extend(&mut self, other: JwkSet) {
        self.keys.extend(other.keys);
    }

    /// Verifies `signature` over `message` with the key `header` names: by `kid`, else by
    /// `x5t#S256` (how Microsoft Entra finds a certificate), else the only key of the
    /// algorithm's type when the header names none. The error says why, for the
    /// `error_description`.
    pub(crate) fn verify(
        &self,
        header: &Map<String, Value>,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        let named = |name: &str| header.get(name).and_then(Value::as_str);
        let key = if let Some(key) =
            named("kid").and_then(|kid| self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)))
        {
            key
        } else if let Some(key) = named("x5t#S256").and_then(|thumbprint| {
            self.keys
                .iter()
                .find(|k| k.thumbprint.as_deref() == Some(thumbprint))
        }) {
            key
        } else if named("kid").is_some() || named("x5t#S256").is_some() {
            return Err(
                "no registered key has the assertion's kid or x5t#S256 thumbprint".to_owned(),
            );
        } else {
            let kty = match alg {
                CoreJwsSigningAlgorithm::EcdsaP256Sha256 => "EC",
                _ => "RSA",
            };
            let mut fitting = self.keys.iter().filter(|k| k.kty == kty);
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => only,
                (None, _) => return Err(format!("no {kty} key is registered")),
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "the assertion names no key (kid or x5t#S256) and several {kty} keys are registered"
                    ))
                }
            }
        };
        key.jwk
            .verify_signature(alg, message, signature)
            .map_err(|e| format!("the assertion's signature does not verify: {e}"))
    }
}
