//! The login flow end to end over loopback: a real app, the embedded development
//! provider as a real OpenID provider on its own port, and a real HTTP client with a
//! cookie jar.

mod support;

use reqwest::StatusCode;
use support::*;
use tower_oidc_login::testing::{DevProvider, DevUser};

/// A logout POST as another site's form would send it: `Origin` elsewhere,
/// `Sec-Fetch-Site: cross-site`, with `browser`'s cookies.
async fn cross_site_logout_post(browser: &Browser, logout_url: &str) -> reqwest::Response {
    browser
        .client
        .post(logout_url)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap()
}

fn two_provider_secrets(alpha: &DevProvider, beta: &DevProvider) -> String {
    format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"{COOKIE_SECRET}\"\n\n{}\n{}\n",
        alpha.provider_table("alpha"),
        beta.provider_table("beta")
    )
}

#[tokio::test]
async fn anonymous_me_has_streamlits_shape() {
    let (_p, app) = one_provider_app().await;
    let me = Browser::new().me(&app).await;
    assert_eq!(me, serde_json::json!({"is_logged_in": false}));
}

#[tokio::test]
async fn login_then_me_shows_the_providers_claims() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let callback = browser
        .start_login(
            &app.url("/auth/login"),
            "Ada Lovelace",
            "ada@example.com",
            r#"{"groups": ["analysts", "admins"], "tid": "tenant-1"}"#,
        )
        .await;
    assert!(
        callback.starts_with(&app.url("/oauth2callback?")),
        "{callback}"
    );
    let done = browser.get(&callback).await;
    let status = done.status();
    let headers = done.headers().clone();
    assert_eq!(
        status,
        StatusCode::FOUND,
        "{}",
        done.text().await.unwrap_or_default()
    );
    assert_eq!(location(&headers), "/");

    let me = browser.me(&app).await;
    assert_eq!(me["is_logged_in"], true);
    assert_eq!(me["provider"], "default");
    assert_eq!(me["name"], "Ada Lovelace");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["groups"], serde_json::json!(["analysts", "admins"]));
    assert_eq!(me["tid"], "tenant-1");
    assert!(me["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(me["iss"].as_str().is_some());

    let home = browser.get(&app.url("/")).await.text().await.unwrap();
    assert_eq!(home, "hello Ada Lovelace");
}

#[tokio::test]
async fn session_cookie_has_the_documented_flags() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/auth/login")).await;
    // The pending login's own sealed cookie, on `/` (so `__Host-` on https) and deleted by
    // the callback.
    let login_cookie = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session_login_"))
        .expect("pending-login cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/;", "Max-Age=600"] {
        assert!(
            login_cookie.contains(flag),
            "{flag} missing in {login_cookie}"
        );
    }
    assert!(
        !login_cookie.contains("Secure"),
        "no Secure on plain-http loopback"
    );

    let done = browser
        .login(&app.url("/auth/login"), "A", "a@example.com")
        .await;
    // After the login only the session cookie rides along: the callback deleted its
    // pending-login cookie.
    let removed: Vec<String> = set_cookies(done.headers())
        .into_iter()
        .filter(|c| c.starts_with("oidc_session_login_"))
        .collect();
    assert!(
        removed.len() == 1 && removed[0].contains("Max-Age=0") && removed[0].contains("Path=/"),
        "{removed:?}"
    );
    let session = set_cookies(done.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(session.contains(flag), "{flag} missing in {session}");
    }
    // The cookie carries an id, not the claims: it stays small whatever the provider sends.
    assert!(session.len() < 200, "{session}");
    assert_eq!(done.headers()["cache-control"], "no-store");
    assert_eq!(done.headers()["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn login_redirect_carries_state_nonce_pkce_and_streamlit_defaults() {
    let (provider, app) = one_provider_app().await;
    let r = Browser::new().get(&app.url("/auth/login")).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let url = url::Url::parse(&location(r.headers())).unwrap();
    assert!(url.as_str().starts_with(&provider.issuer()));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], provider.client_id());
    assert_eq!(q["redirect_uri"], app.url("/oauth2callback"));
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["code_challenge"].len() >= 43);
    assert!(q["state"].len() >= 32);
    assert!(q["nonce"].len() >= 16);
}

