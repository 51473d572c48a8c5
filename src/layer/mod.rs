//! [`AuthLayer`]: the login routes, and the current user on every other request.
//!
//! # Example
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use tower_oidc_login::{AuthConfig, AuthLayer, User};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = AuthConfig::from_file(".streamlit/secrets.toml")?;
//! let auth = AuthLayer::builder(config).port(8501).build()?;
//!
//! let app = Router::new()
//!     .route("/", get(|user: User| async move {
//!         format!("logged in: {}", user.is_logged_in())
//!     }))
//!     .layer(auth);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8501").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! For the lowest cost per request, wrap the whole router rather than adding the layer with
//! `Router::layer` (which wraps every route in another boxed service); see BENCHMARKS.md:
//!
//! ```no_run
//! # use axum::{routing::get, Router};
//! # use tower_oidc_login::{AuthConfig, AuthLayer};
//! # async fn run(auth: AuthLayer) -> Result<(), Box<dyn std::error::Error>> {
//! let app = tower::ServiceBuilder::new()
//!     .layer(auth)
//!     .service(Router::new().route("/", get(|| async { "hello" })));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8501").await?;
//! axum::serve(listener, tower::make::Shared::new(app)).await?;
//! # Ok(()) }
//! ```
//!
//! The layer answers `GET /auth/login`, the callback path of `redirect_uri` (normally
//! `/oauth2callback`) and `GET`/`POST /auth/logout` itself, all under the path prefix of
//! `redirect_uri`; every other request goes to the wrapped service with a [`User`](crate::User) in its
//! extensions.

mod auth_layer;
mod future;
mod service;

pub use self::auth_layer::{AuthLayer, AuthLayerBuilder, DEFAULT_COOKIE_NAME};
pub use self::future::AuthFuture;
pub use self::service::AuthService;
pub use crate::paths::Routes;
