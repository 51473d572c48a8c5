//! The development OpenID provider for the comparison apps, in a process of its own.
//! Writes its issuer to `$BENCH_DIR/issuer`; then, for each app named in `BENCH_LOGIN`
//! (default `ours ours_outer axum_oidc`), waits for `$BENCH_DIR/<app>.port`, logs in once
//! as the Entra-like user, checks that `GET /` with the cookie greets that user, and writes
//! the cookie to `$BENCH_DIR/<app>.cookie`. For our apps (every name starting with `ours`)
//! the login is `DevProvider::login_as`; for axum-oidc it is its `/login` redirect → this
//! provider's form → its callback, driven by hand. Serves until killed or BENCH_MAX_SECONDS.

use std::time::Duration;

use oidc_bench_apps::{
    entra_user, env_or, exit_after_deadline, state_dir, wait_for_file, write_atomically,
    LoginClient,
};
use tower_oidc_login::testing::DevProvider;

#[tokio::main]
async fn main() {
    exit_after_deadline();
    let dir = state_dir();
    let provider = DevProvider::start().await.expect("provider starts");
    write_atomically(&format!("{dir}/issuer"), &provider.issuer());
    eprintln!("provider: {}", provider.issuer());

    for app in env_or("BENCH_LOGIN", "ours ours_outer axum_oidc").split_whitespace() {
        let port = wait_for_file(&format!("{dir}/{app}.port"), Duration::from_secs(120))
            .await
            .unwrap_or_else(|| panic!("{app} did not start"));
        let cookie = match app {
            ours if ours.starts_with("ours") => {
                provider
                    .login_as(
                        &format!("http://127.0.0.1:{port}/auth/login"),
                        &entra_user(),
                    )
                    .await
                    .expect("login_as")
                    .cookie
            }
            _ => {
                LoginClient::default()
                    .login(&format!("http://127.0.0.1:{port}/login"))
                    .await
                    .unwrap_or_else(|e| panic!("{app} login: {e}"))
                    .0
            }
        };
        let body = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET /")
            .text()
            .await
            .expect("body");
        assert_eq!(
            body, "hello Adele Vance",
            "{app}: the cookie is a logged-in session"
        );
        write_atomically(&format!("{dir}/{app}.cookie"), &cookie);
        eprintln!("provider: logged in to {app}");
    }
    std::future::pending::<()>().await;
}
