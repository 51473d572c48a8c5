//! Provider tests against a real HTTP server on 127.0.0.1 playing the OpenID provider.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openidconnect::core::{
    CoreHmacKey, CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, AccessTokenHash, Audience, ClientId, EndUserEmail, EndUserName, EndUserUsername,
    IssuerUrl, JsonWebKeyId, LocalizedClaim, Nonce, PrivateSigningKey, StandardClaims,
    SubjectIdentifier,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::claims::{ExtraClaims, IdToken, IdTokenClaims};
use super::discovery::Timing;
use super::*;
use crate::config::{
    AuthConfig, ProviderConfig, TokenEndpointAuth, ValidProvider, RESERVED_PARAMS,
};

const DEV_KEY_1: &str = include_str!("../testing/dev_key_1.pem");
const DEV_KEY_2: &str = include_str!("../testing/dev_key_2.pem");
const CLIENT_ID: &str = "test-client";
/// Characters that RFC 6749 2.3.1 form-encoding changes, to prove it is applied.
const CLIENT_SECRET: &str = "s3cr:t/+&x";
const REDIRECT_URI: &str = "http://app.test/auth/callback";
const CODE: &str = "the-code";
const VERIFIER: &str = "the-verifier-the-verifier-the-verifier-0123";
const NONCE: &str = "the-nonce";
const ACCESS_TOKEN: &str = "the-access-token";

// ---------------------------------------------------------------------------------------------
// The mock provider

#[derive(Clone)]
enum Reply {
    Json(StatusCode, Value),
    Raw(StatusCode, &'static str, Vec<u8>),
    /// A body of this many bytes sent in chunks, without Content-Length.
    Chunked(usize),
    /// A 307 to the server's `/elsewhere`.
    Redirect,
}

impl Reply {
    fn into_response(self, base: &str) -> Response {
        let builder = Response::builder();
        let result = match self {
            Reply::Json(status, value) => builder
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(value.to_string())),
            Reply::Raw(status, content_type, body) => builder
                .status(status)
                .header("content-type", content_type)
                .body(Body::from(body)),
            Reply::Chunked(size) => {
                let chunk = Bytes::from(vec![b' '; 64 * 1024]);
                let chunks = size.div_ceil(chunk.len());
                let stream = futures_util::stream::iter(
                    (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                builder
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(Body::from_stream(stream))
            }
            Reply::Redirect => builder
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("location", format!("{base}/elsewhere"))
                .body(Body::empty()),
        };
        result.unwrap()
    }
}

#[derive(Default)]
struct Hits {
    discovery: AtomicUsize,
    jwks: AtomicUsize,
    token: AtomicUsize,
    elsewhere: AtomicUsize,
}

struct OpState {
    base: String,
    hits: Hits,
    /// Replaces the generated discovery document.
    discovery: Mutex<Option<Reply>>,
    /// Fields merged into the generated document; `null` removes one.
    discovery_fields: Mutex<Map<String, Value>>,
    jwks: Mutex<Vec<CoreJsonWebKey>>,
    token: Mutex<Reply>,
    token_requests: Mutex<Vec<(HeaderMap, String)>>,
}

impl OpState {
    fn discovery_document(&self) -> Value {
        let base = &self.base;
        let mut doc = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize?tenant=t1"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "end_session_endpoint": format!("{base}/logout?tenant=t1"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["plain"],
            "authorization_response_iss_parameter_supported": true,
        });
        if let Value::Object(map) = &mut doc {
            for (key, value) in self.discovery_fields.lock().unwrap().iter() {
                if value.is_null() {
                    map.remove(key);
                } else {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
        doc
    }
}

struct MockOp {
    state: Arc<OpState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MockOp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(s): State<Arc<OpState>>) -> Response {
    s.hits.discovery.fetch_add(1, Ordering::SeqCst);
    let reply = s.discovery.lock().unwrap().clone();
    reply
        .unwrap_or_else(|| Reply::Json(StatusCode::OK, s.discovery_document()))
        .into_response(&s.base)
}

async fn jwks(State(s): State<Arc<OpState>>) -> Response {
    s.hits.jwks.fetch_add(1, Ordering::SeqCst);
    let keys = s.jwks.lock().unwrap().clone();
    Reply::Json(StatusCode::OK, json!({ "keys": keys })).into_response(&s.base)
}

async fn token(State(s): State<Arc<OpState>>, headers: HeaderMap, body: String) -> Response {
    s.hits.token.fetch_add(1, Ordering::SeqCst);
    s.token_requests.lock().unwrap().push((headers, body));
    let reply = s.token.lock().unwrap().clone();
    reply.into_response(&s.base)
}

async fn elsewhere(State(s): State<Arc<OpState>>) -> Response {
    s.hits.elsewhere.fetch_add(1, Ordering::SeqCst);
    Reply::Json(StatusCode::OK, json!({})).into_response(&s.base)
}

impl MockOp {
    async fn start() -> MockOp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        MockOp::serve(listener)
    }

    fn serve(listener: TcpListener) -> MockOp {
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(OpState {
            base: format!("http://{addr}"),
            hits: Hits::default(),
            discovery: Mutex::new(None),
            discovery_fields: Mutex::new(Map::new()),
            jwks: Mutex::new(vec![key(DEV_KEY_1, "key1").as_verification_key()]),
            token: Mutex::new(Reply::Json(StatusCode::OK, json!({}))),
            token_requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/elsewhere", get(elsewhere).post(elsewhere))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockOp { state, server }
    }

    fn issuer(&self) -> &str {
        &self.state.base
    }

    fn metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.state.base)
    }

    fn provider(&self) -> Provider {
        provider_for(&self.metadata_url(), |p| p)
    }

    fn set_discovery_field(&self, key: &str, value: Value) {
        self.state
            .discovery_fields
            .lock()
            .unwrap()
            .insert(key.to_owned(), value);
    }

    fn reply_to_token(&self, reply: Reply) {
        *self.state.token.lock().unwrap() = reply;
    }

    /// The token endpoint answers with this ID token and [`ACCESS_TOKEN`].
    fn issue(&self, id_token: &str) {
        self.reply_to_token(Reply::Json(
            StatusCode::OK,
            json!({
                "access_token": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            }),
        ));
    }

    fn last_token_request(&self) -> (HeaderMap, String) {
        self.state
            .token_requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap()
    }

    fn hits(&self) -> (usize, usize, usize) {
        let h = &self.state.hits;
        (
            h.discovery.load(Ordering::SeqCst),
            h.jwks.load(Ordering::SeqCst),
            h.token.load(Ordering::SeqCst),
        )
    }
}

/// A provider with `settings` applied to the defaults. Not checked by the configuration, so
/// tests can also hand it values the configuration refuses.
fn provider_for(
    metadata_url: &str,
    settings: impl FnOnce(ProviderConfig) -> ProviderConfig,
) -> Provider {
    let config = settings(ProviderConfig::new(
        "test",
        CLIENT_ID,
        CLIENT_SECRET,
        metadata_url,
    ));
    let valid = ValidProvider::unchecked(config, Url::parse(metadata_url).unwrap());
    Provider::new(&valid, Url::parse(REDIRECT_URI).unwrap()).unwrap()
}

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_owned()))).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Test tokens

