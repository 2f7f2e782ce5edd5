//! Reads that rebuild a board from the store, a few at a time: a past point, a history
//! page, an export, the minutes.
//!
//! Each one integrates a whole document: about a microsecond of CPU per CRDT item and
//! about 15 times the board's encoded size in memory (hundreds of MiB for a board of a
//! million updates). Unbounded, anyone who may read a board could send a few hundred at
//! once and take the server's memory and cores from every live board (measured: 400
//! concurrent reads of a 50,000-update board took the process from 55 MiB to 703 MiB).
//! So at most `running` run at once and `waiting` more wait their turn, each for at most
//! `wait`; past that a read is answered 503 with `Retry-After` at once. A read's permit
//! goes with its work onto the blocking pool and is freed when the work ends, not when
//! the client hangs up: a client that sends reads and drops them cannot pile up work
//! behind the bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use crate::error::AppError;
use crate::store::{Store, StoreError};
use crate::telemetry::{self, Limit};

/// How many heavy reads run and wait at once (`--max-heavy-reads`).
#[derive(Debug, Clone, Copy)]
pub struct HeavyReadLimits {
    /// Reads running at once.
    pub running: usize,
    /// Reads waiting for a turn; more are refused at once.
    pub waiting: usize,
    /// Longest wait for a turn before the read is refused.
    pub wait: Duration,
}

impl HeavyReadLimits {
    /// `running` at once, eight times as many waiting, each for at most 10 seconds.
    pub fn new(running: usize) -> Self {
        let running = running.max(1);
        HeavyReadLimits { running, waiting: running * 8, wait: Duration::from_secs(10) }
    }
}

/// Why a heavy read was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("the server is rebuilding as many boards as it can at once; try again in a moment")]
    LineFull,
    #[error("no turn came to rebuild this board in time; try again in a moment")]
    TimedOut,
}

/// The heavy reads' turns: a semaphore and a bounded line in front of it.
pub struct HeavyReads {
    limits: HeavyReadLimits,
    turns: Arc<Semaphore>,
    in_line: AtomicUsize,
}

/// A turn to run one heavy read: move it into the work, and the turn ends with it.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
}

impl HeavyReads {
    pub fn new(limits: HeavyReadLimits) -> Self {
        HeavyReads { limits, turns: Arc::new(Semaphore::new(limits.running)), in_line: AtomicUsize::new(0) }
    }

    /// Waits for a turn, or says why there is none.
    pub async fn turn(&self) -> Result<Turn, Busy> {
        if let Ok(permit) = self.turns.clone().try_acquire_owned() {
            return Ok(Turn { _permit: permit });
        }
        let joined = self.in_line.fetch_add(1, Ordering::AcqRel);
        let _leave = LeaveLine(&self.in_line);
        if joined >= self.limits.waiting {
            telemetry::refused(Limit::HeavyReads);
            return Err(Busy::LineFull);
        }
        match tokio::time::timeout(self.limits.wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Turn { _permit: permit }),
            // The semaphore is never closed; a timeout is the only way out.
            Ok(Err(_)) | Err(_) => {
                telemetry::refused(Limit::HeavyReads);
                Err(Busy::TimedOut)
            }
        }
    }
}

/// Runs `read` on the blocking pool in a heavy read's turn, which ends with the read.
pub(super) async fn run<T, E>(
    state: &AppState,
    read: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
) -> Result<T, AppError>
where
    T: Send + 'static,
    E: From<StoreError> + Into<AppError> + Send + 'static,
{
    let turn = state.heavy_reads.turn().await?;
    let read = move |store: &dyn Store| {
        let _turn = turn;
        read(store)
    };
    state.registry.store().blocking(read).await.map_err(Into::into)
}

/// Leaves the line when the wait ends, however it ends (a dropped request included).
struct LeaveLine<'a>(&'a AtomicUsize);

impl Drop for LeaveLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(running: usize, waiting: usize, wait_ms: u64) -> Arc<HeavyReads> {
        Arc::new(HeavyReads::new(HeavyReadLimits { running, waiting, wait: Duration::from_millis(wait_ms) }))
    }

    /// A read waiting for a turn, once it is in line.
    async fn in_line(reads: &Arc<HeavyReads>) -> tokio::task::JoinHandle<Result<(), Busy>> {
        let waiting = tokio::spawn({
            let reads = reads.clone();
            async move { reads.turn().await.map(|_| ()) }
        });
        while reads.in_line.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        waiting
    }

    #[tokio::test]
    async fn a_full_line_refuses_at_once_and_a_freed_turn_goes_to_the_next_in_line() {
        let reads = reads(1, 1, 5_000);
        let first = reads.turn().await.unwrap();
        let waiter = in_line(&reads).await;
        assert_eq!(reads.turn().await.err(), Some(Busy::LineFull));
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(reads.in_line.load(Ordering::Acquire), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_after_its_limit() {
        let reads = reads(1, 4, 100);
        let _running = reads.turn().await.unwrap();
        assert_eq!(reads.turn().await.err(), Some(Busy::TimedOut));
        assert_eq!(reads.in_line.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_the_line() {
        let reads = reads(1, 1, 5_000);
        let _running = reads.turn().await.unwrap();
        let waiting = in_line(&reads).await;
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(reads.in_line.load(Ordering::Acquire), 0);
    }
}
