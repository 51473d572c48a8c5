//! The start-up warning about sessions kept in memory: exactly one `warn` line when a real
//! configuration leaves `session_store` unset (saying what to set), none when it says
//! `"memory"`, none for the quickstart's development provider, none when code passes a store.
//!
//! One test only: the log capture is global to the binary, and each build's lines are told
//! apart by when they were written.

mod support;

use std::sync::Arc;

use support::logs;
use tower_oidc_login::session::MemoryStore;
use tower_oidc_login::testing::{config_or_dev_provider, DevProvider};
use tower_oidc_login::{AuthConfig, AuthLayer};

/// The warnings written while `build` runs.
async fn warnings_of<F, Fut>(build: F) -> Vec<String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mark = logs::mark();
    build().await;
    logs::warnings(&logs::since(mark))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn sessions_left_in_memory_are_warned_about_once_unless_chosen() {
    logs::captured();
    let provider = DevProvider::start().await.unwrap();
    let toml = provider.secrets_toml("http://127.0.0.1:8501/oauth2callback", COOKIE_SECRET);

    let warned = warnings_of(|| async {
        AuthLayer::new(AuthConfig::from_toml_str(&toml).unwrap()).unwrap();
    })
    .await;
    assert_eq!(warned.len(), 1, "{warned:#?}");
    for says in [
        "sessions are kept in memory",
        "restart",
        "session_store",
        "OIDC_AUTH__SESSION_STORE",
        "sqlite://",
        "redis://",
        "\"memory\"",
    ] {
        assert!(warned[0].contains(says), "{says}: {}", warned[0]);
    }

    let chosen = format!("{toml}session_store = \"memory\"\n");
    let warned = warnings_of(|| async {
        AuthLayer::new(AuthConfig::from_toml_str(&chosen).unwrap()).unwrap();
    })
    .await;
    assert!(warned.is_empty(), "session_store = \"memory\": {warned:#?}");

    let warned = warnings_of(|| async {
        AuthLayer::builder(AuthConfig::from_toml_str(&toml).unwrap())
            .shared_session_store(Arc::new(MemoryStore::default()))
            .build()
            .unwrap();
    })
    .await;
    assert!(warned.is_empty(), "a store passed in code: {warned:#?}");

    // The quickstart's rule, where this test runs there is no secrets file and no
    // OIDC_AUTH__ variable: the development provider.
    let warned = warnings_of(|| async {
        let (config, dev) = config_or_dev_provider().await.unwrap();
        assert!(
            dev.is_some(),
            "a .streamlit/secrets.toml or OIDC_AUTH__ variable was found; run this test \
             without one"
        );
        AuthLayer::builder(config).port(8501).build().unwrap();
    })
    .await;
    // Only the fallback's own warning (it signs in anyone as anyone), not the store's.
    assert!(
        warned.len() == 1 && warned[0].contains("development provider"),
        "the development provider: {warned:#?}"
    );
}

const COOKIE_SECRET: &str = "store-warning-cookie-secret-0123456789abcdef";
