//! A real `redis-server` (Debian's package; `scripts/test.sh` installs it) on a free loopback
//! port, in a fresh directory, stopped by PID when dropped. It can be stopped and started
//! again on the same port, empty or with its data (an RDB file written just before it stops).
//!
//! When `redis-server` is not installed the Redis tests print a `SKIPPED` line and return,
//! except under `CI=true`, where that is a failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);
const DUMP_FILE: &str = "dump.rdb";

/// What a stopped server keeps for its next start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: it starts again empty, like a cache without persistence.
    Nothing,
    /// Its data, saved to an RDB file just before it stops.
    Data,
}

/// Options of a server, fixed for its whole life (restarts included).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--requirepass`.
    pub password: Option<String>,
    /// TLS on its own port, with this certificate and key (PEM files); the plain port stays
    /// open for the fixture's own checks.
    pub tls: Option<Tls>,
}

/// The server side of `rediss://`.
#[derive(Clone, Debug)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A running (or stopped, between [`Redis::stop`] and [`Redis::start_again`]) server.
pub struct Redis {
    port: u16,
    tls_port: Option<u16>,
    options: Options,
    dir: super::scratch::TempDir,
    child: Option<Child>,
}

impl Redis {
    /// A fresh server, or `None` (after printing why) when `redis-server` is not installed
    /// and this is not CI.
    pub fn start_or_skip(test: &str) -> Option<Redis> {
        Redis::start_with_or_skip(test, Options::default())
    }

    /// [`Redis::start_or_skip`] with options.
    pub fn start_with_or_skip(test: &str, options: Options) -> Option<Redis> {
        if !available(test) {
            return None;
        }
        Some(Redis::start(options))
    }

    /// A fresh server on `port` (check [`available`] first).
    pub fn start_on(port: u16, options: Options) -> Redis {
        let mut redis = Redis {
            port,
            tls_port: options.tls.as_ref().map(|_| super::free_port()),
            options,
            dir: super::scratch::tempdir().expect("a temporary directory for redis-server"),
            child: None,
        };
        assert!(redis.spawn(), "redis-server did not start on port {port}");
        redis
    }

    fn start(options: Options) -> Redis {
        // A free port can be taken by someone else between the check and the bind: retry.
        for _ in 0..5 {
            let mut redis = Redis {
                port: super::free_port(),
                tls_port: options.tls.as_ref().map(|_| super::free_port()),
                options: options.clone(),
                dir: super::scratch::tempdir().expect("a temporary directory for redis-server"),
                child: None,
            };
            if redis.spawn() {
                return redis;
            }
        }
        panic!("redis-server did not start on a free loopback port in five tries");
    }

    /// The port of the plain (non-TLS) listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the TLS listener, if any.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `redis://[:password@]127.0.0.1:PORT`, the password percent-encoded (as an Azure
    /// access key's `+`, `/` and `=` must be).
    pub fn url(&self) -> String {
        match &self.options.password {
            Some(password) => format!(
                "redis://:{}@127.0.0.1:{}",
                percent_encode(password),
                self.port
            ),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The server's directory (its RDB file lives there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server by PID. With [`Keep::Data`] it first writes its data to disk, to
    /// be loaded by [`Redis::start_again`].
    pub fn stop(&mut self, keep: Keep) {
        if keep == Keep::Data {
            let saved = self.cli(&["SAVE"]);
            assert_eq!(saved.trim(), "OK", "redis SAVE");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if keep == Keep::Nothing {
            let _ = std::fs::remove_file(self.dir().join(DUMP_FILE));
        }
    }

    /// Starts the stopped server again on the same port(s).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        assert!(
            self.spawn(),
            "redis-server did not start again on port {}",
            self.port
        );
    }

    /// `redis-cli` against this server (plain port, authenticated); its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.options.password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        let output = command
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .expect("redis-cli runs (it comes with redis-server)");
        assert!(output.status.success(), "redis-cli {args:?} failed");
        // Session records are binary (MessagePack): compared by content, not decoded.
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The session records (found by content: keys are opaque ids).
    pub fn session_keys(&self) -> Vec<String> {
        self.keys_holding("tower_oidc_login.user")
    }

    /// The index records: a user's sessions and a provider session's user.
    pub fn index_keys(&self) -> Vec<String> {
        self.keys_holding("tower_oidc_login.index")
    }

    fn keys_holding(&self, marker: &str) -> Vec<String> {
        self.keys()
            .into_iter()
            .filter(|k| self.cli(&["GET", k]).contains(marker))
            .collect()
    }

    /// Every key in database 0.
    pub fn keys(&self) -> Vec<String> {
        self.cli(&["--scan"])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The remaining time to live of `key` in seconds (`-1`: none, `-2`: no such key).
    pub fn ttl(&self, key: &str) -> i64 {
        self.cli(&["TTL", key])
            .trim()
            .parse()
            .expect("TTL answers a number")
    }

    /// Starts `redis-server` and waits until it answers; `false` when it exited instead
    /// (its port was taken).
    fn spawn(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            // Nothing is saved by itself; `stop(Keep::Data)` saves on demand.
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--dbfilename", DUMP_FILE])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"]);
        if let Some(password) = &self.options.password {
            command.args(["--requirepass", password]);
        }
        if let (Some(tls), Some(port)) = (&self.options.tls, self.tls_port) {
            command
                .args(["--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-auth-clients", "no"]);
        }
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("log file");
        let mut child = command
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if answers_ping(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "redis-server did not answer PING within {READY_WITHIN:?}; its log: {}",
            std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A server that answers at all (`+PONG`, or `-NOAUTH` when it wants a password) is up.
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 1];
    matches!(stream.read(&mut reply), Ok(1) if reply[0] == b'+' || reply[0] == b'-')
}

/// Whether `redis-server` can run here; if not, prints a `SKIPPED` line for `test`. Under
/// `CI=true` it must run.
pub fn available(test: &str) -> bool {
    match Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => true,
        result => {
            let why = match result {
                Ok(status) => format!("`redis-server --version` failed ({status})"),
                Err(e) => format!("redis-server is not installed ({e})"),
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: {why}; under CI=true the Redis tests must run: \
                     `apt-get install -y redis-server` (scripts/test.sh does it)"
                );
            }
            skipped(
                test,
                &format!(
                    "{why}; run scripts/test.sh or `apt-get install -y redis-server` to run it"
                ),
            );
            false
        }
    }
}

/// `value` for the userinfo of a URL: everything but letters, digits and `-._*` encoded.
pub fn percent_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Says that `test` did not run, and why, where it is seen: straight to the terminal, since
/// the test harness captures `println!` of a test that passes.
pub fn skipped(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {why}");
}
