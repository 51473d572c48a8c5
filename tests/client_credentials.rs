//! Client authentication without a shared secret (issue 15, part 1), end to end: an app
//! that logs in with the development provider over loopback, proving who it is with
//! `private_key_jwt` (its own key, RS256 with a certificate or ES256 from a variable), with
//! an Azure managed identity's token (a stand-in for the App Service identity endpoint: a
//! real HTTP server on 127.0.0.1), or with a Kubernetes workload identity token file; and
//! the failures: a key the provider does not know, an identity endpoint that refuses, is
//! down or hands out an expired token, a platform that lacks the variables, two credentials.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use support::logs::{self, Logs};
use support::scratch::{self, TempDir};
use support::{
    cookie_pair, free_port, logged_in, start_configured_on, App, Browser, COOKIE_SECRET, REDIRECT,
};
use tower_oidc_login::testing::{
    ClientAuthMethod, DevClientKey, DevProvider, DevProviderBuilder, FederatedCredential, TokenCall,
};
use tower_oidc_login::{AuthConfig, AuthLayer, ClientKey, ConfigError};

/// The platform's variables, set empty unless a test gives them, so the process's own
/// environment (a developer's shell on an Azure VM) cannot leak in.
const PLATFORM_VARS: [&str; 4] = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "AZURE_FEDERATED_TOKEN_FILE",
    "WEBSITE_HOSTNAME",
];

/// What App Service puts in `IDENTITY_HEADER` (rotated by the platform; a secret).
const IDENTITY_HEADER: &str = "identity-header-value-0123456789";
/// The user-assigned managed identity's client id (`managed_identity_client_id`).
const IDENTITY_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The managed identity's object id: the subject its tokens carry.
const IDENTITY_OBJECT_ID: &str = "identity-object-id";

/// `[auth]` lines for refreshing: tokens readable by handlers, a refresh token asked for.
const REFRESHING: &str = "expose_tokens = [\"id\", \"access\"]\n\
                          client_kwargs = { scope = \"openid email profile offline_access\" }\n";

/// A project directory: `.streamlit/secrets.toml` and whatever key files a test writes.
struct Project {
    dir: TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = scratch::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join(".streamlit")).expect("mkdir .streamlit");
        Project { dir }
    }

    /// Writes `text` to `name` in the project, readable by its owner only (as a key file
    /// should be); its absolute path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        path
    }

    /// Loads the configuration as an app started in this directory would: its
    /// `.streamlit/secrets.toml` (`secrets`), then `vars` (`OIDC_AUTH__*` and the
    /// platform's).
    fn load(&self, secrets: &str, vars: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        self.write(".streamlit/secrets.toml", secrets);
        let env = PLATFORM_VARS
            .iter()
            .map(|name| (*name, ""))
            .chain(vars.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        AuthConfig::load_from(None, self.dir.path(), env)
    }
}

/// `dev`'s `secrets.toml` without its `client_secret`, with `extra` lines added to `[auth]`
/// (`[auth]` is the provider's table too).
fn secrets_without_secret(dev: &DevProvider, extra: &str) -> String {
    let toml = dev.secrets_toml(REDIRECT, COOKIE_SECRET);
    let secret_line = format!("client_secret = \"{}\"\n", dev.client_secret());
    assert!(toml.contains(&secret_line));
    toml.replace(&secret_line, "") + extra
}

/// A TOML string for a path.
fn toml_path(path: &Path) -> String {
    Value::String(path.display().to_string()).to_string()
}

async fn start(config: AuthConfig) -> App {
    start_configured_on(0, config, "", |b| b).await
}

/// A browser that logged in as Alice; the app's answer to the callback.
async fn log_in(app: &App) -> (Browser, reqwest::Response) {
    let browser = Browser::new();
    let r = browser
        .login(&app.url("/auth/login"), "Alice", "alice@example.com")
        .await;
    (browser, r)
}

/// Logs in as Alice and asserts that the login failed with `status` and a page saying
/// `says`, and left no session; the page.
async fn assert_login_refused(app: &App, status: StatusCode, says: &str) -> String {
    let (browser, answer) = log_in(app).await;
    assert_eq!(answer.status(), status);
    assert!(
        cookie_pair(answer.headers(), "oidc_session").is_none(),
        "no session cookie on failure"
    );
    let page = answer.text().await.expect("page");
    assert!(page.contains(says), "the page says {says:?}: {page}");
    assert_eq!(browser.me(app).await["is_logged_in"], false);
    page
}

