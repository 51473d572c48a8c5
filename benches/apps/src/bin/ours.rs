//! The same app behind tower-oidc-login's `AuthLayer`.
//! Env: BENCH_DIR (reads `issuer`, writes `<BENCH_APP_NAME>.port`, default `ours`),
//! BENCH_MAX_SECONDS, OURS_WRAP (`route_layer`: `Router::layer` as the README shows, the
//! default; `outer`: the layer around the whole router; `none`: no layer at all, the bare
//! app: the same binary, so code layout and build differences cannot pose as the layer's
//! cost; `identity`: the bare app with a do-nothing layer added by `Router::layer`, axum's
//! own price for any layer; `extension`: the bare app with axum's `Extension` layer handing
//! every request an anonymous `User`, the floor of any layer that gives handlers a user), OURS_RUNTIME (`multi_thread`, the default, with TOKIO_WORKER_THREADS workers as
//! `#[tokio::main]` makes it; `current_thread`: tokio's single-threaded runtime, as
//! `#[tokio::main(flavor = "current_thread")]` makes it), OURS_STORE (the `session_store`
//! the app's secrets.toml names: `memory`, the default, `redis://HOST:PORT` or
//! `sqlite://PATH`; a real user's configuration, so the store is opened as in production,
//! behind the same local cache).

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use oidc_bench_apps::{
    bind, env_or, exit_after_deadline, hello_user, state_dir, wait_for_file, COOKIE_SECRET,
};
use tower_oidc_login::{AuthConfig, AuthLayer};

fn main() {
    exit_after_deadline();
    let runtime = match env_or("OURS_RUNTIME", "multi_thread").as_str() {
        "multi_thread" => tokio::runtime::Builder::new_multi_thread(),
        "current_thread" => tokio::runtime::Builder::new_current_thread(),
        other => panic!("OURS_RUNTIME={other:?}: use multi_thread or current_thread"),
    }
    .enable_all()
    .build()
    .expect("tokio runtime");
    runtime.block_on(serve());
}

async fn serve() {
    let dir = state_dir();
    let name = env_or("BENCH_APP_NAME", "ours");
    let wrap = env_or("OURS_WRAP", "");
    if matches!(wrap.as_str(), "none" | "identity" | "extension") {
        let (listener, _) = bind(&format!("{dir}/{name}.port")).await;
        let app = Router::new().route("/", get(hello_user));
        // The floors, through `Router::layer` as the README adds ours: `identity` adds a
        // layer that does nothing (what axum itself charges for any layer: it boxes and
        // clones the layered route per request); `extension` adds axum's own layer that
        // hands every request a value (an anonymous `User`), the least any layer that
        // gives handlers a user does.
        let app = match wrap.as_str() {
            "identity" => app.layer(tower::layer::util::Identity::new()),
            "extension" => app.layer(axum::Extension(tower_oidc_login::User::anonymous())),
            _ => app,
        };
        axum::serve(listener, app).await.expect("serve");
        return;
    }
    let issuer = wait_for_file(&format!("{dir}/issuer"), Duration::from_secs(60))
        .await
        .expect("the provider's issuer");
    let store = env_or("OURS_STORE", "memory");
    let secrets = format!(
        "[auth]\nredirect_uri = \"http://127.0.0.1:{{port}}/oauth2callback\"\n\
         cookie_secret = \"{COOKIE_SECRET}\"\nsession_store = \"{store}\"\n\
         client_id = \"dev-client\"\nclient_secret = \"dev-secret\"\n\
         server_metadata_url = \"{issuer}/.well-known/openid-configuration\"\n"
    );
    let config = AuthConfig::from_toml_str(&secrets).expect("config");
    // Bind first: the redirect URI needs the port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let layer = AuthLayer::builder(config)
        .port(port)
        .build()
        .expect("layer");
    // Discovery and keys now, as axum-oidc does at start.
    layer.warm_up().await;
    let outer = wrap == "outer";
    oidc_bench_apps::write_atomically(&format!("{dir}/{name}.port"), &port.to_string());
    if outer {
        let app = tower::ServiceBuilder::new()
            .layer(layer)
            .service(Router::new().route("/", get(hello_user)));
        axum::serve(listener, tower::make::Shared::new(app))
            .await
            .expect("serve");
    } else {
        let app = Router::new().route("/", get(hello_user)).layer(layer);
        axum::serve(listener, app).await.expect("serve");
    }
}
