//! `session_store = "redis://…"` / `"rediss://…"`: sessions shared by every replica.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{ClientLike, Config, Options, ReconnectPolicy};
use fred::types::Builder;
use tokio::sync::watch;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, SessionStore};
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
    let (attempted, first_attempt) = watch::channel(false);
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
        // Nobody waiting is fine: the store may already be gone.
        let _ = attempted.send(true);
    });
    // While Redis is down a command fails at once instead of queueing for a reconnection:
    // the visitor gets a 503 in milliseconds, not after a timeout.
    let client = pool.with_options(&Options {
        fail_fast: true,
        timeout: Some(COMMAND_TIMEOUT),
        ..Options::default()
    });
    Ok(Arc::new(AfterFirstAttempt {
        inner: RedisStore::new(client),
        first_attempt,
    }))
}

/// A store whose commands wait for the first connection attempt (at most
/// [`COMMAND_TIMEOUT`]) before they run. Without it, the requests a replica gets in its
/// first moments, while its connections are still being opened, would fail at once (the
/// commands fail fast) and logged-in visitors would get 503s from a freshly started
/// replica although Redis is up, as in every rolling restart.
#[derive(Debug)]
struct AfterFirstAttempt<S> {
    inner: S,
    first_attempt: watch::Receiver<bool>,
}

impl<S> AfterFirstAttempt<S> {
    async fn ready(&self) {
        if *self.first_attempt.borrow() {
            return;
        }
        let mut first_attempt = self.first_attempt.clone();
        // A closed channel (the connecting task is gone) or the time limit: go on, and let
        // the command itself answer.
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, first_attempt.wait_for(|done| *done)).await;
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for AfterFirstAttempt<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.ready().await;
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.ready().await;
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.ready().await;
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.ready().await;
        self.inner.delete(id).await
    }
}