/// Seconds from now, in whatever time type openidconnect wants.
fn at<T: From<SystemTime>>(offset: i64) -> T {
    let now = SystemTime::now();
    let delta = Duration::from_secs(offset.unsigned_abs());
    T::from(if offset >= 0 {
        now + delta
    } else {
        now - delta
    })
}

struct Spec {
    iss: String,
    aud: Vec<&'static str>,
    azp: Option<&'static str>,
    nonce: Option<&'static str>,
    exp: i64,
    iat: i64,
    at_hash: Option<&'static str>,
    with_at_hash: bool,
}

impl Spec {
    fn new(op: &MockOp) -> Spec {
        Spec {
            iss: op.issuer().to_owned(),
            aud: vec![CLIENT_ID],
            azp: None,
            nonce: Some(NONCE),
            exp: 300,
            iat: 0,
            at_hash: None,
            with_at_hash: true,
        }
    }

    fn claims(&self) -> IdTokenClaims {
        let mut extra = Map::new();
        extra.insert("groups".into(), json!(["admins", "staff"]));
        extra.insert("tid".into(), json!("tenant-1"));
        let standard = StandardClaims::new(SubjectIdentifier::new("user-1".into()))
            .set_email(Some(EndUserEmail::new("alice@example.com".into())))
            .set_preferred_username(Some(EndUserUsername::new("alice".into())))
            .set_name(Some(LocalizedClaim::from(EndUserName::new(
                "Alice Example".into(),
            ))));
        IdTokenClaims::new(
            IssuerUrl::new(self.iss.clone()).unwrap(),
            self.aud
                .iter()
                .map(|a| Audience::new((*a).into()))
                .collect(),
            at(self.exp),
            at(self.iat),
            standard,
            ExtraClaims { claims: extra },
        )
        .set_nonce(self.nonce.map(|n| Nonce::new(n.into())))
        .set_authorized_party(self.azp.map(|a| ClientId::new(a.into())))
        .set_access_token_hash(self.at_hash.map(|h| AccessTokenHash::new(h.into())))
    }

    fn sign_with<K>(&self, signing_key: &K, alg: CoreJwsSigningAlgorithm) -> String
    where
        K: PrivateSigningKey<VerificationKey = CoreJsonWebKey>,
    {
        let access_token = AccessToken::new(ACCESS_TOKEN.into());
        let with = (self.with_at_hash && self.at_hash.is_none()).then_some(&access_token);
        let token = IdToken::new(self.claims(), signing_key, alg, with, None).unwrap();
        serde_json::to_value(&token)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn sign(&self) -> String {
        self.sign_with(
            &key(DEV_KEY_1, "key1"),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        )
    }

    /// An unsigned token: `alg: none` and an empty signature.
    fn unsigned(&self) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.claims()).unwrap());
        format!("{header}.{payload}.")
    }
}

