//! The development provider's HTTP endpoints.
//!
//! Every handler answers a malformed request with a 4xx and never panics: nothing a request
//! carries reaches an `unwrap`. Codes, tokens and secrets never reach the log.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, EndSessionUrl, IssuerUrl, JsonWebKeySetUrl,
    LogoutProviderMetadata, ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use url::{Host, Url};

use super::behaviour::{Behaviour, Endpoint, Misbehaviour};
use super::keys::{SigningKeys, SPARE_KID};
use super::tokens::{
    altered_issuer, sign_id_token, IdTokenInput, ATTACKER_CERT_PATH, ATTACKER_JWKS_PATH,
    ATTACKER_KID,
};
use super::user::DevUser;
use super::{pages, EndSessionCall, RequestCounts};
use crate::config::TokenEndpointAuth;

pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS_PATH: &str = "/jwks";
pub(crate) const AUTHORIZE_PATH: &str = "/authorize";
pub(crate) const TOKEN_PATH: &str = "/token";
pub(crate) const USERINFO_PATH: &str = "/userinfo";
pub(crate) const END_SESSION_PATH: &str = "/logout";

/// Names of the sign-in form's own fields; never resubmitted as authorization parameters.
pub(crate) const FORM_FIELDS: [&str; 4] = ["name", "email", "claims", "action"];

/// Which client authentication the token endpoint accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptedAuth {
    Both,
    Only(TokenEndpointAuth),
}

impl AcceptedAuth {
    fn accepts(self, method: TokenEndpointAuth) -> bool {
        match self {
            AcceptedAuth::Both => true,
            AcceptedAuth::Only(only) => only == method,
        }
    }

    fn advertised(self) -> Vec<CoreClientAuthMethod> {
        let all = [
            (
                TokenEndpointAuth::ClientSecretBasic,
                CoreClientAuthMethod::ClientSecretBasic,
            ),
            (
                TokenEndpointAuth::ClientSecretPost,
                CoreClientAuthMethod::ClientSecretPost,
            ),
        ];
        all.into_iter()
            .filter(|(ours, _)| self.accepts(*ours))
            .map(|(_, core)| core)
            .collect()
    }
}

/// Per-endpoint request counters.
#[derive(Default)]
pub(crate) struct Counters {
    discovery: AtomicU64,
    jwks: AtomicU64,
    authorize: AtomicU64,
    sign_in: AtomicU64,
    token: AtomicU64,
    userinfo: AtomicU64,
    end_session: AtomicU64,
    redirect_targets: AtomicU64,
    attacker_keys: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RequestCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            discovery: read(&self.discovery),
            jwks: read(&self.jwks),
            authorize: read(&self.authorize),
            sign_in: read(&self.sign_in),
            token: read(&self.token),
            userinfo: read(&self.userinfo),
            end_session: read(&self.end_session),
            redirect_targets: read(&self.redirect_targets),
            attacker_keys: read(&self.attacker_keys),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What a code was issued for; checked again when it is redeemed.
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    scope: String,
    claims: Map<String, Value>,
    auth_time: SystemTime,
    expires: Instant,
    /// Set by the first redemption attempt, successful or not: a code is presented once.
    used: bool,
    /// The access token issued for this code, revoked if the code is replayed (RFC 6749
    /// section 4.1.2).
    issued_token: Option<String>,
}

struct AccessGrant {
    claims: Map<String, Value>,
    expires: Instant,
}

/// State shared by the handlers and the [`DevProvider`](super::DevProvider) handle.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) accepted_auth: AcceptedAuth,
    pub(crate) keys: Mutex<SigningKeys>,
    pub(crate) default_user: Mutex<DevUser>,
    pub(crate) behaviour: Mutex<Behaviour>,
    pub(crate) counters: Counters,
    pub(crate) end_session_calls: Mutex<Vec<EndSessionCall>>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    access_tokens: Mutex<HashMap<String, AccessGrant>>,
    /// The last ID token issued, for [`Misbehaviour::ReplayIdToken`].
    pub(crate) last_id_token: Mutex<Option<String>>,
    /// The random suffix of [`Misbehaviour::RandomJwksUri`], fixed per provider.
    jwks_suffix: String,
}

/// Handlers never panic while holding a lock, so a poisoned lock still holds consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct SharedConfig {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) accepted_auth: AcceptedAuth,
    pub(crate) keys: SigningKeys,
    pub(crate) default_user: DevUser,
}

