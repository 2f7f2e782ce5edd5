//! Group commit, the same for every backend: a writer thread takes every batch waiting
//! in its queue and commits them together (one fsync for all the boards that changed
//! meanwhile), then answers each batch.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::{StoreError, Write};

/// Most batches one commit takes, so a flood of writers still gets regular commits.
const MAX_BATCHES_PER_COMMIT: usize = 1024;

/// A batch of writes for a writer thread, and where its result goes.
pub struct Request {
    pub writes: Vec<Write>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// Runs a writer thread until its queue closes: waits for a batch, takes every one
/// queued behind it, has `commit` write them together (one result per request, in
/// order), and answers each.
pub fn write_loop(queue: mpsc::Receiver<Request>, mut commit: impl FnMut(&[Request]) -> Vec<Result<(), StoreError>>) {
    let mut pending = Vec::new();
    while let Ok(first) = queue.recv() {
        pending.push(first);
        while pending.len() < MAX_BATCHES_PER_COMMIT {
            match queue.try_recv() {
                Ok(request) => pending.push(request),
                Err(_) => break,
            }
        }
        let _span = tracing::debug_span!("store_commit", batches = pending.len()).entered();
        let started = std::time::Instant::now();
        let results = commit(&pending);
        metrics::histogram!(crate::telemetry::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "committed");
        for (request, result) in pending.drain(..).zip(results) {
            let _ = request.done.send(result);
        }
    }
}
