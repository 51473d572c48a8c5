//! What the development provider counts and records about the requests it receives, for a
//! test to check what a client asked.

use serde_json::{Map, Value};

use super::registration::ClientAuthMethod;

/// How many requests each endpoint has received (valid or not), from
/// [`DevProvider::request_counts`].
///
/// ```
/// use tower_oidc_login::testing::DevProvider;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = DevProvider::start().await?;
/// reqwest::get(provider.server_metadata_url()).await?;
/// let counts = provider.request_counts();
/// assert_eq!((counts.discovery, counts.token), (1, 0));
/// # Ok(())
/// # }
/// ```
///
/// [`DevProvider::request_counts`]: crate::testing::DevProvider::request_counts
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// `GET /.well-known/openid-configuration`.
    pub discovery: u64,
    /// `GET /jwks`.
    pub jwks: u64,
    /// `GET /authorize`: authorization requests (each shows the sign-in form or redirects
    /// with an error).
    pub authorize: u64,
    /// `POST /authorize`: submissions of the sign-in form (sign in or cancel).
    pub sign_in: u64,
    /// `POST /token` other than refreshes: code redemptions (and requests with another or no
    /// `grant_type`).
    pub token: u64,
    /// `POST /token` with `grant_type=refresh_token`: refresh requests, valid or not.
    pub refresh: u64,
    /// `/userinfo`.
    pub userinfo: u64,
    /// `/logout` (the end-session endpoint).
    pub end_session: u64,
    /// Requests that reached the target of a redirect sent under
    /// [`Misbehaviour::Redirect`]: a client that never follows redirects leaves it at 0.
    ///
    /// [`Misbehaviour::Redirect`]: crate::testing::Misbehaviour::Redirect
    pub redirect_targets: u64,
    /// Requests for the attacker's key set or certificate that tokens signed under the
    /// `ForeignKeyIn*` misbehaviours point at (for example [`Misbehaviour::ForeignKeyInJku`]):
    /// a client that trusts only discovery's key set leaves it at 0.
    ///
    /// [`Misbehaviour::ForeignKeyInJku`]: crate::testing::Misbehaviour::ForeignKeyInJku
    pub attacker_keys: u64,
}

/// What one request to the end-session endpoint (`/logout`) carried, from
/// [`DevProvider::end_session_calls`]. Recorded for every request, including refused ones.
///
/// [`DevProvider::end_session_calls`]: crate::testing::DevProvider::end_session_calls
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndSessionCall {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `id_token_hint`, as sent (a test can check it is the ID token the app received).
    pub id_token_hint: Option<String>,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `logout_hint`.
    pub logout_hint: Option<String>,
}

/// What one request to the token endpoint (`/token`) carried, from
/// [`DevProvider::token_calls`]. Recorded for every request, including refused ones, so a
/// test can check how a client authenticates and what it redeems.
///
/// It holds what the client sent, credentials included (the client secret, the code and the
/// PKCE verifier): keep it out of logs.
///
/// ```
/// use tower_oidc_login::testing::DevProvider;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = DevProvider::start().await?;
/// let form = [("grant_type", "authorization_code"), ("code", "not-a-code")];
/// reqwest::Client::new()
///     .post(provider.token_endpoint())
///     .basic_auth("dev-client", Some("dev-secret"))
///     .form(&form)
///     .send()
///     .await?;
///
/// let calls = provider.token_calls();
/// assert_eq!(calls[0].param("grant_type"), Some("authorization_code"));
/// assert!(calls[0].authorization.as_deref().is_some_and(|a| a.starts_with("Basic ")));
/// assert_eq!(calls[0].param("client_secret"), None);
/// # Ok(())
/// # }
/// ```
///
/// [`DevProvider::token_calls`]: crate::testing::DevProvider::token_calls
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCall {
    /// The `Authorization` header, as sent (`Basic …` for `client_secret_basic`).
    pub authorization: Option<String>,
    /// The form body's parameters, decoded, in the order sent: `grant_type`, `code`,
    /// `redirect_uri`, `code_verifier` (or `refresh_token`), and `client_id` and
    /// `client_secret` for `client_secret_post`, or `client_assertion_type` and
    /// `client_assertion`.
    pub params: Vec<(String, String)>,
    /// The client authentication method the request used, recognised from its shape (an
    /// `Authorization: Basic` header, a `client_secret`, or a `client_assertion` whose `iss`
    /// is the client id for `private_key_jwt`, anything else for a federated credential),
    /// whether or not the credentials were right; `None` when it used none or several.
    pub client_auth: Option<ClientAuthMethod>,
    /// The `client_assertion`'s JOSE header, decoded but not verified (so a test can check
    /// its `alg`, `kid`, `x5t#S256`); `None` without a decodable assertion.
    pub client_assertion_header: Option<Map<String, Value>>,
    /// The `client_assertion`'s claims, decoded but not verified.
    pub client_assertion_claims: Option<Map<String, Value>>,
}

impl TokenCall {
    /// The first value of the form parameter `name`, if it was sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A sign-in at the development provider: a provider-side session, from
/// [`DevProvider::sessions`]. Its `sid` is in every ID token issued for it, refreshed ones
/// included, and is what logout notifications name.
///
/// [`DevProvider::sessions`]: crate::testing::DevProvider::sessions
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevSession {
    /// The session id (`sid` claim).
    pub sid: String,
    /// The user's `sub`.
    pub sub: String,
}
