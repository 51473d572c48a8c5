//! The quickstart's app with no axum: a plain hyper 1 service behind `AuthLayer`.
//!
//! ```text
//! cargo run --example hyper
//! ```
//!
//! Same routes as the quickstart (`/`, `/me`, `/private`), same configuration rules.
//! Handlers read the [`User`] from the request's extensions.

use std::convert::Infallible;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_oidc_login::testing::config_or_dev_provider;
use tower_oidc_login::{AuthLayer, LoginRequired, User};
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
    let providers: Vec<String> = config.provider_names().map(str::to_owned).collect();
    let auth = AuthLayer::builder(config).port(port).build()?;
    auth.warm_up().await;

    let app = ServiceBuilder::new()
        .layer(auth)
        .service_fn(move |req: Request<Incoming>| {
            let providers = providers.clone();
            async move { Ok::<_, Infallible>(route(req, &providers)) }
        });

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("Open http://127.0.0.1:{port}/ in your browser");
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            if let Err(e) = ConnBuilder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

fn route(req: Request<Incoming>, providers: &[String]) -> Response<Full<Bytes>> {
    let user = req.extensions().get::<User>().cloned().unwrap_or_default();
    match req.uri().path() {
        "/" => html(StatusCode::OK, index(&user, providers)),
        "/me" => {
            let mut response = Response::new(Full::new(Bytes::from(user.to_json().to_string())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response
        }
        "/private" if user.is_logged_in() => html(
            StatusCode::OK,
            format!(
                "<h1>Private</h1><p>Only logged-in users see this, {}.</p>",
                escape(user.name().unwrap_or("friend"))
            ),
        ),
        // The same redirect-or-401 answer as the axum extractor and the guard.
        "/private" => LoginRequired::from_request(&req).into_http_response(),
        _ => html(StatusCode::NOT_FOUND, "<h1>Not found</h1>".into()),
    }
}

fn index(user: &User, providers: &[String]) -> String {
    if user.is_logged_in() {
        format!(
            "<p>Logged in as <strong id=\"name\">{}</strong> (<span id=\"email\">{}</span>) with {}.</p>\
             <form method=\"post\" action=\"/auth/logout\"><button id=\"logout\" type=\"submit\">Log out</button></form>",
            escape(user.name().unwrap_or("")),
            escape(user.email().unwrap_or("")),
            escape(user.provider().unwrap_or("")),
        )
    } else {
        let links: String = providers
            .iter()
            .map(|p| format!("<li><a class=\"login\" href=\"/auth/login?provider={p}\">Log in with {p}</a></li>", p = escape(p)))
            .collect();
        format!("<p>You are not logged in.</p><ul>{links}</ul>")
    }
}

fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tower-oidc-login hyper example</title></head><body>{body}</body></html>"
    ))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}
