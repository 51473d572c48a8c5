//! Provider tests against the development provider ([`DevProvider`]) on 127.0.0.1: discovery,
//! the key set, a sign-in at its form for a real code, and its token endpoint. Its
//! misbehaviours make it a broken or hostile provider; its test-only switches
//! (`edit_id_tokens`, `discovery_field`, `answer_with`) give the exact values and bytes no
//! misbehaviour describes.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::discovery::Timing;
use super::*;
use crate::config::{
    AuthConfig, ProviderConfig, TokenEndpointAuth, ValidProvider, RESERVED_PARAMS,
};
use crate::testing::{Canned, DevProvider, DevProviderBuilder, DevUser, Endpoint, Misbehaviour};

const CLIENT_ID: &str = "test-client";
/// Characters that RFC 6749 2.3.1 form-encoding changes, to prove it is applied.
const CLIENT_SECRET: &str = "s3cr:t/+&x";
const REDIRECT_URI: &str = "http://app.test/auth/callback";
const STATE: &str = "the-state";

// ---------------------------------------------------------------------------------------------
// The provider under test and the development provider it talks to

/// The one place a [`Provider`] is built: a provider named `name` with `settings` applied to
/// the defaults. Not checked by the configuration, so tests can also hand it values the
/// configuration refuses.
fn new_provider(
    name: &str,
    server_metadata_url: &str,
    settings: impl FnOnce(ProviderConfig) -> ProviderConfig,
) -> Result<Provider, ConfigError> {
    let config = settings(ProviderConfig::new(
        name,
        CLIENT_ID,
        CLIENT_SECRET,
        server_metadata_url,
    ));
    let valid = ValidProvider::unchecked(config, Url::parse(server_metadata_url).unwrap());
    Provider::new(&valid, Url::parse(REDIRECT_URI).unwrap(), &crate::config::Platform::default())
}

/// A provider named `test` for `dev`, with `settings` applied.
fn provider_with(
    dev: &DevProvider,
    settings: impl FnOnce(ProviderConfig) -> ProviderConfig,
) -> Provider {
    new_provider("test", &dev.server_metadata_url(), settings).unwrap()
}

fn provider_for(dev: &DevProvider) -> Provider {
    provider_with(dev, |p| p)
}

/// A development provider with our client registered.
fn dev_builder() -> DevProviderBuilder {
    DevProvider::builder()
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .redirect_uri(REDIRECT_URI)
}

async fn start_dev() -> DevProvider {
    dev_builder().start().await.unwrap()
}

/// Requests to discovery, the key set and the token endpoint so far.
fn hits(dev: &DevProvider) -> (u64, u64, u64) {
    let counts = dev.request_counts();
    (counts.discovery, counts.jwks, counts.token)
}

/// Who signs in.
fn alice() -> DevUser {
    DevUser::new("Alice Example", "alice@example.com")
        .with_sub("user-1")
        .claim("preferred_username", "alice")
        .claim("groups", json!(["admins", "staff"]))
        .claim("tid", "tenant-1")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A login up to the callback: the authorization request and the code sent back with it.
struct SignedIn {
    request: AuthorizationRequest,
    code: String,
}

/// Starts a login at `provider` and signs [`alice`] in at the development provider's form.
async fn sign_in(dev: &DevProvider, provider: &Provider) -> SignedIn {
    let request = provider.authorization_request(STATE).await.unwrap();
    let user = alice();
    let mut claims = user.claims().clone();
    claims.insert("sub".into(), user.subject().into());
    let mut form: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    for (name, value) in [
        ("name", user.name().to_owned()),
        ("email", user.email().to_owned()),
        ("claims", Value::Object(claims).to_string()),
        ("action", "sign_in".to_owned()),
    ] {
        form.push((name.to_owned(), value));
    }
    let response = http()
        .post(dev.authorization_endpoint())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(STATE));
    SignedIn {
        request,
        code: param("code").expect("a code"),
    }
}

