//! The development provider, driven over HTTP with reqwest and openidconnect's client.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use url::Url;

use super::server::is_loopback_http;
use super::*;

// The development provider's later additions, each driven over HTTP like the rest.
mod assertions;
mod logout;
mod refresh;
mod tenants;

const REDIRECT: &str = "http://localhost:8000/oauth2callback";

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

fn query_param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A valid authorization request with PKCE, as an RP sends it.
struct Flow {
    params: Vec<(String, String)>,
    verifier: String,
    nonce: String,
    state: String,
}

impl Flow {
    fn new(provider: &DevProvider) -> Flow {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = Nonce::new_random().secret().clone();
        let state = CsrfToken::new_random().secret().clone();
        let params = [
            ("client_id", provider.client_id()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Flow {
            params,
            verifier: verifier.secret().clone(),
            nonce,
            state,
        }
    }

    fn set(mut self, name: &str, value: Option<&str>) -> Flow {
        self.params.retain(|(k, _)| k != name);
        if let Some(value) = value {
            self.params.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    fn url(&self, provider: &DevProvider) -> String {
        let mut url = Url::parse(&provider.authorization_endpoint()).expect("endpoint");
        url.query_pairs_mut().extend_pairs(&self.params);
        url.into()
    }

    /// Submits the sign-in form and returns the code.
    async fn sign_in(&self, provider: &DevProvider, user: &DevUser) -> String {
        self.sign_in_at(provider, &provider.authorization_endpoint(), user)
            .await
    }

    /// Submits the sign-in form to `endpoint` (a tenant's, on a multi-tenant provider).
    async fn sign_in_at(&self, provider: &DevProvider, endpoint: &str, user: &DevUser) -> String {
        let mut form = self.params.clone();
        form.push(("name".into(), user.name().into()));
        form.push(("email".into(), user.email().into()));
        form.push((
            "claims".into(),
            serde_json::to_string(user.claims()).expect("claims"),
        ));
        form.push((
            "userinfo_claims".into(),
            serde_json::to_string(user.userinfo_claims()).expect("claims"),
        ));
        form.push(("action".into(), "sign_in".into()));
        let response = http()
            .post(endpoint)
            .form(&form)
            .send()
            .await
            .expect("sign-in form");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = location(&response);
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(
            query_param(&location, "state").as_deref(),
            Some(&*self.state)
        );
        // A multi-tenant provider's issuer is a template: like Entra it sends no `iss`.
        let expected_iss = (!provider.issuer().contains("{tenantid}")).then(|| provider.issuer());
        assert_eq!(query_param(&location, "iss"), expected_iss);
        query_param(&location, "code").expect("code")
    }

    fn token_form(&self, code: &str) -> Vec<(String, String)> {
        vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code.into()),
            ("redirect_uri".into(), REDIRECT.into()),
            ("code_verifier".into(), self.verifier.clone()),
        ]
    }
}

fn basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

async fn token_request(
    provider: &DevProvider,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> (StatusCode, Value) {
    let mut request = http().post(provider.token_endpoint()).form(form);
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let response = request.send().await.expect("token request");
    let status = response.status();
    let body = response.text().await.expect("token body");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn discover(provider: &DevProvider) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(
        IssuerUrl::new(provider.issuer()).expect("issuer"),
        &http(),
    )
    .await
    .expect("discovery")
}

/// The verified-by-the-caller JWT's payload, for claims `CoreIdTokenClaims` does not expose.
fn jwt_part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

#[tokio::test]
async fn discovery_document_describes_the_provider() -> TestResult {
    let provider = DevProvider::start().await?;
    let doc: Value = http()
        .get(provider.server_metadata_url())
        .send()
        .await?
        .json_text()
        .await?;
    let issuer = provider.issuer();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/logout"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    for logout in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(doc[logout], true, "{logout}");
    }
    assert!(doc
        .get("token_endpoint_auth_signing_alg_values_supported")
        .is_none());
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert!(doc["scopes_supported"]
        .as_array()
        .is_some_and(|s| s.contains(&json!("openid"))));
    assert!(doc["claims_supported"]
        .as_array()
        .is_some_and(|s| s.contains(&json!("email"))));

    // openidconnect's own discovery accepts it (issuer check included) and fetches the keys.
    let metadata = discover(&provider).await;
    assert_eq!(metadata.jwks().keys().len(), 1);
    assert_eq!(provider.request_counts().discovery, 2);
    assert_eq!(provider.request_counts().jwks, 1);
    Ok(())
}

/// `.json()` needs reqwest's `json` feature, which the library does not enable.
trait JsonText {
    async fn json_text(self) -> Result<Value, Box<dyn std::error::Error + Send + Sync>>;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Ok(serde_json::from_str(&self.text().await?)?)
    }
}

#[tokio::test]
async fn code_flow_with_openidconnect_client_verifies() -> TestResult {
    let provider = DevProvider::start().await?;
    let metadata = discover(&provider).await;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id().to_owned()),
        Some(ClientSecret::new(provider.client_secret().to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned())?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let page = http().get(auth_url.clone()).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(html.contains("development OpenID provider"), "{html}");
    assert!(html.contains("No password is needed"));
    assert!(html.contains("Extra claims (JSON object"));
    assert!(html.contains(r#"name="code_challenge""#));

    let user =
        DevUser::new("Ada Lovelace", "ada@example.com").claim("groups", json!(["admin", "staff"]));
    let mut form: Vec<(String, String)> = auth_url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form.extend([
        ("name".to_owned(), user.name().to_owned()),
        ("email".to_owned(), user.email().to_owned()),
        (
            "claims".to_owned(),
            r#"{"groups": ["admin", "staff"]}"#.to_owned(),
        ),
        ("action".to_owned(), "sign_in".to_owned()),
    ]);
    let response = http()
        .post(provider.authorization_endpoint())
        .form(&form)
        .send()
        .await?;
    let back = location(&response);
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = query_param(&back, "code").ok_or("no code")?;

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await?;
    let id_token = tokens.id_token().ok_or("no id token")?;
    let claims = id_token.claims(&client.id_token_verifier(), &nonce)?;
    assert_eq!(claims.subject().as_str(), user.subject());
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("ada@example.com")
    );
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ada Lovelace")
    );
    assert!(claims.auth_time().is_some());
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        id_token.signing_key(&client.id_token_verifier())?,
    )?;
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert_eq!(tokens.expires_in(), Some(Duration::from_secs(3600)));

