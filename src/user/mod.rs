//! The visitor, logged in or not: what `st.user` is in Streamlit.
//!
//! [`User`] is what handlers read. A session's user is kept in a compact form
//! ([`stored`]: the ID token's payload once, the provider's tokens sealed), parsed once
//! per session ([`logged_in`]); [`tokens`] holds the provider's tokens and the fresh
//! access token handlers ask for.

mod logged_in;
mod stored;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::ExposeTokens;

pub(crate) use self::logged_in::LoggedIn;
pub(crate) use self::stored::StoredUser;
pub(crate) use self::tokens::ProviderTokens;
pub use self::tokens::{AccessToken, TokenError};

/// A future of [`TokenSource::fresh_access_token`]: boxed, since it only runs when a handler
/// asks for a token (never on the layer's own request path).
pub(crate) type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + 'a>>;

/// Where a user's provider tokens come from: the layer, which holds the key that opens them
/// and knows how to refresh them.
pub(crate) trait TokenSource: Send + Sync {
    /// The provider tokens of `user`, opened.
    fn open(&self, user: &StoredUser) -> Option<ProviderTokens>;
    /// An access token with more than a minute to live (half its lifetime for a short-lived
    /// one), refreshing first when needed.
    fn fresh_access_token<'a>(&'a self, user: &'a Arc<LoggedIn>) -> TokenFuture<'a>;
}

/// What every [`User`] made by one layer shares: which tokens handlers may see, where the
/// login is, and the source of fresh tokens.
pub(crate) struct UserContext {
    pub(crate) expose: ExposeTokens,
    /// The layer's login route, for extractors and guards that send the visitor there.
    pub(crate) login_path: Arc<str>,
    pub(crate) source: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("expose", &self.expose)
            .field("login_path", &self.login_path)
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
    /// `None` for a value no layer made ([`User::anonymous`]).
    context: Option<Arc<UserContext>>,
}

/// The raw tokens a handler may read, as allowed by `expose_tokens` (Streamlit's
/// `st.user.tokens`). `Debug` says which tokens are there, never what they are.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens<'a> {
    /// The ID token (JWT), when `expose_tokens` includes `"id"`.
    pub id: Option<&'a str>,
    /// The access token, when `expose_tokens` includes `"access"`.
    pub access: Option<&'a str>,
}

impl std::fmt::Debug for Tokens<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |token: Option<&str>| token.map(|_| "[redacted]");
        f.debug_struct("Tokens")
            .field("id", &shown(self.id))
            .field("access", &shown(self.access))
            .finish()
    }
}

impl User {
    /// A visitor who is not logged in.
    pub fn anonymous() -> Self {
        User::default()
    }

    /// The visitor as the layer hands it to the wrapped service.
    pub(crate) fn new(inner: Option<Arc<LoggedIn>>, context: Arc<UserContext>) -> Self {
        User {
            inner,
            context: Some(context),
        }
    }

    /// The layer's login route; `None` when no layer made this value.
    pub(crate) fn login_path(&self) -> Option<&str> {
        self.context.as_deref().map(|c| &*c.login_path)
    }

    /// Whether the visitor is logged in (`st.user.is_logged_in`).
    pub fn is_logged_in(&self) -> bool {
        self.inner.is_some()
    }

    /// The provider name the user logged in with (`default` for the unnamed one).
    pub fn provider(&self) -> Option<&str> {
        self.inner.as_deref().map(|u| &*u.stored().provider)
    }

    /// Every ID-token claim, or `None` when anonymous.
    pub fn claims(&self) -> Option<&Map<String, Value>> {
        self.inner.as_deref().map(LoggedIn::claims)
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

    /// `roles`, when the provider sends them (Microsoft Entra ID: the app roles assigned to
    /// the user). Empty when absent.
    pub fn roles(&self) -> Vec<&str> {
        match self.claim_value("roles") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            _ => Vec::new(),
        }
    }