#[tokio::test]
async fn client_kwargs_become_authorization_parameters() {
    let provider = DevProvider::start().await.unwrap();
    let secrets = format!(
        "{}\n[auth.client_kwargs]\nprompt = \"login\"\ndomain_hint = \"contoso.com\"\nlogin_hint = \"ada@contoso.com\"\nscope = \"openid email\"\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET)
    );
    let app = start_app(&secrets).await;
    let r = Browser::new().get(&app.url("/auth/login")).await;
    let url = url::Url::parse(&location(r.headers())).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["domain_hint"], "contoso.com");
    assert_eq!(q["login_hint"], "ada@contoso.com");
    assert_eq!(q["scope"], "openid email");
}

#[tokio::test]
async fn return_to_brings_the_user_back_and_only_to_this_site() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let done = browser
        .login(
            &app.url("/auth/login?return_to=%2Fpage%3Fx%3D1"),
            "A",
            "a@example.com",
        )
        .await;
    assert_eq!(location(done.headers()), "/page?x=1");

    for evil in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
    ] {
        let done = Browser::new()
            .login(
                &app.url(&format!("/auth/login?return_to={evil}")),
                "A",
                "a@example.com",
            )
            .await;
        assert_eq!(location(done.headers()), "/", "return_to={evil}");
    }
}

#[tokio::test]
async fn private_redirects_browsers_to_login_and_answers_401_to_apis() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/private?tab=2")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(r.headers()),
        "/auth/login?return_to=%2Fprivate%3Ftab%3D2"
    );

    let api = browser
        .client
        .get(app.url("/private"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"], "login_required");

    assert_eq!(
        browser.get(&app.url("/maybe")).await.text().await.unwrap(),
        "none"
    );

    // Following the redirect logs in and comes back to the page asked for.
    let done = browser
        .login(
            &app.url("/auth/login?return_to=%2Fprivate%3Ftab%3D2"),
            "A",
            "a@example.com",
        )
        .await;
    assert_eq!(location(done.headers()), "/private?tab=2");
    let r = browser.get(&app.url("/private?tab=2")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "private for a@example.com");
    assert_eq!(
        browser.get(&app.url("/maybe")).await.text().await.unwrap(),
        "some"
    );
}

#[tokio::test]
async fn guard_layer_makes_routes_login_only() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let r = browser.get(&app.url("/guarded")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(r.headers()), "/auth/login?return_to=%2Fguarded");
    let api = browser
        .client
        .get(app.url("/guarded"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    browser
        .login(&app.url("/auth/login"), "G", "g@example.com")
        .await;
    let r = browser.get(&app.url("/guarded")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "guarded for g@example.com");
}

#[tokio::test]
async fn two_providers_in_one_app() {
    let alpha = DevProvider::start().await.unwrap();
    let beta = DevProvider::start().await.unwrap();
    let app = start_app(&two_provider_secrets(&alpha, &beta)).await;
    let browser = Browser::new();

    // No provider named: a page lists them.
    let chooser = browser.get(&app.url("/auth/login?return_to=%2Fpage")).await;
    assert_eq!(chooser.status(), StatusCode::OK);
    let html = chooser.text().await.unwrap();
    assert!(
        html.contains("/auth/login?provider=alpha&amp;return_to=%2Fpage"),
        "{html}"
    );
    assert!(
        html.contains("/auth/login?provider=beta&amp;return_to=%2Fpage"),
        "{html}"
    );

    let r = browser.get(&app.url("/auth/login?provider=beta")).await;
    assert!(location(r.headers()).starts_with(&beta.issuer()));
    browser
        .login(
            &app.url("/auth/login?provider=beta"),
            "Bea",
            "bea@example.com",
        )
        .await;
    let me = browser.me(&app).await;
    assert_eq!(me["provider"], "beta");
    assert_eq!(me["iss"], beta.issuer());

    let other = Browser::new();
    other
        .login(
            &app.url("/auth/login?provider=alpha"),
            "Al",
            "al@example.com",
        )
        .await;
    assert_eq!(other.me(&app).await["provider"], "alpha");
    assert_eq!(beta.request_counts().token, 1);
    assert_eq!(alpha.request_counts().token, 1);

    let unknown = browser.get(&app.url("/auth/login?provider=gamma")).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("no login provider named &quot;gamma&quot;"));
}

#[tokio::test]
async fn parallel_tabs_log_in_without_clobbering_each_other() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let first = browser
        .start_login(
            &app.url("/auth/login?return_to=%2Fpage%3Ftab%3D1"),
            "T",
            "t@example.com",
            "",
        )
        .await;
    let second = browser
        .start_login(
            &app.url("/auth/login?return_to=%2Fpage%3Ftab%3D2"),
            "T",
            "t@example.com",
            "",
        )
        .await;
    let r2 = browser.get(&second).await;
    assert_eq!(location(r2.headers()), "/page?tab=2");
    let r1 = browser.get(&first).await;
    assert_eq!(
        r1.status(),
        StatusCode::FOUND,
        "{}",
        r1.text().await.unwrap_or_default()
    );
    assert_eq!(location(r1.headers()), "/page?tab=1");
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn logout_ends_the_session_here_and_at_the_provider() {
    let (provider, app) = one_provider_app().await;
    let browser = Browser::new();
    let done = browser
        .login(&app.url("/auth/login"), "L", "l@example.com")
        .await;
    let session = cookie_pair(done.headers(), "oidc_session").expect("session cookie");
    // A request of the session first, so the server's per-thread front knows it (its
    // runtime is this test's single thread): the logout must end it there too.
    let before: serde_json::Value = json_with_cookie(&app.url("/me"), &session).await;
    assert_eq!(before["is_logged_in"], true);

    let r = browser
        .client
        .post(app.url("/auth/logout"))
        .header("origin", app.base.clone())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let end_session = url::Url::parse(&location(r.headers())).unwrap();
    assert!(end_session.as_str().starts_with(&provider.issuer()));
    let q: std::collections::HashMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], provider.client_id());
    assert_eq!(q["post_logout_redirect_uri"], app.url("/oauth2callback"));
    // The session keeps the token in parts; the hint is the issued token byte for byte.
    assert_eq!(
        Some(q["id_token_hint"].clone()),
        provider.last_issued_id_token()
    );
    assert!(!q["state"].is_empty());
    assert!(set_cookies(r.headers())
        .iter()
        .any(|c| c.starts_with("oidc_session=;") && c.contains("Max-Age=0")));

    // The provider sends the browser back to the callback, which lands it on the home page.
    let back = browser.get(end_session.as_str()).await;
    let back_to_app = location(back.headers());
    assert!(
        back_to_app.starts_with(&app.url("/oauth2callback?")),
        "{back_to_app}"
    );
    let landed = browser.get(&back_to_app).await;
    assert_eq!(landed.status(), StatusCode::FOUND);
    assert_eq!(location(landed.headers()), "/");

    assert_eq!(browser.me(&app).await["is_logged_in"], false);
    let calls = provider.end_session_calls();
    assert_eq!(calls.len(), 1);

    // The old cookie, replayed, is anonymous: the session is gone from the store.
    let replay: serde_json::Value = json_with_cookie(&app.url("/me"), &session).await;
    assert_eq!(replay["is_logged_in"], false);
}

