//! [`DevClientKey`]: key pairs for testing client authentication without a shared secret
//! (`private_key_jwt`, federated credentials), embedded in the crate like the provider's own
//! signing keys.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::jwt;
use crate::util::random_token;

const RSA_KEY: &str = include_str!("client_key_rsa.pem");
const RSA_CERT: &str = include_str!("client_cert_rsa.pem");
const RSA_OTHER_KEY: &str = include_str!("client_key_rsa_other.pem");
const EC_KEY: &str = include_str!("client_key_ec.pem");

/// How long [`DevClientKey::client_assertion`]'s assertions are valid: five minutes, well
/// under what providers accept.
const ASSERTION_LIFETIME: i64 = 300;

/// Which embedded key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Rsa,
    RsaOther,
    Ec,
}

/// A key pair a test client (or a stand-in for a managed-identity endpoint) signs JWTs with,
/// for the development provider's `private_key_jwt` and federated-credential checks.
///
/// The keys are embedded in this crate (`src/testing/client_key_*.pem`) and published with
/// its source: **they are not secret and prove nothing outside a test.** There are three:
///
/// | Key | Algorithm | `kid` | Certificate |
/// |---|---|---|---|
/// | [`DevClientKey::rsa`] | RS256 (RSA 2048) | `dev-client-rsa` | self-signed, so its JWK carries `x5c` and `x5t#S256` as Entra's certificate credentials do |
/// | [`DevClientKey::ec`] | ES256 (P-256) | `dev-client-ec` | none |
/// | [`DevClientKey::other_rsa`] | RS256 (RSA 2048) | `dev-client-rsa-other` | none; a "wrong key" for tests |
///
/// The private keys are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), what `openssl genpkey`
/// writes and a `client_private_key_file` would hold.
///
/// ```
/// use tower_oidc_login::testing::{ClientAuthMethod, DevClientKey, DevProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = DevClientKey::ec();
/// let provider = DevProvider::builder()
///     .client_jwks(key.jwks())
///     .client_auth_methods([ClientAuthMethod::PrivateKeyJwt])
///     .start()
///     .await?;
/// // What a client using private_key_jwt sends instead of a secret; the provider refuses
/// // it here only because "not-a-code" is no code.
/// let assertion = key.client_assertion(provider.client_id(), &provider.token_endpoint())?;
/// let form = [
///     ("grant_type", "authorization_code"),
///     ("code", "not-a-code"),
///     ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
///     ("client_assertion", assertion.as_str()),
/// ];
/// let answer = reqwest::Client::new().post(provider.token_endpoint()).form(&form).send().await?;
/// assert!(answer.text().await?.contains("invalid_grant"));
/// assert_eq!(provider.token_calls()[0].client_auth, Some(ClientAuthMethod::PrivateKeyJwt));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DevClientKey {
    which: Which,
}

/// Why a [`DevClientKey`] could not sign.
#[derive(Debug, thiserror::Error)]
#[error("the development client key could not sign: {0}")]
pub struct DevKeyError(String);

impl DevClientKey {
    /// The RSA key (RS256) with its self-signed certificate.
    pub fn rsa() -> DevClientKey {
        DevClientKey { which: Which::Rsa }
    }

    /// The P-256 key (ES256).
    pub fn ec() -> DevClientKey {
        DevClientKey { which: Which::Ec }
    }

    /// Another RSA key (RS256), without a certificate: register one key and sign with this
    /// one to test a wrong key.
    pub fn other_rsa() -> DevClientKey {
        DevClientKey {
            which: Which::RsaOther,
        }
    }

