//! Who may log in: the `allowed_*` rules of secrets.toml, the after-login hook, and rules
//! per route. A refused user gets a 403 page saying who they are signed in as and which
//! kind of rule refused them, no session cookie, and one `info` log line naming the rule.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::json;
use support::logs::Logs;
use support::*;
use tower_oidc_login::extract::{Authorized, Policy};
use tower_oidc_login::session::{Id, MemoryStore, Record, SessionStore, StoreError};
use tower_oidc_login::testing::{DevLoginError, DevProvider, DevUser, LoginStep, Misbehaviour};
use tower_oidc_login::{
    AfterLogin, AuthConfig, AuthLayerBuilder, BoxError, LoginInfo, RequireLoginLayer, User,
};

/// An app whose `[auth]` table ends with `rules` (so a rule there is every provider's).
async fn app_with_rules(rules: &str) -> (DevProvider, App) {
    app_customized(rules, |b| b).await
}

async fn app_customized(
    rules: &str,
    customize: impl FnOnce(AuthLayerBuilder) -> AuthLayerBuilder,
) -> (DevProvider, App) {
    let provider = DevProvider::start().await.unwrap();
    let secrets = format!(
        "{}{rules}\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET)
    );
    let app = start_app_with(&secrets, "", customize).await;
    (provider, app)
}

/// Logs `user` in and expects the callback to refuse with 403, showing `says`; returns the
/// page.
async fn assert_not_admitted(
    provider: &DevProvider,
    app: &App,
    user: &DevUser,
    says: &str,
) -> String {
    match provider.login_as(&app.url("/auth/login"), user).await {
        Err(DevLoginError::UnexpectedStatus {
            step: LoginStep::AppCallback,
            status: 403,
            body,
            ..
        }) => {
            assert!(body.contains(says), "{says:?} not in {body}");
            assert!(body.contains("Sign in with another account"), "{body}");
            body
        }
        other => panic!("expected a 403 at the callback, got {other:?}"),
    }
}

async fn assert_admitted(provider: &DevProvider, app: &App, user: &DevUser) -> serde_json::Value {
    let login = provider
        .login_as(&app.url("/auth/login"), user)
        .await
        .unwrap_or_else(|e| panic!("{} should be admitted: {e}", user.email()));
    json_with_cookie(&app.url("/me"), &login.cookie).await
}

#[tokio::test]
async fn allowed_emails_admit_listed_verified_addresses_only() {
    let logs = Logs::capture();
    let (provider, app) =
        app_with_rules("allowed_emails = [\"Ada@Example.com\", \"bob@example.org\"]").await;
    // Case as people type it.
    let me = assert_admitted(&provider, &app, &DevUser::new("Ada", "ada@EXAMPLE.com")).await;
    assert_eq!(me["is_logged_in"], true);

    let page = assert_not_admitted(
        &provider,
        &app,
        &DevUser::new("Eve", "eve@example.com"),
        "your email address is not one this app admits",
    )
    .await;
    assert!(page.contains("signed in as eve@example.com"), "{page}");
    assert!(
        !page.contains("ada@"),
        "the list itself is never shown: {page}"
    );
    let lines = logs.matching(&["login refused", "allowed_emails"]);
    assert_eq!(lines.len(), 1, "{:?}", logs.lines());
    assert!(lines[0].contains("INFO"), "{}", lines[0]);

    // An address the provider does not vouch for is refused even when listed.
    assert_not_admitted(
        &provider,
        &app,
        &DevUser::new("Ada", "ada@example.com").claim("email_verified", false),
        "did not say yours is verified",
    )
    .await;
}

#[tokio::test]
async fn allowed_email_domains_match_the_exact_domain() {
    let (provider, app) = app_with_rules("allowed_email_domains = [\"example.com\"]").await;
    assert_admitted(&provider, &app, &DevUser::new("Ada", "ada@Example.COM")).await;
    for email in [
        "eve@sub.example.com",
        "eve@evilexample.com",
        "eve@example.com.evil.test",
    ] {
        assert_not_admitted(
            &provider,
            &app,
            &DevUser::new("Eve", email),
            "domain is not one this app admits",
        )
        .await;
    }
    assert_not_admitted(
        &provider,
        &app,
        &DevUser::new("Ada", "ada@example.com").claim("email_verified", false),
        "did not say yours is verified",
    )
    .await;
}

