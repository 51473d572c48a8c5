//! What the comparison apps share: the handler's shape, binding and serving on loopback
//! with a time bound, the Entra-like user, and a login client that drives any app's
//! login redirect → the development provider's sign-in form → the app's callback by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use tower_oidc_login::testing::DevUser;

/// The cookie secret of the `ours` app (a benchmark constant, not a secret).
pub const COOKIE_SECRET: &str = "benchmark-cookie-secret-0123456789abcdef";

/// The body every app's logged-in route answers: `hello <name>`.
pub fn hello(name: Option<&str>) -> String {
    format!("hello {}", name.unwrap_or("anonymous"))
}

/// Reads `NAME` from the environment, or `default`.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Exits the process after `BENCH_MAX_SECONDS` (default 900) whatever happens, so nothing
/// started by a benchmark outlives it.
pub fn exit_after_deadline() {
    let secs: u64 = env_or("BENCH_MAX_SECONDS", "900").parse().unwrap_or(900);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("deadline of {secs} s reached; exiting");
        std::process::exit(0);
    });
}

/// Binds 127.0.0.1 on a free port and writes the port to `port_file` (atomically).
pub async fn bind(port_file: &str) -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("addr").port();
    write_atomically(port_file, &port.to_string());
    (listener, port)
}

/// Writes `content` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &str, content: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Waits until `path` exists (at most `limit`), then returns its trimmed content.
pub async fn wait_for_file(path: &str, limit: Duration) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(s) = std::fs::read_to_string(path) {
            return Some(s.trim().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A user with the claims a Microsoft Entra ID v2.0 ID token carries for a member of a few
/// groups. With the provider's `sub`, `name`, `email`, `email_verified`,
/// `preferred_username`, `iss`, `aud`, `exp`, `iat`, `auth_time`, `nonce` and `at_hash`
/// that is 27 claims. (The same user as in `benches/per_request.rs`.)
pub fn entra_user() -> DevUser {
    let mut user = DevUser::new("Adele Vance", "AdeleV@contoso.onmicrosoft.com")
        .with_sub("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ");
    for (k, v) in entra_extra_claims() {
        user = user.claim(k, v);
    }
    user
}

/// The extra claims of [`entra_user`], for the provider form's "claims" box.
pub fn entra_extra_claims() -> serde_json::Map<String, serde_json::Value> {
    let v = json!({
        "aio": "AWQAm/8bAAAAc0sLSNJ9jmQ0Hx3Nd7vDqXbpbVZ3RnDJsdo+cO4gTk0NhSv7ZMVLeIprl0m0L2H/gRPjwo+CbR8Dv+7v/x7p0Kkz1tQ2OZ9wXgjTKtDCmlb+HoqGGh2Bv7kFvs1mEbQc",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
        "sid": "0015b2a4-3c6b-1e0f-8f2a-4b7c9e2d1a53",
        "uti": "yWt2dAbBxEiW4sGE8n0bAA",
        "rh": "0.ARoAv4j5cvGGr0GRqy180BHbR5Aq7wbBAAAAAAAAAADAACA.AQ.",
        "ver": "2.0",
        "login_hint": "O.CiQ1OGQyNjZiZC1jNTkxLTRjNzItYTdkMi0zZTU2MDVkYzNjZjQSJDkxODgwNDBkLTZjNjctNGM1Yi1iMTEyLTM2YTMwNGI2NmRhZBoeQWRlbGVWQGNvbnRvc28ub25taWNyb3NvZnQuY29tIDQ=",
        "given_name": "Adele",
        "family_name": "Vance",
        "upn": "AdeleV@contoso.onmicrosoft.com",
        "groups": [
            "62e90394-69f5-4237-9190-012177145e10",
            "b0f29c8d-3a84-4f66-9b3e-5a0e0e4d4bd2",
            "5c1a8d45-2f0b-4c70-98e5-e3a4d6f2c7b1",
            "0f5a2c3e-8b6d-4e1f-a7c9-1d2e3f4a5b6c"
        ],
        "roles": ["Task.Read", "Task.Write"],
        "ctry": "US",
        "xms_tpl": "en"
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// `VmRSS` of this process in KiB, from /proc/self/status.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Time spent in each step of one login, for [`LoginClient::login`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTimes {
    /// `GET` of the app's login URL (the app's work: state, PKCE, pending record).
    pub app_login: Duration,
    /// `GET` of the provider's authorization endpoint (the sign-in form).
    pub authorize: Duration,
    /// `POST` of the sign-in form (the provider issues a code).
    pub sign_in: Duration,
    /// `GET` of the app's callback (the app's work plus its token request, and for
    /// axum-oidc its userinfo request).
    pub callback: Duration,
}

impl std::ops::AddAssign for StepTimes {
    fn add_assign(&mut self, o: StepTimes) {
        self.app_login += o.app_login;
        self.authorize += o.authorize;
        self.sign_in += o.sign_in;
        self.callback += o.callback;
    }
}

/// A browser without a browser: a cookie jar per login, redirects followed by hand.
#[derive(Clone)]
pub struct LoginClient {
    http: reqwest::Client,
}

impl Default for LoginClient {
    fn default() -> Self {
        LoginClient {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }
}

type Jar = BTreeMap<String, String>;

fn absorb(jar: &mut Jar, headers: &HeaderMap) {
    for c in headers.get_all(SET_COOKIE) {
        let Ok(c) = c.to_str() else { continue };
        let pair = c.split(';').next().unwrap_or("");
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let removal = value.is_empty() || c.to_ascii_lowercase().contains("max-age=0");
        if removal {
            jar.remove(name.trim());
        } else {
            jar.insert(name.trim().to_owned(), value.to_owned());
        }
    }
}

fn cookie_header(jar: &Jar) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn location(headers: &HeaderMap, base: &url::Url) -> Result<String, String> {
    let l = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("redirect without Location")?;
    base.join(l)
        .map(|u| u.to_string())
        .map_err(|e| e.to_string())
}

impl LoginClient {
    /// One whole login at `login_url` (an app URL that redirects to the provider) as the
    /// Entra-like user; returns the app's cookies as a `Cookie` header and the step times.
    pub async fn login(&self, login_url: &str) -> Result<(String, StepTimes), String> {
        let mut jar = Jar::new();
        let mut times = StepTimes::default();
        let app = url::Url::parse(login_url).map_err(|e| e.to_string())?;

        let t = Instant::now();
        let r = self
            .http
            .get(login_url)
            .header("accept", "text/html")
            .send()
            .await
            .map_err(|e| format!("app login: {e}"))?;
        times.app_login = t.elapsed();
        if !r.status().is_redirection() {
            return Err(format!("app login answered {}", r.status()));
        }
        absorb(&mut jar, r.headers());
        let authorize = location(r.headers(), &app)?;

        let t = Instant::now();
        let html = self
            .http
            .get(&authorize)
            .send()
            .await
            .map_err(|e| format!("authorize: {e}"))?
            .text()
            .await
            .map_err(|e| format!("authorize body: {e}"))?;
        times.authorize = t.elapsed();
        let (action, mut fields) = parse_form(&html).ok_or("no sign-in form")?;
        let claims = serde_json::Value::Object(entra_extra_claims()).to_string();
        fields.push(("name".into(), "Adele Vance".into()));
        fields.push(("email".into(), "AdeleV@contoso.onmicrosoft.com".into()));
        fields.push(("claims".into(), claims));
        fields.push(("action".into(), "sign_in".into()));

        let t = Instant::now();
        let r = self
            .http
            .post(&action)
            .form(&fields)
            .send()
            .await
            .map_err(|e| format!("sign in: {e}"))?;
        times.sign_in = t.elapsed();
        if !r.status().is_redirection() {
            return Err(format!("sign in answered {}", r.status()));
        }
        let callback = location(
            r.headers(),
            &url::Url::parse(&action).map_err(|e| e.to_string())?,
        )?;

        let t = Instant::now();
        let r = self
            .http
            .get(&callback)
            .header(COOKIE, cookie_header(&jar))
            .header("accept", "text/html")
            .send()
            .await
            .map_err(|e| format!("callback: {e}"))?;
        times.callback = t.elapsed();
        if !r.status().is_redirection() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(format!(
                "callback answered {status}: {}",
                body.chars().take(300).collect::<String>()
            ));
        }
        absorb(&mut jar, r.headers());
        Ok((cookie_header(&jar), times))
    }
}

/// The development provider's sign-in form: its action and hidden fields.
pub fn parse_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let action = attr(html.split("<form").nth(1)?, "action")?;
    let hidden = html
        .split("<input")
        .skip(1)
        .filter(|tag| tag.contains(r#"type="hidden""#))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect();
    Some((action, hidden))
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The state directory the apps and load.sh share (`BENCH_DIR`).
pub fn state_dir() -> String {
    let dir = env_or("BENCH_DIR", "/tmp/oidc-bench");
    std::fs::create_dir_all(&dir).expect("state dir");
    assert!(Path::new(&dir).is_dir());
    dir
}

/// The handler of the bare app and of the app behind our layer (one function, so the two
/// differ only by the layer): reads the user, answers `hello <name>`.
pub async fn hello_user(user: Option<axum::Extension<tower_oidc_login::User>>) -> String {
    hello(user.as_ref().and_then(|axum::Extension(u)| u.name()))
}
