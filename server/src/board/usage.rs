//! How a loaded board is used, for the registry to choose which board to unload.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Board;

/// How a loaded board is used: read by the registry, written by the board's actor.
pub struct Usage {
    connections: AtomicUsize,
    /// Requests on their way to the board (a join, a restore): it is not idle meanwhile.
    pending: AtomicUsize,
    /// When the board was last used, on a process-wide clock that only moves forward.
    last_used: AtomicU64,
    /// Cancelled once the board's task has ended.
    exited: CancellationToken,
}

impl Usage {
    pub(crate) fn new() -> Self {
        Usage {
            connections: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            last_used: AtomicU64::new(use_clock()),
            exited: CancellationToken::new(),
        }
    }

    /// Ends the board's life for the registry once dropped: [`Self::exited`] resolves.
    pub(crate) fn exit_guard(&self) -> tokio_util::sync::DropGuard {
        self.exited.clone().drop_guard()
    }

    /// Records how many connections the board has and that it was just used.
    pub(crate) fn note(&self, connections: usize) {
        self.connections.store(connections, Ordering::SeqCst);
        self.last_used.store(use_clock(), Ordering::Relaxed);
    }

    /// Whether nobody is on the board, or on their way to it.
    pub fn is_idle(&self) -> bool {
        self.connections.load(Ordering::SeqCst) == 0 && self.pending.load(Ordering::SeqCst) == 0
    }

    /// Marks a request on its way to the board until the mark is dropped.
    pub fn pending(self: &Arc<Self>) -> Pending {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Pending(self.clone())
    }

    /// When the board was last used: a larger value is more recent.
    pub fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// Resolves once the board's task has ended (its final checkpoint written).
    pub async fn exited(&self) {
        self.exited.cancelled().await
    }
}

/// A request on its way to a board: keeps the board from counting as idle.
pub struct Pending(Arc<Usage>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The next tick of the clock boards' use is told by.
pub(super) fn use_clock() -> u64 {
    static CLOCK: AtomicU64 = AtomicU64::new(1);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

impl Board {
    /// Tells the registry how the board is used.
    pub(super) fn note_usage(&self) {
        self.usage.connections.store(self.conns.len(), Ordering::SeqCst);
        self.usage.last_used.store(use_clock(), Ordering::Relaxed);
    }
}