#[tokio::test]
async fn groups_roles_and_tenants_need_the_claim() {
    let (provider, app) = app_with_rules(
        "allowed_groups = [\"g-admins\", \"g-staff\"]\nallowed_roles = [\"Reports.Read\"]\n\
         allowed_tenants = [\"9188040d-6c67-4c5b-b112-36a304b66dad\"]",
    )
    .await;
    let member = || {
        DevUser::new("Ada", "ada@example.com")
            .claim("groups", json!(["g-other", "g-staff"]))
            .claim("roles", json!(["Reports.Read"]))
            .claim("tid", "9188040D-6C67-4C5B-B112-36A304B66DAD")
    };
    assert_admitted(&provider, &app, &member()).await;
    assert_not_admitted(
        &provider,
        &app,
        &member().claim("groups", json!(["g-other"])),
        "not in a group this app admits",
    )
    .await;
    assert_not_admitted(
        &provider,
        &app,
        &member().claim("roles", json!(["reports.read"])),
        "do not have a role this app requires",
    )
    .await;
    assert_not_admitted(
        &provider,
        &app,
        &member().claim("tid", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        "your organization is not one this app admits",
    )
    .await;
    // A missing claim refuses like a wrong one.
    assert_not_admitted(
        &provider,
        &app,
        &DevUser::new("Ada", "ada@example.com"),
        "not in a group this app admits",
    )
    .await;
}

/// Whether `email` logs in at `app` with the provider called `name`.
async fn logs_in(app: &App, name: &str, provider: &DevProvider, email: &str) -> bool {
    let url = app.url(&format!("/auth/login?provider={name}"));
    provider
        .login_as(&url, &DevUser::new("U", email))
        .await
        .is_ok()
}

#[tokio::test]
async fn a_provider_table_overrides_the_auth_default() {
    let partner = DevProvider::start().await.unwrap();
    let corp = DevProvider::start().await.unwrap();
    let secrets = format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"{COOKIE_SECRET}\"\n\
         allowed_email_domains = [\"example.com\"]\n\n{}allowed_email_domains = [\"partner.test\"]\n\n{}",
        partner.provider_table("partner"),
        corp.provider_table("corp"),
    );
    let app = start_app(&secrets).await;
    assert!(
        logs_in(&app, "partner", &partner, "p@partner.test").await,
        "its own rule"
    );
    assert!(
        !logs_in(&app, "partner", &partner, "c@example.com").await,
        "not the default"
    );
    assert!(
        logs_in(&app, "corp", &corp, "c@example.com").await,
        "the [auth] default"
    );
    assert!(!logs_in(&app, "corp", &corp, "p@partner.test").await);
}

#[tokio::test]
async fn a_refused_user_gets_no_session() {
    let (provider, app) = app_with_rules("allowed_roles = [\"Admin\"]").await;
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "Eve", "eve@example.com", "")
        .await;
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(cookie_pair(r.headers(), "oidc_session").is_none());
    assert_eq!(browser.me(&app).await["is_logged_in"], false);
    // The login was real: the provider issued tokens.
    assert_eq!(provider.request_counts().token, 1);
}

// ---------------------------------------------------------------------------------------
// The after-login hook

fn counting_hook(
    calls: Arc<AtomicUsize>,
    decide: fn(&LoginInfo) -> Result<AfterLogin, BoxError>,
) -> impl Fn(LoginInfo) -> std::future::Ready<Result<AfterLogin, BoxError>> + Send + Sync + 'static
{
    move |login: LoginInfo| {
        calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            !login.access_token().is_empty(),
            "the hook sees the access token"
        );
        std::future::ready(decide(&login))
    }
}

