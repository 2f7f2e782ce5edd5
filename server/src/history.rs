//! A board's past: the document at any point of its log, rebuilt from the nearest
//! checkpoint before it (never from the beginning), and what the history API builds on it.
//!
//! A *point* is a sequence number of the board's update log: the board right after that
//! update. Everything here reads the store and blocks; async callers run it through
//! [`crate::store::Handle::blocking`], on the blocking pool. Handlers go through [`cache::HistoryCache`], which keeps the
//! documents of recent answers and brings one forward when that is cheaper than
//! integrating a checkpoint.

pub mod cache;
pub mod compaction;
pub mod diff;
pub mod generic;
pub mod page;
pub mod reconcile;
mod retype;
pub mod stitched;
pub mod summary;
pub mod timeline;

use commonboard_protocol::stitch::Stitch;
use commonboard_protocol::validate::STORED;
use yrs::{Doc, ReadTxn, Transact};

use crate::store::{Checkpoint, Store, StoreError};

/// Why a history request cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("board not found")]
    NotFound,
    #[error("{0}")]
    BadPoint(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A point named by sequence number or by server time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Seq(u64),
    /// Milliseconds since the Unix epoch: the last update at or before it.
    Time(i64),
}

/// The board's document as it was at a point.
pub struct PastBoard {
    pub doc: Doc,
    /// The point shown: the one asked for, or, when compaction dropped the updates
    /// leading to it, the nearest earlier checkpoint.
    pub seq: u64,
    /// Server time of that point, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Estimated memory the document takes, in bytes (from the sizes of what was
    /// applied to it; see [`cache::checkpoint_weight`]).
    pub weight: usize,
}

/// The sequence number a point names, checked against the board's log.
pub fn resolve(store: &dyn Store, id: &str, point: Point) -> Result<u64, HistoryError> {
    let last = store.last_seq(id)?;
    match point {
        Point::Seq(0) => Err(HistoryError::BadPoint("points start at 1 (the board's creation)".into())),
        Point::Seq(seq) if seq > last => {
            Err(HistoryError::BadPoint(format!("no point {seq}: the board's newest point is {last}")))
        }
        Point::Seq(seq) => Ok(seq),
        Point::Time(at_ms) => match store.seq_at_time(id, at_ms)? {
            Some((seq, _)) => Ok(seq),
            None => Err(HistoryError::BadPoint("that time is before the board was created".into())),
        },
    }
}

/// Rebuilds the document at `seq` from the nearest checkpoint at or before it and the
/// updates logged after that checkpoint.
pub fn board_at(store: &dyn Store, id: &str, seq: u64) -> Result<PastBoard, HistoryError> {
    let checkpoint = store.checkpoint_at_or_before(id, seq)?;
    from_checkpoint(store, id, checkpoint.as_ref(), seq)
}

/// Rebuilds the document at `seq` from `checkpoint` (the nearest at or before `seq`, if
/// any) and the updates logged after it.
#[tracing::instrument(skip(store, checkpoint))]
pub fn from_checkpoint(
    store: &dyn Store,
    id: &str,
    checkpoint: Option<&Checkpoint>,
    seq: u64,
) -> Result<PastBoard, HistoryError> {
    let (mut shown, mut at_ms) = checkpoint.map_or((0, 0), |c| (c.seq, c.at_ms));
    let entries = store.log(id, shown + 1, seq)?;
    // Usually: the checkpoint and the log stitched into one update, integrated at once.
    let updates: Vec<(u64, i64, &[u8])> = entries.iter().map(|e| (e.seq, e.at_ms, e.update.as_slice())).collect();
    if let Ok(past) = stitched::stitch(checkpoint, &updates) {
        if let Some(doc) = crate::doc::integrate_whole(&past.update) {
            let weight = cache::v1_weight(past.update.len());
            return Ok(PastBoard { doc, seq: past.seq, at_ms: past.at_ms, weight });
        }
    }
    let doc = Doc::new();
    let mut weight = checkpoint.map_or(0, cache::checkpoint_weight);
    {
        let mut txn = doc.transact_mut();
        if let Some(checkpoint) = checkpoint {
            if crate::doc::apply_checkpoint(&mut txn, checkpoint).is_err() {
                // Never committed, nor the document dropped (see `doc::discard`).
                std::mem::forget(txn);
                crate::doc::discard(doc);
                return Err(damaged(checkpoint.seq));
            }
        }
        // Stop at a gap: compaction dropped what came before the next checkpoint.
        for entry in &entries {
            if entry.seq != shown + 1 {
                break;
            }
            if apply(&mut txn, &entry.update).is_err() {
                std::mem::forget(txn);
                crate::doc::discard(doc);
                return Err(damaged(entry.seq));
            }
            (shown, at_ms) = (entry.seq, entry.at_ms);
            weight += cache::update_weight(entry.update.len());
        }
    }
    if shown == 0 {
        let stats = store.log_stats(id)?;
        if stats.compacted_through > 0 {
            return Err(HistoryError::BadPoint(format!(
                "the history up to point {seq} was compacted away; the earliest point still viewable is {}",
                stats.first_checkpoint
            )));
        }
        return Err(HistoryError::NotFound);
    }
    Ok(PastBoard { doc, seq: shown, at_ms, weight })
}

