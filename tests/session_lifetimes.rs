//! Sessions that live as long as the provider says (issue 13): fresh access tokens from
//! refresh tokens (single-flight, rotation, revocation, a provider that is down), the
//! refreshed ID token's checks, userinfo, tokens sealed at rest, and the idle, absolute
//! and provider-following lifetimes. Against the development provider on a loopback port.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use support::logs::Logs;
use support::{cookie_pair, logged_in, start_app_with, App, Browser, COOKIE_SECRET, REDIRECT};
use tower_oidc_login::testing::{
    DevProvider, DevProviderBuilder, Misbehaviour, RefreshTokenIssue, RefreshTokenRotation,
};

/// `[auth]` keys every app here has: handlers may read access tokens, and the provider is
/// asked for a refresh token the usual way (`offline_access`).
const EXPOSE: &str = "expose_tokens = [\"id\", \"access\"]\n";
const OFFLINE: &str = "client_kwargs = { scope = \"openid email profile offline_access\" }\n";

/// A provider from `builder` and an app with `auth` (lines for `[auth]`) and `provider`
/// (lines for the provider, which is `[auth]`'s own).
async fn setup(builder: DevProviderBuilder, auth: &str, provider: &str) -> (DevProvider, App) {
    let dev = builder.start().await.expect("provider starts");
    let secrets = dev.secrets_toml(REDIRECT, COOKIE_SECRET).replacen(
        "[auth]\n",
        &format!("[auth]\n{auth}"),
        1,
    ) + provider;
    let app = start_app_with(&secrets, "", |b| b).await;
    (dev, app)
}

async fn token(browser: &Browser, app: &App) -> (StatusCode, Value) {
    let r = browser
        .client
        .get(app.url("/token"))
        .send()
        .await
        .expect("GET /token");
    let status = r.status();
    (status, r.json().await.expect("JSON"))
}

/// Access tokens of two seconds: refreshed once less than half their lifetime is left (a
/// token living under two minutes needs half of it, not a minute: see `User::access_token`).
const SHORT: Duration = Duration::from_secs(2);

/// Waits until a token of [`SHORT`] issued now is past half its lifetime.
async fn past_half() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn refreshes(dev: &DevProvider) -> u64 {
    dev.request_counts().refresh
}

