//! The quickstart: an axum app with Streamlit-style login.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With `.streamlit/secrets.toml` in the working directory (Streamlit's schema), it logs
//! visitors in with the providers listed there. Without one, it starts the crate's
//! embedded development provider on a loopback port, so it works on a fresh machine.
//!
//! Routes (a contract that outside checks use; keep them stable):
//! - `/`: a page with a login link per provider, or the user's name and email and a
//!   logout button;
//! - `/me`: the user as JSON, like Streamlit's `st.user.to_dict()`;
//! - `/private`: login required (browsers are redirected to login, other clients get 401);
//! - `/token`: when `expose_tokens` includes `"access"`, a fresh access token as JSON
//!   `{"access_token": "…", "expires_at": <unix seconds>}` (refreshed first when it has
//!   under a minute left, or under half its lifetime when the provider's tokens live
//!   less than two minutes; 401 JSON when anonymous or the session ended); otherwise 404.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_oidc_login::testing::config_or_dev_provider;
use tower_oidc_login::{AuthLayer, CurrentUser, User};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> ExitCode {
    // Errors in their own words (which key of which file), not as a struct dump.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number"))?,
        Err(_) => 8501,
    };

    // With no secrets file, a development provider stands in; keep it alive while the app runs.
    let (config, dev_provider) = config_or_dev_provider().await?;
    // Unknown keys (typos), ignored settings, a short cookie_secret: printed whatever the
    // log level, before the log starts so that each shows once.
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    init_logging();
    if let Some(dev) = &dev_provider {
        println!(
            "No .streamlit/secrets.toml found: using the embedded development provider at {}",
            dev.issuer()
        );
    }
    let providers: Vec<String> = config.provider_names().map(str::to_owned).collect();
    let access_exposed = config.expose_tokens().access;

    // `.port()` fills `{port}` and makes `build()` refuse a loopback redirect_uri on another
    // port. The quickstart also runs as one of several replicas, or behind a proxy on this
    // machine, where redirect_uri names another port on purpose: so it gives the port only
    // for the placeholder, and otherwise says what it sees.
    let placeholder = config.redirect_uri().contains("{port}")
        || config
            .post_logout_redirect_uri()
            .is_some_and(|uri| uri.contains("{port}"));
    if !placeholder {
        warn_about_another_port(&config, port);
    }
    let builder = AuthLayer::builder(config);
    let auth = if placeholder {
        builder.port(port)
    } else {
        builder
    }
    .build()?;
    auth.warm_up().await;

    let app = Router::new()
        .route("/", get(move |user: User| index(user, providers.clone())))
        .route("/me", get(me))
        .route("/private", get(private))
        .route("/token", get(move |user: User| token(user, access_exposed)))
        .layer(auth);

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("Open http://127.0.0.1:{port}/ in your browser");
    axum::serve(listener, app).await?;
    Ok(())
}

/// A loopback `redirect_uri` on another port than this app's: right behind a proxy or for a
/// replica, a mistake otherwise (the provider would send logins to a port nothing serves).
fn warn_about_another_port(config: &tower_oidc_login::AuthConfig, port: u16) {
    let Ok(uri) = config.redirect_uri_for_port(None) else {
        return;
    };
    let loopback = matches!(uri.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if loopback && uri.port_or_known_default() != Some(port) {
        eprintln!(
            "warning: redirect_uri {uri} is on another port than this app ({port}): fine when \
             a proxy or another replica serves that port, otherwise write {{port}} there"
        );
    }
}

/// The log, filtered by RUST_LOG (targets and levels, such as `info,tower_oidc_login=debug`,
/// the default).
fn init_logging() {
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|filter| filter.parse().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_default(LevelFilter::INFO)
                .with_target("tower_oidc_login", LevelFilter::DEBUG)
        });
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(filter)
        .init();
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

async fn index(user: User, providers: Vec<String>) -> Html<String> {
    let body = if user.is_logged_in() {
        format!(
            "<p>Logged in as <strong id=\"name\">{}</strong> (<span id=\"email\">{}</span>) with {}.</p>\
             <p><a href=\"/me\">/me</a> · <a href=\"/private\">/private</a></p>\
             <form method=\"post\" action=\"/auth/logout\"><button id=\"logout\" type=\"submit\">Log out</button></form>",
            escape(user.name().unwrap_or("")),
            escape(user.email().unwrap_or("")),
            escape(user.provider().unwrap_or("")),
        )
    } else {
        let links: String = providers
            .iter()
            .map(|p| {
                format!(
                    "<li><a class=\"login\" href=\"/auth/login?provider={p}\">Log in with {p}</a></li>",
                    p = escape(p)
                )
            })
            .collect();
        format!("<p>You are not logged in.</p><ul>{links}</ul>")
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tower-oidc-login quickstart</title></head>\
         <body><h1>tower-oidc-login quickstart</h1>{body}</body></html>"
    ))
}

async fn me(user: User) -> Json<User> {
    Json(user)
}

async fn token(user: User, access_exposed: bool) -> Response {
    if !access_exposed {
        return StatusCode::NOT_FOUND.into_response();
    }
    match user.access_token().await {
        Ok(token) => Json(serde_json::json!({
            "access_token": token.secret(),
            "expires_at": token.expires_at_unix(),
        }))
        .into_response(),
        // 401 (log in again) or 503 (try again), as JSON.
        Err(e) => e.into_response(),
    }
}

async fn private(CurrentUser(user): CurrentUser) -> Html<String> {
    Html(format!(
        "<!doctype html><html><body><h1>Private</h1><p>Only logged-in users see this, {}.</p></body></html>",
        escape(user.name().unwrap_or("friend"))
    ))
}
