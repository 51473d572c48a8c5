//! Keys derived from `cookie_secret`.
//!
//! Streamlit users write short secrets (its docs show a few words). HKDF-SHA256 stretches
//! whatever they wrote into a full-length key per purpose, so the cookie-signing key is
//! never the raw secret and one purpose's key says nothing about another's.
//!
//! `cookie_secret` may be a list, to rotate it without logging everyone out: the first
//! secret's keys sign and encrypt, every secret's keys verify and decrypt.

use cookie::Key;
use hkdf::Hkdf;
use sha2::Sha256;

/// Versioned so a future change of derivation cannot collide with today's keys.
const SALT: &[u8] = b"tower-oidc-login/v1";

/// The keys of one secret, one per purpose: a value signed for one cookie never verifies
/// as another (the `cookie` crate's signature covers the value only, not the name).
#[derive(Clone)]
pub(crate) struct Keys {
    /// Signs the session cookie (the session id).
    pub(crate) session_cookie: Key,
    /// Encrypts and authenticates a pending login's cookie (AES-256-GCM).
    pub(crate) pending_cookie: Key,
    /// Signs the logout cookie (the state sent to the provider's end-session endpoint).
    pub(crate) logout_cookie: Key,
    /// Encrypts a session's provider tokens in the session store (AES-256-GCM).
    pub(crate) session_tokens: [u8; 32],
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
        let mut session_tokens = [0u8; 32];
        // 32 bytes: as above, expand cannot fail; were it to, a random key opens nothing.
        if hk.expand(b"session tokens", &mut session_tokens).is_err() {
            session_tokens = rand::random();
        }
        Keys {
            session_cookie: key(b"session cookie"),
            pending_cookie: key(b"pending login cookie"),
            logout_cookie: key(b"logout cookie"),
            session_tokens,
        }
    }
}

/// The keys of every configured secret, the current one first.
#[derive(Clone)]
pub(crate) struct KeyRing {
    current: Keys,
    previous: Vec<Keys>,
}

impl KeyRing {
    /// Keys for `secrets`, the first being the current one. An empty list cannot come out
    /// of a validated configuration; it would yield keys nobody knows (every cookie reads
    /// as anonymous), never a panic.
    pub(crate) fn derive<'a>(secrets: impl IntoIterator<Item = &'a str>) -> KeyRing {
        let mut keys = secrets.into_iter().map(Keys::derive);
        let current = keys
            .next()
            .unwrap_or_else(|| Keys::derive(&random_secret()));
        KeyRing {
            current,
            previous: keys.collect(),
        }
    }

    /// The keys new cookies are made with.
    pub(crate) fn current(&self) -> &Keys {
        &self.current
    }

    /// Every secret's keys, the current one first: what an incoming cookie is checked with.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Keys> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyRing({} secrets, [redacted])",
            1 + self.previous.len()
        )
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
        assert_ne!(a.session_cookie.master(), a.pending_cookie.master());
        assert_ne!(a.pending_cookie.master(), a.logout_cookie.master());
        assert!(!a.session_cookie.master().windows(3).any(|w| w == b"xyz"));
    }

    #[test]
    fn the_first_secret_is_current_and_all_verify() {
        let ring = KeyRing::derive(["new", "old"]);
        assert_eq!(
            ring.current().session_cookie.master(),
            Keys::derive("new").session_cookie.master()
        );
        let masters: Vec<_> = ring
            .all()
            .map(|k| k.session_cookie.master().to_vec())
            .collect();
        assert_eq!(masters.len(), 2);
        assert_eq!(masters[1], Keys::derive("old").session_cookie.master());
        // No secret at all: keys nobody knows, not a panic.
        assert_eq!(KeyRing::derive([]).all().count(), 1);
    }
}