impl Shared {
    pub(crate) fn new(config: SharedConfig) -> Shared {
        Shared {
            issuer: config.issuer,
            client_id: config.client_id,
            client_secret: config.client_secret,
            redirect_uris: config.redirect_uris,
            post_logout_redirect_uris: config.post_logout_redirect_uris,
            accepted_auth: config.accepted_auth,
            keys: Mutex::new(config.keys),
            default_user: Mutex::new(config.default_user),
            behaviour: Mutex::new(Behaviour::default()),
            counters: Counters::default(),
            end_session_calls: Mutex::new(Vec::new()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            last_id_token: Mutex::new(None),
            jwks_suffix: random_token(),
        }
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    fn behaviour(&self) -> Behaviour {
        lock(&self.behaviour).clone()
    }

    /// The issuer the provider calls itself: its own, or the announced one.
    fn issuer_for<'a>(&'a self, behaviour: &'a Behaviour) -> &'a str {
        behaviour.announced_issuer().unwrap_or(&self.issuer)
    }

    /// The key set's URL as discovery publishes it.
    fn jwks_uri(&self, behaviour: &Behaviour) -> String {
        if behaviour.has(&Misbehaviour::RandomJwksUri) {
            format!("{}{JWKS_PATH}/{}", self.issuer, self.jwks_suffix)
        } else {
            self.endpoint(JWKS_PATH)
        }
    }

    fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.is_empty() {
            is_loopback_http(uri)
        } else {
            self.redirect_uris.iter().any(|r| r == uri)
        }
    }

    /// Streamlit registers only `redirect_uri` with the provider and logs out back to it, so
    /// registered redirect URIs are valid logout targets too.
    fn post_logout_redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.is_empty() && self.post_logout_redirect_uris.is_empty() {
            is_loopback_http(uri)
        } else {
            self.redirect_uris
                .iter()
                .chain(&self.post_logout_redirect_uris)
                .any(|r| r == uri)
        }
    }
}

/// `http` on 127.0.0.1, localhost or [::1], any port and path, no fragment or user info.
pub(crate) fn is_loopback_http(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    };
    url.scheme() == "http"
        && loopback_host
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

pub(crate) fn router(shared: Arc<Shared>, issuer_path: &str) -> Router {
    let path = |p: &str| format!("{issuer_path}{p}");
    Router::new()
        .route(&path(DISCOVERY_PATH), get(discovery))
        .route(&path(JWKS_PATH), get(jwks))
        .route(
            &path(&format!("{JWKS_PATH}/{{suffix}}")),
            get(jwks_suffixed),
        )
        .route(&path(ATTACKER_JWKS_PATH), get(attacker_jwks))
        .route(&path(ATTACKER_CERT_PATH), get(attacker_cert))
        .route(
            &path(AUTHORIZE_PATH),
            get(authorize_page).post(authorize_submit),
        )
        .route(&path(TOKEN_PATH), axum::routing::post(token))
        .route(&path(USERINFO_PATH), get(userinfo).post(userinfo))
        .route(&path(END_SESSION_PATH), get(end_session).post(end_session))
        .fallback(not_found)
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------
// Parameters

/// Decoded `application/x-www-form-urlencoded` parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(input: &[u8]) -> Params {
        Params(
            form_urlencoded::parse(input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The parameter's value; an empty value counts as absent (RFC 6749 section 3.1), a
    /// repeated one is an error.
    fn get(&self, name: &str) -> Result<Option<&str>, String> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("the `{name}` parameter is repeated"));
        }
        Ok(first)
    }

    /// The first value, for echoing `state` even in a request that is otherwise broken.
    fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// Responses

fn set_header(response: &mut Response, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    set_header(
        &mut response,
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    );
    set_header(&mut response, header::CACHE_CONTROL, "no-store");
    set_header(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    );
    set_header(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_header(&mut response, header::REFERRER_POLICY, "no-referrer");
    response
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, pages::error(title, message))
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            set_header(&mut response, header::CONTENT_TYPE, "application/json");
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "development provider: JSON serialization failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "serialization failed")
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    set_header(
        &mut response,
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    );
    response
}

/// `no-store` responses that carry credentials or one-time values (RFC 6749 section 5.1).
fn no_store(mut response: Response) -> Response {
    set_header(&mut response, header::CACHE_CONTROL, "no-store");
    set_header(&mut response, header::PRAGMA, "no-cache");
    response
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    ))
}

fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            response.headers_mut().insert(header::LOCATION, value);
            set_header(&mut response, header::CACHE_CONTROL, "no-store");
            response
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The redirect target cannot be sent in a Location header.",
        ),
    }
}

/// `base` with `params` appended to its query (keeping any query it already has).
fn with_query(base: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = Url::parse(base).ok()?;
    // `query_pairs_mut` leaves a bare `?` behind even when nothing is appended.
    if !params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    Some(url.into())
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

// ---------------------------------------------------------------------------------------
// Discovery and keys

/// Discovery fields openidconnect's [`ProviderMetadata`] has no slot for.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ExtraMetadata {
    code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

type DevProviderMetadata = ProviderMetadata<
    LogoutProviderMetadata<ExtraMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

const CLAIMS_SUPPORTED: [&str; 12] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "email",
    "email_verified",
    "preferred_username",
];

