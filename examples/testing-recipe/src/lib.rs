//! The app as a library, so that `tests/` can serve exactly what `main` serves.

use axum::routing::get;
use axum::{Json, Router};
use tower_oidc_login::{AuthConfig, AuthLayer, ConfigError, CurrentUser, User};

/// The app's own routes, without login.
pub fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "Home: /auth/login to log in, /me, /private" }),
        )
        .route("/me", get(|user: User| async move { Json(user.to_json()) }))
        .route(
            "/private",
            get(|CurrentUser(user): CurrentUser| async move {
                format!("Hello {}", user.name().unwrap_or("there"))
            }),
        )
}

/// The app with login in front, for an app listening on `port` (what `{port}` in
/// `redirect_uri` stands for).
pub fn app(config: AuthConfig, port: u16) -> Result<Router, ConfigError> {
    let auth = AuthLayer::builder(config).port(port).build()?;
    Ok(router().layer(auth))
}