/// The token requests the app made, by grant type.
fn calls(dev: &DevProvider, grant_type: &str) -> Vec<TokenCall> {
    dev.token_calls()
        .into_iter()
        .filter(|c| c.param("grant_type") == Some(grant_type))
        .collect()
}

fn claims_of(call: &TokenCall) -> &Map<String, Value> {
    call.client_assertion_claims
        .as_ref()
        .expect("the token request carries a decodable client_assertion")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Checks a `private_key_jwt` token request: an assertion of the client, for the token
/// endpoint, short-lived, and no secret anywhere.
fn assert_private_key_jwt(dev: &DevProvider, call: &TokenCall) {
    assert_eq!(call.client_auth, Some(ClientAuthMethod::PrivateKeyJwt));
    assert_eq!(
        call.param("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(call.param("client_secret"), None);
    assert_eq!(call.authorization, None, "no Basic credentials");
    let claims = claims_of(call);
    assert_eq!(claims["iss"], dev.client_id());
    assert_eq!(claims["sub"], dev.client_id());
    assert_eq!(claims["aud"], dev.token_endpoint());
    assert!(
        claims["jti"].as_str().is_some_and(|j| j.len() >= 16),
        "a jti: {claims:?}"
    );
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(
        exp > now() && exp <= now() + 600,
        "a short-lived assertion: exp {exp}, now {}",
        now()
    );
}

// ------------------------------------------------------------------ private_key_jwt

#[tokio::test]
async fn private_key_jwt_rs256_with_a_certificate_logs_in_and_refreshes() {
    let key = DevClientKey::rsa();
    let dev = DevProvider::builder()
        .client_jwks(key.jwks())
        .client_auth_methods([ClientAuthMethod::PrivateKeyJwt])
        .access_token_lifetime(std::time::Duration::from_secs(2))
        .start()
        .await
        .expect("provider starts");
    let project = Project::new();
    let key_file = project.write("client-key.pem", key.private_key_pem());
    let cert_file = project.write("client-cert.pem", key.certificate_pem().expect("cert"));
    let secrets = secrets_without_secret(
        &dev,
        &format!(
            "client_private_key_file = {}\nclient_certificate_file = {}\n{REFRESHING}",
            toml_path(&key_file),
            toml_path(&cert_file)
        ),
    );
    let app = start(project.load(&secrets, &[]).expect("config")).await;

    let browser = logged_in(&app).await;
    let exchanges = calls(&dev, "authorization_code");
    assert_eq!(exchanges.len(), 1);
    let exchange = &exchanges[0];
    assert_private_key_jwt(&dev, exchange);
    // client_id goes in the body next to the assertion (RFC 7523 section 2.2).
    assert_eq!(exchange.param("client_id"), Some(dev.client_id()));
    // Entra finds a certificate credential by its thumbprint.
    let header = exchange.client_assertion_header.as_ref().expect("header");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5t#S256"].as_str(), key.x5t_s256().as_deref());
    assert!(
        header["x5t"].as_str().is_some_and(|t| t.len() == 27),
        "the SHA-1 thumbprint for older Entra tenants: {header:?}"
    );

    // The access token of two seconds is refreshed past half its life, with a new assertion.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = browser
        .client
        .get(app.url("/token"))
        .send()
        .await
        .expect("GET /token");
    assert_eq!(r.status(), StatusCode::OK);
    let refreshes = calls(&dev, "refresh_token");
    assert_eq!(refreshes.len(), 1, "one refresh");
    assert_private_key_jwt(&dev, &refreshes[0]);
    assert_ne!(
        claims_of(&refreshes[0])["jti"],
        claims_of(exchange)["jti"],
        "a fresh jti for every token request"
    );
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn private_key_jwt_es256_from_a_variable_with_escaped_newlines() {
    let pem = DevClientKey::ec().private_key_pem();
    let key = ClientKey::from_pem(pem).expect("EC key");
    // What the app's owner registers: the public JWK the crate computes (kid = RFC 7638).
    let dev = DevProvider::builder()
        .client_jwks(json!({ "keys": [key.public_jwk()] }))
        .client_auth_methods([ClientAuthMethod::PrivateKeyJwt])
        .start()
        .await
        .expect("provider starts");
    // An App Service setting holds no line break: the PEM on one line with `\n`.
    let one_line = pem.trim().replace('\n', "\\n");
    assert!(!one_line.contains('\n'));
    let project = Project::new();
    let config = project
        .load(
            &secrets_without_secret(&dev, ""),
            &[("OIDC_AUTH__CLIENT_PRIVATE_KEY", &one_line)],
        )
        .expect("config");
    let app = start(config).await;

    logged_in(&app).await;
    let exchange = &calls(&dev, "authorization_code")[0];
    assert_private_key_jwt(&dev, exchange);
    let header = exchange.client_assertion_header.as_ref().expect("header");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], key.key_id());
    assert!(
        header.get("x5t#S256").is_none(),
        "no certificate, no thumbprint"
    );
}

#[tokio::test]
async fn a_key_the_provider_does_not_know_fails_the_login_without_a_session() {
    let logs = Logs::capture();
    let dev = DevProvider::builder()
        .client_jwks(DevClientKey::rsa().jwks())
        .client_auth_methods([ClientAuthMethod::PrivateKeyJwt])
        .start()
        .await
        .expect("provider starts");
    let project = Project::new();
    let key_file = project.write(
        "client-key.pem",
        DevClientKey::other_rsa().private_key_pem(),
    );
    let secrets = secrets_without_secret(
        &dev,
        &format!("client_private_key_file = {}\n", toml_path(&key_file)),
    );
    let app = start(project.load(&secrets, &[]).expect("config")).await;

    // The provider's answer (`invalid_client`) to the app's credential: a 4xx in plain words,
    // never a 500.
    let page = assert_login_refused(&app, StatusCode::BAD_REQUEST, "invalid_client").await;
    // What to change, since trying again cannot help.
    assert!(
        page.contains("does not accept this app&#x27;s client credential")
            && page.contains("client_private_key_file"),
        "{page}"
    );
    let exchange = &calls(&dev, "authorization_code")[0];
    assert_eq!(exchange.client_auth, Some(ClientAuthMethod::PrivateKeyJwt));
    let assertion = exchange.param("client_assertion").expect("an assertion");
    logs.one(&["login failed", "invalid_client", "fix="]);
    assert!(
        !logs::text().contains(assertion),
        "the assertion is never logged"
    );
    assert!(!page.contains(assertion));
}

// ------------------------------------------------------------------ managed identity

/// What the stand-in for the App Service identity endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// A token the provider's federated credential trusts, valid for a day.
    Valid,
    /// A token that expired a minute ago.
    Expired,
}

/// A stand-in for the App Service managed identity endpoint (`IDENTITY_ENDPOINT`): checks
/// the `X-IDENTITY-HEADER`, the API version, the resource and the identity asked for, as
/// App Service does, and answers with a token signed by the identity's key.
struct IdentityEndpoint {
    url: String,
    calls: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for IdentityEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Identity {
    /// The token issuer: the stand-in itself.
    issuer: String,
    /// The `client_id` the app must ask for (`None`: the system-assigned identity).
    client_id: Option<&'static str>,
    answer: Arc<Mutex<Answer>>,
    calls: Arc<AtomicU64>,
}

/// The key the managed identity's tokens are signed with.
fn identity_key() -> DevClientKey {
    DevClientKey::ec()
}

/// A provider whose app registration trusts the managed identity behind `issuer`.
fn trusting(issuer: &str) -> DevProviderBuilder {
    DevProvider::builder()
        .federated_credential(FederatedCredential::new(
            issuer,
            IDENTITY_OBJECT_ID,
            identity_key().jwks(),
        ))
        .client_auth_methods([ClientAuthMethod::FederatedCredential])
}

impl IdentityEndpoint {
    async fn start(client_id: Option<&'static str>, answer: Answer) -> IdentityEndpoint {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let url = format!(
            "http://127.0.0.1:{}/msi/token",
            listener.local_addr().expect("addr").port()
        );
        let calls = Arc::new(AtomicU64::new(0));
        let identity = Identity {
            issuer: url.clone(),
            client_id,
            answer: Arc::new(Mutex::new(answer)),
            calls: calls.clone(),
        };
        let router = Router::new()
            .route("/msi/token", get(identity_token))
            .with_state(identity);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        IdentityEndpoint { url, calls, task }
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn identity_token(
    State(identity): State<Identity>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    identity.calls.fetch_add(1, Ordering::SeqCst);
    let refuse = |status: StatusCode, why: &str| {
        (
            status,
            Json(json!({ "statusCode": status.as_u16(), "message": why })),
        )
            .into_response()
    };
    if headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        != Some(IDENTITY_HEADER)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Unable to validate the request header",
        );
    }
    let param = |name: &str| query.get(name).map(String::as_str);
    if param("api-version") != Some("2019-08-01") {
        return refuse(StatusCode::BAD_REQUEST, "unsupported api-version");
    }
    if param("resource") != Some(FederatedCredential::AZURE_AD_TOKEN_EXCHANGE) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this test serves only token exchange",
        );
    }
    if param("client_id") != identity.client_id {
        return refuse(StatusCode::BAD_REQUEST, "no such identity is assigned");
    }
    let answer = *identity.answer.lock().unwrap_or_else(|e| e.into_inner());
    let mut claims =
        DevClientKey::assertion_claims("-", FederatedCredential::AZURE_AD_TOKEN_EXCHANGE);
    let iat = claims["iat"].as_i64().unwrap_or_default();
    let exp = match answer {
        Answer::Valid => iat + 24 * 3600,
        Answer::Expired => iat - 60,
    };
    claims.insert("iss".into(), json!(identity.issuer));
    claims.insert("sub".into(), json!(IDENTITY_OBJECT_ID));
    claims.insert("exp".into(), json!(exp));
    let key = identity_key();
    let token = key
        .sign_jwt(&key.assertion_header(), &claims)
        .expect("signed");
    // App Service's shape: `expires_on` in Unix seconds, as a string.
    Json(json!({
        "access_token": token,
        "expires_on": exp.to_string(),
        "resource": FederatedCredential::AZURE_AD_TOKEN_EXCHANGE,
        "token_type": "Bearer",
        "client_id": identity.client_id.unwrap_or("system-assigned"),
    }))
    .into_response()
}

