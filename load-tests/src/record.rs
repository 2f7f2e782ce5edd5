//! Frame recording (`--record-frames DIR`): the first frames a run's clients send and
//! receive, one file each, to seed the fuzz corpora under `fuzz/corpus/`.
//!
//! Files are named `NNNNN-peerP-sent.bin` / `NNNNN-peerP-recv.bin`, numbered in the
//! order the frames were seen across all peers. Recording stops after a set number of
//! frames, so a long run writes a bounded amount; a write that fails is counted and
//! reported, and never stops the run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server.
    Sent,
    /// From the server to the client.
    Received,
}

/// Writes up to `limit` frames into a directory.
#[derive(Debug)]
pub struct FrameRecorder {
    dir: PathBuf,
    limit: u64,
    next: AtomicU64,
    failed: AtomicU64,
}

impl FrameRecorder {
    /// Records into `dir` (created if missing), at most `limit` frames.
    pub fn create(dir: &Path, limit: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(FrameRecorder { dir: dir.to_owned(), limit, next: AtomicU64::new(0), failed: AtomicU64::new(0) })
    }

    /// Writes one frame, unless the limit is reached. Small synchronous writes: at most
    /// `limit` of them in a run.
    pub fn record(&self, peer: u32, direction: Direction, frame: &[u8]) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if n >= self.limit {
            return;
        }
        let way = match direction {
            Direction::Sent => "sent",
            Direction::Received => "recv",
        };
        let path = self.dir.join(format!("{n:05}-peer{peer}-{way}.bin"));
        if std::fs::write(&path, frame).is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Frames written, and frames that could not be written.
    pub fn written(&self) -> (u64, u64) {
        let failed = self.failed.load(Ordering::Relaxed);
        (self.next.load(Ordering::Relaxed).min(self.limit) - failed, failed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