    /// The JWS algorithm: `RS256` or `ES256`.
    pub fn alg(&self) -> &'static str {
        match self.which {
            Which::Rsa | Which::RsaOther => "RS256",
            Which::Ec => "ES256",
        }
    }

    /// The key id in its JWK and in the headers it signs.
    pub fn kid(&self) -> &'static str {
        match self.which {
            Which::Rsa => "dev-client-rsa",
            Which::RsaOther => "dev-client-rsa-other",
            Which::Ec => "dev-client-ec",
        }
    }

    /// The private key as PKCS#8 PEM. Published with this crate: not a secret.
    pub fn private_key_pem(&self) -> &'static str {
        match self.which {
            Which::Rsa => RSA_KEY,
            Which::RsaOther => RSA_OTHER_KEY,
            Which::Ec => EC_KEY,
        }
    }

    /// The self-signed certificate (PEM) of [`DevClientKey::rsa`]; `None` for the others.
    pub fn certificate_pem(&self) -> Option<&'static str> {
        (self.which == Which::Rsa).then_some(RSA_CERT)
    }

    /// The certificate's SHA-256 thumbprint, base64url, as a JWS header's `x5t#S256` (RFC
    /// 7515 section 4.1.8) carries it; `None` without a certificate.
    pub fn x5t_s256(&self) -> Option<String> {
        let der = pem_body(self.certificate_pem()?)?;
        Some(URL_SAFE_NO_PAD.encode(Sha256::digest(der)))
    }

    /// The public key as a JWK (`kty`, `kid`, `use` = `sig`, `alg`, the key, and for the key
    /// with a certificate `x5c` and `x5t#S256`).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match self.public_key_members() {
            Ok(members) => members,
            // Unreachable in practice: a unit test parses every embedded key.
            Err(e) => {
                tracing::error!(error = %e, "development client key is invalid");
                Map::new()
            }
        };
        jwk.insert("kid".to_owned(), json!(self.kid()));
        jwk.insert("use".to_owned(), json!("sig"));
        jwk.insert("alg".to_owned(), json!(self.alg()));
        if let (Some(der), Some(thumbprint)) =
            (self.certificate_pem().and_then(pem_body), self.x5t_s256())
        {
            jwk.insert("x5c".to_owned(), json!([STANDARD.encode(der)]));
            jwk.insert("x5t#S256".to_owned(), json!(thumbprint));
        }
        Value::Object(jwk)
    }

    /// A JWK Set with [`DevClientKey::public_jwk`] only: `{"keys": [jwk]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk()] })
    }

    /// Signs `claims` under `header` as a compact JWS. `alg` is set to the key's algorithm
    /// unless `header` has one already; the signature always uses the key's algorithm, so a
    /// header that names another one makes a token that must fail verification.
    pub fn sign_jwt(
        &self,
        header: &Map<String, Value>,
        claims: &Map<String, Value>,
    ) -> Result<String, DevKeyError> {
        let mut header = header.clone();
        header
            .entry("alg")
            .or_insert_with(|| Value::String(self.alg().to_owned()));
        let encode = |part: &Map<String, Value>| jwt::encode_part(part).map_err(DevKeyError);
        let signing_input = format!("{}.{}", encode(&header)?, encode(claims)?);
        let signature = self.sign_bytes(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The header a client puts on its assertions: `typ` = `JWT`, `kid`, and for the key
    /// with a certificate `x5t#S256` (what Microsoft Entra looks certificates up by).
    pub fn assertion_header(&self) -> Map<String, Value> {
        let mut header = Map::new();
        header.insert("typ".to_owned(), json!("JWT"));
        header.insert("alg".to_owned(), json!(self.alg()));
        header.insert("kid".to_owned(), json!(self.kid()));
        if let Some(thumbprint) = self.x5t_s256() {
            header.insert("x5t#S256".to_owned(), json!(thumbprint));
        }
        header
    }

    /// The claims of a `private_key_jwt` client assertion (RFC 7523 section 3): `iss` = `sub`
    /// = `client_id`, `aud` = `audience` (the token endpoint), `iat` and `nbf` = now, `exp` =
    /// now + 5 min, a random `jti`. Change them and sign with [`DevClientKey::sign_jwt`] to
    /// make a broken one.
    pub fn assertion_claims(client_id: &str, audience: &str) -> Map<String, Value> {
        let now = jwt::now();
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), json!(client_id));
        claims.insert("sub".to_owned(), json!(client_id));
        claims.insert("aud".to_owned(), json!(audience));
        claims.insert("iat".to_owned(), json!(now));
        claims.insert("nbf".to_owned(), json!(now));
        claims.insert("exp".to_owned(), json!(now + ASSERTION_LIFETIME));
        claims.insert("jti".to_owned(), json!(random_token()));
        claims
    }

    /// A fresh `private_key_jwt` client assertion: [`DevClientKey::assertion_claims`] signed
    /// under [`DevClientKey::assertion_header`].
    pub fn client_assertion(&self, client_id: &str, audience: &str) -> Result<String, DevKeyError> {
        self.sign_jwt(
            &self.assertion_header(),
            &DevClientKey::assertion_claims(client_id, audience),
        )
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, DevKeyError> {
        let err = |e: &dyn fmt::Display| DevKeyError(e.to_string());
        match self.which {
            Which::Rsa | Which::RsaOther => {
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(self.private_key_pem())
                    .map_err(|e| err(&e))?;
                let pkcs1 = key
                    .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                    .map_err(|e| err(&e))?;
                CoreRsaPrivateSigningKey::from_pem(
                    &pkcs1,
                    Some(JsonWebKeyId::new(self.kid().to_owned())),
                )
                .map_err(|e| err(&e))?
                .sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, message)
                .map_err(|e| err(&e))
            }
            Which::Ec => {
                let key = p256::ecdsa::SigningKey::from_pkcs8_pem(self.private_key_pem())
                    .map_err(|e| err(&e))?;
                let signature: p256::ecdsa::Signature = key.sign(message);
                // JWS wants the fixed-size `r || s` (RFC 7518 section 3.4), not DER.
                Ok(signature.to_bytes().to_vec())
            }
        }
    }

    /// `kty` and the public key's members.
    fn public_key_members(&self) -> Result<Map<String, Value>, String> {
        let b64 = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
        let mut jwk = Map::new();
        match self.which {
            Which::Rsa | Which::RsaOther => {
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(self.private_key_pem())
                    .map_err(|e| e.to_string())?;
                jwk.insert("kty".to_owned(), json!("RSA"));
                jwk.insert("n".to_owned(), b64(&key.n().to_bytes_be()));
                jwk.insert("e".to_owned(), b64(&key.e().to_bytes_be()));
            }
            Which::Ec => {
                let key = p256::ecdsa::SigningKey::from_pkcs8_pem(self.private_key_pem())
                    .map_err(|e| e.to_string())?;
                let point = key.verifying_key().to_sec1_point(false);
                let (x, y) = point
                    .x()
                    .zip(point.y())
                    .ok_or("the public point is not uncompressed")?;
                jwk.insert("kty".to_owned(), json!("EC"));
                jwk.insert("crv".to_owned(), json!("P-256"));
                jwk.insert("x".to_owned(), b64(x));
                jwk.insert("y".to_owned(), b64(y));
            }
        }
        Ok(jwk)
    }
}

impl fmt::Debug for DevClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key is public anyway, but a Debug of it would only be noise.
        f.debug_struct("DevClientKey")
            .field("kid", &self.kid())
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

/// The DER inside a PEM block.
pub(crate) fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).ok()
}