    /// Whether the user has the role `role` (exact).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().contains(&role)
    }

    /// Whether the user is in the group `group` (exact; Entra ID sends group object ids).
    pub fn in_group(&self, group: &str) -> bool {
        self.groups().contains(&group)
    }

    /// The raw tokens that `expose_tokens` allows handlers to see, as the session holds
    /// them now (after the latest refresh this request saw). The access token may have
    /// expired: to call an API, ask for a fresh one with [`User::access_token`].
    pub fn tokens(&self) -> Tokens<'_> {
        let (Some(u), Some(context)) = (self.inner.as_deref(), self.context.as_deref()) else {
            return Tokens::default();
        };
        Tokens {
            id: context.expose.id.then(|| u.id_token()),
            access: match context.expose.access {
                true => u
                    .provider_tokens(|stored| context.source.open(stored))
                    .map(|t| t.access_token.as_str()),
                false => None,
            },
        }
    }

    /// An access token with more than a minute left (more than half its lifetime, for a
    /// provider whose tokens live under two minutes), for calling the provider's (or your
    /// own) APIs on the user's behalf: the session's current one, or a new one from a
    /// refresh. Concurrent calls for one session make one refresh request; a rotated
    /// refresh token is saved before this returns.
    ///
    /// Needs `expose_tokens` to include `"access"`. A refresh needs a refresh token (ask
    /// the provider for one: the `offline_access` scope for Microsoft Entra ID, Okta,
    /// Keycloak, Auth0; `access_type = "offline"` for Google).
    ///
    /// With axum, [`TokenError`] is a response: 401 (log in again) or 503 (try later).
    ///
    /// ```no_run
    /// # async fn handler(user: tower_oidc_login::User) -> Result<String, tower_oidc_login::TokenError> {
    /// let token = user.access_token().await?;
    /// let header = format!("Bearer {}", token.secret());
    /// # Ok(header) }
    /// ```
    pub async fn access_token(&self) -> Result<AccessToken, TokenError> {
        let (Some(user), Some(context)) = (self.inner.as_ref(), self.context.as_deref()) else {
            return Err(TokenError::NotLoggedIn);
        };
        if !context.expose.access {
            return Err(TokenError::NotExposed);
        }
        context.source.fresh_access_token(user).await
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
            out.extend(u.claims().iter().map(|(k, v)| (k.clone(), v.clone())));
            out.insert(
                "provider".into(),
                Value::String(u.stored().provider.to_string()),
            );
        }
        out.insert("is_logged_in".into(), Value::Bool(self.is_logged_in()));
        Value::Object(out)
    }
}

impl Serialize for User {
    // The same object as `to_json`, written straight from the session's claims: no copy.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(u) = self.inner.as_deref() else {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry("is_logged_in", &false)?;
            return map.end();
        };
        let claims = u.claims();
        let shadowed = ["provider", "is_logged_in"]
            .iter()
            .filter(|k| claims.contains_key(**k))
            .count();
        let mut map = serializer.serialize_map(Some(claims.len() + 2 - shadowed))?;
        for (name, value) in claims {
            if name != "provider" && name != "is_logged_in" {
                map.serialize_entry(name, value)?;
            }
        }
        map.serialize_entry("provider", &*u.stored().provider)?;
        map.serialize_entry("is_logged_in", &true)?;
        map.end()
    }
}

impl std::fmt::Debug for User {
    // Claims are personal data and tokens are secrets: Debug names only who it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.as_deref() {
            None => f.write_str("User(anonymous)"),
            Some(u) => f
                .debug_struct("User")
                .field("provider", &u.stored().provider)
                .field("sub", &u.claims().get("sub"))
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use tower_sessions_core::session::Id;