#[tokio::test]
async fn logout_get_from_the_app_logs_out_and_from_elsewhere_asks_first() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "L", "l@example.com")
        .await;

    // A cross-site GET (an <img>, a link elsewhere) only shows a confirmation page.
    let r = browser
        .client
        .get(app.url("/auth/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\" action=\"/auth/logout\">"));
    assert_eq!(browser.me(&app).await["is_logged_in"], true);

    // A cross-site POST is refused.
    let r = cross_site_logout_post(&browser, &app.url("/auth/logout")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.me(&app).await["is_logged_in"], true);

    // Streamlit's st.logout navigates to /auth/logout from the app itself.
    let r = browser
        .client
        .get(app.url("/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(browser.me(&app).await["is_logged_in"], false);
}

#[tokio::test]
async fn a_second_login_in_the_same_browser_gets_a_new_session() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    let first = browser
        .login(&app.url("/auth/login"), "One", "one@example.com")
        .await;
    let first_cookie = cookie_pair(first.headers(), "oidc_session").unwrap();
    let second = browser
        .login(&app.url("/auth/login"), "Two", "two@example.com")
        .await;
    let second_cookie = cookie_pair(second.headers(), "oidc_session").unwrap();
    assert_ne!(first_cookie, second_cookie);
    assert_eq!(browser.me(&app).await["email"], "two@example.com");
    let old: serde_json::Value = json_with_cookie(&app.url("/me"), &first_cookie).await;
    assert_eq!(old["is_logged_in"], false, "the first session is gone");
}

