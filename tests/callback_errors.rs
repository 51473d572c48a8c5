//! Every way the callback can fail answers a clear 4xx page, logs the visitor in
//! nowhere, and never needs a second try to be safe.

mod support;

use reqwest::StatusCode;
use support::*;
use tower_oidc_login::session::{Id, Record, StoreError};
use tower_oidc_login::testing::DevProvider;

/// Asserts a failed login: the status, a page that says `needle`, a way to try again,
/// no session cookie, and the visitor still anonymous.
async fn assert_refused(
    browser: &Browser,
    app: &App,
    r: reqwest::Response,
    status: StatusCode,
    needle: &str,
) {
    assert_eq!(r.status(), status);
    assert!(
        cookie_pair(r.headers(), "oidc_session").is_none(),
        "no session cookie on failure"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains(needle), "{needle:?} not in {page}");
    assert!(page.contains("Try again"), "{page}");
    assert_eq!(browser.me(app).await["is_logged_in"], false);
}

fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[tokio::test]
async fn cancelling_at_the_provider_says_so() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser.cancel_login(&app.url("/auth/login")).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = browser.get(&callback).await;
    assert_refused(
        &browser,
        &app,
        r,
        StatusCode::FORBIDDEN,
        "refused the login: access_denied",
    )
    .await;
}

#[tokio::test]
async fn provider_error_text_is_html_escaped() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser
        .get(&app.url("/oauth2callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn a_code_without_state_is_refused() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/oauth2callback?code=abc")).await;
    assert_refused(&browser, &app, r, StatusCode::BAD_REQUEST, "no state").await;
    assert_eq!(
        provider.request_counts().token,
        0,
        "no token request after a bad state"
    );
}

#[tokio::test]
async fn an_unknown_state_is_refused_without_a_token_request() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "U", "u@example.com", "")
        .await;
    let forged = with_param(&callback, "state", "forged-state-value");
    let r = browser.get(&forged).await;
    assert_refused(
        &browser,
        &app,
        r,
        StatusCode::BAD_REQUEST,
        "unknown, expired or was already used",
    )
    .await;
    assert_eq!(provider.request_counts().token, 0);
}

#[tokio::test]
async fn a_state_is_good_for_one_callback_only() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "U", "u@example.com", "")
        .await;
    assert_eq!(browser.get(&callback).await.status(), StatusCode::FOUND);
    let fresh = Browser::new();
    // Same URL again, in the same browser after logging out locally.
    browser
        .client
        .get(app.url("/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    let r = browser.get(&callback).await;
    assert_refused(&browser, &app, r, StatusCode::BAD_REQUEST, "already used").await;
    assert_eq!(provider.request_counts().token, 1);
    drop(fresh);
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "U", "u@example.com", "")
        .await;
    let r = browser.get(&format!("{callback}&state=second")).await;
    assert_refused(
        &browser,
        &app,
        r,
        StatusCode::BAD_REQUEST,
        "appears more than once",
    )
    .await;
    let r = browser.get(&format!("{callback}&code=second")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(provider.request_counts().token, 0);
}

#[tokio::test]
async fn a_callback_opened_in_another_browser_is_refused() {
    // Login CSRF: the attacker starts a login, then makes the victim open the callback.
    let (provider, app) = one_provider_app().await;
    let attacker = Browser::new();
    let callback = attacker
        .start_login(
            &app.url("/auth/login"),
            "Mallory",
            "mallory@example.com",
            "",
        )
        .await;
    let victim = Browser::new();
    let r = victim.get(&callback).await;
    assert_refused(
        &victim,
        &app,
        r,
        StatusCode::BAD_REQUEST,
        "started in another browser",
    )
    .await;
    assert_eq!(provider.request_counts().token, 0);
    // And the pending login is consumed: the attacker cannot finish it either.
    let r = attacker.get(&callback).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_response_naming_another_issuer_is_refused() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "U", "u@example.com", "")
        .await;
    assert!(callback.contains("iss="), "the provider sends RFC 9207 iss");
    let r = browser
        .get(&with_param(&callback, "iss", "https://evil.example"))
        .await;
    assert_refused(
        &browser,
        &app,
        r,
        StatusCode::BAD_REQUEST,
        "different provider",
    )
    .await;
    assert_eq!(provider.request_counts().token, 0);
}

#[tokio::test]
async fn a_code_the_provider_rejects_is_a_clear_page() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "U", "u@example.com", "")
        .await;
    let r = browser
        .get(&with_param(&callback, "code", "not-a-real-code"))
        .await;
    assert_refused(
        &browser,
        &app,
        r,
        StatusCode::BAD_REQUEST,
        "rejected the login code: invalid_grant",
    )
    .await;
    assert_eq!(provider.request_counts().token, 1);
}

#[tokio::test]
async fn a_callback_with_nothing_lands_on_the_home_page() {
    // What providers send back after their logout when they drop `state`.
    let (_p, app) = one_provider_app().await;
    let r = Browser::new().get(&app.url("/oauth2callback")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(r.headers()), "/");
}

#[tokio::test]
async fn wrong_methods_get_405() {
    let (_p, app) = one_provider_app().await;
    let r = reqwest::Client::new()
        .post(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = reqwest::Client::new()
        .delete(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn garbage_cookies_read_as_anonymous() {
    let (_p, app) = one_provider_app().await;
    for cookie in [
        "oidc_session=garbage",
        "oidc_session=",
        "oidc_session=%%%; x=1",
        "oidc_session=AAAA; oidc_session=BBBB",
    ] {
        let r = reqwest::Client::new()
            .get(app.url("/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{cookie}");
        let me: serde_json::Value = r.json().await.unwrap();
        assert_eq!(me["is_logged_in"], false, "{cookie}");
    }
}

/// A store that ages every pending login past its ten minutes as soon as it is saved,
/// standing in for a visitor who left the provider's page open too long.
#[derive(Debug, Default)]
struct AgingStore {
    inner: tower_oidc_login::session::MemoryStore,
    saves: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl tower_oidc_login::session::SessionStore for AgingStore {
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut aged = record.clone();
        aged.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        self.inner.save(&aged).await
    }
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.inner.delete(id).await
    }
}

#[tokio::test]
async fn an_expired_login_is_refused_and_the_given_store_is_used() {
    let provider = DevProvider::start().await.unwrap();
    let store = std::sync::Arc::new(AgingStore::default());
    let app = start_app_with(&provider.secrets_toml(REDIRECT, COOKIE_SECRET), "", {
        let store = store.clone();
        move |b| b.shared_session_store(store)
    })
    .await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "E", "e@example.com", "")
        .await;
    assert_eq!(
        store.saves.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the pending login went to the given store"
    );
    let r = browser.get(&callback).await;
    assert_refused(&browser, &app, r, StatusCode::BAD_REQUEST, "expired").await;
    assert_eq!(provider.request_counts().token, 0);
}