/// Also called at start-up, so an issuer that cannot be expressed fails `start()` rather
/// than every discovery request.
pub(crate) fn discovery_document(shared: &Shared, behaviour: &Behaviour) -> Result<Value, String> {
    let url_err = |e: url::ParseError| e.to_string();
    let metadata = DevProviderMetadata::new(
        IssuerUrl::new(shared.issuer.clone()).map_err(url_err)?,
        AuthUrl::new(shared.endpoint(AUTHORIZE_PATH)).map_err(url_err)?,
        JsonWebKeySetUrl::new(shared.jwks_uri(behaviour)).map_err(url_err)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        LogoutProviderMetadata {
            end_session_endpoint: Some(
                EndSessionUrl::new(shared.endpoint(END_SESSION_PATH)).map_err(url_err)?,
            ),
            additional_metadata: ExtraMetadata {
                code_challenge_methods_supported: vec!["S256".to_owned()],
                authorization_response_iss_parameter_supported: true,
            },
        },
    )
    .set_token_endpoint(Some(
        TokenUrl::new(shared.endpoint(TOKEN_PATH)).map_err(url_err)?,
    ))
    .set_userinfo_endpoint(Some(
        UserInfoUrl::new(shared.endpoint(USERINFO_PATH)).map_err(url_err)?,
    ))
    .set_scopes_supported(Some(
        ["openid", "email", "profile"]
            .into_iter()
            .map(|s| Scope::new(s.to_owned()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![CoreGrantType::AuthorizationCode]))
    .set_token_endpoint_auth_methods_supported(Some(shared.accepted_auth.advertised()))
    .set_claims_supported(Some(
        CLAIMS_SUPPORTED
            .into_iter()
            .map(|c| CoreClaimName::new(c.to_owned()))
            .collect(),
    ));
    let mut document = serde_json::to_value(&metadata).map_err(|e| e.to_string())?;
    if let Value::Object(fields) = &mut document {
        misbehave_in_discovery(fields, behaviour);
    }
    Ok(document)
}

/// The discovery misbehaviours, applied to the JSON so any value can be written.
fn misbehave_in_discovery(fields: &mut Map<String, Value>, behaviour: &Behaviour) {
    let mut set = |name: &str, value: Value| {
        fields.insert(name.to_owned(), value);
    };
    if let Some(issuer) = behaviour.announced_issuer() {
        set("issuer", Value::String(issuer.to_owned()));
    }
    let algs: Option<Vec<String>> = if let Some(algs) = behaviour.signing_algs() {
        Some(algs.to_vec())
    } else if behaviour.has(&Misbehaviour::AlgNone) {
        Some(vec!["RS256".to_owned(), "none".to_owned()])
    } else if behaviour.any(&[
        Misbehaviour::Hs256WithClientSecret,
        Misbehaviour::Hs256WithPublicKeyPem,
        Misbehaviour::Hs256WithPublicKeyModulus,
    ]) {
        Some(vec!["RS256".to_owned(), "HS256".to_owned()])
    } else {
        None
    };
    if let Some(algs) = algs {
        set(
            "id_token_signing_alg_values_supported",
            Value::Array(algs.into_iter().map(Value::String).collect()),
        );
    }
    if behaviour.has(&Misbehaviour::IssParameterNotAdvertised) {
        fields.remove("authorization_response_iss_parameter_supported");
    }
}

/// Whether this request is the target of a [`Misbehaviour::Redirect`] (it carries `moved=1`);
/// counted in [`RequestCounts::redirect_targets`].
fn redirect_target(shared: &Shared, query: Option<&str>) -> bool {
    let moved = query.is_some_and(|q| q.split('&').any(|pair| pair == "moved=1"));
    if moved {
        bump(&shared.counters.redirect_targets);
    }
    moved
}

/// A `307` to the same URL with `?moved=1`, or `None` when `endpoint` does not redirect (or
/// this request already is the redirect's target).
fn misbehaving_redirect(
    shared: &Shared,
    behaviour: &Behaviour,
    endpoint: Endpoint,
    uri: &Uri,
    query: Option<&str>,
) -> Option<Response> {
    if redirect_target(shared, query) || !behaviour.redirects(endpoint) {
        return None;
    }
    let mut target = Url::parse(&shared.issuer).ok()?;
    target.set_path(uri.path());
    target.set_query(Some("moved=1"));
    tracing::debug!(
        ?endpoint,
        "development provider: misbehaving with a redirect"
    );
    Some(redirect(StatusCode::TEMPORARY_REDIRECT, target.as_str()))
}

async fn discovery(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    bump(&shared.counters.discovery);
    let behaviour = shared.behaviour();
    if let Some(response) = misbehaving_redirect(
        &shared,
        &behaviour,
        Endpoint::Discovery,
        &uri,
        query.as_deref(),
    ) {
        return response;
    }
    tracing::debug!("development provider: discovery");
    match discovery_document(&shared, &behaviour) {
        Ok(document) => json_response(StatusCode::OK, &document),
        Err(e) => {
            tracing::error!(error = %e, "development provider: discovery document failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "discovery document failed",
            )
        }
    }
}

async fn jwks(State(shared): State<Arc<Shared>>, uri: Uri, RawQuery(query): RawQuery) -> Response {
    bump(&shared.counters.jwks);
    let behaviour = shared.behaviour();
    if behaviour.has(&Misbehaviour::RandomJwksUri) {
        // Only the URL discovery names serves the keys.
        return not_found().await;
    }
    key_set(&shared, &behaviour, &uri, query.as_deref())
}

async fn jwks_suffixed(
    State(shared): State<Arc<Shared>>,
    Path(suffix): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    bump(&shared.counters.jwks);
    let behaviour = shared.behaviour();
    if !behaviour.has(&Misbehaviour::RandomJwksUri) || suffix != shared.jwks_suffix {
        return not_found().await;
    }
    key_set(&shared, &behaviour, &uri, query.as_deref())
}

/// Keys no client can use, for [`Misbehaviour::UnparseableKeys`]. Some of them do parse as
/// JWKs (with their key material missing), which is the harder case for a client.
fn unparseable_keys() -> Vec<Value> {
    vec![
        json!({"kty": "RSA", "kid": "broken-base64", "use": "sig", "n": "!!not base64!!", "e": "AQAB"}),
        json!({"kty": "quantum", "kid": "unknown-kty", "use": "sig"}),
        json!({"kid": "no-kty", "use": "sig"}),
        json!({"kty": "EC", "kid": "unknown-curve", "crv": "P-1024", "x": "AAAA", "y": "AAAA"}),
        json!(42),
        json!("not a key"),
    ]
}

fn key_set(shared: &Shared, behaviour: &Behaviour, uri: &Uri, query: Option<&str>) -> Response {
    if let Some(response) = misbehaving_redirect(shared, behaviour, Endpoint::Jwks, uri, query) {
        return response;
    }
    if behaviour.has(&Misbehaviour::JwksUnavailable) {
        tracing::debug!("development provider: key set misbehaving with 503");
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the key set is unavailable",
        );
    }
    tracing::debug!("development provider: key set");
    let keys = lock(&shared.keys);
    let mut published = Vec::new();
    if !behaviour.has(&Misbehaviour::OnlyUnparseableKeys) {
        published.push(keys.public_jwk());
    }
    if behaviour.has(&Misbehaviour::NoKeyIdSeveralKeys) {
        published.push(keys.other_public_jwk(SPARE_KID));
    }
    if behaviour.any(&[
        Misbehaviour::UnparseableKeys,
        Misbehaviour::OnlyUnparseableKeys,
    ]) {
        published.extend(unparseable_keys());
    }
    json_response(StatusCode::OK, &json!({ "keys": published }))
}

/// The attacker's key set that [`Misbehaviour::ForeignKeyInJku`] tokens point at. A client
/// that fetches it is counted in [`RequestCounts::attacker_keys`].
async fn attacker_jwks(State(shared): State<Arc<Shared>>) -> Response {
    bump(&shared.counters.attacker_keys);
    tracing::debug!("development provider: the attacker's key set was fetched");
    let key = lock(&shared.keys).other_public_jwk(ATTACKER_KID);
    json_response(StatusCode::OK, &json!({ "keys": [key] }))
}

/// The certificate URL of [`Misbehaviour::ForeignKeyInX5u`]; there is no certificate, the
/// request is only counted.
async fn attacker_cert(State(shared): State<Arc<Shared>>) -> Response {
    bump(&shared.counters.attacker_keys);
    tracing::debug!("development provider: the attacker's certificate URL was fetched");
    plain(StatusCode::NOT_FOUND, "no certificate here")
}

// ---------------------------------------------------------------------------------------
// Authorization endpoint

/// A validated authorization request.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    scope: String,
    code_challenge: String,
    login_hint: Option<String>,
    prompt_none: bool,
    /// The parameters to carry through the sign-in form.
    hidden: Vec<(String, String)>,
}

