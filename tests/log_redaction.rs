//! Nothing secret reaches the logs: with every target at TRACE (this crate, the embedded
//! provider, reqwest, hyper, …), a whole login, a logout through the provider and several
//! failed logins leave no code, state, nonce, PKCE challenge, token, cookie value or
//! configured secret in the captured output.
//!
//! One test only: the subscriber is global, so the buffer belongs to it.

mod support;

use std::collections::BTreeMap;

use axum::routing::get;
use axum::{Json, Router};
use reqwest::header::{HeaderMap, COOKIE};
use reqwest::{Response, StatusCode};
use support::{location, Form};
use tower_oidc_login::testing::DevProvider;
use tower_oidc_login::{AuthConfig, AuthLayer, User};

const CLIENT_SECRET: &str = "log-redaction-client-secret-8d3f1a6c";
const COOKIE_SECRET: &str = "log-redaction-cookie-secret-5b27e9d40c";

/// A browser that keeps the app's cookies by hand. reqwest's own cookie jar (the
/// `cookie_store` crate) logs every `Set-Cookie` it stores, value included, at DEBUG; that is
/// the simulated browser talking, not the app or the provider, so it is kept out of the log.
struct Visitor {
    client: reqwest::Client,
    app: String,
    cookies: BTreeMap<String, String>,
}

impl Visitor {
    fn new(app: &str) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            app: app.to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, url: &str, request: reqwest::RequestBuilder) -> Response {
        let to_app = url.starts_with(&self.app);
        let request = if to_app && !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request.header(COOKIE, header.join("; "))
        } else {
            request
        };
        let response = request.send().await.expect("request");
        if to_app {
            for set_cookie in support::set_cookies(response.headers()) {
                let pair = set_cookie.split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
        }
        response
    }

    async fn get(&mut self, url: &str) -> Response {
        let request = self
            .client
            .get(url)
            .header("accept", "text/html,application/xhtml+xml");
        self.send(url, request).await
    }

    async fn post_form(&mut self, url: &str, fields: &[(String, String)]) -> Response {
        let request = self.client.post(url).form(fields);
        self.send(url, request).await
    }

    /// The logout button of the app's own page.
    async fn logout(&mut self) -> Response {
        let url = format!("{}/auth/logout", self.app);
        let request = self
            .client
            .post(&url)
            .header("origin", &self.app)
            .header("sec-fetch-site", "same-origin");
        self.send(&url, request).await
    }
}

/// `%XX` sequences decoded (cookie values keep `+` as it is).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every secret value the flows produced, with what it is.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, kind: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        assert!(
            value.len() >= 8,
            "{kind} {value:?} is too short to search for"
        );
        self.0.push((kind.to_owned(), value.to_owned()));
        // The same value as a log line might show it once decoded.
        let decoded = percent_decode(value);
        if decoded != value && decoded.len() >= 8 {
            self.0.push((format!("{kind} (decoded)"), decoded));
        }
    }

    fn add_query(&mut self, what: &str, url: &str, names: &[&str]) {
        let url = url::Url::parse(url).expect("absolute URL");
        for (name, value) in url.query_pairs() {
            if names.contains(&name.as_ref()) {
                self.add(&format!("{name} of the {what}"), &value);
            }
        }
    }

    /// Every non-empty cookie value the app set, and the signed value inside it.
    fn add_cookies(&mut self, step: &str, headers: &HeaderMap) {
        for set_cookie in support::set_cookies(headers) {
            let pair = set_cookie.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            self.add(&format!("cookie {name} set by {step}"), value);
            // A signed value is 44 characters of base64 HMAC, then the value itself.
            let decoded = percent_decode(value);
            if let Some(inner) = decoded.get(44..).filter(|v| v.len() >= 8) {
                self.add(
                    &format!("value signed in cookie {name} set by {step}"),
                    inner,
                );
            }
        }
    }
}

/// The test's own app: the layer in front of a handler that returns the raw tokens.
async fn start_app(provider: &DevProvider) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let secrets = format!(
        "{}expose_tokens = [\"id\", \"access\"]\n",
        provider.secrets_toml(support::REDIRECT, COOKIE_SECRET)
    );
    let config = AuthConfig::from_toml_str(&secrets).expect("config");
    let layer = AuthLayer::builder(config)
        .port(port)
        .build()
        .expect("layer");
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .route(
            "/tokens",
            get(|user: User| async move {
                let t = user.tokens();
                Json(serde_json::json!({"id": t.id, "access": t.access}))
            }),
        )
        .layer(layer);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://127.0.0.1:{port}"), task)
}

