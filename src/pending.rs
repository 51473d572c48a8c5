//! A login in progress: what the callback needs to finish it.
//!
//! Kept server-side (in the session store) under a hash of its `state`, consumed by the
//! first callback that names it, and bound to the browser that started it through the
//! signed login cookie, so a callback replayed, forged or opened in another browser
//! (login CSRF) finds nothing to finish.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a visitor may spend at the provider before the login expires.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    pub(crate) provider: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    pub(crate) return_to: String,
    /// SHA-256 of the browser's login-binding cookie value, hex.
    pub(crate) browser: String,
    /// Unix seconds; the store's own expiry is the first line, this the second.
    pub(crate) created: i64,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// Hash of a browser-binding value: the store never holds the cookie value itself.
pub(crate) fn browser_tag(binding: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"tower-oidc-login browser\0")
        .chain_update(binding.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
