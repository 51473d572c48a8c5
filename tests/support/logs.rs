//! Log capture for the integration tests. One global subscriber per test binary (installed
//! by the first call of either API) records every event of every target at TRACE (this
//! crate, the embedded provider, reqwest, hyper, fred, sqlx…), without colours, into:
//!
//! - one buffer for the whole binary ([`captured`], [`text`], [`mark`], [`since`]): tests
//!   that share a binary share it, so look for lines only your test can produce;
//! - the buffer of the thread that logged, while a test on that thread holds a [`Logs`]
//!   ([`Logs::capture`]). Such tests run on Tokio's current-thread runtime
//!   (`#[tokio::test]`'s default), so the app's tasks log on the test's thread too and
//!   parallel tests do not see each other's lines.
//!
//! (A per-thread *subscriber* would miss events: tracing caches, per call site, whether any
//! subscriber wants it, and tests starting and stopping subscribers in parallel race that
//! cache.)

#![allow(dead_code)]

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::format::FmtSpan;

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static CURRENT: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// Everything every event wrote, in order. The first call installs the subscriber.
pub fn captured() -> &'static Buffer {
    static BUFFER: OnceLock<Buffer> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_target(true)
            .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
            .with_writer(move || Sink(sink.clone()))
            // Also installs the `log` bridge, so reqwest's `log` records arrive too.
            .try_init()
            .expect("the only global subscriber of this test binary");
        buffer
    })
}

/// The captured log so far, as text.
pub fn text() -> String {
    let buffer = captured().lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&buffer).into_owned()
}

/// How many bytes were captured so far: `since(mark)` is what came after.
pub fn mark() -> usize {
    captured().lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// The text captured after `mark`.
pub fn since(mark: usize) -> String {
    let buffer = captured().lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&buffer[mark.min(buffer.len())..]).into_owned()
}

/// The `WARN` lines of `text`.
pub fn warnings(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains(" WARN ")).collect()
}

/// The lines this thread logged while it was held; capture stops when it is dropped.
pub struct Logs {
    buffer: Buffer,
}

impl Logs {
    /// Captures everything this thread logs from now on.
    pub fn capture() -> Logs {
        captured();
        let buffer = Buffer::default();
        CURRENT.with(|current| *current.borrow_mut() = Some(buffer.clone()));
        Logs { buffer }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines that contain every one of `parts`.
    pub fn matching(&self, parts: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .collect()
    }

    /// The one line that contains every one of `parts`; fails, showing every line, unless
    /// exactly one does.
    pub fn one(&self, parts: &[&str]) -> String {
        let mut found = self.matching(parts);
        assert_eq!(
            found.len(),
            1,
            "one line with {parts:?}: {:?}",
            self.lines()
        );
        found.remove(0)
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// Writes to the binary's buffer and, when this thread captures, to its buffer too.
struct Sink(Buffer);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        CURRENT.with(|current| {
            if let Some(buffer) = &*current.borrow() {
                buffer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
