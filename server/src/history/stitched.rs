//! The board at a past point in Yjs's v1 encoding, without a document: the nearest
//! checkpoint's state and the updates logged after it, stitched on their encoded form
//! ([`commonboard_protocol::stitch`]). What the history's Yjs view (`/state?format=yjs`,
//! the web client's scrubber) and a restore need; it costs a walk over the bytes instead
//! of integrating every CRDT item of the board into a `yrs::Doc` (about a microsecond
//! each), so a point deep in a long log answers as fast as one near its start.
//!
//! A v1 checkpoint is used as stored (and sent as is when the point is the
//! checkpoint's); a v2 checkpoint (written before v1 checkpoints, or by an older
//! server) is decoded and re-encoded in v1 first. When the stored forms do not stitch
//! (compaction left a gap before the point, a row does not read, a client's clock does
//! not continue), the answer is `None` and the caller builds the document as before:
//! the result is the same board either way (checked by this module's tests and by
//! `tests/it/history.rs`).

use commonboard_protocol::frame::contain_yrs;
use commonboard_protocol::stitch::Stitch;
use commonboard_protocol::validate::STORED;
use yrs::updates::encoder::Encode;

use super::HistoryError;
use crate::store::{Checkpoint, StateEncoding, Store};

/// A past point's state, v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastState {
    /// The whole board at `seq` as one Yjs update (v1).
    pub update: Vec<u8>,
    pub seq: u64,
    /// Server time of that point, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Why the stored forms were not stitched (the caller then builds a document).
#[derive(Debug, thiserror::Error)]
pub enum NotStitched {
    #[error("the log has a gap before the point (compacted): expected #{expected}, found #{found}")]
    Gap { expected: u64, found: u64 },
    #[error("nothing is stored up to the point")]
    Nothing,
    #[error("the checkpoint at #{0} does not read")]
    Checkpoint(u64),
    #[error(transparent)]
    Stitch(#[from] commonboard_protocol::stitch::StitchError),
}

/// The board at `seq` (a point of its log, checked by the caller), stitched. `Ok(None)`
/// when it cannot be stitched; the reason is logged.
#[tracing::instrument(skip(store))]
pub fn state_at(store: &dyn Store, id: &str, seq: u64) -> Result<Option<PastState>, HistoryError> {
    let checkpoint = store.checkpoint_at_or_before(id, seq)?;
    let from = checkpoint.as_ref().map_or(0, |c| c.seq);
    let entries = if from < seq { store.log(id, from + 1, seq)? } else { Vec::new() };
    let updates: Vec<(u64, i64, &[u8])> = entries.iter().map(|e| (e.seq, e.at_ms, e.update.as_slice())).collect();
    match stitch(checkpoint.as_ref(), &updates) {
        Ok(state) => Ok(Some(state)),
        Err(reason) => {
            tracing::info!(%reason, seq, "the past state does not stitch; building the document");
            Ok(None)
        }
    }
}

/// Stitches `checkpoint` (if any) and `updates` (`(seq, at_ms, update)`, the log right
/// after it, in order).
pub fn stitch(checkpoint: Option<&Checkpoint>, updates: &[(u64, i64, &[u8])]) -> Result<PastState, NotStitched> {
    let (mut seq, mut at_ms) = checkpoint.map_or((0, 0), |c| (c.seq, c.at_ms));
    for &(logged, at, _) in updates {
        if logged != seq + 1 {
            return Err(NotStitched::Gap { expected: seq + 1, found: logged });
        }
        (seq, at_ms) = (logged, at);
    }
    if seq == 0 {
        return Err(NotStitched::Nothing);
    }
    let converted;
    let base: Option<&[u8]> = match checkpoint {
        None => None,
        // The point is the checkpoint's: its bytes as stored (intact: the store checked).
        Some(c) if c.encoding == StateEncoding::V1 && updates.is_empty() => {
            return Ok(PastState { update: c.state.clone(), seq, at_ms });
        }
        Some(c) if c.encoding == StateEncoding::V1 => Some(c.state.as_slice()),
        Some(c) => {
            converted = v1_of(c).ok_or(NotStitched::Checkpoint(c.seq))?;
            Some(converted.as_slice())
        }
    };
    let mut stitched = Stitch::new(STORED);
    if let Some(base) = base {
        stitched.push(base)?;
    }
    for &(_, _, update) in updates {
        stitched.push(update)?;
    }
    Ok(PastState { update: stitched.finish(), seq, at_ms })
}

/// A checkpoint's state in v1 (`None`: it does not read, or yrs panicked on it).
fn v1_of(checkpoint: &Checkpoint) -> Option<Vec<u8>> {
    let update = checkpoint.decode().ok()?;
    contain_yrs(|| update.encode_v1()).ok()
}

#[cfg(test)]
mod tests;
