//! The board at a past point as one Yjs update, merged on the encoded form of the
//! nearest checkpoint and the log after it, without integrating a document: what the
//! Yjs view of the history (`state?format=yjs`) sends. Decoding and merging cost a
//! fraction of integrating (about a microsecond per CRDT item); the JSON view reads
//! the board's fields and still needs a document.

use commonboard_protocol::frame;
use yrs::updates::encoder::Encode;
use yrs::Update;

use super::{damaged, HistoryError};
use crate::store::Store;

/// The board at a point, as one Yjs v1 update.
pub struct EncodedPast {
    /// The whole state at `seq`.
    pub update: Vec<u8>,
    /// The point shown: the one asked for, or, when compaction dropped the updates
    /// leading to it, the nearest earlier checkpoint.
    pub seq: u64,
    /// Server time of that point, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Merges the nearest checkpoint at or before `seq` and the updates logged after it,
/// up to `seq`, as [`super::from_checkpoint`] rebuilds them (a gap stops it; a row that
/// no longer decodes is skipped).
#[tracing::instrument(skip(store))]
pub fn state_at(store: &dyn Store, id: &str, seq: u64) -> Result<EncodedPast, HistoryError> {
    let checkpoint = store.checkpoint_at_or_before(id, seq)?;
    let (mut shown, mut at_ms) = checkpoint.as_ref().map_or((0, 0), |c| (c.seq, c.at_ms));
    let entries = store.log(id, shown + 1, seq)?;
    let mut updates = Vec::with_capacity(entries.len() + 1);
    if let Some(checkpoint) = &checkpoint {
        updates.push(checkpoint.decode().map_err(|_| damaged(checkpoint.seq))?);
    }
    for entry in &entries {
        if entry.seq != shown + 1 {
            break;
        }
        match frame::decode_update(&entry.update) {
            Ok(update) => updates.push(update),
            Err(error) => tracing::error!(seq = entry.seq, %error, "a stored update no longer decodes; skipping it"),
        }
        (shown, at_ms) = (entry.seq, entry.at_ms);
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
    let update =
        crate::doc::contain_panic(|| Update::merge_updates(updates).encode_v1()).map_err(|_| damaged(shown))?;
    Ok(EncodedPast { update, seq: shown, at_ms })
}

#[cfg(test)]
mod tests {
    use commonboard_protocol::schema::Board;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, Transact};

    use super::*;
    use crate::history::cache::tests::{board, BOARD};

    /// At every kind of point (before the first checkpoint, on one, between two, the
    /// newest) the merged form shows what the rebuilt document shows.
    #[tokio::test]
    async fn the_merged_state_shows_what_the_rebuilt_document_shows() {
        let (_dir, store) = board(45, 10).await;
        for seq in [1, 7, 10, 13, 20, 29, 40, 45] {
            let encoded = state_at(&store, BOARD, seq).unwrap();
            let past = crate::history::board_at(&store, BOARD, seq).unwrap();
            assert_eq!((encoded.seq, encoded.at_ms), (past.seq, past.at_ms));
            let doc = Doc::new();
            doc.transact_mut().apply_update(Update::decode_v1(&encoded.update).unwrap()).unwrap();
            let merged = Board::new(&doc).snapshot(&doc.transact());
            assert_eq!(merged, Board::new(&past.doc).snapshot(&past.doc.transact()), "at point {seq}");
        }
        assert!(matches!(state_at(&store, "nope", 3), Err(HistoryError::NotFound)));
    }
}
