//! Rotating `cookie_secret` with a list (first signs, all verify): replicas that move from
//! `"old"` to `["new", "old"]` keep everyone logged in and finish logins the old secret
//! started; once `"old"` is removed from the list, its cookies read as anonymous. Each
//! "deployment" is a separate layer build on one shared store.

mod support;

use std::sync::Arc;

use reqwest::cookie::CookieStore;
use reqwest::StatusCode;
use support::*;
use tower_oidc_login::session::MemoryStore;
use tower_oidc_login::testing::DevProvider;

const OLD: &str = "rotation-old-cookie-secret-0123456789abcdef";
const NEW: &str = "rotation-new-cookie-secret-fedcba9876543210";

/// The development provider's configuration with `cookie_secret = {secrets}` (TOML).
fn with_secret(provider: &DevProvider, redirect_uri: &str, secrets: &str) -> String {
    let toml = provider.secrets_toml(redirect_uri, OLD);
    let line = format!("cookie_secret = \"{OLD}\"");
    assert!(toml.contains(&line), "{toml}");
    toml.replace(&line, &format!("cookie_secret = {secrets}"))
}

/// An app on `store` with `cookie_secret = {secrets}`, its callback at `redirect_uri`.
async fn deploy(
    provider: &DevProvider,
    store: &Arc<MemoryStore>,
    redirect_uri: &str,
    secrets: &str,
) -> App {
    let store = store.clone();
    start_app_with(
        &with_secret(provider, redirect_uri, secrets),
        "",
        move |b| b.shared_session_store(store),
    )
    .await
}

fn cookie_header(browser: &Browser, url: &str) -> String {
    browser
        .jar
        .cookies(&url.parse().unwrap())
        .expect("cookies")
        .to_str()
        .unwrap()
        .to_owned()
}

/// `url` (on any app) moved to `app`.
fn on(app: &App, url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    app.url(&format!("{}?{}", url.path(), url.query().unwrap_or("")))
}

#[tokio::test]
async fn a_cookie_signed_with_the_old_secret_still_works_after_rotation() {
    let provider = DevProvider::start().await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let old = deploy(&provider, &store, REDIRECT, &format!("\"{OLD}\"")).await;
    let callback = old.url("/oauth2callback");
    let rotated = deploy(
        &provider,
        &store,
        &callback,
        &format!("[\"{NEW}\", \"{OLD}\"]"),
    )
    .await;

    // Logged in before the rotation: still logged in after it.
    let ada = Browser::new();
    let done = ada
        .login(&old.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    let cookie = cookie_header(&ada, &old.base);
    let me = json_with_cookie(&rotated.url("/me"), &cookie).await;
    assert_eq!(me["email"], "ada@example.com", "{me}");

    // A login started before the rotation (its pending-login cookie sealed with the old
    // secret) finishes after it.
    let bob = Browser::new();
    let started = bob
        .start_login(&old.url("/auth/login"), "Bob", "bob@example.com", "")
        .await;
    let r = bob.get(&on(&rotated, &started)).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(bob.me(&rotated).await["email"], "bob@example.com");

    // The new secret signs: a cookie issued after the rotation is not one the old
    // deployment can read.
    let carol = Browser::new();
    let started = carol
        .start_login(
            &rotated.url("/auth/login"),
            "Carol",
            "carol@example.com",
            "",
        )
        .await;
    let r = carol.get(&on(&rotated, &started)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let cookie = cookie_header(&carol, &rotated.base);
    assert_eq!(
        json_with_cookie(&rotated.url("/me"), &cookie).await["email"],
        "carol@example.com"
    );
    assert_eq!(
        json_with_cookie(&old.url("/me"), &cookie).await["is_logged_in"],
        false,
        "signed with the new secret"
    );
}

#[tokio::test]
async fn a_cookie_signed_with_a_removed_secret_reads_as_anonymous() {
    let provider = DevProvider::start().await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let old = deploy(&provider, &store, REDIRECT, &format!("\"{OLD}\"")).await;
    let callback = old.url("/oauth2callback");
    let ada = Browser::new();
    ada.login(&old.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    let cookie = cookie_header(&ada, &old.base);
    assert!(!store.is_empty(), "the session is in the shared store");

    let removed = deploy(&provider, &store, &callback, &format!("[\"{NEW}\"]")).await;
    let r = reqwest::Client::new()
        .get(removed.url("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let removal = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("the cookie no secret verifies is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
    // The session itself is still in the store: only the secret changed.
    assert_eq!(
        json_with_cookie(&old.url("/me"), &cookie).await["email"],
        "ada@example.com"
    );
}