/// `dev`'s table with a managed identity as its credential, loaded on a platform whose
/// identity endpoint is `endpoint` and whose `IDENTITY_HEADER` is `identity_header`.
fn managed_identity_config(
    project: &Project,
    dev: &DevProvider,
    client_id: Option<&str>,
    endpoint: &str,
    identity_header: &str,
) -> AuthConfig {
    let mut extra = "client_assertion = \"azure_managed_identity\"\n".to_owned();
    if let Some(id) = client_id {
        extra.push_str(&format!("managed_identity_client_id = \"{id}\"\n"));
    }
    project
        .load(
            &secrets_without_secret(dev, &extra),
            &[
                ("IDENTITY_ENDPOINT", endpoint),
                ("IDENTITY_HEADER", identity_header),
            ],
        )
        .expect("config")
}

/// A user-assigned identity whose endpoint gives `answer`, a provider trusting it, and the
/// configuration an app there loads with `identity_header` (the project holds its files).
async fn user_assigned(
    answer: Answer,
    identity_header: &str,
) -> (IdentityEndpoint, DevProvider, Project, AuthConfig) {
    let endpoint = IdentityEndpoint::start(Some(IDENTITY_CLIENT_ID), answer).await;
    let dev = trusting(&endpoint.url).start().await.expect("provider");
    let project = Project::new();
    let config = managed_identity_config(
        &project,
        &dev,
        Some(IDENTITY_CLIENT_ID),
        &endpoint.url,
        identity_header,
    );
    (endpoint, dev, project, config)
}