/// How a broken authorization request is answered.
enum Rejection {
    /// Client or redirect URI cannot be trusted: show a page, redirect nowhere.
    Page {
        title: &'static str,
        message: String,
    },
    /// Send the error back to the (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        description: String,
    },
}

fn validate_authorize(shared: &Shared, params: &Params) -> Result<AuthorizeRequest, Rejection> {
    let bad_page = |title: &'static str, message: &str| {
        tracing::debug!(reason = %message, "development provider: authorization request refused");
        Rejection::Page {
            title,
            message: message.to_owned(),
        }
    };
    let client_id = match params.get("client_id") {
        Ok(Some(id)) => id,
        Ok(None) => return Err(bad_page("Unknown client", "The request has no client_id.")),
        Err(e) => return Err(bad_page("Unknown client", &e)),
    };
    if client_id != shared.client_id {
        return Err(bad_page(
            "Unknown client",
            &format!(
                "This provider knows no client \"{client_id}\" (it only knows \"{}\").",
                shared.client_id
            ),
        ));
    }
    let redirect_uri = match params.get("redirect_uri") {
        Ok(Some(uri)) => uri,
        Ok(None) => {
            return Err(bad_page(
                "Invalid redirect URI",
                "The request has no redirect_uri.",
            ))
        }
        Err(e) => return Err(bad_page("Invalid redirect URI", &e)),
    };
    if !shared.redirect_uri_allowed(redirect_uri) {
        let rule = if shared.redirect_uris.is_empty() {
            "no redirect URI is registered, so only http URLs on 127.0.0.1, localhost or [::1] are accepted".to_owned()
        } else {
            format!("registered: {}", shared.redirect_uris.join(", "))
        };
        return Err(bad_page(
            "Invalid redirect URI",
            &format!(
                "The redirect URI \"{redirect_uri}\" is not registered for this client ({rule})."
            ),
        ));
    }

    let state = params.first("state").map(str::to_owned);
    let refuse = |description: String| {
        tracing::debug!(reason = %description, "development provider: authorization request refused");
        Rejection::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            description,
        }
    };
    let single = |name: &str| params.get(name).map_err(&refuse);

    single("state")?;
    match single("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err(refuse(format!(
                "response_type \"{other}\" is not supported; use \"code\""
            )))
        }
        None => return Err(refuse("response_type is required".to_owned())),
    }
    let scope = single("scope")?.unwrap_or_default().to_owned();
    if !scope.split_ascii_whitespace().any(|s| s == "openid") {
        return Err(refuse("scope must contain \"openid\"".to_owned()));
    }
    match single("code_challenge_method")? {
        Some("S256") => {}
        Some(other) => {
            return Err(refuse(format!(
                "code_challenge_method \"{other}\" is not supported; use \"S256\""
            )))
        }
        None => {
            return Err(refuse(
                "PKCE is required: send code_challenge_method=S256".to_owned(),
            ))
        }
    }
    let code_challenge = match single("code_challenge")? {
        Some(challenge) if is_pkce_value(challenge) => challenge.to_owned(),
        Some(_) => {
            return Err(refuse(
                "code_challenge must be 43 to 128 unreserved characters".to_owned(),
            ))
        }
        None => return Err(refuse("PKCE is required: send a code_challenge".to_owned())),
    };
    let nonce = single("nonce")?.map(str::to_owned);
    let login_hint = single("login_hint")?.map(str::to_owned);
    let prompt_none =
        single("prompt")?.is_some_and(|p| p.split_ascii_whitespace().any(|v| v == "none"));

    let hidden = params
        .0
        .iter()
        .filter(|(k, _)| !FORM_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        nonce,
        scope,
        code_challenge,
        login_hint,
        prompt_none,
        hidden,
    })
}

