//! The visitor, logged in or not: what `st.user` is in Streamlit.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ExposeTokens;

/// What the session record holds about a logged-in user.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredUser {
    pub(crate) provider: String,
    pub(crate) claims: Map<String, Value>,
    /// Kept server-side for the logout's `id_token_hint`; shown to handlers only when
    /// `expose_tokens` names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id_token: Option<String>,
    /// Stored only when `expose_tokens` names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_token: Option<String>,
}

impl std::fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUser")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// The current visitor, carried in the extensions of every request that passes through
/// [`AuthLayer`](crate::AuthLayer): anonymous, or logged in with a provider and every
/// claim of its ID token. Cheap to clone.
///
/// In axum, take it as an extractor (`user: User`, never rejects) or use
/// [`CurrentUser`](crate::CurrentUser) to require a login. In plain hyper or tower code,
/// read it with `request.extensions().get::<User>()`.
///
/// ```
/// use tower_oidc_login::User;
///
/// fn greeting(user: &User) -> String {
///     match user.name() {
///         Some(name) if user.is_logged_in() => format!("Hello, {name}"),
///         _ => "Hello, stranger".to_owned(),
///     }
/// }
/// assert_eq!(greeting(&User::anonymous()), "Hello, stranger");
/// ```
#[derive(Clone, Default)]
pub struct User {
    inner: Option<Arc<LoggedIn>>,
}

struct LoggedIn {
    provider: String,
    claims: Map<String, Value>,
    id_token: Option<String>,
    access_token: Option<String>,
}

/// The raw tokens a handler may read, as allowed by `expose_tokens` (Streamlit's
/// `st.user.tokens`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens<'a> {
    /// The ID token (JWT), when `expose_tokens` includes `"id"`.
    pub id: Option<&'a str>,
    /// The access token, when `expose_tokens` includes `"access"`.
    pub access: Option<&'a str>,
}

impl User {
    /// A visitor who is not logged in.
    pub fn anonymous() -> Self {
        User { inner: None }
    }

    pub(crate) fn from_stored(stored: StoredUser, expose: ExposeTokens) -> Self {
        User {
            inner: Some(Arc::new(LoggedIn {
                provider: stored.provider,
                claims: stored.claims,
                id_token: stored.id_token.filter(|_| expose.id),
                access_token: stored.access_token.filter(|_| expose.access),
            })),
        }
    }

    /// Whether the visitor is logged in (`st.user.is_logged_in`).
    pub fn is_logged_in(&self) -> bool {
        self.inner.is_some()
    }

    /// The provider name the user logged in with (`default` for the unnamed one).
    pub fn provider(&self) -> Option<&str> {
        self.inner.as_deref().map(|u| u.provider.as_str())
    }

    /// Every ID-token claim, or `None` when anonymous.
    pub fn claims(&self) -> Option<&Map<String, Value>> {
        self.inner.as_deref().map(|u| &u.claims)
    }

    /// One claim as raw JSON.
    pub fn claim_value(&self, name: &str) -> Option<&Value> {
        self.claims()?.get(name)
    }

    /// One claim, deserialized into `T`; `None` when absent or of another shape.
    ///
    /// ```
    /// # use tower_oidc_login::User;
    /// # let user = User::anonymous();
    /// let tenant: Option<String> = user.claim("tid");
    /// let roles: Vec<String> = user.claim("roles").unwrap_or_default();
    /// # assert!(tenant.is_none() && roles.is_empty());
    /// ```
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        T::deserialize(self.claim_value(name)?).ok()
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.claim_value(name)?.as_str()
    }

    /// `sub`: the provider's stable identifier for the user.
    pub fn sub(&self) -> Option<&str> {
        self.str_claim("sub")
    }

    /// `name`.
    pub fn name(&self) -> Option<&str> {
        self.str_claim("name")
    }

    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.str_claim("email")
    }

    /// `preferred_username` (Microsoft Entra ID puts the sign-in name here).
    pub fn preferred_username(&self) -> Option<&str> {
        self.str_claim("preferred_username")
    }

    /// `iss`: the issuer that vouched for the user.
    pub fn issuer(&self) -> Option<&str> {
        self.str_claim("iss")
    }

    /// `groups`, when the provider sends them (Entra ID sends object ids unless
    /// configured otherwise). Empty when absent.
    pub fn groups(&self) -> Vec<&str> {
        self.claim_value("groups")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The raw tokens that `expose_tokens` allows handlers to see.
    pub fn tokens(&self) -> Tokens<'_> {
        match self.inner.as_deref() {
            Some(u) => Tokens {
                id: u.id_token.as_deref(),
                access: u.access_token.as_deref(),
            },
            None => Tokens::default(),
        }
    }

    /// The same JSON as Streamlit's `st.user.to_dict()`: `{"is_logged_in": false}` when
    /// anonymous, else `{"is_logged_in": true, "provider": …}` plus every claim.
    ///
    /// ```
    /// # use tower_oidc_login::User;
    /// assert_eq!(User::anonymous().to_json(), serde_json::json!({"is_logged_in": false}));
    /// ```
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(u) = self.inner.as_deref() {
            out.extend(u.claims.iter().map(|(k, v)| (k.clone(), v.clone())));
            out.insert("provider".into(), Value::String(u.provider.clone()));
        }
        out.insert("is_logged_in".into(), Value::Bool(self.is_logged_in()));
        Value::Object(out)
    }
}

impl Serialize for User {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl std::fmt::Debug for User {
    // Claims are personal data and tokens are secrets: Debug names only who it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.as_deref() {
            None => f.write_str("User(anonymous)"),
            Some(u) => f
                .debug_struct("User")
                .field("provider", &u.provider)
                .field("sub", &u.claims.get("sub"))
                .finish_non_exhaustive(),
        }
    }
}
