//! A broken or hostile OpenID provider: every way the development provider can misbehave
//! (`DevProvider::misbehave`), and what the app does about it.
//!
//! Each test names the OpenID Foundation RP certification case it reproduces (`rp_*`) or the
//! rule it checks. "Refused" means: the right status (4xx when the login is bad, 502/503 when
//! the provider is at fault), an HTML page that says what went wrong, no session cookie, the
//! visitor still anonymous, the pending login consumed, and no request to the provider after
//! the step that failed. "Accepted" means the visitor is logged in.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::*;
use tower_oidc_login::testing::{DevProvider, DevUser, Endpoint, Misbehaviour, RequestCounts};

const LOGIN: &str = "/auth/login";
const USED: &str = "unknown, expired or was already used";

/// The app's HTML escaping, to look for provider-chosen text on a page.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// A provider, an app that logs in with it, and a browser.
struct Setup {
    provider: DevProvider,
    app: App,
    browser: Browser,
}

async fn setup() -> Setup {
    let (provider, app) = one_provider_app().await;
    Setup {
        provider,
        app,
        browser: Browser::new(),
    }
}

/// A setup misbehaving in `misbehaviour` from the start.
async fn misbehaving(misbehaviour: Misbehaviour) -> Setup {
    let setup = setup().await;
    setup.provider.misbehave(misbehaviour);
    setup
}

/// An app for `provider` with `extra` appended to its secrets.
async fn setup_for(provider: DevProvider, extra: &str) -> Setup {
    let secrets = format!("{}{extra}", provider.secrets_toml(REDIRECT, COOKIE_SECRET));
    let app = start_app(&secrets).await;
    Setup {
        provider,
        app,
        browser: Browser::new(),
    }
}

/// What one refused callback is expected to look like.
struct Refusal<'a> {
    status: StatusCode,
    /// Text the page says (HTML-escaped before looking).
    says: &'a str,
    /// Token requests the callback makes: 1 when the code is redeemed and the answer refused,
    /// 0 when the callback refuses before redeeming it.
    token_requests: u64,
    /// Key set requests the callback makes (1 when the token names an unknown `kid`).
    jwks_requests: u64,
}

impl<'a> Refusal<'a> {
    /// A bad ID token: one token request, then 400.
    fn bad_token(says: &'a str) -> Refusal<'a> {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            says,
            token_requests: 1,
            jwks_requests: 0,
        }
    }

    /// A broken token endpoint: one token request, then 502.
    fn broken_endpoint(says: &'a str) -> Refusal<'a> {
        Refusal {
            status: StatusCode::BAD_GATEWAY,
            ..Refusal::bad_token(says)
        }
    }
}

/// Asserts a failure page: status, HTML, the reason, a way to try again, no session cookie.
async fn assert_failure_page(r: reqwest::Response, status: StatusCode, says: &str) -> String {
    assert_eq!(r.status(), status);
    assert_no_session_cookie(r.headers());
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains(&escaped(says)), "{says:?} not in {page}");
    assert!(page.contains("Try again"), "{page}");
    page
}

fn assert_no_session_cookie(headers: &reqwest::header::HeaderMap) {
    if let Some(pair) = cookie_pair(headers, "oidc_session") {
        assert_eq!(pair, "oidc_session=", "a session cookie was set on failure");
    }
}

impl Setup {
    fn counts(&self) -> RequestCounts {
        self.provider.request_counts()
    }

    /// Starts a login and signs in at the provider; returns the callback URL.
    async fn start(&self) -> String {
        self.browser
            .start_login(&self.app.url(LOGIN), "Mallory", "mallory@example.com", "")
            .await
    }

