//! An attacker's own requests against the running app: spoofed hosts, mix-up between
//! providers, open redirects, planted and replayed cookies, floods of login starts and
//! oversized tokens. Each test fails if the protection it names is removed.

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use support::*;
use tower_oidc_login::session::MemoryStore;
use tower_oidc_login::testing::{DevProvider, DevUser};

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn host_and_forwarded_host_cannot_change_the_redirect_uri() {
    let (_p, app) = one_provider_app().await;
    let r = Browser::new()
        .client
        .get(app.url("/auth/login"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let q = query(&location(r.headers()));
    assert_eq!(q["redirect_uri"], app.url("/oauth2callback"));
}

#[tokio::test]
async fn a_login_started_with_one_provider_cannot_be_finished_with_another() {
    // Mix-up: the attacker swaps in the other provider's response (its code and `iss`).
    let alpha = DevProvider::start().await.unwrap();
    let beta = DevProvider::start().await.unwrap();
    let secrets = format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"{COOKIE_SECRET}\"\n\n{}\n{}\n",
        alpha.provider_table("alpha"),
        beta.provider_table("beta")
    );
    let app = start_app(&secrets).await;
    let browser = Browser::new();
    let from_alpha = browser
        .start_login(
            &app.url("/auth/login?provider=alpha"),
            "V",
            "v@example.com",
            "",
        )
        .await;
    let from_beta = browser
        .start_login(
            &app.url("/auth/login?provider=beta"),
            "M",
            "m@example.com",
            "",
        )
        .await;
    let (a, b) = (query(&from_alpha), query(&from_beta));

    // alpha's state with beta's code and beta's iss: refused by the RFC 9207 check.
    let mixed = app.url(&format!(
        "/oauth2callback?code={}&state={}&iss={}",
        urlenc(&b["code"]),
        urlenc(&a["state"]),
        urlenc(&b["iss"])
    ));
    let r = browser.get(&mixed).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("different provider"));

    // Without `iss` (the attacker strips it): refused too, since the provider promises it.
    let stripped = app.url(&format!(
        "/oauth2callback?code={}&state={}",
        urlenc(&a["code"]),
        urlenc(&b["state"])
    ));
    let r = browser.get(&stripped).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // No code or verifier ever reached either token endpoint.
    assert_eq!(alpha.request_counts().token, 0);
    assert_eq!(beta.request_counts().token, 0);
    assert_eq!(browser.me(&app).await["is_logged_in"], false);
}

fn urlenc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn return_to_never_leaves_the_site() {
    let (provider, app) = one_provider_app().await;
    for evil in [
        "//evil.example",
        "///evil.example",
        "/.//evil.example",
        "/a/..//evil.example",
        "/%2e//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/\tevil.example",
        "/\t/evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(document.cookie)",
        "/x\r\nLocation: https://evil.example",
        "evil.example",
    ] {
        let login = provider
            .login_as(
                &app.url(&format!("/auth/login?return_to={}", urlenc(evil))),
                &DevUser::new("R", "r@example.com"),
            )
            .await
            .expect("login");
        assert_eq!(login.location, "/", "return_to={evil:?}");
    }
}

