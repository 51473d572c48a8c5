//! The README's example, word for word (`tests/readme.rs` fails when the two differ), so
//! that it compiles. Its `Cargo.toml` in a new project:
//!
//! ```toml
//! [dependencies]
//! axum = "0.8"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "net"] }
//! tower-oidc-login = "0.1"
//! tracing-subscriber = "0.3"
//! ```
//!
//! ```text
//! cargo run --example readme    # reads .streamlit/secrets.toml and OIDC_AUTH__* variables
//! ```

use axum::{response::Html, routing::get, Json, Router};
use tower_oidc_login::{AuthConfig, AuthLayer, CurrentUser, User};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // .streamlit/secrets.toml (home, then working directory) plus OIDC_AUTH__* variables.
    // A mistake stops here with a message naming the key and the file.
    let config = AuthConfig::load()?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}"); // unknown keys (typos), a short cookie_secret…
    }
    tracing_subscriber::fmt().init(); // the layer logs why a login failed
    let auth = AuthLayer::builder(config).port(8501).build()?; // every check happens here

    let app = Router::new()
        .route("/", get(home)) // where logout lands
        .route("/me", get(|user: User| async move { Json(user.to_json()) })) // st.user.to_dict()
        .route("/private", get(private)) // login required
        .layer(auth);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8501").await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn home(user: User) -> Html<&'static str> {
    Html(if user.is_logged_in() {
        r#"<a href="/me">Me</a> <form method="post" action="/auth/logout"><button>Log out</button></form>"#
    } else {
        r#"<a href="/auth/login">Log in</a>"#
    })
}

async fn private(CurrentUser(user): CurrentUser) -> String {
    format!("Hello {}", user.name().unwrap_or("there"))
}