/// RFC 7636 section 4.1: the verifier (and an S256 challenge) use only unreserved characters.
fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An authorization response, error or success, with `iss` (RFC 9207) unless a misbehaviour
/// drops or alters it.
fn authorization_response(
    shared: &Shared,
    behaviour: &Behaviour,
    status: StatusCode,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    let issuer = shared.issuer_for(behaviour);
    let wrong_issuer = altered_issuer(issuer);
    if behaviour.has(&Misbehaviour::WrongAuthorizationResponseIss) {
        all.push(("iss", &wrong_issuer));
    } else if !behaviour.any(&[
        Misbehaviour::NoAuthorizationResponseIss,
        Misbehaviour::IssParameterNotAdvertised,
    ]) {
        all.push(("iss", issuer));
    }
    match with_query(redirect_uri, &all) {
        Some(location) => redirect(status, &location),
        None => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect URI is not an absolute URL.",
        ),
    }
}

fn reject(
    shared: &Shared,
    behaviour: &Behaviour,
    rejection: Rejection,
    status: StatusCode,
) -> Response {
    match rejection {
        Rejection::Page { title, message } => error_page(StatusCode::BAD_REQUEST, title, &message),
        Rejection::Redirect {
            redirect_uri,
            state,
            description,
        } => authorization_response(
            shared,
            behaviour,
            status,
            &redirect_uri,
            state.as_deref(),
            &[
                ("error", "invalid_request"),
                ("error_description", &description),
            ],
        ),
    }
}

async fn authorize_page(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    bump(&shared.counters.authorize);
    let behaviour = shared.behaviour();
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let request = match validate_authorize(&shared, &params) {
        Ok(request) => request,
        Err(rejection) => return reject(&shared, &behaviour, rejection, StatusCode::FOUND),
    };
    if request.prompt_none {
        // There is no provider session to reuse: every login here needs the form.
        tracing::debug!("development provider: prompt=none refused with login_required");
        return authorization_response(
            &shared,
            &behaviour,
            StatusCode::FOUND,
            &request.redirect_uri,
            request.state.as_deref(),
            &[
                ("error", "login_required"),
                (
                    "error_description",
                    "The development provider has no session; prompt=none cannot succeed",
                ),
            ],
        );
    }
    tracing::debug!("development provider: showing the sign-in form");
    let user = lock(&shared.default_user).clone();
    let email = request
        .login_hint
        .clone()
        .unwrap_or_else(|| user.email().to_owned());
    let claims = user.form_claims();
    let claims_text = if claims.is_empty() {
        String::new()
    } else {
        serde_json::to_string_pretty(&claims).unwrap_or_default()
    };
    sign_in_form(
        &shared,
        &request,
        StatusCode::OK,
        user.name(),
        &email,
        &claims_text,
        None,
    )
}

fn sign_in_form(
    shared: &Shared,
    request: &AuthorizeRequest,
    status: StatusCode,
    name: &str,
    email: &str,
    claims: &str,
    problem: Option<&str>,
) -> Response {
    let action = shared.endpoint(AUTHORIZE_PATH);
    html(
        status,
        pages::sign_in(&pages::SignIn {
            action: &action,
            client_id: &request.client_id,
            redirect_uri: &request.redirect_uri,
            hidden: &request.hidden,
            name,
            email,
            claims,
            problem,
        }),
    )
}

