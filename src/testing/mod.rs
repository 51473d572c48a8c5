//! An embedded development OpenID provider, for examples and integration tests.
//!
//! [`DevProvider`] is a real OpenID Connect provider served on a loopback port
//! (`127.0.0.1` only). It speaks the authorization code flow with PKCE exactly as a hosted
//! provider does — discovery, a key set, a sign-in page, a token endpoint with client
//! authentication, userinfo and RP-initiated logout — so an app configured for it is
//! configured the way it will be in production, with a different `server_metadata_url`.
//!
//! There are no passwords: its sign-in page asks for a name, an email and optional extra
//! claims, and signs in whoever you type. **Never use it in production.** It signs ID tokens
//! with two RSA keys embedded in this crate (`src/testing/dev_key_*.pem`); those keys are
//! published with the source code and are not secret, so tokens it signs prove nothing to
//! anyone but a test.
//!
//! # Endpoints
//!
//! All under the [issuer](DevProvider::issuer), `http://127.0.0.1:PORT` plus an optional
//! [path](DevProviderBuilder::issuer_path):
//!
//! | Endpoint | Path |
//! |---|---|
//! | Discovery | `GET /.well-known/openid-configuration` |
//! | Key set | `GET /jwks` |
//! | Authorization (sign-in form) | `GET /authorize`, `POST /authorize` |
//! | Token (codes and refresh tokens) | `POST /token` |
//! | Userinfo | `GET` or `POST /userinfo` |
//! | End session (logout) | `GET` or `POST /logout` |
//!
//! An [Entra multi-tenant](DevProviderBuilder::entra_multi_tenant) provider serves the same
//! endpoints under `/common/v2.0`, `/organizations/v2.0` and `/<tenant id>/v2.0`.
//!
//! Some [misbehaviours](Misbehaviour) use three more: `GET /jwks/<random>` (the key set at a
//! randomised `jwks_uri`), and `GET /attacker/jwks` and `GET /attacker/cert.pem`, where
//! tokens signed with an unpublished key point (counted in
//! [`RequestCounts::attacker_keys`]).
//!
//! # A zero-setup login for an example app
//!
//! With no `secrets.toml`, start a provider and build the configuration from
//! [`DevProvider::secrets_toml`]; the provider stops when the handle is dropped, so keep it
//! alive as long as the app runs.
//!
//! ```
//! use tower_oidc_login::testing::DevProvider;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let provider = DevProvider::start().await?;
//! let secrets = provider.secrets_toml(
//!     "http://localhost:8000/oauth2callback",
//!     "a cookie secret for development only",
//! );
//! assert!(secrets.starts_with("[auth]\n"));
//! assert!(secrets.contains(&provider.server_metadata_url()));
//! // Hand `secrets` to the app's configuration loader, then serve the app.
//! # Ok(())
//! # }
//! ```
//!
//! # Logging in from an integration test
//!
//! [`DevProvider::login_as`] drives the whole browser flow against a running app over HTTP
//! and returns the app's session cookie:
//!
//! ```no_run
//! use tower_oidc_login::testing::{DevProvider, DevUser};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = DevProvider::builder()
//!     .redirect_uri("http://127.0.0.1:8000/oauth2callback")
//!     .start()
//!     .await?;
//! // … start the app on port 8000, configured with provider.secrets_toml(…) …
//! let user = DevUser::new("Alice", "alice@example.com").claim("groups", serde_json::json!(["admin"]));
//! let login = provider
//!     .login_as("http://127.0.0.1:8000/auth/login", &user)
//!     .await?;
//! let page = reqwest::Client::new()
//!     .get("http://127.0.0.1:8000/")
//!     .header("cookie", &login.cookie)
//!     .send()
//!     .await?;
//! assert!(page.status().is_success());
//! assert_eq!(provider.request_counts().token, 1);
//! # Ok(())
//! # }
//! ```

