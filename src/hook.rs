//! The after-login hook: the app's own say, once per login, before the session is stored.
//!
//! It sees the verified user (every claim, and the access token) and may admit them as they
//! are, admit them with claims of its own added (a subscription plan from the app's
//! database, Microsoft Entra groups resolved through Microsoft Graph when the token had too
//! many to carry), or refuse them with a reason the refusal page shows. If it fails, the
//! login fails: no session.
//!
//! ```
//! use tower_oidc_login::{AfterLogin, LoginInfo};
//!
//! async fn only_paying_customers(login: LoginInfo) -> Result<AfterLogin, tower_oidc_login::BoxError> {
//!     let plan = match login.claim_str("email") {
//!         Some(email) if email.ends_with("@example.com") => "enterprise",
//!         _ => return Ok(AfterLogin::Refuse("this app is for Example customers".into())),
//!     };
//!     let mut extra = serde_json::Map::new();
//!     extra.insert("plan".into(), plan.into());
//!     Ok(AfterLogin::AdmitWith(extra))
//! }
//! # let _ = only_paying_customers;
//! ```
//!
//! Install it with [`AuthLayerBuilder::after_login`](crate::AuthLayerBuilder::after_login).
//! The hook runs before the `allowed_*` rules of the configuration are checked, so claims it
//! adds (resolved groups) count for them.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

/// An error of the app's own code, as the hook returns it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The verified user of a login, as the after-login hook sees them.
#[derive(Clone)]
pub struct LoginInfo {
    pub(crate) provider: String,
    pub(crate) claims: Map<String, Value>,
    pub(crate) access_token: String,
}

impl LoginInfo {
    /// The provider the user logged in with (`default` for the unnamed one).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Every claim of the verified ID token.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// One claim as a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name)?.as_str()
    }

    /// The access token the provider issued with this login, for calling its APIs (such as
    /// Microsoft Graph, to resolve an Entra groups overage).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Whether the token left the user's groups out because there are too many (Microsoft
    /// Entra ID, over 200 groups; it names them in `_claim_names` instead).
    pub fn has_groups_overage(&self) -> bool {
        crate::access::has_groups_overage(&self.claims)
    }
}

impl std::fmt::Debug for LoginInfo {
    // Claims are personal data and the access token a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInfo")
            .field("provider", &self.provider)
            .field("sub", &self.claims.get("sub"))
            .finish_non_exhaustive()
    }
}

/// What the after-login hook decided.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AfterLogin {
    /// Let the user in as the provider described them.
    Admit,
    /// Let the user in with these claims added (replacing claims of the same name); handlers
    /// see them in [`User::claims`](crate::User::claims) like the provider's.
    AdmitWith(Map<String, Value>),
    /// Keep the user out; the refusal page shows the reason (HTML-escaped).
    Refuse(String),
}

/// The future of an after-login hook.
pub type HookFuture = Pin<Box<dyn Future<Output = Result<AfterLogin, BoxError>> + Send>>;

/// An after-login hook; any `Fn(LoginInfo) -> impl Future<Output = Result<AfterLogin,
/// BoxError>>` is one.
pub trait AfterLoginHook: Send + Sync + 'static {
    /// Decides about one login.
    fn after_login(&self, login: LoginInfo) -> HookFuture;
}

impl<F, Fut> AfterLoginHook for F
where
    F: Fn(LoginInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AfterLogin, BoxError>> + Send + 'static,
{
    fn after_login(&self, login: LoginInfo) -> HookFuture {
        Box::pin(self(login))
    }
}
