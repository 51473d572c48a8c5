//! Findings of the outside security review, each proven against the running app (the
//! others have tests named after them elsewhere; SECURITY.md lists them all).

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use support::*;
use tower_oidc_login::session::MemoryStore;
use tower_oidc_login::testing::{DevProvider, DevUser, Misbehaviour};

/// Finding 9: one provider account logging in again and again cannot fill the session
/// store; past the per-user cap its oldest sessions end.
#[tokio::test]
async fn one_account_cannot_fill_the_session_store() {
    let provider = DevProvider::start().await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let shared = store.clone();
    let app = start_app_with(
        &provider.secrets_toml(REDIRECT, COOKIE_SECRET),
        "",
        move |b| b.shared_session_store(shared).max_sessions_per_user(3),
    )
    .await;
    let mallory = DevUser::new("Mallory", "mallory@example.com");
    let mut cookies = Vec::new();
    for _ in 0..10 {
        let login = provider
            .login_as(&app.url("/auth/login"), &mallory)
            .await
            .expect("login");
        cookies.push(login.cookie);
    }
    let mut live = Vec::new();
    for cookie in &cookies {
        live.push(json_with_cookie(&app.url("/me"), cookie).await["is_logged_in"] == true);
    }
    assert_eq!(
        live,
        [false, false, false, false, false, false, false, true, true, true],
        "the three newest sessions live, the older ones ended"
    );
    // Three sessions, their provider sessions' (`sid`) records, the user's index and the
    // used login states (which live only as long as a login may take): nothing grows with
    // the number of logins beyond those; the ended sessions' `sid` records are gone too.
    assert!(store.len() <= 3 + 3 + 1 + 10, "{} records", store.len());

    // Another account is not affected by Mallory's cap.
    let ada = provider
        .login_as(
            &app.url("/auth/login"),
            &DevUser::new("Ada", "ada@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(
        json_with_cookie(&app.url("/me"), &ada.cookie).await["name"],
        "Ada"
    );
}

/// Finding 5 (RFC 9207 section 2.4): an error response is checked for its issuer too, before
/// its words are shown: a mix-up attacker cannot make the app show another provider's error.
#[tokio::test]
async fn an_error_response_naming_another_issuer_is_refused() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/auth/login")).await;
    let state = url::Url::parse(&location(r.headers()))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let r = browser
        .get(&app.url(&format!(
            "/oauth2callback?state={state}&iss=https%3A%2F%2Fevil.example&error=access_denied&error_description=call%20us"
        )))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("different provider"), "{page}");
    assert!(!page.contains("call us"), "{page}");
    // And without `iss` although the provider promises it.
    let state2 = {
        let r = browser.get(&app.url("/auth/login")).await;
        url::Url::parse(&location(r.headers()))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let r = browser
        .get(&app.url(&format!(
            "/oauth2callback?state={state2}&error=access_denied"
        )))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(provider.request_counts().token, 0);
}

/// Finding 7: a page shown to a visitor names no address that discovery chose; the log has
/// it.
#[tokio::test]
async fn pages_carry_no_address_a_provider_chose() {
    let provider = DevProvider::start().await.unwrap();
    provider.misbehave(Misbehaviour::JwksUnavailable);
    let app = start_app(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).await;
    let r = Browser::new().get(&app.url("/auth/login")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = r.text().await.unwrap();
    assert!(page.contains("HTTP 503 from its key set"), "{page}");
    assert!(
        !page.contains("/jwks"),
        "the key set's URL stays in the log: {page}"
    );
    assert!(
        !page.contains(&format!("127.0.0.1:{}", provider.port())),
        "{page}"
    );
}