#[tokio::test]
async fn the_hook_admits_refuses_adds_claims_or_fails() {
    let calls = Arc::new(AtomicUsize::new(0));
    let hook = counting_hook(calls.clone(), |login| {
        Ok(match login.claim_str("email") {
            Some("pro@example.com") => {
                let mut extra = serde_json::Map::new();
                extra.insert("plan".into(), json!("pro"));
                extra.insert("name".into(), json!("Pro User (from the app)"));
                AfterLogin::AdmitWith(extra)
            }
            Some("banned@example.com") => {
                AfterLogin::Refuse("<b>this account is suspended</b>".into())
            }
            Some("broken@example.com") => return Err("the database is down".into()),
            _ => AfterLogin::Admit,
        })
    });
    let logs = Logs::capture();
    let (provider, app) = app_customized("", move |b| b.after_login(hook)).await;

    let me = assert_admitted(&provider, &app, &DevUser::new("Ada", "ada@example.com")).await;
    assert!(me.get("plan").is_none());

    let me = assert_admitted(&provider, &app, &DevUser::new("Pro", "pro@example.com")).await;
    assert_eq!(me["plan"], "pro");
    assert_eq!(
        me["name"], "Pro User (from the app)",
        "the app's claim wins"
    );
    assert_eq!(me["email"], "pro@example.com", "the provider's claims stay");

    assert_not_admitted(
        &provider,
        &app,
        &DevUser::new("B", "banned@example.com"),
        "this account is suspended",
    )
    .await;
    // The hook's reason reaches the page HTML-escaped.
    let browser = Browser::new();
    let callback = browser
        .start_login(&app.url("/auth/login"), "B", "banned@example.com", "")
        .await;
    let html = browser.get(&callback).await.text().await.unwrap();
    assert!(
        html.contains("&lt;b&gt;this account is suspended&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>this"), "{html}");

    match provider
        .login_as(
            &app.url("/auth/login"),
            &DevUser::new("X", "broken@example.com"),
        )
        .await
    {
        Err(DevLoginError::UnexpectedStatus {
            status: 503, body, ..
        }) => {
            assert!(
                !body.contains("database"),
                "the app's error stays in the log: {body}"
            );
        }
        other => panic!("a failing hook fails the login, got {other:?}"),
    }
    assert_eq!(
        logs.matching(&["after-login hook failed", "database is down"])
            .len(),
        1
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5, "once per login");
}

#[tokio::test]
async fn the_hook_resolves_a_groups_overage_before_the_rules() {
    // Over 200 groups, Entra leaves them out of the token and names a source instead; the
    // hook resolves them (in a real app, from Microsoft Graph with the access token).
    let hook = |login: LoginInfo| async move {
        let mut extra = serde_json::Map::new();
        if login.has_groups_overage() {
            extra.insert("groups".into(), json!(["g-admins"]));
        }
        Ok::<_, BoxError>(AfterLogin::AdmitWith(extra))
    };
    let logs = Logs::capture();
    let (provider, app) = app_customized("allowed_groups = [\"g-admins\"]", move |b| {
        b.after_login(hook)
    })
    .await;
    let overage = DevUser::new("Ada", "ada@example.com")
        .claim("_claim_names", json!({"groups": "src1"}))
        .claim(
            "_claim_sources",
            json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}),
        );
    let me = assert_admitted(&provider, &app, &overage).await;
    assert_eq!(me["groups"], json!(["g-admins"]));
    assert_eq!(
        logs.matching(&["WARN", "_claim_names"]).len(),
        1,
        "{:?}",
        logs.lines()
    );

    // Without a hook, the overage is refused with its own words.
    let (provider, app) = app_with_rules("allowed_groups = [\"g-admins\"]").await;
    assert_not_admitted(&provider, &app, &overage, "left your groups out").await;
}

// ---------------------------------------------------------------------------------------
// Rules checked again when a session is read back

/// An external store (not the built-in one), so sessions are read back through the trait.
#[derive(Debug, Default)]
struct External(MemoryStore);

#[async_trait::async_trait]
impl SessionStore for External {
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.0.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.0.save(record).await
    }
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.0.delete(id).await
    }
}

