//! Login throughput: `client <login_url> <logins> <concurrency>` runs that many whole
//! logins (app login redirect → provider form GET and POST → app callback), `concurrency`
//! at a time, and prints logins per second, the mean time of each step, and this
//! process's own CPU time (so load.sh can subtract the client from the machine's work).

use std::time::{Duration, Instant};

use oidc_bench_apps::{LoginClient, StepTimes};

fn cpu_seconds_self() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: client <login_url> <logins> <concurrency>")
        .clone();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(500);
    let c: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4).max(1);
    let client = LoginClient::default();
    // One login first: connections, and the app's first-login work, out of the way.
    client.login(&url).await.expect("first login");

    let cpu0 = cpu_seconds_self();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..c {
        let client = client.clone();
        let url = url.clone();
        let count = n / c + usize::from(w < n % c);
        tasks.push(tokio::spawn(async move {
            let mut sum = StepTimes::default();
            for _ in 0..count {
                let (_, t) = client.login(&url).await.expect("login");
                sum += t;
            }
            sum
        }));
    }
    let mut sum = StepTimes::default();
    for t in tasks {
        sum += t.await.expect("task");
    }
    let wall = start.elapsed();
    let cpu = cpu_seconds_self() - cpu0;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!(
        "logins={n} concurrency={c} seconds={:.3} logins_per_s={:.1} \
         app_login_ms={:.3} authorize_ms={:.3} sign_in_ms={:.3} callback_ms={:.3} client_cpu_s={cpu:.2}",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        ms(sum.app_login),
        ms(sum.authorize),
        ms(sum.sign_in),
        ms(sum.callback),
    );
}
