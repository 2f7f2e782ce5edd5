//! A connection's side of the board: its id, its bounded frame queue (counted in
//! bytes as well as frames) and the signal that closes it from any task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use commonboard_protocol::close::{self, CloseCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::telemetry::{self, Limit};

/// Identifies a connection for as long as the process runs.
pub type ConnId = u64;

/// Gives each connection a process-wide unique id.
pub fn next_conn_id() -> ConnId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A connection's way out: its bounded frame queue and a signal that closes it.
#[derive(Clone)]
pub struct Outbox {
    pub(crate) frames: mpsc::Sender<Bytes>,
    pub(crate) closer: Arc<Closer>,
    /// Bytes in the queue, shared with whoever drains it (see [`QueuedBytes`]).
    pub(crate) queued: Arc<QueuedBytes>,
    /// Most bytes queued at once; one frame alone always fits.
    pub(crate) max_queued: usize,
}

/// Bytes of a connection's frames queued and not yet handed to its socket: the board
/// adds each frame it queues, the task draining the queue takes it off when written.
#[derive(Debug, Default)]
pub struct QueuedBytes(std::sync::atomic::AtomicUsize);

impl QueuedBytes {
    /// A frame of `len` bytes left the queue.
    pub fn sent(&self, len: usize) {
        self.0.fetch_sub(len, Ordering::Relaxed);
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Ends a connection with a close code and reason, from any task.
pub struct Closer {
    reason: std::sync::OnceLock<(CloseCode, String)>,
    token: CancellationToken,
}

impl Closer {
    pub fn new() -> Arc<Self> {
        Arc::new(Closer { reason: std::sync::OnceLock::new(), token: CancellationToken::new() })
    }

    /// Asks the connection to close; the first reason given wins.
    pub fn close(&self, code: CloseCode, reason: impl Into<String>) {
        let _ = self.reason.set((code, reason.into()));
        self.token.cancel();
    }

    /// Resolves once someone asked the connection to close.
    pub async fn closed(&self) {
        self.token.cancelled().await
    }

    /// The close code and reason, once closed.
    pub fn reason(&self) -> Option<&(CloseCode, String)> {
        self.reason.get()
    }
}

impl Outbox {
    pub fn new(frames: mpsc::Sender<Bytes>, closer: Arc<Closer>) -> Self {
        Outbox { frames, closer, queued: Arc::default(), max_queued: usize::MAX }
    }

    /// The count of bytes queued, for the task that drains the queue to call
    /// [`QueuedBytes::sent`] on.
    pub fn queued(&self) -> Arc<QueuedBytes> {
        self.queued.clone()
    }

    /// Whether the client is so far behind that no reply should be built for it: it
    /// is then closed as too slow.
    pub(crate) fn too_far_behind(&self) -> bool {
        if self.queued.get() < self.max_queued {
            return false;
        }
        self.too_slow(format_args!("{} bytes queued", self.max_queued));
        true
    }

    fn too_slow(&self, limit: std::fmt::Arguments<'_>) {
        if self.closer.reason().is_none() {
            warn!(%limit, "client too slow: its send queue is full; closing it");
            telemetry::refused(Limit::SlowReader);
        }
        self.closer.close(close::TOO_SLOW, "too slow to keep up with the board; reconnect to resync");
    }

    /// Frames waiting in the queue.
    pub(crate) fn depth(&self) -> usize {
        self.frames.max_capacity() - self.frames.capacity()
    }

    /// Closes the connection with a code and reason (the first reason given wins).
    pub(crate) fn close(&self, code: CloseCode, reason: impl Into<String>) {
        self.closer.close(code, reason);
    }

    /// Queues a frame; a full queue means the client cannot keep up, and it is closed.
    pub(crate) fn send(&self, frame: Bytes) -> bool {
        let len = frame.len();
        let queued = self.queued.get();
        if queued > 0 && queued.saturating_add(len) > self.max_queued {
            self.too_slow(format_args!("{} bytes queued", self.max_queued));
            return false;
        }
        // Counted before it is queued, so the drain never takes off more than was added.
        self.queued.0.fetch_add(len, Ordering::Relaxed);
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.sent(len);
                self.too_slow(format_args!("{} frames queued", self.frames.max_capacity()));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued.sent(len);
                false
            }
        }
    }
}
