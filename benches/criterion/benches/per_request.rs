//! What `AuthLayer` costs per request and per login, in process (no sockets on the
//! measured path except the provider's own round trips). See BENCHMARKS.md.
//!
//! ```text
//! cargo bench -p tower-oidc-login-benches --bench per_request                 # everything
//! cargo bench -p tower-oidc-login-benches --bench per_request -- request/     # only the per-request cases
//! ```
//!
//! Setup: the embedded `DevProvider` and the same layered router served on a loopback
//! port, both on a one-worker runtime; one real login per user with
//! `DevProvider::login_as` gives a real session cookie, which is then reused in process
//! (clones of the router share the layer's state, so the session is in the store that the
//! in-process calls read).
//!
//! Cases:
//! - `request/bare`, `request/bare_with_cookie`: the handler without the layer.
//! - `request/bare_noop_layer`: a do-nothing layer added with `Router::layer` (what axum
//!   itself charges for any layer).
//! - `request/anonymous`: through the layer, no cookie (must not touch the store).
//! - `request/outer_anonymous`, `request/outer_logged_in_entra`: the layer wrapped around the
//!   whole `Router` instead of added with `Router::layer`.
//! - `request/logged_in_entra`: through the layer, a session whose user has the claims of a
//!   realistic Microsoft Entra ID token (~27 claims, 4 groups, 2 roles).
//! - `request/logged_in_minimal`: the same with the development provider's 5 profile claims.
//! - `request/stale_cookie`: a validly signed cookie whose session is gone.
//! - `login/login_route`: `GET /auth/login` alone (ours, no provider round trip).
//! - `login/callback`: the callback alone (ours plus the one token request).
//! - `login/full`: login route + provider's form (GET, POST over HTTP) + callback.
//! - `provider/token_endpoint`: the provider's token endpoint alone, over HTTP, with the
//!   same HTTP client stack: `login/callback` minus this is the callback's own cost.
//!
//! `PER_REQUEST_PROFILE=<case> PER_REQUEST_ITERS=<n>` skips criterion and runs one
//! request case (or `login_route`, `login_full`) `n` times in `profile_loop` (`profile_login_*`), for
//! `valgrind --tool=callgrind --toggle-collect='*profile_loop*'` or `perf record`, and
//! prints the time per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use criterion::{black_box, Criterion};
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;
use tower_oidc_login::session::{MemoryStore, SessionStore};
use tower_oidc_login::testing::{DevProvider, DevUser};
use tower_oidc_login::{AuthConfig, AuthLayer, User};

const COOKIE_SECRET: &str = "benchmark-cookie-secret-0123456789abcdef";

/// The handler of every case: reads the user, answers a small body. Without the layer
/// there is no `User` extension and it answers for an anonymous visitor.
async fn hello(user: Option<Extension<User>>) -> String {
    let name = user
        .as_ref()
        .and_then(|Extension(u)| u.name())
        .unwrap_or("anonymous");
    format!("hello {name}")
}

fn router() -> Router {
    Router::new().route("/", get(hello))
}

/// A user with the claims a Microsoft Entra ID v2.0 ID token carries for a member of a
/// few groups (values shaped like real ones; lengths matter, contents do not). With the
/// provider's `sub`, `name`, `email`, `email_verified`, `preferred_username`, `iss`, `aud`,
/// `exp`, `iat`, `auth_time`, `nonce` and `at_hash` that is 27 claims.
pub fn entra_user() -> DevUser {
    DevUser::new("Adele Vance", "AdeleV@contoso.onmicrosoft.com")
        .with_sub("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ")
        .claim("aio", "AWQAm/8bAAAAc0sLSNJ9jmQ0Hx3Nd7vDqXbpbVZ3RnDJsdo+cO4gTk0NhSv7ZMVLeIprl0m0L2H/gRPjwo+CbR8Dv+7v/x7p0Kkz1tQ2OZ9wXgjTKtDCmlb+HoqGGh2Bv7kFvs1mEbQc")
        .claim("oid", "00000000-0000-0000-66f3-3332eca7ea81")
        .claim("tid", "9188040d-6c67-4c5b-b112-36a304b66dad")
        .claim("sid", "0015b2a4-3c6b-1e0f-8f2a-4b7c9e2d1a53")
        .claim("uti", "yWt2dAbBxEiW4sGE8n0bAA")
        .claim("rh", "0.ARoAv4j5cvGGr0GRqy180BHbR5Aq7wbBAAAAAAAAAADAACA.AQ.")
        .claim("ver", "2.0")
        .claim("login_hint", "O.CiQ1OGQyNjZiZC1jNTkxLTRjNzItYTdkMi0zZTU2MDVkYzNjZjQSJDkxODgwNDBkLTZjNjctNGM1Yi1iMTEyLTM2YTMwNGI2NmRhZBoeQWRlbGVWQGNvbnRvc28ub25taWNyb3NvZnQuY29tIDQ=")
        .claim("given_name", "Adele")
        .claim("family_name", "Vance")
        .claim("upn", "AdeleV@contoso.onmicrosoft.com")
        .claim(
            "groups",
            json!([
                "62e90394-69f5-4237-9190-012177145e10",
                "b0f29c8d-3a84-4f66-9b3e-5a0e0e4d4bd2",
                "5c1a8d45-2f0b-4c70-98e5-e3a4d6f2c7b1",
                "0f5a2c3e-8b6d-4e1f-a7c9-1d2e3f4a5b6c"
            ]),
        )
        .claim("roles", json!(["Task.Read", "Task.Write"]))
        .claim("ctry", "US")
        .claim("xms_tpl", "en")
}

