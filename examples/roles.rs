//! Who may reach what: an app with an admin section only for the `Admin` role, a reports
//! page for a policy type, and an after-login hook that resolves a Microsoft Entra groups
//! overage through Microsoft Graph.
//!
//! ```text
//! cargo run --example roles
//! ```
//!
//! Zero setup, like the quickstart: without `.streamlit/secrets.toml` the embedded
//! development provider stands in. Its sign-in form has an "Extra claims" box: sign in with
//! `{"roles": ["Admin"]}` to reach `/admin`, with `{"roles": ["Reports.Read"]}` for
//! `/reports`, or with neither to see the 403 page. Who may log in at all is configuration
//! (`allowed_emails`, `allowed_groups`, … in `secrets.toml`; see the README's "Who may log
//! in"); this example is about rules per route and the hook.
//!
//! Routes: `/` (who you are), `/admin` (role `Admin`, with `RequireLoginLayer`),
//! `/reports` (role `Reports.Read`, with the `Authorized` extractor).

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};

use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use tower_oidc_login::extract::{Authorized, Policy};
use tower_oidc_login::testing::config_or_dev_provider;
use tower_oidc_login::{AfterLogin, AuthLayer, BoxError, LoginInfo, RequireLoginLayer, User};

/// Who may read the reports: a type, so the rule is checked where the handler says so.
struct ReportReaders;

impl Policy for ReportReaders {
    fn allows(user: &User) -> bool {
        user.has_role("Reports.Read")
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8501);
    let (config, _dev_provider) = config_or_dev_provider().await?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    let auth = AuthLayer::builder(config)
        .port(port)
        .after_login(resolve_groups_overage)
        .build()?;

    // The admin section: every route in it needs a login and the `Admin` role. Anonymous
    // browsers are sent to log in (API clients get 401); logged-in users without the role
    // get 403 (a page for browsers, JSON for APIs).
    let admin = Router::new()
        .route("/", get(|user: User| async move { admin_page(&user) }))
        .layer(RequireLoginLayer::new().require_roles(["Admin"]));

    let app = Router::new()
        .route("/", get(index))
        .route("/reports", get(reports))
        .nest("/admin", admin)
        .layer(auth);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("Open http://127.0.0.1:{port}/ in your browser");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn index(user: User) -> String {
    match user.name() {
        Some(name) if user.is_logged_in() => format!(
            "Hello {name}; roles {:?}. Try /admin and /reports.",
            user.claim::<Vec<String>>("roles").unwrap_or_default()
        ),
        _ => "Not logged in: /auth/login".to_owned(),
    }
}

fn admin_page(user: &User) -> String {
    format!("Admin section, for {}", user.email().unwrap_or("you"))
}

async fn reports(Authorized(user, ..): Authorized<ReportReaders>) -> String {
    format!("Reports for {}", user.name().unwrap_or("you"))
}

/// Over 200 groups, Entra ID leaves `groups` out of the ID token and names a source in
/// `_claim_names` instead (an *overage*). This hook asks Microsoft Graph for the user's
/// group ids with the login's access token (the app registration needs the delegated
/// `GroupMember.Read.All` permission), so `allowed_groups` and per-route group rules see
/// them. Other logins are admitted unchanged. An error here refuses the login (503, no
/// session), as a failing hook must.
async fn resolve_groups_overage(login: LoginInfo) -> Result<AfterLogin, BoxError> {
    if !login.has_groups_overage() {
        return Ok(AfterLogin::Admit);
    }
    let graph =
        std::env::var("GRAPH_URL").unwrap_or_else(|_| "https://graph.microsoft.com".into());
    let answer: Value = reqwest::Client::new()
        .post(format!("{graph}/v1.0/me/getMemberObjects"))
        .bearer_auth(login.access_token())
        .json(&json!({ "securityEnabledOnly": true }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut added = Map::new();
    added.insert("groups".into(), answer["value"].clone());
    Ok(AfterLogin::AdmitWith(added))
}