/// A token with exactly this header and payload, RS256-signed with key1 (whatever the
/// header says).
fn sign_raw(header: Value, payload: Value) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let input = format!("{}.{}", encode(&header), encode(&payload));
    let signature = key(DEV_KEY_1, "key1")
        .sign(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            input.as_bytes(),
        )
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// [`Spec::new`]'s claims as JSON, changed by `change`, signed with `header`.
fn raw_token(op: &MockOp, header: Value, change: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut payload = match serde_json::to_value(Spec::new(op).claims()).unwrap() {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    change(&mut payload);
    sign_raw(header, Value::Object(payload))
}

fn rs256_header() -> Value {
    json!({"alg": "RS256", "kid": "key1", "typ": "JWT"})
}

async fn exchange(provider: &Provider) -> Result<TokenSet, LoginError> {
    provider.exchange_code(CODE, VERIFIER, NONCE).await
}

fn fast_timing() -> Timing {
    Timing {
        failure_backoff: Duration::from_millis(300),
        ..Timing::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Code exchange and ID token verification

#[tokio::test]
async fn happy_path_returns_every_claim() {
    let op = MockOp::start().await;
    let jwt = Spec::new(&op).sign();
    op.issue(&jwt);
    let provider = op.provider();

    let tokens = exchange(&provider).await.unwrap();

    assert_eq!(tokens.id_token, jwt);
    assert_eq!(tokens.access_token, ACCESS_TOKEN);
    let c = &tokens.claims;
    assert_eq!(c["sub"], "user-1");
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["preferred_username"], "alice");
    assert_eq!(c["name"], "Alice Example");
    assert_eq!(c["iss"], op.issuer());
    assert_eq!(c["aud"], json!([CLIENT_ID]));
    assert_eq!(c["nonce"], NONCE);
    assert!(c["exp"].is_i64() && c["iat"].is_i64());
    assert!(c["at_hash"].is_string());
    assert_eq!(c["groups"], json!(["admins", "staff"]));
    assert_eq!(c["tid"], "tenant-1");

    // Every key of the payload appears once, and nothing else does.
    let payload = jwt.split('.').nth(1).unwrap();
    let raw: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let mut raw_keys: Vec<_> = raw.keys().collect();
    let mut keys: Vec<_> = c.keys().collect();
    raw_keys.sort();
    keys.sort();
    assert_eq!(keys, raw_keys);
}

#[tokio::test]
async fn token_request_uses_basic_auth_pkce_and_redirect_uri() {
    let op = MockOp::start().await;
    op.issue(&Spec::new(&op).sign());
    exchange(&op.provider()).await.unwrap();

    let (headers, body) = op.last_token_request();
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("grant_type"), Some("authorization_code"));
    assert_eq!(field("code"), Some(CODE));
    assert_eq!(field("code_verifier"), Some(VERIFIER));
    assert_eq!(field("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(field("client_secret"), None);
    // RFC 6749 2.3.1: id and secret are form-encoded before Base64.
    let expected = format!(
        "Basic {}",
        STANDARD.encode("test-client:s3cr%3At%2F%2B%26x")
    );
    assert_eq!(headers["authorization"], expected.as_str());
}

#[tokio::test]
async fn client_secret_post_when_configured() {
    let op = MockOp::start().await;
    op.issue(&Spec::new(&op).sign());
    let kwargs = |p: ProviderConfig| p.token_endpoint_auth(TokenEndpointAuth::ClientSecretPost);
    exchange(&provider_for(&op.metadata_url(), kwargs))
        .await
        .unwrap();

    let (headers, body) = op.last_token_request();
    assert!(headers.get("authorization").is_none());
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert!(form.contains(&("client_id".into(), CLIENT_ID.into())));
    assert!(form.contains(&("client_secret".into(), CLIENT_SECRET.into())));
}

#[tokio::test]
async fn client_secret_post_when_provider_only_takes_post() {
    let op = MockOp::start().await;
    op.set_discovery_field(
        "token_endpoint_auth_methods_supported",
        json!(["client_secret_post", "private_key_jwt"]),
    );
    op.issue(&Spec::new(&op).sign());
    exchange(&op.provider()).await.unwrap();

    let (headers, body) = op.last_token_request();
    assert!(headers.get("authorization").is_none());
    assert!(body.contains("client_secret="));
}

#[tokio::test]
async fn expiry_within_leeway_is_accepted() {
    let op = MockOp::start().await;
    let spec = Spec {
        exp: -30,
        iat: -600,
        ..Spec::new(&op)
    };
    op.issue(&spec.sign());
    exchange(&op.provider()).await.unwrap();
}

#[tokio::test]
async fn bad_id_tokens_are_rejected() {
    let op = MockOp::start().await;
    let provider = op.provider();
    let base = || Spec::new(&op);
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong nonce",
            Spec {
                nonce: Some("another-nonce"),
                ..base()
            }
            .sign(),
            "nonce mismatch",
        ),
        (
            "no nonce",
            Spec {
                nonce: None,
                ..base()
            }
            .sign(),
            "nonce mismatch",
        ),
        (
            "wrong aud",
            Spec {
                aud: vec!["another-client"],
                ..base()
            }
            .sign(),
            "(aud)",
        ),
        (
            "extra untrusted aud",
            Spec {
                aud: vec![CLIENT_ID, "another-client"],
                azp: Some(CLIENT_ID),
                ..base()
            }
            .sign(),
            "(aud)",
        ),
        (
            "wrong iss",
            Spec {
                iss: "https://evil.example".into(),
                ..base()
            }
            .sign(),
            "(iss)",
        ),
        (
            "expired",
            Spec {
                exp: -120,
                iat: -600,
                ..base()
            }
            .sign(),
            "expired",
        ),
        (
            "iat in the future",
            Spec {
                iat: 300,
                exp: 900,
                ..base()
            }
            .sign(),
            "issued in the future",
        ),
        (
            "bad signature",
            base().sign_with(&key(DEV_KEY_2, "key1"), rs256),
            "signature is invalid",
        ),
        ("alg none", base().unsigned(), "not signed"),
        (
            "HS256 with the client secret",
            base().sign_with(
                &CoreHmacKey::new(CLIENT_SECRET.as_bytes()),
                CoreJwsSigningAlgorithm::HmacSha256,
            ),
            "algorithm that is not accepted",
        ),
        (
            "RS384 not advertised",
            base().sign_with(
                &key(DEV_KEY_1, "key1"),
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
            ),
            "algorithm that is not accepted",
        ),
        (
            "wrong at_hash",
            Spec {
                at_hash: Some("AAAAAAAAAAAAAAAAAAAAAA"),
                ..base()
            }
            .sign(),
            "at_hash",
        ),
        (
            "azp mismatch",
            Spec {
                azp: Some("another-client"),
                ..base()
            }
            .sign(),
            "(azp)",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "malformed"),
        (
            "iat too old",
            Spec {
                iat: -(11 * 60 + 30),
                exp: 300,
                ..base()
            }
            .sign(),
            "issued too long ago (iat)",
        ),
        (
            "typ at+jwt",
            raw_token(
                &op,
                json!({"alg": "RS256", "kid": "key1", "typ": "at+jwt"}),
                |_| {},
            ),
            "not an ID token",
        ),
        (
            "typ JOSE",
            raw_token(
                &op,
                json!({"alg": "RS256", "kid": "key1", "typ": "JOSE"}),
                |_| {},
            ),
            "not an ID token",
        ),
        (
            "typ not a string",
            raw_token(
                &op,
                json!({"alg": "RS256", "kid": "key1", "typ": 1}),
                |_| {},
            ),
            "malformed",
        ),
        (
            "no sub",
            raw_token(&op, rs256_header(), |p| {
                p.remove("sub");
            }),
            "the token has no sub claim",
        ),
        (
            "no iat",
            raw_token(&op, rs256_header(), |p| {
                p.remove("iat");
            }),
            "the token has no iat claim",
        ),
        (
            "no exp",
            raw_token(&op, rs256_header(), |p| {
                p.remove("exp");
            }),
            "the token has no exp claim",
        ),
        (
            "no iss",
            raw_token(&op, rs256_header(), |p| {
                p.remove("iss");
            }),
            "the token has no iss claim",
        ),
        (
            "no aud",
            raw_token(&op, rs256_header(), |p| {
                p.remove("aud");
            }),
            "the token has no aud claim",
        ),
        (
            "iss not a URL",
            raw_token(&op, rs256_header(), |p| {
                p.insert("iss".into(), json!("not a url"));
            }),
            "iss claim is not a URL",
        ),
        (
            "exp not a number",
            raw_token(&op, rs256_header(), |p| {
                p.insert("exp".into(), json!("tomorrow"));
            }),
            "exp claim has the wrong type",
        ),
        (
            "empty sub",
            raw_token(&op, rs256_header(), |p| {
                p.insert("sub".into(), json!(""));
            }),
            "(sub) is empty",
        ),
        (
            "sub of 256 characters",
            raw_token(&op, rs256_header(), |p| {
                p.insert("sub".into(), json!("s".repeat(256)));
            }),
            "longer than 255 characters",
        ),
        (
            "a jwk header with another key",
            raw_token(
                &op,
                json!({"alg": "RS256", "kid": "attacker", "jwk": key(DEV_KEY_2, "attacker").as_verification_key()}),
                |_| {},
            ),
            "(kid)",
        ),
    ];
    for (name, jwt, expected) in cases {
        op.issue(&jwt);
        match exchange(&provider).await {
            Err(LoginError::IdTokenRejected(reason)) => assert!(
                reason.contains(expected),
                "{name}: reason {reason:?} should contain {expected:?}"
            ),
            Err(other) => panic!("{name}: expected IdTokenRejected, got {other:?}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
}

#[tokio::test]
async fn acceptable_token_shapes_are_accepted() {
    let op = MockOp::start().await;
    let provider = op.provider();
    let cases = vec![
        ("typ absent", json!({"alg": "RS256", "kid": "key1"})),
        (
            "typ lowercase",
            json!({"alg": "RS256", "kid": "key1", "typ": "jwt"}),
        ),
        (
            "typ as a media type",
            json!({"alg": "RS256", "kid": "key1", "typ": "application/jwt"}),
        ),
        ("no kid, one key", json!({"alg": "RS256", "typ": "JWT"})),
    ];
    for (name, header) in cases {
        op.issue(&raw_token(&op, header, |_| {}));
        if let Err(e) = exchange(&provider).await {
            panic!("{name}: {e:?}");
        }
    }
    for (name, change) in [
        (
            "aud as a string",
            Box::new(|p: &mut Map<String, Value>| {
                p.insert("aud".into(), json!(CLIENT_ID));
            }) as Box<dyn FnOnce(&mut Map<String, Value>)>,
        ),
        (
            "sub of 255 characters",
            Box::new(|p: &mut Map<String, Value>| {
                p.insert("sub".into(), json!("s".repeat(255)));
            }),
        ),
    ] {
        op.issue(&raw_token(&op, rs256_header(), change));
        if let Err(e) = exchange(&provider).await {
            panic!("{name}: {e:?}");
        }
    }
}

#[tokio::test]
async fn oauth_error_is_token_rejected_without_echoing_the_code() {
    let op = MockOp::start().await;
    op.reply_to_token(Reply::Json(
        StatusCode::BAD_REQUEST,
        json!({
            "error": "invalid_grant",
            "error_description": format!("code {CODE} was already used"),
        }),
    ));
    match exchange(&op.provider()).await {
        Err(LoginError::TokenRejected(message)) => {
            assert!(message.starts_with("invalid_grant"), "{message}");
            assert!(message.contains("already used"), "{message}");
            assert!(!message.contains(CODE), "{message}");
        }
        other => panic!("expected TokenRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn broken_token_answers_are_token_request_failed() {
    let op = MockOp::start().await;
    let provider = op.provider();
    let cases = vec![
        (
            "500",
            Reply::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "server_error"}),
            ),
            "HTTP 500",
        ),
        (
            "HTML 200",
            Reply::Raw(StatusCode::OK, "text/html", b"<html>hello</html>".to_vec()),
            "not JSON",
        ),
        (
            "HTML 404",
            Reply::Raw(
                StatusCode::NOT_FOUND,
                "text/html",
                b"<html>nope</html>".to_vec(),
            ),
            "HTTP 404",
        ),
        (
            "huge with length",
            Reply::Raw(StatusCode::OK, "application/json", vec![b' '; 2 << 20]),
            "larger than",
        ),
        ("huge chunked", Reply::Chunked(3 << 20), "larger than"),
        (
            "no id_token",
            Reply::Json(
                StatusCode::OK,
                json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer"}),
            ),
            "no id_token",
        ),
        (
            "no access_token",
            Reply::Json(StatusCode::OK, json!({"token_type": "Bearer"})),
            "no access_token",
        ),
        ("redirect", Reply::Redirect, "redirect"),
    ];
    for (name, reply, expected) in cases {
        op.reply_to_token(reply);
        match exchange(&provider).await {
            Err(LoginError::TokenRequestFailed(reason)) => assert!(
                reason.contains(expected),
                "{name}: reason {reason:?} should contain {expected:?}"
            ),
            other => panic!("{name}: expected TokenRequestFailed, got {other:?}"),
        }
    }
    assert_eq!(
        op.state.hits.elsewhere.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn token_endpoint_timeout_is_token_request_failed() {
    // A listener that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let op = MockOp::start().await;
    op.set_discovery_field(
        "token_endpoint",
        json!(format!("http://{silent_addr}/token")),
    );
    let kwargs = |p: ProviderConfig| p.timeout(Duration::from_millis(300));
    match exchange(&provider_for(&op.metadata_url(), kwargs)).await {
        Err(LoginError::TokenRequestFailed(reason)) => {
            assert!(reason.contains("no answer"), "{reason}")
        }
        other => panic!("expected TokenRequestFailed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Key rotation

#[tokio::test]
async fn unknown_kid_refetches_the_key_set_once() {
    let op = MockOp::start().await;
    let mut provider = op.provider();
    provider.ready().await.unwrap();
    assert_eq!(op.hits(), (1, 1, 0));

    // The provider rotates to key2 after we cached its key set.
    op.state
        .jwks
        .lock()
        .unwrap()
        .push(key(DEV_KEY_2, "key2").as_verification_key());
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    let spec = Spec::new(&op);
    op.issue(&spec.sign_with(&key(DEV_KEY_2, "key2"), rs256));
    provider.cache_timing(Timing {
        key_refetch_interval: Duration::ZERO,
        ..Timing::default()
    });

    let tokens = exchange(&provider).await.unwrap();
    assert_eq!(tokens.claims["sub"], "user-1");
    assert_eq!(op.hits(), (1, 2, 1));

    // The new set is kept: no further fetch.
    exchange(&provider).await.unwrap();
    assert_eq!(op.hits(), (1, 2, 2));
}

#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited() {
    let op = MockOp::start().await;
    let mut provider = op.provider();
    provider.ready().await.unwrap();
    provider.cache_timing(Timing {
        key_refetch_interval: Duration::ZERO,
        ..Timing::default()
    });
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    op.issue(&Spec::new(&op).sign_with(&key(DEV_KEY_2, "key2"), rs256));

    match exchange(&provider).await {
        Err(LoginError::IdTokenRejected(reason)) => assert!(reason.contains("kid"), "{reason}"),
        other => panic!("expected IdTokenRejected, got {other:?}"),
    }
    assert_eq!(op.hits().1, 2, "exactly one refetch");

    provider.cache_timing(Timing::default());
    assert!(exchange(&provider).await.is_err());
    assert_eq!(op.hits().1, 2, "a second refetch within 10 s");
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_refetch() {
    let op = MockOp::start().await;
    let mut provider = op.provider();
    provider.ready().await.unwrap();
    // Even with no rate limit, callers that find the same stale key set wait for one fetch.
    provider.cache_timing(Timing {
        key_refetch_interval: Duration::ZERO,
        ..Timing::default()
    });
    op.state
        .jwks
        .lock()
        .unwrap()
        .push(key(DEV_KEY_2, "key2").as_verification_key());
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    op.issue(&Spec::new(&op).sign_with(&key(DEV_KEY_2, "key2"), rs256));
    let provider = Arc::new(provider);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { exchange(&provider).await.map(|_| ()) })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(op.hits(), (1, 2, 16), "16 logins, one key-set refetch");
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn concurrent_callers_share_one_discovery() {
    let op = MockOp::start().await;
    let provider = Arc::new(op.provider());
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.ready().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(op.hits(), (1, 1, 0));
    assert_eq!(provider.issuer().as_deref(), Some(op.issuer()));
    assert!(provider.advertises_iss_parameter());
    assert_eq!(provider.name(), "test");
}

#[tokio::test]
async fn discovery_failure_backs_off_then_retries() {
    let op = MockOp::start().await;
    *op.state.discovery.lock().unwrap() =
        Some(Reply::Json(StatusCode::INTERNAL_SERVER_ERROR, json!({})));
    let mut provider = op.provider();
    provider.cache_timing(fast_timing());

    let err = provider.ready().await.unwrap_err();
    match &err {
        LoginError::ProviderUnavailable { provider, reason } => {
            assert_eq!(provider, "test");
            assert!(reason.contains("HTTP 500"), "{reason}");
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
    // Within the back-off the cached failure is returned without asking again.
    assert!(provider.ready().await.is_err());
    assert_eq!(op.hits().0, 1);
    assert_eq!(provider.issuer(), None);

    *op.state.discovery.lock().unwrap() = None;
    tokio::time::sleep(Duration::from_millis(400)).await;
    provider.ready().await.unwrap();
    assert_eq!(op.hits().0, 2);
}

#[tokio::test]
async fn provider_down_at_start_recovers_by_itself() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    let mut provider = provider_for(&url, |p| p);
    provider.cache_timing(fast_timing());

    match provider.ready().await {
        Err(LoginError::ProviderUnavailable { reason, .. }) => {
            assert!(reason.contains("connection refused"), "{reason}")
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
    assert!(provider
        .end_session_url(None, REDIRECT_URI, "s")
        .await
        .is_none());

    let op = MockOp::serve(TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    provider.ready().await.unwrap();
    assert_eq!(provider.issuer().as_deref(), Some(op.issuer()));
}

#[tokio::test]
async fn bad_discovery_answers_are_provider_unavailable() {
    let cases = vec![
        (
            "html",
            Some(Reply::Raw(
                StatusCode::OK,
                "text/html",
                b"<html>login</html>".to_vec(),
            )),
            None,
            "not JSON",
        ),
        (
            "redirect",
            Some(Reply::Redirect),
            None,
            "redirects are not followed",
        ),
        ("huge", Some(Reply::Chunked(2 << 20)), None, "larger than"),
        (
            "not metadata",
            Some(Reply::Json(StatusCode::OK, json!({"hello": "world"}))),
            None,
            "not a valid OpenID configuration",
        ),
        (
            "no token endpoint",
            None,
            Some(("token_endpoint", Value::Null)),
            "no token_endpoint",
        ),
        (
            "broken jwks_uri",
            None,
            Some(("jwks_uri", json!("http://127.0.0.1:1/jwks"))),
            "could not connect",
        ),
    ];
    for (name, reply, field, expected) in cases {
        let op = MockOp::start().await;
        *op.state.discovery.lock().unwrap() = reply;
        if let Some((key, value)) = field {
            op.set_discovery_field(key, value);
        }
        match op.provider().ready().await {
            Err(LoginError::ProviderUnavailable { reason, .. }) => assert!(
                reason.contains(expected),
                "{name}: reason {reason:?} should contain {expected:?}"
            ),
            other => panic!("{name}: expected ProviderUnavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_provider_unavailable() {
    let op = MockOp::start().await;
    op.set_discovery_field("issuer", json!("https://accounts.example"));
    match op.provider().ready().await {
        Err(LoginError::ProviderUnavailable { reason, .. }) => {
            assert!(
                reason.contains("names the issuer \"https://accounts.example\""),
                "{reason}"
            );
            assert!(
                reason.contains(
                    "set server_metadata_url to https://accounts.example/.well-known/openid-configuration"
                ),
                "{reason}"
            );
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
    assert_eq!(
        op.hits(),
        (1, 0, 0),
        "no key set request for a refused document"
    );
}

#[test]
fn discovery_issuer_must_match_the_url_it_is_fetched_from() {
    use super::discovery::check_issuer;
    let accepted = [
        (
            "https://a.example/.well-known/openid-configuration",
            "https://a.example",
        ),
        // Auth0: Discovery 4.1 removes the terminating `/` before appending.
        (
            "https://a.example/.well-known/openid-configuration",
            "https://a.example/",
        ),
        (
            "https://a.example/t/v2.0/.well-known/openid-configuration",
            "https://a.example/t/v2.0",
        ),
        (
            "https://a.example/t/v2.0/.well-known/openid-configuration",
            "https://a.example/t/v2.0/",
        ),
        // RFC 8414 forms.
        (
            "https://a.example/.well-known/openid-configuration/t",
            "https://a.example/t",
        ),
        (
            "https://a.example/.well-known/oauth-authorization-server/t",
            "https://a.example/t",
        ),
        (
            "https://a.example/.well-known/oauth-authorization-server",
            "https://a.example",
        ),
        // Azure AD B2C's policy query is not part of the issuer.
        (
            "https://b2c.example/guid/v2.0/.well-known/openid-configuration?p=B2C_1_signin",
            "https://b2c.example/guid/v2.0/",
        ),
        (
            "http://127.0.0.1:8080/.well-known/openid-configuration",
            "http://127.0.0.1:8080",
        ),
    ];
    for (url, issuer) in accepted {
        if let Err(e) = check_issuer(url, url, issuer) {
            panic!("{url} / {issuer}: {e}");
        }
    }
    let refused = [
        ("https://a.example/.well-known/openid-configuration", "https://b.example"),
        ("https://a.example/.well-known/openid-configuration", "https://A.example"),
        ("https://a.example/.well-known/openid-configuration", "HTTPS://a.example"),
        ("https://a.example/.well-known/openid-configuration", "http://a.example"),
        ("https://a.example/.well-known/openid-configuration", "https://a.example:443"),
        ("https://a.example/.well-known/openid-configuration", "https://a.example//"),
        ("https://a.example/.well-known/openid-configuration", "https://a.example/t"),
        ("https://a.example/.well-known/openid-configuration", ""),
        ("https://a.example/T/.well-known/openid-configuration", "https://a.example/t"),
        ("https://a.example/t/v2.0/.well-known/openid-configuration", "https://a.example/t"),
        ("https://a.example/t/.well-known/openid-configuration", "https://a.example/t/v2.0"),
        ("https://a.example/t/.well-known/openid-configuration", "https://a.example/t?x=1"),
        (
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        ),
    ];
    for (url, issuer) in refused {
        match check_issuer(url, "URL", issuer) {
            Ok(()) => panic!("{url} / {issuer}: accepted"),
            Err(e) => assert!(
                e.contains("the discovery document at URL names the issuer"),
                "{e}"
            ),
        }
    }
    let err = check_issuer(
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        "URL",
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    )
    .unwrap_err();
    assert!(err.contains("set server_metadata_url to https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0/.well-known/openid-configuration"), "{err}");

    for url in [
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
    ] {
        let err = check_issuer(
            url,
            "URL",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        )
        .unwrap_err();
        assert!(
            err.contains("Microsoft Entra ID's multi-tenant one"),
            "{err}"
        );
        assert!(err.contains("directory (tenant) ID"), "{err}");
    }
    // Provider-chosen text is bounded.
    let long = format!("https://{}.example", "x".repeat(5000));
    let err = check_issuer(
        "https://a.example/.well-known/openid-configuration",
        "URL",
        &long,
    )
    .unwrap_err();
    assert!(err.len() < 1000, "{}", err.len());
}

#[tokio::test]
async fn discovery_without_an_accepted_algorithm_is_provider_unavailable() {
    for algs in [json!(["none"]), json!(["HS256", "HS384", "HS512"])] {
        let op = MockOp::start().await;
        op.set_discovery_field("id_token_signing_alg_values_supported", algs.clone());
        match op.provider().ready().await {
            Err(LoginError::ProviderUnavailable { reason, .. }) => {
                assert!(
                    reason.contains("lists only ID token signing algorithms"),
                    "{reason}"
                );
                let listed: Vec<&str> = algs
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(reason.contains(&listed.join(", ")), "{reason}");
            }
            other => panic!("{algs}: expected ProviderUnavailable, got {other:?}"),
        }
    }
}

/// Keys openidconnect parses with their key material missing.
fn broken_keys() -> Vec<CoreJsonWebKey> {
    [
        json!({"kty": "RSA", "kid": "broken", "n": "!!not base64!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-e", "n": "AQAB"}),
        json!({"kty": "EC", "kid": "curve", "crv": "P-1024", "x": "AAAA", "y": "AAAA"}),
        json!({"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"}),
    ]
    .into_iter()
    .map(|k| serde_json::from_value(k).unwrap())
    .collect()
}

#[tokio::test]
async fn unusable_keys_are_dropped_from_the_key_set() {
    let op = MockOp::start().await;
    op.state.jwks.lock().unwrap().extend(broken_keys());
    let provider = op.provider();
    provider.ready().await.unwrap();
    let snapshot = provider.cache.current().unwrap();
    assert_eq!(snapshot.keys.keys().len(), 1);
    // A token without kid is then not ambiguous.
    op.issue(&raw_token(
        &op,
        json!({"alg": "RS256", "typ": "JWT"}),
        |_| {},
    ));
    exchange(&provider).await.unwrap();

    let op = MockOp::start().await;
    *op.state.jwks.lock().unwrap() = broken_keys();
    match op.provider().ready().await {
        Err(LoginError::ProviderUnavailable { reason, .. }) => {
            assert!(reason.contains("has no usable keys"), "{reason}")
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_without_kid_and_several_keys_is_refused() {
    let op = MockOp::start().await;
    op.state
        .jwks
        .lock()
        .unwrap()
        .push(key(DEV_KEY_2, "key2").as_verification_key());
    op.issue(&raw_token(
        &op,
        json!({"alg": "RS256", "typ": "JWT"}),
        |_| {},
    ));
    match exchange(&op.provider()).await {
        Err(LoginError::IdTokenRejected(reason)) => {
            assert!(reason.contains("names none (kid)"), "{reason}")
        }
        other => panic!("expected IdTokenRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn stale_metadata_is_refreshed_and_kept_when_refresh_fails() {
    let op = MockOp::start().await;
    let mut provider = op.provider();
    provider.cache_timing(Timing {
        metadata_max_age: Duration::ZERO,
        ..Timing::default()
    });
    provider.ready().await.unwrap();
    provider.ready().await.unwrap();
    assert_eq!(op.hits().0, 2, "a stale document is fetched again");

    *op.state.discovery.lock().unwrap() =
        Some(Reply::Json(StatusCode::INTERNAL_SERVER_ERROR, json!({})));
    provider.ready().await.unwrap();
    assert_eq!(provider.issuer().as_deref(), Some(op.issuer()));
}

// ---------------------------------------------------------------------------------------------
// Authorization and logout URLs

#[tokio::test]
async fn authorization_url_has_every_parameter() {
    let op = MockOp::start().await;
    let kwargs = |p: ProviderConfig| {
        p.param("domain_hint", "example.com")
            .param("nonce", "smuggled")
    };
    let provider = provider_for(&op.metadata_url(), kwargs);
    let request = provider.authorization_request("the-state").await.unwrap();

    assert!(request
        .url
        .as_str()
        .starts_with(&format!("{}/authorize?tenant=t1&", op.issuer())));
    let pairs: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let get = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("tenant"), ["t1"]);
    assert_eq!(get("response_type"), ["code"]);
    assert_eq!(get("client_id"), [CLIENT_ID]);
    assert_eq!(get("redirect_uri"), [REDIRECT_URI]);
    assert_eq!(get("scope"), ["openid email profile"]);
    assert_eq!(get("state"), ["the-state"]);
    assert_eq!(get("prompt"), ["select_account"]);
    assert_eq!(get("domain_hint"), ["example.com"]);
    assert_eq!(get("nonce"), [request.nonce.as_str()]);
    // PKCE S256 even though discovery only advertises `plain`.
    assert_eq!(get("code_challenge_method"), ["S256"]);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(request.pkce_verifier.as_bytes()));
    assert_eq!(get("code_challenge"), [challenge.as_str()]);
    assert!(request.pkce_verifier.len() >= 43);

    let again = provider.authorization_request("the-state").await.unwrap();
    assert_ne!(again.nonce, request.nonce);
    assert_ne!(again.pkce_verifier, request.pkce_verifier);
    assert!(!format!("{request:?}").contains(&request.nonce));
}

/// One list (`config::schema::RESERVED_PARAMS`): every parameter the configuration refuses
/// is also dropped by the provider, should one ever get past the configuration.
#[tokio::test]
async fn every_parameter_the_configuration_refuses_is_dropped_by_the_provider() {
    let op = MockOp::start().await;
    let smuggle = |mut p: ProviderConfig| {
        for (name, _) in RESERVED_PARAMS {
            p = p.param(name, "smuggled");
        }
        p
    };
    let provider = provider_for(&op.metadata_url(), smuggle);
    let request = provider.authorization_request("the-state").await.unwrap();
    for (name, _) in RESERVED_PARAMS {
        let values: Vec<String> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect();
        assert!(
            values.len() <= 1 && !values.iter().any(|v| v == "smuggled"),
            "{name}: {values:?}"
        );
        let refused = AuthConfig::builder()
            .redirect_uri("https://app.test/auth/callback")
            .cookie_secret("0123456789abcdef0123456789abcdef")
            .provider(
                ProviderConfig::new("p", CLIENT_ID, CLIENT_SECRET, op.metadata_url())
                    .param(name, "smuggled"),
            )
            .build();
        assert!(
            matches!(refused, Err(ConfigError::ReservedParameter { ref param, .. }) if param == name),
            "{name}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn no_prompt_when_none() {
    let op = MockOp::start().await;
    let kwargs = |p: ProviderConfig| p.prompt(None);
    let provider = provider_for(&op.metadata_url(), kwargs);
    let request = provider.authorization_request("s").await.unwrap();
    assert!(!request.url.query_pairs().any(|(k, _)| k == "prompt"));
}

#[tokio::test]
async fn end_session_url_keeps_the_endpoint_query() {
    let op = MockOp::start().await;
    let provider = op.provider();
    let url = provider
        .end_session_url(Some("the.id.token"), "http://app.test/", "st")
        .await
        .unwrap();
    assert_eq!(
        url.as_str(),
        format!(
            "{}/logout?tenant=t1&client_id=test-client&id_token_hint=the.id.token\
             &post_logout_redirect_uri=http%3A%2F%2Fapp.test%2F&state=st",
            op.issuer()
        )
    );
    let url = provider
        .end_session_url(None, "http://app.test/", "st")
        .await
        .unwrap();
    assert!(!url.query_pairs().any(|(k, _)| k == "id_token_hint"));
}

#[tokio::test]
async fn no_end_session_url_without_endpoint() {
    let op = MockOp::start().await;
    op.set_discovery_field("end_session_endpoint", Value::Null);
    op.set_discovery_field(
        "authorization_response_iss_parameter_supported",
        json!("true"),
    );
    let provider = op.provider();
    assert!(provider
        .end_session_url(None, "http://app.test/", "st")
        .await
        .is_none());
    assert!(!provider.advertises_iss_parameter());
}

#[test]
fn config_errors() {
    // The configuration checks the discovery URL; the provider takes it parsed.
    let err = AuthConfig::builder()
        .redirect_uri("https://app.test/auth/callback")
        .cookie_secret("0123456789abcdef0123456789abcdef")
        .provider(ProviderConfig::new(
            "corp",
            CLIENT_ID,
            CLIENT_SECRET,
            "not a url",
        ))
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("auth.corp.server_metadata_url"),
        "{err}"
    );
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let provider = provider_for("http://127.0.0.1:1/x", |p| p);
    assert_send(&provider.ready());
    assert_send(&provider.authorization_request("s"));
    assert_send(&provider.exchange_code("c", "v", "n"));
    assert_send(&provider.end_session_url(None, "u", "s"));
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Provider>();
}

impl Provider {
    fn cache_timing(&mut self, timing: Timing) {
        self.cache.timing = timing;
    }
}
