//! The development provider's RSA signing keys.
//!
//! Both keys are embedded in the crate and published in its source, so they protect nothing:
//! they exist only so that a development provider can sign ID tokens without generating a key
//! (which would make start-up slow in debug builds) and without touching the file system.

use std::io;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::CoreRsaPrivateSigningKey;
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::Value;

/// The two embedded keys; rotation alternates between them.
const PEMS: [&str; 2] = [include_str!("dev_key_1.pem"), include_str!("dev_key_2.pem")];

/// The key currently used for signing, the other embedded key, and how to rotate.
pub(crate) struct SigningKeys {
    key: CoreRsaPrivateSigningKey,
    kid: String,
    /// The embedded key that is not signing now: published as a second key by
    /// [`Misbehaviour::NoKeyIdSeveralKeys`](super::Misbehaviour::NoKeyIdSeveralKeys), and the
    /// "attacker's" key of the `ForeignKeyIn*` misbehaviours.
    other: CoreRsaPrivateSigningKey,
    /// Increments on every rotation so each rotation publishes a `kid` never seen before,
    /// even when the underlying key material is reused.
    generation: u32,
}

impl SigningKeys {
    /// Parses both embedded keys up front so that a broken key is a start-up error, never a
    /// failure at rotation or signing time.
    pub(crate) fn load() -> io::Result<SigningKeys> {
        let kid = kid_for(0);
        Ok(SigningKeys {
            key: parse(PEMS[0], &kid)?,
            kid,
            other: parse(PEMS[1], SPARE_KID)?,
            generation: 0,
        })
    }

    /// The key that signs ID tokens right now.
    pub(crate) fn signing_key(&self) -> &CoreRsaPrivateSigningKey {
        &self.key
    }

    /// The `kid` of [`SigningKeys::signing_key`].
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The embedded key that is not signing now.
    pub(crate) fn other_key(&self) -> &CoreRsaPrivateSigningKey {
        &self.other
    }

    /// The current key as a public JWK: the whole key set, normally, so a client still
    /// holding tokens signed by the previous key sees a `kid` it can no longer find (what a
    /// real rotation looks like once the old key is retired).
    pub(crate) fn public_jwk(&self) -> Value {
        jwk(&self.key, None)
    }

    /// The other key as a public JWK under `kid`.
    pub(crate) fn other_public_jwk(&self, kid: &str) -> Value {
        jwk(&self.other, Some(kid))
    }

    /// The current key's public key as PEM text (`-----BEGIN PUBLIC KEY-----`, a DER
    /// SubjectPublicKeyInfo), as a verifier might hold it.
    pub(crate) fn public_key_pem(&self) -> Option<String> {
        let (n, e) = modulus_and_exponent(&self.key)?;
        let der = der::subject_public_key_info(&n, &e);
        let b64 = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).ok()?);
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Some(pem)
    }

    /// The current key's RSA modulus, big-endian.
    pub(crate) fn public_modulus(&self) -> Option<Vec<u8>> {
        modulus_and_exponent(&self.key).map(|(n, _)| n)
    }

    /// Switches to the other embedded key under a new `kid`; the key that signed until now
    /// becomes the other key.
    pub(crate) fn rotate(&mut self) {
        let generation = self.generation.wrapping_add(1);
        let kid = kid_for(generation);
        let pem = PEMS[(generation % 2) as usize];
        let previous = PEMS[((generation + 1) % 2) as usize];
        match (parse(pem, &kid), parse(previous, SPARE_KID)) {
            (Ok(key), Ok(other)) => {
                self.key = key;
                self.other = other;
                self.kid = kid;
                self.generation = generation;
            }
            // Unreachable in practice: `load` already parsed both keys.
            _ => tracing::error!("development provider: key rotation failed"),
        }
    }
}

/// The `kid` the other key is published under when it is published next to the signing key.
pub(crate) const SPARE_KID: &str = "tower-oidc-login-dev-spare";

fn kid_for(generation: u32) -> String {
    format!("tower-oidc-login-dev-{}", u64::from(generation) + 1)
}

fn parse(pem: &str, kid: &str) -> io::Result<CoreRsaPrivateSigningKey> {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_owned()))).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("embedded development signing key is invalid: {e}"),
        )
    })
}

/// A public JWK as JSON, its `kid` replaced when one is given.
fn jwk(key: &CoreRsaPrivateSigningKey, kid: Option<&str>) -> Value {
    let mut value = serde_json::to_value(key.as_verification_key()).unwrap_or(Value::Null);
    if let (Some(kid), Value::Object(map)) = (kid, &mut value) {
        map.insert("kid".to_owned(), Value::String(kid.to_owned()));
    }
    value
}

/// `n` and `e`, decoded from the public JWK.
fn modulus_and_exponent(key: &CoreRsaPrivateSigningKey) -> Option<(Vec<u8>, Vec<u8>)> {
    let public = jwk(key, None);
    let field = |name: &str| {
        public
            .get(name)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
    };
    Some((field("n")?, field("e")?))
}

/// Just enough DER to write an RSA SubjectPublicKeyInfo (RFC 5280, RFC 8017 appendix A.1.1).
mod der {
    /// `SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { SEQUENCE { n, e } } }`.
    pub(super) fn subject_public_key_info(n: &[u8], e: &[u8]) -> Vec<u8> {
        const RSA_ENCRYPTION: [u8; 11] = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ];
        let algorithm = tlv(0x30, &[&RSA_ENCRYPTION[..], &[0x05, 0x00]].concat());
        let rsa_key = tlv(0x30, &[integer(n), integer(e)].concat());
        let bit_string = tlv(0x03, &[&[0x00][..], &rsa_key].concat());
        tlv(0x30, &[algorithm, bit_string].concat())
    }

    /// A positive INTEGER: leading zeros dropped, one added when the high bit is set.
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut content = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            content.push(0);
        }
        content.extend_from_slice(&trimmed);
        tlv(0x02, &content)
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(content);
        out
    }
}
