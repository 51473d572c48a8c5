//! Who signs in at the development provider.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Claims the provider sets itself; a user cannot supply them because they describe the
/// token and the login, not the person.
const PROTOCOL_CLAIMS: [&str; 10] = [
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
}

impl DevUser {
    /// A user with this display name and email. An empty name leaves out the `name` claim.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> DevUser {
        DevUser {
            name: name.into(),
            email: email.into(),
            sub: None,
            claims: Map::new(),
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

    /// The claims added with [`DevUser::claim`].
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
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

impl Default for DevUser {
    /// "Dev User" with `dev@example.com`: what the sign-in form suggests when nothing else is
    /// configured.
    fn default() -> DevUser {
        DevUser::new("Dev User", "dev@example.com")
    }
}
