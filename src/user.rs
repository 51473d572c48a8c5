//! The visitor, logged in or not: what `st.user` is in Streamlit.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ExposeTokens;

/// What a session holds about a logged-in user, kept compact because a store may hold
/// hundreds of thousands of them: the ID token's payload exactly as the provider signed it
/// (which is every claim, as JSON) and the token's other two parts, so the token itself
/// can be rebuilt byte for byte for the logout's `id_token_hint` without being kept twice.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredUser {
    pub(crate) provider: Box<str>,
    /// The ID token's payload: a JSON object with every claim.
    pub(crate) claims: Box<str>,
    pub(crate) id_token: TokenParts,
    /// Stored only when `expose_tokens` names it.
    pub(crate) access_token: Option<Box<str>>,
    /// Unix seconds of the login: what a provider's "every session before now has ended"
    /// (a back-channel logout by `sub`) is compared with.
    pub(crate) login_at: i64,
}

/// The ID token, minus the payload that [`StoredUser::claims`] already holds.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum TokenParts {
    /// The header segment and the raw signature; payload = base64url(claims).
    Split {
        header: Box<str>,
        signature: Box<[u8]>,
    },
    /// The whole token, for a token whose payload segment is not the canonical encoding
    /// of its bytes (it would not rebuild exactly).
    Whole(Box<str>),
}

impl StoredUser {
    /// Splits `id_token` so that its payload is stored once. `None` when the token's
    /// payload is not a JSON object (a verified token always is).
    pub(crate) fn new(
        provider: &str,
        id_token: &str,
        access_token: Option<&str>,
    ) -> Option<StoredUser> {
        let mut segments = id_token.split('.');
        let (header, payload, signature_b64) =
            (segments.next()?, segments.next()?, segments.next()?);
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if !matches!(serde_json::from_str::<Value>(&json), Ok(Value::Object(_))) {
            return None;
        }
        // Split only what re-encodes to the very same text; anything else is kept whole.
        let id_token = match URL_SAFE_NO_PAD.decode(signature_b64) {
            Ok(signature)
                if segments.next().is_none()
                    && URL_SAFE_NO_PAD.encode(json.as_bytes()) == payload
                    && URL_SAFE_NO_PAD.encode(&signature) == signature_b64 =>
            {
                TokenParts::Split {
                    header: header.into(),
                    signature: signature.into(),
                }
            }
            _ => TokenParts::Whole(id_token.into()),
        };
        Some(StoredUser {
            provider: provider.into(),
            claims: json.into(),
            id_token,
            access_token: access_token.map(Into::into),
            login_at: crate::pending::now_unix(),
        })
    }

    /// The same user with `extra` claims added to the provider's (replacing those of the same
    /// name), as an after-login hook asks. The ID token is then kept whole: its payload is
    /// no longer the claims.
    pub(crate) fn with_extra_claims(self, extra: Map<String, Value>) -> Option<StoredUser> {
        let mut claims: Map<String, Value> = serde_json::from_str(&self.claims).ok()?;
        claims.extend(extra);
        let id_token = TokenParts::Whole(self.id_token().into());
        Some(StoredUser {
            claims: serde_json::to_string(&claims).ok()?.into(),
            id_token,
            ..self
        })
    }

    /// `sub` and `sid` (the provider's session, if the token names one) from the claims.
    pub(crate) fn subject_and_session(&self) -> Option<(String, Option<String>)> {
        #[derive(Deserialize)]
        struct Ids {
            sub: String,
            #[serde(default)]
            sid: Option<String>,
        }
        let ids: Ids = serde_json::from_str(&self.claims).ok()?;
        Some((ids.sub, ids.sid))
    }

    /// The ID token exactly as the provider issued it.
    pub(crate) fn id_token(&self) -> String {
        match &self.id_token {
            TokenParts::Whole(jwt) => jwt.to_string(),
            TokenParts::Split { header, signature } => format!(
                "{header}.{}.{}",
                URL_SAFE_NO_PAD.encode(self.claims.as_bytes()),
                URL_SAFE_NO_PAD.encode(signature)
            ),
        }
    }