    /// Logs in as `user` and asserts it succeeds; returns `/me`.
    async fn assert_accepted_as(&self, user: &DevUser) -> serde_json::Value {
        let mut claims = user.claims().clone();
        claims.insert("sub".into(), user.subject().into());
        let claims = serde_json::to_string(&claims).unwrap();
        let callback = self
            .browser
            .start_login(&self.app.url(LOGIN), user.name(), user.email(), &claims)
            .await;
        let r = self.browser.get(&callback).await;
        let status = r.status();
        let session = cookie_pair(r.headers(), "oidc_session");
        assert_eq!(
            status,
            StatusCode::FOUND,
            "login refused: {}",
            r.text().await.unwrap_or_default()
        );
        assert!(
            session.is_some_and(|pair| pair.len() > "oidc_session=".len()),
            "a session cookie is set"
        );
        let me = self.browser.me(&self.app).await;
        assert_eq!(me["is_logged_in"], true);
        assert_eq!(self.counts().userinfo, 0, "userinfo is never called");
        me
    }

    async fn assert_accepted(&self) -> serde_json::Value {
        self.assert_accepted_as(&DevUser::new("Alice", "alice@example.com"))
            .await
    }

    /// Runs a login whose callback must be refused as `expected` says.
    async fn assert_refused_at_callback(&self, expected: Refusal<'_>) -> String {
        let callback = self.start().await;
        let before = self.counts();
        let r = self.browser.get(&callback).await;
        let page = assert_failure_page(r, expected.status, expected.says).await;
        assert_eq!(self.browser.me(&self.app).await["is_logged_in"], false);

        let after = self.counts();
        assert_eq!(after.token, before.token + expected.token_requests);
        assert_eq!(after.jwks, before.jwks + expected.jwks_requests);
        assert_eq!(
            (
                after.discovery,
                after.authorize,
                after.sign_in,
                after.userinfo
            ),
            (before.discovery, before.authorize, before.sign_in, 0),
            "no other request to the provider"
        );
        assert_eq!(after.redirect_targets, 0);
        assert_eq!(after.attacker_keys, 0);

        // The pending login is gone: the same callback cannot be tried again.
        let again = self.browser.get(&callback).await;
        assert_failure_page(again, StatusCode::BAD_REQUEST, USED).await;
        assert_eq!(self.counts(), after, "the second try reached the provider");
        page
    }

    /// Opens the login while discovery or the key set is broken: refused with a 503 page
    /// before the browser is ever sent to the provider.
    async fn assert_refused_at_login(&self, says: &str) -> String {
        let r = self.browser.get(&self.app.url(LOGIN)).await;
        let page = assert_failure_page(r, StatusCode::SERVICE_UNAVAILABLE, says).await;
        assert_eq!(self.browser.me(&self.app).await["is_logged_in"], false);
        let counts = self.counts();
        assert_eq!(
            (counts.authorize, counts.token, counts.userinfo),
            (0, 0, 0),
            "the login never reached the provider's endpoints"
        );
        assert_eq!(counts.redirect_targets, 0);
        page
    }
}

// ---------------------------------------------------------------------------------------
// OpenID RP certification, Basic RP profile

#[tokio::test]
async fn rp_response_type_code_is_accepted() {
    let s = setup().await;
    let r = s.browser.get(&s.app.url(LOGIN)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let authorize = url::Url::parse(&location(r.headers())).unwrap();
    let param = |name: &str| {
        authorize
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert!(param("scope")
        .unwrap()
        .split(' ')
        .any(|scope| scope == "openid"));
    assert_eq!(param("client_id").as_deref(), Some(s.provider.client_id()));
    assert_eq!(
        param("redirect_uri"),
        Some(REDIRECT.replace("{port}", &s.app.port.to_string()))
    );
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("state").is_some() && param("nonce").is_some());

    let me = s.assert_accepted().await;
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["iss"], s.provider.issuer());
}

#[tokio::test]
async fn rp_id_token_issuer_mismatch_is_refused() {
    let s = misbehaving(Misbehaviour::WrongIssuer).await;
    s.assert_refused_at_callback(Refusal::bad_token("issued by another provider (iss)"))
        .await;
}

#[tokio::test]
async fn rp_id_token_sub_missing_is_refused() {
    let s = misbehaving(Misbehaviour::NoSubject).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token has no sub claim"))
        .await;
}

