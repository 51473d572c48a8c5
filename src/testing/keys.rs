//! The development provider's RSA signing keys.
//!
//! Both keys are embedded in the crate and published in its source, so they protect nothing:
//! they exist only so that a development provider can sign ID tokens without generating a key
//! (which would make start-up slow in debug builds) and without touching the file system.

use std::io;

use openidconnect::core::{CoreJsonWebKeySet, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};

/// The two embedded keys; rotation alternates between them.
const PEMS: [&str; 2] = [include_str!("dev_key_1.pem"), include_str!("dev_key_2.pem")];

/// The key currently used for signing, and how to find the next one.
pub(crate) struct SigningKeys {
    key: CoreRsaPrivateSigningKey,
    kid: String,
    /// Increments on every rotation so each rotation publishes a `kid` never seen before,
    /// even when the underlying key material is reused.
    generation: u32,
}

impl SigningKeys {
    /// Parses both embedded keys up front so that a broken key is a start-up error, never a
    /// failure at rotation or signing time.
    pub(crate) fn load() -> io::Result<SigningKeys> {
        for pem in PEMS {
            parse(pem, "dev-check")?;
        }
        let kid = kid_for(0);
        Ok(SigningKeys {
            key: parse(PEMS[0], &kid)?,
            kid,
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

    /// The public key set: only the current key, so a client still holding tokens signed by
    /// the previous key sees a `kid` it can no longer find (what a real rotation looks like
    /// once the old key is retired).
    pub(crate) fn jwks(&self) -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(vec![self.key.as_verification_key()])
    }

    /// Switches to the other embedded key under a new `kid`.
    pub(crate) fn rotate(&mut self) {
        let generation = self.generation.wrapping_add(1);
        let kid = kid_for(generation);
        let pem = PEMS[(generation % 2) as usize];
        match parse(pem, &kid) {
            Ok(key) => {
                self.key = key;
                self.kid = kid;
                self.generation = generation;
            }
            // Unreachable in practice: `load` already parsed both keys.
            Err(e) => tracing::error!(error = %e, "development provider: key rotation failed"),
        }
    }
}

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