#[tokio::test]
async fn a_provider_down_at_start_up_answers_503_then_recovers() {
    let port = free_port();
    let secrets = format!(
        "[auth]\nredirect_uri = \"{REDIRECT}\"\ncookie_secret = \"{COOKIE_SECRET}\"\nclient_id = \"dev-client\"\nclient_secret = \"dev-secret\"\nserver_metadata_url = \"http://127.0.0.1:{port}/.well-known/openid-configuration\"\n"
    );
    let app = start_app(&secrets).await;
    app.layer.warm_up().await;
    let browser = Browser::new();
    assert_eq!(
        browser.get(&app.url("/")).await.text().await.unwrap(),
        "anonymous"
    );
    let r = browser.get(&app.url("/auth/login")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = r.text().await.unwrap();
    assert!(page.contains("is not available right now"), "{page}");
    assert!(
        page.contains("connection refused") || page.contains("connect"),
        "{page}"
    );
    assert!(page.contains("Try again"));

    let _provider = DevProvider::builder()
        .port(port)
        .start()
        .await
        .expect("provider on the chosen port");
    let mut recovered = false;
    for _ in 0..60 {
        let r = browser.get(&app.url("/auth/login")).await;
        if r.status() == StatusCode::FOUND {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(recovered, "login works once the provider is up");
    browser
        .login(&app.url("/auth/login"), "R", "r@example.com")
        .await;
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn discovery_and_keys_are_fetched_once_then_one_token_request_per_login() {
    let (provider, app) = one_provider_app().await;
    for i in 0..3 {
        Browser::new()
            .login(&app.url("/auth/login"), "N", &format!("n{i}@example.com"))
            .await;
    }
    let counts = provider.request_counts();
    assert_eq!(counts.discovery, 1);
    assert_eq!(counts.jwks, 1);
    assert_eq!(counts.token, 3);
    assert_eq!(counts.userinfo, 0);
}

#[tokio::test]
async fn signing_key_rotation_is_followed() {
    let (provider, app) = one_provider_app().await;
    Browser::new()
        .login(&app.url("/auth/login"), "K", "k@example.com")
        .await;
    provider.rotate_signing_key();
    let browser = Browser::new();
    let done = browser
        .login(&app.url("/auth/login"), "K", "k@example.com")
        .await;
    assert_eq!(
        done.status(),
        StatusCode::FOUND,
        "{}",
        done.text().await.unwrap_or_default()
    );
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
    assert_eq!(
        provider.request_counts().jwks,
        2,
        "one refetch for the new key id"
    );
}

#[tokio::test]
async fn expose_tokens_controls_what_handlers_see() {
    let provider = DevProvider::start().await.unwrap();
    let hidden = start_app(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).await;
    let b = Browser::new();
    b.login(&hidden.url("/auth/login"), "T", "t@example.com")
        .await;
    let t: serde_json::Value = b.json(&hidden.url("/tokens")).await;
    assert_eq!(t, serde_json::json!({"id": false, "access": false}));

    let secrets = provider.secrets_toml(REDIRECT, COOKIE_SECRET).replacen(
        "[auth]\n",
        "[auth]\nexpose_tokens = [\"id\", \"access\"]\n",
        1,
    );
    let shown = start_app(&secrets).await;
    let b = Browser::new();
    b.login(&shown.url("/auth/login"), "T", "t@example.com")
        .await;
    let t: serde_json::Value = b.json(&shown.url("/tokens")).await;
    assert_eq!(t, serde_json::json!({"id": true, "access": true}));
}

#[tokio::test]
async fn a_path_prefix_moves_every_route_and_the_cookie_path() {
    let provider = DevProvider::start().await.unwrap();
    let secrets =
        provider.secrets_toml("http://127.0.0.1:{port}/app/oauth2callback", COOKIE_SECRET);
    let app = start_app_with(&secrets, "/app", |b| b).await;
    let browser = Browser::new();
    let outside = browser.get(&app.url("/auth/login")).await;
    assert_eq!(
        outside.status(),
        StatusCode::NOT_FOUND,
        "{:?}",
        outside.headers()
    );
    let r = browser.get(&app.url("/app/private")).await;
    assert_eq!(
        location(r.headers()),
        "/app/auth/login?return_to=%2Fapp%2Fprivate"
    );
    let done = browser
        .login(&app.url("/app/auth/login"), "P", "p@example.com")
        .await;
    assert_eq!(location(done.headers()), "/app/");
    let session = set_cookies(done.headers())
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .unwrap();
    assert!(session.contains("Path=/app"), "{session}");
    let me: serde_json::Value = browser.json(&app.url("/app/me")).await;
    assert_eq!(me["is_logged_in"], true);
}

#[tokio::test]
async fn dev_provider_logs_a_chosen_user_in_with_one_call() {
    let (provider, app) = one_provider_app().await;
    let user = DevUser::new("Grace Hopper", "grace@example.com")
        .claim("roles", serde_json::json!(["admiral"]));
    let login = provider
        .login_as(&app.url("/auth/login?return_to=%2Fpage"), &user)
        .await
        .expect("login_as");
    assert_eq!(login.location, "/page");
    let me: serde_json::Value = json_with_cookie(&app.url("/me"), &login.cookie).await;
    assert_eq!(me["name"], "Grace Hopper");
    assert_eq!(me["roles"], serde_json::json!(["admiral"]));
}

#[tokio::test]
async fn a_plain_hyper_service_gets_the_user_without_axum() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use std::convert::Infallible;
    use tower::ServiceBuilder;
    use tower_oidc_login::{AuthConfig, AuthLayer, User};

    let provider = DevProvider::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config =
        AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).unwrap();
    let service = ServiceBuilder::new()
        .layer(AuthLayer::builder(config).port(port).build().unwrap())
        .service_fn(|req: http::Request<hyper::body::Incoming>| async move {
            let user = req.extensions().get::<User>().cloned().unwrap_or_default();
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                user.to_json().to_string(),
            ))))
        });
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let login = provider
        .login_as(
            &format!("{base}/auth/login"),
            &DevUser::new("Hy Per", "hyper@example.com"),
        )
        .await
        .expect("login through the hyper app");
    let me: serde_json::Value = json_with_cookie(&format!("{base}/me"), &login.cookie).await;
    assert_eq!(me["is_logged_in"], true);
    assert_eq!(me["email"], "hyper@example.com");
    server.abort();
}

