//! The visitor, logged in or not: what `st.user` is in Streamlit.
//!
//! [`User`] is what handlers read. A session's user is kept in a compact form
//! ([`stored`]: the ID token's payload once, the provider's tokens sealed), parsed once
//! per session ([`logged_in`]); [`tokens`] holds the provider's tokens and the fresh
//! access token handlers ask for.

mod front_end;
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

pub(crate) use self::front_end::{FrontEndLogin, FrontEndUser};
use self::logged_in::Common;
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

/// Names the [`User`] JSON uses for itself, which no claim may take.
pub(crate) const RESERVED_CLAIMS: [&str; 2] = ["provider", "is_logged_in"];

/// A source for users who hold no tokens of ours (those a front end logged in).
#[derive(Debug)]
pub(crate) struct NoTokens;

impl TokenSource for NoTokens {
    fn open(&self, _: &StoredUser) -> Option<ProviderTokens> {
        None
    }
    fn fresh_access_token<'a>(&'a self, _: &'a Arc<LoggedIn>) -> TokenFuture<'a> {
        Box::pin(std::future::ready(Err(TokenError::FrontEndLogin)))
    }
}

/// Who logs visitors in, for the [`User`]s of one layer: where extractors and guards send an
/// anonymous visitor.
#[derive(Debug, Clone)]
pub(crate) enum Login {
    /// [`AuthLayer`](crate::AuthLayer): its login route, which takes `return_to`.
    Layer(Arc<str>),
    /// A front end that sets trusted identity headers
    /// ([`TrustedHeadersLayer`](crate::headers::TrustedHeadersLayer)), with its login page
    /// when one is known.
    FrontEnd(Option<FrontEndLogin>),
}

/// What every [`User`] made by one layer shares: which tokens handlers may see, who logs
/// visitors in, and the source of fresh tokens.
pub(crate) struct UserContext {
    pub(crate) expose: ExposeTokens,
    /// Where extractors and guards send an anonymous visitor.
    pub(crate) login: Login,
    pub(crate) source: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("expose", &self.expose)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// A logged-in visitor: from a session of [`AuthLayer`](crate::AuthLayer), or from a
/// front end's identity headers.
#[derive(Clone)]
enum Who {
    Session(Arc<LoggedIn>),
    FrontEnd(Arc<FrontEndUser>),
}

impl Who {
    fn claims(&self) -> &Map<String, Value> {
        match self {
            Who::Session(u) => u.claims(),
            Who::FrontEnd(u) => u.claims(),
        }
    }

    fn provider(&self) -> &str {
        match self {
            Who::Session(u) => &u.stored().provider,
            Who::FrontEnd(u) => u.provider(),
        }
    }
}

/// The current visitor, carried in the extensions of every request that passes through
/// [`AuthLayer`](crate::AuthLayer): anonymous, or logged in with a provider and every
/// claim of its ID token. Cheap to clone.
///
/// Behind a front end that logs users in itself (App Service Easy Auth, oauth2-proxy),
/// [`TrustedHeadersLayer`](crate::headers::TrustedHeadersLayer) makes the same `User`
/// from the front end's identity headers: the claims are the front end's, mapped to the
/// names an ID token uses, and there are no tokens.
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
    inner: Option<Who>,
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
            inner: inner.map(Who::Session),
            context: Some(context),
        }
    }

    /// A visitor a front end logged in, as its identity headers describe them.
    pub(crate) fn from_front_end(user: FrontEndUser, context: Arc<UserContext>) -> Self {
        User {
            inner: Some(Who::FrontEnd(Arc::new(user))),
            context: Some(context),
        }
    }

    /// Whether a front end's identity headers made this value (logged in or not), rather
    /// than [`AuthLayer`](crate::AuthLayer).
    pub(crate) fn is_from_front_end(&self) -> bool {
        matches!(
            self.context.as_deref(),
            Some(UserContext {
                login: Login::FrontEnd(_),
                ..
            })
        )
    }

    /// Where to log in and come back to `return_to` (a path and query); `None` when no layer
    /// made this value or the front end's login page is not known.
    ///
    /// `return_to` is the request's own target, which anyone can make look like
    /// `//elsewhere.example`: only a same-origin path is passed on (else the home page),
    /// because a front end's login page may redirect to it unchecked.
    pub(crate) fn login_url(&self, return_to: &str) -> Option<String> {
        let (path, param) = match &self.context.as_deref()?.login {
            Login::Layer(path) => (&**path, "return_to"),
            Login::FrontEnd(page) => {
                let page = page.as_ref()?;
                (page.path(), page.return_param())
            }
        };
        let return_to = crate::redirect::safe_return_to(Some(return_to), self.home()?);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair(param, &return_to)
            .finish();
        Some(format!("{path}?{query}"))
    }

    /// The site's home: the path prefix of [`AuthLayer`](crate::AuthLayer)'s routes, `/`
    /// behind a front end; `None` when no layer made this value.
    pub(crate) fn home(&self) -> Option<&str> {
        match &self.context.as_deref()?.login {
            Login::Layer(path) => path.strip_suffix("auth/login"),
            Login::FrontEnd(_) => Some("/"),
        }
    }

    /// Whether the visitor is logged in (`st.user.is_logged_in`).
    pub fn is_logged_in(&self) -> bool {
        self.inner.is_some()
    }

    /// The provider name the user logged in with (`default` for the unnamed one).
    pub fn provider(&self) -> Option<&str> {
        self.inner.as_ref().map(Who::provider)
    }

    /// Every ID-token claim, or `None` when anonymous.
    pub fn claims(&self) -> Option<&Map<String, Value>> {
        self.inner.as_ref().map(Who::claims)
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

    fn common_claim(&self, which: Common) -> Option<&str> {
        match self.inner.as_ref()? {
            Who::Session(user) => user.common(which),
            Who::FrontEnd(_) => self.str_claim(which.claim()),
        }
    }

    /// `sub`: the provider's stable identifier for the user.
    pub fn sub(&self) -> Option<&str> {
        self.common_claim(Common::Sub)
    }

    /// `name`.
    pub fn name(&self) -> Option<&str> {
        self.common_claim(Common::Name)
    }

    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.common_claim(Common::Email)
    }

    /// `preferred_username` (Microsoft Entra ID puts the sign-in name here).
    pub fn preferred_username(&self) -> Option<&str> {
        self.common_claim(Common::PreferredUsername)
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
        let (Some(Who::Session(u)), Some(context)) = (self.inner.as_ref(), self.context.as_deref())
        else {
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
    /// A user a front end logged in ([`crate::headers`]) has no tokens here:
    /// [`TokenError::FrontEndLogin`].
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
        let (Some(who), Some(context)) = (self.inner.as_ref(), self.context.as_deref()) else {
            return Err(TokenError::NotLoggedIn);
        };
        let Who::Session(user) = who else {
            return Err(TokenError::FrontEndLogin);
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
        if let Some(u) = self.inner.as_ref() {
            out.extend(u.claims().iter().map(|(k, v)| (k.clone(), v.clone())));
            out.insert("provider".into(), Value::String(u.provider().to_owned()));
        }
        out.insert("is_logged_in".into(), Value::Bool(self.is_logged_in()));
        Value::Object(out)
    }
}

impl Serialize for User {
    // The same object as `to_json`, written straight from the session's claims: no copy.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(u) = self.inner.as_ref() else {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry("is_logged_in", &false)?;
            return map.end();
        };
        let claims = u.claims();
        let shadowed = RESERVED_CLAIMS
            .iter()
            .filter(|k| claims.contains_key(**k))
            .count();
        let mut map = serializer.serialize_map(Some(claims.len() + 2 - shadowed))?;
        for (name, value) in claims {
            if !RESERVED_CLAIMS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.serialize_entry("provider", u.provider())?;
        map.serialize_entry("is_logged_in", &true)?;
        map.end()
    }
}