#[tokio::test]
async fn logout_takes_no_redirect_target_from_the_request() {
    let (_p, app) = one_provider_app().await;
    let r = Browser::new()
        .client
        .post(app.url("/auth/logout?return_to=%2F%2Fevil.example&post_logout_redirect_uri=https%3A%2F%2Fevil.example"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(r.headers()), "/");
}

#[tokio::test]
async fn every_cookie_the_flow_sets_has_the_flags() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let mut seen = Vec::new();
    let r = browser.get(&app.url("/auth/login")).await;
    seen.extend(set_cookies(r.headers()));
    let callback = {
        let authorize = location(r.headers());
        let html = browser.get(&authorize).await.text().await.unwrap();
        let form = Form::parse(&html);
        let mut fields = form.hidden.clone();
        fields.extend([
            ("email".to_owned(), "f@example.com".to_owned()),
            ("action".to_owned(), "sign_in".to_owned()),
        ]);
        let r = browser
            .client
            .post(&form.action)
            .form(&fields)
            .send()
            .await
            .unwrap();
        location(r.headers())
    };
    // The provider's redirect back is a cross-site top-level navigation.
    let r = browser
        .client
        .get(&callback)
        .header("sec-fetch-site", "cross-site")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "a cross-site callback still logs in"
    );
    seen.extend(set_cookies(r.headers()));
    let r = browser
        .client
        .post(app.url("/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    seen.extend(set_cookies(r.headers()));
    assert!(seen.len() >= 4, "{seen:?}");
    for cookie in &seen {
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(flag), "{flag} missing in {cookie}");
        }
    }
    assert_eq!(
        provider.end_session_calls().len(),
        0,
        "logout redirect not yet followed"
    );
}

#[tokio::test]
async fn a_huge_id_token_logs_in_and_the_cookie_stays_small() {
    let (provider, app) = one_provider_app().await;
    let groups: Vec<String> = (0..600)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    let user = DevUser::new("Many Groups", "groups@example.com")
        .claim("groups", serde_json::json!(groups));
    let login = provider
        .login_as(&app.url("/auth/login"), &user)
        .await
        .expect("a 30 KB token still logs in");
    assert!(
        login.cookies.iter().all(|c| c.len() < 200),
        "{:?}",
        login.cookies
    );
    let me = json_with_cookie(&app.url("/me"), &login.cookie).await;
    assert_eq!(me["groups"].as_array().map(Vec::len), Some(600));
}

#[tokio::test]
async fn a_changed_cookie_secret_makes_old_cookies_anonymous() {
    let provider = DevProvider::start().await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let first = start_app_with(
        &provider.secrets_toml(REDIRECT, "the first secret, long enough"),
        "",
        {
            let store = store.clone();
            move |b| b.shared_session_store(store)
        },
    )
    .await;
    let login = provider
        .login_as(
            &first.url("/auth/login"),
            &DevUser::new("C", "c@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(
        json_with_cookie(&first.url("/me"), &login.cookie).await["is_logged_in"],
        true
    );

    // Same store, new secret: the session still exists but the cookie no longer verifies.
    let second = start_app_with(
        &provider.secrets_toml(REDIRECT, "a rotated secret, also long"),
        "",
        {
            let store = store.clone();
            move |b| b.shared_session_store(store)
        },
    )
    .await;
    let r = reqwest::Client::new()
        .get(second.url("/me"))
        .header("cookie", &login.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let removal = set_cookies(r.headers());
    assert!(
        removal.iter().any(|c| c.starts_with("oidc_session=;")),
        "the stale cookie is cleared: {removal:?}"
    );
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
}

#[tokio::test]
async fn thousands_of_login_starts_keep_memory_bounded() {
    let provider = DevProvider::start().await.unwrap();
    let store = Arc::new(MemoryStore::default().with_pending_capacity(500));
    let shared = store.clone();
    let app = start_app_with(
        &provider.secrets_toml(REDIRECT, COOKIE_SECRET),
        "",
        move |b| b.shared_session_store(shared),
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = app.url("/auth/login");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..1000 {
                let r = client.get(&url).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::FOUND);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Pending logins live in the visitors' cookies: the flood left nothing on the server.
    assert!(store.is_empty(), "{} records after the flood", store.len());
    assert_eq!(store.pending_len(), 0);
    // Discovery and keys were fetched once for all of them.
    assert_eq!(provider.request_counts().discovery, 1);
    // A real visitor still logs in after the flood.
    let browser = Browser::new();
    let done = browser
        .login(&app.url("/auth/login"), "After", "after@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn login_and_callback_answers_are_never_cached_and_leak_no_referrer() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/auth/login")).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let callback = browser
        .start_login(&app.url("/auth/login"), "N", "n@example.com", "")
        .await;
    let r = browser.get(&callback).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    // Error pages too.
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
}
