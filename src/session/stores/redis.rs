//! `session_store = "redis://…"` / `"rediss://…"`: sessions shared by every replica.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{ClientLike, Config, Options, ReconnectPolicy};
use fred::types::Builder;
use tower_sessions_core::session_store::SessionStore;
use tower_sessions_redis_store::RedisStore;

/// The longest a session lookup waits for Redis before the request answers 503.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections kept to Redis; requests mostly hit the local copy of their session.
const POOL_SIZE: usize = 2;

/// Connects to the Redis at `url` in the background, reconnecting for as long as the store
/// lives. A server that cannot be reached at start is a warning, not an error: requests
/// with a session cookie answer 503 until it is back. The error is a plain reason that
/// never quotes the URL (it may hold a password).
pub(crate) fn open_redis(url: &str, shown: &str) -> Result<Arc<dyn SessionStore>, String> {
    let runtime = super::runtime::require_runtime()?;
    let mut config = Config::from_url(url).map_err(|e| {
        format!(
            "it is not a Redis URL this library can use ({})",
            e.details()
        )
    })?;
    // Keep retrying the first connection too, rather than giving up for good.
    config.fail_fast = false;
    let pool = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = COMMAND_TIMEOUT;
            c.internal_command_timeout = COMMAND_TIMEOUT;
        })
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build_pool(POOL_SIZE)
        .map_err(|e| format!("the Redis client cannot be built ({})", e.details()))?;
    let connection = pool.clone();
    let shown = shown.to_owned();
    runtime.spawn(async move {
        let _tasks = connection.connect();
        match tokio::time::timeout(COMMAND_TIMEOUT, connection.wait_for_connect()).await {
            Ok(Ok(())) => tracing::debug!(redis = %shown, "connected to the session store"),
            _ => tracing::warn!(
                redis = %shown,
                "the Redis session store cannot be reached; requests with a session cookie \
                 answer 503 until it is, and it is retried in the background"
            ),
        }
    });
    // While Redis is down a command fails at once instead of queueing for a reconnection:
    // the visitor gets a 503 in milliseconds, not after a timeout.
    let client = pool.with_options(&Options {
        fail_fast: true,
        timeout: Some(COMMAND_TIMEOUT),
        ..Options::default()
    });
    Ok(Arc::new(RedisStore::new(client)))
}
