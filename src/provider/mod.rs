//! One OpenID provider at run time: discovery, key set, authorization request, token
//! exchange and ID-token verification.
//!
//! Nothing here touches the network until the first call that needs the provider, so the layer
//! can be built while a provider is down; [`Provider::ready`] is where discovery happens.

mod claims;
mod client_auth;
mod discovery;
mod http;
mod logout_token;
mod refresh;
mod userinfo;
mod verify;

#[cfg(all(test, feature = "testing"))]
mod tests;

use std::fmt;

use openidconnect::{
    AccessToken, AuthType, AuthorizationCode, ClientId, ClientSecret, IssuerUrl, JsonWebKeySet,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError,
};
use serde_json::{Map, Value};
use url::Url;

use crate::config::{
    reserved_param, ConfigError, ProviderConfig, TokenEndpointAuth, ValidProvider,
};
use crate::error::LoginError;
use crate::util::bounded;

use self::claims::{IdToken, TokenClient, TokenErrorResponse};
use self::client_auth::ClientAuth;
use self::discovery::{tenant_issuer, IssuerKind};
use self::discovery::{Cache, Discovered, Snapshot, MAX_SHOWN};
use self::http::{HttpClient, HttpError};
use self::logout_token::Refused;
pub(crate) use self::logout_token::{peek_issuer, LogoutTarget};
pub(crate) use self::refresh::{RefreshError, Refreshed};
pub(crate) use self::userinfo::UserInfoFailure;
use self::verify::{Expected, NonceRule, Rejection};
use crate::client_key::JWT_BEARER;
use crate::config::Platform;

/// One configured OpenID provider: its configuration, its HTTP client and its cached discovery
/// document and key set.
///
/// All methods take `&self`; share it behind an `Arc`. Discovery is lazy: the first method that
/// needs the provider fetches it, and a provider that is down is retried after a short back-off.
pub(crate) struct Provider {
    config: ProviderConfig,
    /// How its token requests authenticate the app.
    auth: ClientAuth,
    redirect_uri: RedirectUrl,
    http: HttpClient,
    cache: Cache,
}

/// A login about to start: the URL to send the browser to, and the secrets the callback needs.
/// The caller stores `nonce` and `pkce_verifier` with its `state`.
pub(crate) struct AuthorizationRequest {
    /// The provider's authorization endpoint with every parameter.
    pub url: Url,
    /// The `nonce` sent; the ID token must carry it back.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub pkce_verifier: String,
}

/// What the callback checks the authorization response's `iss` against (RFC 9207).
pub(crate) struct IssuerInfo {
    /// `authorization_response_iss_parameter_supported: true` in discovery.
    pub(crate) iss_parameter_supported: bool,
}

/// What RP-initiated logout tells the provider about whom it signs out.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EndSessionHints<'a> {
    /// The ID token the session was made with (`id_token_hint`).
    pub(crate) id_token: Option<&'a str>,
    /// The user's `login_hint` claim, sent as `logout_hint`.
    pub(crate) logout: Option<&'a str>,
}

/// The result of a successful code exchange.
pub(crate) struct TokenSet {
    /// Every claim of the verified ID token, standard and custom.
    pub claims: Map<String, Value>,
    /// The raw ID token (JWT).
    pub id_token: String,
    /// The access token.
    pub access_token: String,
    /// How long the access token lives, when the provider said (`expires_in`).
    pub expires_in: Option<std::time::Duration>,
    /// The refresh token, when the provider gave one.
    pub refresh_token: Option<String>,
}

impl Provider {
    /// Builds the provider's HTTP client from checked settings. Does not touch the network.
    pub(crate) fn new(
        provider: &ValidProvider,
        redirect_uri: Url,
        platform: &Platform,
    ) -> Result<Provider, ConfigError> {
        let config = provider.config().clone();
        let auth = ClientAuth::new(config.credential(), platform).map_err(|reason| {
            let key = provider.key("client_assertion");
            ConfigError::InvalidValue {
                reason,
                origin: provider.origin_of(&key),
                key,
            }
        })?;
        let http = HttpClient::new(config.client_kwargs().timeout()).map_err(|reason| {
            let key = provider.key("client_kwargs");
            ConfigError::InvalidValue {
                reason: format!("cannot build the HTTP client: {reason}"),
                origin: provider.origin_of(&key),
                key,
            }
        })?;
        Ok(Provider {
            auth,
            redirect_uri: RedirectUrl::from_url(redirect_uri),
            http,
            cache: Cache::new(
                config.name(),
                provider.discovery_url().clone(),
                config.server_metadata_url(),
                config.access_rules().tenants().is_some()
                    || config.access_rules().allow_any_tenant(),
            ),
            config,
        })
    }

