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

/// The `state` of the login a browser starts, and the callback URL for it.
async fn started_state(browser: &Browser, app: &App) -> String {
    let r = browser.get(&app.url("/auth/login")).await;
    let authorize = url::Url::parse(&location(r.headers())).unwrap();
    authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state")
}

#[tokio::test]
async fn provider_error_text_is_html_escaped() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let state = started_state(&browser, &app).await;
    let iss = provider.issuer();
    let r = browser
        .get(&app.url(&format!(
            "/oauth2callback?state={state}&iss={iss}&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        )))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn attacker_text_is_not_shown_without_a_login_of_this_browser() {
    // Anyone can send a victim to the callback with words of their choosing.
    let (provider, app) = one_provider_app().await;
    let lure = format!(
        "/oauth2callback?iss={}&error=access_denied&error_description=account%20locked%2C%20call%20%2B1-555-0100",
        provider.issuer()
    );
    for url in [
        app.url(&lure),
        // A state, but not one this browser started.
        app.url(&format!("{lure}&state=someone-elses-state")),
    ] {
        let browser = Browser::new();
        let r = browser.get(&url).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
        let page = r.text().await.unwrap();
        assert!(!page.contains("account locked"), "{page}");
        assert!(!page.contains("555"), "{page}");
        assert!(!page.contains("access_denied"), "{page}");
    }
    // The same words for a login this browser did start are the provider's, and shown.
    let browser = Browser::new();
    let state = started_state(&browser, &app).await;
    let r = browser
        .get(&app.url(&format!("{lure}&state={state}")))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("account locked"));
}

#[tokio::test]
async fn provider_text_loses_its_control_characters() {
    // CR/LF in the provider's words would forge log lines and break the page.
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let state = started_state(&browser, &app).await;
    let iss = provider.issuer();
    let r = browser
        .get(&app.url(&format!(
            "/oauth2callback?state={state}&iss={iss}&error=access_denied%0D%0Aforged&error_description=a%0Ab%00c"
        )))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("access_denied  forged"), "{page}");
    assert!(page.contains("a b c"), "{page}");
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
    // Opening it again does not help the victim's browser either: it has no login for it.
    let r = victim.get(&callback).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(victim.me(&app).await["is_logged_in"], false);
    assert_eq!(provider.request_counts().token, 0);
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

/// A store that counts what the layer writes to it.
#[derive(Debug, Default)]
struct CountingStore {
    inner: tower_oidc_login::session::MemoryStore,
    creates: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl tower_oidc_login::session::SessionStore for CountingStore {
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.creates
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.save(record).await
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
    let store = std::sync::Arc::new(CountingStore::default());
    let app = start_app_with(&provider.secrets_toml(REDIRECT, COOKIE_SECRET), "", {
        let store = store.clone();
        move |b| {
            b.shared_session_store(store)
                .login_timeout(std::time::Duration::from_secs(1))
        }
    })
    .await;
    // A visitor who left the provider's page open too long. The browser drops the cookie
    // after its Max-Age; a client that keeps sending it finds the login expired anyway.
    let browser = Browser::new();
    let start = browser.get(&app.url("/auth/login")).await;
    let pending = set_cookies(start.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session_login_"))
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("pending-login cookie");
    let callback = browser
        .start_login(&app.url("/auth/login"), "E", "e@example.com", "")
        .await;
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let first_state = url::Url::parse(&location(start.headers()))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let replayed = callback.replace(&state, &first_state);
    let r = reqwest::Client::new()
        .get(&replayed)
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_refused(&browser, &app, r, StatusCode::BAD_REQUEST, "expired").await;
    assert_eq!(provider.request_counts().token, 0);
    assert_eq!(
        store.creates.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "an expired login writes nothing"
    );

    // A login in time ends with the session in the given store, with its used state, the
    // user's index of sessions and the provider session's (`sid`) index.
    let done = browser
        .login(&app.url("/auth/login"), "F", "f@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    assert_eq!(store.creates.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_refused_prompt_page_says_to_send_none_for_that_provider() {
    // What oidc-provider answers Streamlit's default prompt=select_account.
    let provider = DevProvider::start().await.expect("provider");
    let app = start_app(&format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"{COOKIE_SECRET}\"\n\n{}",
        provider.provider_table("idp")
    ))
    .await;
    let browser = Browser::new();
    let state = started_state(&browser, &app).await;
    let iss = provider.issuer();
    let r = browser
        .get(&app.url(&format!(
            "/oauth2callback?state={state}&iss={iss}&error=invalid_request\
             &error_description=unsupported%20prompt%20value%20requested"
        )))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    for needle in [
        "refused the login: invalid_request (unsupported prompt value requested)",
        "client_kwargs.prompt = &quot;&quot; for the login provider &quot;idp&quot;",
        "[auth.idp]",
        "OIDC_AUTH__IDP__CLIENT_KWARGS__PROMPT",
        "Try again",
    ] {
        assert!(page.contains(needle), "{needle:?} not in {page}");
    }
    assert_eq!(browser.me(&app).await["is_logged_in"], false);
}