fn minimal_user() -> DevUser {
    DevUser::new("Dev User", "dev@example.com")
}

/// The provider, the layered app on a loopback port, and logged-in cookies.
struct Fixture {
    /// Hosts the provider and the app's listener (one worker, so the measuring thread has
    /// the other core).
    _server: Runtime,
    /// Runs the in-process calls on the measuring thread.
    rt: Runtime,
    provider: DevProvider,
    port: u16,
    bare: App,
    /// The layer added with `Router::layer`, as the README shows.
    layered: App,
    /// A do-nothing layer added with `Router::layer`: what axum itself charges per layer.
    noop_layer: App,
    /// The layer wrapped around the whole `Router` (`auth.layer(router)`).
    outer: App,
    entra_cookie: HeaderValue,
    minimal_cookie: HeaderValue,
    stale_cookie: HeaderValue,
    http: reqwest::Client,
    store: Arc<MemoryStore>,
    /// Callbacks completed through the app (for the round-trips-per-login check).
    logins: AtomicU64,
}

impl Fixture {
    fn new() -> Fixture {
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("bench runtime");
        let store = Arc::new(MemoryStore::default());
        let (provider, port, layered, outer_layer) = server.block_on(async {
            let provider = DevProvider::start().await.expect("provider starts");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let secrets =
                provider.secrets_toml("http://127.0.0.1:{port}/oauth2callback", COOKIE_SECRET);
            let config = AuthConfig::from_toml_str(&secrets).expect("config");
            let shared = store.clone();
            let layer = AuthLayer::builder(config)
                .port(port)
                .shared_session_store(shared)
                .build()
                .expect("layer");
            let outer_layer = layer.clone();
            let layered = router().layer(layer);
            let served = layered.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, served).await;
            });
            (provider, port, layered, outer_layer)
        });
        let login_url = format!("http://127.0.0.1:{port}/auth/login");
        let login = |user: DevUser| {
            let login = server
                .block_on(provider.login_as(&login_url, &user))
                .expect("login_as");
            HeaderValue::from_str(&login.cookie).expect("cookie header")
        };
        let entra_cookie = login(entra_user());
        let minimal_cookie = login(minimal_user());
        // Log in once more and log that session out: its cookie is validly signed but the
        // session is gone.
        let stale_cookie = login(minimal_user());
        server.block_on(async {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let r = client
                .post(format!("http://127.0.0.1:{port}/auth/logout"))
                .header(COOKIE, stale_cookie.clone())
                .header("origin", format!("http://127.0.0.1:{port}"))
                .send()
                .await
                .expect("logout");
            assert!(r.status().is_redirection(), "logout: {}", r.status());
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Fixture {
            _server: server,
            rt,
            provider,
            port,
            bare: App::new(router()),
            noop_layer: App::new(
                router().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r)),
            ),
            outer: App::new(
                tower::ServiceBuilder::new()
                    .layer(outer_layer)
                    .service(router()),
            ),
            layered: App::new(layered),
            entra_cookie,
            minimal_cookie,
            stale_cookie,
            http,
            store,
            logins: AtomicU64::new(0),
        }
    }

    fn case(&self, name: &str) -> (&App, Option<&HeaderValue>, &'static str) {
        match name {
            "bare" => (&self.bare, None, "hello anonymous"),
            "bare_noop_layer" => (&self.noop_layer, None, "hello anonymous"),
            "outer_anonymous" => (&self.outer, None, "hello anonymous"),
            "outer_logged_in_entra" => (&self.outer, Some(&self.entra_cookie), "hello Adele Vance"),
            "bare_with_cookie" => (&self.bare, Some(&self.entra_cookie), "hello anonymous"),
            "anonymous" => (&self.layered, None, "hello anonymous"),
            "logged_in_entra" => (&self.layered, Some(&self.entra_cookie), "hello Adele Vance"),
            "logged_in_minimal" => (&self.layered, Some(&self.minimal_cookie), "hello Dev User"),
            "stale_cookie" => (&self.layered, Some(&self.stale_cookie), "hello anonymous"),
            other => panic!("unknown case {other}"),
        }
    }
}

