//! [`RequireLoginLayer`]: make every route of a service login-only.
//!
//! An anonymous browser (`Accept: text/html`) is redirected to the login, which brings it
//! back to the page it asked for; anything else (an API call, `fetch`) gets `401` with a
//! small JSON body, because a redirect to a provider's login page is useless to a script.
//!
//! Rules narrow it to some logged-in users: `.require_roles([...])`, `.require_groups([...])`
//! or any predicate with `.require(|user| ...)`; a logged-in user who fails one gets `403`
//! ([`AccessDenied`]: a page for browsers, JSON otherwise).
//!
//! The guard reads the [`User`](crate::User) that [`AuthLayer`](crate::AuthLayer) puts in the request,
//! so it must sit inside that layer.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_oidc_login::{AuthConfig, AuthLayer, CurrentUser, RequireLoginLayer};
//!
//! # fn app(config: AuthConfig) -> Result<Router, tower_oidc_login::ConfigError> {
//! let private = Router::new()
//!     .route("/reports", get(|CurrentUser(user): CurrentUser| async move {
//!         format!("reports for {}", user.email().unwrap_or("you"))
//!     }))
//!     // route_layer: only matched routes are guarded, so unknown paths still 404.
//!     .route_layer(RequireLoginLayer::new());
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "public" }))
//!     .merge(private)
//!     .layer(AuthLayer::builder(config).port(8501).build()?);
//! # Ok(app) }
//! ```

mod future;
mod rejection;
mod require_login;
mod rule;

pub use self::future::RequireLoginFuture;
pub use self::rejection::{AccessDenied, LoginRequired};
pub use self::require_login::{RequireLogin, RequireLoginLayer};
pub use self::rule::UserRule;
