//! Trusted identity headers (issue 15, part 3): a real axum app on 127.0.0.1 behind
//! `TrustedHeadersLayer`, sent the headers App Service Easy Auth and oauth2-proxy set; and
//! `AuthLayer` without the mode, which must ignore them (and say so once).

mod support;

use std::marker::PhantomData;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{redirect, Client, StatusCode};
use serde_json::{json, Value};
use support::logs::Logs;
use tokio::task::JoinHandle;
use tower_oidc_login::extract::{Authorized, Policy};
use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
use tower_oidc_login::{AuthConfig, AuthLayer, CurrentUser, RequireLoginLayer, User};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OID: &str = "5b5450db-eb26-4c1a-981c-ba1d25f0483d";
const GROUP_STAFF: &str = "f08bbbea-b793-4a36-a5fc-136c18d8aa8f";
const GROUP_OPS: &str = "14a87ffa-0801-49bf-a515-3d259a2a9f8f";

/// `X-MS-CLIENT-PRINCIPAL` as App Service sends it for a Microsoft Entra ID user: long
/// claim-type URIs, short ones, and repeated types for roles and groups.
fn principal(roles: &[&str]) -> String {
    let mut claims = vec![
        json!({"typ": "aud", "val": "5a1e0bd6-3c4b-4a0e-9f6d-7d1b1c2e3f40"}),
        json!({"typ": "iss", "val": format!("https://login.microsoftonline.com/{TENANT}/v2.0")}),
        json!({"typ": "iat", "val": "1718000000"}),
        json!({"typ": "http://schemas.microsoft.com/claims/authnclassreference", "val": "1"}),
        json!({"typ": "aio", "val": "AWQAm/8XAAAA"}),
        json!({"typ": "http://schemas.microsoft.com/claims/authnmethodsreferences", "val": "pwd"}),
        json!({"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "val": "alice@contoso.com"}),
        json!({"typ": "groups", "val": GROUP_STAFF}),
        json!({"typ": "groups", "val": GROUP_OPS}),
        json!({"typ": "http://schemas.microsoft.com/identity/claims/identityprovider", "val": format!("https://sts.windows.net/{TENANT}/")}),
        json!({"typ": "name", "val": "Alice Example"}),
        json!({"typ": "nonce", "val": "0f1e2d3c4b5a"}),
        json!({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": OID}),
        json!({"typ": "preferred_username", "val": "alice@contoso.com"}),
        json!({"typ": "rh", "val": "0.AAAA"}),
        json!({"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "val": "Yx1pP0Q2mSaFHy782bbtaQ"}),
        json!({"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": TENANT}),
        json!({"typ": "uti", "val": "cOvzFv3yR0m"}),
        json!({"typ": "ver", "val": "2.0"}),
    ];
    for role in roles {
        claims.push(json!({"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": role}));
    }
    let principal = json!({
        "auth_typ": "aad",
        "claims": claims,
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    });
    STANDARD.encode(principal.to_string())
}

struct ReportReaders;
impl Policy for ReportReaders {
    fn allows(user: &User) -> bool {
        user.has_role("Reports.Read")
    }
}

/// The routes every app here serves.
fn routes() -> Router {
    let admin = Router::new()
        .route("/admin", get(|| async { "admin area" }))
        .route_layer(RequireLoginLayer::new().require_roles(["Admin"]));
    let ops = Router::new()
        .route("/ops", get(|| async { "ops area" }))
        .route_layer(RequireLoginLayer::new().require_groups([GROUP_OPS, "ops"]));
    Router::new()
        .route("/me", get(|user: User| async move { Json(user.to_json()) }))
        .route(
            "/private",
            get(|CurrentUser(user): CurrentUser| async move {
                format!("private for {}", user.email().unwrap_or(""))
            }),
        )
        .route(
            "/maybe",
            get(|user: Option<CurrentUser>| async move {
                if user.is_some() {
                    "some"
                } else {
                    "none"
                }
            }),
        )
        .route(
            "/reports",
            get(
                |Authorized(user, PhantomData): Authorized<ReportReaders>| async move {
                    format!("reports for {}", user.name().unwrap_or(""))
                },
            ),
        )
        .route(
            "/token",
            get(|user: User| async move {
                match user.access_token().await {
                    Ok(_) => (StatusCode::OK, "token".to_owned()),
                    Err(e) => (e.status(), e.code().to_owned()),
                }
            }),
        )
        .merge(admin)
        .merge(ops)
}

struct Served {
    base: String,
    task: JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

async fn serve(app: Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served { base, task }
}

async fn easy_auth_app() -> Served {
    let layer = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd)
        .build()
        .expect("layer builds");
    serve(routes().layer(layer)).await
}

fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET")
}

async fn status(url: &str, headers: &[(&str, &str)]) -> StatusCode {
    get_with(url, headers).await.status()
}

async fn me(url: &str, headers: &[(&str, &str)]) -> Value {
    let response = get_with(url, headers).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn an_easy_auth_principal_is_the_user_with_id_token_claims() {
    let app = easy_auth_app().await;
    let admin = principal(&["Admin", "Reports.Read"]);
    let headers = [
        ("x-ms-client-principal", admin.as_str()),
        ("x-ms-client-principal-name", "alice@contoso.com"),
        ("x-ms-client-principal-id", OID),
        ("x-ms-client-principal-idp", "aad"),
    ];
    let user = me(&app.url("/me"), &headers).await;
    assert_eq!(user["is_logged_in"], true);
    assert_eq!(user["provider"], "aad");
    assert_eq!(user["name"], "Alice Example");
    assert_eq!(user["email"], "alice@contoso.com");
    assert_eq!(user["preferred_username"], "alice@contoso.com");
    assert_eq!(user["sub"], "Yx1pP0Q2mSaFHy782bbtaQ");
    assert_eq!(user["oid"], OID);
    assert_eq!(user["tid"], TENANT);
    assert_eq!(user["roles"], json!(["Admin", "Reports.Read"]));
    assert_eq!(user["groups"], json!([GROUP_STAFF, GROUP_OPS]));
    assert_eq!(user["amr"], json!(["pwd"]));
    assert_eq!(
        user["idp"],
        format!("https://sts.windows.net/{TENANT}/").as_str()
    );

    let private = get_with(&app.url("/private"), &headers).await;
    assert_eq!(private.status(), StatusCode::OK);
    assert_eq!(
        private.text().await.expect("body"),
        "private for alice@contoso.com"
    );
    let maybe = get_with(&app.url("/maybe"), &headers).await;
    assert_eq!(maybe.text().await.expect("body"), "some");
    // There are no tokens behind a front end's login: a clear 500 for the app's author,
    // never a token.
    let token = get_with(&app.url("/token"), &headers).await;
    assert_eq!(token.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(token.text().await.expect("body"), "front_end_login");
}

#[tokio::test]
async fn require_roles_and_groups_and_policies_judge_easy_auth_users() {
    let app = easy_auth_app().await;
    let admin = principal(&["Admin"]);
    let reader = principal(&["Reports.Read"]);
    let nobody = principal(&[]);
    let at = |path: &str, principal: &str| {
        let url = app.url(path);
        let principal = principal.to_owned();
        async move { status(&url, &[("x-ms-client-principal", &principal)]).await }
    };
    assert_eq!(at("/admin", &admin).await, StatusCode::OK);
    assert_eq!(at("/admin", &reader).await, StatusCode::FORBIDDEN);
    assert_eq!(at("/reports", &reader).await, StatusCode::OK);
    assert_eq!(at("/reports", &admin).await, StatusCode::FORBIDDEN);
    // Every sample user is in the ops group.
    assert_eq!(at("/ops", &nobody).await, StatusCode::OK);

    // The refusal is the usual 403 page for a browser, JSON for an API.
    let page = get_with(
        &app.url("/admin"),
        &[("x-ms-client-principal", &reader), ("accept", "text/html")],
    )
    .await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.expect("body").contains("permission"));
    let api = get_with(&app.url("/reports"), &[("x-ms-client-principal", &admin)]).await;
    let body: Value = api.json().await.expect("JSON");
    assert_eq!(body["error"], "forbidden");
}

#[tokio::test]
async fn anonymous_visitors_go_to_easy_auths_login_or_get_401() {
    let app = easy_auth_app().await;
    let user = me(&app.url("/me"), &[]).await;
    assert_eq!(user, json!({"is_logged_in": false}));
    let maybe = get_with(&app.url("/maybe"), &[]).await;
    assert_eq!(maybe.text().await.expect("body"), "none");

    // A browser is sent to App Service's own login, which brings it back to the page.
    let page = get_with(&app.url("/private?tab=2"), &[("accept", "text/html")]).await;
    assert_eq!(page.status(), StatusCode::FOUND);
    assert_eq!(
        support::location(page.headers()),
        "/.auth/login/aad?post_login_redirect_uri=%2Fprivate%3Ftab%3D2"
    );
    let guarded = get_with(&app.url("/admin"), &[("accept", "text/html")]).await;
    assert_eq!(guarded.status(), StatusCode::FOUND);
    let reports = get_with(&app.url("/reports"), &[("accept", "text/html")]).await;
    assert_eq!(reports.status(), StatusCode::FOUND);

    // Anything else gets 401 with the login URL.
    let api = get_with(&app.url("/private"), &[]).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: Value = api.json().await.expect("JSON");
    assert_eq!(body["error"], "login_required");
    assert_eq!(
        body["login_url"],
        "/.auth/login/aad?post_login_redirect_uri=%2Fprivate"
    );
    assert_eq!(
        status(&app.url("/admin"), &[]).await,
        StatusCode::UNAUTHORIZED
    );

    // The companion headers alone are no login.
    let user = me(
        &app.url("/me"),
        &[
            ("x-ms-client-principal-name", "mallory@contoso.com"),
            ("x-ms-client-principal-id", OID),
        ],
    )
    .await;
    assert_eq!(user["is_logged_in"], false);
}

#[tokio::test]
async fn broken_principals_are_anonymous_with_one_warning_per_kind() {
    let logs = Logs::capture();
    let app = easy_auth_app().await;
    let too_large = STANDARD.encode("x".repeat(40 * 1024));
    let no_claims = STANDARD.encode(r#"{"auth_typ":"aad","name_typ":"name"}"#);
    let cases = [
        ("not base64", "%%% not base64 %%%".to_owned()),
        ("not the JSON object", STANDARD.encode("{\"claims\": [")),
        ("larger than max_header_bytes", too_large),
        ("has no `claims` list", no_claims),
    ];
    for (problem, value) in &cases {
        for _ in 0..3 {
            let user = me(&app.url("/me"), &[("x-ms-client-principal", value)]).await;
            assert_eq!(user, json!({"is_logged_in": false}), "{problem}");
            // Never a 500, never a login: the usual 401.
            assert_eq!(
                status(&app.url("/private"), &[("x-ms-client-principal", value)]).await,
                StatusCode::UNAUTHORIZED,
                "{problem}"
            );
        }
        let warned = logs.matching(&[" WARN ", "x-ms-client-principal", problem]);
        assert_eq!(warned.len(), 1, "one warning for {problem}: {warned:#?}");
        // The header's value is never logged.
        let tail: String = value.chars().take(24).collect();
        assert!(
            !logs.lines().iter().any(|l| l.contains(&tail)),
            "{problem}: the value was logged"
        );
    }
    // A warning per kind, not per request.
    assert_eq!(
        logs.matching(&[" WARN ", "trusted identity header"]).len(),
        cases.len()
    );
}

#[tokio::test]
async fn a_header_mapping_like_oauth2_proxys_makes_the_user() {
    let layer = TrustedHeadersLayer::oauth2_proxy(Ingress::OnlyThroughFrontEnd)
        .claim("X-Forwarded-Preferred-Username", "name")
        .build()
        .expect("layer builds");
    let app = serve(routes().layer(layer)).await;
    let headers = [
        ("x-forwarded-user", "248289761001"),
        ("x-forwarded-email", "jane@example.com"),
        ("x-forwarded-preferred-username", "Jane Doe"),
        ("x-forwarded-groups", "staff, ops"),
    ];
    let user = me(&app.url("/me"), &headers).await;
    assert_eq!(
        user,
        json!({
            "is_logged_in": true,
            "provider": "oauth2_proxy",
            "sub": "248289761001",
            "email": "jane@example.com",
            "preferred_username": "Jane Doe",
            "name": "Jane Doe",
            "groups": ["staff", "ops"],
        })
    );
    assert_eq!(status(&app.url("/ops"), &headers).await, StatusCode::OK);
    assert_eq!(
        status(&app.url("/ops"), &headers[..3]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app.url("/admin"), &headers).await,
        StatusCode::FORBIDDEN
    );

    // Without the user header: anonymous, even with the others (and that is warned).
    let logs = Logs::capture();
    let user = me(&app.url("/me"), &headers[1..]).await;
    assert_eq!(user["is_logged_in"], false);
    assert_eq!(
        logs.matching(&[" WARN ", "x-forwarded-user", "names no user id"])
            .len(),
        1
    );
    // A browser goes to oauth2-proxy's sign-in, an API gets 401.
    let page = get_with(&app.url("/private"), &[("accept", "text/html")]).await;
    assert_eq!(page.status(), StatusCode::FOUND);
    assert_eq!(
        support::location(page.headers()),
        "/oauth2/start?rd=%2Fprivate"
    );
    assert_eq!(
        status(&app.url("/private"), &[]).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_mapping_without_a_login_page_answers_anonymous_browsers_with_401() {
    let layer = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Remote-User")
        .list_claim("X-Remote-Roles", "roles")
        .build()
        .expect("layer builds");
    let app = serve(routes().layer(layer)).await;
    let page = get_with(&app.url("/private"), &[("accept", "text/html")]).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let admin = [("x-remote-user", "u1"), ("x-remote-roles", "Admin")];
    assert_eq!(status(&app.url("/admin"), &admin).await, StatusCode::OK);
    let user = me(&app.url("/me"), &admin).await;
    assert_eq!(user["provider"], "trusted_headers");
    assert_eq!(user["roles"], json!(["Admin"]));
}

/// The support app with `AuthLayer` alone: the mode is off.
#[tokio::test]
async fn auth_layer_ignores_identity_headers_and_warns_once() {
    let logs = Logs::capture();
    let (_provider, app) = support::one_provider_app().await;
    let admin = principal(&["Admin"]);
    let forged: [&[(&str, &str)]; 3] = [
        &[("x-ms-client-principal", admin.as_str())],
        &[
            ("x-forwarded-user", "admin"),
            ("x-forwarded-email", "admin@example.com"),
        ],
        &[("x-forwarded-email", "admin@example.com")],
    ];
    for headers in forged {
        for _ in 0..2 {
            let user = me(&app.url("/me"), headers).await;
            assert_eq!(user, json!({"is_logged_in": false}));
            assert_eq!(
                status(&app.url("/private"), headers).await,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    let warned = logs.matching(&[" WARN ", "AuthLayer ignores it"]);
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(warned[0].contains("TrustedHeadersLayer"), "{}", warned[0]);
    assert!(warned[0].contains("only"), "{}", warned[0]);

    // A logged-in session stays who it is whatever the headers say.
    let browser = support::Browser::new();
    browser
        .login(&app.url("/auth/login"), "Sam Session", "sam@example.com")
        .await;
    let user: Value = browser
        .json_with(
            &app.url("/me"),
            &[
                ("x-ms-client-principal", &admin),
                ("x-forwarded-user", "admin"),
            ],
        )
        .await;
    assert_eq!(user["email"], "sam@example.com");
    assert!(user.get("roles").is_none());
}

/// `TrustedHeadersLayer` outside `AuthLayer`: the headers' user wins when there is one; the
/// session decides otherwise; no "ignored" warning.
#[tokio::test]
async fn stacked_on_auth_layer_the_headers_user_wins_only_when_present() {
    let logs = Logs::capture();
    let provider = tower_oidc_login::testing::DevProvider::start()
        .await
        .expect("provider starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let config = AuthConfig::from_toml_str(
        &provider.secrets_toml(support::REDIRECT, support::COOKIE_SECRET),
    )
    .expect("config");
    let auth = AuthLayer::builder(config)
        .port(port)
        .build()
        .expect("auth layer");
    let trusted = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd)
        .build()
        .expect("headers layer");
    let app = routes().layer(auth).layer(trusted);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let app = Served {
        base: format!("http://127.0.0.1:{port}"),
        task,
    };

    let admin = principal(&["Admin"]);
    let user = me(&app.url("/me"), &[("x-ms-client-principal", &admin)]).await;
    assert_eq!(user["provider"], "aad");
    assert_eq!(
        status(&app.url("/admin"), &[("x-ms-client-principal", &admin)]).await,
        StatusCode::OK
    );

    // Anonymous to both: AuthLayer's own login, not Easy Auth's.
    let page = get_with(&app.url("/private"), &[("accept", "text/html")]).await;
    assert_eq!(page.status(), StatusCode::FOUND);
    assert!(support::location(page.headers()).starts_with("/auth/login?return_to="));

    // A session user without headers is the session's; with headers, the headers'.
    let browser = support::Browser::new();
    browser
        .login(&app.url("/auth/login"), "Sam Session", "sam@example.com")
        .await;
    let user = browser.json(&app.url("/me")).await;
    assert_eq!(user["email"], "sam@example.com");
    assert_eq!(user["provider"], "default");
    let user: Value = browser
        .json_with(&app.url("/me"), &[("x-ms-client-principal", &admin)])
        .await;
    assert_eq!(user["email"], "alice@contoso.com");
    // Broken headers do not log the session user out.
    let user: Value = browser
        .json_with(&app.url("/me"), &[("x-ms-client-principal", "%%%")])
        .await;
    assert_eq!(user["email"], "sam@example.com");

    assert!(logs.matching(&["AuthLayer ignores it"]).is_empty());
}