const REQUEST_CASES: [&str; 9] = [
    "bare",
    "bare_with_cookie",
    "bare_noop_layer",
    "anonymous",
    "logged_in_entra",
    "outer_anonymous",
    "outer_logged_in_entra",
    "logged_in_minimal",
    "stale_cookie",
];

/// Every case behind the same boxed service type, so each pays the same boxing.
type App =
    tower::util::BoxCloneSyncService<Request<Body>, Response<Body>, std::convert::Infallible>;

async fn one_request(app: &App, cookie: Option<&HeaderValue>) -> Response<Body> {
    let mut req = Request::builder().uri("/");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c.clone());
    }
    app.clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

/// `iters` requests, each answered and its body read, as a server would.
async fn requests(app: &App, cookie: Option<&HeaderValue>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let response = one_request(app, cookie).await;
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        black_box(body);
    }
    start.elapsed()
}

#[inline(never)]
fn profile_loop(rt: &Runtime, app: &App, cookie: Option<&HeaderValue>, iters: u64) -> Duration {
    rt.block_on(requests(app, cookie, iters))
}

#[inline(never)]
fn profile_login_route(f: &Fixture, iters: u64) -> Duration {
    f.rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f.start_login().await);
        }
        start.elapsed()
    })
}

#[inline(never)]
fn profile_login_full(f: &Fixture, iters: u64) -> Duration {
    f.rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let started = f.start_login().await;
            let back = f.sign_in(&started.authorize).await;
            f.callback(&back, &started.login_cookie).await;
        }
        start.elapsed()
    })
}

/// One request of `case`, checked, so a benchmark never measures an error page.
fn check(f: &Fixture, case: &str) {
    let (app, cookie, expected) = f.case(case);
    f.rt.block_on(async {
        let response = one_request(app, cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "{case}");
        let removes_cookie = response.headers().contains_key(SET_COOKIE);
        assert_eq!(removes_cookie, case == "stale_cookie", "{case}: Set-Cookie");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        assert_eq!(body, expected.as_bytes(), "{case}");
    });
}