    let jwt = id_token.to_string();
    let header = jwt_part(&jwt, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], provider.signing_key_id());
    let payload = jwt_part(&jwt, 1);
    assert_eq!(payload["groups"], json!(["admin", "staff"]));
    // A string, as most providers write it (`Misbehaviour::AudienceArray` makes it an array).
    assert_eq!(payload["aud"], json!(provider.client_id()));
    assert_eq!(header["typ"], "JWT");
    assert_eq!(
        payload["exp"]
            .as_i64()
            .zip(payload["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(3600)
    );

    // Userinfo answers with the same claims for the access token.
    let info = http()
        .get(provider.userinfo_endpoint())
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await?;
    assert_eq!(info.status(), StatusCode::OK);
    let info = info.json_text().await?;
    assert_eq!(info["sub"], user.subject());
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["groups"], json!(["admin", "staff"]));

    let counts = provider.request_counts();
    assert_eq!(
        (
            counts.authorize,
            counts.sign_in,
            counts.token,
            counts.userinfo
        ),
        (1, 1, 1, 1)
    );
    Ok(())
}

#[tokio::test]
async fn token_response_shape_and_no_store() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let response = http()
        .post(provider.token_endpoint())
        .header(header::AUTHORIZATION, basic("dev-client", "dev-secret"))
        .form(&flow.token_form(&code))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body = response.json_text().await?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid email profile");
    assert!(body["access_token"].is_string());
    let payload = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    assert_eq!(payload["nonce"], flow.nonce.as_str());
    assert_eq!(payload["iss"], provider.issuer());
    Ok(())
}

#[tokio::test]
async fn pkce_mismatch_is_invalid_grant() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let mut form = flow.token_form(&code);
    let other = PkceCodeVerifier::new("x".repeat(50));
    form.retain(|(k, _)| k != "code_verifier");
    form.push(("code_verifier".into(), other.secret().clone()));
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(&provider, Some(&auth), &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // A missing verifier is refused the same way (on a fresh code: a code is tried once).
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let mut form = flow.token_form(&code);
    form.retain(|(k, _)| k != "code_verifier");
    let (status, body) = token_request(&provider, Some(&auth), &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    Ok(())
}

#[tokio::test]
async fn code_reuse_is_invalid_grant_and_revokes() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::OK);
    let access = body["access_token"]
        .as_str()
        .ok_or("access_token")?
        .to_owned();

    let (status, body) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let info = http()
        .get(provider.userinfo_endpoint())
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = token_request(&provider, Some(&auth), &flow.token_form("nope")).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    Ok(())
}

#[tokio::test]
async fn redirect_uri_mismatch_is_invalid_grant() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let mut form = flow.token_form(&code);
    form.retain(|(k, _)| k != "redirect_uri");
    form.push(("redirect_uri".into(), "http://localhost:8000/other".into()));
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(&provider, Some(&auth), &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    Ok(())
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;

    let wrong = basic("dev-client", "wrong");
    let response = http()
        .post(provider.token_endpoint())
        .header(header::AUTHORIZATION, wrong)
        .form(&flow.token_form(&code))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(response.json_text().await?["error"], "invalid_client");

    let mut form = flow.token_form(&code);
    form.push(("client_id".into(), "dev-client".into()));
    form.push(("client_secret".into(), "wrong".into()));
    let (status, body) = token_request(&provider, None, &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );

    let (status, body) = token_request(&provider, None, &flow.token_form(&code)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );

    let wrong_id = basic("someone-else", "dev-secret");
    let (status, _) = token_request(&provider, Some(&wrong_id), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The failed attempts never reached the code: it still redeems.
    let mut form = flow.token_form(&code);
    form.push(("client_id".into(), "dev-client".into()));
    form.push(("client_secret".into(), "dev-secret".into()));
    let (status, _) = token_request(&provider, None, &form).await;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn basic_auth_decodes_form_encoded_special_secret() -> TestResult {
    let secret = "a:b%20c+d&e=f é€ ü";
    let provider = DevProvider::builder()
        .client_id("client:with space")
        .client_secret(secret)
        .start()
        .await?;
    let flow = Flow::new(&provider);

    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let encoded = basic(provider.client_id(), secret);
    let (status, body) = token_request(&provider, Some(&encoded), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The same secret base64-encoded without form-encoding first is not the secret.
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let raw = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{secret}", provider.client_id()))
    );
    let (status, body) = token_request(&provider, Some(&raw), &flow.token_form(&code)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );

    // openidconnect (oauth2) encodes the same way.
    let client = CoreClient::from_provider_metadata(
        discover(&provider).await,
        ClientId::new(provider.client_id().to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned())?);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
        .request_async(&http())
        .await?;
    assert!(tokens.id_token().is_some());
    Ok(())
}

#[tokio::test]
async fn token_calls_record_what_each_token_request_carried() -> TestResult {
    let provider = DevProvider::start().await?;
    assert!(provider.token_calls().is_empty());
    let flow = Flow::new(&provider);

    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let auth = basic("dev-client", "dev-secret");
    let (status, _) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::OK);

    // A refused request is recorded too, as sent.
    let mut form = flow.token_form("not-a-code");
    form.push(("client_id".into(), "dev-client".into()));
    form.push(("client_secret".into(), "wrong".into()));
    let (status, _) = token_request(&provider, None, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let calls = provider.token_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].authorization.as_deref(), Some(auth.as_str()));
    assert_eq!(calls[0].params, flow.token_form(&code));
    assert_eq!(calls[0].param("code"), Some(code.as_str()));
    assert_eq!(calls[0].param("client_secret"), None);
    assert_eq!(calls[1].authorization, None);
    assert_eq!(calls[1].param("client_secret"), Some("wrong"));
    assert_eq!(calls[1].params, form);
    assert_eq!(provider.request_counts().token, 2);
    Ok(())
}

