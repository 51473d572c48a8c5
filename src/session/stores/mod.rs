//! The stores `session_store` can name besides memory, each behind its cargo feature:
//! SQLite (`sqlite`) for one server whose sessions survive restarts, Redis (`redis`) for
//! many replicas. Both are the tower-sessions stores built for tower-sessions-core 0.14;
//! this module only opens them the way the layer needs.

#[cfg(not(all(feature = "redis", feature = "sqlite")))]
mod missing;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "redis", feature = "sqlite"))]
mod runtime;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(not(feature = "redis"))]
pub(crate) use self::missing::open_redis;
#[cfg(not(feature = "sqlite"))]
pub(crate) use self::missing::open_sqlite;
#[cfg(feature = "redis")]
pub(crate) use self::redis::open_redis;
#[cfg(feature = "sqlite")]
pub(crate) use self::sqlite::open_sqlite;