#[tokio::test]
async fn rp_id_token_aud_wrong_is_refused() {
    let s = misbehaving(Misbehaviour::WrongAudience).await;
    s.assert_refused_at_callback(Refusal::bad_token("issued for another application (aud)"))
        .await;
}

#[tokio::test]
async fn rp_id_token_aud_missing_is_refused() {
    let s = misbehaving(Misbehaviour::NoAudience).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token has no aud claim"))
        .await;
}

#[tokio::test]
async fn rp_id_token_iat_missing_is_refused() {
    let s = misbehaving(Misbehaviour::NoIssuedAt).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token has no iat claim"))
        .await;
}

#[tokio::test]
async fn rp_id_token_kid_absent_single_jwks_is_accepted() {
    let s = misbehaving(Misbehaviour::NoKeyId).await;
    s.assert_accepted().await;
    assert_eq!(s.counts().jwks, 1, "no refetch for a token without kid");
}

/// Several keys fit a token without `kid`: refused (allowed by the certification; OpenID
/// Connect Core 10.1 requires `kid` when the set has several keys), not tried one by one.
#[tokio::test]
async fn rp_id_token_kid_absent_multiple_jwks_is_refused() {
    let s = misbehaving(Misbehaviour::NoKeyIdSeveralKeys).await;
    s.assert_refused_at_callback(Refusal::bad_token(
        "several of the provider's keys match the token and it names none (kid)",
    ))
    .await;
}

#[tokio::test]
async fn rp_id_token_sig_rs256_is_accepted() {
    let s = setup().await;
    s.assert_accepted().await;
    let counts = s.counts();
    assert_eq!((counts.discovery, counts.jwks, counts.token), (1, 1, 1));
}

#[tokio::test]
async fn rp_id_token_sig_none_is_refused() {
    let s = misbehaving(Misbehaviour::AlgNone).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token is not signed (alg none)"))
        .await;
}

#[tokio::test]
async fn rp_id_token_bad_sig_rs256_is_refused() {
    let s = misbehaving(Misbehaviour::BadSignature).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token's signature is invalid"))
        .await;
}

/// Not applicable by default: without `fetch_userinfo` the app never calls userinfo (like
/// Streamlit), so a userinfo answer with another `sub` cannot mislead it and the login
/// succeeds on the (valid) ID token alone. (With `fetch_userinfo = true` such an answer fails
/// the login: `tests/userinfo.rs`.)
#[tokio::test]
async fn rp_userinfo_bad_sub_claim_is_not_applicable() {
    let s = misbehaving(Misbehaviour::UserinfoWrongSubject).await;
    let user = DevUser::new("Alice", "alice@example.com");
    let me = s.assert_accepted_as(&user).await;
    assert_eq!(me["sub"], user.subject());
}

/// Not applicable by default: without `fetch_userinfo` the app reads claims from the ID token
/// only, so claims a provider serves only from userinfo are missing (as in Streamlit).
#[tokio::test]
async fn rp_scope_userinfo_claims_is_not_applicable() {
    let s = misbehaving(Misbehaviour::ClaimsOnlyFromUserinfo).await;
    let user = DevUser::new("Alice", "alice@example.com");
    let me = s.assert_accepted_as(&user).await;
    assert_eq!(me["sub"], user.subject());
    assert!(me.get("email").is_none(), "{me}");
}

#[tokio::test]
async fn rp_nonce_invalid_is_refused() {
    let s = misbehaving(Misbehaviour::WrongNonce).await;
    s.assert_refused_at_callback(Refusal::bad_token("nonce mismatch"))
        .await;
}

