//! The stores this build leaves out. The configuration refuses a `session_store` whose
//! feature is off; these are the backstop.

use std::sync::Arc;

use tower_sessions_core::SessionStore;

/// Without the `sqlite` feature there is no SQLite store to open.
#[cfg(not(feature = "sqlite"))]
pub(crate) fn open_sqlite(_: &std::path::Path) -> Result<Arc<dyn SessionStore>, String> {
    Err(missing_feature("sqlite"))
}

/// Without the `redis` feature there is no Redis store to open.
#[cfg(not(feature = "redis"))]
pub(crate) fn open_redis(_: &str, _: &str) -> Result<Arc<dyn SessionStore>, String> {
    Err(missing_feature("redis"))
}

fn missing_feature(feature: &str) -> String {
    format!(
        "this build does not include that store; enable the `{feature}` feature of \
         tower-oidc-login"
    )
}