async fn authorize_submit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    bump(&shared.counters.sign_in);
    let behaviour = shared.behaviour();
    let params = Params::parse(&body);
    let request = match validate_authorize(&shared, &params) {
        Ok(request) => request,
        Err(rejection) => return reject(&shared, &behaviour, rejection, StatusCode::SEE_OTHER),
    };
    let field = |name: &str| params.first(name).unwrap_or_default().trim().to_owned();
    let (name, email, claims_text) = (field("name"), field("email"), field("claims"));
    match params.first("action").unwrap_or("sign_in") {
        "sign_in" => {}
        "cancel" => {
            tracing::debug!("development provider: sign-in cancelled");
            return authorization_response(
                &shared,
                &behaviour,
                StatusCode::SEE_OTHER,
                &request.redirect_uri,
                request.state.as_deref(),
                &[
                    ("error", "access_denied"),
                    ("error_description", "The user cancelled"),
                ],
            );
        }
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "The form was submitted with an action other than sign_in or cancel.",
            )
        }
    }
    let form_problem = |problem: &str| {
        tracing::debug!(reason = %problem, "development provider: sign-in form refused");
        sign_in_form(
            &shared,
            &request,
            StatusCode::BAD_REQUEST,
            &name,
            &email,
            &claims_text,
            Some(problem),
        )
    };
    if email.is_empty() {
        return form_problem("Enter an email address.");
    }
    let mut user = DevUser::new(name.clone(), email.clone());
    if !claims_text.is_empty() {
        match serde_json::from_str::<Value>(&claims_text) {
            Ok(Value::Object(extra)) => {
                for (claim, value) in extra {
                    user = user.claim(claim, value);
                }
            }
            Ok(_) => {
                return form_problem(
                    "Extra claims must be a JSON object, like {\"groups\": [\"admin\"]}.",
                )
            }
            Err(e) => return form_problem(&format!("Extra claims are not valid JSON: {e}.")),
        }
    }

    let code = random_token();
    let now = Instant::now();
    {
        let mut codes = lock(&shared.codes);
        codes.retain(|_, grant| grant.expires > now);
        codes.insert(
            code.clone(),
            CodeGrant {
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.clone(),
                scope: request.scope.clone(),
                claims: user.profile_claims(),
                auth_time: SystemTime::now(),
                expires: now + behaviour.code_lifetime,
                used: false,
                issued_token: None,
            },
        );
    }
    tracing::debug!("development provider: signed in, redirecting with a code");
    authorization_response(
        &shared,
        &behaviour,
        StatusCode::SEE_OTHER,
        &request.redirect_uri,
        request.state.as_deref(),
        &[("code", &code)],
    )
}

/// 256 random bits, base64url: codes and access tokens.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// Token endpoint

/// A token-endpoint failure: status, OAuth error code, description, and whether the client
/// tried HTTP Basic (which obliges a `WWW-Authenticate` challenge on 401, RFC 6749 section 5.2).
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl TokenError {
    fn invalid_client(description: impl Into<String>, basic_challenge: bool) -> TokenError {
        TokenError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            basic_challenge,
        }
    }

    fn bad_request(error: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn into_response(self) -> Response {
        tracing::debug!(error = self.error, reason = %self.description, "development provider: token request refused");
        let mut response = oauth_error(self.status, self.error, &self.description);
        if self.basic_challenge {
            set_header(
                &mut response,
                header::WWW_AUTHENTICATE,
                "Basic realm=\"tower-oidc-login development provider\"",
            );
        }
        response
    }
}