#[tokio::test]
async fn managed_identity_tokens_log_in_and_are_fetched_once() {
    let (endpoint, dev, _project, config) = user_assigned(Answer::Valid, IDENTITY_HEADER).await;
    assert!(
        !config
            .warnings()
            .iter()
            .any(|w| w.contains("system-assigned")),
        "a user-assigned identity is what Entra trusts: {:?}",
        config.warnings()
    );
    let app = start(config).await;
    assert_eq!(endpoint.calls(), 0, "nothing is fetched before a login");

    for _ in 0..2 {
        logged_in(&app).await;
    }
    assert_eq!(
        endpoint.calls(),
        1,
        "the token is kept until shortly before it expires"
    );
    let exchanges = calls(&dev, "authorization_code");
    assert_eq!(exchanges.len(), 2);
    for call in &exchanges {
        assert_eq!(
            call.client_auth,
            Some(ClientAuthMethod::FederatedCredential)
        );
        assert_eq!(call.param("client_id"), Some(dev.client_id()));
        assert_eq!(call.param("client_secret"), None);
        assert_eq!(call.authorization, None);
        let claims = claims_of(call);
        assert_eq!(claims["iss"], endpoint.url.as_str());
        assert_eq!(claims["sub"], IDENTITY_OBJECT_ID);
        assert_eq!(claims["aud"], FederatedCredential::AZURE_AD_TOKEN_EXCHANGE);
    }
    assert_eq!(
        claims_of(&exchanges[0])["jti"],
        claims_of(&exchanges[1])["jti"],
        "the same platform token, passed on as it is"
    );
}