#[tokio::test]
async fn rp_token_endpoint_client_secret_basic_is_accepted() {
    // RFC 6749 2.3.1: the secret is form-encoded before Base64; TOML must escape it too.
    let secret = "s3:cr%t+&x é\"\\'ü";
    let provider = DevProvider::builder()
        .client_secret(secret)
        .token_endpoint_auth(tower_oidc_login::testing::TokenEndpointAuth::ClientSecretBasic)
        .start()
        .await
        .unwrap();
    assert_eq!(provider.client_secret(), secret);
    let s = setup_for(provider, "").await;
    s.assert_accepted().await;
    assert_eq!(s.counts().token, 1);
}

// ---------------------------------------------------------------------------------------
// OpenID RP certification, Config RP profile

#[tokio::test]
async fn rp_discovery_openid_configuration_is_accepted() {
    let s = setup().await;
    s.assert_accepted().await;
    s.assert_accepted().await;
    let counts = s.counts();
    assert_eq!(
        (counts.discovery, counts.jwks),
        (1, 1),
        "discovery and keys are fetched once and cached"
    );
}

#[tokio::test]
async fn rp_discovery_jwks_uri_keys_is_accepted() {
    let s = misbehaving(Misbehaviour::RandomJwksUri).await;
    let discovery: serde_json::Value = reqwest::get(s.provider.server_metadata_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    assert_ne!(jwks_uri, s.provider.jwks_uri());
    assert!(jwks_uri.starts_with(&format!("{}/", s.provider.jwks_uri())));
    assert_eq!(
        reqwest::get(s.provider.jwks_uri()).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    s.assert_accepted().await;
    assert_eq!(
        s.counts().jwks,
        2,
        "the 404 above, then the suffixed key set"
    );
}

#[tokio::test]
async fn rp_discovery_issuer_not_matching_config_is_refused() {
    // Another host, the same server (localhost instead of 127.0.0.1).
    let s = setup().await;
    let issuer = format!("http://localhost:{}", s.provider.port());
    s.provider
        .misbehave(Misbehaviour::AnnounceIssuer(issuer.clone()));
    let page = s
        .assert_refused_at_login(&format!("names the issuer \"{issuer}\""))
        .await;
    assert!(page.contains("Discovery 4.3"), "{page}");
    assert!(
        page.contains(&format!("{issuer}/.well-known/openid-configuration")),
        "the page says where that issuer's document is: {page}"
    );
    assert_eq!((s.counts().discovery, s.counts().jwks), (1, 0));

    // Another host, with markup in it: named on the page, escaped.
    let s = misbehaving(Misbehaviour::AnnounceIssuer(
        "https://accounts.example/<b>evil</b>".into(),
    ))
    .await;
    let page = s
        .assert_refused_at_login("https://accounts.example/<b>evil</b>")
        .await;
    assert!(!page.contains("<b>evil"), "{page}");

    // Another path, the path or scheme in another case, two trailing slashes. Each with a
    // fresh app: an app remembers a failed discovery for a few seconds.
    let provider = DevProvider::builder()
        .issuer_path("/tenant/v2.0")
        .start()
        .await
        .unwrap();
    let port = provider.port();
    let base = format!("http://127.0.0.1:{port}");
    for issuer in [
        format!("{base}/TENANT/v2.0"),
        format!("{base}/tenant"),
        format!("{base}/tenant/v2.0/other"),
        format!("{base}/tenant/v2.0//"),
        format!("HTTP://127.0.0.1:{port}/tenant/v2.0"),
    ] {
        provider.misbehave(Misbehaviour::AnnounceIssuer(issuer.clone()));
        let app = start_app(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).await;
        let browser = Browser::new();
        let r = browser.get(&app.url(LOGIN)).await;
        assert_failure_page(
            r,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("names the issuer \"{issuer}\""),
        )
        .await;
        assert_eq!(browser.me(&app).await["is_logged_in"], false);
    }
    assert_eq!(provider.request_counts().authorize, 0);
}

/// OpenID Connect Discovery 4.1: a terminating `/` of the issuer is removed before
/// `/.well-known/openid-configuration` is appended, so the issuer `…/` (as Auth0 writes it)
/// is the issuer of the document it was fetched from.
#[tokio::test]
async fn discovery_issuer_with_a_trailing_slash_is_accepted() {
    let s = setup().await;
    let issuer = format!("{}/", s.provider.issuer());
    s.provider
        .misbehave(Misbehaviour::AnnounceIssuer(issuer.clone()));
    let me = s.assert_accepted().await;
    assert_eq!(me["iss"], issuer);

    let provider = DevProvider::builder()
        .issuer_path("/tenant/v2.0")
        .start()
        .await
        .unwrap();
    let issuer = format!("{}/", provider.issuer());
    provider.misbehave(Misbehaviour::AnnounceIssuer(issuer.clone()));
    let s = setup_for(provider, "").await;
    assert_eq!(s.assert_accepted().await["iss"], issuer);
}

/// Microsoft Entra ID's `/common` document names a templated issuer no token matches: the
/// page says to use the tenant-specific document.
#[tokio::test]
async fn entra_multi_tenant_templated_issuer_is_refused_with_advice() {
    let s = misbehaving(Misbehaviour::AnnounceIssuer(
        "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
    ))
    .await;
    let page = s
        .assert_refused_at_login("Microsoft Entra ID's multi-tenant one")
        .await;
    assert!(page.contains("directory (tenant) ID"), "{page}");
}

#[tokio::test]
async fn rp_key_rotation_op_sign_key_is_followed() {
    let s = setup().await;
    s.assert_accepted().await;
    s.provider.rotate_signing_key();
    let again = Setup {
        browser: Browser::new(),
        ..s
    };
    again.assert_accepted().await;
    assert_eq!(again.counts().jwks, 2, "a second key set request");
}

/// `rp-key-rotation-op-sign-key-native`: the key rotates between the moment the app cached
/// the key set (at the login's start) and the moment the token is signed.
#[tokio::test]
async fn rp_key_rotation_just_before_signing_is_followed() {
    let s = misbehaving(Misbehaviour::RotateKeyBeforeSigning).await;
    let before = s.provider.signing_key_id();
    s.assert_accepted().await;
    assert_ne!(s.provider.signing_key_id(), before);
    assert_eq!(
        s.counts().jwks,
        2,
        "the key set is fetched again for the new kid"
    );
}

// ---------------------------------------------------------------------------------------
// Signatures and keys

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    for misbehaviour in [
        Misbehaviour::Hs256WithPublicKeyPem,
        Misbehaviour::Hs256WithPublicKeyModulus,
    ] {
        let s = misbehaving(misbehaviour).await;
        s.assert_refused_at_callback(Refusal::bad_token(
            "the token is signed with an algorithm that is not accepted",
        ))
        .await;
    }
}

#[tokio::test]
async fn hs256_keyed_with_the_client_secret_is_refused() {
    let s = misbehaving(Misbehaviour::Hs256WithClientSecret).await;
    s.assert_refused_at_callback(Refusal::bad_token(
        "the token is signed with an algorithm that is not accepted",
    ))
    .await;
}

/// Only discovery's key set is trusted: a key the token carries (`jwk`) or points at (`jku`,
/// `x5u`) is never fetched nor used. The unknown `kid` makes the app fetch discovery's key
/// set once more, in case the provider rotated.
#[tokio::test]
async fn keys_named_in_the_token_header_are_never_trusted() {
    for misbehaviour in [
        Misbehaviour::ForeignKeyInJku,
        Misbehaviour::ForeignKeyInJwk,
        Misbehaviour::ForeignKeyInX5u,
    ] {
        let s = misbehaving(misbehaviour).await;
        s.assert_refused_at_callback(Refusal {
            jwks_requests: 1,
            ..Refusal::bad_token("signed with a key the provider does not publish (kid)")
        })
        .await;
        assert_eq!(s.counts().attacker_keys, 0);
    }
}

#[tokio::test]
async fn an_access_token_passed_off_as_the_id_token_is_refused() {
    let s = misbehaving(Misbehaviour::AccessTokenType).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token is not an ID token"))
        .await;
}

#[tokio::test]
async fn a_key_set_that_is_down_is_a_503() {
    let s = misbehaving(Misbehaviour::JwksUnavailable).await;
    s.assert_refused_at_login("HTTP 503 from").await;
    assert_eq!((s.counts().discovery, s.counts().jwks), (1, 1));
}

/// Conformance suite `ignores-unparseable-key-in-jwks`.
#[tokio::test]
async fn unparseable_keys_next_to_the_real_key_are_ignored() {
    let s = misbehaving(Misbehaviour::UnparseableKeys).await;
    s.assert_accepted().await;
}

#[tokio::test]
async fn a_key_set_of_only_unparseable_keys_is_a_503() {
    let s = misbehaving(Misbehaviour::OnlyUnparseableKeys).await;
    s.assert_refused_at_login("has no usable keys").await;
}

#[tokio::test]
async fn discovery_with_only_none_or_symmetric_algorithms_is_a_503() {
    for algs in [vec!["none"], vec!["HS256", "HS512"], vec!["none", "HS256"]] {
        let s = misbehaving(Misbehaviour::SigningAlgs(
            algs.iter().map(|a| a.to_string()).collect(),
        ))
        .await;
        let page = s
            .assert_refused_at_login("lists only ID token signing algorithms this library refuses")
            .await;
        assert!(page.contains(&algs.join(", ")), "{page}");
        assert_eq!(s.counts().jwks, 0);
    }
}

// ---------------------------------------------------------------------------------------
// ID token claims

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let s = misbehaving(Misbehaviour::Expired).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token has expired"))
        .await;
}

