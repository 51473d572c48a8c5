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

/// The keys the layer uses, one per purpose: a value signed for one cookie never
/// verifies as another (the `cookie` crate's signature covers the value only, not the name).
#[derive(Clone)]
pub(crate) struct Keys {
    /// Signs the session cookie (the session id).
    pub(crate) session_cookie: Key,
    /// Signs the login-binding cookie (ties a pending login to its browser).
    pub(crate) login_cookie: Key,
    /// Signs the logout cookie (the state sent to the provider's end-session endpoint).
    pub(crate) logout_cookie: Key,
}

impl Keys {
    pub(crate) fn derive(cookie_secret: &str) -> Keys {
        let hk = Hkdf::<Sha256>::new(Some(SALT), cookie_secret.as_bytes());
        let key = |purpose: &[u8]| {
            let mut okm = [0u8; 64];
            // 64 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expand cannot
            // fail; were it ever to, a random key matches no cookie instead of panicking.
            match hk.expand(purpose, &mut okm) {
                Ok(()) => Key::from(&okm),
                Err(_) => Key::generate(),
            }
        };
        Keys {
            session_cookie: key(b"session cookie"),
            login_cookie: key(b"login cookie"),
            logout_cookie: key(b"logout cookie"),
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
        assert_eq!(a.session_cookie.signing().len(), 32);
        assert_eq!(a.session_cookie.master(), b.session_cookie.master());
        assert_ne!(a.session_cookie.master(), c.session_cookie.master());
        assert_ne!(a.session_cookie.master(), a.login_cookie.master());
        assert_ne!(a.login_cookie.master(), a.logout_cookie.master());
        assert!(!a.session_cookie.master().windows(3).any(|w| w == b"xyz"));
    }
}
