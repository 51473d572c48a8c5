//! How the development provider behaves when it builds responses.
//!
//! Handlers take a snapshot of [`Behaviour`] per request and build every response from it,
//! never from hard-coded values. Today it only holds the honest defaults; security tests will
//! later add misbehaviour switches here (a bad signature, a wrong `iss`, an expired token, a
//! missing `at_hash`…) and a public way to set them, without reshaping the handlers.

use std::time::Duration;

/// Response-shaping settings, read under a lock and cloned once per request.
#[derive(Clone, Debug)]
pub(crate) struct Behaviour {
    /// How long an authorization code can be redeemed.
    pub(crate) code_lifetime: Duration,
    /// `expires_in` of access tokens and the lifetime (`exp - iat`) of ID tokens.
    pub(crate) token_lifetime: Duration,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            code_lifetime: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}
