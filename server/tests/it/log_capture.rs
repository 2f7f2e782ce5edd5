//! What the server logs, captured for one test while the other tests of this binary run
//! servers of their own in the same process.
//!
//! One subscriber is installed for the whole process (at `info`), and it writes each line
//! into the capture of the thread that logged it, if that thread started one. A
//! `#[tokio::test]` runtime has one thread, the test's own, which runs every task of the
//! server the test starts (its boards' actors among them), so a capture holds that
//! server's lines and nobody else's. (A subscriber set as the thread's default instead
//! would miss lines: tracing caches whether a log statement is wanted at all, and a test
//! thread without one may settle that for everyone.)

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once};

thread_local! {
    static CURRENT: RefCell<Option<LogCapture>> = const { RefCell::new(None) };
}

/// The lines logged on one test's thread.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

/// Capturing on this thread until dropped.
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

impl LogCapture {
    /// Starts capturing what this thread logs.
    pub fn start() -> (LogCapture, Capturing) {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(|| ThreadWriter)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in the test binary");
        });
        let capture = LogCapture::default();
        CURRENT.with(|current| *current.borrow_mut() = Some(capture.clone()));
        (capture, Capturing)
    }

    /// The lines captured so far that contain every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|line| parts.iter().all(|part| line.contains(part))).map(str::to_owned).collect()
    }
}

/// Writes into the capture of the thread that logs, or nowhere.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CURRENT.with(|current| {
            if let Some(capture) = &*current.borrow() {
                capture.0.lock().unwrap().extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