#[tokio::test]
async fn the_system_assigned_identity_is_asked_for_without_a_client_id() {
    let endpoint = IdentityEndpoint::start(None, Answer::Valid).await;
    let dev = trusting(&endpoint.url).start().await.expect("provider");
    let project = Project::new();
    let config = managed_identity_config(&project, &dev, None, &endpoint.url, IDENTITY_HEADER);
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.contains("system-assigned") && w.contains("managed_identity_client_id")),
        "Entra trusts only user-assigned identities: {:?}",
        config.warnings()
    );
    let app = start(config).await;
    logged_in(&app).await;
    assert_eq!(endpoint.calls(), 1);
}

#[tokio::test]
async fn an_identity_endpoint_that_refuses_the_header_is_a_503_without_a_session() {
    let logs = Logs::capture();
    const WRONG_HEADER: &str = "a-header-value-from-another-app";
    let (endpoint, dev, _project, config) = user_assigned(Answer::Valid, WRONG_HEADER).await;
    let app = start(config).await;

    assert_login_refused(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        "managed identity did not give it a credential",
    )
    .await;
    assert_eq!(endpoint.calls(), 1, "the stand-in was asked and refused");
    assert_eq!(
        dev.request_counts().token,
        0,
        "no token request without a credential"
    );
    logs.one(&["login failed", "managed identity endpoint", "400"]);
    assert!(
        !logs::text().contains(WRONG_HEADER),
        "the identity header is a secret and never logged"
    );
}

#[tokio::test]
async fn an_identity_endpoint_that_is_down_is_a_503_without_a_session() {
    let logs = Logs::capture();
    let down = format!("http://127.0.0.1:{}/msi/token", free_port());
    let dev = trusting(&down).start().await.expect("provider");
    let project = Project::new();
    let config = managed_identity_config(
        &project,
        &dev,
        Some(IDENTITY_CLIENT_ID),
        &down,
        IDENTITY_HEADER,
    );
    let app = start(config).await;

    let page = assert_login_refused(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        "managed identity did not give it a credential",
    )
    .await;
    assert!(
        !page.contains("127.0.0.1"),
        "no internal address on the page: {page}"
    );
    assert_eq!(dev.request_counts().token, 0);
    logs.one(&["login failed", "managed identity endpoint"]);
}

#[tokio::test]
async fn an_expired_token_from_the_identity_endpoint_is_refused_without_a_session() {
    let (endpoint, dev, _project, config) = user_assigned(Answer::Expired, IDENTITY_HEADER).await;
    let app = start(config).await;

    let logs = Logs::capture();
    // The platform failed to renew it: the provider is not asked (it would answer
    // `invalid_client`, which reads as a registration problem).
    assert_login_refused(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        "managed identity gave it an expired credential",
    )
    .await;
    assert_eq!(
        dev.request_counts().token,
        0,
        "an expired token is not offered"
    );
    logs.one(&["login failed", "expired"]);

    // Not kept either: the next login asks again.
    assert_login_refused(&app, StatusCode::SERVICE_UNAVAILABLE, "expired").await;
    assert_eq!(endpoint.calls(), 2);
}

// ------------------------------------------------------------------ workload identity

/// The AKS cluster's OIDC issuer.
const CLUSTER: &str = "https://oidc.aks.example/cluster-issuer/";
/// The app's Kubernetes service account, as the subject of its tokens.
const SERVICE_ACCOUNT: &str = "system:serviceaccount:default:app";

/// A provider whose app registration trusts [`SERVICE_ACCOUNT`]'s tokens from [`CLUSTER`],
/// signed with `cluster_key`.
fn trusting_cluster(cluster_key: &DevClientKey) -> DevProviderBuilder {
    DevProvider::builder()
        .federated_credential(FederatedCredential::new(
            CLUSTER,
            SERVICE_ACCOUNT,
            cluster_key.jwks(),
        ))
        .client_auth_methods([ClientAuthMethod::FederatedCredential])
}

/// A Kubernetes service account token as AKS projects it, signed by the cluster's issuer key
/// and expiring at `exp` (Unix seconds); the token and its `jti`.
fn service_account_token(key: &DevClientKey, exp: i64) -> (String, String) {
    let mut claims =
        DevClientKey::assertion_claims("-", FederatedCredential::AZURE_AD_TOKEN_EXCHANGE);
    claims.insert("iss".into(), json!(CLUSTER));
    claims.insert("sub".into(), json!(SERVICE_ACCOUNT));
    claims.insert("exp".into(), json!(exp));
    let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
    (
        key.sign_jwt(&key.assertion_header(), &claims)
            .expect("signed"),
        jti,
    )
}

