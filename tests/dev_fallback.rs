//! The quickstart's development-provider fallback fails closed: with no configuration it
//! starts the provider only in a debug build or when asked to, and `OIDC_DEV_PROVIDER=0`
//! refuses it everywhere. (A test binary of its own: it sets process-wide variables.)

#[path = "../src/util/scratch.rs"]
mod scratch;

use tower_oidc_login::testing::{config_or_dev_provider, FallbackError, DEV_PROVIDER_VAR};

#[tokio::test]
async fn the_development_provider_fallback_fails_closed() {
    // No secrets file anywhere this process looks, no OIDC_AUTH__ variable.
    let home = scratch::tempdir().unwrap();
    std::env::set_var("HOME", home.path());
    for (name, _) in std::env::vars() {
        if name.to_ascii_uppercase().starts_with("OIDC_AUTH__") {
            std::env::remove_var(name);
        }
    }
    assert!(
        !std::path::Path::new(".streamlit/secrets.toml").exists(),
        "the test runs from a directory without a secrets file"
    );

    std::env::set_var(DEV_PROVIDER_VAR, "0");
    match config_or_dev_provider().await {
        Err(FallbackError::NoConfiguration) => {}
        Err(other) => panic!("expected NoConfiguration, got {other}"),
        Ok(_) => panic!("the development provider started although {DEV_PROVIDER_VAR}=0"),
    }

    // Asked for explicitly (as a release build needs), it starts, with in-memory sessions.
    std::env::set_var(DEV_PROVIDER_VAR, "1");
    let (config, dev) = config_or_dev_provider().await.expect("the provider starts");
    let dev = dev.expect("a development provider");
    assert_eq!(config.provider_names().collect::<Vec<_>>(), ["default"]);
    assert!(config
        .default_provider()
        .unwrap()
        .server_metadata_url()
        .starts_with(&dev.issuer()));
    assert!(matches!(
        config.session_store(),
        Some(tower_oidc_login::config::SessionStoreConfig::Memory)
    ));
}