    /// The provider's name (`default` for `[auth]` itself).
    pub(crate) fn name(&self) -> &str {
        self.config.name()
    }

    /// Who may log in with this provider.
    pub(crate) fn access_rules(&self) -> &crate::config::AccessRules {
        self.config.access_rules()
    }

    /// Makes sure the discovery document and key set are cached.
    ///
    /// Fetched on first use and again when older than 24 hours; concurrent callers share one
    /// fetch. A failure is remembered for a few seconds (so a dead provider is not hammered) and
    /// retried by the first call after that. If a refresh fails while an older document is
    /// cached, the older one stays in use.
    pub(crate) async fn ready(&self) -> Result<(), LoginError> {
        self.snapshot().await.map(|_| ())
    }

    async fn snapshot(&self) -> Result<std::sync::Arc<Snapshot>, LoginError> {
        self.cache
            .snapshot(&self.http)
            .await
            // The whole story, URLs included, was logged where it happened; the page gets
            // the words without them.
            .map_err(|unavailable| LoginError::ProviderUnavailable {
                provider: self.config.name().to_owned(),
                reason: unavailable.public,
            })
    }

    /// The authorization URL for a new login with the caller's `state`.
    ///
    /// Always uses a fresh nonce and PKCE with S256 (even when discovery does not advertise
    /// it: providers that do not know PKCE ignore the parameters). Sends `response_type=code`,
    /// `client_id`, `redirect_uri`, `scope`, `prompt` when configured, and every
    /// `client_kwargs` authorization parameter. A query already in the provider's
    /// authorization endpoint is kept.
    pub(crate) async fn authorization_request(
        &self,
        state: &str,
    ) -> Result<AuthorizationRequest, LoginError> {
        let snapshot = self.snapshot().await?;
        let kwargs = self.config.client_kwargs();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = Nonce::new_random();

        let mut scopes: Vec<&str> = kwargs.scope().iter().map(String::as_str).collect();
        if !scopes.contains(&"openid") {
            scopes.insert(0, "openid");
        }

        let mut url = snapshot.discovered.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", self.config.client_id())
                .append_pair("redirect_uri", self.redirect_uri.as_str())
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", nonce.secret())
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256");
            if let Some(prompt) = kwargs.prompt() {
                query.append_pair("prompt", prompt);
            }
            for (name, value) in kwargs.authorize_params() {
                // The configuration refuses these (from the same list); this is the backstop.
                if reserved_param(name).is_some() {
                    tracing::warn!(provider = %self.config.name(), param = %name, "ignoring a configured authorization parameter the login flow sets itself");
                    continue;
                }
                query.append_pair(name, value);
            }
        }
        Ok(AuthorizationRequest {
            url,
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// The issuer from discovery; `None` until discovered.
    #[cfg(test)]
    pub(crate) fn issuer(&self) -> Option<String> {
        self.cache
            .current()
            .map(|s| s.discovered.issuer.as_str().to_owned())
    }

    /// Whether discovery advertised `authorization_response_iss_parameter_supported: true`.
    #[cfg(test)]
    pub(crate) fn advertises_iss_parameter(&self) -> bool {
        self.cache
            .current()
            .is_some_and(|s| s.discovered.iss_parameter_supported)
    }

    /// `fetch_userinfo`: whether the userinfo response joins the claims.
    pub(crate) fn fetches_userinfo(&self) -> bool {
        self.config.fetches_userinfo()
    }

    /// Whether this provider issued a token naming `iss` (with `tid`, for a multi-tenant
    /// provider), after waiting for discovery if needed.
    pub(crate) async fn is_issuer(&self, iss: &str, tid: Option<&str>) -> bool {
        let Ok(snapshot) = self.snapshot().await else {
            return false;
        };
        let discovered = &snapshot.discovered;
        match discovered.issuer_kind {
            IssuerKind::Exact => discovered.issuer.as_str() == iss,
            // Without the token's `tid` (a front-channel logout names only `iss`), the
            // tenant is the segment of `iss` that makes it the template's issuer.
            IssuerKind::TenantTemplate => match tid {
                Some(tid) => tenant_issuer(discovered.issuer.as_str(), tid)
                    .is_some_and(|expected| expected == iss),
                None => iss.split('/').any(|segment| {
                    tenant_issuer(discovered.issuer.as_str(), segment).as_deref() == Some(iss)
                }),
            },
        }
    }

    /// Verifies a back-channel logout token signed by this provider and says whose sessions
    /// it ends. The key set is fetched again once when the token names a key it lacks.
    pub(crate) async fn verify_logout_token(&self, jwt: &str) -> Result<LogoutTarget, String> {
        let snapshot = self.snapshot().await.map_err(|e| e.to_string())?;
        let discovered = &snapshot.discovered;
        let issuer = token_issuer(discovered, jwt)?;
        let expected = logout_token::Expected {
            client_id: self.config.client_id(),
            issuer: issuer.as_str(),
            signing_algs: &discovered.signing_algs,
        };
        let verified = match logout_token::verify(jwt, &snapshot.keys, &expected) {
            Err(Refused::UnknownKey) => {
                match self.cache.refetch_keys(&self.http, &snapshot).await {
                    Some(newer) => logout_token::verify(jwt, &newer.keys, &expected),
                    None => Err(Refused::UnknownKey),
                }
            }
            other => other,
        };
        verified.map_err(|refused| match refused {
            Refused::UnknownKey => {
                "the logout token is signed with a key the provider does not publish (kid)"
                    .to_owned()
            }
            Refused::Invalid(reason) => reason.to_owned(),
        })
    }

    /// Whether the provider promises RFC 9207's `iss` parameter, after waiting for discovery
    /// if this process has not done it yet.
    pub(crate) async fn discovered_issuer(&self) -> Result<IssuerInfo, LoginError> {
        let snapshot = self.snapshot().await?;
        Ok(IssuerInfo {
            iss_parameter_supported: snapshot.discovered.iss_parameter_supported,
        })
    }

    /// Exchanges `code` (with the PKCE verifier and the configured redirect URI) at the token
    /// endpoint and verifies the ID token against `nonce`. Returns the verified claims.
    pub(crate) async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<TokenSet, LoginError> {
        // An empty nonce would match a token carrying an empty one: never a real login.
        if nonce.is_empty() {
            return Err(LoginError::IdTokenRejected(
                "no nonce was recorded for this login".to_owned(),
            ));
        }
        let snapshot = self.snapshot().await?;
        let client = self.token_client(&snapshot.discovered);
        let assertion = self.client_assertion(&snapshot.discovered).await?;

        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        if let Some(assertion) = &assertion {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion);
        }
        let response = request
            .request_async(&self.http.token_endpoint())
            .await
            .map_err(|e| self.token_error(e, &[code, pkce_verifier]))?;

        let id_token = response.extra_fields().id_token().ok_or_else(|| {
            LoginError::TokenRequestFailed(
                "the token response has no id_token (is the openid scope requested?)".to_owned(),
            )
        })?;
        let access_token = response.access_token();
        let nonce = Nonce::new(nonce.to_owned());
        self.verify(id_token, access_token, NonceRule::Equals(&nonce), &snapshot)
            .await
            .map_err(|reason| {
                tracing::warn!(provider = %self.config.name(), reason = %reason, "ID token rejected");
                LoginError::IdTokenRejected(reason)
            })?;
        let id_token = match serde_json::to_value(id_token) {
            Ok(Value::String(jwt)) => jwt,
            _ => {
                return Err(LoginError::IdTokenRejected(
                    "the token could not be stored".to_owned(),
                ))
            }
        };
        // The payload exactly as the provider signed it (what Streamlit shows, and what the
        // session keeps), not openidconnect's re-serialisation of it.
        let claims = verify::jwt_part(&id_token, 1).ok_or_else(|| {
            LoginError::IdTokenRejected("the token's claims could not be read".to_owned())
        })?;
        Ok(TokenSet {
            claims,
            id_token,
            access_token: access_token.secret().clone(),
            expires_in: response.expires_in(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// The client for the token endpoint: with the secret when the app has one; with a
    /// client assertion, `client_id` goes in the body next to it (RFC 7523 section 2.2).
    fn token_client(&self, discovered: &Discovered) -> TokenClient<openidconnect::EndpointSet> {
        let client = TokenClient::new(
            ClientId::new(self.config.client_id().to_owned()),
            discovered.issuer.clone(),
            JsonWebKeySet::default(),
        )
        .set_token_uri(discovered.token_endpoint.clone())
        .set_redirect_uri(self.redirect_uri.clone());
        match self.auth.secret() {
            Some(secret) => client
                .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
                .set_auth_type(self.auth_type(discovered.post_only)),
            None => client.set_auth_type(AuthType::RequestBody),
        }
    }

    /// The client assertion for a token request, `None` with a secret.
    async fn client_assertion(
        &self,
        discovered: &Discovered,
    ) -> Result<Option<String>, LoginError> {
        self.auth
            .assertion(
                &self.http,
                self.config.client_id(),
                discovered.token_endpoint.url().as_str(),
            )
            .await
            .map_err(|failure| LoginError::ClientCredentialUnavailable {
                provider: self.name().to_owned(),
                reason: failure.public,
                detail: failure.detail,
            })
    }

    /// Verifies with the cached keys; when the token names a key we do not have, fetches the
    /// key set once more (the provider may have rotated its keys) and tries again.
    async fn verify(
        &self,
        id_token: &IdToken,
        access_token: &AccessToken,
        nonce: NonceRule<'_>,
        snapshot: &Snapshot,
    ) -> Result<claims::IdTokenClaims, String> {
        let discovered = &snapshot.discovered;
        let issuer = token_issuer(discovered, &id_token.to_string())?;
        let expected = Expected {
            client_id: self.config.client_id(),
            issuer: &issuer,
            signing_algs: &discovered.signing_algs,
            nonce,
            access_token,
        };
        match verify::verify(id_token, &snapshot.keys, &expected) {
            Err(Rejection::NoMatchingKey) => {
                match self.cache.refetch_keys(&self.http, snapshot).await {
                    Some(newer) => verify::verify(id_token, &newer.keys, &expected),
                    None => Err(Rejection::NoMatchingKey),
                }
            }
            other => other,
        }
        .map_err(Rejection::into_reason)
    }

    /// `client_secret_basic` unless configured otherwise or the provider only takes
    /// `client_secret_post`. oauth2 form-encodes the id and secret before Base64 for Basic, as
    /// RFC 6749 2.3.1 requires (oauth2 5.0.0 `endpoint_request`).
    fn auth_type(&self, provider_post_only: bool) -> AuthType {
        match self.config.client_kwargs().token_endpoint_auth_method() {
            Some(TokenEndpointAuth::ClientSecretPost) => AuthType::RequestBody,
            Some(TokenEndpointAuth::ClientSecretBasic) => AuthType::BasicAuth,
            None if provider_post_only => AuthType::RequestBody,
            None => AuthType::BasicAuth,
        }
    }

    /// Sorts a failed token request into "the provider refused" and "the exchange failed".
    /// `secrets` (code, verifier) and the client secret are scrubbed from anything the provider
    /// wrote, in case it echoes them.
    fn token_error(
        &self,
        error: RequestTokenError<HttpError, TokenErrorResponse>,
        secrets: &[&str],
    ) -> LoginError {
        let scrub = |text: &str| self.scrub(text, secrets);
        let failure = match error {
            RequestTokenError::ServerResponse(response) => {
                let code = scrub(response.error().as_ref());
                let message = match response.error_description() {
                    Some(description) => format!("{code} ({})", scrub(description)),
                    None => code,
                };
                tracing::warn!(provider = %self.config.name(), error = %message, "token endpoint refused the code");
                return LoginError::TokenRejected(message);
            }
            RequestTokenError::Request(e) => {
                // The URL is discovery's choice: it goes to the log, not to the page.
                tracing::warn!(provider = %self.config.name(), reason = %e, "token request failed");
                return LoginError::TokenRequestFailed(e.public("its token endpoint"));
            }
            RequestTokenError::Parse(_, body) => return parse_failure(&body),
            RequestTokenError::Other(message) => scrub(&message),
        };
        tracing::warn!(provider = %self.config.name(), reason = %failure, "token request failed");
        LoginError::TokenRequestFailed(failure)
    }

    /// `text` (which the provider wrote) bounded, with `secrets` and the client secret
    /// replaced, in case the provider echoes them.
    fn scrub(&self, text: &str, secrets: &[&str]) -> String {
        let mut text = text.to_owned();
        for secret in secrets
            .iter()
            .copied()
            .chain(self.auth.secret().map(|s| s.expose()))
        {
            if !secret.is_empty() {
                text = text.replace(secret, "[redacted]");
            }
        }
        bounded(&text, MAX_SHOWN)
    }

    /// The RP-initiated logout URL, if discovery has an `end_session_endpoint`: adds
    /// `client_id`, `id_token_hint` (when given), `post_logout_redirect_uri` and `state` to
    /// whatever query the endpoint already has. `None` if the provider has no such endpoint or
    /// cannot be discovered right now.
    pub(crate) async fn end_session_url(
        &self,
        hints: EndSessionHints<'_>,
        post_logout_redirect_uri: &str,
        state: &str,
    ) -> Option<Url> {
        let snapshot = self.snapshot().await.ok()?;
        let mut url = snapshot.discovered.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", self.config.client_id());
            if let Some(hint) = hints.id_token {
                query.append_pair("id_token_hint", hint);
            }
            // Microsoft Entra ID: the `login_hint` optional claim, sent back as
            // `logout_hint`, signs the right account out without an account picker.
            if let Some(hint) = hints.logout {
                query.append_pair("logout_hint", hint);
            }
            query
                .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
                .append_pair("state", state);
        }
        Some(url)
    }
}

/// The issuer `jwt` must name: the discovered one, or for Microsoft Entra ID's multi-tenant
/// documents the template with the token's own `tid` put in (so a token whose `iss` names
/// another tenant than its `tid` fails the issuer check).
fn token_issuer(discovered: &Discovered, jwt: &str) -> Result<IssuerUrl, String> {
    match discovered.issuer_kind {
        IssuerKind::Exact => Ok(discovered.issuer.clone()),
        IssuerKind::TenantTemplate => {
            let tid = verify::jwt_part(jwt, 1)
                .and_then(|claims| claims.get("tid")?.as_str().map(str::to_owned))
                .ok_or_else(|| {
                    "the token has no tid claim, which a multi-tenant provider's tokens carry"
                        .to_owned()
                })?;
            tenant_issuer(discovered.issuer.as_str(), &tid)
                .and_then(|iss| IssuerUrl::new(iss).ok())
                .ok_or_else(|| "the token's tid claim is not a tenant id".to_owned())
        }
    }
}

/// A 2xx/4xx JSON answer oauth2 could not read as a token response or OAuth error. The body is
/// only inspected to say which part is wrong; none of it is repeated.
fn parse_failure(body: &[u8]) -> LoginError {
    let reason = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => match (fields.get("access_token"), fields.get("id_token")) {
            (Some(Value::String(_)), Some(Value::String(jwt)))
                if jwt.parse::<IdToken>().is_err() =>
            {
                return LoginError::IdTokenRejected(verify::malformed_reason(jwt));
            }
            (Some(Value::String(_)), _) => "the token response is malformed",
            _ => "the token response has no access_token",
        },
        _ => "the token response is not a JSON object",
    };
    LoginError::TokenRequestFailed(reason.to_owned())
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.config.name())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("url", &http::display_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("sub", &self.claims.get("sub"))
            .finish_non_exhaustive()
    }
}