/// `dev`'s table with workload identity as its credential, loaded on a platform that
/// projects the token to `token_file`.
fn workload_identity_config(project: &Project, dev: &DevProvider, token_file: &Path) -> AuthConfig {
    project
        .load(
            &secrets_without_secret(dev, "client_assertion = \"azure_workload_identity\"\n"),
            &[(
                "AZURE_FEDERATED_TOKEN_FILE",
                &token_file.display().to_string(),
            )],
        )
        .expect("config")
}

#[tokio::test]
async fn workload_identity_reads_the_token_file_and_reads_it_again_when_replaced() {
    let cluster_key = DevClientKey::rsa();
    let dev = trusting_cluster(&cluster_key)
        .start()
        .await
        .expect("provider");
    let project = Project::new();
    let (first, first_jti) = service_account_token(&cluster_key, now() + 3600);
    let token_file = project.write("azure-identity-token", &first);
    let app = start(workload_identity_config(&project, &dev, &token_file)).await;

    for _ in 0..2 {
        logged_in(&app).await;
    }
    // Kubernetes rotates the token by swapping in a new file.
    let (second, second_jti) = service_account_token(&cluster_key, now() + 3600);
    let staged = project.write("azure-identity-token.new", &second);
    std::fs::rename(&staged, &token_file).expect("replace the token file");
    logged_in(&app).await;

    let jtis: Vec<Value> = calls(&dev, "authorization_code")
        .iter()
        .map(|c| {
            assert_eq!(c.client_auth, Some(ClientAuthMethod::FederatedCredential));
            claims_of(c)["jti"].clone()
        })
        .collect();
    assert_eq!(
        jtis,
        [json!(first_jti), json!(first_jti), json!(second_jti)]
    );
}

#[tokio::test]
async fn an_expired_or_missing_token_file_is_a_503_without_a_session() {
    let cluster_key = DevClientKey::rsa();
    let dev = trusting_cluster(&cluster_key)
        .start()
        .await
        .expect("provider");
    let project = Project::new();
    let (expired, _) = service_account_token(&cluster_key, now() - 30);
    let token_file = project.write("azure-identity-token", &expired);
    let app = start(workload_identity_config(&project, &dev, &token_file)).await;

    assert_login_refused(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        "workload identity token has expired",
    )
    .await;
    std::fs::remove_file(&token_file).expect("rm");
    let page = assert_login_refused(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        "workload identity token could not be read",
    )
    .await;
    assert!(
        !page.contains("azure-identity-token"),
        "no path on the page: {page}"
    );
    assert_eq!(dev.request_counts().token, 0);
}

// ------------------------------------------------------------------ start-up errors

#[tokio::test]
async fn a_platform_assertion_without_the_platform_stops_the_app_at_start() {
    let dev = DevProvider::start().await.expect("provider");
    let project = Project::new();
    for (source, variable) in [
        ("azure_managed_identity", "IDENTITY_ENDPOINT"),
        ("azure_workload_identity", "AZURE_FEDERATED_TOKEN_FILE"),
    ] {
        let config = project
            .load(
                &secrets_without_secret(&dev, &format!("client_assertion = \"{source}\"\n")),
                &[],
            )
            .expect("the file itself is fine");
        let e = AuthLayer::builder(config)
            .port(8501)
            .build()
            .expect_err("no platform to ask");
        let message = e.to_string();
        assert!(
            matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.client_assertion"),
            "{e:?}"
        );
        assert!(message.contains(variable), "{message}");
    }
}

#[tokio::test]
async fn two_kinds_of_client_credential_are_refused_at_start() {
    let dev = DevProvider::start().await.expect("provider");
    let project = Project::new();
    let key_file = project.write("client-key.pem", DevClientKey::rsa().private_key_pem());
    // The secret from the file, the key from a variable: still two credentials.
    let e = project
        .load(
            &dev.secrets_toml(REDIRECT, COOKIE_SECRET),
            &[(
                "OIDC_AUTH__CLIENT_PRIVATE_KEY_FILE",
                &key_file.display().to_string(),
            )],
        )
        .expect_err("two credentials");
    let message = e.to_string();
    for part in ["client_secret", "client_private_key_file", "exactly one"] {
        assert!(message.contains(part), "{part}: {message}");
    }
}
