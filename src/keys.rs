//! Keys derived from `cookie_secret`.
//!
//! Streamlit users write short secrets (its docs show a few words). HKDF-SHA256 stretches
//! whatever they wrote into a full-length key per purpose, so the cookie-signing key is
//! never the raw secret and one purpose's key says nothing about another's.

use cookie::Key;
use hkdf::Hkdf;
use sha2::Sha256;

/// Versioned so a future change of derivation cannot collide with today's keys.
const SALT: &[u8] = b"tower-oidc-login/v1";

/// The keys the layer uses, one per purpose.
#[derive(Clone)]
pub(crate) struct Keys {
    /// Signs the session, login-binding and logout cookies (HMAC-SHA256 via `cookie`).
    pub(crate) cookies: Key,
}

impl Keys {
    pub(crate) fn derive(cookie_secret: &str) -> Keys {
        let hk = Hkdf::<Sha256>::new(Some(SALT), cookie_secret.as_bytes());
        let mut cookie_key = [0u8; 64];
        // 64 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expand cannot fail;
        // fall back to a key that matches no cookie rather than panic if it ever did.
        if hk.expand(b"cookie signing", &mut cookie_key).is_err() {
            return Keys {
                cookies: Key::generate(),
            };
        }
        Keys {
            cookies: Key::from(&cookie_key),
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secret_yields_full_length_distinct_keys() {
        let a = Keys::derive("xyz");
        let b = Keys::derive("xyz");
        let c = Keys::derive("xyz2");
        assert_eq!(a.cookies.signing().len(), 32);
        assert_eq!(a.cookies.master(), b.cookies.master());
        assert_ne!(a.cookies.master(), c.cookies.master());
        assert!(!a.cookies.master().windows(3).any(|w| w == b"xyz"));
    }
}
