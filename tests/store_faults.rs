//! An external session store that goes away and comes back: visitors without a session
//! cookie never notice, visitors with one get a clear 503 (never a login loop, never
//! logged in), a login that cannot be stored answers 503, and everything recovers by
//! itself. A store restarted empty turns sessions anonymous.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::StatusCode;
use support::*;
use tower_oidc_login::session::{Id, MemoryStore, Record, SessionStore, StoreError};
use tower_oidc_login::testing::DevProvider;

/// A store in front of a real in-memory one that can be switched off (every call fails as
/// a lost Redis connection does) or emptied (a restart without persistence).
#[derive(Debug, Default)]
struct SwitchableStore {
    inner: tokio::sync::RwLock<MemoryStore>,
    down: AtomicBool,
}

impl SwitchableStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Backend("connection refused".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for SwitchableStore {
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.check()?;
        self.inner.read().await.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.check()?;
        self.inner.read().await.save(record).await
    }
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.check()?;
        self.inner.read().await.load(id).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.check()?;
        self.inner.read().await.delete(id).await
    }
}

/// Longer than the layer's local copy of a session is trusted.
const PAST_CACHE: Duration = Duration::from_millis(900);

async fn app_with(store: Arc<SwitchableStore>) -> (DevProvider, App) {
    let provider = DevProvider::start().await.unwrap();
    let app = start_app_with(
        &provider.secrets_toml(REDIRECT, COOKIE_SECRET),
        "",
        move |b| b.shared_session_store(store),
    )
    .await;
    (provider, app)
}

#[tokio::test]
async fn an_unreachable_store_answers_503_to_sessions_only_and_recovers() {
    let store = Arc::new(SwitchableStore::default());
    let (provider, app) = app_with(store.clone()).await;
    let browser = Browser::new();
    let done = browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);

    store.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(PAST_CACHE).await;

    // Without a session cookie nothing needs the store.
    let stranger = Browser::new();
    assert_eq!(stranger.me(&app).await["is_logged_in"], false);
    let r = stranger.get(&app.url("/private")).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "anonymous visitors are sent to login"
    );
    let r = stranger.get(&app.url("/auth/login")).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "starting a login needs no store"
    );

    // With one: a page for browsers, JSON for scripts, never a redirect to login.
    let r = browser.get(&app.url("/private")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("not available right now"));
    let r = browser.client.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "sessions_unavailable");
    // Logging out cannot end the session now, and says so instead of pretending.
    let r = browser
        .client
        .post(app.url("/auth/logout"))
        .header("origin", &app.base)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

    // A login cannot be stored: 503 at the callback, and no session cookie.
    let other = Browser::new();
    let tokens = provider.request_counts().token;
    let callback = other
        .start_login(&app.url("/auth/login"), "Bob", "bob@example.com", "")
        .await;
    let r = other.get(&callback).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(cookie_pair(r.headers(), "oidc_session").is_none());
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("connection refused"),
        "store details stay in the log: {page}"
    );
    assert_eq!(
        provider.request_counts().token,
        tokens,
        "not sent to the provider"
    );

    // The store comes back: the same cookie works again, nothing to do.
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(browser.me(&app).await["email"], "ada@example.com");
    let r = browser.get(&app.url("/private")).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_store_restarted_empty_leaves_visitors_anonymous() {
    let store = Arc::new(SwitchableStore::default());
    let (_provider, app) = app_with(store.clone()).await;
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(browser.me(&app).await["is_logged_in"], true);

    *store.inner.write().await = MemoryStore::default();
    tokio::time::sleep(PAST_CACHE).await;
    let r = browser.client.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The stale cookie is deleted.
    let removal = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("the stale cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
    // And a new login works at once.
    let done = browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn a_session_ended_elsewhere_stops_working_here_within_a_second() {
    // Two replicas on one external store: a logout on one is seen by the other once its
    // local copy (under a second old) runs out.
    let store = Arc::new(SwitchableStore::default());
    let provider = DevProvider::start().await.unwrap();
    let secrets = provider.secrets_toml(REDIRECT, COOKIE_SECRET);
    let first = {
        let store = store.clone();
        start_app_with(&secrets, "", move |b| b.shared_session_store(store)).await
    };
    let second = {
        let store = store.clone();
        let secrets = provider.secrets_toml(&first.url("/oauth2callback"), COOKIE_SECRET);
        start_app_with(&secrets, "", move |b| b.shared_session_store(store)).await
    };
    let browser = Browser::new();
    browser
        .login(&first.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(
        browser.me(&second).await["is_logged_in"],
        true,
        "read by the second"
    );
    let cookie = browser
        .jar
        .cookies(&first.base.parse().unwrap())
        .expect("cookies")
        .to_str()
        .unwrap()
        .to_owned();
    let r = browser
        .client
        .post(first.url("/auth/logout"))
        .header("origin", &first.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let started = std::time::Instant::now();
    loop {
        let me = json_with_cookie(&second.url("/me"), &cookie).await;
        if me["is_logged_in"] == false {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still logged in on the second replica after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
