//! The binary's memory allocator (mimalloc) and its upkeep: freed memory goes back
//! to the system once the server goes quiet. Part of the `commonboard` binary, not
//! of the library.
//!
//! mimalloc returns freed pages to the system lazily: a page freed now is purged a
//! second later, but only when some thread calls into the allocator after that
//! second has passed. A server that goes quiet after a busy workshop makes no such
//! calls, so what it freed stayed resident (the soak in docs/RELIABILITY.md ended
//! 37 MiB over its baseline). Each runtime thread therefore collects when it goes
//! idle, at most once a second, and a slow tick keeps idle threads waking up to do
//! it.
//!
//! mimalloc also takes the place of the C library's `malloc` for the whole process
//! (its `override` feature), so the embedded SQLite allocates from it too. With
//! glibc's `malloc` SQLite's memory was spread over up to 16 arenas, one per thread
//! that had used it, and after a soak they held 11 MiB for 3.7 MiB in use, which
//! `malloc_trim` could not give back (docs/RELIABILITY.md).
//!
//! mimalloc is built without asking for transparent huge pages (its `no_thp`
//! feature): with them, loading a big board touched whole 2 MiB pages that the
//! kernel zeroes first, which made the load slower (a median of 159 ms against 101
//! over 6 alternating restarts) and the server 24 MiB bigger (84 MiB against 58), for
//! no gain in CPU per update (docs/BENCHMARKS.md).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// With glibc's allocator the server's resident memory stayed near its peak after a
/// soak; mimalloc gives it back (see docs/RELIABILITY.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often a thread may collect: mimalloc purges what was freed a second before.
const COLLECT_EVERY: Duration = Duration::from_secs(1);

thread_local! {
    static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs when a runtime thread goes idle: gives back what this thread freed and
/// what is due to be purged process-wide, at most once per [`COLLECT_EVERY`].
pub fn on_idle() {
    let now = Instant::now();
    let due = LAST_COLLECT.with(|last| match last.get() {
        Some(at) if now.duration_since(at) < COLLECT_EVERY => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        collect();
    }
}

/// The only unsafe code of the workspace: a call with no arguments into mimalloc.
#[allow(unsafe_code)]
fn collect() {
    // SAFETY: mi_collect only walks the calling thread's own heap and the
    // allocator's shared arenas, under mimalloc's own locks.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

/// Wakes an idle runtime now and then, so that [`on_idle`] runs after the purge
/// delay has passed even when no request arrives. Never returns.
pub async fn keep_collecting() {
    let mut tick = tokio::time::interval(COLLECT_EVERY * 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}
