//! `session_store = "rediss://…"` against a real `redis-server` with TLS (Debian's build
//! has it), its certificate issued by a private CA that `openssl` makes here. The Redis
//! client trusts the system's roots (rustls-native-certs), which `SSL_CERT_FILE` replaces:
//! that is process-wide, so this binary holds one test and sets it before any other thread
//! starts. A server whose certificate the CA did not issue is refused.

#![cfg(feature = "redis")]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use support::redis::{Options, Redis, Tls};
use support::*;
use tower_oidc_login::testing::DevProvider;

/// A CA and a server certificate for 127.0.0.1 issued by it, as PEM files in `dir`.
fn issue(dir: &Path, name: &str) -> Tls {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    // File names, relative to `dir` (openssl runs there).
    let [ca, ca_key, key, csr, cert, ext] = [
        "ca.pem",
        "ca.key",
        "server.key",
        "server.csr",
        "server.pem",
        "server.ext",
    ]
    .map(|suffix| format!("{name}-{suffix}"));
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let subject = format!("/CN=tower-oidc-login test CA {name}");
    let mut args: Vec<&str> = vec!["req", "-x509"];
    args.extend(ec.split(' '));
    args.extend([
        "-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", &subject,
    ]);
    openssl(&args);
    let mut args: Vec<&str> = vec!["req"];
    args.extend(ec.split(' '));
    args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(&args);
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    Tls {
        cert: dir.join(cert),
        key: dir.join(key),
        ca: dir.join(ca),
    }
}

fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("openssl is not installed; under CI=true the TLS test must run");
    }
    found
}

#[test]
fn sessions_over_rediss_with_a_certificate_from_a_private_ca() {
    if !support::redis::available("sessions_over_rediss") {
        return;
    }
    if !openssl_available() {
        support::redis::skipped("sessions_over_rediss", "openssl is not installed");
        return;
    }
    let dir = scratch::tempdir().unwrap();
    let trusted = issue(dir.path(), "trusted");
    let rogue = issue(dir.path(), "rogue");
    // Before the runtime (and any other thread of this binary) exists.
    std::env::set_var("SSL_CERT_FILE", &trusted.ca);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let redis = Redis::start_on(
            free_port(),
            Options {
                tls: Some(trusted.clone()),
                ..Options::default()
            },
        );
        let url = format!("rediss://127.0.0.1:{}", redis.tls_port().unwrap());
        let provider = DevProvider::start().await.unwrap();
        let secrets = |store: &str| {
            format!(
                "{}session_store = \"{store}\"\n",
                provider.secrets_toml(REDIRECT, COOKIE_SECRET)
            )
        };
        let app = start_app(&secrets(&url)).await;
        let browser = Browser::new();
        let done = browser
            .login(&app.url("/auth/login"), "Ada", "ada@example.com")
            .await;
        assert_eq!(
            done.status(),
            StatusCode::FOUND,
            "{}",
            done.text().await.unwrap_or_default()
        );
        assert_eq!(browser.me(&app).await["email"], "ada@example.com");
        let sessions = redis.session_keys();
        assert_eq!(sessions.len(), 1, "the session is in Redis, over TLS");
        assert!(redis.ttl(&sessions[0]) > 600, "with the session's lifetime");

        // A server whose certificate our CA did not issue: no session can be stored there.
        let impostor = Redis::start_on(
            free_port(),
            Options {
                tls: Some(rogue),
                ..Options::default()
            },
        );
        let url = format!("rediss://127.0.0.1:{}", impostor.tls_port().unwrap());
        let app = start_app(&secrets(&url)).await;
        let browser = Browser::new();
        let callback = browser
            .start_login(&app.url("/auth/login"), "Eve", "eve@example.com", "")
            .await;
        let r = tokio::time::timeout(Duration::from_secs(10), browser.get(&callback))
            .await
            .expect("an answer");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            impostor.keys().is_empty(),
            "nothing was sent to the impostor"
        );
    });
}
