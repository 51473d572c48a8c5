//! The app's own key pair for `private_key_jwt` (OpenID Connect Core 1.0 section 9,
//! RFC 7523): the client proves who it is with a short-lived JWT signed by its private key
//! instead of a shared secret, so there is no secret to leak from a settings page or a
//! deployment package.
//!
//! Signing goes through the JOSE crates openidconnect itself builds on: its RSA signing key
//! for RS256 and `p256` for ES256. A PEM may be PKCS#8 (`BEGIN PRIVATE KEY`, what
//! `openssl genpkey` and Azure write), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
//! (`BEGIN EC PRIVATE KEY`). With the certificate of the key (`client_certificate_file`), the
//! assertion's header names its thumbprints (`x5t#S256`, and `x5t` for older Entra tenants),
//! which is how Microsoft Entra ID finds a certificate credential; otherwise it carries a
//! `kid`, the key's RFC 7638 thumbprint.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::PrivateSigningKey as _;
use p256::ecdsa::signature::Signer as _;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::DecodePrivateKey as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// How long a client assertion is valid: providers accept a few minutes (Entra ID up to
/// ten); one is used within seconds of being signed.
pub(crate) const ASSERTION_LIFETIME: i64 = 5 * 60;

/// RFC 7523's `client_assertion_type` for a JWT.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why a key or certificate cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM holds no private key this crate can sign with.
    #[error(
        "it is not a PEM private key this library can sign with (an RSA key, PKCS#8 or PKCS#1, \
         or a P-256 EC key, PKCS#8 or SEC1)"
    )]
    UnsupportedKey,
    /// The certificate PEM cannot be read.
    #[error("it is not a PEM certificate (-----BEGIN CERTIFICATE-----)")]
    BadCertificate,
    /// Signing failed (a broken key).
    #[error("the key could not sign")]
    Signing,
}

/// A private key that signs client assertions (`client_private_key_file` or
/// `client_private_key`), with the thumbprints of its certificate when one is given
/// (`client_certificate_file`). Cheap to clone; `Debug` shows the algorithm and the key id,
/// never the key.
#[derive(Clone)]
pub struct ClientKey {
    signer: Arc<Signer>,
    /// RFC 7638 thumbprint of the public key.
    kid: Arc<str>,
    /// `x5t` (SHA-1) and `x5t#S256` of the certificate, base64url.
    certificate: Option<Arc<(String, String)>>,
}

enum Signer {
    Rs256(CoreRsaPrivateSigningKey),
    Es256(p256::ecdsa::SigningKey),
}

impl ClientKey {
    /// Reads a PEM private key: RSA (RS256) or P-256 (ES256).
    pub fn from_pem(pem: &str) -> Result<ClientKey, KeyError> {
        let pem = pem.trim();
        let signer = rsa_key(pem)
            .map(Signer::Rs256)
            .or_else(|| ec_key(pem).map(Signer::Es256))
            .ok_or(KeyError::UnsupportedKey)?;
        let kid = thumbprint(&public_jwk_of(&signer)).into();
        Ok(ClientKey {
            signer: Arc::new(signer),
            kid,
            certificate: None,
        })
    }

    /// The same key with its certificate (PEM), whose thumbprints the assertions then name.
    pub fn with_certificate_pem(self, pem: &str) -> Result<ClientKey, KeyError> {
        let (label, der) =
            pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|_| KeyError::BadCertificate)?;
        if label != "CERTIFICATE" {
            return Err(KeyError::BadCertificate);
        }
        let x5t = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
        let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
        Ok(ClientKey {
            certificate: Some(Arc::new((x5t, x5t_s256))),
            ..self
        })
    }

    /// `RS256` or `ES256`.
    pub fn algorithm(&self) -> &'static str {
        match *self.signer {
            Signer::Rs256(_) => "RS256",
            Signer::Es256(_) => "ES256",
        }
    }

    /// The key id the assertions carry when there is no certificate: the RFC 7638
    /// thumbprint of the public key.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The certificate's `x5t#S256` thumbprint, when a certificate was given.
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.certificate.as_deref().map(|(_, s256)| s256.as_str())
    }

    /// The public key as a JWK (with `kid`, `alg` and `use`), to register with a provider
    /// that takes a JWK Set for `private_key_jwt`.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = public_jwk_of(&self.signer);
        jwk.insert("kid".into(), json!(&*self.kid));
        jwk.insert("alg".into(), json!(self.algorithm()));
        jwk.insert("use".into(), json!("sig"));
        Value::Object(jwk)
    }

    /// A client assertion for `client_id` at `audience` (the token endpoint): `iss` = `sub`
    /// = the client id, a fresh `jti`, valid for [`ASSERTION_LIFETIME`].
    pub(crate) fn client_assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: i64,
    ) -> Result<String, KeyError> {
        let mut header = Map::new();
        header.insert("alg".into(), json!(self.algorithm()));
        header.insert("typ".into(), json!("JWT"));
        match self.certificate.as_deref() {
            Some((x5t, x5t_s256)) => {
                header.insert("x5t#S256".into(), json!(x5t_s256));
                header.insert("x5t".into(), json!(x5t));
            }
            None => {
                header.insert("kid".into(), json!(&*self.kid));
            }
        }
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": crate::util::random_token(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match &*self.signer {
            Signer::Rs256(key) => key
                .sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, signing_input.as_bytes())
                .map_err(|_| KeyError::Signing)?,
            Signer::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
                // JWS wants the fixed-size `r || s` (RFC 7518 section 3.4), not DER.
                signature.to_bytes().to_vec()
            }
        };
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

