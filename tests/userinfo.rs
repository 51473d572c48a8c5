//! `fetch_userinfo`: the userinfo response merged into the user's claims at login and at
//! refresh, refused when it is about another `sub`; and how many requests the provider
//! gets per login and per refresh, with and without it (one login stays one token request
//! when it is off). Real HTTP on 127.0.0.1 against the embedded development provider.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::logs::Logs;
use support::*;
use tower_oidc_login::testing::{
    DevLoginError, DevProvider, DevUser, LoginStep, Misbehaviour, RequestCounts,
};

/// Access tokens of a few seconds: one is refreshed once it has less than half of that left.
const SHORT_ACCESS_TOKENS: Duration = Duration::from_secs(4);

/// Until the session's access token needs a refresh.
async fn until_a_refresh_is_due() {
    tokio::time::sleep(SHORT_ACCESS_TOKENS / 2 + Duration::from_millis(100)).await;
}

/// The app's secrets: refresh tokens (`offline_access`), access tokens exposed to handlers,
/// and `fetch_userinfo` as given.
fn secrets(provider: &DevProvider, fetch_userinfo: bool) -> String {
    format!(
        "{}expose_tokens = [\"id\", \"access\"]\nfetch_userinfo = {fetch_userinfo}\n\n\
         [auth.client_kwargs]\nscope = \"openid email profile offline_access\"\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET)
    )
}

async fn provider_and_app(fetch_userinfo: bool) -> (DevProvider, App) {
    let provider = DevProvider::builder()
        .access_token_lifetime(SHORT_ACCESS_TOKENS)
        .start()
        .await
        .expect("provider starts");
    let app = start_app(&secrets(&provider, fetch_userinfo)).await;
    (provider, app)
}

fn ada() -> DevUser {
    DevUser::new("Ada", "ada@example.com").userinfo_claim("department", "R&D")
}