async fn token(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bump(&shared.counters.token);
    let behaviour = shared.behaviour();
    if let Some(response) =
        misbehaving_redirect(&shared, &behaviour, Endpoint::Token, &uri, query.as_deref())
    {
        return response;
    }
    if let Some(delay) = behaviour.token_delay() {
        tracing::debug!(
            ?delay,
            "development provider: token endpoint misbehaving with a delay"
        );
        tokio::time::sleep(delay).await;
    }
    if let Some(response) = broken_token_answer(&behaviour) {
        return response;
    }
    match redeem(&shared, &behaviour, &headers, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The answers of a broken token endpoint, given before the request is even read.
fn broken_token_answer(behaviour: &Behaviour) -> Option<Response> {
    const PAGE: &str = "<!doctype html><html><body><h1>Something went wrong</h1></body></html>";
    let raw = |status: StatusCode, content_type: &'static str, body: Body| {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        set_header(&mut response, header::CONTENT_TYPE, content_type);
        response
    };
    let response = if behaviour.has(&Misbehaviour::TokenEndpointError) {
        raw(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html; charset=utf-8",
            Body::from(PAGE),
        )
    } else if behaviour.has(&Misbehaviour::TokenResponseHtml) {
        raw(StatusCode::OK, "text/html; charset=utf-8", Body::from(PAGE))
    } else if behaviour.has(&Misbehaviour::TokenResponseBadJson) {
        raw(
            StatusCode::OK,
            "application/json",
            Body::from(r#"{"access_token": "abc", "token_type": "Bearer", "id_token": "#),
        )
    } else if behaviour.has(&Misbehaviour::HugeTokenResponse) {
        raw(StatusCode::OK, "application/json", huge_json_body())
    } else {
        return None;
    };
    tracing::debug!("development provider: token endpoint misbehaving with a broken answer");
    Some(response)
}

/// 2 MiB of valid JSON in 64 KiB chunks, without `Content-Length`.
fn huge_json_body() -> Body {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 32;
    let head =
        Bytes::from_static(br#"{"access_token": "abc", "token_type": "Bearer", "padding": ""#);
    let filler = Bytes::from(vec![b'a'; CHUNK]);
    let tail = Bytes::from_static(br#""}"#);
    let chunks = std::iter::once(head)
        .chain(std::iter::repeat_n(filler, CHUNKS))
        .chain(std::iter::once(tail))
        .map(Ok::<_, std::io::Error>);
    Body::from_stream(futures_util::stream::iter(chunks))
}

fn redeem(
    shared: &Shared,
    behaviour: &Behaviour,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, TokenError> {
    let params = Params::parse(body);
    let single = |name: &str| {
        params
            .get(name)
            .map_err(|e| TokenError::bad_request("invalid_request", e))
    };
    authenticate_client(shared, headers, &params)?;

    match single("grant_type")? {
        Some("authorization_code") => {}
        Some(other) => {
            return Err(TokenError::bad_request(
                "unsupported_grant_type",
                format!("grant_type \"{other}\" is not supported"),
            ))
        }
        None => {
            return Err(TokenError::bad_request(
                "invalid_request",
                "grant_type is required",
            ))
        }
    }
    let code = single("code")?
        .ok_or_else(|| TokenError::bad_request("invalid_request", "code is required"))?;
    let redirect_uri = single("redirect_uri")?;
    let code_verifier = single("code_verifier")?;
    let invalid_grant = |description: &str| TokenError::bad_request("invalid_grant", description);

    let access_token = random_token();
    let grant = {
        let mut codes = lock(&shared.codes);
        let Some(grant) = codes.get_mut(code) else {
            return Err(invalid_grant("the code is unknown or expired"));
        };
        if grant.used {
            if let Some(issued) = grant.issued_token.take() {
                lock(&shared.access_tokens).remove(&issued);
            }
            return Err(invalid_grant(
                "the code was already used; any token issued for it is revoked",
            ));
        }
        grant.used = true;
        if grant.expires <= Instant::now() {
            return Err(invalid_grant("the code is unknown or expired"));
        }
        if grant.client_id != shared.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier = code_verifier.ok_or_else(|| invalid_grant("code_verifier is required"))?;
        if !is_pkce_value(verifier) {
            return Err(invalid_grant(
                "code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(challenge.as_bytes().ct_eq(grant.code_challenge.as_bytes())) {
            return Err(invalid_grant("code_verifier does not match code_challenge"));
        }
        grant.issued_token = Some(access_token.clone());
        (
            grant.nonce.clone(),
            grant.scope.clone(),
            grant.claims.clone(),
            grant.auth_time,
        )
    };
    let (nonce, scope, claims, auth_time) = grant;

    let replayed = if behaviour.has(&Misbehaviour::ReplayIdToken) {
        lock(&shared.last_id_token).clone()
    } else {
        None
    };
    let id_token = match replayed {
        Some(earlier) => {
            tracing::debug!("development provider: misbehaving with a replayed ID token");
            Ok(earlier)
        }
        None => {
            let mut keys = lock(&shared.keys);
            if behaviour.has(&Misbehaviour::RotateKeyBeforeSigning) {
                keys.rotate();
            }
            sign_id_token(
                IdTokenInput {
                    issuer: shared.issuer_for(behaviour),
                    served_at: &shared.issuer,
                    client_id: &shared.client_id,
                    client_secret: &shared.client_secret,
                    nonce: nonce.as_deref(),
                    auth_time,
                    lifetime: behaviour.token_lifetime,
                    claims: claims.clone(),
                    access_token: &access_token,
                },
                &keys,
                behaviour,
            )
        }
    };
    let id_token = match id_token {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "development provider: signing the ID token failed");
            return Err(TokenError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: "server_error",
                description: "signing the ID token failed".to_owned(),
                basic_challenge: false,
            });
        }
    };
    {
        let now = Instant::now();
        let mut tokens = lock(&shared.access_tokens);
        tokens.retain(|_, grant| grant.expires > now);
        tokens.insert(
            access_token.clone(),
            AccessGrant {
                claims,
                expires: now + behaviour.token_lifetime,
            },
        );
    }
    *lock(&shared.last_id_token) = Some(id_token.clone());
    tracing::debug!("development provider: code redeemed, tokens issued");
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": behaviour.token_lifetime.as_secs(),
        "id_token": id_token,
        "scope": scope,
    });
    if behaviour.has(&Misbehaviour::TokenResponseWithoutIdToken) {
        if let Value::Object(fields) = &mut answer {
            fields.remove("id_token");
        }
    }
    Ok(no_store(json_response(StatusCode::OK, &answer)))
}

fn authenticate_client(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), TokenError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            parse_basic(value).ok_or_else(|| {
                TokenError::invalid_client("the Authorization header is not valid HTTP Basic client authentication (RFC 6749 section 2.3.1: form-encode the id and secret, then base64)", true)
            })?,
        ),
    };
    let body_id = params
        .get("client_id")
        .map_err(|e| TokenError::bad_request("invalid_request", e))?;
    let body_secret = params
        .get("client_secret")
        .map_err(|e| TokenError::bad_request("invalid_request", e))?;

    let (method, id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(TokenError::bad_request(
                "invalid_request",
                "use one client authentication method, not both Basic and client_secret",
            ))
        }
        (Some((id, secret)), None) => {
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(TokenError::invalid_client(
                    "client_id in the body differs from the one in the Authorization header",
                    true,
                ));
            }
            (TokenEndpointAuth::ClientSecretBasic, id, secret)
        }
        (None, Some(secret)) => {
            let id = body_id.ok_or_else(|| {
                TokenError::invalid_client("client_secret without client_id", false)
            })?;
            (
                TokenEndpointAuth::ClientSecretPost,
                id.to_owned(),
                secret.to_owned(),
            )
        }
        (None, None) => {
            return Err(TokenError::invalid_client(
                "client authentication is required",
                shared
                    .accepted_auth
                    .accepts(TokenEndpointAuth::ClientSecretBasic),
            ))
        }
    };
    let basic_used = method == TokenEndpointAuth::ClientSecretBasic;
    if !shared.accepted_auth.accepts(method) {
        let name = match method {
            TokenEndpointAuth::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuth::ClientSecretPost => "client_secret_post",
        };
        return Err(TokenError::invalid_client(
            format!("{name} is not accepted by this provider"),
            basic_used,
        ));
    }
    let id_ok = id.as_bytes().ct_eq(shared.client_id.as_bytes());
    let secret_ok = secret.as_bytes().ct_eq(shared.client_secret.as_bytes());
    if !bool::from(id_ok & secret_ok) {
        return Err(TokenError::invalid_client(
            "unknown client or wrong client secret",
            basic_used,
        ));
    }
    Ok(())
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, decoded (RFC 6749 section 2.3.1).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
/// A `%` without two hex digits stays literal, as in `form_urlencoded`.
fn form_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------
// Userinfo