//!
//! # Sessions, refresh tokens and logout notifications
//!
//! Each sign-in is a provider-side session with its own `sid`, carried by every ID token of
//! that login ([`DevProvider::sessions`]). A code exchange with `offline_access` in the scope
//! also yields a refresh token ([`DevProviderBuilder::refresh_tokens`]); refreshing rotates it
//! ([`DevProviderBuilder::refresh_token_rotation`]) and answers with a new access token and
//! a new ID token with the same `iss`, `sub`, `aud` and `sid` and no `nonce`. Short
//! [access-token](DevProviderBuilder::access_token_lifetime) and
//! [ID-token](DevProviderBuilder::id_token_lifetime) lifetimes let a test wait for expiry;
//! [`DevProvider::revoke_grants`] ends a user's refresh tokens;
//! [`RequestCounts::refresh`] counts refreshes apart from code redemptions.
//!
//! With a [`backchannel_logout_uri`](DevProviderBuilder::backchannel_logout_uri) registered,
//! [`DevProvider::backchannel_logout`] posts a signed logout token for a `sid` or `sub` (see
//! [`LogoutTarget`]) and returns the app's answer; the `LogoutToken*` misbehaviours break it
//! the ways the OpenID Foundation's RP tests do. [`DevProvider::frontchannel_logout_url`]
//! gives the URL of a front-channel logout.
//!
//! # Client authentication without a secret
//!
//! Besides `client_secret_basic` and `client_secret_post`, the token endpoint accepts
//! `private_key_jwt` assertions signed with [registered keys](DevProviderBuilder::client_jwks)
//! and tokens of a [trusted federated issuer](FederatedCredential) (Entra's federated
//! identity credentials), chosen with [`DevProviderBuilder::client_auth_methods`].
//! [`DevClientKey`] holds embedded RS256 and ES256 key pairs (with a certificate for the
//! `x5t#S256` thumbprint) to sign them with; [`TokenCall`] records each assertion's header
//! and claims.
//!
//! # Misbehaving on purpose
//!
//! A provider can be broken or hostile: a token with a wrong `iss`, an unsigned token, a key
//! set that is down, a token endpoint that never answers… [`DevProvider::misbehave`] switches
//! on one such [`Misbehaviour`] (each reproduces a case of the OpenID Foundation's RP
//! certification or a known attack, named in its documentation) so a test can prove the app
//! refuses the login, and [`DevProvider::request_counts`] shows what the app asked the
//! provider before giving up:
//!
//! ```no_run
//! use tower_oidc_login::testing::{DevLoginError, DevProvider, DevUser, LoginStep, Misbehaviour};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = DevProvider::start().await?;
//! // … start the app on port 8000, configured with provider.secrets_toml(…) …
//! provider.misbehave(Misbehaviour::AlgNone);
//! let user = DevUser::new("Mallory", "mallory@example.com");
//! match provider.login_as("http://127.0.0.1:8000/auth/login", &user).await {
//!     Err(DevLoginError::UnexpectedStatus { step: LoginStep::AppCallback, status: 400, .. }) => {}
//!     other => panic!("an unsigned ID token must be refused, got {other:?}"),
//! }
//! assert_eq!(provider.request_counts().userinfo, 0);
//!
//! provider.behave();
//! provider.login_as("http://127.0.0.1:8000/auth/login", &user).await?;
//! # Ok(())
//! # }
//! ```

mod behaviour;
mod builder;
mod client_key;
mod dev_provider;
mod fallback;
mod jwt;
mod keys;
mod login_as;
mod logout;
mod records;
mod registration;
mod server;
mod tokens;
mod user;

#[cfg(test)]
mod tests;

pub use crate::config::TokenEndpointAuth;
pub use behaviour::{Endpoint, Misbehaviour};
pub use builder::DevProviderBuilder;
pub use client_key::{DevClientKey, DevKeyError};
pub use dev_provider::DevProvider;
pub use fallback::{config_or_dev_provider, FallbackError, DEV_PROVIDER_VAR};
pub use login_as::{DevLogin, DevLoginError, LoginStep};
pub use logout::{BackchannelDelivery, BackchannelError, LogoutTarget};
pub use records::{DevSession, EndSessionCall, RequestCounts, TokenCall};
pub use registration::{
    ClientAuthMethod, FederatedCredential, RefreshTokenIssue, RefreshTokenRotation,
};
pub use user::DevUser;

#[cfg(test)]
pub(crate) use behaviour::Canned;