#[tokio::test]
async fn token_endpoint_auth_restriction_is_enforced_and_advertised() -> TestResult {
    let provider = DevProvider::builder()
        .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost)
        .start()
        .await?;
    let doc = http()
        .get(provider.server_metadata_url())
        .send()
        .await?
        .json_text()
        .await?;
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post"])
    );
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );

    // openidconnect sends client_secret_post when told to.
    let client = CoreClient::from_provider_metadata(
        discover(&provider).await,
        ClientId::new("dev-client".into()),
        Some(ClientSecret::new("dev-secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned())?)
    .set_auth_type(AuthType::RequestBody);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
        .request_async(&http())
        .await?;
    assert!(tokens.id_token().is_some());

    let basic_only = DevProvider::builder()
        .token_endpoint_auth(TokenEndpointAuth::ClientSecretBasic)
        .start()
        .await?;
    let flow = Flow::new(&basic_only);
    let code = flow.sign_in(&basic_only, &DevUser::default()).await;
    let mut form = flow.token_form(&code);
    form.push(("client_id".into(), "dev-client".into()));
    form.push(("client_secret".into(), "dev-secret".into()));
    let (status, _) = token_request(&basic_only, None, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn key_rotation_changes_the_published_kid() -> TestResult {
    let provider = DevProvider::start().await?;
    let jwks = |p: &DevProvider| {
        let url = p.jwks_uri();
        async move { http().get(url).send().await?.json_text().await }
    };
    let before = jwks(&provider).await?;
    let keys = before["keys"].as_array().ok_or("keys")?;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], provider.signing_key_id());
    assert_eq!(keys[0]["kty"], "RSA");
    assert!(keys[0].get("d").is_none(), "private key material published");

    // A token signed before the rotation…
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let auth = basic("dev-client", "dev-secret");
    let (_, body) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    let old_token: CoreIdToken = body["id_token"].as_str().ok_or("id_token")?.parse()?;

    provider.rotate_signing_key();
    let after = jwks(&provider).await?;
    let keys = after["keys"].as_array().ok_or("keys")?;
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0]["kid"], before["keys"][0]["kid"]);
    assert_ne!(keys[0]["n"], before["keys"][0]["n"]);
    assert_eq!(keys[0]["kid"], provider.signing_key_id());

    // …no longer verifies against the new key set; a new one does.
    let client = CoreClient::from_provider_metadata(
        discover(&provider).await,
        ClientId::new("dev-client".into()),
        Some(ClientSecret::new("dev-secret".into())),
    );
    let nonce = Nonce::new(flow.nonce.clone());
    assert!(old_token
        .claims(&client.id_token_verifier(), &nonce)
        .is_err());
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let (_, body) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    let new_token: CoreIdToken = body["id_token"].as_str().ok_or("id_token")?.parse()?;
    assert!(new_token
        .claims(&client.id_token_verifier(), &nonce)
        .is_ok());

    // Rotating twice returns to the first key material, under yet another kid.
    provider.rotate_signing_key();
    let third = jwks(&provider).await?;
    assert_eq!(third["keys"][0]["n"], before["keys"][0]["n"]);
    assert_ne!(third["keys"][0]["kid"], before["keys"][0]["kid"]);
    Ok(())
}

#[tokio::test]
async fn authorize_refuses_unknown_client_and_redirect_without_redirecting() -> TestResult {
    let provider = DevProvider::builder()
        .redirect_uri(REDIRECT)
        .start()
        .await?;
    let flow = Flow::new(&provider);

    let unknown = flow_url(&provider, "client_id", Some("intruder"));
    let response = http().get(unknown).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
    assert!(response.text().await?.contains("intruder"));

    for bad in ["http://localhost:8000/other", "http://evil.example/cb"] {
        let response = http()
            .get(flow_url(&provider, "redirect_uri", Some(bad)))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(response.headers().get(header::LOCATION).is_none());
    }
    let response = http()
        .get(flow_url(&provider, "redirect_uri", None))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // With none registered, loopback URLs are accepted and others are not.
    let open = DevProvider::start().await?;
    let ok = Flow::new(&open).set("redirect_uri", Some("http://127.0.0.1:9/cb"));
    assert_eq!(
        http().get(ok.url(&open)).send().await?.status(),
        StatusCode::OK
    );
    let bad = Flow::new(&open).set("redirect_uri", Some("https://example.com/cb"));
    assert_eq!(
        http().get(bad.url(&open)).send().await?.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(flow.params.len(), 8);
    Ok(())
}

fn flow_url(provider: &DevProvider, name: &str, value: Option<&str>) -> String {
    Flow::new(provider).set(name, value).url(provider)
}

#[tokio::test]
async fn authorize_errors_redirect_with_state_and_iss() -> TestResult {
    let provider = DevProvider::start().await?;
    let cases: [(&str, Option<&str>); 6] = [
        ("code_challenge", None),
        ("code_challenge_method", None),
        ("code_challenge_method", Some("plain")),
        ("response_type", Some("token")),
        ("scope", Some("email profile")),
        ("code_challenge", Some("short")),
    ];
    for (name, value) in cases {
        let flow = Flow::new(&provider).set(name, value);
        let response = http().get(flow.url(&provider)).send().await?;
        assert_eq!(response.status(), StatusCode::FOUND, "{name}={value:?}");
        let back = location(&response);
        assert!(back.starts_with(REDIRECT), "{back}");
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some("invalid_request")
        );
        assert!(query_param(&back, "error_description").is_some());
        assert_eq!(query_param(&back, "state").as_deref(), Some(&*flow.state));
        assert_eq!(query_param(&back, "iss"), Some(provider.issuer()));
    }

    let repeated = format!("{}&state=again", Flow::new(&provider).url(&provider));
    let response = http().get(repeated).send().await?;
    assert_eq!(
        query_param(&location(&response), "error").as_deref(),
        Some("invalid_request")
    );

    let none = Flow::new(&provider).set("prompt", Some("none"));
    let response = http().get(none.url(&provider)).send().await?;
    assert_eq!(
        query_param(&location(&response), "error").as_deref(),
        Some("login_required")
    );
    Ok(())
}

#[tokio::test]
async fn cancel_redirects_with_access_denied() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let mut form = flow.params.clone();
    form.push(("action".into(), "cancel".into()));
    let response = http()
        .post(provider.authorization_endpoint())
        .form(&form)
        .send()
        .await?;
    assert!(response.status().is_redirection());
    let back = location(&response);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&back, "error_description").as_deref(),
        Some("The user cancelled")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some(&*flow.state));
    assert_eq!(query_param(&back, "iss"), Some(provider.issuer()));
    assert!(query_param(&back, "code").is_none());
    Ok(())
}

#[tokio::test]
async fn sign_in_page_escapes_and_prefills() -> TestResult {
    let provider = DevProvider::start().await?;
    provider
        .set_default_user(DevUser::new("Grace <Hopper>", "grace@example.com").claim("team", "a&b"));
    let flow = Flow::new(&provider).set("state", Some("\"><script>alert(1)</script>"));
    let html = http().get(flow.url(&provider)).send().await?.text().await?;
    assert!(!html.contains("<script>"));
    assert!(html.contains("&quot;&gt;&lt;script&gt;"));
    assert!(html.contains("Grace &lt;Hopper&gt;"));
    assert!(html.contains(r#"value="grace@example.com""#));
    assert!(html.contains("a&amp;b"));

    let hinted = Flow::new(&provider).set("login_hint", Some("hint@example.com"));
    let html = http()
        .get(hinted.url(&provider))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains(r#"value="hint@example.com""#));
    Ok(())
}

#[tokio::test]
async fn sign_in_form_problems_rerender_the_form() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    for (email, claims, problem) in [
        ("", "", "Enter an email address"),
        ("a@example.com", "[1, 2]", "must be a JSON object"),
        ("a@example.com", "{not json", "not valid JSON"),
    ] {
        let mut form = flow.params.clone();
        form.push(("email".into(), email.into()));
        form.push(("claims".into(), claims.into()));
        let response = http()
            .post(provider.authorization_endpoint())
            .form(&form)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = response.text().await?;
        assert!(html.contains(problem), "{html}");
        assert!(html.contains("<form"));
    }
    Ok(())
}

#[tokio::test]
async fn extra_claims_override_profile_claims_without_duplicates() -> TestResult {
    let provider = DevProvider::start().await?;
    let flow = Flow::new(&provider);
    let user = DevUser::new("Eve", "eve@example.com")
        .claim("email_verified", false)
        .claim("iss", "http://evil.example")
        .claim("picture", "http://localhost/p.png")
        .with_sub("fixed-sub");
    let mut form = flow.params.clone();
    form.extend([
        ("name".to_owned(), "Eve".to_owned()),
        ("email".to_owned(), "eve@example.com".to_owned()),
        (
            "claims".to_owned(),
            serde_json::to_string(&user.form_claims())?,
        ),
    ]);
    let response = http()
        .post(provider.authorization_endpoint())
        .form(&form)
        .send()
        .await?;
    let code = query_param(&location(&response), "code").ok_or("code")?;
    let auth = basic("dev-client", "dev-secret");
    let (_, body) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    let jwt = body["id_token"].as_str().ok_or("id_token")?;
    let payload_text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).ok_or("payload")?)?)?;
    assert_eq!(payload_text.matches("\"email_verified\"").count(), 1);
    let payload: Value = serde_json::from_str(&payload_text)?;
    assert_eq!(payload["email_verified"], false);
    assert_eq!(payload["sub"], "fixed-sub");
    assert_eq!(payload["iss"], provider.issuer());
    assert_eq!(payload["picture"], "http://localhost/p.png");

    // openidconnect still parses it with its standard claims.
    let token: CoreIdToken = jwt.parse()?;
    let client = CoreClient::from_provider_metadata(
        discover(&provider).await,
        ClientId::new("dev-client".into()),
        None,
    );
    let claims = token.claims(&client.id_token_verifier(), &Nonce::new(flow.nonce.clone()))?;
    assert_eq!(claims.email_verified(), Some(false));
    Ok(())
}

