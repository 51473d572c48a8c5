//! `session_store = "redis://…"` against a real `redis-server` (tests/support/redis.rs starts
//! one per test on a free loopback port): sessions are Redis keys that expire with the
//! session, replicas sharing one Redis serve every user and finish every login, a logout on
//! one replica is effective on the others within a second, Redis going away answers 503 to
//! visitors with a session and recovers by itself, and a password in the URL never reaches a
//! log or a page.
//!
//! The log capture (tests/support/logs.rs) is global to this binary: each test looks only
//! for lines that name its own port or password.

#![cfg(feature = "redis")]

mod support;

use std::time::{Duration, Instant};

use reqwest::cookie::CookieStore;
use reqwest::{Client, StatusCode};
use support::redis::{Keep, Options, Redis};
use support::*;
use tower_oidc_login::session::MemoryStore;
use tower_oidc_login::testing::DevProvider;

/// Longer than the layer's local copy of a session is trusted (750 ms).
const PAST_CACHE: Duration = Duration::from_millis(900);
/// How long a test waits for the client to reconnect to a Redis that is back (its retry
/// delay grows to 2 s at most).
const RECONNECTS_WITHIN: Duration = Duration::from_secs(15);
/// How long the layer's first connection attempt may take (then commands stop waiting for
/// a connection and fail at once while Redis is down).
const FIRST_ATTEMPT: Duration = Duration::from_millis(2_100);
/// `session_lifetime_days = 2`, in seconds.
const LIFETIME_SECS: i64 = 2 * 24 * 60 * 60;

/// The development provider's configuration with sessions in the Redis at `store`.
fn secrets(provider: &DevProvider, redirect_uri: &str, store: &str) -> String {
    format!(
        "{}session_store = \"{store}\"\nsession_lifetime_days = 2\n",
        provider.secrets_toml(redirect_uri, COOKIE_SECRET)
    )
}

/// `n` replicas on the Redis at `store`, with the same `cookie_secret`. They all name the
/// first one's callback in `redirect_uri`, as replicas behind one public address do.
async fn replicas(provider: &DevProvider, store: &str, n: usize) -> Vec<App> {
    let mut apps: Vec<App> = Vec::new();
    for _ in 0..n {
        let redirect = match apps.first() {
            Some(first) => first.url("/oauth2callback"),
            None => REDIRECT.to_owned(),
        };
        apps.push(start_app(&secrets(provider, &redirect, store)).await);
    }
    apps
}

/// `url` (on any app) moved to `app`: same path and query, another replica.
fn on(app: &App, url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    match url.query() {
        Some(q) => app.url(&format!("{}?{q}", url.path())),
        None => app.url(url.path()),
    }
}

/// The Cookie header `browser` sends to `url`.
fn cookie_header(browser: &Browser, url: &str) -> String {
    browser
        .jar
        .cookies(&url.parse().unwrap())
        .expect("cookies for the URL")
        .to_str()
        .unwrap()
        .to_owned()
}

