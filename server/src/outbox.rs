//! A connection's side of the board: its id, its socket's bounded frame queue (counted
//! in bytes as well as frames, see [`Socket`]) and the signal that closes it from any task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use commonboard_protocol::close::{self, CloseCode};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::socket::{Cap, Refused, Socket};
use crate::telemetry::{self, Limit};
use crate::ws_frame::Frame;

/// Identifies a connection for as long as the process runs.
pub type ConnId = u64;

/// Gives each connection a process-wide unique id.
pub fn next_conn_id() -> ConnId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A connection's way out: its socket (frames written there, queued when the kernel
/// would block) and a signal that closes it. Clones share both.
#[derive(Clone)]
pub struct Outbox {
    pub(crate) socket: Arc<Socket>,
    pub(crate) closer: Arc<Closer>,
    /// Dropped with the last clone: the connection then knows the board let it go.
    pub(crate) _held: Arc<Held>,
    /// Most frames queued at once.
    pub(crate) max_frames: usize,
    /// Most bytes queued at once; one frame alone always fits.
    pub(crate) max_queued: usize,
}

/// Cancels its token when dropped: the last [`Outbox`] of a connection is gone.
pub(crate) struct Held(CancellationToken);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Resolves once every [`Outbox`] of a connection was dropped (the board let it go).
#[derive(Clone)]
pub struct Released(CancellationToken);

impl Released {
    pub async fn released(&self) {
        self.0.cancelled().await
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
    /// The way out to `socket`, holding at most `max_frames` queued frames (and no
    /// byte limit until the board sets one); and what tells when the board let it go.
    pub fn new(socket: Arc<Socket>, closer: Arc<Closer>, max_frames: usize) -> (Self, Released) {
        let token = CancellationToken::new();
        let outbox = Outbox {
            socket,
            closer,
            _held: Arc::new(Held(token.clone())),
            max_frames: max_frames.max(1),
            max_queued: usize::MAX,
        };
        (outbox, Released(token))
    }

    /// An outbox whose frames only queue (tests of the board's decisions).
    pub fn detached(closer: Arc<Closer>) -> Self {
        Outbox::new(Arc::new(Socket::detached()), closer, usize::MAX).0
    }

    fn cap(&self) -> Cap {
        Cap { frames: self.max_frames, bytes: self.max_queued }
    }

    /// Whether the client is so far behind that no reply should be built for it: it
    /// is then closed as too slow.
    pub(crate) fn too_far_behind(&self) -> bool {
        if self.socket.queued_bytes() < self.max_queued {
            return false;
        }
        self.too_slow(&Refused::Bytes(self.max_queued));
        true
    }

    fn too_slow(&self, limit: &Refused) {
        if self.closer.reason().is_none() {
            warn!(%limit, "client too slow: its send queue is full; closing it");
            telemetry::refused(Limit::SlowReader);
        }
        self.closer.close(close::TOO_SLOW, "too slow to keep up with the board; reconnect to resync");
    }

    /// Frames waiting in the queue.
    pub(crate) fn depth(&self) -> usize {
        self.socket.depth()
    }

    /// Closes the connection with a code and reason (the first reason given wins).
    pub(crate) fn close(&self, code: CloseCode, reason: impl Into<String>) {
        self.closer.close(code, reason);
    }

    /// Sends a frame: written at once when nothing waits and the kernel takes it,
    /// queued otherwise. A full queue means the client cannot keep up, and it is closed.
    pub(crate) fn send(&self, frame: &Frame) -> bool {
        let sent = self.socket.send([frame], self.cap(), true);
        self.sent(sent)
    }

    /// Queues frames without writing them: [`Outbox::flush`] writes a tick's frames to
    /// a connection in one system call.
    pub(crate) fn queue<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) -> bool {
        let sent = self.socket.send(frames, self.cap(), false);
        self.sent(sent)
    }

    /// Writes what [`Outbox::queue`] queued.
    pub(crate) fn flush(&self) -> bool {
        let sent = self.socket.flush();
        self.sent(sent)
    }

    fn sent(&self, sent: Result<(), Refused>) -> bool {
        match sent {
            Ok(()) => true,
            Err(refused @ (Refused::Frames(_) | Refused::Bytes(_))) => {
                self.too_slow(&refused);
                false
            }
            Err(Refused::Shut) => false,
            Err(Refused::Failed(error)) => {
                debug!(%error, "socket failed");
                self.closer.close(CloseCode(1006), "");
                false
            }
        }
    }
}