/// Brings a past board forward to `seq` (not before its own point) with the updates
/// logged in between. Returns false, the board unchanged, when some of them are no
/// longer in the log (compaction dropped them).
pub fn catch_up(store: &dyn Store, id: &str, past: &mut PastBoard, seq: u64) -> Result<bool, HistoryError> {
    if seq <= past.seq {
        return Ok(seq == past.seq);
    }
    let entries = store.log(id, past.seq + 1, seq)?;
    let complete = entries.len() as u64 == seq - past.seq
        && entries.iter().zip(past.seq + 1..).all(|(entry, expected)| entry.seq == expected);
    if !complete {
        return Ok(false);
    }
    // Usually: what was logged since, stitched into one update and applied at once.
    let state_vector = past.doc.transact().state_vector();
    let mut since = Stitch::after(STORED, state_vector.iter().map(|(client, &clock)| (client.get(), clock)));
    if entries.iter().all(|entry| since.push(&entry.update).is_ok()) {
        let update = since.finish();
        let mut txn = past.doc.transact_mut();
        if apply(&mut txn, &update).is_err() {
            std::mem::forget(txn);
            let broken = std::mem::replace(past, PastBoard { doc: Doc::new(), seq: 0, at_ms: 0, weight: 0 });
            crate::doc::discard(broken.doc);
            return Err(damaged(seq));
        }
        drop(txn);
        past.weight += cache::update_weight(update.len());
        let last = entries.last().expect("seq > past.seq, and every entry is there");
        (past.seq, past.at_ms) = (last.seq, last.at_ms);
        return Ok(true);
    }
    let mut txn = past.doc.transact_mut();
    for entry in &entries {
        if apply(&mut txn, &entry.update).is_err() {
            // The document saw a panic: it must not be read again, nor kept in a cache,
            // nor the transaction committed (see `doc::discard`).
            std::mem::forget(txn);
            let broken = std::mem::replace(past, PastBoard { doc: Doc::new(), seq: 0, at_ms: 0, weight: 0 });
            crate::doc::discard(broken.doc);
            return Err(damaged(entry.seq));
        }
        past.weight += cache::update_weight(entry.update.len());
    }
    drop(txn);
    let last = entries.last().expect("seq > past.seq, and every entry is there");
    (past.seq, past.at_ms) = (last.seq, last.at_ms);
    Ok(true)
}

/// The answer when yrs panicked on a stored row: the board cannot be shown there.
fn damaged(seq: u64) -> HistoryError {
    HistoryError::BadPoint(format!("the stored history is damaged at point {seq}: the board cannot be rebuilt there"))
}

/// Applies a stored update; one that no longer applies is skipped (it was accepted
/// once, so this would be a bug, logged rather than failing the whole read). `Err`:
/// yrs panicked (a damaged row), and the document must not be read again: reading one
/// crashed the process (found by the `store_load` fuzz target).
pub fn apply(txn: &mut yrs::TransactionMut, update: &[u8]) -> Result<(), commonboard_protocol::frame::YrsPanicked> {
    use commonboard_protocol::frame::{contain_yrs, decode_update};
    let applied = match decode_update(update) {
        Ok(update) => contain_yrs(|| txn.apply_update(update))?.map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = applied {
        tracing::error!(%error, "a stored update no longer applies; skipping it");
    }
    Ok(())
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds.
pub fn rfc3339(at_ms: i64) -> String {
    // A damaged log row may hold any time: past year 9999 humantime cannot format it
    // and `to_string` panicked (found by the `store_load` fuzz target).
    const LAST_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms.clamp(0, LAST_MS) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Parses an RFC 3339 time into milliseconds since the epoch.
pub fn parse_time(text: &str) -> Result<i64, HistoryError> {
    let at = humantime::parse_rfc3339_weak(text)
        .map_err(|e| HistoryError::BadPoint(format!("time {text:?} is not RFC 3339 ({e})")))?;
    let since =
        at.duration_since(std::time::UNIX_EPOCH).map_err(|_| HistoryError::BadPoint("time before 1970".into()))?;
    Ok(since.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `store_load` fuzz target: a log row's time far in the future made
    /// the history panic formatting it.
    #[test]
    fn any_time_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(6_978_848_627_273_343_329), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(i64::MIN), "1970-01-01T00:00:00.000Z");
    }
}