    fn jwt(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// Tokens kept in the clear, as a source for these tests.
    struct Plain(Option<ProviderTokens>);

    impl TokenSource for Plain {
        fn open(&self, _: &StoredUser) -> Option<ProviderTokens> {
            self.0.clone()
        }
        fn fresh_access_token<'a>(&'a self, _: &'a Arc<LoggedIn>) -> TokenFuture<'a> {
            let token = self.0.clone();
            Box::pin(async move {
                token
                    .map(|t| AccessToken::new(t.access_token, t.access_expires_at))
                    .ok_or(TokenError::Expired)
            })
        }
    }

    fn context(expose: ExposeTokens) -> Arc<UserContext> {
        Arc::new(UserContext {
            expose,
            login_path: Arc::from("/auth/login"),
            source: Arc::new(Plain(Some(ProviderTokens {
                access_token: "at".into(),
                access_expires_at: Some(4_000_000_000),
                refresh_token: Some("rt".into()),
                access_lifetime: None,
            }))),
        })
    }

    #[test]
    fn tokens_are_shown_only_as_expose_tokens_allows() {
        let token = jwt(r#"{"alg":"RS256"}"#, r#"{"sub":"u1","name":"N"}"#, b"sig");
        let stored = Arc::new(StoredUser::new("p", &token).unwrap());
        let parsed = LoggedIn::decode(stored, Id::default(), 0).unwrap();
        let hidden = User::new(Some(parsed.clone()), context(ExposeTokens::default()));
        assert_eq!(hidden.tokens(), Tokens::default());
        assert_eq!(hidden.name(), Some("N"));
        let shown = User::new(
            Some(parsed),
            context(ExposeTokens {
                id: true,
                access: true,
            }),
        );
        assert_eq!(shown.tokens().id, Some(token.as_str()));
        assert_eq!(shown.tokens().access, Some("at"));
        // Debug names the tokens, never their values.
        let debug = format!("{:?}", shown.tokens());
        assert!(
            !debug.contains("at\"") && !debug.contains(&token),
            "{debug}"
        );
        assert!(debug.contains("[redacted]"), "{debug}");
        assert_eq!(shown.to_json()["provider"], "p");
    }

    #[tokio::test]
    async fn a_fresh_access_token_needs_a_login_and_expose_tokens() {
        let token = jwt(r#"{"alg":"RS256"}"#, r#"{"sub":"u1"}"#, b"sig");
        let parsed = LoggedIn::decode(
            Arc::new(StoredUser::new("p", &token).unwrap()),
            Id::default(),
            0,
        )
        .unwrap();
        assert_eq!(
            User::anonymous().access_token().await,
            Err(TokenError::NotLoggedIn)
        );
        let hidden = User::new(Some(parsed.clone()), context(ExposeTokens::default()));
        assert_eq!(hidden.access_token().await, Err(TokenError::NotExposed));
        let exposed = ExposeTokens {
            id: false,
            access: true,
        };
        let anonymous = User::new(None, context(exposed));
        assert_eq!(anonymous.access_token().await, Err(TokenError::NotLoggedIn));
        let shown = User::new(Some(parsed), context(exposed));
        let fresh = shown.access_token().await.unwrap();
        assert_eq!(fresh.secret(), "at");
        assert_eq!(fresh.expires_at_unix(), Some(4_000_000_000));
        assert!(!format!("{fresh:?}").contains("\"at\""));
    }

    #[test]
    fn serialized_user_is_to_json() {
        let token = jwt(
            r#"{"alg":"RS256"}"#,
            r#"{"sub":"u1","name":"N","provider":"spoofed","groups":["a"]}"#,
            b"sig",
        );
        let parsed = LoggedIn::decode(
            Arc::new(StoredUser::new("p", &token).unwrap()),
            Id::default(),
            0,
        )
        .unwrap();
        let user = User::new(Some(parsed), context(ExposeTokens::default()));
        let streamed: Value = serde_json::from_str(&serde_json::to_string(&user).unwrap()).unwrap();
        assert_eq!(streamed, user.to_json());
        assert_eq!(streamed["provider"], "p");
        assert_eq!(
            serde_json::to_value(User::anonymous()).unwrap(),
            User::anonymous().to_json()
        );
    }
}