/// What the provider received since `before`.
fn since(before: &RequestCounts, after: &RequestCounts) -> [(&'static str, u64); 7] {
    [
        ("discovery", after.discovery - before.discovery),
        ("jwks", after.jwks - before.jwks),
        ("authorize", after.authorize - before.authorize),
        ("sign_in", after.sign_in - before.sign_in),
        ("token", after.token - before.token),
        ("refresh", after.refresh - before.refresh),
        ("userinfo", after.userinfo - before.userinfo),
    ]
}

/// `GET /token` with `cookie`: the status and the JSON body.
async fn token(app: &App, cookie: &str) -> (StatusCode, serde_json::Value) {
    let answer = reqwest::Client::new()
        .get(app.url("/token"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET /token");
    let status = answer.status();
    (status, answer.json().await.expect("JSON"))
}

#[tokio::test]
async fn fetch_userinfo_adds_the_userinfo_claims_at_login() {
    let (provider, app) = provider_and_app(true).await;
    let login = provider
        .login_as(&app.url("/auth/login"), &ada())
        .await
        .expect("login");
    let me = json_with_cookie(&app.url("/me"), &login.cookie).await;
    assert_eq!(me["department"], "R&D", "{me}");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(provider.request_counts().userinfo, 1);
}

#[tokio::test]
async fn userinfo_about_another_subject_refuses_the_login() {
    let logs = Logs::capture();
    let (provider, app) = provider_and_app(true).await;
    provider.misbehave(Misbehaviour::UserinfoWrongSubject);
    match provider.login_as(&app.url("/auth/login"), &ada()).await {
        Err(DevLoginError::UnexpectedStatus {
            step: LoginStep::AppCallback,
            status: 400,
            body,
            ..
        }) => assert!(body.contains("userinfo"), "{body}"),
        other => panic!("a userinfo response about another user must be refused: {other:?}"),
    }
    assert_eq!(provider.request_counts().userinfo, 1);
    let refused = logs.matching(&["WARN", "userinfo"]);
    assert!(
        !refused.is_empty(),
        "the reason is logged: {:#?}",
        logs.lines()
    );

    // The same provider, behaving: the login goes through.
    provider.behave();
    let login = provider
        .login_as(&app.url("/auth/login"), &ada())
        .await
        .expect("login");
    let me = json_with_cookie(&app.url("/me"), &login.cookie).await;
    assert_eq!(me["sub"], ada().subject());
}

#[tokio::test]
async fn without_fetch_userinfo_userinfo_is_never_called() {
    let (provider, app) = provider_and_app(false).await;
    // Whatever userinfo would say does not matter: it is not asked.
    provider.misbehave(Misbehaviour::UserinfoWrongSubject);
    let login = provider
        .login_as(&app.url("/auth/login"), &ada())
        .await
        .expect("login");
    let me = json_with_cookie(&app.url("/me"), &login.cookie).await;
    assert_eq!(me["is_logged_in"], true);
    assert!(me.get("department").is_none(), "{me}");
    let (status, body) = token(&app, &login.cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(provider.request_counts().userinfo, 0);
}

#[tokio::test]
async fn a_refresh_whose_userinfo_is_about_another_subject_ends_the_session() {
    let (provider, app) = provider_and_app(true).await;
    let login = provider
        .login_as(&app.url("/auth/login"), &ada())
        .await
        .expect("login");
    provider.misbehave(Misbehaviour::UserinfoWrongSubject);
    until_a_refresh_is_due().await;
    let (status, body) = token(&app, &login.cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "session_ended");
    let me = json_with_cookie(&app.url("/me"), &login.cookie).await;
    assert_eq!(me["is_logged_in"], false);
}

/// Measures what the provider receives per login and per refresh, and holds the app to
/// it: the first login of the process adds discovery and the key set, later ones are one
/// token request (plus userinfo with `fetch_userinfo`); a refresh is one token request
/// (plus userinfo).
async fn requests_per_login_and_refresh(fetch_userinfo: bool) {
    let (provider, app) = provider_and_app(fetch_userinfo).await;
    let userinfo = u64::from(fetch_userinfo);
    let login_url = app.url("/auth/login");

    let before = provider.request_counts();
    let first = provider.login_as(&login_url, &ada()).await.expect("login");
    let first_login = since(&before, &provider.request_counts());

    let before = provider.request_counts();
    let second = provider
        .login_as(&login_url, &DevUser::new("Bob", "bob@example.com"))
        .await
        .expect("login");
    let next_login = since(&before, &provider.request_counts());

    // Just logged in: the token is handed out as it is.
    let before = provider.request_counts();
    let (status, body) = token(&app, &first.cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let no_refresh = since(&before, &provider.request_counts());

    until_a_refresh_is_due().await;
    let before = provider.request_counts();
    let (status, body) = token(&app, &first.cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = since(&before, &provider.request_counts());

    // Twenty concurrent calls of one session: one refresh, one token for all.
    let before = provider.request_counts();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (url, cookie) = (app.url("/token"), second.cookie.clone());
        calls.spawn(async move {
            let answer = reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("GET /token");
            let status = answer.status();
            (
                status,
                answer.json::<serde_json::Value>().await.expect("JSON"),
            )
        });
    }
    let answers = calls.join_all().await;
    let concurrent = since(&before, &provider.request_counts());
    let first_answer = &answers[0].1["access_token"];
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(&body["access_token"], first_answer);
    }

    // Calls that come just after the refresh take its token: a provider's short-lived
    // tokens are not refreshed at every call.
    let before = provider.request_counts();
    for _ in 0..5 {
        let (status, body) = token(&app, &second.cookie).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(&body["access_token"], first_answer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after_refresh = since(&before, &provider.request_counts());
    assert!(
        after_refresh.iter().all(|(_, n)| *n == 0),
        "{after_refresh:?}"
    );

    eprintln!(
        "fetch_userinfo = {fetch_userinfo}: first login {first_login:?}; next login \
         {next_login:?}; refresh {refresh:?}; 20 concurrent /token {concurrent:?}"
    );
    // The browser's own requests at the provider (authorize, sign_in) are 1 each.
    let browser = [("authorize", 1), ("sign_in", 1)];
    let expect = |discovery, jwks, token, refresh| {
        [
            ("discovery", discovery),
            ("jwks", jwks),
            browser[0],
            browser[1],
            ("token", token),
            ("refresh", refresh),
            ("userinfo", userinfo),
        ]
    };
    assert_eq!(first_login, expect(1, 1, 1, 0), "first login");
    assert_eq!(next_login, expect(0, 0, 1, 0), "a later login");
    let no_browser = |mut counts: [(&'static str, u64); 7]| {
        counts[2].1 = 0;
        counts[3].1 = 0;
        counts
    };
    assert!(no_refresh.iter().all(|(_, n)| *n == 0), "{no_refresh:?}");
    assert_eq!(refresh, no_browser(expect(0, 0, 0, 1)), "a refresh");
    assert_eq!(
        concurrent,
        no_browser(expect(0, 0, 0, 1)),
        "20 concurrent calls"
    );
}

#[tokio::test]
async fn provider_requests_per_login_and_per_refresh() {
    requests_per_login_and_refresh(false).await;
}

#[tokio::test]
async fn provider_requests_per_login_and_per_refresh_with_fetch_userinfo() {
    requests_per_login_and_refresh(true).await;
}