/// The layers answer in the wrapped service's own body type: an axum router wrapped whole
/// stays a service of axum's `Body` (no `Either` for axum to box once more per response),
/// and the layer's own pages and the guard's answers still arrive whole.
#[tokio::test]
async fn the_layers_answer_in_the_wrapped_services_own_body_type() {
    use axum::body::Body;
    use std::convert::Infallible;
    use tower_oidc_login::AuthConfig;

    fn axum_body_in_and_out<S>(service: S) -> S
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    {
        service
    }

    let provider = DevProvider::start().await.unwrap();
    let config =
        AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).unwrap();
    let app = serve_configured(
        0,
        config,
        |b| b,
        |auth| axum_body_in_and_out(tower::ServiceBuilder::new().layer(auth).service(router(""))),
    )
    .await;

    let browser = Browser::new();
    let home = browser.get(&app.url("/")).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert_eq!(home.text().await.unwrap(), "anonymous");

    // The guard's own answer to an API client: JSON, whole.
    let refused = reqwest::get(app.url("/guarded")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "login_required");

    // The layer's own page: a logout POST from another site is refused with a page.
    let page = cross_site_logout_post(&browser, &app.url("/auth/logout")).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let page = page.text().await.unwrap();
    assert!(page.contains("<title>Logout refused</title>"), "{page}");

    // And the login itself goes through it.
    browser
        .login(&app.url("/auth/login"), "Body Type", "body@example.com")
        .await;
    let guarded = browser.get(&app.url("/guarded")).await;
    assert_eq!(guarded.status(), StatusCode::OK);
    assert_eq!(
        guarded.text().await.unwrap(),
        "guarded for body@example.com"
    );
}