/// `GET /auth/login`, the provider's form, and its submission (as `action`): returns the
/// callback URL, recording what the authorization request and the redirect back carried.
async fn to_callback(browser: &mut Visitor, action: &str, seen: &mut Seen) -> String {
    let login = format!("{}/auth/login", browser.app);
    let r = browser.get(&login).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    seen.add_cookies("the login route", r.headers());
    let authorize = location(r.headers());
    seen.add_query(
        "authorization request",
        &authorize,
        &["state", "nonce", "code_challenge"],
    );
    let form = browser.get(&authorize).await;
    assert_eq!(form.status(), StatusCode::OK);
    let form = Form::parse(&form.text().await.expect("form"));
    let mut fields = form.hidden.clone();
    fields.extend([
        ("name".to_owned(), "Log Tester".to_owned()),
        ("email".to_owned(), "log@example.com".to_owned()),
        ("claims".to_owned(), String::new()),
        ("action".to_owned(), action.to_owned()),
    ]);
    let r = browser.post_form(&form.action, &fields).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let callback = location(r.headers());
    seen.add_query("callback", &callback, &["code", "state"]);
    callback
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_any_login_or_logout_reaches_the_trace_log() {
    support::logs::captured();
    let provider = DevProvider::builder()
        .client_secret(CLIENT_SECRET)
        .start()
        .await
        .expect("provider");
    let (base, _app) = start_app(&provider).await;
    let mut seen = Seen::default();
    seen.add("client_secret from the secrets file", CLIENT_SECRET);
    seen.add("cookie_secret from the secrets file", COOKIE_SECRET);

    // A complete login, and the raw tokens it exposes to handlers.
    let mut browser = Visitor::new(&base);
    let callback = to_callback(&mut browser, "sign_in", &mut seen).await;
    let done = browser.get(&callback).await;
    assert_eq!(done.status(), StatusCode::FOUND, "login succeeds");
    seen.add_cookies("the callback", done.headers());
    let tokens: serde_json::Value = browser
        .get(&format!("{base}/tokens"))
        .await
        .json()
        .await
        .expect("JSON");
    let id_token = tokens["id"].as_str().expect("ID token exposed").to_owned();
    let access_token = tokens["access"]
        .as_str()
        .expect("access token exposed")
        .to_owned();
    seen.add("ID token", &id_token);
    if let Some(signature) = id_token.rsplit('.').next() {
        seen.add("ID token signature", signature);
    }
    seen.add("access token", &access_token);

    // Logout through the provider, and back.
    let r = browser.logout().await;
    assert_eq!(r.status(), StatusCode::FOUND);
    seen.add_cookies("the logout", r.headers());
    let end_session = location(r.headers());
    seen.add_query(
        "end-session request",
        &end_session,
        &["state", "id_token_hint"],
    );
    let back = browser.get(&end_session).await;
    let back_to_app = location(back.headers());
    let landed = browser.get(&back_to_app).await;
    assert_eq!(landed.status(), StatusCode::FOUND);
    seen.add_cookies("the logout return", landed.headers());

    // The same callback again: refused, already used.
    let reused = browser.get(&callback).await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);

    // A callback with a state that was never issued.
    let mut browser = Visitor::new(&base);
    let callback = to_callback(&mut browser, "sign_in", &mut seen).await;
    let wrong = browser
        .get(&with_param(&callback, "state", "wrong-state-never-issued"))
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);

    // Cancelled at the provider: access_denied.
    let mut browser = Visitor::new(&base);
    let callback = to_callback(&mut browser, "cancel", &mut seen).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let denied = browser.get(&callback).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    // A code the provider never issued: invalid_grant from the token endpoint.
    let mut browser = Visitor::new(&base);
    let callback = to_callback(&mut browser, "sign_in", &mut seen).await;
    let forged_code = "forged-code-4c1e9b7a2f";
    seen.add("forged code", forged_code);
    let forged = browser
        .get(&with_param(&callback, "code", forged_code))
        .await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert_eq!(provider.request_counts().token, 2, "two token requests");

    let log = support::logs::text();
    assert!(!log.is_empty(), "the subscriber captured nothing");
    for expected in [
        "login succeeded",
        "logged out",
        "login failed",
        "access_denied",
        "invalid_grant",
        "unknown, expired or was already used",
    ] {
        assert!(log.contains(expected), "{expected:?} not logged:\n{log}");
    }
    let kinds: std::collections::BTreeSet<&str> = seen.0.iter().map(|(k, _)| k.as_str()).collect();
    for kind in [
        "code of the callback",
        "state of the callback",
        "nonce of the authorization request",
        "code_challenge of the authorization request",
        "state of the end-session request",
        "id_token_hint of the end-session request",
    ] {
        assert!(kinds.contains(kind), "{kind} was not collected: {kinds:?}");
    }

    let leaks: Vec<String> = seen
        .0
        .iter()
        .flat_map(|(kind, value)| {
            log.lines()
                .filter(move |line| line.contains(value.as_str()))
                .map(move |line| format!("{kind} ({value}) in: {line}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} log line(s) leak secrets:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