/// `GET url` with only `cookie`, as JSON (an API client): status and body.
async fn api_get(url: &str, cookie: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut request = Client::new().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("GET");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// Asks `/me` with `cookie` until it answers 200 (the store is reachable again).
async fn until_reachable(app: &App, cookie: &str) -> reqwest::Response {
    let started = Instant::now();
    loop {
        let r = Client::new()
            .get(app.url("/me"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET /me");
        if r.status() == StatusCode::OK {
            return r;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < RECONNECTS_WITHIN,
            "the layer did not reconnect to Redis within {RECONNECTS_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_stores_its_session_in_redis_with_the_session_lifetime_as_ttl() {
    let Some(redis) = Redis::start_or_skip("a_login_stores_its_session_in_redis") else {
        return;
    };
    let provider = DevProvider::start().await.unwrap();
    let app = start_app(&secrets(&provider, REDIRECT, &redis.url())).await;
    assert!(redis.keys().is_empty(), "nothing stored before a login");
    let browser = Browser::new();
    let done = browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["email"], "ada@example.com");

    // Four keys: the session, the marker that the login's state was used (no pending login:
    // it lives in a sealed cookie), and the two index records (the user's sessions, the
    // provider session's user) that a logout by the provider needs.
    let keys = redis.keys();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let sessions = redis.session_keys();
    assert_eq!(sessions.len(), 1, "{keys:?}");
    let indexes = redis.index_keys();
    assert_eq!(indexes.len(), 2, "{keys:?}");
    let ttl = redis.ttl(&sessions[0]);
    assert!(
        (LIFETIME_SECS - 60..=LIFETIME_SECS).contains(&ttl),
        "the session key expires with the session (2 days), TTL {ttl}"
    );
    let marker = keys
        .iter()
        .find(|k| **k != sessions[0] && !indexes.contains(k))
        .unwrap();
    let ttl = redis.ttl(marker);
    assert!(
        (1..=600).contains(&ttl),
        "the used-state marker lives as long as a login may take, TTL {ttl}"
    );
    // Nothing the provider sent is stored in the clear under the key's name.
    assert!(!sessions[0].contains("ada"), "{}", sessions[0]);

    // A logout deletes the key at once.
    let r = browser
        .client
        .post(app.url("/auth/logout"))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(redis.session_keys().is_empty(), "{:?}", redis.keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_expired_by_redis_and_reads_as_anonymous() {
    let Some(redis) = Redis::start_or_skip("an_expired_session_is_expired_by_redis") else {
        return;
    };
    let provider = DevProvider::start().await.unwrap();
    let app = start_app_with(&secrets(&provider, REDIRECT, &redis.url()), "", |b| {
        b.session_lifetime(Duration::from_secs(2))
    })
    .await;
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    let cookie = cookie_header(&browser, &app.base);
    assert_eq!(
        json_with_cookie(&app.url("/me"), &cookie).await["is_logged_in"],
        true
    );
    let session = redis
        .keys()
        .into_iter()
        .find(|k| redis.ttl(k) <= 2)
        .expect("a key that expires with the 2-second session");
    assert!(redis.ttl(&session) > 0, "the key has a TTL");

    let started = Instant::now();
    while redis.ttl(&session) != -2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "Redis did not expire the session key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The browser dropped the cookie (its Max-Age ran out too); a copy of it is anonymous.
    tokio::time::sleep(PAST_CACHE).await;
    let r = Client::new()
        .get(app.url("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        cookie_pair(r.headers(), "oidc_session").is_some(),
        "the stale cookie is removed"
    );
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_serve_the_same_user_and_share_logouts() {
    let Some(redis) = Redis::start_or_skip("two_replicas_on_one_redis") else {
        return;
    };
    let provider = DevProvider::start().await.unwrap();
    let apps = replicas(&provider, &redis.url(), 2).await;
    let browser = Browser::new();
    // Started on the first, finished on the second.
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

    // A logout on the second is effective on the first within a second, although the
    // first read the session moments ago.
    let cookie = cookie_header(&browser, &apps[0].base);
    assert_eq!(
        json_with_cookie(&apps[0].url("/me"), &cookie).await["is_logged_in"],
        true
    );
    let r = browser
        .client
        .post(apps[1].url("/auth/logout"))
        .header("origin", &apps[1].base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let started = Instant::now();
    while json_with_cookie(&apps[0].url("/me"), &cookie).await["is_logged_in"] != false {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still logged in on the first replica {:?} after the logout",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(redis.session_keys().is_empty(), "{:?}", redis.keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_is_refused_by_the_other_replica() {
    let Some(redis) = Redis::start_or_skip("a_replayed_callback_is_refused") else {
        return;
    };
    let provider = DevProvider::start().await.unwrap();
    let apps = replicas(&provider, &redis.url(), 2).await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&apps[0].url("/auth/login"), "Ada", "ada@example.com", "")
        .await;
    // What the browser sends to the callback, pending-login cookie included.
    let cookie = cookie_header(&browser, &callback);
    assert!(cookie.contains("oidc_session_login_"), "{cookie}");
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), StatusCode::FOUND, "finished on the first");

    let again = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(on(&apps[1], &callback))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(cookie_pair(again.headers(), "oidc_session").is_none());
    let page = again.text().await.unwrap();
    assert!(page.contains("was already used"), "{page}");
    assert_eq!(
        provider.request_counts().token,
        1,
        "the replay never reaches the token endpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_answers_503_to_sessions_only_and_recovers_when_it_is_back() {
    let Some(mut redis) = Redis::start_or_skip("redis_stopped_answers_503") else {
        return;
    };
    let provider = DevProvider::start().await.unwrap();
    let app = start_app(&secrets(&provider, REDIRECT, &redis.url())).await;
    let built = Instant::now();
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    let cookie = cookie_header(&browser, &app.base);

    // Until its first connection attempt is over (2 s at most) the layer waits for Redis
    // rather than failing at once; this test is about a Redis that goes away later.
    tokio::time::sleep(FIRST_ATTEMPT.saturating_sub(built.elapsed())).await;
    redis.stop(Keep::Data);
    tokio::time::sleep(PAST_CACHE).await;

    // Without a session cookie nothing needs Redis.
    let stranger = Browser::new();
    assert_eq!(stranger.me(&app).await["is_logged_in"], false);
    let r = stranger.get(&app.url("/private")).await;
    assert_eq!(r.status(), StatusCode::FOUND, "sent to login as usual");
    let r = stranger.get(&app.url("/auth/login")).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "starting a login needs no store"
    );

    // With one: a page for browsers, JSON for API clients, never a redirect to login.
    let started = Instant::now();
    let r = browser.get(&app.url("/private")).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a 503 at once, not after a timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("not available right now"));
    let (status, body) = api_get(&app.url("/me"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "sessions_unavailable");

    // A login cannot be stored: 503 at the callback, no session cookie, no token request.
    let other = Browser::new();
    let callback = other
        .start_login(&app.url("/auth/login"), "Bob", "bob@example.com", "")
        .await;
    let r = other.get(&callback).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(cookie_pair(r.headers(), "oidc_session").is_none());
    assert_eq!(provider.request_counts().token, 1, "only Ada's login");

    // Redis is back (with its data): the same cookie works again, nothing to do.
    redis.start_again();
    let r = until_reachable(&app, &cookie).await;
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(
        browser.get(&app.url("/private")).await.status(),
        StatusCode::OK
    );
    let done = other
        .login(&app.url("/auth/login"), "Bob", "bob@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(other.me(&app).await["email"], "bob@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_leaves_visitors_anonymous() {
    let Some(mut redis) = Redis::start_or_skip("redis_restarted_empty") else {
        return;
    };
    let provider = DevProvider::start().await.unwrap();
    let app = start_app(&secrets(&provider, REDIRECT, &redis.url())).await;
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    let cookie = cookie_header(&browser, &app.base);

    redis.stop(Keep::Nothing);
    redis.start_again();
    assert!(redis.keys().is_empty());
    // Past the layer's local copy, which would still answer for the session.
    tokio::time::sleep(PAST_CACHE).await;
    let r = until_reachable(&app, &cookie).await;
    let removal = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("the stale cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
    // A new login works at once.
    let done = browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    assert_eq!(redis.session_keys().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_start_warns_once_answers_503_and_recovers_when_it_starts() {
    if !support::redis::available("redis_unreachable_at_start") {
        return;
    }
    support::logs::captured();
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let provider = DevProvider::start().await.unwrap();
    // The layer builds although nothing listens on the port.
    let app = start_app(&secrets(&provider, REDIRECT, &url)).await;

    // A session cookie this app can verify (same cookie_secret), from a replica whose
    // sessions are in memory.
    let memory = start_app_with(&provider.secrets_toml(REDIRECT, COOKIE_SECRET), "", |b| {
        b.shared_session_store(std::sync::Arc::new(MemoryStore::default()))
    })
    .await;
    let browser = Browser::new();
    browser
        .login(&memory.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    let cookie = cookie_header(&browser, &memory.base);

    let (status, body) = api_get(&app.url("/me"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "sessions_unavailable");
    let (status, body) = api_get(&app.url("/me"), None).await;
    assert_eq!(status, StatusCode::OK, "anonymous visitors pass");
    assert_eq!(body["is_logged_in"], false);

    // One warning, once the first connection attempt has had its time (2 s).
    let started = Instant::now();
    let start_warnings = || {
        let log = support::logs::text();
        support::logs::warnings(&log)
            .into_iter()
            .filter(|l| l.contains("cannot be reached") && l.contains(&format!(":{port}")))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    while start_warnings().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no start-up warning"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let warnings = start_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("Redis session store"),
        "{}",
        warnings[0]
    );

    // Redis starts: the cookie's session is not in it (anonymous), and logins work.
    let redis = Redis::start_on(port, Options::default());
    let r = until_reachable(&app, &cookie).await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
    let fresh = Browser::new();
    let done = fresh
        .login(&app.url("/auth/login"), "Bob", "bob@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(fresh.me(&app).await["email"], "bob@example.com");
    assert_eq!(redis.session_keys().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_password_never_appears_in_logs_or_pages() {
    // Shaped like an Azure access key: base64, so `+`, `/` and `=`, percent-encoded in the URL.
    let password = format!("redis+pw/{}=", random_hex());
    let encoded = support::redis::percent_encode(&password);
    assert_ne!(encoded, password);
    let options = Options {
        password: Some(password.clone()),
        ..Options::default()
    };
    let Some(mut redis) = Redis::start_with_or_skip("a_redis_password_never_appears", options)
    else {
        return;
    };
    support::logs::captured();
    let url = redis.url();
    assert!(url.contains(&encoded));
    let provider = DevProvider::start().await.unwrap();
    let secrets = secrets(&provider, REDIRECT, &url);
    let config = tower_oidc_login::AuthConfig::from_toml_str(&secrets).unwrap();
    let hidden = |text: &str| !text.contains(&password) && !text.contains(&encoded);
    assert!(hidden(&format!("{config:?}")), "{config:?}");
    let app = start_app(&secrets).await;
    assert!(hidden(&format!("{:?}", app.layer)));

    // The password is right: logins work.
    let browser = Browser::new();
    let done = browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    let mut pages = Vec::new();

    // Redis goes away: the 503 pages and the log say so without the URL's password.
    redis.stop(Keep::Nothing);
    tokio::time::sleep(PAST_CACHE).await;
    let r = browser.get(&app.url("/private")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    pages.push(r.text().await.unwrap());
    let other = Browser::new();
    let callback = other
        .start_login(&app.url("/auth/login"), "Bob", "bob@example.com", "")
        .await;
    let r = other.get(&callback).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    pages.push(r.text().await.unwrap());

    // A Redis with a password that is not there at start: the warning names the server
    // without the password.
    let absent = free_port();
    let unreachable = format!("redis://:{encoded}@127.0.0.1:{absent}");
    let _app2 = start_app(&secrets_for(&provider, &unreachable)).await;
    let started = Instant::now();
    let warned = || {
        support::logs::warnings(&support::logs::text())
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{absent}")))
    };
    while !warned() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no start-up warning"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A bad URL with a password: the error quotes it without.
    let e = tower_oidc_login::AuthConfig::from_toml_str(&secrets_for(
        &provider,
        &format!("redis://:{encoded}@127.0.0.1:{absent}/not-a-db"),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("auth.session_store"), "{e}");
    pages.push(e.to_string());

    redis.start_again();
    until_reachable(&app, &cookie_header(&browser, &app.base)).await;

    for page in &pages {
        assert!(hidden(page), "{page}");
    }
    let log = support::logs::text();
    assert!(log.contains(&format!("127.0.0.1:{absent}")));
    assert!(
        hidden(&log),
        "the Redis password is in the log: {}",
        log.lines()
            .filter(|l| !hidden(l))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn secrets_for(provider: &DevProvider, store: &str) -> String {
    secrets(provider, REDIRECT, store)
}

fn random_hex() -> String {
    let bytes: [u8; 12] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
