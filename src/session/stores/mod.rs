//! The stores `session_store` can name besides memory, each behind its cargo feature:
//! SQLite (`sqlite`) for one server whose sessions survive restarts, Redis (`redis`) for
//! many replicas. Both are the tower-sessions stores built for tower-sessions-core 0.14;
//! this module only opens them the way the layer needs.

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "redis")]
pub(crate) use self::redis::open_redis;
#[cfg(feature = "sqlite")]
pub(crate) use self::sqlite::open_sqlite;

/// Opening a store needs the Tokio runtime its connections and sweeper run on.
#[cfg(any(feature = "redis", feature = "sqlite"))]
fn require_runtime() -> Result<tokio::runtime::Handle, String> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        "the store is opened when the layer is built, which must then run inside a Tokio \
         runtime (build the layer in `#[tokio::main]` or an async function)"
            .to_owned()
    })
}
