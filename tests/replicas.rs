//! Several replicas of one app (same `cookie_secret`, one shared store) behind a load
//! balancer without sticky sessions: a login started on one finishes on another, a replayed
//! callback fails on every one, and RFC 9207's `iss` is checked by a replica that has not
//! talked to the provider yet.

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use support::*;
use tower_oidc_login::session::MemoryStore;
use tower_oidc_login::testing::DevProvider;

/// `n` replicas sharing one store. They all name the first one's callback in
/// `redirect_uri`, as replicas behind one public address do.
async fn replicas(provider: &DevProvider, n: usize) -> (Arc<MemoryStore>, Vec<App>) {
    let store = Arc::new(MemoryStore::default());
    let mut secrets = provider.secrets_toml(REDIRECT, COOKIE_SECRET);
    let mut apps = Vec::new();
    for _ in 0..n {
        let shared = store.clone();
        let app = start_app_with(&secrets, "", move |b| b.shared_session_store(shared)).await;
        if apps.is_empty() {
            secrets = provider.secrets_toml(&app.url("/oauth2callback"), COOKIE_SECRET);
        }
        apps.push(app);
    }
    (store, apps)
}

/// `url` (on any app) moved to `app`: same path and query, another replica.
fn on(app: &App, url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    app.url(&path)
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_login_started_on_one_replica_finishes_on_another() {
    let provider = DevProvider::start().await.unwrap();
    let (_store, apps) = replicas(&provider, 2).await;
    let browser = Browser::new();
    // Both replicas answer on 127.0.0.1 with the same redirect_uri host, so the browser's
    // cookies (host-scoped, not port-scoped) reach both, as behind a load balancer.
    let callback = browser
        .start_login(
            &apps[0].url("/auth/login?return_to=/page"),
            "Ada",
            "ada@example.com",
            "",
        )
        .await;
    let r = browser.get(&on(&apps[1], &callback)).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(location(r.headers()), "/page");
    for app in &apps {
        assert_eq!(browser.me(app).await["email"], "ada@example.com");
    }
    assert_eq!(provider.request_counts().token, 1);
}

#[tokio::test]
async fn a_replayed_callback_fails_on_every_replica() {
    let provider = DevProvider::start().await.unwrap();
    let (_store, apps) = replicas(&provider, 3).await;
    let browser = Browser::new();
    let start = browser.get(&apps[0].url("/auth/login")).await;
    let pending = set_cookies(start.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session_login_"))
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("pending-login cookie");
    let callback = browser
        .start_login(&apps[0].url("/auth/login"), "Ada", "ada@example.com", "")
        .await;
    // Finish the second login normally on replica 1...
    assert_eq!(
        browser.get(&on(&apps[1], &callback)).await.status(),
        StatusCode::FOUND
    );
    let tokens = provider.request_counts().token;
    // ...then replay the first one's state with a copy of its cookie on replicas 1 and 2
    // after a first, legitimate use on replica 0.
    let first = callback.replace(
        &param(&callback, "state"),
        &param(&location(start.headers()), "state"),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let used = client
        .get(on(&apps[0], &first))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    // The code belongs to the other login, so the provider refuses it; the state is spent.
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
    for app in &apps[1..] {
        let again = client
            .get(on(app, &first))
            .header("cookie", &pending)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        let page = again.text().await.unwrap();
        assert!(page.contains("was already used"), "{page}");
    }
    assert_eq!(
        provider.request_counts().token,
        tokens + 1,
        "replays never reach the token endpoint"
    );
}

#[tokio::test]
async fn a_replica_without_discovery_still_checks_iss() {
    let provider = DevProvider::start().await.unwrap();
    let (_store, apps) = replicas(&provider, 2).await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&apps[0].url("/auth/login"), "Ada", "ada@example.com", "")
        .await;
    assert_eq!(
        provider.request_counts().discovery,
        1,
        "only replica 0 discovered"
    );
    // A mix-up attempt lands on replica 1, which has not fetched discovery yet: it waits for
    // it and refuses the foreign issuer instead of skipping the check.
    let forged = callback.replace(
        &format!("iss={}", urlencode(&provider.issuer())),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(forged, callback, "the callback carries iss");
    let r = browser.get(&on(&apps[1], &forged)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("different provider"));
    assert_eq!(provider.request_counts().token, 0);
    assert_eq!(
        provider.request_counts().discovery,
        2,
        "replica 1 discovered first"
    );
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
