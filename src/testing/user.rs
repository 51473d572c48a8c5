//! Who signs in at the development provider.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Claims the provider sets itself; a user cannot supply them because they describe the
/// token and the login, not the person.
const PROTOCOL_CLAIMS: [&str; 11] = [
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "azp",
    "sid",
];

/// A user who signs in at the [`DevProvider`](super::DevProvider).
///
/// The ID token and the userinfo response carry `sub`, `name`, `email`,
/// `email_verified: true` and `preferred_username` (the email), plus every extra claim added
/// with [`DevUser::claim`]. An extra claim with the name of a profile claim (`name`, `email`,
/// `email_verified`, `preferred_username`, `picture`, …) replaces it, so a test can sign in a
/// user whose email is not verified.
///
/// `sub` defaults to a stable value derived from the email (case-insensitive): the same email
/// always gets the same `sub`, across runs and machines.
///
/// Claims added with [`DevUser::userinfo_claim`] are in the userinfo response only, not in the
/// ID token. The Microsoft Entra shapes have helpers: [`DevUser::with_tenant`] (`tid`),
/// [`DevUser::with_login_hint`] (the `login_hint` optional claim) and
/// [`DevUser::groups_overage`] (more than 200 groups).
///
/// ```
/// use tower_oidc_login::testing::DevUser;
///
/// let alice = DevUser::new("Alice", "alice@example.com")
///     .claim("groups", serde_json::json!(["admin", "staff"]))
///     .claim("email_verified", false);
/// assert_eq!(alice.email(), "alice@example.com");
/// assert_eq!(alice.subject(), DevUser::new("", "Alice@Example.com").subject());
///
/// let fixed = DevUser::new("Bob", "bob@example.com").with_sub("user-42");
/// assert_eq!(fixed.subject(), "user-42");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DevUser {
    name: String,
    email: String,
    sub: Option<String>,
    claims: Map<String, Value>,
    userinfo_claims: Map<String, Value>,
}

