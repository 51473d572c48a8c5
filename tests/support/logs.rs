//! What the layer logs during one test. One global subscriber per test binary writes each
//! line into the buffer of the thread that logged it; a test captures its own thread's
//! lines. Tests that use it run on Tokio's current-thread runtime (`#[tokio::test]`'s
//! default), so the app's tasks log on the test's thread too.
//!
//! (A per-thread *subscriber* would miss events: tracing caches, per call site, whether any
//! subscriber wants it, and tests starting and stopping subscribers in parallel race that
//! cache.)

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex, Once};

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static CURRENT: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// The captured lines of this thread; capture stops when it is dropped.
pub struct Logs {
    buffer: Buffer,
}

impl Logs {
    /// Captures everything at `INFO` and above from now on, on this thread.
    pub fn capture() -> Logs {
        static INIT: Once = Once::new();
        INIT.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::INFO)
                .with_ansi(false)
                .with_writer(|| ThreadSink)
                .try_init();
        });
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
}

impl Drop for Logs {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// Writes to the current thread's buffer, if it captures; elsewhere nowhere.
struct ThreadSink;

impl io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
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