#[tokio::test]
async fn building_the_layer_reports_configuration_errors() {
    use tower_oidc_login::{AuthConfig, AuthLayer, ConfigError};
    let provider = DevProvider::start().await.unwrap();
    let config =
        AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).unwrap();

    // `{port}` with no port to put there.
    let err = AuthLayer::new(config.clone()).expect_err("needs a port");
    assert!(matches!(err, ConfigError::PortRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("{port}"), "{err}");

    let err = AuthLayer::builder(config.clone())
        .port(8501)
        .cookie_name("bad name;")
        .build()
        .expect_err("bad cookie name");
    assert!(err.to_string().contains("cookie_name"), "{err}");

    assert!(AuthLayer::builder(config).port(8501).build().is_ok());
}

#[tokio::test]
async fn a_loopback_redirect_uri_on_another_port_than_the_app_fails_the_build() {
    use tower_oidc_login::{AuthConfig, AuthLayer, ConfigError};
    let provider = DevProvider::start().await.unwrap();
    let fixed = "http://localhost:8501/oauth2callback";
    let config = AuthConfig::from_toml_str(&provider.secrets_toml(fixed, COOKIE_SECRET)).unwrap();

    let err = AuthLayer::builder(config.clone())
        .port(8080)
        .build()
        .expect_err("the app serves 8080, the provider would answer 8501");
    assert!(
        matches!(err, ConfigError::InvalidRedirectUri { ref key, ref value, .. }
            if key == "auth.redirect_uri" && value == fixed),
        "{err:?}"
    );
    let message = err.to_string();
    for needle in [
        "its port is 8501",
        "listens on port 8080",
        "http://localhost:{port}/oauth2callback",
        "the secrets.toml text passed in code",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }

    // The same port, no port given (a proxy in front), or not on loopback: fine.
    assert!(AuthLayer::builder(config.clone())
        .port(8501)
        .build()
        .is_ok());
    assert!(AuthLayer::builder(config).build().is_ok());
    let remote = AuthConfig::from_toml_str(
        &provider.secrets_toml("https://app.example.com/oauth2callback", COOKIE_SECRET),
    )
    .unwrap();
    assert!(AuthLayer::builder(remote).port(8080).build().is_ok());
    // {port} is the port given, whatever it is.
    let placeholder =
        AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).unwrap();
    assert!(AuthLayer::builder(placeholder).port(8080).build().is_ok());
    // The variable it came from is named.
    let from_env = AuthConfig::from_toml_str(&provider.secrets_toml(REDIRECT, COOKIE_SECRET))
        .unwrap()
        .apply_env([(
            "OIDC_AUTH__REDIRECT_URI".to_owned(),
            "http://127.0.0.1:9000/oauth2callback".to_owned(),
        )])
        .unwrap();
    let err = AuthLayer::builder(from_env)
        .port(8080)
        .build()
        .expect_err("9000 vs 8080");
    assert!(err.to_string().contains("OIDC_AUTH__REDIRECT_URI"), "{err}");
}

#[tokio::test]
async fn a_cross_site_logout_post_gets_a_logout_refused_page() {
    let (_p, app) = one_provider_app().await;
    let browser = Browser::new();
    browser
        .login(&app.url("/auth/login"), "L", "l@example.com")
        .await;
    let r = cross_site_logout_post(&browser, &app.url("/auth/logout")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("<title>Logout refused</title>"), "{page}");
    assert!(page.contains("still logged in"), "{page}");
    assert!(!page.contains("Login failed"), "{page}");
    assert_eq!(browser.me(&app).await["is_logged_in"], true);
}

