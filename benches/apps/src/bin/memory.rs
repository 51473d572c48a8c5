//! Memory per logged-in session in tower-oidc-login's `MemoryStore`.
//!
//! `memory <entra|minimal> [sessions]`: logs in once for real (the development provider
//! and the layer on loopback, `DevProvider::login_as`), takes the session record the layer
//! stored, then fills a fresh `MemoryStore` with `sessions` copies of it (each with a new
//! id, through `SessionStore::create`, as the callback does) and reports heap bytes per
//! session (a counting allocator: bytes requested, without malloc's own overhead) and
//! resident memory (VmRSS) before and after. Run each variant in its own process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use oidc_bench_apps::{entra_user, hello_user, rss_kib, COOKIE_SECRET};
use tower_oidc_login::session::{Id, MemoryStore, Record, SessionStore};
use tower_oidc_login::testing::{DevProvider, DevUser};
use tower_oidc_login::{AuthConfig, AuthLayer};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Logs `user` in through a real layer and returns the record the layer stored.
async fn real_record(user: &DevUser) -> Record {
    let provider = DevProvider::start().await.expect("provider");
    let store = Arc::new(MemoryStore::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let config = AuthConfig::from_toml_str(
        &provider.secrets_toml("http://127.0.0.1:{port}/oauth2callback", COOKIE_SECRET),
    )
    .expect("config");
    let shared = store.clone();
    let layer = AuthLayer::builder(config)
        .port(port)
        .shared_session_store(shared)
        .build()
        .expect("layer");
    let app = Router::new().route("/", get(hello_user)).layer(layer);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let login = provider
        .login_as(&format!("http://127.0.0.1:{port}/auth/login"), user)
        .await
        .expect("login_as");
    // oidc_session=<44 characters of base64 HMAC><session id>
    let value = percent_decode(login.cookie.split_once('=').expect("cookie").1);
    let id: Id = value[44..].parse().expect("session id in the cookie");
    let record = store
        .load(&id)
        .await
        .expect("load")
        .expect("the session record");
    server.abort();
    record
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let variant = args.get(1).map(String::as_str).unwrap_or("entra");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let user = match variant {
        "entra" => entra_user(),
        "minimal" => DevUser::new("Dev User", "dev@example.com"),
        other => panic!("unknown variant {other}"),
    };
    let record = real_record(&user).await;
    let user_value = record.data.values().next().expect("one value");
    // The claims are the ID token's payload, kept as one JSON string; the token's header
    // and signature are kept beside it (see `StoredUser`).
    let claims_text = user_value["claims"].as_str().expect("claims");
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(claims_text).expect("claims object");
    let b64 = |n: usize| (n * 4).div_ceil(3);
    let id_token_len = user_value["id_token_header"].as_str().map_or(0, str::len)
        + 1
        + b64(claims_text.len())
        + 1
        + user_value["id_token_signature"]
            .as_str()
            .map_or(0, str::len);
    let claims_json = claims_text.len();
    let record_json = serde_json::to_string(&record.data).expect("json").len();

    // What one recently used session adds while its parsed claims are kept (the store
    // keeps them for at most 10,000 sessions by default).
    let parsed_before = live();
    let parsed: Vec<serde_json::Map<String, serde_json::Value>> = (0..1000)
        .map(|_| serde_json::from_str(claims_text).expect("claims"))
        .collect();
    let parsed_per = (live() - parsed_before) as f64 / parsed.len() as f64;
    drop(parsed);

    if let Ok(path) = std::env::var("BENCH_DUMP_RECORD") {
        // The record's data as JSON, for offline experiments on its shape.
        std::fs::write(path, serde_json::to_string(&record.data).expect("json")).expect("dump");
    }
    let store = MemoryStore::default();
    let (heap0, rss0) = (live(), rss_kib());
    for _ in 0..n {
        let mut r = record.clone();
        r.id = Id::default();
        store.create(&mut r).await.expect("create");
    }
    let (heap1, rss1) = (live(), rss_kib());
    assert_eq!(store.len(), n);
    let heap_per = (heap1 - heap0) as f64 / n as f64;
    let rss_per = (rss1 as f64 - rss0 as f64) * 1024.0 / n as f64;
    println!(
        "variant={variant} sessions={n} claims={} id_token_bytes={id_token_len} \
         claims_json_bytes={claims_json} record_json_bytes={record_json} \
         heap_bytes_per_session={heap_per:.0} rss_bytes_per_session={rss_per:.0} \
         rss_before_kib={rss0} rss_after_kib={rss1} parsed_claims_bytes={parsed_per:.0}",
        claims.len()
    );
    // Keep the store alive until here.
    drop(store);
}
