//! The provider ends sessions in the app: back-channel logout (OpenID Connect Back-Channel
//! Logout 1.0, a signed logout token posted to `/auth/backchannel-logout`), front-channel
//! logout (Front-Channel Logout 1.0, `/auth/frontchannel-logout` loaded in the provider's
//! hidden frame), and the `logout_hint` the app sends on RP-initiated logout. Everything
//! over real HTTP on 127.0.0.1 against the embedded development provider; the replicas test
//! shares a real SQLite file between two app instances.

mod support;

use std::sync::{Arc, Mutex};

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use support::logs::Logs;
use support::*;
use tower_oidc_login::testing::{DevProvider, DevSession, DevUser, LogoutTarget, Misbehaviour};

/// A provider that knows where the app's logout routes are, and the app on that address.
async fn provider_and_app() -> (DevProvider, App) {
    let port = free_port();
    let provider = provider_for(port).await;
    let app = start_app_on(
        port,
        &provider.secrets_toml(REDIRECT, COOKIE_SECRET),
        "",
        |b| b,
    )
    .await;
    (provider, app)
}

/// A provider whose client registered the logout routes of an app on `port`.
async fn provider_for(port: u16) -> DevProvider {
    DevProvider::builder()
        .backchannel_logout_uri(format!("http://127.0.0.1:{port}/auth/backchannel-logout"))
        .frontchannel_logout_uri(format!("http://127.0.0.1:{port}/auth/frontchannel-logout"))
        .start()
        .await
        .expect("provider starts")
}

/// Logs `user` in at `app` (a whole browser flow) and returns the session cookie and the
/// provider-side session it made.
async fn log_in(provider: &DevProvider, app: &App, user: &DevUser) -> (String, DevSession) {
    let login = provider
        .login_as(&app.url("/auth/login"), user)
        .await
        .expect("login succeeds");
    let session = provider
        .sessions()
        .last()
        .cloned()
        .expect("a provider session");
    assert_eq!(session.sub, user.subject());
    (login.cookie, session)
}

/// Whether `cookie` is a live session at `app`, according to `/me`.
async fn logged_in(app: &App, cookie: &str) -> bool {
    let me = json_with_cookie(&app.url("/me"), cookie).await;
    me["is_logged_in"]
        .as_bool()
        .unwrap_or_else(|| panic!("/me answers is_logged_in: {me}"))
}

fn ada() -> DevUser {
    DevUser::new("Ada", "ada@example.com")
}

