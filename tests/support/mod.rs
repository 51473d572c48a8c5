//! Shared pieces of the integration tests: an app on a loopback port and a "browser"
//! (a real HTTP client with a cookie jar that follows redirects by hand, so each hop
//! can be checked).

#![allow(dead_code)]

pub mod logs;
pub mod redis;
#[path = "../../src/util/scratch.rs"]
pub mod scratch;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};
use tokio::task::JoinHandle;
use tower_oidc_login::{AuthConfig, AuthLayer, CurrentUser, RequireLoginLayer, User};

pub const COOKIE_SECRET: &str = "integration-test-cookie-secret-0123456789";
pub const REDIRECT: &str = "http://127.0.0.1:{port}/oauth2callback";

/// The development provider and an app that logs in with it as its only provider.
pub async fn one_provider_app() -> (tower_oidc_login::testing::DevProvider, App) {
    let provider = tower_oidc_login::testing::DevProvider::start()
        .await
        .expect("provider starts");
    let app = start_app(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).await;
    (provider, app)
}

/// An app like the quickstart, serving on 127.0.0.1 with the layer in front.
pub struct App {
    pub base: String,
    pub port: u16,
    pub layer: AuthLayer,
    task: JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// The quickstart's routes plus a few the tests need.
pub fn router(prefix: &str) -> Router {
    let private = Router::new()
        .route(
            &format!("{prefix}/guarded"),
            get(|user: User| async move { format!("guarded for {}", user.email().unwrap_or("")) }),
        )
        .route_layer(RequireLoginLayer::new());
    Router::new()
        .route(
            &format!("{prefix}/"),
            get(|user: User| async move {
                if user.is_logged_in() {
                    format!("hello {}", user.name().unwrap_or(""))
                } else {
                    "anonymous".to_owned()
                }
            }),
        )
        .route(
            &format!("{prefix}/me"),
            get(|user: User| async move { Json(user.to_json()) }),
        )
        .route(
            &format!("{prefix}/private"),
            get(|CurrentUser(user): CurrentUser| async move {
                format!("private for {}", user.email().unwrap_or(""))
            }),
        )
        .route(
            &format!("{prefix}/maybe"),
            get(|user: Option<CurrentUser>| async move {
                if user.is_some() {
                    "some"
                } else {
                    "none"
                }
            }),
        )
        .route(
            &format!("{prefix}/tokens"),
            get(|user: User| async move {
                let t = user.tokens();
                Json(serde_json::json!({"id": t.id.is_some(), "access": t.access.is_some()}))
            }),
        )
        .route(
            &format!("{prefix}/token"),
            // As the quickstart's `/token`: a fresh access token, or the error's JSON answer.
            get(|user: User| async move {
                match user.access_token().await {
                    Ok(token) => Json(serde_json::json!({
                        "access_token": token.secret(),
                        "expires_at": token.expires_at_unix(),
                    }))
                    .into_response(),
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(&format!("{prefix}/page"), get(|| async { "page" }))
        .merge(private)
}

/// Starts the app for `secrets` (Streamlit schema; `{port}` is the app's port).
pub async fn start_app(secrets: &str) -> App {
    start_app_with(secrets, "", |b| b).await
}

pub async fn start_app_with(
    secrets: &str,
    prefix: &str,
    customize: impl FnOnce(tower_oidc_login::AuthLayerBuilder) -> tower_oidc_login::AuthLayerBuilder,
) -> App {
    start_app_on(0, secrets, prefix, customize).await
}

/// [`start_app_with`] on a chosen port of 127.0.0.1 (0: any free one), for a provider that
/// must know the app's address before the app starts (a registered back-channel logout
/// URI): reserve one with [`free_port`].
pub async fn start_app_on(
    port: u16,
    secrets: &str,
    prefix: &str,
    customize: impl FnOnce(tower_oidc_login::AuthLayerBuilder) -> tower_oidc_login::AuthLayerBuilder,
) -> App {
    let config = AuthConfig::from_toml_str(secrets).expect("valid test config");
    start_configured_on(port, config, prefix, customize).await
}

/// [`start_app_on`] for a configuration loaded by the test itself (from files and
/// variables, with the platform's variables it hands in).
pub async fn start_configured_on(
    port: u16,
    config: AuthConfig,
    prefix: &str,
    customize: impl FnOnce(tower_oidc_login::AuthLayerBuilder) -> tower_oidc_login::AuthLayerBuilder,
) -> App {
    serve_configured(port, config, customize, |layer| router(prefix).layer(layer)).await
}

/// Serves on 127.0.0.1 (`port`, 0: any free one) what `app` makes of the layer built from
/// `config`, for a test whose routes or way of adding the layer are its own.
pub async fn serve_configured<S>(
    port: u16,
    config: AuthConfig,
    customize: impl FnOnce(tower_oidc_login::AuthLayerBuilder) -> tower_oidc_login::AuthLayerBuilder,
    app: impl FnOnce(AuthLayer) -> S,
) -> App
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // `{port}` stands for this app's port. A redirect_uri written out is another address (a
    // load balancer's, another replica's), and an app behind one is built without `.port()`:
    // the layer refuses a loopback redirect_uri on a port other than the one given.
    let builder = if config.redirect_uri().contains("{port}") {
        AuthLayer::builder(config).port(port)
    } else {
        AuthLayer::builder(config)
    };
    let layer = customize(builder).build().expect("layer builds");
    let app = tower::make::Shared::new(app(layer.clone()));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    App {
        base: format!("http://127.0.0.1:{port}"),
        port,
        layer,
        task,
    }
}

/// A client with a cookie jar that follows no redirect by itself.
pub struct Browser {
    pub client: Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .expect("client");
        Browser { client, jar }
    }

    /// A top-level navigation, as a browser sends it.
    pub async fn get(&self, url: &str) -> Response {
        self.client
            .get(url)
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .expect("GET")
    }

    /// Starts a login and fills the provider's sign-in form; returns the callback URL the
    /// provider sent the browser to (not yet opened).
    pub async fn start_login(
        &self,
        login_url: &str,
        name: &str,
        email: &str,
        claims: &str,
    ) -> String {
        let r = self.get(login_url).await;
        assert_eq!(
            r.status(),
            StatusCode::FOUND,
            "login redirects to the provider"
        );
        let authorize = location(r.headers());
        let form_page = self.get(&authorize).await;
        assert_eq!(
            form_page.status(),
            StatusCode::OK,
            "provider shows its sign-in form"
        );
        let html = form_page.text().await.expect("form");
        let form = Form::parse(&html);
        let mut fields = form.hidden.clone();
        fields.push(("name".into(), name.into()));
        fields.push(("email".into(), email.into()));
        fields.push(("claims".into(), claims.into()));
        fields.push(("action".into(), "sign_in".into()));
        let r = self
            .client
            .post(&form.action)
            .form(&fields)
            .send()
            .await
            .expect("POST form");
        assert!(
            r.status().is_redirection(),
            "provider redirects back: {}",
            r.status()
        );
        location(r.headers())
    }

    /// Cancels at the provider's form; returns the callback URL carrying the error.
    pub async fn cancel_login(&self, login_url: &str) -> String {
        let r = self.get(login_url).await;
        let authorize = location(r.headers());
        let html = self.get(&authorize).await.text().await.expect("form");
        let form = Form::parse(&html);
        let mut fields = form.hidden.clone();
        fields.push(("action".into(), "cancel".into()));
        let r = self
            .client
            .post(&form.action)
            .form(&fields)
            .send()
            .await
            .expect("POST form");
        location(r.headers())
    }

    /// The whole login; returns the app's answer to the callback.
    pub async fn login(&self, login_url: &str, name: &str, email: &str) -> Response {
        let callback = self.start_login(login_url, name, email, "").await;
        self.get(&callback).await
    }

    /// `GET url` as JSON, with this browser's cookies.
    pub async fn json(&self, url: &str) -> serde_json::Value {
        self.json_with(url, &[]).await
    }

    /// `GET url` as JSON, with this browser's cookies and `headers`.
    pub async fn json_with(&self, url: &str, headers: &[(&str, &str)]) -> serde_json::Value {
        headers
            .iter()
            .fold(self.client.get(url), |request, (name, value)| {
                request.header(*name, *value)
            })
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    pub async fn me(&self, app: &App) -> serde_json::Value {
        self.client
            .get(app.url("/me"))
            .send()
            .await
            .expect("GET /me")
            .json()
            .await
            .expect("JSON")
    }
}

/// A browser logged in as Alice (alice@example.com), checked through `/me`.
pub async fn logged_in(app: &App) -> Browser {
    let browser = Browser::new();
    let r = browser
        .login(&app.url("/auth/login"), "Alice", "alice@example.com")
        .await;
    assert!(
        r.status().is_redirection(),
        "login finishes: {}",
        r.status()
    );
    let me = browser.me(app).await;
    assert_eq!(me["is_logged_in"], true, "{me}");
    assert_eq!(me["email"], "alice@example.com");
    browser
}

/// `GET url` as JSON from a fresh client that sends only `cookie` (a replayed cookie).
pub async fn json_with_cookie(url: &str, cookie: &str) -> serde_json::Value {
    Client::new()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON")
}

pub fn location(headers: &HeaderMap) -> String {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_owned()
}

pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// The name=value part of the Set-Cookie for `name`.
pub fn cookie_pair(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// The sign-in form of the development provider.
pub struct Form {
    pub action: String,
    pub hidden: Vec<(String, String)>,
}

impl Form {
    pub fn parse(html: &str) -> Form {
        let action = attr(html.split("<form").nth(1).expect("a form"), "action");
        let hidden = html
            .split("<input")
            .skip(1)
            .filter(|tag| tag.contains(r#"type="hidden""#))
            .map(|tag| (attr(tag, "name"), attr(tag, "value")))
            .collect();
        Form { action, hidden }
    }
}

fn attr(tag: &str, name: &str) -> String {
    let start = tag.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
    let end = tag[start..].find('"').expect("closing quote") + start;
    unescape(&tag[start..end])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    l.local_addr().expect("addr").port()
}