#[tokio::test]
async fn an_id_token_issued_in_the_future_is_refused() {
    let s = misbehaving(Misbehaviour::IssuedInFuture).await;
    s.assert_refused_at_callback(Refusal::bad_token("issued in the future"))
        .await;
}

/// RFC 7519 section 4.1.5: a token must not be accepted before its `nbf`.
#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let s = misbehaving(Misbehaviour::NotYetValid).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token is not valid yet (nbf"))
        .await;
}

/// Conformance suite `iat-is-week-in-past`: older than a login can take, so a replay.
#[tokio::test]
async fn an_id_token_issued_long_ago_is_refused() {
    let s = misbehaving(Misbehaviour::IssuedLongAgo).await;
    s.assert_refused_at_callback(Refusal::bad_token("issued too long ago (iat)"))
        .await;
}

#[tokio::test]
async fn an_empty_sub_is_refused() {
    let s = misbehaving(Misbehaviour::EmptySubject).await;
    s.assert_refused_at_callback(Refusal::bad_token("the token's subject (sub) is empty"))
        .await;
}

#[tokio::test]
async fn a_sub_over_255_characters_is_refused_and_255_is_accepted() {
    let s = misbehaving(Misbehaviour::LongSubject).await;
    s.assert_refused_at_callback(Refusal::bad_token(
        "the token's subject (sub) is longer than 255 characters",
    ))
    .await;

    s.provider.behave();
    let longest = DevUser::new("Max", "max@example.com").with_sub("x".repeat(255));
    let me = s.assert_accepted_as(&longest).await;
    assert_eq!(me["sub"], "x".repeat(255));
}