fn bob() -> DevUser {
    DevUser::new("Bob", "bob@example.com")
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `POST /auth/backchannel-logout` with this form body, as a provider sends it.
async fn post_backchannel(app: &App, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client()
        .post(app.url("/auth/backchannel-logout"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST backchannel-logout")
}

/// The form body carrying `token`.
fn form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish()
}

/// Checks a 400 refusal: JSON `invalid_request` with a description, never cached, no cookie.
fn assert_refused(status: u16, body: &str, what: &str) -> String {
    assert_eq!(
        status, 400,
        "{what}: refused with 400, got {status}: {body}"
    );
    let json: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: JSON body ({e}): {body}"));
    assert_eq!(json["error"], "invalid_request", "{what}: {json}");
    let description = json["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: a description: {json}"));
    assert!(!description.is_empty(), "{what}");
    description.to_owned()
}

/// A loopback server standing in for the app at the registered back-channel URI: it keeps
/// every logout token the provider posts and answers 200, so a test can deliver a valid
/// token to the app itself and read the whole answer.
struct TokenCatcher {
    uri: String,
    tokens: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenCatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenCatcher {
    async fn start() -> TokenCatcher {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let kept = tokens.clone();
        let router = axum::Router::new().route(
            "/logout",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let token = form_urlencoded::parse(&body)
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    kept.lock().unwrap().push(token);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TokenCatcher {
            uri: format!("http://127.0.0.1:{port}/logout"),
            tokens,
            task,
        }
    }

    fn last(&self) -> String {
        self.tokens
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a token")
    }
}

// ---------------------------------------------------------------------------------------
// Back-channel logout: whose sessions end

#[tokio::test]
async fn backchannel_logout_by_sid_ends_only_that_provider_sessions_app_session() {
    let (provider, app) = provider_and_app().await;
    let (first, first_session) = log_in(&provider, &app, &ada()).await;
    let (second, second_session) = log_in(&provider, &app, &ada()).await;
    let (other, _) = log_in(&provider, &app, &bob()).await;
    assert_ne!(first_session.sid, second_session.sid);

    let answer = provider
        .backchannel_logout(LogoutTarget::Sid(first_session.sid.clone()))
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        !logged_in(&app, &first).await,
        "the session of that sid ended"
    );
    assert!(
        logged_in(&app, &second).await,
        "the same user's login with another sid stays"
    );
    assert!(logged_in(&app, &other).await, "another user stays");
}

#[tokio::test]
async fn backchannel_logout_by_sub_ends_every_session_of_that_user() {
    let (provider, app) = provider_and_app().await;
    let (first, _) = log_in(&provider, &app, &ada()).await;
    let (second, _) = log_in(&provider, &app, &ada()).await;
    let (other, _) = log_in(&provider, &app, &bob()).await;

    let answer = provider
        .backchannel_logout(LogoutTarget::Sub(ada().subject()))
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!logged_in(&app, &first).await);
    assert!(!logged_in(&app, &second).await);
    assert!(logged_in(&app, &other).await, "another user stays");
}

#[tokio::test]
async fn backchannel_logout_by_sid_and_sub_ends_only_that_session_of_that_user() {
    let (provider, app) = provider_and_app().await;
    let (first, first_session) = log_in(&provider, &app, &ada()).await;
    let (second, _) = log_in(&provider, &app, &ada()).await;

    let answer = provider
        .backchannel_logout(LogoutTarget::SidAndSub {
            sid: first_session.sid.clone(),
            sub: first_session.sub.clone(),
        })
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!logged_in(&app, &first).await);
    assert!(
        logged_in(&app, &second).await,
        "with both claims only that provider session ends (Back-Channel Logout 1.0 2.4)"
    );

    // A sid that belongs to another user ends nothing of this one's.
    let (bobs, bob_session) = log_in(&provider, &app, &bob()).await;
    let answer = provider
        .backchannel_logout(LogoutTarget::SidAndSub {
            sid: bob_session.sid.clone(),
            sub: ada().subject(),
        })
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(logged_in(&app, &second).await);
    assert!(logged_in(&app, &bobs).await);
}

