//! Logout notifications from the provider to the app: logout tokens posted to the client's
//! `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0), and the URL a
//! front-channel logout loads (OpenID Connect Front-Channel Logout 1.0).

use std::time::Duration;

use openidconnect::core::CoreJwsSigningAlgorithm;
use reqwest::redirect::Policy;
use serde_json::{json, Map, Value};
use url::Url;

use super::behaviour::{Behaviour, Misbehaviour};
use super::dev_provider::DevProvider;
use super::jwt::{self, Signer};
use super::server::{lock, Shared};
use super::tokens::altered_issuer;
use crate::util::random_token;

/// The event a logout token announces (Back-Channel Logout 1.0 section 2.4).
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid: two minutes, as such tokens are meant for immediate use.
const LOGOUT_TOKEN_LIFETIME: i64 = 120;
/// How long the app may take to answer a logout token.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose sessions a back-channel logout ends: the logout token carries `sid`, `sub` or both
/// (Back-Channel Logout 1.0 section 2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutTarget {
    /// One provider-side session: `sid` only (the app ends its sessions of that `sid`).
    Sid(String),
    /// Every session of a user: `sub` only.
    Sub(String),
    /// One session of one user: both claims.
    SidAndSub {
        /// The session id.
        sid: String,
        /// The user.
        sub: String,
    },
}

/// The app's answer to one logout token, from [`DevProvider::backchannel_logout`] or
/// [`DevProvider::send_logout_token`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackchannelDelivery {
    /// The HTTP status the app answered (200 for an accepted token, 400 for a refused one).
    pub status: u16,
    /// The body of the answer.
    pub body: String,
    /// The logout token sent, so a test can send it again (a replay) or read its claims.
    pub logout_token: String,
}

/// Why a logout token could not be delivered (the app's refusal is a
/// [`BackchannelDelivery`], not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelError {
    /// The builder registered no `backchannel_logout_uri`.
    #[error(
        "no backchannel_logout_uri is registered (DevProviderBuilder::backchannel_logout_uri)"
    )]
    NoLogoutUri,
    /// The logout token could not be signed.
    #[error("signing the logout token failed: {0}")]
    Signing(String),
    /// The request failed without an answer (connection refused, timeout…).
    #[error("posting the logout token to {uri} failed: {source}")]
    Request {
        /// The `backchannel_logout_uri`.
        uri: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
}

impl DevProvider {
    /// Logs `target` out the way a provider does when the user signs out there (or an
    /// administrator ends their sessions): signs a logout token and `POST`s it to the
    /// registered [`backchannel_logout_uri`](super::DevProviderBuilder::backchannel_logout_uri)
    /// as the form field `logout_token`, without following redirects, and returns the app's
    /// answer.
    ///
    /// The token's header has `typ` = `logout+jwt` and the signing key's `kid`; its claims
    /// are `iss`, `aud` (the client id), `iat`, `exp` (two minutes later), a fresh `jti`,
    /// `events` = `{"http://schemas.openid.net/event/backchannel-logout": {}}`, and `sid`
    /// and/or `sub` as `target` says; never `nonce`. The `LogoutToken*`
    /// [misbehaviours](super::Misbehaviour) break it in the ways the OpenID Foundation's RP
    /// tests do. The provider's own sessions ([`DevProvider::sessions`]) and refresh tokens
    /// are left as they are.
    ///
    /// ```no_run
    /// use tower_oidc_login::testing::{DevProvider, LogoutTarget, Misbehaviour};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provider = DevProvider::builder()
    ///     .backchannel_logout_uri("http://127.0.0.1:8000/auth/backchannel-logout")
    ///     .start()
    ///     .await?;
    /// // … start the app on port 8000 and log a user in …
    /// let sid = provider.sessions().last().map(|s| s.sid.clone()).unwrap_or_default();
    /// let answer = provider.backchannel_logout(LogoutTarget::Sid(sid.clone())).await?;
    /// assert_eq!(answer.status, 200);
    /// // The same token again is a replay: refused.
    /// assert_eq!(provider.send_logout_token(&answer.logout_token).await?.status, 400);
    /// provider.misbehave(Misbehaviour::LogoutTokenWithNonce);
    /// assert_eq!(provider.backchannel_logout(LogoutTarget::Sid(sid)).await?.status, 400);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn backchannel_logout(
        &self,
        target: LogoutTarget,
    ) -> Result<BackchannelDelivery, BackchannelError> {
        let shared = self.shared();
        if shared.backchannel_logout_uri.is_none() {
            return Err(BackchannelError::NoLogoutUri);
        }
        let token = logout_token(shared, &shared.behaviour(), &target)
            .map_err(BackchannelError::Signing)?;
        self.send_logout_token(&token).await
    }

    /// `POST`s `logout_token` as it is to the registered `backchannel_logout_uri`: to send a
    /// token again (a replay), or one a test built itself.
    pub async fn send_logout_token(
        &self,
        logout_token: &str,
    ) -> Result<BackchannelDelivery, BackchannelError> {
        let uri = self
            .shared()
            .backchannel_logout_uri
            .clone()
            .ok_or(BackchannelError::NoLogoutUri)?;
        let failed = |source| BackchannelError::Request {
            uri: uri.clone(),
            source,
        };
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .map_err(failed)?;
        let response = client
            .post(&uri)
            .form(&[("logout_token", logout_token)])
            .send()
            .await
            .map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(failed)?;
        tracing::debug!(
            status,
            "development provider: logout token delivered to the back-channel logout URI"
        );
        Ok(BackchannelDelivery {
            status,
            body,
            logout_token: logout_token.to_owned(),
        })
    }

    /// The URL a provider's logout page loads in an iframe to log the app out of session
    /// `sid` (OpenID Connect Front-Channel Logout 1.0 section 3, as Microsoft Entra does):
    /// the registered
    /// [`frontchannel_logout_uri`](super::DevProviderBuilder::frontchannel_logout_uri) with
    /// `iss` (the issuer) and `sid` added to its query. `None` without a registered URI.
    ///
    /// ```
    /// use tower_oidc_login::testing::DevProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let provider = DevProvider::builder()
    ///     .frontchannel_logout_uri("http://localhost:8000/auth/frontchannel-logout")
    ///     .start()
    ///     .await?;
    /// let url = provider.frontchannel_logout_url("s1").unwrap_or_default();
    /// assert!(url.starts_with("http://localhost:8000/auth/frontchannel-logout?iss=http%3A%2F%2F127.0.0.1%3A"));
    /// assert!(url.ends_with("&sid=s1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn frontchannel_logout_url(&self, sid: &str) -> Option<String> {
        let shared = self.shared();
        let mut url = Url::parse(shared.frontchannel_logout_uri.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("iss", &shared.issuer)
            .append_pair("sid", sid);
        Some(url.into())
    }
}