async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    bump(&shared.counters.userinfo);
    let challenge = |error: Option<&'static str>| {
        tracing::debug!(
            error = error.unwrap_or("missing_token"),
            "development provider: userinfo refused"
        );
        let mut response = no_store(json_response(
            StatusCode::UNAUTHORIZED,
            &json!({ "error": error.unwrap_or("invalid_request") }),
        ));
        set_header(
            &mut response,
            header::WWW_AUTHENTICATE,
            match error {
                Some(_) => "Bearer error=\"invalid_token\"",
                None => "Bearer",
            },
        );
        response
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return challenge(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token else {
        return challenge(Some("invalid_token"));
    };
    let claims = {
        let tokens = lock(&shared.access_tokens);
        tokens
            .get(&token)
            .filter(|grant| grant.expires > Instant::now())
            .map(|grant| grant.claims.clone())
    };
    match claims {
        Some(mut claims) => {
            if shared.behaviour().has(&Misbehaviour::UserinfoWrongSubject) {
                claims.insert("sub".to_owned(), Value::String("foobar".to_owned()));
            }
            tracing::debug!("development provider: userinfo served");
            no_store(json_response(StatusCode::OK, &claims))
        }
        None => challenge(Some("invalid_token")),
    }
}

// ---------------------------------------------------------------------------------------
// End session (RP-initiated logout)

async fn end_session(
    State(shared): State<Arc<Shared>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    bump(&shared.counters.end_session);
    let params = if method == Method::POST {
        Params::parse(&body)
    } else {
        Params::parse(query.unwrap_or_default().as_bytes())
    };
    let value = |name: &str| params.first(name).map(str::to_owned);
    let call = EndSessionCall {
        client_id: value("client_id"),
        id_token_hint: value("id_token_hint"),
        post_logout_redirect_uri: value("post_logout_redirect_uri"),
        state: value("state"),
        logout_hint: value("logout_hint"),
    };
    lock(&shared.end_session_calls).push(call.clone());
    tracing::debug!(
        client_id = call.client_id.as_deref().unwrap_or(""),
        id_token_hint = call.id_token_hint.is_some(),
        post_logout_redirect_uri = call.post_logout_redirect_uri.as_deref().unwrap_or(""),
        "development provider: end session"
    );

    if let Some(client_id) = &call.client_id {
        if *client_id != shared.client_id {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown client",
                &format!("This provider knows no client \"{client_id}\"."),
            );
        }
    }
    let Some(target) = &call.post_logout_redirect_uri else {
        return html(StatusCode::OK, pages::signed_out());
    };
    if !shared.post_logout_redirect_uri_allowed(target) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid post-logout redirect URI",
            &format!(
                "The post_logout_redirect_uri \"{target}\" is not registered for this client."
            ),
        );
    }
    let state: Vec<(&str, &str)> = call
        .state
        .as_deref()
        .map(|s| ("state", s))
        .into_iter()
        .collect();
    match with_query(target, &state) {
        Some(location) => redirect(StatusCode::FOUND, &location),
        None => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid post-logout redirect URI",
            "The post_logout_redirect_uri is not an absolute URL.",
        ),
    }
}