#[tokio::test]
async fn backchannel_logout_answers_200_without_cookies_and_is_never_cached() {
    let catcher = TokenCatcher::start().await;
    let provider = DevProvider::builder()
        .backchannel_logout_uri(&catcher.uri)
        .start()
        .await
        .unwrap();
    let app = start_app(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).await;
    let (cookie, session) = log_in(&provider, &app, &ada()).await;
    provider
        .backchannel_logout(LogoutTarget::Sid(session.sid))
        .await
        .expect("delivered to the catcher");

    // Delivered by hand, with the session cookie on it too: a server-to-server call that
    // must neither read nor set cookies.
    let answer = client()
        .post(app.url("/auth/backchannel-logout"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .body(form(&catcher.last()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[CACHE_CONTROL], "no-store");
    assert!(
        answer.headers().get(SET_COOKIE).is_none(),
        "{:?}",
        answer.headers()
    );
    assert!(!logged_in(&app, &cookie).await);

    // Only POST.
    let get = client()
        .get(app.url("/auth/backchannel-logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers()["allow"], "POST");
}

// ---------------------------------------------------------------------------------------
// Back-channel logout: tokens refused

#[tokio::test]
async fn every_bad_logout_token_is_refused_with_400_json_and_the_session_kept() {
    let logs = Logs::capture();
    let (provider, app) = provider_and_app().await;
    let (cookie, session) = log_in(&provider, &app, &ada()).await;
    let bad = [
        Misbehaviour::LogoutTokenAlgNone,
        Misbehaviour::LogoutTokenBadSignature,
        Misbehaviour::LogoutTokenWrongAlg,
        Misbehaviour::LogoutTokenWrongAudience,
        Misbehaviour::LogoutTokenWrongIssuer,
        Misbehaviour::LogoutTokenNoEvents,
        Misbehaviour::LogoutTokenWrongEvent,
        Misbehaviour::LogoutTokenWithNonce,
        Misbehaviour::LogoutTokenNoSidNoSub,
        Misbehaviour::LogoutTokenExpired,
    ];
    let mut tokens = Vec::new();
    for misbehaviour in &bad {
        provider.behave();
        provider.misbehave(misbehaviour.clone());
        let target = LogoutTarget::SidAndSub {
            sid: session.sid.clone(),
            sub: session.sub.clone(),
        };
        let answer = provider
            .backchannel_logout(target)
            .await
            .expect("delivered");
        let why = assert_refused(answer.status, &answer.body, &format!("{misbehaviour:?}"));
        assert!(
            logged_in(&app, &cookie).await,
            "{misbehaviour:?} ({why}) left the session alone"
        );
        tokens.push(answer.logout_token);
    }

    // Each refusal is one warning naming the reason, never the token.
    let refusals = logs.matching(&["WARN", "back-channel logout", "refused"]);
    assert_eq!(refusals.len(), bad.len(), "{refusals:#?}");
    for line in logs.lines() {
        for token in &tokens {
            let signature = token.rsplit('.').next().unwrap_or_default();
            assert!(
                !line.contains(token.as_str())
                    && (signature.is_empty() || !line.contains(signature)),
                "a log line holds a logout token: {line}"
            );
        }
    }

    // The same target with a good token does end the session: the refusals were the tokens'.
    provider.behave();
    let answer = provider
        .backchannel_logout(LogoutTarget::Sid(session.sid))
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!logged_in(&app, &cookie).await);
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused() {
    let (provider, app) = provider_and_app().await;
    let (cookie, _) = log_in(&provider, &app, &ada()).await;
    let first = provider
        .backchannel_logout(LogoutTarget::Sub(ada().subject()))
        .await
        .expect("delivered");
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(!logged_in(&app, &cookie).await);

    // Ada logs in again; the old token, sent again byte for byte, must not end the new
    // session (it names her `sub`, so accepting it would).
    let (again, _) = log_in(&provider, &app, &ada()).await;
    let replay = provider
        .send_logout_token(&first.logout_token)
        .await
        .expect("delivered");
    let why = assert_refused(replay.status, &replay.body, "a replay");
    assert!(why.contains("jti"), "{why}");
    assert!(logged_in(&app, &again).await);
}

#[tokio::test]
async fn a_new_logout_token_repeating_an_accepted_jti_is_refused() {
    let (provider, app) = provider_and_app().await;
    let (first, first_session) = log_in(&provider, &app, &ada()).await;
    let (second, _) = log_in(&provider, &app, &bob()).await;
    let accepted = provider
        .backchannel_logout(LogoutTarget::Sid(first_session.sid))
        .await
        .expect("delivered");
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert!(!logged_in(&app, &first).await);

    // Another, validly signed token for another user that reuses the first one's jti.
    provider.misbehave(Misbehaviour::LogoutTokenRepeatedJti);
    let repeated = provider
        .backchannel_logout(LogoutTarget::Sub(bob().subject()))
        .await
        .expect("delivered");
    assert_ne!(repeated.logout_token, accepted.logout_token);
    assert_refused(repeated.status, &repeated.body, "a repeated jti");
    assert!(logged_in(&app, &second).await);
}

#[tokio::test]
async fn a_logout_token_of_a_provider_the_app_does_not_know_is_refused() {
    let (provider, app) = provider_and_app().await;
    let (cookie, session) = log_in(&provider, &app, &ada()).await;
    // Another provider, signing with the same embedded development keys, posting to the app.
    let stranger = provider_for(app.port).await;
    let answer = stranger
        .backchannel_logout(LogoutTarget::SidAndSub {
            sid: session.sid,
            sub: session.sub,
        })
        .await
        .expect("delivered");
    let why = assert_refused(answer.status, &answer.body, "an unknown issuer");
    assert!(why.contains("issuer") || why.contains("provider"), "{why}");
    assert!(logged_in(&app, &cookie).await);
}

#[tokio::test]
async fn one_providers_logout_token_never_ends_another_providers_sessions() {
    let port = free_port();
    let (corp, partner) = (provider_for(port).await, provider_for(port).await);
    let secrets = format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"{COOKIE_SECRET}\"\n\n{}\n{}",
        corp.provider_table("corp"),
        partner.provider_table("partner"),
    );
    let app = start_app_on(port, &secrets, "", |b| b).await;
    let login = corp
        .login_as(&app.url("/auth/login?provider=corp"), &ada())
        .await
        .expect("login");
    let session = corp.sessions().last().cloned().unwrap();
    // The same user (the same `sub`: derived from the email) and the same sid, sent by the
    // other configured provider: valid for that provider, but it has no such session.
    let answer = partner
        .backchannel_logout(LogoutTarget::SidAndSub {
            sid: session.sid.clone(),
            sub: session.sub.clone(),
        })
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = partner
        .backchannel_logout(LogoutTarget::Sub(session.sub.clone()))
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(logged_in(&app, &login.cookie).await);

    let answer = corp
        .backchannel_logout(LogoutTarget::Sub(session.sub))
        .await
        .expect("delivered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!logged_in(&app, &login.cookie).await);
}

#[tokio::test]
async fn a_malformed_backchannel_request_is_refused_with_400() {
    let logs = Logs::capture();
    let (provider, app) = provider_and_app().await;
    let (cookie, _) = log_in(&provider, &app, &ada()).await;
    let huge = format!("logout_token={}", "a".repeat(200 * 1024));
    let cases: [(&str, String); 5] = [
        ("no body", String::new()),
        ("no logout_token", "token=abc&other=1".to_owned()),
        (
            "two logout_tokens",
            "logout_token=a.b.c&logout_token=d.e.f".to_owned(),
        ),
        ("not a JWT", form("not-a-jwt")),
        ("a body larger than a logout token", huge),
    ];
    for (what, body) in cases {
        let logged = logs
            .matching(&["WARN", "back-channel logout token refused"])
            .len();
        let answer = post_backchannel(&app, body).await;
        let status = answer.status().as_u16();
        assert_eq!(
            answer
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{what}"
        );
        assert!(answer.headers().get(SET_COOKIE).is_none(), "{what}");
        let text = answer.text().await.unwrap();
        let why = assert_refused(status, &text, what);
        let lines = logs.matching(&["WARN", "back-channel logout token refused"]);
        assert_eq!(lines.len(), logged + 1, "{what}: one warning: {lines:#?}");
        assert!(lines[logged].contains(&why), "{what}: {}", lines[logged]);
    }
    assert!(logged_in(&app, &cookie).await);
}

// ---------------------------------------------------------------------------------------
// Front-channel logout

#[tokio::test]
async fn frontchannel_logout_ends_that_sids_sessions_in_a_page_only_the_provider_may_frame() {
    let (provider, app) = provider_and_app().await;
    let (first, first_session) = log_in(&provider, &app, &ada()).await;
    let (second, _) = log_in(&provider, &app, &ada()).await;
    let url = provider
        .frontchannel_logout_url(&first_session.sid)
        .expect("a registered front-channel URI");

    // The provider's hidden frame carries no cookie of the app (SameSite=Lax).
    let page = client().get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(headers.get(SET_COOKIE).is_none(), "{headers:?}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert!(
        headers.get("x-frame-options").is_none(),
        "the provider must be able to frame it: {headers:?}"
    );
    let policies: Vec<&str> = headers
        .get_all(CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(policies.len(), 1, "one policy: {policies:?}");
    let ancestors: Vec<&str> = policies[0]
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("frame-ancestors "))
        .expect("a frame-ancestors directive")
        .split_whitespace()
        .collect();
    let provider_origin = format!("http://127.0.0.1:{}", provider.port());
    assert_eq!(ancestors, [provider_origin.as_str()]);
    let text = page.text().await.unwrap();
    assert!(text.contains("signed out"), "{text}");

    assert!(!logged_in(&app, &first).await);
    assert!(
        logged_in(&app, &second).await,
        "another sid of the same user stays"
    );
}

#[tokio::test]
async fn a_frontchannel_logout_with_a_wrong_iss_or_sid_ends_nothing() {
    let (provider, app) = provider_and_app().await;
    let (cookie, session) = log_in(&provider, &app, &ada()).await;
    let url = url::Url::parse(&provider.frontchannel_logout_url(&session.sid).unwrap()).unwrap();
    let with = |iss: Option<&str>, sid: Option<&str>| {
        let mut u = url.clone();
        u.set_query(None);
        {
            let mut q = u.query_pairs_mut();
            if let Some(iss) = iss {
                q.append_pair("iss", iss);
            }
            if let Some(sid) = sid {
                q.append_pair("sid", sid);
            }
        }
        u.to_string()
    };
    let issuer = provider.issuer();
    let other_issuer = format!("{issuer}/1");
    let cases = [
        (
            "another issuer",
            with(Some(&other_issuer), Some(&session.sid)),
            400,
        ),
        (
            "an attacker's origin",
            with(Some("https://evil.example"), Some(&session.sid)),
            400,
        ),
        ("no iss", with(None, Some(&session.sid)), 400),
        ("no sid", with(Some(&issuer), None), 400),
        (
            "an unknown sid",
            with(Some(&issuer), Some("not-a-session")),
            200,
        ),
    ];
    for (what, url, status) in cases {
        let answer = client().get(&url).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{what}");
        assert!(answer.headers().get(SET_COOKIE).is_none(), "{what}");
        if status != 200 {
            // An error page is never frameable by anyone.
            let csp = answer.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        }
        assert!(
            logged_in(&app, &cookie).await,
            "{what} left the session alone"
        );
    }
}

// ---------------------------------------------------------------------------------------
// RP-initiated logout

/// Logs `cookie` out with the quickstart's logout button and follows the redirect to the
/// provider's end-session endpoint; returns what the provider received.
async fn log_out_at_provider(
    provider: &DevProvider,
    app: &App,
    cookie: &str,
) -> tower_oidc_login::testing::EndSessionCall {
    let answer = client()
        .post(app.url("/auth/logout"))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let to = location(answer.headers());
    assert!(to.starts_with(&provider.end_session_endpoint()), "{to}");
    let before = provider.end_session_calls().len();
    let at_provider = client().get(&to).send().await.unwrap();
    assert!(
        at_provider.status().is_redirection(),
        "{}",
        at_provider.status()
    );
    let calls = provider.end_session_calls();
    assert_eq!(calls.len(), before + 1);
    calls.last().cloned().unwrap()
}

#[tokio::test]
async fn rp_initiated_logout_sends_the_users_login_hint_as_logout_hint() {
    let (provider, app) = one_provider_app().await;
    let hinted = ada().with_login_hint("O.aAbBcC-opaque-hint");
    let login = provider
        .login_as(&app.url("/auth/login"), &hinted)
        .await
        .unwrap();
    let call = log_out_at_provider(&provider, &app, &login.cookie).await;
    assert_eq!(call.logout_hint.as_deref(), Some("O.aAbBcC-opaque-hint"));
    assert_eq!(call.id_token_hint, provider.last_issued_id_token());
    assert!(!logged_in(&app, &login.cookie).await);

    // Without the claim, no hint.
    let plain = provider
        .login_as(&app.url("/auth/login"), &bob())
        .await
        .unwrap();
    let call = log_out_at_provider(&provider, &app, &plain.cookie).await;
    assert_eq!(call.logout_hint, None);
    assert!(call.id_token_hint.is_some());
}

// ---------------------------------------------------------------------------------------
// Replicas sharing a store

/// Two app instances sharing one SQLite file (feature `sqlite`), as replicas share a store.
#[cfg(feature = "sqlite")]
mod replicas {
    use super::*;
    use std::time::{Duration, Instant};

    /// Polls `/me` at `app` with `cookie` until it is anonymous; how long that took.
    async fn time_until_anonymous(app: &App, cookie: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if !logged_in(app, cookie).await {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "still logged in at {} after {limit:?}",
                app.base
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    #[tokio::test]
    async fn a_backchannel_logout_received_by_one_replica_ends_the_session_on_another_within_a_second(
    ) {
        let dir = scratch::tempdir().unwrap();
        let db = dir.path().join("sessions.db");
        let (port_a, port_b) = (free_port(), free_port());
        let provider = provider_for(port_a).await;
        let secrets = format!(
            "{}session_store = \"sqlite://{}\"\n",
            provider.secrets_toml(REDIRECT, COOKIE_SECRET),
            db.display()
        );
        let a = start_app_on(port_a, &secrets, "", |b| b).await;
        let b = start_app_on(port_b, &secrets, "", |b| b).await;

        // Ada twice (one session per replica) and Bob; each session is known on both replicas.
        let (ada_a, ada_a_session) = log_in(&provider, &a, &ada()).await;
        let (ada_b, _) = log_in(&provider, &b, &ada()).await;
        let (bob_b, _) = log_in(&provider, &b, &bob()).await;
        for cookie in [&ada_a, &ada_b, &bob_b] {
            assert!(logged_in(&a, cookie).await);
            assert!(logged_in(&b, cookie).await, "B reads it and keeps a copy");
        }

        // By sid, delivered to A: the session made on A ends on B too.
        let answer = provider
            .backchannel_logout(LogoutTarget::Sid(ada_a_session.sid))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(!logged_in(&a, &ada_a).await, "at once on the replica told");
        let by_sid = time_until_anonymous(&b, &ada_a, Duration::from_secs(3)).await;
        assert!(logged_in(&b, &ada_b).await);

        // By sub, delivered to A: Ada's session made on B ends on B.
        assert!(logged_in(&b, &ada_b).await, "B has a fresh copy");
        let answer = provider
            .backchannel_logout(LogoutTarget::Sub(ada().subject()))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(!logged_in(&a, &ada_b).await);
        let by_sub = time_until_anonymous(&b, &ada_b, Duration::from_secs(3)).await;
        assert!(logged_in(&a, &bob_b).await && logged_in(&b, &bob_b).await);

        eprintln!("ended on the other replica after: by sid {by_sid:?}, by sub {by_sub:?}");
        for (what, took) in [("by sid", by_sid), ("by sub", by_sub)] {
            assert!(
                took <= Duration::from_millis(1200),
                "{what}: {took:?} (the local copy lives 750 ms)"
            );
        }
    }

    /// Waits until a new wall-clock second has just begun, so what follows at once happens
    /// within one second.
    async fn start_of_a_second() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let into = Duration::from_nanos(u64::from(now.subsec_nanos()));
        tokio::time::sleep(Duration::from_secs(1) - into + Duration::from_millis(5)).await;
    }

    #[tokio::test]
    async fn a_login_right_after_a_backchannel_logout_by_sub_survives_on_every_replica() {
        let dir = scratch::tempdir().unwrap();
        let db = dir.path().join("sessions.db");
        let (port_a, port_b) = (free_port(), free_port());
        let provider = provider_for(port_a).await;
        let secrets = format!(
            "{}session_store = \"sqlite://{}\"\n",
            provider.secrets_toml(REDIRECT, COOKIE_SECRET),
            db.display()
        );
        let a = start_app_on(port_a, &secrets, "", |b| b).await;
        let b = start_app_on(port_b, &secrets, "", |b| b).await;
        let (old, _) = log_in(&provider, &a, &ada()).await;

        // The provider ends all of Ada's sessions, and she logs in again in the same second
        // (the "ended" marker and the login time are whole seconds).
        start_of_a_second().await;
        let answer = provider
            .backchannel_logout(LogoutTarget::Sub(ada().subject()))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let (new, _) = log_in(&provider, &b, &ada()).await;

        // Past every replica's local copy: what the store says is what counts.
        tokio::time::sleep(Duration::from_millis(900)).await;
        for app in [&a, &b] {
            assert!(!logged_in(app, &old).await, "the session from before ended");
            assert!(
                logged_in(app, &new).await,
                "the login after the logout lives on {}",
                app.base
            );
        }
    }
}
