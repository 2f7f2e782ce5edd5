//! Optional retention: drops the fine-grained history older than a window while
//! keeping every checkpoint, so old moments stay viewable at checkpoint resolution.
//! Retention is unlimited unless `--keep-history` is set.

use std::time::Duration;

use commonboard_protocol::history::{Change, ChangeKind};

use crate::board::now_ms;
use crate::store::{committed, Author, BoardEvent, Handle, StoreError, Write};

/// What compaction dropped from one board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub board: String,
    /// Updates up to and including this point were dropped; its checkpoint remains.
    pub through: u64,
    /// How many logged updates were dropped.
    pub updates: u64,
    /// Their bytes (payload).
    pub bytes: u64,
}

impl std::fmt::Display for Compacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "board {}: dropped {} updates ({} bytes) up to point {}; earlier moments stay viewable at checkpoints",
            self.board, self.updates, self.bytes, self.through
        )
    }
}

/// Drops a board's updates logged before `cutoff_ms`, up to the newest checkpoint made
/// by then (updates after that checkpoint are needed to rebuild later points).
pub async fn compact_board(store: &Handle, id: &str, cutoff_ms: i64) -> Result<Option<Compacted>, StoreError> {
    let plan = {
        let id = id.to_owned();
        store
            .blocking(move |store| -> Result<_, StoreError> {
                let Some((seq, _)) = store.seq_at_time(&id, cutoff_ms)? else { return Ok(None) };
                let Some(checkpoint) = store.checkpoint_at_or_before(&id, seq)? else { return Ok(None) };
                let stats = store.log_stats(&id)?;
                if stats.updates == 0 || checkpoint.seq < stats.first_seq {
                    return Ok(None);
                }
                Ok(Some((checkpoint.seq, stats)))
            })
            .await?
    };
    let Some((through, before)) = plan else { return Ok(None) };
    let change =
        Change { kind: ChangeKind::Compacted, id: None, fields: Vec::new(), label: None, to_seq: Some(through) };
    let event = BoardEvent {
        seq: before.last_seq,
        at_ms: now_ms(),
        author: Author::server(),
        change_json: serde_json::to_string(&change).expect("change serializes"),
    };
    let writes = vec![Write::Compact { board: id.to_owned(), through }, Write::Event { board: id.to_owned(), event }];
    committed(store.submit(writes)).await?;
    let after = store.log_stats(id).await?;
    Ok(Some(Compacted {
        board: id.to_owned(),
        through,
        updates: through + 1 - before.first_seq,
        bytes: before.update_bytes.saturating_sub(after.update_bytes),
    }))
}

/// Compacts every board once; returns what was dropped.
pub async fn compact_all(store: &Handle, keep: Duration) -> Result<Vec<Compacted>, StoreError> {
    let cutoff_ms = now_ms() - keep.as_millis() as i64;
    let ids = store.board_ids().await?;
    let mut dropped = Vec::new();
    for id in ids {
        if let Some(compacted) = compact_board(store, &id, cutoff_ms).await? {
            tracing::info!(board = %compacted.board, through = compacted.through, updates = compacted.updates,
                bytes = compacted.bytes, "compacted history");
            dropped.push(compacted);
        }
    }
    Ok(dropped)
}