#[tokio::test]
async fn changed_rules_apply_to_existing_sessions_after_a_restart() {
    let provider = DevProvider::start().await.unwrap();
    let store = Arc::new(External::default());
    let start = |rules: &str| {
        let store = store.clone();
        let secrets = format!(
            "{}{rules}\n",
            provider.secrets_toml(REDIRECT, COOKIE_SECRET)
        );
        async move { start_app_with(&secrets, "", move |b| b.shared_session_store(store)).await }
    };
    let before = start("").await;
    let eve = provider
        .login_as(
            &before.url("/auth/login"),
            &DevUser::new("Eve", "eve@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(
        json_with_cookie(&before.url("/me"), &eve.cookie).await["is_logged_in"],
        true
    );
    drop(before);

    // The app restarts with a rule Eve does not pass: her session ends at its next read.
    let after = start("allowed_email_domains = [\"corp.example\"]").await;
    let me = json_with_cookie(&after.url("/me"), &eve.cookie).await;
    assert_eq!(me["is_logged_in"], false);
}

// ---------------------------------------------------------------------------------------
// Rules per route

struct ReportReaders;

impl Policy for ReportReaders {
    fn allows(user: &User) -> bool {
        user.has_role("Reports.Read")
    }
}

#[tokio::test]
async fn route_rules_answer_403_to_logged_in_users_they_refuse_even_under_nest() {
    let provider = DevProvider::start().await.unwrap();
    let config =
        AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).unwrap();
    let admin = Router::new()
        .route("/panel", get(|| async { "panel" }))
        .route_layer(
            RequireLoginLayer::new()
                .require_roles(["Admin"])
                .require(|user: &User| user.email().is_some_and(|e| e.ends_with("@example.com"))),
        );
    let reports = Router::new().route(
        "/reports",
        get(
            |Authorized(user, ..): Authorized<ReportReaders>| async move {
                Json(json!({"reader": user.email()}))
            },
        ),
    );
    let app = serve_configured(
        0,
        config,
        |b| b,
        |auth| {
            Router::new()
                .nest("/app", Router::new().nest("/admin", admin).merge(reports))
                .layer(auth)
        },
    )
    .await;
    let base = &app.base;

    // Anonymous: what they get today (a login redirect for browsers, 401 for APIs), with the
    // full path to come back to.
    let browser = Browser::new();
    let r = browser.get(&format!("{base}/app/admin/panel")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(r.headers()).contains("return_to=%2Fapp%2Fadmin%2Fpanel"));
    let r = reqwest::get(format!("{base}/app/reports")).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Logged in without the role: 403, a page for browsers and JSON for APIs.
    let plain = provider
        .login_as(
            &format!("{base}/auth/login"),
            &DevUser::new("Ada", "ada@example.com"),
        )
        .await
        .unwrap();
    let get = |path: &str, accept: &str| {
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("cookie", &plain.cookie)
            .header("accept", accept)
            .send()
    };
    let r = get("/app/admin/panel", "text/html").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let r = get("/app/reports", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "forbidden"
    );

    // With the roles, and passing the predicate: in.
    let admin = provider
        .login_as(
            &format!("{base}/auth/login"),
            &DevUser::new("Root", "root@example.com")
                .claim("roles", json!(["Admin", "Reports.Read"])),
        )
        .await
        .unwrap();
    let ok = |path: &str| {
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("cookie", &admin.cookie)
            .send()
    };
    assert_eq!(
        ok("/app/admin/panel").await.unwrap().text().await.unwrap(),
        "panel"
    );
    let r = ok("/app/reports").await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["reader"],
        "root@example.com"
    );

    // The role alone is not enough when another rule of the same guard fails.
    let outsider = provider
        .login_as(
            &format!("{base}/auth/login"),
            &DevUser::new("Out", "out@elsewhere.test").claim("roles", json!(["Admin"])),
        )
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .get(format!("{base}/app/admin/panel"))
        .header("cookie", &outsider.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// Microsoft Entra ID's `/common` shape (the development provider's `entra_multi_tenant`):
/// the discovered issuer is the template `…/{tenantid}/v2.0`, each ID token's `iss` must be
/// that template with the token's own `tid`, and `allowed_tenants` says which tenants enter.
#[tokio::test]
async fn entra_multi_tenant_admits_listed_tenants_and_checks_iss_against_tid() {
    const LISTED: &str = "11111111-2222-3333-4444-555555555555";
    const OTHER: &str = "99999999-8888-7777-6666-555555555555";
    let logs = Logs::capture();
    let provider = DevProvider::builder()
        .entra_multi_tenant()
        .start()
        .await
        .unwrap();
    assert!(provider.server_metadata_url().contains("/common/v2.0/"));
    assert!(provider.issuer().contains("{tenantid}"));
    let secrets = format!(
        "{}allowed_tenants = [\"{LISTED}\"]\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET)
    );
    let app = start_app_with(&secrets, "", |b| b).await;

    // The right tenant: admitted, and the user carries its tid and the tenant's issuer.
    let ada = DevUser::new("Ada", "ada@contoso.example").with_tenant(LISTED);
    let me = assert_admitted(&provider, &app, &ada).await;
    assert_eq!(me["tid"], LISTED);
    assert_eq!(me["iss"], provider.tenant_issuer(LISTED));

    // A tenant not listed: 403, no session.
    let bob = DevUser::new("Bob", "bob@fabrikam.example").with_tenant(OTHER);
    assert_not_admitted(
        &provider,
        &app,
        &bob,
        "your organization is not one this app admits",
    )
    .await;
    assert_eq!(
        logs.matching(&["INFO", "not admitted", "allowed_tenants"])
            .len(),
        1,
        "{:#?}",
        logs.lines()
    );

    // A token whose iss names another tenant than its tid: refused before any rule, 400.
    provider.misbehave(Misbehaviour::TenantIssuerMismatch);
    match provider.login_as(&app.url("/auth/login"), &ada).await {
        Err(DevLoginError::UnexpectedStatus {
            step: LoginStep::AppCallback,
            status: 400,
            ..
        }) => {}
        other => panic!("expected a 400 at the callback, got {other:?}"),
    }
    provider.behave();

    // allow_any_tenant = true: every tenant enters (the explicit choice a multi-tenant app
    // makes), and the iss/tid check still holds.
    let open = format!(
        "{}allow_any_tenant = true\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET)
    );
    let app = start_app_with(&open, "", |b| b).await;
    assert_eq!(assert_admitted(&provider, &app, &bob).await["tid"], OTHER);
    provider.misbehave(Misbehaviour::TenantIssuerMismatch);
    assert!(provider
        .login_as(&app.url("/auth/login"), &bob)
        .await
        .is_err());
}

/// The same `/common` shape on a host that is not one of Entra's (the configuration cannot
/// tell it from the URL, here 127.0.0.1): with no tenant rule, discovery refuses the
/// document that admits every tenant, so nobody is logged in, and the log says what to set.
#[tokio::test]
async fn a_document_admitting_every_tenant_needs_a_tenant_rule_on_any_host() {
    let logs = Logs::capture();
    let provider = DevProvider::builder()
        .entra_multi_tenant()
        .start()
        .await
        .unwrap();
    let app = start_app_with(&provider.secrets_toml(REDIRECT, COOKIE_SECRET), "", |b| b).await;
    let ada = DevUser::new("Ada", "ada@contoso.example")
        .with_tenant("11111111-2222-3333-4444-555555555555");
    match provider.login_as(&app.url("/auth/login"), &ada).await {
        Err(DevLoginError::UnexpectedStatus { status, .. }) => {
            assert!(status >= 500, "{status}")
        }
        other => panic!("expected the login to fail, got {other:?}"),
    }
    assert!(provider.token_calls().is_empty(), "no code was redeemed");
    assert!(
        !logs
            .matching(&[
                "admits users of every Microsoft Entra tenant",
                "allowed_tenants"
            ])
            .is_empty(),
        "{:#?}",
        logs.lines()
    );
}