impl DevUser {
    /// A user with this display name and email. An empty name leaves out the `name` claim.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> DevUser {
        DevUser {
            name: name.into(),
            email: email.into(),
            sub: None,
            claims: Map::new(),
            userinfo_claims: Map::new(),
        }
    }

    /// Uses `sub` as the subject identifier instead of the one derived from the email.
    pub fn with_sub(mut self, sub: impl Into<String>) -> DevUser {
        self.sub = Some(sub.into());
        self
    }

    /// Adds (or replaces) a claim in the ID token and the userinfo response.
    ///
    /// `claim("sub", "…")` with a string is the same as [`DevUser::with_sub`]. Claims that describe
    /// the token rather than the user (`iss`, `aud`, `exp`, `iat`, `nbf`, `auth_time`, `nonce`,
    /// `at_hash`, `c_hash`, `azp`) are set by the provider and ignored here.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> DevUser {
        let name = name.into();
        let value = value.into();
        if name == "sub" {
            match value {
                Value::String(sub) => self.sub = Some(sub),
                _ => tracing::debug!("development provider: ignoring a non-string `sub` claim"),
            }
        } else if PROTOCOL_CLAIMS.contains(&name.as_str()) {
            tracing::debug!(claim = %name, "development provider: ignoring a protocol claim");
        } else {
            self.claims.insert(name, value);
        }
        self
    }

    /// Adds (or replaces) a claim in the userinfo response only: the ID token does not carry
    /// it, so only a client that calls userinfo sees it. Protocol claims and `sub` are
    /// ignored here (userinfo's `sub` is the ID token's).
    ///
    /// ```
    /// use tower_oidc_login::testing::DevUser;
    ///
    /// let user = DevUser::new("Ada", "ada@example.com").userinfo_claim("department", "R&D");
    /// assert_eq!(user.userinfo_claims()["department"], "R&D");
    /// assert!(user.claims().get("department").is_none());
    /// ```
    pub fn userinfo_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> DevUser {
        let name = name.into();
        if name == "sub" || PROTOCOL_CLAIMS.contains(&name.as_str()) {
            tracing::debug!(claim = %name, "development provider: ignoring a protocol claim for userinfo");
        } else {
            self.userinfo_claims.insert(name, value.into());
        }
        self
    }

    /// Puts the user in this Microsoft Entra tenant: the `tid` claim. On a provider built
    /// with [`entra_multi_tenant`](super::DevProviderBuilder::entra_multi_tenant), the ID
    /// token's `iss` names this tenant; a user without one belongs to the tenant they signed
    /// in through, or to [`DevUser::DEFAULT_TENANT`] when that was `common` or
    /// `organizations`.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevUser;
    ///
    /// let user = DevUser::new("Ada", "ada@contoso.example")
    ///     .with_tenant("72f988bf-0000-4000-8000-000000000001");
    /// assert_eq!(user.tenant(), Some("72f988bf-0000-4000-8000-000000000001"));
    /// ```
    pub fn with_tenant(self, tid: impl Into<String>) -> DevUser {
        self.claim("tid", tid.into())
    }

    /// The tenant set with [`DevUser::with_tenant`] (a string `tid` claim), if any.
    pub fn tenant(&self) -> Option<&str> {
        self.claims.get("tid").and_then(Value::as_str)
    }

    /// Microsoft Entra's `login_hint` optional claim: an opaque value the app sends back as
    /// `logout_hint` on RP-initiated logout so that Entra signs out this account without
    /// asking which one. Entra's value is opaque (base64 text); any string works here.
    pub fn with_login_hint(self, hint: impl Into<String>) -> DevUser {
        self.claim("login_hint", hint.into())
    }

    /// Microsoft Entra's groups overage: when a user is in more than 200 groups (more than
    /// 150 for SAML), the token carries no `groups` claim but points at where to fetch them:
    /// `"_claim_names": {"groups": "src1"}` and `"_claim_sources": {"src1": {"endpoint":
    /// endpoint}}` (OpenID Connect Core 1.0 section 5.6.2 distributed claims; Entra's
    /// endpoint is a Microsoft Graph URL such as
    /// `https://graph.microsoft.com/v1.0/users/{oid}/getMemberObjects`). Any `groups` claim
    /// the user had is removed.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevUser;
    ///
    /// let user = DevUser::new("Ada", "ada@example.com")
    ///     .claim("groups", serde_json::json!(["g1"]))
    ///     .groups_overage("http://127.0.0.1:9000/users/ada/getMemberObjects");
    /// assert!(user.claims().get("groups").is_none());
    /// assert_eq!(user.claims()["_claim_names"]["groups"], "src1");
    /// ```
    pub fn groups_overage(mut self, endpoint: impl Into<String>) -> DevUser {
        self.claims.remove("groups");
        self.claim("_claim_names", serde_json::json!({ "groups": "src1" }))
            .claim(
                "_claim_sources",
                serde_json::json!({ "src1": { "endpoint": endpoint.into() } }),
            )
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The email address.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The `sub` claim this user gets: the one set with [`DevUser::with_sub`], else one derived
    /// from the email.
    pub fn subject(&self) -> String {
        match &self.sub {
            Some(sub) => sub.clone(),
            None => {
                let digest = Sha256::new()
                    .chain_update(b"tower-oidc-login development user\n")
                    .chain_update(self.email.trim().to_lowercase().as_bytes())
                    .finalize();
                let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
                format!("dev-{hex}")
            }
        }
    }

    /// The claims added with [`DevUser::claim`] (and the Entra helpers).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims added with [`DevUser::userinfo_claim`].
    pub fn userinfo_claims(&self) -> &Map<String, Value> {
        &self.userinfo_claims
    }

    /// What the sign-in form's "Extra claims" box holds for this user: the extra claims, plus
    /// `sub` when it was set explicitly (so the form round-trips the whole user).
    pub(crate) fn form_claims(&self) -> Map<String, Value> {
        let mut claims = self.claims.clone();
        if let Some(sub) = &self.sub {
            claims.insert("sub".to_owned(), Value::String(sub.clone()));
        }
        claims
    }

    /// Every claim describing the user, as the ID token and userinfo carry them.
    pub(crate) fn profile_claims(&self) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("sub".to_owned(), Value::String(self.subject()));
        if !self.name.is_empty() {
            claims.insert("name".to_owned(), Value::String(self.name.clone()));
        }
        claims.insert("email".to_owned(), Value::String(self.email.clone()));
        claims.insert("email_verified".to_owned(), Value::Bool(true));
        claims.insert(
            "preferred_username".to_owned(),
            Value::String(self.email.clone()),
        );
        for (name, value) in &self.claims {
            claims.insert(name.clone(), value.clone());
        }
        claims
    }
}

impl DevUser {
    /// The tenant (`tid`) of a user without one who signs in through `common` or
    /// `organizations` at an Entra multi-tenant development provider.
    pub const DEFAULT_TENANT: &'static str = "00000000-0000-4000-8000-000000000001";
}

impl Default for DevUser {
    /// "Dev User" with `dev@example.com`: what the sign-in form suggests when nothing else is
    /// configured.
    fn default() -> DevUser {
        DevUser::new("Dev User", "dev@example.com")
    }
}
