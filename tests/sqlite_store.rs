//! `session_store = "sqlite://PATH"`: one server whose users stay logged in across restarts,
//! in a file only its user can read; a path that cannot hold the file is a `ConfigError`
//! naming the key; an expired session is anonymous at once. (The sweep that deletes expired
//! sessions from the file is tested next to the store, in src/session/stores/sqlite.rs,
//! where its period can be shortened.)

#![cfg(feature = "sqlite")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::StatusCode;
use support::*;
use tower_oidc_login::testing::DevProvider;
use tower_oidc_login::{AuthConfig, AuthLayer, ConfigError};

/// The development provider's configuration with sessions in the file at `path`.
fn secrets(provider: &DevProvider, path: &Path) -> String {
    format!(
        "{}session_store = \"sqlite://{}\"\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET),
        path.display()
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_restarted_on_the_same_file_keeps_its_users_logged_in() {
    let dir = scratch::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let provider = DevProvider::start().await.unwrap();
    let browser = Browser::new();
    let cookie = {
        let app = start_app(&secrets(&provider, &path)).await;
        let done = browser
            .login(&app.url("/auth/login"), "Ada", "ada@example.com")
            .await;
        assert_eq!(done.status(), StatusCode::FOUND);
        assert_eq!(browser.me(&app).await["email"], "ada@example.com");
        browser
            .jar
            .cookies(&app.base.parse().unwrap())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
        // The app, its layer and its store are dropped here: the "restart".
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let app = start_app(&secrets(&provider, &path)).await;
    let me = json_with_cookie(&app.url("/me"), &cookie).await;
    assert_eq!(me["is_logged_in"], true, "{me}");
    assert_eq!(me["email"], "ada@example.com");
    let r = browser.get(&app.url("/private")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(provider.request_counts().token, 1, "no second login");

    // And a logout after the restart ends the session for good.
    let r = browser
        .client
        .post(app.url("/auth/logout"))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let again = start_app(&secrets(&provider, &path)).await;
    assert_eq!(
        json_with_cookie(&again.url("/me"), &cookie).await["is_logged_in"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_file_is_created_readable_by_its_user_only() {
    let dir = scratch::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let provider = DevProvider::start().await.unwrap();
    let app = start_app(&secrets(&provider, &path)).await;
    assert_eq!(mode(&path), 0o600, "created when the layer is built");

    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    // SQLite gives its journal files the database file's mode.
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let file = entry.unwrap().path();
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        files += 1;
    }
    assert!(files >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_reads_as_anonymous_before_the_sweep_deletes_it() {
    let dir = scratch::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let provider = DevProvider::start().await.unwrap();
    let app = start_app_with(&secrets(&provider, &path), "", |b| {
        b.session_lifetime(Duration::from_secs(1))
    })
    .await;
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "Ada", "ada@example.com")
        .await;
    let cookie = browser
        .jar
        .cookies(&app.base.parse().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        json_with_cookie(&app.url("/me"), &cookie).await["is_logged_in"],
        true
    );
    // Past the expiry (and the layer's local copy); the sweep runs every few minutes.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let r = reqwest::Client::new()
        .get(app.url("/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        cookie_pair(r.headers(), "oidc_session").is_some(),
        "the expired session's cookie is removed"
    );
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["is_logged_in"],
        false
    );
}

#[tokio::test]
async fn a_path_that_cannot_hold_the_file_is_a_config_error_naming_the_key() {
    let dir = scratch::tempdir().unwrap();
    let provider = DevProvider::start().await.unwrap();
    for (path, says) in [
        (dir.path().to_path_buf(), "is not a file"),
        (
            dir.path().join("missing").join("sessions.db"),
            "cannot create",
        ),
    ] {
        let config = AuthConfig::from_toml_str(&secrets(&provider, &path)).unwrap();
        let e = AuthLayer::builder(config).port(8501).build().unwrap_err();
        assert!(
            matches!(&e, ConfigError::InvalidValue { key, .. } if key == "auth.session_store"),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(message.contains("auth.session_store"), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    assert!(
        !dir.path().join("missing").exists(),
        "no directory is created"
    );
}