/// Conformance suite `invalid-secondary-aud`: another audience, and no `azp`.
#[tokio::test]
async fn an_extra_audience_is_refused() {
    let s = misbehaving(Misbehaviour::ExtraAudience).await;
    s.assert_refused_at_callback(Refusal::bad_token("issued for another application (aud)"))
        .await;
}

#[tokio::test]
async fn a_wrong_azp_is_refused() {
    let s = misbehaving(Misbehaviour::WrongAuthorizedParty).await;
    s.assert_refused_at_callback(Refusal::bad_token("issued to another application (azp)"))
        .await;
}

/// Conformance suite `valid-aud-as-array`.
#[tokio::test]
async fn aud_as_a_one_element_array_is_accepted() {
    let s = misbehaving(Misbehaviour::AudienceArray).await;
    let me = s.assert_accepted().await;
    assert_eq!(me["aud"], serde_json::json!([s.provider.client_id()]));
}

#[tokio::test]
async fn a_wrong_at_hash_is_refused() {
    let s = misbehaving(Misbehaviour::WrongAtHash).await;
    s.assert_refused_at_callback(Refusal::bad_token("(at_hash)"))
        .await;
}

/// The provider answers a new login with the ID token of an earlier one: its nonce is the
/// earlier login's.
#[tokio::test]
async fn a_replayed_id_token_is_refused() {
    let s = setup().await;
    s.assert_accepted().await;
    s.provider.misbehave(Misbehaviour::ReplayIdToken);
    let other = Setup {
        browser: Browser::new(),
        ..s
    };
    other
        .assert_refused_at_callback(Refusal::bad_token("nonce mismatch"))
        .await;
}