#[tokio::test]
async fn a_login_started_on_localhost_moves_to_the_redirect_uri_host_first() {
    let (_p, app) = one_provider_app().await;
    let r = Browser::new()
        .get(&format!(
            "http://localhost:{}/auth/login?return_to=%2Fpage",
            app.port
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(r.headers()),
        app.url("/auth/login?return_to=%2Fpage")
    );
    assert!(
        set_cookies(r.headers()).is_empty(),
        "no cookie on the wrong host"
    );
}

#[tokio::test]
async fn canonical_host_moves_a_login_from_any_other_host_to_the_redirect_uri_host() {
    use reqwest::header::HOST;
    let provider = DevProvider::start().await.unwrap();
    let public = "https://app.example.com/oauth2callback";
    let login_on = |app: &App, host: &'static str| {
        let request = Browser::new()
            .client
            .get(app.url("/auth/login?return_to=%2Freports"))
            .header(HOST, host);
        async move { request.send().await.expect("GET /auth/login") }
    };
    // Off (the default): a login on another host goes to the provider from there.
    let secrets = provider.secrets_toml(public, COOKIE_SECRET);
    let app = start_app(&secrets).await;
    let r = login_on(&app, "myapp-b7dq.westeurope-01.azurewebsites.net").await;
    assert!(
        location(r.headers()).starts_with(&provider.authorization_endpoint()),
        "{:?}",
        r.headers()
    );

    // On: sent to redirect_uri's host first, path and query kept, no cookie set here.
    let secrets = secrets.replacen("[auth]\n", "[auth]\ncanonical_host = true\n", 1);
    let app = start_app(&secrets).await;
    let r = login_on(&app, "myapp-b7dq.westeurope-01.azurewebsites.net").await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(r.headers()),
        "https://app.example.com/auth/login?return_to=%2Freports"
    );
    assert!(
        set_cookies(r.headers()).is_empty(),
        "no cookie on the wrong host"
    );
    // Already on that host (any case, any port): the login goes on.
    let r = login_on(&app, "APP.example.com").await;
    assert!(location(r.headers()).starts_with(&provider.authorization_endpoint()));
}

#[tokio::test]
async fn client_secret_post_is_used_when_asked_for_or_when_it_is_all_the_provider_supports() {
    use tower_oidc_login::testing::TokenEndpointAuth;
    let provider = DevProvider::builder()
        .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost)
        .start()
        .await
        .unwrap();
    // Not configured: discovery says only client_secret_post, so that is what is used.
    let app = start_app(&provider.secrets_toml(REDIRECT, COOKIE_SECRET)).await;
    let login = provider
        .login_as(&app.url("/auth/login"), &DevUser::new("P", "p@example.com"))
        .await
        .expect("post chosen from discovery");
    assert_eq!(
        json_with_cookie(&app.url("/me"), &login.cookie).await["is_logged_in"],
        true
    );

    // Configured explicitly, as Streamlit users write it.
    let secrets = format!(
        "{}\n[auth.client_kwargs]\ntoken_endpoint_auth_method = \"client_secret_post\"\n",
        provider.secrets_toml(REDIRECT, COOKIE_SECRET)
    );
    let app = start_app(&secrets).await;
    provider
        .login_as(&app.url("/auth/login"), &DevUser::new("P", "p@example.com"))
        .await
        .expect("post as configured");

    // A provider that takes only Basic refuses a client configured for post: the login
    // fails with a clear page rather than a session.
    let basic_only = DevProvider::builder()
        .token_endpoint_auth(TokenEndpointAuth::ClientSecretBasic)
        .start()
        .await
        .unwrap();
    let secrets = format!(
        "{}\n[auth.client_kwargs]\ntoken_endpoint_auth_method = \"client_secret_post\"\n",
        basic_only.secrets_toml(REDIRECT, COOKIE_SECRET)
    );
    let app = start_app(&secrets).await;
    let browser = Browser::new();
    let r = browser
        .login(&app.url("/auth/login"), "P", "p@example.com")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("invalid_client"));
}

/// The seed article's file, byte for byte as its Terraform writes it (a `redirect_uri`
/// repeated inside the provider table, single-quoted TOML keys, a short cookie secret):
/// it must load, with warnings rather than errors.
#[test]
fn the_seed_articles_secrets_file_loads_unchanged() {
    let text = r#"[auth]
redirect_uri = "https://myapp.azurewebsites.net/oauth2callback"
cookie_secret = "cookie"

[auth.microsoft]
redirect_uri = "https://myapp.azurewebsites.net/oauth2callback"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "abc~secret"
server_metadata_url = "https://login.microsoftonline.com/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/v2.0/.well-known/openid-configuration"
client_kwargs = { 'prompt' = 'login' }
"#;
    let config = tower_oidc_login::AuthConfig::from_toml_str(text).expect("loads");
    let microsoft = config.provider("microsoft").expect("provider");
    assert_eq!(microsoft.client_kwargs().prompt(), Some("login"));
    assert!(
        config.warnings().iter().any(|w| w.contains("32")),
        "short secret warned: {:?}",
        config.warnings()
    );
    let layer = tower_oidc_login::AuthLayer::new(config).expect("layer builds");
    assert_eq!(layer.routes().callback, "/oauth2callback");
}
