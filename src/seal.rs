//! Sealing a session's provider tokens before they go to the session store: AES-256-GCM
//! under a key derived from `cookie_secret`, so a leaked store (a Redis dump, a copied
//! SQLite file) hands out no refresh or access token.
//!
//! A sealed value is base64url(nonce ‖ ciphertext ‖ tag) with a fresh random 96-bit nonce,
//! and `aad` (what the value belongs to) is authenticated with it. Opening tries every key
//! of the ring, so tokens sealed before a `cookie_secret` rotation still open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::keys::KeyRing;
use crate::user::{ProviderTokens, StoredUser};

const NONCE_LEN: usize = 12;

/// `tokens` sealed for `user` (bound to its provider and `sub`: a sealed value copied into
/// another user's record does not open there).
pub(crate) fn seal_tokens(
    keys: &KeyRing,
    user: &StoredUser,
    tokens: &ProviderTokens,
) -> Option<String> {
    let json = serde_json::to_vec(tokens).ok()?;
    seal(keys, &user.token_binding(), &json)
}

/// The tokens sealed in `user`'s record, if there are any and they open.
pub(crate) fn open_tokens(keys: &KeyRing, user: &StoredUser) -> Option<ProviderTokens> {
    let sealed = user.sealed_tokens.as_deref()?;
    let json = open(keys, &user.token_binding(), sealed);
    match json.and_then(|json| serde_json::from_slice(&json).ok()) {
        Some(tokens) => Some(tokens),
        None => {
            tracing::warn!(
                provider = %user.provider,
                "a session's provider tokens do not open (was cookie_secret changed without \
                 keeping the old one in the list?); the session goes on without them"
            );
            None
        }
    }
}

/// Seals `plaintext` for `aad` with the ring's current key.
pub(crate) fn seal(keys: &KeyRing, aad: &[u8], plaintext: &[u8]) -> Option<String> {
    let cipher = Aes256Gcm::new_from_slice(&keys.current().session_tokens).ok()?;
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce_bytes),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .ok()?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Some(URL_SAFE_NO_PAD.encode(out))
}

/// Opens a value [`seal`] made for `aad` with any key of the ring.
pub(crate) fn open(keys: &KeyRing, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    keys.all().find_map(|k| {
        let cipher = Aes256Gcm::new_from_slice(&k.session_tokens).ok()?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_with_the_key_and_for_their_owner() {
        let ring = KeyRing::derive(["secret"]);
        let sealed = seal(&ring, b"google\0u1", b"refresh-token-value").unwrap();
        assert!(!sealed.contains("refresh"));
        assert_eq!(
            open(&ring, b"google\0u1", &sealed).as_deref(),
            Some(&b"refresh-token-value"[..])
        );
        // Another owner, another secret, a changed byte: nothing.
        assert_eq!(open(&ring, b"google\0u2", &sealed), None);
        assert_eq!(
            open(&KeyRing::derive(["other"]), b"google\0u1", &sealed),
            None
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            open(&ring, b"google\0u1", &URL_SAFE_NO_PAD.encode(bytes)),
            None
        );
        // After a rotation the old seal still opens; new seals use the new key.
        let rotated = KeyRing::derive(["new", "secret"]);
        assert!(open(&rotated, b"google\0u1", &sealed).is_some());
        let fresh = seal(&rotated, b"a", b"x").unwrap();
        assert!(open(&ring, b"a", &fresh).is_none());
        // Two seals of the same text differ (fresh nonce).
        assert_ne!(seal(&ring, b"a", b"x"), seal(&ring, b"a", b"x"));
    }
}