#[tokio::test]
async fn userinfo_refuses_bad_tokens() -> TestResult {
    let provider = DevProvider::start().await?;
    let missing = http().get(provider.userinfo_endpoint()).send().await?;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let bad = http()
        .get(provider.userinfo_endpoint())
        .bearer_auth("not-a-token")
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers()[header::WWW_AUTHENTICATE]
        .to_str()?
        .contains("invalid_token"));
    Ok(())
}

#[tokio::test]
async fn end_session_records_and_redirects() -> TestResult {
    let provider = DevProvider::builder()
        .redirect_uri(REDIRECT)
        .post_logout_redirect_uri("http://localhost:8000/bye")
        .start()
        .await?;
    let logout = |query: &str| format!("{}?{query}", provider.end_session_endpoint());

    let response = http()
        .get(logout(&format!(
            "client_id=dev-client&id_token_hint=abc&state=s%201&post_logout_redirect_uri={}",
            form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        )))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), format!("{REDIRECT}?state=s+1"));

    let response = http()
        .get(logout("post_logout_redirect_uri=http://localhost:8000/bye"))
        .send()
        .await?;
    assert_eq!(location(&response), "http://localhost:8000/bye");

    let response = http()
        .get(logout(
            "post_logout_redirect_uri=http://localhost:8000/elsewhere",
        ))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());

    let response = http().get(logout("client_id=intruder")).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = http().get(provider.end_session_endpoint()).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await?.contains("You have been signed out"));

    let calls = provider.end_session_calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(calls[0].client_id.as_deref(), Some("dev-client"));
    assert_eq!(calls[0].id_token_hint.as_deref(), Some("abc"));
    assert_eq!(calls[0].state.as_deref(), Some("s 1"));
    assert_eq!(calls[0].post_logout_redirect_uri.as_deref(), Some(REDIRECT));
    assert!(calls[4].id_token_hint.is_none());
    assert_eq!(provider.request_counts().end_session, 5);
    Ok(())
}

#[tokio::test]
async fn issuer_path_moves_every_endpoint() -> TestResult {
    let provider = DevProvider::builder()
        .issuer_path("/tenant/v2.0/")
        .start()
        .await?;
    assert!(provider.issuer().ends_with("/tenant/v2.0"));
    assert_eq!(
        provider.server_metadata_url(),
        format!("{}/.well-known/openid-configuration", provider.issuer())
    );
    let metadata = discover(&provider).await;
    assert_eq!(metadata.issuer().as_str(), provider.issuer());
    let flow = Flow::new(&provider);
    let code = flow.sign_in(&provider, &DevUser::default()).await;
    let auth = basic("dev-client", "dev-secret");
    let (status, _) = token_request(&provider, Some(&auth), &flow.token_form(&code)).await;
    assert_eq!(status, StatusCode::OK);
    let root = format!("http://127.0.0.1:{}/jwks", provider.port());
    assert_eq!(
        http().get(root).send().await?.status(),
        StatusCode::NOT_FOUND
    );

    for bad in ["tenant?x", "/a//b", "/a/../b", "/{id}"] {
        let result = DevProvider::builder().issuer_path(bad).start().await;
        assert!(result.is_err(), "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn secrets_toml_and_provider_table() -> TestResult {
    let provider = DevProvider::builder()
        .client_secret("quote\" and \\ backslash")
        .start()
        .await?;
    let text = provider.secrets_toml(REDIRECT, "cookie \"secret\"");
    let parsed: toml::Table = toml::from_str(&text)?;
    let auth = parsed["auth"].as_table().ok_or("auth")?;
    assert_eq!(auth["redirect_uri"].as_str(), Some(REDIRECT));
    assert_eq!(auth["cookie_secret"].as_str(), Some("cookie \"secret\""));
    assert_eq!(auth["client_id"].as_str(), Some("dev-client"));
    assert_eq!(
        auth["client_secret"].as_str(),
        Some("quote\" and \\ backslash")
    );
    assert_eq!(
        auth["server_metadata_url"].as_str(),
        Some(provider.server_metadata_url().as_str())
    );

    let text = format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"x\"\n\n{}\n{}",
        provider.provider_table("corp"),
        provider.provider_table("with space")
    );
    let parsed: toml::Table = toml::from_str(&text)?;
    let auth = parsed["auth"].as_table().ok_or("auth")?;
    assert_eq!(auth["corp"]["client_id"].as_str(), Some("dev-client"));
    assert_eq!(auth["with space"]["client_id"].as_str(), Some("dev-client"));
    Ok(())
}

#[tokio::test]
async fn shutdown_frees_the_port_and_drop_stops_serving() -> TestResult {
    let provider = DevProvider::start().await?;
    let port = provider.port();
    let client = http();
    // A kept-alive connection must not keep the stopped provider answering.
    client.get(provider.server_metadata_url()).send().await?;
    let url = provider.server_metadata_url();
    provider.shutdown().await;
    assert!(client.get(&url).send().await.is_err());

    let again = DevProvider::builder().port(port).start().await?;
    assert_eq!(again.port(), port);
    assert_eq!(client.get(&url).send().await?.status(), StatusCode::OK);
    drop(again);
    let mut stopped = false;
    for _ in 0..50 {
        if http().get(&url).send().await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "the dropped provider still answers");
    Ok(())
}

#[test]
fn loopback_rule() {
    for ok in [
        "http://127.0.0.1:8000/cb",
        "http://localhost/cb?x=1",
        "http://LOCALHOST:1/",
        "http://[::1]:8501/oauth2callback",
    ] {
        assert!(is_loopback_http(ok), "{ok}");
    }
    for bad in [
        "https://localhost/cb",
        "http://127.0.0.2/cb",
        "http://localhost.evil.example/cb",
        "http://user@localhost/cb",
        "http://localhost/cb#frag",
        "/cb",
    ] {
        assert!(!is_loopback_http(bad), "{bad}");
    }
}

#[test]
fn derived_subject_is_stable_and_case_insensitive() {
    let a = DevUser::new("A", "Alice@Example.com");
    let b = DevUser::new("B", " alice@example.com ");
    assert_eq!(a.subject(), b.subject());
    assert_ne!(a.subject(), DevUser::new("A", "bob@example.com").subject());
    assert_eq!(
        DevUser::new("A", "a@example.com")
            .claim("sub", "x")
            .subject(),
        "x"
    );
    assert!(DevUser::default().claim("aud", "x").claims().is_empty());
}

// ---------------------------------------------------------------------------------------
// login_as against a minimal relying party

/// A tiny app doing what the crate's layer does: a login route that sets a browser-binding
/// cookie and redirects to the provider, and a callback that requires that cookie, redeems
/// the code and sets a session cookie.
struct TestApp {
    provider_authorize: String,
    token_endpoint: String,
    redirect_uri: String,
    verifier: String,
    challenge: String,
}

async fn start_app(provider: &DevProvider) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let app = Arc::new(TestApp {
        provider_authorize: provider.authorization_endpoint(),
        token_endpoint: provider.token_endpoint(),
        redirect_uri: format!("{base}/oauth2callback"),
        verifier: verifier.secret().clone(),
        challenge: challenge.as_str().to_owned(),
    });
    let router = Router::new()
        .route("/auth/login", get(app_login))
        .route("/oauth2callback", get(app_callback))
        .with_state(app);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, task)
}