    /// Parses the claims once, into the form handlers read.
    pub(crate) fn decode(self: Arc<Self>) -> Option<Arc<LoggedIn>> {
        match serde_json::from_str(&self.claims) {
            Ok(claims) => Some(Arc::new(LoggedIn {
                stored: self,
                claims,
                id_token: OnceLock::new(),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "stored claims could not be read; treating the session as absent");
                None
            }
        }
    }
}

/// The form other session stores keep (JSON): the claims stay one string so their bytes,
/// and so the rebuilt ID token's signature, survive the round trip.
#[derive(Serialize, Deserialize)]
struct StoredUserWire {
    provider: String,
    claims: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default)]
    login_at: i64,
}

impl Serialize for StoredUser {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (id_token_header, id_token_signature, id_token) = match &self.id_token {
            TokenParts::Split { header, signature } => (
                Some(header.to_string()),
                Some(URL_SAFE_NO_PAD.encode(signature)),
                None,
            ),
            TokenParts::Whole(jwt) => (None, None, Some(jwt.to_string())),
        };
        StoredUserWire {
            provider: self.provider.to_string(),
            claims: self.claims.to_string(),
            id_token_header,
            id_token_signature,
            id_token,
            access_token: self.access_token.as_deref().map(str::to_owned),
            login_at: self.login_at,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StoredUser {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = StoredUserWire::deserialize(deserializer)?;
        let id_token = match (wire.id_token_header, wire.id_token_signature, wire.id_token) {
            (Some(header), Some(signature), None) => TokenParts::Split {
                header: header.into(),
                signature: URL_SAFE_NO_PAD
                    .decode(signature)
                    .map_err(|_| D::Error::custom("bad id_token_signature"))?
                    .into(),
            },
            (None, None, Some(jwt)) => TokenParts::Whole(jwt.into()),
            _ => return Err(D::Error::custom("no id token")),
        };
        Ok(StoredUser {
            provider: wire.provider.into(),
            claims: wire.claims.into(),
            id_token,
            access_token: wire.access_token.map(Into::into),
            login_at: wire.login_at,
        })
    }
}

impl std::fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUser")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// A logged-in user with the claims parsed: shared by every request of the session (the
/// in-memory store keeps it between requests, so the claims are parsed once, not per request).
pub(crate) struct LoggedIn {
    stored: Arc<StoredUser>,
    claims: Map<String, Value>,
    id_token: OnceLock<String>,
}

impl std::fmt::Debug for LoggedIn {
    // Claims are personal data: name only the provider and the subject.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("provider", &self.stored.provider)
            .field("sub", &self.claims.get("sub"))
            .finish_non_exhaustive()
    }
}