fn bench_requests(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("request");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for case in REQUEST_CASES {
        check(f, case);
        let (app, cookie, _) = f.case(case);
        group.bench_function(case, |b| {
            b.iter_custom(|iters| f.rt.block_on(requests(app, cookie, iters)))
        });
    }
    group.finish();

    // The store alone: what `MemoryStore::load` (a lock and a deep copy of the record)
    // costs for the Entra session.
    let id = session_id(&f.entra_cookie);
    let mut group = c.benchmark_group("store");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    if let Some(id) = id {
        assert!(f.rt.block_on(f.store.load(&id)).expect("load").is_some());
        group.bench_function("memory_load_entra", |b| {
            b.iter_custom(|iters| {
                f.rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(f.store.load(&id).await.expect("load"));
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// The session id inside the cookie `oidc_session=<base64 HMAC (44)><id>` (percent-encoded).
fn session_id(cookie: &HeaderValue) -> Option<tower_oidc_login::session::Id> {
    let parsed = cookie::Cookie::parse_encoded(cookie.to_str().ok()?).ok()?;
    parsed.value().get(44..)?.parse().ok()
}

/// What a started login hands the browser: the provider URL and the binding cookie.
struct Started {
    authorize: String,
    login_cookie: HeaderValue,
}

fn location(headers: &http::HeaderMap) -> String {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned()
}

impl Fixture {
    /// `GET /auth/login` in process.
    async fn start_login(&self) -> Started {
        let req = Request::builder()
            .uri("/auth/login")
            .header("host", format!("127.0.0.1:{}", self.port))
            .header("accept", "text/html")
            .body(Body::empty())
            .expect("request");
        let response = self.layered.clone().oneshot(req).await.expect("infallible");
        assert!(response.status().is_redirection(), "{}", response.status());
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("login cookie")
            .to_owned();
        Started {
            authorize: location(response.headers()),
            login_cookie: HeaderValue::from_str(&cookie).expect("header"),
        }
    }

    /// The provider's sign-in form, fetched and submitted over HTTP: returns the redirect
    /// back (the callback URL with `code` and `state`).
    async fn sign_in(&self, authorize: &str) -> String {
        let html = self
            .http
            .get(authorize)
            .send()
            .await
            .expect("authorize")
            .text()
            .await
            .expect("form");
        let form = Form::parse(&html);
        let mut fields = form.hidden;
        for (k, v) in [
            ("name", "Adele Vance"),
            ("email", "AdeleV@contoso.onmicrosoft.com"),
            ("claims", ""),
            ("action", "sign_in"),
        ] {
            fields.push((k.to_owned(), v.to_owned()));
        }
        let r = self
            .http
            .post(&form.action)
            .form(&fields)
            .send()
            .await
            .expect("sign in");
        assert!(r.status().is_redirection(), "sign in: {}", r.status());
        location(r.headers())
    }

    /// The callback in process; returns the new session cookie's `Set-Cookie`.
    async fn callback(&self, callback_url: &str, login_cookie: &HeaderValue) {
        let url = url::Url::parse(callback_url).expect("callback URL");
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let req = Request::builder()
            .uri(path)
            .header("host", format!("127.0.0.1:{}", self.port))
            .header(COOKIE, login_cookie.clone())
            .body(Body::empty())
            .expect("request");
        let response = self.layered.clone().oneshot(req).await.expect("infallible");
        let ok = response.status().is_redirection()
            && response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .any(|c| c.as_bytes().starts_with(b"oidc_session=") && c.len() > 60);
        if ok {
            self.logins.fetch_add(1, Ordering::Relaxed);
        } else {
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap_or_default();
            panic!(
                "callback failed: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    /// An authorization code issued for our own PKCE verifier, without the app.
    async fn code_for(&self, verifier: &str) -> String {
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        let mut url = url::Url::parse(&self.provider.authorization_endpoint()).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", self.provider.client_id())
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("scope", "openid email profile")
            .append_pair("state", "bench-state")
            .append_pair("nonce", "bench-nonce")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let back = self.sign_in(url.as_str()).await;
        url::Url::parse(&back)
            .expect("redirect back")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code")
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/oauth2callback", self.port)
    }

    async fn token_request(&self, code: &str, verifier: &str) {
        let r = self
            .http
            .post(self.provider.token_endpoint())
            .basic_auth(
                self.provider.client_id(),
                Some(self.provider.client_secret()),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri()),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(r.status(), StatusCode::OK, "token endpoint");
        black_box(r.bytes().await.expect("token response"));
    }
}

fn bench_logins(c: &mut Criterion, f: &Fixture) {
    let before = f.provider.request_counts();
    let logins_before = f.logins.load(Ordering::Relaxed);
    let mut group = c.benchmark_group("login");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("callback", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = f.start_login().await;
                    let back = f.sign_in(&started.authorize).await;
                    let start = Instant::now();
                    f.callback(&back, &started.login_cookie).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.bench_function("full", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let started = f.start_login().await;
                    let back = f.sign_in(&started.authorize).await;
                    f.callback(&back, &started.login_cookie).await;
                }
                start.elapsed()
            })
        })
    });
    // Last: it leaves a pending login per iteration in the store (up to its 100,000 cap).
    group.bench_function("login_route", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(f.start_login().await);
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    // Round trips to the provider per login in steady state (discovery and keys were
    // fetched by the first login of the fixture): the token request, nothing else.
    let after = f.provider.request_counts();
    let logins = f.logins.load(Ordering::Relaxed) - logins_before;
    println!(
        "provider requests during {logins} logins: token={} discovery={} jwks={} userinfo={}",
        after.token - before.token,
        after.discovery - before.discovery,
        after.jwks - before.jwks,
        after.userinfo - before.userinfo,
    );
    assert_eq!(
        after.token - before.token,
        logins,
        "one token request per login"
    );
    assert_eq!(
        (after.discovery, after.jwks, after.userinfo),
        (before.discovery, before.jwks, before.userinfo),
        "no discovery, key set or userinfo request in steady state"
    );

    let mut group = c.benchmark_group("provider");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("token_endpoint", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let verifier = format!("bench-verifier-{i:0>40}");
                    let code = f.code_for(&verifier).await;
                    let start = Instant::now();
                    f.token_request(&code, &verifier).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.bench_function("sign_in_form", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = f.start_login().await;
                    let start = Instant::now();
                    black_box(f.sign_in(&started.authorize).await);
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

/// The provider's sign-in form: its action and hidden fields.
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str) -> Form {
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
    tag[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn main() {
    let fixture = Fixture::new();
    if let Ok(case) = std::env::var("PER_REQUEST_PROFILE") {
        let iters = std::env::var("PER_REQUEST_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000u64);
        let elapsed = if case == "login_route" {
            profile_login_route(&fixture, iters)
        } else if case == "login_full" {
            profile_login_full(&fixture, iters)
        } else {
            check(&fixture, &case);
            let (app, cookie, _) = fixture.case(&case);
            profile_loop(&fixture.rt, app, cookie, iters)
        };
        println!(
            "{case}: {iters} requests, {:.0} ns/request",
            elapsed.as_nanos() as f64 / iters as f64
        );
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_requests(&mut c, &fixture);
    bench_logins(&mut c, &fixture);
    c.final_summary();
}