async fn app_login(State(app): State<Arc<TestApp>>) -> Response {
    let mut url = Url::parse(&app.provider_authorize).expect("authorize");
    url.query_pairs_mut()
        .append_pair("client_id", "dev-client")
        .append_pair("redirect_uri", &app.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email")
        .append_pair("state", "st")
        .append_pair("nonce", "nn")
        .append_pair("code_challenge", &app.challenge)
        .append_pair("code_challenge_method", "S256");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, url.to_string()),
            (
                header::SET_COOKIE,
                "bind=b1; Path=/; HttpOnly; Max-Age=600".to_owned(),
            ),
        ],
    )
        .into_response()
}

async fn app_callback(
    State(app): State<Arc<TestApp>>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default();
    if !cookie.split("; ").any(|c| c == "bind=b1") {
        return (StatusCode::BAD_REQUEST, "<h1>no binding cookie</h1>").into_response();
    }
    let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if param("state").as_deref() != Some("st") {
        return (StatusCode::BAD_REQUEST, "bad state").into_response();
    }
    let form = [
        ("grant_type", "authorization_code".to_owned()),
        ("code", param("code").unwrap_or_default()),
        ("redirect_uri", app.redirect_uri.clone()),
        ("code_verifier", app.verifier.clone()),
    ];
    let response = http()
        .post(&app.token_endpoint)
        .header(header::AUTHORIZATION, basic("dev-client", "dev-secret"))
        .form(&form)
        .send()
        .await;
    let Ok(response) = response else {
        return (StatusCode::BAD_GATEWAY, "token request failed").into_response();
    };
    if response.status() != StatusCode::OK {
        return (StatusCode::BAD_GATEWAY, "token refused").into_response();
    }
    let body = response.json_text().await.unwrap_or(Value::Null);
    let payload = body["id_token"]
        .as_str()
        .map(|t| jwt_part(t, 1))
        .unwrap_or(Value::Null);
    let session = format!("sess-{}", payload["sub"].as_str().unwrap_or_default());
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    let headers = response.headers_mut();
    for cookie in [
        "bind=; Path=/; Max-Age=0".to_owned(),
        format!("session={session}; Path=/; HttpOnly"),
        "empty=; Path=/".to_owned(),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

#[tokio::test]
async fn login_as_drives_the_whole_flow() -> TestResult {
    let provider = DevProvider::start().await?;
    let (base, app) = start_app(&provider).await;
    let user = DevUser::new("Alice", "alice@example.com").claim("groups", json!(["x"]));
    let login = provider
        .login_as(&format!("{base}/auth/login"), &user)
        .await?;
    assert_eq!(login.cookie, format!("session=sess-{}", user.subject()));
    assert_eq!(login.location, "/");
    assert_eq!(
        login.cookies,
        vec![login.cookie.clone(), "empty=".to_owned()]
    );
    let counts = provider.request_counts();
    assert_eq!((counts.authorize, counts.sign_in, counts.token), (1, 1, 1));
    app.abort();
    Ok(())
}

#[tokio::test]
async fn login_as_reports_the_failing_step() -> TestResult {
    let provider = DevProvider::start().await?;
    let (base, app) = start_app(&provider).await;

    // The app's login goes to another provider.
    let other = DevProvider::start().await?;
    let err = other
        .login_as(&format!("{base}/auth/login"), &DevUser::default())
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        matches!(err, DevLoginError::NotThisProvider { .. }),
        "{err}"
    );

    // Not a redirect: the status and the text of the page are reported.
    let err = provider
        .login_as(&format!("{base}/oauth2callback"), &DevUser::default())
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(err.step(), Some(LoginStep::AppLogin));
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("no binding cookie"), "{err}");
    assert!(!err.to_string().contains("<h1>"), "{err}");

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let err = provider
        .login_as(
            &format!("http://127.0.0.1:{closed}/auth/login"),
            &DevUser::default(),
        )
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        matches!(
            err,
            DevLoginError::Request {
                step: LoginStep::AppLogin,
                ..
            }
        ),
        "{err}"
    );

    let err = provider
        .login_as("not a url", &DevUser::default())
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(matches!(err, DevLoginError::InvalidUrl { .. }), "{err}");
    app.abort();
    Ok(())
}

#[tokio::test]
async fn garbage_requests_get_4xx() -> TestResult {
    let provider = DevProvider::start().await?;
    let client = http();
    let token = client
        .post(provider.token_endpoint())
        .header(header::AUTHORIZATION, "Basic !!!")
        .body("%%%&&&==")
        .send()
        .await?;
    assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
    let token = client
        .post(provider.token_endpoint())
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':'])),
        )
        .send()
        .await?;
    assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
    let authorize = client
        .post(provider.authorization_endpoint())
        .body(vec![0xff, 0x00, 0x25])
        .send()
        .await?;
    assert_eq!(authorize.status(), StatusCode::BAD_REQUEST);
    let authorize = client
        .get(format!(
            "{}?%ZZ=%&client_id",
            provider.authorization_endpoint()
        ))
        .send()
        .await?;
    assert_eq!(authorize.status(), StatusCode::BAD_REQUEST);
    let userinfo = client
        .get(provider.userinfo_endpoint())
        .header(header::AUTHORIZATION, "Bearer")
        .send()
        .await?;
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    let missing = client
        .get(format!("{}/nope", provider.issuer()))
        .send()
        .await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let wrong_method = client.get(provider.token_endpoint()).send().await?;
    assert!(wrong_method.status().is_client_error());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Misbehaviours

