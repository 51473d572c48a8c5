//! `session_store = "redis://…"` / `"rediss://…"`: sessions shared by every replica.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::{Pool, WithOptions};
use fred::prelude::{ClientLike, Config, KeysInterface, Options, ReconnectPolicy};
use fred::types::Builder;
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
    let store = Arc::new(Connecting {
        waiting: Client::new(&pool, false),
        failing: Client::new(&pool, true),
        first_attempt_over: AtomicBool::new(false),
    });
    let settled = Arc::downgrade(&store);
    let shown = shown.to_owned();
    runtime.spawn(async move {
        let _tasks = pool.connect();
        // Polled: `wait_for_connect` waits for a notification, which a connection made just
        // before the wait begins never sends.
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        let connected = loop {
            if pool.clients().iter().all(ClientLike::is_connected) {
                break true;
            }
            if tokio::time::Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if connected {
            tracing::debug!(redis = %shown, "connected to the session store");
        } else {
            tracing::warn!(
                redis = %shown,
                "the Redis session store cannot be reached; requests with a session cookie \
                 answer 503 until it is, and it is retried in the background"
            );
        }
        if let Some(store) = settled.upgrade() {
            store.first_attempt_over.store(true, Ordering::Release);
        }
    });
    Ok(store)
}

/// The Redis store, whose commands wait for the first connection while it is being made,
/// then fail at once whenever Redis is down.
///
/// Failing at once while Redis is down gives the visitor a 503 in milliseconds, not after
/// a timeout. But the client starts connecting only after the layer is built (and its
/// reconnection policy waits a moment before the first attempt), so commands sent in the
/// first moments would fail although Redis is up: until that first attempt is over they
/// wait for it instead, for [`COMMAND_TIMEOUT`] at most.
#[derive(Debug)]
struct Connecting {
    waiting: Client,
    failing: Client,
    first_attempt_over: AtomicBool,
}

/// The pool with one set of command options, and the session store over it.
#[derive(Debug)]
struct Client {
    redis: WithOptions<Pool>,
    store: RedisStore<WithOptions<Pool>>,
}

impl Client {
    fn new(pool: &Pool, fail_fast: bool) -> Self {
        let redis = pool.with_options(&Options {
            fail_fast,
            timeout: Some(COMMAND_TIMEOUT),
            ..Options::default()
        });
        Client {
            store: RedisStore::new(redis.clone()),
            redis,
        }
    }
}

impl Connecting {
    fn client(&self) -> &Client {
        if self.first_attempt_over.load(Ordering::Acquire) {
            &self.failing
        } else {
            &self.waiting
        }
    }
}

#[async_trait]
impl SessionStore for Connecting {
    /// The store's `create`, which never overwrites: an id that is taken gets replaced by a
    /// fresh one (how `Sessions::mark_state_used` sees a replayed login state).
    ///
    /// tower-sessions-redis-store 0.16 expects fred to read Redis's nil answer to
    /// `SET … NX` (the key exists) as `false`, which fred 10 does only with its
    /// `default-nil-types` feature; that feature would change how nil reads for every user
    /// of fred in the build, so instead a failed `create` whose key exists is recognised
    /// here as "taken". (`SET … NX` is atomic: when it fails, nothing was written.)
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let client = self.client();
        loop {
            let Err(e) = client.store.create(record).await else {
                return Ok(());
            };
            let taken = client
                .redis
                .exists::<i64, _>(record.id.to_string())
                .await
                .is_ok_and(|n| n > 0);
            if !taken {
                return Err(e);
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.client().store.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.client().store.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.client().store.delete(id).await
    }
}
