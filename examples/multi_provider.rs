//! Several providers in one app, with the layer's provider-chooser page.
//!
//! ```text
//! cargo run --example multi_provider
//! ```
//!
//! With a `.streamlit/secrets.toml` listing `[auth.google]`, `[auth.microsoft]`…, those are
//! used. Without one, two embedded development providers stand in for them, so the
//! chooser can be tried on a fresh machine. `/auth/login` with no `provider` answers the
//! chooser page; `/` also links each provider directly.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use tower_oidc_login::testing::DevProvider;
use tower_oidc_login::{AuthConfig, AuthLayer, User};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // RUST_LOG holds targets and levels, such as `info,tower_oidc_login=debug`.
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|filter| filter.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(filter)
        .init();
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number"))?,
        Err(_) => 8501,
    };

    // Keep the development providers alive for as long as the app runs.
    let (config, _dev_providers) = match AuthConfig::load_optional()? {
        Some(config) => (config, Vec::new()),
        None => {
            let google = DevProvider::start().await?;
            let microsoft = DevProvider::start().await?;
            let secret: [u8; 32] = rand::random();
            let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let secrets = format!(
                "[auth]\nredirect_uri = \"http://127.0.0.1:{{port}}/oauth2callback\"\ncookie_secret = \"{secret}\"\n\n{}\n{}\n",
                google.provider_table("google"),
                microsoft.provider_table("microsoft"),
            );
            println!("No .streamlit/secrets.toml found: two development providers stand in for google and microsoft");
            (
                AuthConfig::from_toml_str(&secrets)?,
                vec![google, microsoft],
            )
        }
    };
    let providers: Vec<String> = config.provider_names().map(str::to_owned).collect();
    let auth = AuthLayer::builder(config).port(port).build()?;
    auth.warm_up().await;

    let app = Router::new()
        .route("/", get(move |user: User| home(user, providers.clone())))
        .route("/me", get(|user: User| async move { Json(user.to_json()) }))
        .layer(auth);

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("Open http://127.0.0.1:{port}/ in your browser");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn home(user: User, providers: Vec<String>) -> Html<String> {
    let body = if user.is_logged_in() {
        format!(
            "<p>Logged in with <strong>{}</strong> as {}.</p>\
             <form method=\"post\" action=\"/auth/logout\"><button type=\"submit\">Log out</button></form>",
            escape(user.provider().unwrap_or("")),
            escape(user.email().or(user.name()).unwrap_or("")),
        )
    } else {
        let links: String = providers
            .iter()
            .map(|p| {
                format!(
                    "<li><a href=\"/auth/login?provider={p}\">Log in with {p}</a></li>",
                    p = escape(p)
                )
            })
            .collect();
        format!(
            "<p><a href=\"/auth/login\">Log in</a> (the layer's chooser page), or pick one here:</p><ul>{links}</ul>"
        )
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Several providers</title></head><body><h1>Several providers</h1>{body}</body></html>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}