/// One whole code flow with `misbehaviour` on: the token endpoint's status and answer.
async fn tokens_while(
    provider: &DevProvider,
    misbehaviour: Option<Misbehaviour>,
) -> (StatusCode, Value, Flow) {
    let flow = Flow::new(provider);
    let code = flow.sign_in(provider, &DevUser::default()).await;
    if let Some(misbehaviour) = misbehaviour {
        provider.misbehave(misbehaviour);
    }
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(provider, Some(&auth), &flow.token_form(&code)).await;
    provider.behave();
    (status, body, flow)
}

async fn id_token_while(provider: &DevProvider, misbehaviour: Misbehaviour) -> (Value, Value) {
    let (status, body, _) = tokens_while(provider, Some(misbehaviour.clone())).await;
    assert_eq!(status, StatusCode::OK, "{misbehaviour:?}");
    let jwt = body["id_token"].as_str().expect("id_token");
    (jwt_part(jwt, 0), jwt_part(jwt, 1))
}

#[tokio::test]
async fn misbehave_and_behave_switch_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    assert!(provider.misbehaviours().is_empty());
    provider.misbehave(Misbehaviour::AnnounceIssuer("https://a.example".into()));
    provider.misbehave(Misbehaviour::Redirect(Endpoint::Jwks));
    provider.misbehave(Misbehaviour::Redirect(Endpoint::Token));
    provider.misbehave(Misbehaviour::AnnounceIssuer("https://b.example".into()));
    assert_eq!(
        provider.misbehaviours(),
        [
            Misbehaviour::Redirect(Endpoint::Jwks),
            Misbehaviour::Redirect(Endpoint::Token),
            Misbehaviour::AnnounceIssuer("https://b.example".into()),
        ]
    );
    provider.behave();
    assert!(provider.misbehaviours().is_empty());
    Ok(())
}

#[tokio::test]
async fn test_switches_apply_until_behave() -> TestResult {
    let provider = DevProvider::start().await?;
    let document = || async {
        http()
            .get(provider.server_metadata_url())
            .send()
            .await?
            .json_text()
            .await
    };
    provider.discovery_field("end_session_endpoint", Value::Null);
    provider.discovery_field("issuer", json!("https://other.example"));
    let doc = document().await?;
    assert!(doc.get("end_session_endpoint").is_none());
    assert_eq!(doc["issuer"], "https://other.example");

    provider.edit_id_tokens(|header, claims| {
        header.insert("alg".into(), json!("RS384"));
        claims.insert("tid".into(), json!("tenant-1"));
    });
    let (header, payload) = id_token_while(&provider, Misbehaviour::NoKeyId).await;
    assert_eq!(header["alg"], "RS384");
    assert_eq!(payload["tid"], "tenant-1");
    // `id_token_while` switched everything off again.
    let (header, payload) = tokens_while(&provider, None).await.1["id_token"]
        .as_str()
        .map(|jwt| (jwt_part(jwt, 0), jwt_part(jwt, 1)))
        .ok_or("id_token")?;
    assert_eq!(header["alg"], "RS256");
    assert!(payload.get("tid").is_none());

    provider.answer_with(
        Endpoint::Token,
        Some(Canned::raw(418, "text/plain", vec![b'x'; 200_000]).chunked()),
    );
    let response = http().post(provider.token_endpoint()).send().await?;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert!(response.content_length().is_none(), "chunked");
    assert_eq!(response.bytes().await?.len(), 200_000);
    provider.answer_with(Endpoint::Token, None);
    let response = http().post(provider.token_endpoint()).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    provider.answer_with(Endpoint::Jwks, Some(Canned::json(503, &json!({}))));
    provider.behave();
    let doc = document().await?;
    assert_eq!(doc["issuer"], provider.issuer());
    assert!(doc["end_session_endpoint"].is_string());
    assert_eq!(http().get(provider.jwks_uri()).send().await?.status(), 200);
    Ok(())
}

#[tokio::test]
async fn discovery_misbehaviours_shape_the_document() -> TestResult {
    let provider = DevProvider::start().await?;
    let document = || async {
        http()
            .get(provider.server_metadata_url())
            .send()
            .await?
            .json_text()
            .await
    };
    provider.misbehave(Misbehaviour::AnnounceIssuer("not even a URL".into()));
    provider.misbehave(Misbehaviour::SigningAlgs(vec!["none".into()]));
    provider.misbehave(Misbehaviour::RandomJwksUri);
    provider.misbehave(Misbehaviour::IssParameterNotAdvertised);
    let doc = document().await?;
    assert_eq!(doc["issuer"], "not even a URL");
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["none"])
    );
    let jwks_uri = doc["jwks_uri"].as_str().ok_or("jwks_uri")?.to_owned();
    assert!(jwks_uri.starts_with(&format!("{}/", provider.jwks_uri())));
    assert!(doc
        .get("authorization_response_iss_parameter_supported")
        .is_none());
    assert_eq!(http().get(&jwks_uri).send().await?.status(), StatusCode::OK);
    assert_eq!(
        http().get(provider.jwks_uri()).send().await?.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http()
            .get(format!("{}/wrong", provider.jwks_uri()))
            .send()
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );

    provider.behave();
    provider.misbehave(Misbehaviour::AlgNone);
    assert_eq!(
        document().await?["id_token_signing_alg_values_supported"],
        json!(["RS256", "none"])
    );
    provider.misbehave(Misbehaviour::Hs256WithClientSecret);
    provider.behave();
    provider.misbehave(Misbehaviour::Hs256WithPublicKeyPem);
    assert_eq!(
        document().await?["id_token_signing_alg_values_supported"],
        json!(["RS256", "HS256"])
    );
    Ok(())
}

