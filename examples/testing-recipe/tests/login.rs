//! Logs a user in to the real app, over HTTP, with the development provider.

use serde_json::{json, Value};
use tower_oidc_login::testing::{DevProvider, DevUser};
use tower_oidc_login::AuthConfig;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The app on a free loopback port (port 0: the system picks one), configured for `provider`.
/// Returns its base URL.
async fn serve_app(provider: &DevProvider) -> Result<String, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let secrets = provider.secrets_toml(
        "http://127.0.0.1:{port}/oauth2callback",
        "a cookie secret for tests only, 32 bytes or more",
    );
    let app = testing_recipe::app(AuthConfig::from_toml_str(&secrets)?, port)?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn a_logged_in_user_sees_their_claims_and_the_private_page() -> TestResult {
    let provider = DevProvider::start().await?;
    let base = serve_app(&provider).await?;

    let user = DevUser::new("Ada", "ada@example.com").claim("groups", json!(["admins"]));
    let login = provider
        .login_as(&format!("{base}/auth/login"), &user)
        .await?;

    let client = reqwest::Client::new();
    let me: Value = client
        .get(format!("{base}/me"))
        .header("cookie", &login.cookie)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["is_logged_in"], true);
    assert_eq!(me["name"], "Ada");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["groups"], json!(["admins"]));

    let private = client
        .get(format!("{base}/private"))
        .header("cookie", &login.cookie)
        .send()
        .await?;
    assert_eq!(private.status(), 200);
    assert_eq!(private.text().await?, "Hello Ada");
    Ok(())
}

#[tokio::test]
async fn an_anonymous_visitor_is_refused_the_private_page() -> TestResult {
    let provider = DevProvider::start().await?;
    let base = serve_app(&provider).await?;
    let client = reqwest::Client::new();

    let me: Value = client
        .get(format!("{base}/me"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me, json!({ "is_logged_in": false }));
    // 401 for a client that does not ask for HTML; a browser is sent to the login instead.
    let private = client.get(format!("{base}/private")).send().await?;
    assert_eq!(private.status(), 401);
    Ok(())
}