/// Redeems the code of `signed_in` and verifies the ID token.
async fn exchange(provider: &Provider, signed_in: &SignedIn) -> Result<TokenSet, LoginError> {
    let SignedIn { request, code } = signed_in;
    provider
        .exchange_code(code, &request.pkce_verifier, &request.nonce)
        .await
}

/// A whole login: sign-in, code exchange, ID token verification.
async fn login(dev: &DevProvider, provider: &Provider) -> Result<TokenSet, LoginError> {
    exchange(provider, &sign_in(dev, provider).await).await
}

fn fast_timing() -> Timing {
    Timing {
        failure_backoff: Duration::from_millis(300),
        ..Timing::default()
    }
}

/// Seconds since the epoch, `offset` seconds from now.
fn at(offset: i64) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Value::from(now.as_secs() as i64 + offset)
}

type Edit = Box<dyn Fn(&mut Map<String, Value>, &mut Map<String, Value>) + Send + Sync>;

/// Sets `name` to `value` in `fields`, or removes it for `Value::Null`.
fn set(fields: &mut Map<String, Value>, name: &str, value: &Value) {
    if value.is_null() {
        fields.remove(name);
    } else {
        fields.insert(name.to_owned(), value.clone());
    }
}

/// ID tokens with these claims set (or removed, for `Value::Null`).
fn claims(edits: Vec<(&'static str, Value)>) -> Change {
    Change::EditIdTokens(Box::new(move |_, claims| {
        for (name, value) in &edits {
            set(claims, name, value);
        }
    }))
}

fn claim(name: &'static str, value: Value) -> Change {
    claims(vec![(name, value)])
}

/// ID tokens with this header field set (or removed, for `Value::Null`).
fn header(name: &'static str, value: Value) -> Change {
    Change::EditIdTokens(Box::new(move |header, _| set(header, name, &value)))
}

/// ID tokens issued `iat` seconds from now and expiring `exp` seconds from now, reckoned
/// when each token is signed.
fn times(iat: i64, exp: i64) -> Change {
    Change::EditIdTokens(Box::new(move |_, claims| {
        claims.insert("iat".into(), at(iat));
        claims.insert("exp".into(), at(exp));
    }))
}

/// One way the development provider is made to answer.
enum Change {
    Misbehave(Misbehaviour),
    EditIdTokens(Edit),
    Answer(Endpoint, Canned),
    DiscoveryField(&'static str, Value),
}

impl Change {
    fn apply(self, dev: &DevProvider) {
        match self {
            Change::Misbehave(misbehaviour) => dev.misbehave(misbehaviour),
            Change::EditIdTokens(edit) => dev.edit_id_tokens(edit),
            Change::Answer(endpoint, answer) => dev.answer_with(endpoint, Some(answer)),
            Change::DiscoveryField(name, value) => dev.discovery_field(name, value),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Code exchange and ID token verification

#[tokio::test]
async fn happy_path_returns_every_claim() {
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    let signed_in = sign_in(&dev, &provider).await;

    let tokens = exchange(&provider, &signed_in).await.unwrap();

    assert_eq!(Some(&tokens.id_token), dev.last_issued_id_token().as_ref());
    // The access token is the one the provider issued: userinfo takes it.
    let userinfo = http()
        .get(dev.userinfo_endpoint())
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), reqwest::StatusCode::OK);
    let userinfo: Value = serde_json::from_str(&userinfo.text().await.unwrap()).unwrap();
    assert_eq!(userinfo["sub"], "user-1");
    let c = &tokens.claims;
    assert_eq!(c["sub"], "user-1");
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["preferred_username"], "alice");
    assert_eq!(c["name"], "Alice Example");
    assert_eq!(c["iss"], dev.issuer());
    // A string, as the development provider writes it (the array form is accepted too, see
    // `acceptable_token_shapes_are_accepted`).
    assert_eq!(c["aud"], CLIENT_ID);
    assert_eq!(c["nonce"], signed_in.request.nonce);
    assert!(c["exp"].is_i64() && c["iat"].is_i64());
    assert!(c["at_hash"].is_string());
    assert_eq!(c["groups"], json!(["admins", "staff"]));
    assert_eq!(c["tid"], "tenant-1");

    // Every key of the payload appears once, and nothing else does.
    let payload = tokens.id_token.split('.').nth(1).unwrap();
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
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    let signed_in = sign_in(&dev, &provider).await;
    exchange(&provider, &signed_in).await.unwrap();

    let calls = dev.token_calls();
    let call = calls.last().unwrap();
    assert_eq!(call.param("grant_type"), Some("authorization_code"));
    assert_eq!(call.param("code"), Some(signed_in.code.as_str()));
    assert_eq!(
        call.param("code_verifier"),
        Some(signed_in.request.pkce_verifier.as_str())
    );
    assert_eq!(call.param("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(call.param("client_secret"), None);
    // RFC 6749 2.3.1: id and secret are form-encoded before Base64.
    let expected = format!(
        "Basic {}",
        STANDARD.encode("test-client:s3cr%3At%2F%2B%26x")
    );
    assert_eq!(call.authorization.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn client_secret_post_when_configured() {
    let dev = start_dev().await;
    let kwargs = |p: ProviderConfig| p.token_endpoint_auth(TokenEndpointAuth::ClientSecretPost);
    login(&dev, &provider_with(&dev, kwargs)).await.unwrap();

    let calls = dev.token_calls();
    let call = calls.last().unwrap();
    assert!(call.authorization.is_none());
    assert!(call
        .params
        .contains(&("client_id".into(), CLIENT_ID.into())));
    assert!(call
        .params
        .contains(&("client_secret".into(), CLIENT_SECRET.into())));
}

#[tokio::test]
async fn client_secret_post_when_provider_only_takes_post() {
    let dev = dev_builder()
        .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost)
        .start()
        .await
        .unwrap();
    dev.discovery_field(
        "token_endpoint_auth_methods_supported",
        json!(["client_secret_post", "private_key_jwt"]),
    );
    login(&dev, &provider_for(&dev)).await.unwrap();

    let calls = dev.token_calls();
    let call = calls.last().unwrap();
    assert!(call.authorization.is_none());
    assert!(call.param("client_secret").is_some());
}

#[tokio::test]
async fn expiry_within_leeway_is_accepted() {
    let dev = start_dev().await;
    times(-600, -30).apply(&dev);
    login(&dev, &provider_for(&dev)).await.unwrap();
}

#[tokio::test]
async fn nbf_in_the_past_or_within_leeway_is_accepted() {
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    for offset in [-60, 0, 30] {
        dev.behave();
        claim("nbf", at(offset)).apply(&dev);
        login(&dev, &provider).await.unwrap();
    }
}

#[tokio::test]
async fn bad_id_tokens_are_rejected() {
    use Misbehaviour::*;
    let misbehave = Change::Misbehave;
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    let not_a_jwt = json!({
        "access_token": "an-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": "not-a-jwt",
    });
    let cases: Vec<(&str, Change, &str)> = vec![
        ("wrong nonce", misbehave(WrongNonce), "nonce mismatch"),
        ("no nonce", misbehave(NoNonce), "nonce mismatch"),
        ("wrong aud", misbehave(WrongAudience), "(aud)"),
        (
            "extra untrusted aud",
            claims(vec![
                ("aud", json!([CLIENT_ID, "another-client"])),
                ("azp", json!(CLIENT_ID)),
            ]),
            "(aud)",
        ),
        ("wrong iss", misbehave(WrongIssuer), "(iss)"),
        ("expired", times(-600, -120), "expired"),
        (
            "nbf in the future",
            claim("nbf", at(300)),
            "not valid yet (nbf",
        ),
        (
            "nbf not a number",
            claim("nbf", json!("soon")),
            "nbf claim has the wrong type",
        ),
        ("iat in the future", times(300, 900), "issued in the future"),
        (
            "bad signature",
            misbehave(BadSignature),
            "signature is invalid",
        ),
        ("alg none", misbehave(AlgNone), "not signed"),
        (
            "HS256 with the client secret",
            misbehave(Hs256WithClientSecret),
            "algorithm that is not accepted",
        ),
        (
            "RS384 not advertised",
            header("alg", json!("RS384")),
            "algorithm that is not accepted",
        ),
        ("wrong at_hash", misbehave(WrongAtHash), "at_hash"),
        ("azp mismatch", misbehave(WrongAuthorizedParty), "(azp)"),
        (
            "not a JWT",
            Change::Answer(Endpoint::Token, Canned::json(200, &not_a_jwt)),
            "malformed",
        ),
        (
            "iat too old",
            times(-(11 * 60 + 30), 300),
            "issued too long ago (iat)",
        ),
        (
            "typ at+jwt",
            header("typ", json!("at+jwt")),
            "not an ID token",
        ),
        ("typ JOSE", header("typ", json!("JOSE")), "not an ID token"),
        ("typ not a string", header("typ", json!(1)), "malformed"),
        ("no sub", misbehave(NoSubject), "the token has no sub claim"),
        (
            "no iat",
            misbehave(NoIssuedAt),
            "the token has no iat claim",
        ),
        (
            "no exp",
            claim("exp", Value::Null),
            "the token has no exp claim",
        ),
        (
            "no iss",
            claim("iss", Value::Null),
            "the token has no iss claim",
        ),
        (
            "no aud",
            misbehave(NoAudience),
            "the token has no aud claim",
        ),
        (
            "iss not a URL",
            claim("iss", json!("not a url")),
            "iss claim is not a URL",
        ),
        (
            "exp not a number",
            claim("exp", json!("tomorrow")),
            "exp claim has the wrong type",
        ),
        ("empty sub", misbehave(EmptySubject), "(sub) is empty"),
        (
            "sub of 256 characters",
            misbehave(LongSubject),
            "longer than 255 characters",
        ),
        (
            "a jwk header with another key",
            misbehave(ForeignKeyInJwk),
            "(kid)",
        ),
    ];
    for (name, change, expected) in cases {
        dev.behave();
        change.apply(&dev);
        match login(&dev, &provider).await {
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
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    let cases = vec![
        ("typ absent", header("typ", Value::Null)),
        ("typ lowercase", header("typ", json!("jwt"))),
        (
            "typ as a media type",
            header("typ", json!("application/jwt")),
        ),
        ("no kid, one key", Change::Misbehave(Misbehaviour::NoKeyId)),
        ("aud as a string", claim("aud", json!(CLIENT_ID))),
        (
            "aud as a one-element array",
            Change::Misbehave(Misbehaviour::AudienceArray),
        ),
        (
            "sub of 255 characters",
            claim("sub", json!("s".repeat(255))),
        ),
    ];
    for (name, change) in cases {
        dev.behave();
        change.apply(&dev);
        if let Err(e) = login(&dev, &provider).await {
            panic!("{name}: {e:?}");
        }
    }
}

#[tokio::test]
async fn oauth_error_is_token_rejected_without_echoing_the_code() {
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    let signed_in = sign_in(&dev, &provider).await;
    dev.answer_with(
        Endpoint::Token,
        Some(Canned::json(
            400,
            &json!({
                "error": "invalid_grant",
                "error_description": format!("code {} was already used", signed_in.code),
            }),
        )),
    );
    match exchange(&provider, &signed_in).await {
        Err(LoginError::TokenRejected(message)) => {
            assert!(message.starts_with("invalid_grant"), "{message}");
            assert!(message.contains("already used"), "{message}");
            assert!(!message.contains(&signed_in.code), "{message}");
        }
        other => panic!("expected TokenRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn broken_token_answers_are_token_request_failed() {
    use Change::{Answer, Misbehave};
    let dev = start_dev().await;
    let provider = provider_for(&dev);
    let cases = vec![
        (
            "500",
            Answer(
                Endpoint::Token,
                Canned::json(500, &json!({"error": "server_error"})),
            ),
            "HTTP 500",
        ),
        (
            "HTML 200",
            Misbehave(Misbehaviour::TokenResponseHtml),
            "not JSON",
        ),
        (
            "HTML 404",
            Answer(
                Endpoint::Token,
                Canned::raw(404, "text/html", "<html>nope</html>"),
            ),
            "HTTP 404",
        ),
        (
            "huge with length",
            Answer(
                Endpoint::Token,
                Canned::raw(200, "application/json", vec![b' '; 2 << 20]),
            ),
            "larger than",
        ),
        (
            "huge chunked",
            Misbehave(Misbehaviour::HugeTokenResponse),
            "larger than",
        ),
        (
            "no id_token",
            Misbehave(Misbehaviour::TokenResponseWithoutIdToken),
            "no id_token",
        ),
        (
            "no access_token",
            Misbehave(Misbehaviour::TokenResponseWithoutAccessToken),
            "no access_token",
        ),
        (
            "redirect",
            Misbehave(Misbehaviour::Redirect(Endpoint::Token)),
            "redirect",
        ),
    ];
    for (name, change, expected) in cases {
        dev.behave();
        change.apply(&dev);
        match login(&dev, &provider).await {
            Err(LoginError::TokenRequestFailed(reason)) => assert!(
                reason.contains(expected),
                "{name}: reason {reason:?} should contain {expected:?}"
            ),
            other => panic!("{name}: expected TokenRequestFailed, got {other:?}"),
        }
    }
    assert_eq!(
        dev.request_counts().redirect_targets,
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn token_endpoint_timeout_is_token_request_failed() {
    let dev = start_dev().await;
    dev.misbehave(Misbehaviour::SlowTokenEndpoint(Duration::from_secs(30)));
    let kwargs = |p: ProviderConfig| p.timeout(Duration::from_millis(300));
    match login(&dev, &provider_with(&dev, kwargs)).await {
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
    let dev = start_dev().await;
    let mut provider = provider_for(&dev);
    provider.ready().await.unwrap();
    assert_eq!(hits(&dev), (1, 1, 0));

    // The provider rotates its key after we cached its key set.
    dev.rotate_signing_key();
    provider.cache_timing(Timing {
        key_refetch_interval: Duration::ZERO,
        ..Timing::default()
    });

    let tokens = login(&dev, &provider).await.unwrap();
    assert_eq!(tokens.claims["sub"], "user-1");
    assert_eq!(hits(&dev), (1, 2, 1));

    // The new set is kept: no further fetch.
    login(&dev, &provider).await.unwrap();
    assert_eq!(hits(&dev), (1, 2, 2));
}

#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited() {
    let dev = start_dev().await;
    let mut provider = provider_for(&dev);
    provider.ready().await.unwrap();
    provider.cache_timing(Timing {
        key_refetch_interval: Duration::ZERO,
        ..Timing::default()
    });
    // Signed with a key the key set does not publish (the `jwk` header is never trusted).
    dev.misbehave(Misbehaviour::ForeignKeyInJwk);

    match login(&dev, &provider).await {
        Err(LoginError::IdTokenRejected(reason)) => assert!(reason.contains("kid"), "{reason}"),
        other => panic!("expected IdTokenRejected, got {other:?}"),
    }
    assert_eq!(hits(&dev).1, 2, "exactly one refetch");

    provider.cache_timing(Timing::default());
    assert!(login(&dev, &provider).await.is_err());
    assert_eq!(hits(&dev).1, 2, "a second refetch within 10 s");
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_refetch() {
    let dev = Arc::new(start_dev().await);
    let mut provider = provider_for(&dev);
    provider.ready().await.unwrap();
    // Even with no rate limit, callers that find the same stale key set wait for one fetch.
    provider.cache_timing(Timing {
        key_refetch_interval: Duration::ZERO,
        ..Timing::default()
    });
    dev.rotate_signing_key();
    let provider = Arc::new(provider);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (dev, provider) = (dev.clone(), provider.clone());
            tokio::spawn(async move { login(&dev, &provider).await.map(|_| ()) })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(hits(&dev), (1, 2, 16), "16 logins, one key-set refetch");
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn concurrent_callers_share_one_discovery() {
    let dev = start_dev().await;
    let provider = Arc::new(provider_for(&dev));
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.ready().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(hits(&dev), (1, 1, 0));
    assert_eq!(provider.issuer(), Some(dev.issuer()));
    assert!(provider.advertises_iss_parameter());
    assert_eq!(provider.name(), "test");
}

#[tokio::test]
async fn discovery_failure_backs_off_then_retries() {
    let dev = start_dev().await;
    dev.answer_with(Endpoint::Discovery, Some(Canned::json(500, &json!({}))));
    let mut provider = provider_for(&dev);
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
    assert_eq!(hits(&dev).0, 1);
    assert_eq!(provider.issuer(), None);

    dev.answer_with(Endpoint::Discovery, None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    provider.ready().await.unwrap();
    assert_eq!(hits(&dev).0, 2);
}

#[tokio::test]
async fn provider_down_at_start_recovers_by_itself() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    let mut provider = new_provider("test", &url, |p| p).unwrap();
    provider.cache_timing(fast_timing());

    match provider.ready().await {
        Err(LoginError::ProviderUnavailable { reason, .. }) => {
            assert!(reason.contains("connection refused"), "{reason}")
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
    assert!(provider
        .end_session_url(EndSessionHints::default(), REDIRECT_URI, "s")
        .await
        .is_none());

    let dev = dev_builder().port(port).start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    provider.ready().await.unwrap();
    assert_eq!(provider.issuer(), Some(dev.issuer()));
}

#[tokio::test]
async fn bad_discovery_answers_are_provider_unavailable() {
    use Change::{Answer, DiscoveryField, Misbehave};
    let cases = vec![
        (
            "html",
            Answer(
                Endpoint::Discovery,
                Canned::raw(200, "text/html", "<html>login</html>"),
            ),
            "not JSON",
        ),
        (
            "redirect",
            Misbehave(Misbehaviour::Redirect(Endpoint::Discovery)),
            "redirects are not followed",
        ),
        (
            "huge",
            Answer(
                Endpoint::Discovery,
                Canned::raw(200, "application/json", vec![b' '; 2 << 20]).chunked(),
            ),
            "larger than",
        ),
        (
            "not metadata",
            Answer(
                Endpoint::Discovery,
                Canned::json(200, &json!({"hello": "world"})),
            ),
            "not a valid OpenID configuration",
        ),
        (
            "no token endpoint",
            DiscoveryField("token_endpoint", Value::Null),
            "no token_endpoint",
        ),
        (
            "broken jwks_uri",
            DiscoveryField("jwks_uri", json!("http://127.0.0.1:1/jwks")),
            "could not connect",
        ),
    ];
    for (name, change, expected) in cases {
        let dev = start_dev().await;
        change.apply(&dev);
        match provider_for(&dev).ready().await {
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
    let dev = start_dev().await;
    dev.misbehave(Misbehaviour::AnnounceIssuer(
        "https://accounts.example".into(),
    ));
    match provider_for(&dev).ready().await {
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
        hits(&dev),
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
            Ok(_) => panic!("{url} / {issuer}: accepted"),
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

    // Microsoft Entra ID's multi-tenant documents name a template, checked per token.
    for url in [
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
        "https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration",
    ] {
        assert_eq!(
            check_issuer(
                url,
                "URL",
                "https://login.microsoftonline.com/{tenantid}/v2.0"
            ),
            Ok(super::discovery::IssuerKind::TenantTemplate),
            "{url}"
        );
    }
    // Any other template stays refused: another document, another host, two placeholders.
    for (url, issuer) in [
        (
            "https://login.microsoftonline.com/contoso/v2.0/.well-known/openid-configuration",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        ),
        (
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "https://evil.example/{tenantid}/v2.0",
        ),
        (
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "https://login.microsoftonline.com/{tenantid}/v2.0/{tenantid}",
        ),
        (
            "https://a.example/.well-known/openid-configuration",
            "https://a.example/{tenantid}",
        ),
    ] {
        let err = check_issuer(url, "URL", issuer).unwrap_err();
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
    for algs in [vec!["none"], vec!["HS256", "HS384", "HS512"]] {
        let dev = start_dev().await;
        dev.misbehave(Misbehaviour::SigningAlgs(
            algs.iter().map(|alg| (*alg).to_owned()).collect(),
        ));
        match provider_for(&dev).ready().await {
            Err(LoginError::ProviderUnavailable { reason, .. }) => {
                assert!(
                    reason.contains("lists only ID token signing algorithms"),
                    "{reason}"
                );
                assert!(reason.contains(&algs.join(", ")), "{reason}");
            }
            other => panic!("{algs:?}: expected ProviderUnavailable, got {other:?}"),
        }
    }
}

/// Keys openidconnect parses with their key material missing.
fn broken_keys() -> Vec<Value> {
    vec![
        json!({"kty": "RSA", "kid": "broken", "n": "!!not base64!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-e", "n": "AQAB"}),
        json!({"kty": "EC", "kid": "curve", "crv": "P-1024", "x": "AAAA", "y": "AAAA"}),
        json!({"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"}),
    ]
}

/// The development provider's key set as it publishes it.
async fn published_keys(dev: &DevProvider) -> Vec<Value> {
    let body = http()
        .get(dev.jwks_uri())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let set: Value = serde_json::from_str(&body).unwrap();
    set["keys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn unusable_keys_are_dropped_from_the_key_set() {
    let dev = start_dev().await;
    let mut keys = published_keys(&dev).await;
    assert_eq!(keys.len(), 1);
    keys.extend(broken_keys());
    dev.answer_with(
        Endpoint::Jwks,
        Some(Canned::json(200, &json!({ "keys": keys }))),
    );
    let provider = provider_for(&dev);
    provider.ready().await.unwrap();
    let snapshot = provider.cache.current().unwrap();
    assert_eq!(snapshot.keys.keys().len(), 1);
    // A token without kid is then not ambiguous.
    dev.misbehave(Misbehaviour::NoKeyId);
    login(&dev, &provider).await.unwrap();

    let dev = start_dev().await;
    dev.answer_with(
        Endpoint::Jwks,
        Some(Canned::json(200, &json!({ "keys": broken_keys() }))),
    );
    match provider_for(&dev).ready().await {
        Err(LoginError::ProviderUnavailable { reason, .. }) => {
            assert!(reason.contains("has no usable keys"), "{reason}")
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_without_kid_and_several_keys_is_refused() {
    let dev = start_dev().await;
    // Two keys in the key set, and a token that names neither.
    dev.misbehave(Misbehaviour::NoKeyIdSeveralKeys);
    match login(&dev, &provider_for(&dev)).await {
        Err(LoginError::IdTokenRejected(reason)) => {
            assert!(reason.contains("names none (kid)"), "{reason}")
        }
        other => panic!("expected IdTokenRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn stale_metadata_is_refreshed_and_kept_when_refresh_fails() {
    let dev = start_dev().await;
    let mut provider = provider_for(&dev);
    provider.cache_timing(Timing {
        metadata_max_age: Duration::ZERO,
        ..Timing::default()
    });
    provider.ready().await.unwrap();
    provider.ready().await.unwrap();
    assert_eq!(hits(&dev).0, 2, "a stale document is fetched again");

    dev.answer_with(Endpoint::Discovery, Some(Canned::json(500, &json!({}))));
    provider.ready().await.unwrap();
    assert_eq!(provider.issuer(), Some(dev.issuer()));
}

// ---------------------------------------------------------------------------------------------
// Authorization and logout URLs

#[tokio::test]
async fn authorization_url_has_every_parameter() {
    let dev = start_dev().await;
    dev.discovery_field(
        "authorization_endpoint",
        json!(format!("{}/authorize?tenant=t1", dev.issuer())),
    );
    dev.discovery_field("code_challenge_methods_supported", json!(["plain"]));
    let kwargs = |p: ProviderConfig| {
        p.param("domain_hint", "example.com")
            .param("nonce", "smuggled")
    };
    let provider = provider_with(&dev, kwargs);
    let request = provider.authorization_request("the-state").await.unwrap();

    assert!(request
        .url
        .as_str()
        .starts_with(&format!("{}/authorize?tenant=t1&", dev.issuer())));
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
    let dev = start_dev().await;
    let smuggle = |mut p: ProviderConfig| {
        for (name, _) in RESERVED_PARAMS {
            p = p.param(name, "smuggled");
        }
        p
    };
    let provider = provider_with(&dev, smuggle);
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
                ProviderConfig::new("p", CLIENT_ID, CLIENT_SECRET, dev.server_metadata_url())
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
    let dev = start_dev().await;
    let kwargs = |p: ProviderConfig| p.prompt(None);
    let provider = provider_with(&dev, kwargs);
    let request = provider.authorization_request("s").await.unwrap();
    assert!(!request.url.query_pairs().any(|(k, _)| k == "prompt"));
}

#[tokio::test]
async fn end_session_url_keeps_the_endpoint_query() {
    let dev = start_dev().await;
    dev.discovery_field(
        "end_session_endpoint",
        json!(format!("{}/logout?tenant=t1", dev.issuer())),
    );
    let provider = provider_for(&dev);
    let url = provider
        .end_session_url(
            EndSessionHints {
                id_token: Some("the.id.token"),
                logout: Some("O.CiQ1"),
            },
            "http://app.test/",
            "st",
        )
        .await
        .unwrap();
    assert_eq!(
        url.as_str(),
        format!(
            "{}/logout?tenant=t1&client_id=test-client&id_token_hint=the.id.token\
             &logout_hint=O.CiQ1&post_logout_redirect_uri=http%3A%2F%2Fapp.test%2F&state=st",
            dev.issuer()
        )
    );
    let url = provider
        .end_session_url(EndSessionHints::default(), "http://app.test/", "st")
        .await
        .unwrap();
    assert!(!url.query_pairs().any(|(k, _)| k == "id_token_hint"));
}

#[tokio::test]
async fn no_end_session_url_without_endpoint() {
    let dev = start_dev().await;
    dev.discovery_field("end_session_endpoint", Value::Null);
    dev.discovery_field(
        "authorization_response_iss_parameter_supported",
        json!("true"),
    );
    let provider = provider_for(&dev);
    assert!(provider
        .end_session_url(EndSessionHints::default(), "http://app.test/", "st")
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
    let provider = new_provider("test", "http://127.0.0.1:1/x", |p| p).unwrap();
    assert_send(&provider.ready());
    assert_send(&provider.authorization_request("s"));
    assert_send(&provider.exchange_code("c", "v", "n"));
    assert_send(&provider.end_session_url(EndSessionHints::default(), "u", "s"));
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Provider>();
}

impl Provider {
    fn cache_timing(&mut self, timing: Timing) {
        self.cache.timing = timing;
    }
}

#[test]
fn every_discovered_endpoint_must_be_https_when_discovery_is() {
    use super::discovery::plain_http_endpoint;
    let https = Url::parse("https://op.example/x").unwrap();
    let http = Url::parse("http://op.example/logout").unwrap();
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        let endpoints: Vec<(&str, Option<&Url>)> = [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
        ]
        .into_iter()
        .map(|name| (name, Some(if name == field { &http } else { &https })))
        .collect();
        assert_eq!(plain_http_endpoint(&endpoints), Some(field));
    }
    // Absent optional endpoints are fine.
    assert_eq!(
        plain_http_endpoint(&[
            ("token_endpoint", Some(&https)),
            ("end_session_endpoint", None)
        ]),
        None
    );
}

#[tokio::test]
async fn pages_never_show_addresses_discovery_chose() {
    // A hostile provider points its key set at an internal address: the visitor's words name
    // no address, the log keeps it.
    let dev = start_dev().await;
    dev.discovery_field("jwks_uri", json!("http://127.0.0.9:1/internal/jwks"));
    match provider_for(&dev).ready().await {
        Err(LoginError::ProviderUnavailable { reason, .. }) => {
            assert!(
                reason.contains("could not connect to its key set"),
                "{reason}"
            );
            assert!(!reason.contains("127.0.0.9"), "{reason}");
            assert!(!reason.contains("/internal/"), "{reason}");
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
}