#[tokio::test]
async fn key_set_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    let keys = || async {
        http()
            .get(provider.jwks_uri())
            .send()
            .await?
            .json_text()
            .await
    };
    assert_eq!(keys().await?["keys"].as_array().map(Vec::len), Some(1));

    provider.misbehave(Misbehaviour::NoKeyIdSeveralKeys);
    let set = keys().await?;
    assert_eq!(set["keys"].as_array().map(Vec::len), Some(2));
    assert_ne!(set["keys"][0]["n"], set["keys"][1]["n"]);

    provider.behave();
    provider.misbehave(Misbehaviour::UnparseableKeys);
    let set = keys().await?;
    assert_eq!(set["keys"][0]["kid"], provider.signing_key_id().as_str());
    assert!(set["keys"].as_array().map(Vec::len).unwrap_or(0) > 3);

    provider.misbehave(Misbehaviour::OnlyUnparseableKeys);
    let set = keys().await?;
    let kids: Vec<&Value> = set["keys"]
        .as_array()
        .ok_or("keys")?
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert!(!kids.contains(&&json!(provider.signing_key_id())));

    provider.behave();
    provider.misbehave(Misbehaviour::JwksUnavailable);
    assert_eq!(
        http().get(provider.jwks_uri()).send().await?.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    Ok(())
}

#[tokio::test]
async fn redirect_misbehaviour_and_its_target() -> TestResult {
    let provider = DevProvider::start().await?;
    provider.misbehave(Misbehaviour::Redirect(Endpoint::Discovery));
    let response = http().get(provider.server_metadata_url()).send().await?;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    let target = location(&response);
    assert_eq!(
        target,
        format!("{}?moved=1", provider.server_metadata_url())
    );
    assert_eq!(provider.request_counts().redirect_targets, 0);
    let moved = http().get(&target).send().await?;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(provider.request_counts().redirect_targets, 1);

    provider.misbehave(Misbehaviour::Redirect(Endpoint::Token));
    let response = http().post(provider.token_endpoint()).send().await?;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        location(&response),
        format!("{}?moved=1", provider.token_endpoint())
    );
    Ok(())
}

#[tokio::test]
async fn id_token_claim_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    let issuer = provider.issuer();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;

    let (header, payload) = id_token_while(&provider, Misbehaviour::WrongIssuer).await;
    assert_eq!(payload["iss"], format!("{issuer}/1"));
    assert_eq!(header["alg"], "RS256");
    let (_, payload) = id_token_while(&provider, Misbehaviour::NoSubject).await;
    assert!(payload.get("sub").is_none());
    let (_, payload) = id_token_while(&provider, Misbehaviour::EmptySubject).await;
    assert_eq!(payload["sub"], "");
    let (_, payload) = id_token_while(&provider, Misbehaviour::LongSubject).await;
    assert_eq!(payload["sub"].as_str().map(str::len), Some(256));
    let (_, payload) = id_token_while(&provider, Misbehaviour::WrongAudience).await;
    assert_eq!(payload["aud"], "dev-client1");
    let (_, payload) = id_token_while(&provider, Misbehaviour::NoAudience).await;
    assert!(payload.get("aud").is_none());
    let (_, payload) = id_token_while(&provider, Misbehaviour::AudienceArray).await;
    assert_eq!(payload["aud"], json!(["dev-client"]));
    let (_, payload) = id_token_while(&provider, Misbehaviour::ExtraAudience).await;
    assert_eq!(payload["aud"], json!(["dev-client", "dev-client1"]));
    assert!(payload.get("azp").is_none());
    let (_, payload) = id_token_while(&provider, Misbehaviour::WrongAuthorizedParty).await;
    assert_eq!(payload["azp"], "dev-client1");
    let (_, payload) = id_token_while(&provider, Misbehaviour::NoIssuedAt).await;
    assert!(payload.get("iat").is_none());
    let (_, payload) = id_token_while(&provider, Misbehaviour::Expired).await;
    let exp = payload["exp"].as_i64().ok_or("exp")?;
    assert!(
        (now - 6 * 60 - 5..=now - 6 * 60 + 5).contains(&exp),
        "{exp} {now}"
    );
    let (_, payload) = id_token_while(&provider, Misbehaviour::IssuedInFuture).await;
    assert!(payload["iat"].as_i64().ok_or("iat")? >= now + 10 * 60 - 5);
    let (_, payload) = id_token_while(&provider, Misbehaviour::NotYetValid).await;
    assert!(payload["nbf"].as_i64().ok_or("nbf")? >= now + 10 * 60 - 5);
    let (_, payload) = id_token_while(&provider, Misbehaviour::IssuedLongAgo).await;
    assert!(payload["iat"].as_i64().ok_or("iat")? <= now - 7 * 24 * 60 * 60 + 5);
    assert!(payload["exp"].as_i64().ok_or("exp")? > now);
    let (status, body, flow) = tokens_while(&provider, Some(Misbehaviour::WrongNonce)).await;
    assert_eq!(status, StatusCode::OK);
    let payload = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    assert_eq!(payload["nonce"], format!("{}1", flow.nonce));
    let (status, body, flow) = tokens_while(&provider, Some(Misbehaviour::NoNonce)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!flow.nonce.is_empty(), "the request sent a nonce");
    let payload = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    assert!(payload.get("nonce").is_none());
    let (status, body, _) = tokens_while(&provider, Some(Misbehaviour::WrongAtHash)).await;
    assert_eq!(status, StatusCode::OK);
    let payload = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    let access_token = body["access_token"].as_str().ok_or("access_token")?;
    let digest = Sha256::digest(access_token.as_bytes());
    assert_ne!(payload["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    Ok(())
}

#[tokio::test]
async fn id_token_header_and_signature_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap_or_default().to_owned();

    let (header, _) = id_token_while(&provider, Misbehaviour::NoKeyId).await;
    assert!(header.get("kid").is_none());
    let (header, _) = id_token_while(&provider, Misbehaviour::AccessTokenType).await;
    assert_eq!(header["typ"], "at+jwt");
    let (header, _) = id_token_while(&provider, Misbehaviour::Hs256WithClientSecret).await;
    assert_eq!(header["alg"], "HS256");
    let (header, _) = id_token_while(&provider, Misbehaviour::ForeignKeyInJku).await;
    assert_eq!(header["kid"], "attacker-key");
    assert_eq!(
        header["jku"],
        format!("{}/attacker/jwks", provider.issuer())
    );
    let (header, _) = id_token_while(&provider, Misbehaviour::ForeignKeyInJwk).await;
    assert_eq!(header["jwk"]["kid"], "attacker-key");
    let (header, _) = id_token_while(&provider, Misbehaviour::ForeignKeyInX5u).await;
    assert_eq!(
        header["x5u"],
        format!("{}/attacker/cert.pem", provider.issuer())
    );

    let (_, body, _) = tokens_while(&provider, Some(Misbehaviour::AlgNone)).await;
    let jwt = body["id_token"].as_str().ok_or("id_token")?;
    assert_eq!(jwt_part(jwt, 0)["alg"], "none");
    assert!(jwt.ends_with('.'));

    // The attacker's key set holds the key the foreign-key tokens are signed with.
    let attacker = http()
        .get(format!("{}/attacker/jwks", provider.issuer()))
        .send()
        .await?
        .json_text()
        .await?;
    assert_eq!(attacker["keys"][0]["kid"], "attacker-key");
    let cert = http()
        .get(format!("{}/attacker/cert.pem", provider.issuer()))
        .send()
        .await?;
    assert_eq!(cert.status(), StatusCode::NOT_FOUND);
    assert_eq!(provider.request_counts().attacker_keys, 2);

    // A corrupted signature differs from the real one only in its last byte.
    let (_, body, _) = tokens_while(&provider, Some(Misbehaviour::BadSignature)).await;
    let bad = body["id_token"].as_str().ok_or("id_token")?;
    let bytes = URL_SAFE_NO_PAD.decode(signature(bad))?;
    assert_eq!(bytes.len(), 256);

    // Rotation just before signing: the token names a kid the key set did not have before.
    let before = provider.signing_key_id();
    let (header, _) = id_token_while(&provider, Misbehaviour::RotateKeyBeforeSigning).await;
    assert_ne!(header["kid"], before.as_str());
    assert_eq!(header["kid"], provider.signing_key_id().as_str());
    Ok(())
}