impl PartialEq for ClientKey {
    // The same public key and the same certificate: the same credential.
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.certificate == other.certificate
    }
}

impl Eq for ClientKey {}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("alg", &self.algorithm())
            .field("kid", &self.kid)
            .field("x5t#S256", &self.certificate_thumbprint())
            .finish_non_exhaustive()
    }
}

/// An RSA key from PKCS#8 or PKCS#1 PEM, as openidconnect's signing key (which reads
/// PKCS#1 only).
fn rsa_key(pem: &str) -> Option<CoreRsaPrivateSigningKey> {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .ok()?;
    let pkcs1 = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).ok()?;
    CoreRsaPrivateSigningKey::from_pem(&pkcs1, None).ok()
}

/// A P-256 key from PKCS#8 or SEC1 PEM.
fn ec_key(pem: &str) -> Option<p256::ecdsa::SigningKey> {
    use p256::pkcs8::DecodePrivateKey as _;
    if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
        return Some(key);
    }
    p256::SecretKey::from_sec1_pem(pem)
        .ok()
        .map(p256::ecdsa::SigningKey::from)
}

/// The public key's JWK members (RFC 7517), without `kid`, `alg` or `use`.
fn public_jwk_of(signer: &Signer) -> Map<String, Value> {
    let b64 = |bytes: &[u8]| json!(URL_SAFE_NO_PAD.encode(bytes));
    let mut jwk = Map::new();
    match signer {
        Signer::Rs256(key) => {
            // openidconnect's own public JWK of the key: `n` and `e` as it writes them.
            if let Ok(Value::Object(public)) = serde_json::to_value(key.as_verification_key()) {
                for member in ["kty", "n", "e"] {
                    if let Some(value) = public.get(member) {
                        jwk.insert(member.into(), value.clone());
                    }
                }
            }
        }
        Signer::Es256(key) => {
            let point = key.verifying_key().to_sec1_point(false);
            jwk.insert("kty".into(), json!("EC"));
            jwk.insert("crv".into(), json!("P-256"));
            if let (Some(x), Some(y)) = (point.x(), point.y()) {
                jwk.insert("x".into(), b64(x));
                jwk.insert("y".into(), b64(y));
            }
        }
    }
    jwk
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
fn thumbprint(jwk: &Map<String, Value>) -> String {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => &["e", "kty", "n"],
    };
    let members: Vec<String> = required
        .iter()
        .map(|m| {
            let value = jwk.get(*m).and_then(Value::as_str).unwrap_or_default();
            format!("{}:{}", json!(m), json!(value))
        })
        .collect();
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{{{}}}", members.join(","))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = include_str!("testing/client_key_rsa.pem");
    const RSA_CERT: &str = include_str!("testing/client_cert_rsa.pem");
    const EC: &str = include_str!("testing/client_key_ec.pem");

    fn part(jwt: &str, index: usize) -> Value {
        let segment = jwt.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn assertions_are_signed_jwts_naming_the_client_and_the_token_endpoint() {
        for (pem, alg) in [(RSA, "RS256"), (EC, "ES256")] {
            let key = ClientKey::from_pem(pem).unwrap();
            assert_eq!(key.algorithm(), alg);
            let jwt = key
                .client_assertion("app", "https://op/token", 1_000)
                .unwrap();
            let header = part(&jwt, 0);
            assert_eq!(header["alg"], alg);
            assert_eq!(header["kid"], key.key_id());
            let claims = part(&jwt, 1);
            assert_eq!(claims["iss"], "app");
            assert_eq!(claims["sub"], "app");
            assert_eq!(claims["aud"], "https://op/token");
            assert_eq!(claims["exp"], 1_000 + ASSERTION_LIFETIME);
            assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 20));
            let other = key.client_assertion("app", "https://op/token", 1_000).unwrap();
            assert_ne!(part(&other, 1)["jti"], claims["jti"], "a fresh jti each time");
            // The public JWK is what a provider registers; its kid is the thumbprint.
            let jwk = key.public_jwk();
            assert_eq!(jwk["kid"], key.key_id());
            assert!(jwk.get("d").is_none(), "no private member");
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn a_certificate_puts_its_thumbprints_in_the_header() {
        let key = ClientKey::from_pem(RSA)
            .unwrap()
            .with_certificate_pem(RSA_CERT)
            .unwrap();
        let jwt = key.client_assertion("app", "aud", 0).unwrap();
        let header = part(&jwt, 0);
        let der = pem_rfc7468::decode_vec(RSA_CERT.trim().as_bytes()).unwrap().1;
        assert_eq!(header["x5t#S256"], URL_SAFE_NO_PAD.encode(Sha256::digest(&der)));
        assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)));
        assert_eq!(key.certificate_thumbprint(), header["x5t#S256"].as_str());
    }

    #[test]
    fn what_is_not_a_usable_key_is_a_clear_error() {
        assert_eq!(ClientKey::from_pem("").unwrap_err(), KeyError::UnsupportedKey);
        assert_eq!(ClientKey::from_pem(RSA_CERT).unwrap_err(), KeyError::UnsupportedKey);
        let key = ClientKey::from_pem(EC).unwrap();
        assert_eq!(key.with_certificate_pem(EC).unwrap_err(), KeyError::BadCertificate);
    }
}