/// The refresh tokens the app redeemed, in order.
fn redeemed(dev: &DevProvider) -> Vec<String> {
    dev.token_calls()
        .iter()
        .filter(|c| c.param("grant_type") == Some("refresh_token"))
        .filter_map(|c| c.param("refresh_token").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_token_with_time_left_is_handed_out_without_asking_the_provider() {
    let (dev, app) = setup(DevProvider::builder(), EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    let (status, body) = token(&browser, &app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("a token");
    assert!(!token.is_empty());
    let expires = body["expires_at"].as_i64().expect("expires_at");
    let now = tower_oidc_login_now();
    assert!(
        (now + 3500..=now + 3601).contains(&expires),
        "{expires} vs {now}"
    );
    assert_eq!(refreshes(&dev), 0);
    // `tokens()` shows the same access token.
    let shown = browser.json(&app.url("/tokens")).await;
    assert_eq!(shown["access"], true);
}

fn tower_oidc_login_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test]
async fn twenty_concurrent_calls_make_one_refresh_and_share_its_token() {
    let builder = DevProvider::builder().access_token_lifetime(SHORT);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    assert_eq!(refreshes(&dev), 0);
    past_half().await;
    // Twenty requests in flight at once, as twenty tabs of one user would send them.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = browser.client.get(app.url("/token"));
            tokio::spawn(async move {
                let r = request.send().await.expect("GET /token");
                (r.status(), r.json::<Value>().await.expect("JSON"))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    assert_eq!(refreshes(&dev), 1, "one refresh request for 20 calls");
    let first = answers[0].1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(
            body["access_token"],
            first.as_str(),
            "all share the new token"
        );
    }
    let expires = answers[0].1["expires_at"].as_i64().expect("expires_at");
    assert!(expires > tower_oidc_login_now(), "the new token's expiry");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_the_one_used_next_time() {
    let builder = DevProvider::builder()
        .access_token_lifetime(SHORT)
        .refresh_token_rotation(RefreshTokenRotation::Rotate);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        past_half().await;
        let (status, body) = token(&browser, &app).await;
        // Reusing a rotated token would revoke the grant: a 401 here.
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.push(body["access_token"].as_str().expect("token").to_owned());
    }
    assert_eq!(refreshes(&dev), 3);
    let used = redeemed(&dev);
    assert_eq!(used.len(), 3);
    assert!(
        used[0] != used[1] && used[1] != used[2],
        "each refresh used the newest token"
    );
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2]);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn an_unrotated_refresh_token_is_kept_and_used_again() {
    let builder = DevProvider::builder()
        .access_token_lifetime(SHORT)
        .refresh_token_rotation(RefreshTokenRotation::Keep);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    for _ in 0..2 {
        past_half().await;
        assert_eq!(token(&browser, &app).await.0, StatusCode::OK);
    }
    let used = redeemed(&dev);
    assert_eq!(used.len(), 2);
    assert_eq!(used[0], used[1], "the same refresh token, kept");
}

#[tokio::test]
async fn a_revoked_grant_ends_the_session_with_one_warning_and_no_token_in_it() {
    let logs = Logs::capture();
    let builder = DevProvider::builder().access_token_lifetime(SHORT);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    let sub = browser.me(&app).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    assert!(dev.revoke_grants(&sub) > 0);
    past_half().await;
    let (status, body) = token(&browser, &app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "session_ended");
    // The next request is anonymous, and its answer deletes the cookie.
    let r = browser
        .client
        .get(app.url("/me"))
        .send()
        .await
        .expect("GET");
    let removal = cookie_pair(r.headers(), "oidc_session");
    assert_eq!(
        r.json::<Value>().await.expect("JSON")["is_logged_in"],
        false
    );
    assert!(removal.is_some(), "the stale cookie is removed");
    let warnings = logs.matching(&["WARN", "refresh refused"]);
    assert_eq!(warnings.len(), 1, "{:#?}", logs.lines());
    assert!(warnings[0].contains("invalid_grant"), "{}", warnings[0]);
    for secret in redeemed(&dev) {
        assert!(
            logs.lines().iter().all(|l| !l.contains(&secret)),
            "a refresh token was logged"
        );
    }
}

#[tokio::test]
async fn a_provider_that_is_down_is_a_503_and_the_session_survives() {
    let logs = Logs::capture();
    let builder = DevProvider::builder().access_token_lifetime(SHORT);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    dev.misbehave(Misbehaviour::TokenEndpointUnavailable);
    past_half().await;
    let r = browser
        .client
        .get(app.url("/token"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"], "provider_unavailable");
    assert_eq!(
        browser.me(&app).await["is_logged_in"],
        true,
        "the session survives"
    );
    assert_eq!(
        logs.matching(&["WARN", "refresh failed"]).len(),
        1,
        "{:#?}",
        logs.lines()
    );
    dev.behave();
    assert_eq!(
        token(&browser, &app).await.0,
        StatusCode::OK,
        "a later call succeeds"
    );
}

#[tokio::test]
async fn without_a_refresh_token_an_expiring_access_token_is_a_401() {
    let builder = DevProvider::builder()
        .access_token_lifetime(SHORT)
        .refresh_tokens(RefreshTokenIssue::Never);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    let browser = logged_in(&app).await;
    past_half().await;
    let (status, body) = token(&browser, &app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "access_token_expired");
    assert_eq!(refreshes(&dev), 0);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn anonymous_and_not_exposed_are_clear_answers() {
    let (_dev, app) = setup(DevProvider::builder(), "", OFFLINE).await;
    let (status, body) = token(&Browser::new(), &app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "not_logged_in");
    let browser = logged_in(&app).await;
    let (status, body) = token(&browser, &app).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "access_token_not_exposed");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .contains("expose_tokens"));
}

#[tokio::test]
async fn a_refreshed_id_token_must_name_the_same_user() {
    let builder = DevProvider::builder().access_token_lifetime(SHORT);
    let (dev, app) = setup(builder, EXPOSE, OFFLINE).await;
    // The original nonce repeated is allowed (OpenID Connect Core 12.2).
    let browser = logged_in(&app).await;
    let exp_before = browser.me(&app).await["exp"].as_i64().expect("exp");
    past_half().await;
    dev.misbehave(Misbehaviour::RefreshedIdTokenOriginalNonce);
    assert_eq!(token(&browser, &app).await.0, StatusCode::OK);
    let exp_after = browser.me(&app).await["exp"].as_i64().expect("exp");
    assert!(
        exp_after > exp_before,
        "the refreshed ID token's claims update the user"
    );

    for misbehaviour in [
        Misbehaviour::RefreshedIdTokenOtherSubject,
        Misbehaviour::RefreshedIdTokenOtherNonce,
    ] {
        dev.behave();
        let browser = logged_in(&app).await;
        dev.misbehave(misbehaviour.clone());
        past_half().await;
        let (status, body) = token(&browser, &app).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{misbehaviour:?}: {body}");
        assert_eq!(body["error"], "session_ended");
        assert_eq!(
            browser.me(&app).await["is_logged_in"],
            false,
            "{misbehaviour:?}"
        );
    }
}

#[tokio::test]
async fn userinfo_claims_join_the_user_and_another_sub_is_refused() {
    let (dev, app) = setup(DevProvider::builder(), "", "fetch_userinfo = true\n").await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/auth/login")).await;
    let authorize = support::location(r.headers());
    let html = browser.get(&authorize).await.text().await.expect("form");
    let form = support::Form::parse(&html);
    let mut fields = form.hidden.clone();
    fields.extend([
        ("name".to_owned(), "Alice".to_owned()),
        ("email".to_owned(), "alice@example.com".to_owned()),
        (
            "userinfo_claims".to_owned(),
            r#"{"department": "R&D"}"#.to_owned(),
        ),
        ("action".to_owned(), "sign_in".to_owned()),
    ]);
    let r = browser
        .client
        .post(&form.action)
        .form(&fields)
        .send()
        .await
        .expect("POST");
    let _ = browser.get(&support::location(r.headers())).await;
    let me = browser.me(&app).await;
    assert_eq!(me["is_logged_in"], true);
    assert_eq!(me["department"], "R&D", "the userinfo claim joined: {me}");
    let counts = dev.request_counts();
    assert_eq!(counts.userinfo, 1, "one userinfo request at login");

    dev.misbehave(Misbehaviour::UserinfoWrongSubject);
    let other = Browser::new();
    let r = other
        .login(&app.url("/auth/login"), "Alice", "alice@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.expect("page");
    assert!(page.contains("another user"), "{page}");
    assert_eq!(other.me(&app).await["is_logged_in"], false, "no session");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn tokens_are_sealed_at_rest() {
    let dir = support::scratch::tempdir().expect("tempdir");
    let db = dir.path().join("sessions.db");
    let store = format!("session_store = \"sqlite://{}\"\n{EXPOSE}", db.display());
    // A kept (unrotated) refresh token: the one the app redeemed is the one it still stores.
    let builder = DevProvider::builder()
        .access_token_lifetime(SHORT)
        .refresh_token_rotation(RefreshTokenRotation::Keep);
    let (dev, app) = setup(builder, &store, OFFLINE).await;
    let browser = logged_in(&app).await;
    past_half().await;
    let (_, body) = token(&browser, &app).await;
    let access = body["access_token"].as_str().expect("token").to_owned();
    let refresh = redeemed(&dev).first().cloned().expect("a refresh was made");
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        on_disk.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let on_disk = String::from_utf8_lossy(&on_disk);
    assert!(
        on_disk.contains("tower_oidc_login.user"),
        "the session is there"
    );
    assert!(
        !on_disk.contains(&access),
        "the access token is not readable at rest"
    );
    assert!(
        !on_disk.contains(&refresh),
        "the refresh token is not readable at rest"
    );
    assert!(!dev.token_calls().is_empty());
}

#[tokio::test]
async fn an_idle_session_ends_and_a_busy_one_slides() {
    let (_dev, app) = setup(
        DevProvider::builder(),
        "session_idle_timeout = \"3s\"\n",
        "",
    )
    .await;
    let browser = logged_in(&app).await;
    // Requests every half second for longer than the timeout keep it alive.
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(browser.me(&app).await["is_logged_in"], true);
    }
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        browser.me(&app).await["is_logged_in"],
        false,
        "idle too long"
    );
}

#[tokio::test]
async fn the_absolute_lifetime_ends_even_a_busy_session() {
    // Session ends are whole Unix seconds, so a `session_max_age` of 4 s ends a session
    // between 3 and 4 s after its login. The busy requests stay within the first 2.5 s
    // (with room for a slow machine), the last one comes after 4.5 s.
    let (_dev, app) = setup(
        DevProvider::builder(),
        "session_max_age = \"4s\"\nsession_idle_timeout = \"1h\"\n",
        "",
    )
    .await;
    let browser = Browser::new();
    let r = browser
        .login(&app.url("/auth/login"), "Alice", "alice@example.com")
        .await;
    let set_cookie = support::set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("a session cookie");
    assert!(
        set_cookie.contains("Max-Age=4;") || set_cookie.ends_with("Max-Age=4"),
        "{set_cookie}"
    );
    let logged_in_at = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(browser.me(&app).await["is_logged_in"], true);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(4500).saturating_sub(logged_in_at.elapsed())).await;
    assert_eq!(
        browser.me(&app).await["is_logged_in"],
        false,
        "past session_max_age"
    );
}

#[tokio::test]
async fn following_the_provider_without_a_refresh_token_ends_with_the_id_token() {
    let builder = DevProvider::builder()
        .id_token_lifetime(Duration::from_secs(2))
        .refresh_tokens(RefreshTokenIssue::Never);
    let (_dev, app) = setup(builder, "session_follows_provider = true\n", "").await;
    let browser = logged_in(&app).await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        browser.me(&app).await["is_logged_in"],
        false,
        "ended with the ID token"
    );
}

#[tokio::test]
async fn following_the_provider_refreshes_at_expiry_and_ends_when_refused() {
    let builder = DevProvider::builder()
        .id_token_lifetime(Duration::from_secs(2))
        .access_token_lifetime(Duration::from_secs(2))
        .refresh_tokens(RefreshTokenIssue::Always);
    // No `expose_tokens`: the refresh token is kept for following the provider alone.
    let (dev, app) = setup(builder, "session_follows_provider = true\n", "").await;
    let browser = logged_in(&app).await;
    let exp = browser.me(&app).await["exp"].as_i64().expect("exp");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let me = browser.me(&app).await;
    assert_eq!(me["is_logged_in"], true, "refreshed, still in");
    assert_eq!(refreshes(&dev), 1);
    assert!(me["exp"].as_i64().expect("exp") > exp, "a new ID token");
    let sub = me["sub"].as_str().expect("sub").to_owned();
    dev.revoke_grants(&sub);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        browser.me(&app).await["is_logged_in"],
        false,
        "the provider said no"
    );
}
