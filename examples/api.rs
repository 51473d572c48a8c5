//! An API for a single-page front end: JSON and `401`s, never redirects to a provider.
//!
//! ```text
//! cargo run --example api
//! ```
//!
//! `fetch()` does not ask for `text/html`, so `CurrentUser` and `RequireLoginLayer` answer
//! an anonymous call with `401` and `{"error": "login_required", "login_url": …}` instead of
//! a redirect the script could not follow. The page at `/` shows how a front end uses that:
//! on `401` it offers a link to `login_url`, a full-page navigation that comes back to `/`.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_oidc_login::testing::config_or_dev_provider;
use tower_oidc_login::{AuthLayer, CurrentUser, RequireLoginLayer};
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
    // With no secrets file, a development provider stands in; keep it alive while the app runs.
    let (config, dev_provider) = config_or_dev_provider().await?;
    if let Some(dev) = &dev_provider {
        println!(
            "No .streamlit/secrets.toml found: using the embedded development provider at {}",
            dev.issuer()
        );
    }
    let auth = AuthLayer::builder(config).port(port).build()?;
    auth.warm_up().await;

    // Everything under /api/items needs a login; route_layer keeps unknown paths 404.
    let items = Router::new()
        .route(
            "/api/items",
            get(|| async {
                Json(json!([{"id": 1, "name": "first"}, {"id": 2, "name": "second"}]))
            }),
        )
        .route_layer(RequireLoginLayer::new());

    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/api/me",
            get(|CurrentUser(user): CurrentUser| async move { Json(user.to_json()) }),
        )
        .merge(items)
        .layer(auth);

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("Open http://127.0.0.1:{port}/ in your browser");
    axum::serve(listener, app).await?;
    Ok(())
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>API example</title></head>
<body>
<h1>API example</h1>
<p id="who">Loading…</p>
<ul id="items"></ul>
<form method="post" action="/auth/logout" id="logout" hidden><button type="submit">Log out</button></form>
<script>
async function load() {
  const me = await fetch('/api/me', { headers: { accept: 'application/json' } });
  if (me.status === 401) {
    const body = await me.json();
    const who = document.getElementById('who');
    who.textContent = 'Not logged in. ';
    const a = document.createElement('a');
    a.href = body.login_url.replace(/return_to=[^&]*/, 'return_to=%2F');
    a.textContent = 'Log in';
    who.appendChild(a);
    return;
  }
  const user = await me.json();
  document.getElementById('who').textContent = 'Hello ' + (user.name || user.email || user.sub);
  document.getElementById('logout').hidden = false;
  const items = await (await fetch('/api/items')).json();
  for (const item of items) {
    const li = document.createElement('li');
    li.textContent = item.name;
    document.getElementById('items').appendChild(li);
  }
}
load();
</script>
</body></html>
"#;