/// A signed logout token for `target`, bent by the `LogoutToken*` misbehaviours.
fn logout_token(
    shared: &Shared,
    behaviour: &Behaviour,
    target: &LogoutTarget,
) -> Result<String, String> {
    let on = |m: Misbehaviour| behaviour.has(&m);
    let now = jwt::now();
    let mut claims = Map::new();
    let mut set = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    let issuer = shared.issuer_for(behaviour);
    set(
        "iss",
        json!(if on(Misbehaviour::LogoutTokenWrongIssuer) {
            altered_issuer(issuer)
        } else {
            issuer.to_owned()
        }),
    );
    set(
        "aud",
        json!(if on(Misbehaviour::LogoutTokenWrongAudience) {
            format!("{}1", shared.client_id)
        } else {
            shared.client_id.clone()
        }),
    );
    let (iat, exp) = if on(Misbehaviour::LogoutTokenExpired) {
        (now - 4 * 60, now - 2 * 60)
    } else {
        (now, now + LOGOUT_TOKEN_LIFETIME)
    };
    set("iat", json!(iat));
    set("exp", json!(exp));
    let jti = {
        let mut last = lock(&shared.last_logout_jti);
        let jti = match (&*last, on(Misbehaviour::LogoutTokenRepeatedJti)) {
            (Some(previous), true) => previous.clone(),
            _ => random_token(),
        };
        *last = Some(jti.clone());
        jti
    };
    set("jti", json!(jti));
    if on(Misbehaviour::LogoutTokenWrongEvent) {
        set(
            "events",
            json!({ "http://schemas.openid.net/event/other": {} }),
        );
    } else if !on(Misbehaviour::LogoutTokenNoEvents) {
        let mut events = Map::new();
        events.insert(BACKCHANNEL_LOGOUT_EVENT.to_owned(), json!({}));
        set("events", Value::Object(events));
    }
    if !on(Misbehaviour::LogoutTokenNoSidNoSub) {
        let (sid, sub) = match target {
            LogoutTarget::Sid(sid) => (Some(sid), None),
            LogoutTarget::Sub(sub) => (None, Some(sub)),
            LogoutTarget::SidAndSub { sid, sub } => (Some(sid), Some(sub)),
        };
        if let Some(sid) = sid {
            set("sid", json!(sid));
        }
        if let Some(sub) = sub {
            set("sub", json!(sub));
        }
    }
    if on(Misbehaviour::LogoutTokenWithNonce) {
        set("nonce", json!(random_token()));
    }

    let signer = if on(Misbehaviour::LogoutTokenAlgNone) {
        Signer::Unsigned
    } else if on(Misbehaviour::LogoutTokenWrongAlg) {
        Signer::Hs256(shared.client_secret.as_bytes().to_vec())
    } else {
        Signer::Rs256Current
    };
    let keys = lock(&shared.keys);
    let mut header = Map::new();
    header.insert("alg".to_owned(), json!(signer.alg()));
    header.insert("typ".to_owned(), json!("logout+jwt"));
    header.insert("kid".to_owned(), json!(keys.kid()));
    jwt::sign(
        &header,
        &claims,
        &signer,
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &keys,
        on(Misbehaviour::LogoutTokenBadSignature),
    )
}