#[test]
fn public_key_pem_is_the_signing_keys_subject_public_key_info() {
    let keys = super::keys::SigningKeys::load().expect("keys");
    let pem = keys.public_key_pem().expect("pem");
    let body: String = pem
        .strip_prefix("-----BEGIN PUBLIC KEY-----\n")
        .and_then(|p| p.strip_suffix("-----END PUBLIC KEY-----\n"))
        .expect("PEM armour")
        .lines()
        .inspect(|line| assert!(line.len() <= 64))
        .collect();
    let der = STANDARD.decode(body).expect("base64");
    // SEQUENCE (long form), then the rsaEncryption algorithm identifier.
    assert_eq!(&der[..2], &[0x30, 0x82]);
    assert_eq!(
        usize::from(der[2]) << 8 | usize::from(der[3]),
        der.len() - 4
    );
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    assert!(der.windows(oid.len()).any(|w| w == oid));
    let modulus = keys.public_modulus().expect("modulus");
    assert!(der.windows(modulus.len()).any(|w| w == modulus.as_slice()));
    assert!(der.ends_with(&[0x02, 0x03, 0x01, 0x00, 0x01]), "e = 65537");
}

#[tokio::test]
async fn token_endpoint_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    let (status, body, _) =
        tokens_while(&provider, Some(Misbehaviour::TokenResponseWithoutIdToken)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("id_token").is_none() && body["access_token"].is_string());
    let (status, body, _) = tokens_while(
        &provider,
        Some(Misbehaviour::TokenResponseWithoutAccessToken),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("access_token").is_none() && body["id_token"].is_string());

    for (misbehaviour, status, content_type) in [
        (
            Misbehaviour::TokenEndpointError,
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html",
        ),
        (Misbehaviour::TokenResponseHtml, StatusCode::OK, "text/html"),
        (
            Misbehaviour::TokenResponseBadJson,
            StatusCode::OK,
            "application/json",
        ),
        (
            Misbehaviour::HugeTokenResponse,
            StatusCode::OK,
            "application/json",
        ),
    ] {
        provider.misbehave(misbehaviour.clone());
        let response = http().post(provider.token_endpoint()).send().await?;
        assert_eq!(response.status(), status, "{misbehaviour:?}");
        let content = response.headers()[header::CONTENT_TYPE]
            .to_str()?
            .to_owned();
        assert!(
            content.starts_with(content_type),
            "{misbehaviour:?}: {content}"
        );
        let chunked = response.content_length().is_none();
        let body = response.bytes().await?;
        match misbehaviour {
            Misbehaviour::TokenResponseBadJson => {
                assert!(serde_json::from_slice::<Value>(&body).is_err())
            }
            Misbehaviour::HugeTokenResponse => {
                assert!(chunked, "sent without Content-Length");
                assert!(body.len() > 2 * 1024 * 1024);
                serde_json::from_slice::<Value>(&body)?;
            }
            _ => {}
        }
        provider.behave();
    }

    provider.misbehave(Misbehaviour::SlowTokenEndpoint(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    http().post(provider.token_endpoint()).send().await?;
    assert!(started.elapsed() >= Duration::from_millis(300));
    Ok(())
}

#[tokio::test]
async fn replayed_id_token_is_the_previous_one() -> TestResult {
    let provider = DevProvider::start().await?;
    let (_, first, _) = tokens_while(&provider, Some(Misbehaviour::ReplayIdToken)).await;
    let (_, second, _) = tokens_while(&provider, None).await;
    assert_ne!(first["id_token"], second["id_token"]);
    let (_, replayed, _) = tokens_while(&provider, Some(Misbehaviour::ReplayIdToken)).await;
    assert_eq!(replayed["id_token"], second["id_token"]);
    assert_ne!(replayed["access_token"], second["access_token"]);
    Ok(())
}

#[tokio::test]
async fn authorization_response_iss_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    let iss_after_sign_in = |misbehaviour: Misbehaviour| {
        let provider = &provider;
        async move {
            provider.misbehave(misbehaviour);
            let flow = Flow::new(provider);
            let mut form = flow.params.clone();
            form.extend([
                ("name".to_owned(), "A".to_owned()),
                ("email".to_owned(), "a@example.com".to_owned()),
            ]);
            let response = http()
                .post(provider.authorization_endpoint())
                .form(&form)
                .send()
                .await
                .expect("sign in");
            provider.behave();
            query_param(&location(&response), "iss")
        }
    };
    assert_eq!(
        iss_after_sign_in(Misbehaviour::WrongAuthorizationResponseIss).await,
        Some(format!("{}/1", provider.issuer()))
    );
    assert_eq!(
        iss_after_sign_in(Misbehaviour::NoAuthorizationResponseIss).await,
        None
    );
    assert_eq!(
        iss_after_sign_in(Misbehaviour::IssParameterNotAdvertised).await,
        None
    );
    assert_eq!(
        iss_after_sign_in(Misbehaviour::AnnounceIssuer("https://other.example".into())).await,
        Some("https://other.example".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn userinfo_misbehaviours() -> TestResult {
    let provider = DevProvider::start().await?;
    let user = DevUser::default();
    let (_, body, _) = tokens_while(&provider, Some(Misbehaviour::ClaimsOnlyFromUserinfo)).await;
    let payload = jwt_part(body["id_token"].as_str().ok_or("id_token")?, 1);
    assert_eq!(payload["sub"], user.subject());
    assert!(payload.get("email").is_none() && payload.get("name").is_none());
    let access_token = body["access_token"]
        .as_str()
        .ok_or("access_token")?
        .to_owned();
    let userinfo = || async {
        http()
            .get(provider.userinfo_endpoint())
            .bearer_auth(&access_token)
            .send()
            .await?
            .json_text()
            .await
    };
    let info = userinfo().await?;
    assert_eq!(info["email"], user.email());
    assert_eq!(info["sub"], user.subject());

    provider.misbehave(Misbehaviour::UserinfoWrongSubject);
    let info = userinfo().await?;
    assert_eq!(info["sub"], "foobar");
    assert_eq!(info["email"], user.email());
    Ok(())
}