// ---------------------------------------------------------------------------------------
// The authorization response (RFC 9207)

#[tokio::test]
async fn a_wrong_authorization_response_iss_is_refused_before_the_token_request() {
    let s = misbehaving(Misbehaviour::WrongAuthorizationResponseIss).await;
    s.assert_refused_at_callback(Refusal {
        token_requests: 0,
        ..Refusal::bad_token("came from a different provider")
    })
    .await;
}

#[tokio::test]
async fn a_missing_authorization_response_iss_is_refused_when_advertised() {
    let s = misbehaving(Misbehaviour::NoAuthorizationResponseIss).await;
    let callback = s.start().await;
    assert!(!callback.contains("iss="), "{callback}");
    s.assert_refused_at_callback(Refusal {
        token_requests: 0,
        ..Refusal::bad_token("came from a different provider")
    })
    .await;
}

#[tokio::test]
async fn no_authorization_response_iss_is_accepted_when_not_advertised() {
    let s = misbehaving(Misbehaviour::IssParameterNotAdvertised).await;
    s.assert_accepted().await;
}

// ---------------------------------------------------------------------------------------
// A broken token endpoint

#[tokio::test]
async fn a_slow_token_endpoint_is_a_502_after_the_timeout() {
    let provider = DevProvider::start().await.unwrap();
    provider.misbehave(Misbehaviour::SlowTokenEndpoint(Duration::from_secs(2)));
    let s = setup_for(provider, "\n[auth.client_kwargs]\ntimeout = 1\n").await;
    let started = Instant::now();
    s.assert_refused_at_callback(Refusal::broken_endpoint("no answer from"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout was not applied"
    );
}

#[tokio::test]
async fn broken_token_answers_are_a_502() {
    let s = setup().await;
    for (misbehaviour, says) in [
        (Misbehaviour::TokenEndpointError, "HTTP 500 from"),
        (Misbehaviour::TokenResponseHtml, "is not JSON"),
        (Misbehaviour::TokenResponseBadJson, "is not JSON"),
        (Misbehaviour::TokenResponseWithoutIdToken, "has no id_token"),
        (
            Misbehaviour::HugeTokenResponse,
            "is larger than 1048576 bytes",
        ),
    ] {
        s.provider.behave();
        s.provider.misbehave(misbehaviour);
        s.assert_refused_at_callback(Refusal::broken_endpoint(says))
            .await;
    }
}

// ---------------------------------------------------------------------------------------
// Redirects from provider endpoints are never followed

#[tokio::test]
async fn redirects_from_the_provider_are_never_followed() {
    for endpoint in [Endpoint::Discovery, Endpoint::Jwks] {
        let s = misbehaving(Misbehaviour::Redirect(endpoint)).await;
        s.assert_refused_at_login(
            "answered with a redirect (HTTP 307), and redirects are not followed",
        )
        .await;
    }
    let s = misbehaving(Misbehaviour::Redirect(Endpoint::Token)).await;
    s.assert_refused_at_callback(Refusal::broken_endpoint(
        "answered with a redirect (HTTP 307), and redirects are not followed",
    ))
    .await;
}