impl LoggedIn {
    /// Every claim, parsed.
    pub(crate) fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub(crate) fn stored(&self) -> &Arc<StoredUser> {
        &self.stored
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
    expose: ExposeTokens,
    /// The layer's login route, for extractors and guards that send the visitor there.
    login_path: Option<Arc<str>>,
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
    pub(crate) fn new(
        inner: Option<Arc<LoggedIn>>,
        expose: ExposeTokens,
        login_path: Arc<str>,
    ) -> Self {
        User {
            inner,
            expose,
            login_path: Some(login_path),
        }
    }

    /// The layer's login route; `None` when no layer made this value.
    pub(crate) fn login_path(&self) -> Option<&str> {
        self.login_path.as_deref()
    }

    /// Whether the visitor is logged in (`st.user.is_logged_in`).
    pub fn is_logged_in(&self) -> bool {
        self.inner.is_some()
    }

    /// The provider name the user logged in with (`default` for the unnamed one).
    pub fn provider(&self) -> Option<&str> {
        self.inner.as_deref().map(|u| &*u.stored.provider)
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

    /// The raw tokens that `expose_tokens` allows handlers to see.
    pub fn tokens(&self) -> Tokens<'_> {
        match self.inner.as_deref() {
            Some(u) => Tokens {
                id: self
                    .expose
                    .id
                    .then(|| u.id_token.get_or_init(|| u.stored.id_token()).as_str()),
                access: u
                    .stored
                    .access_token
                    .as_deref()
                    .filter(|_| self.expose.access),
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
            out.insert(
                "provider".into(),
                Value::String(u.stored.provider.to_string()),
            );
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
                .field("provider", &u.stored.provider)
                .field("sub", &u.claims.get("sub"))
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn the_id_token_is_stored_in_parts_and_rebuilt_byte_for_byte() {
        // Key order and spacing as the provider wrote them: a re-serialised payload would
        // break the signature of the rebuilt token.
        let payload = r#"{"sub":"u1", "iss":"https://op","groups":["a","b"],"aud":"c"}"#;
        let token = jwt(r#"{"alg":"RS256","kid":"k"}"#, payload, &[7u8; 256]);
        let stored = StoredUser::new("entra", &token, None).unwrap();
        assert!(matches!(stored.id_token, TokenParts::Split { .. }));
        assert_eq!(&*stored.claims, payload);
        assert_eq!(stored.id_token(), token);
        // Smaller than the token itself: the payload is kept once, the signature in binary.
        let size = stored.claims.len()
            + match &stored.id_token {
                TokenParts::Split { header, signature } => header.len() + signature.len(),
                TokenParts::Whole(t) => t.len(),
            };
        assert!(size < token.len(), "{size} vs {}", token.len());

        // Other stores keep JSON; the round trip keeps every byte.
        let json = serde_json::to_value(&stored).unwrap();
        let back: StoredUser = serde_json::from_value(json).unwrap();
        assert!(back == stored);
        assert_eq!(back.id_token(), token);
    }

    #[test]
    fn a_token_that_would_not_rebuild_exactly_is_kept_whole() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"u1"}"#);
        // Padding makes the segment differ from its canonical encoding.
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}==.c2ln");
        match StoredUser::new("p", &token, None) {
            None => {} // not decodable at all is also fine: never stored wrongly
            Some(stored) => assert_eq!(stored.id_token(), token),
        }
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln.extra");
        let stored = StoredUser::new("p", &token, None).unwrap();
        assert!(matches!(stored.id_token, TokenParts::Whole(_)));
        assert_eq!(stored.id_token(), token);
    }

    #[test]
    fn extra_claims_join_the_provider_ones_and_the_token_stays_exact() {
        let payload = r#"{"sub":"u1","plan":"free"}"#;
        let token = jwt(r#"{"alg":"RS256"}"#, payload, &[9u8; 64]);
        let stored = StoredUser::new("p", &token, None).unwrap();
        let mut extra = Map::new();
        extra.insert("plan".into(), Value::String("pro".into()));
        extra.insert("groups".into(), serde_json::json!(["g1"]));
        let merged = stored.with_extra_claims(extra).unwrap();
        assert_eq!(merged.id_token(), token, "the token rebuilds byte for byte");
        let user = Arc::new(merged).decode().unwrap();
        assert_eq!(user.claims()["plan"], "pro");
        assert_eq!(user.claims()["groups"][0], "g1");
        assert_eq!(user.claims()["sub"], "u1");
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_not_stored() {
        let token = jwt(r#"{"alg":"RS256"}"#, "[1,2]", b"sig");
        assert!(StoredUser::new("p", &token, None).is_none());
        assert!(StoredUser::new("p", "not a jwt", None).is_none());
    }

    #[test]
    fn tokens_are_shown_only_as_expose_tokens_allows() {
        let token = jwt(r#"{"alg":"RS256"}"#, r#"{"sub":"u1","name":"N"}"#, b"sig");
        let stored = Arc::new(StoredUser::new("p", &token, Some("at")).unwrap());
        let parsed = stored.decode().unwrap();
        let login: Arc<str> = Arc::from("/auth/login");
        let hidden = User::new(Some(parsed.clone()), ExposeTokens::default(), login.clone());
        assert_eq!(hidden.tokens(), Tokens::default());
        assert_eq!(hidden.name(), Some("N"));
        let shown = User::new(
            Some(parsed),
            ExposeTokens {
                id: true,
                access: true,
            },
            login,
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
}
