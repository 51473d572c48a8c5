//! The bare app: the benchmark handler at `/`, nothing in front of it.
//! Env: BENCH_DIR (writes `bare.port`), BENCH_MAX_SECONDS.

use axum::routing::get;
use axum::Router;
use oidc_bench_apps::{bind, exit_after_deadline, hello_user, state_dir};

#[tokio::main]
async fn main() {
    exit_after_deadline();
    let dir = state_dir();
    let (listener, _) = bind(&format!("{dir}/bare.port")).await;
    let app = Router::new().route("/", get(hello_user));
    axum::serve(listener, app).await.expect("serve");
}