impl std::fmt::Debug for User {
    // Claims are personal data and tokens are secrets: Debug names only who it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.as_ref() {
            None => f.write_str("User(anonymous)"),
            Some(u) => f
                .debug_struct("User")
                .field("provider", &u.provider())
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
            login: Login::Layer(Arc::from("/auth/login")),
            source: Arc::new(Plain(Some(ProviderTokens {
                access_token: "at".into(),
                access_expires_at: Some(4_000_000_000),
                refresh_token: Some("rt".into()),
                access_lifetime: None,
            }))),
        })
    }

    #[test]
    fn login_urls_pass_on_same_origin_paths_only() {
        let layer = User::new(None, context(ExposeTokens::default()));
        assert_eq!(
            layer.login_url("/reports?year=2026").as_deref(),
            Some("/auth/login?return_to=%2Freports%3Fyear%3D2026")
        );
        let front_end = Arc::new(UserContext {
            expose: ExposeTokens::default(),
            login: Login::FrontEnd(Some(FrontEndLogin::new(
                "/.auth/login/aad",
                "post_login_redirect_uri",
            ))),
            source: Arc::new(NoTokens),
        });
        let front_end = User {
            inner: None,
            context: Some(front_end),
        };
        for hostile in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
        ] {
            assert_eq!(
                layer.login_url(hostile).as_deref(),
                Some("/auth/login?return_to=%2F"),
                "{hostile}"
            );
            assert_eq!(
                front_end.login_url(hostile).as_deref(),
                Some("/.auth/login/aad?post_login_redirect_uri=%2F"),
                "{hostile}"
            );
        }
        assert_eq!(User::anonymous().login_url("/"), None);
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

    #[test]
    fn the_common_accessors_read_what_the_claims_say() {
        // `name` is a number in the ID token (not a string: no name), `email` is replaced by
        // an added claim, `preferred_username` only comes as an added claim.
        let token = jwt(
            r#"{"alg":"RS256"}"#,
            r#"{"sub":"u1","name":7,"email":"old@example.com"}"#,
            b"sig",
        );
        let added = serde_json::json!({"email": "new@example.com", "preferred_username": "pu"});
        let stored = StoredUser::new("p", &token)
            .unwrap()
            .with_extra_claims(added.as_object().unwrap().clone())
            .unwrap();
        let parsed = LoggedIn::decode(Arc::new(stored), Id::default(), 0).unwrap();
        let user = User::new(Some(parsed), context(ExposeTokens::default()));
        assert_eq!(user.sub(), Some("u1"));
        assert_eq!(user.name(), None);
        assert_eq!(user.email(), Some("new@example.com"));
        assert_eq!(user.preferred_username(), Some("pu"));
        for which in Common::ALL {
            assert_eq!(
                user.common_claim(which),
                user.str_claim(which.claim()),
                "{which:?}"
            );
        }
        assert_eq!(User::anonymous().name(), None);
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
