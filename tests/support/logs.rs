//! Log capture for a whole test binary: every event of every target at TRACE (this crate,
//! the embedded provider, reqwest, hyper, fred, sqlx…), written without colours to one
//! buffer. The subscriber is global, so tests that share a binary share the buffer: look
//! for lines that only your test can produce (a port, a unique value).

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::format::FmtSpan;

/// Everything every subscriber event wrote, in order. The first call installs the
/// subscriber.
pub fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
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

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
