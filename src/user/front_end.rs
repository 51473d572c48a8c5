//! A user whom a front end logged in (trusted identity headers): the claims it vouched for,
//! with no session and no tokens of ours.

use serde_json::{Map, Value};

/// A user made from a front end's identity headers, for one request.
#[derive(PartialEq)]
pub(crate) struct FrontEndUser {
    provider: Box<str>,
    claims: Map<String, Value>,
}

impl FrontEndUser {
    /// `claims` as a front end vouched for them, under the names an ID token uses, and
    /// `provider`, the name [`User::provider`](crate::User::provider) reports.
    pub(crate) fn new(provider: impl Into<Box<str>>, claims: Map<String, Value>) -> Self {
        FrontEndUser {
            provider: provider.into(),
            claims,
        }
    }

    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    pub(crate) fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

impl std::fmt::Debug for FrontEndUser {
    // Claims are personal data: name only the provider and the subject.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEndUser")
            .field("provider", &self.provider)
            .field("sub", &self.claims.get("sub"))
            .finish_non_exhaustive()
    }
}

/// A front end's login page: where an anonymous browser is sent, with the query parameter
/// that names the page to come back to (Easy Auth: `/.auth/login/aad` and
/// `post_login_redirect_uri`; oauth2-proxy: `/oauth2/start` and `rd`).
#[derive(Debug, Clone)]
pub(crate) struct FrontEndLogin {
    path: Box<str>,
    return_param: Box<str>,
}

impl FrontEndLogin {
    /// A login page at `path` (validated by the caller: starts with one `/`) taking the
    /// return path in `return_param`.
    pub(crate) fn new(path: &str, return_param: &str) -> Self {
        FrontEndLogin {
            path: path.into(),
            return_param: return_param.into(),
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn return_param(&self) -> &str {
        &self.return_param
    }
}
