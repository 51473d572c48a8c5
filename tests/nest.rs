//! Login-required routes inside axum's `Router::nest`: the visitor comes back to the page it
//! asked for, nest prefix included.

mod support;

use axum::routing::get;
use axum::Router;
use reqwest::StatusCode;
use support::{location, serve_configured, App, Browser, COOKIE_SECRET, REDIRECT};
use tower_oidc_login::testing::DevProvider;
use tower_oidc_login::{AuthConfig, CurrentUser, RequireLoginLayer};

/// An app whose login-only pages live under `/app`: `/app/reports` takes a `CurrentUser`,
/// `/app/admin/panel` sits behind `RequireLoginLayer` in a router nested twice.
async fn nested_app(provider: &DevProvider) -> App {
    let config =
        AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).expect("config");
    let admin = Router::new()
        .route("/panel", get(|| async { "panel" }))
        .route_layer(RequireLoginLayer::new());
    let app_pages = Router::new()
        .route(
            "/reports",
            get(|CurrentUser(user): CurrentUser| async move {
                format!("reports for {}", user.email().unwrap_or(""))
            }),
        )
        .nest("/admin", admin);
    serve_configured(
        0,
        config,
        |b| b,
        |auth| Router::new().nest("/app", app_pages).layer(auth),
    )
    .await
}

fn return_to(login_url: &str) -> String {
    let url = url::Url::parse(&format!("http://x{login_url}")).expect("login URL");
    url.query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("a return_to")
}

#[tokio::test]
async fn current_user_under_nest_returns_to_the_full_path() {
    let provider = DevProvider::start().await.expect("provider");
    let app = nested_app(&provider).await;
    let base = &app.base;
    let browser = Browser::new();

    let r = browser.get(&format!("{base}/app/reports?week=3")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let login = location(r.headers());
    assert_eq!(return_to(&login), "/app/reports?week=3");

    // The API answer names the same login URL.
    let api: serde_json::Value = reqwest::get(format!("{base}/app/reports?week=3"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        return_to(api["login_url"].as_str().expect("login_url")),
        "/app/reports?week=3"
    );

    // The whole login lands back on the nested page.
    let landed = browser
        .login(&format!("{base}{login}"), "Ada", "ada@example.com")
        .await;
    assert_eq!(location(landed.headers()), "/app/reports?week=3");
    let page = browser.get(&format!("{base}/app/reports?week=3")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.text().await.expect("body"),
        "reports for ada@example.com"
    );
}

#[tokio::test]
async fn require_login_layer_inside_nest_returns_to_the_full_path() {
    let provider = DevProvider::start().await.expect("provider");
    let app = nested_app(&provider).await;
    let base = &app.base;
    let browser = Browser::new();

    let r = browser.get(&format!("{base}/app/admin/panel")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let login = location(r.headers());
    assert_eq!(return_to(&login), "/app/admin/panel");

    let landed = browser
        .login(&format!("{base}{login}"), "Ada", "ada@example.com")
        .await;
    assert_eq!(location(landed.headers()), "/app/admin/panel");
    let page = browser.get(&format!("{base}/app/admin/panel")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.text().await.expect("body"), "panel");
}
