//! `GET /api/boards/{id}/timeline`: the session at a glance, as the history mode's
//! timeline draws it: updates per stretch of time, and markers for votes, restores,
//! locks and compactions.

use commonboard_protocol::history::{Change, Timeline, TimelineBucket, TimelineMarker};

use super::summary;
use super::HistoryError;
use crate::store::Store;

/// Reads a board's timeline in `buckets` equal stretches of time.
#[tracing::instrument(skip(store))]
pub fn timeline(store: &dyn Store, id: &str, buckets: u32) -> Result<Timeline, HistoryError> {
    let buckets = buckets.clamp(1, 2000);
    let stats = store.log_stats(id)?;
    let activity = store.activity(id, buckets)?;
    let span = (activity.end_ms - activity.start_ms).max(1) as f64;
    // Every stretch, empty ones included, each with the last point reached by its end,
    // so that a position on the timeline maps to a point without another request.
    let mut filled = Vec::with_capacity(buckets as usize);
    let mut counted = activity.buckets.iter().peekable();
    let mut last_seq = stats.first_seq.saturating_sub(1).max(stats.compacted_through);
    for index in 0..buckets {
        let mut updates = 0;
        if let Some(&(_, count, last)) = counted.next_if(|(i, _, _)| *i == index) {
            updates = count;
            last_seq = last;
        }
        let start_ms = activity.start_ms as f64 + span * index as f64 / buckets as f64;
        filled.push(TimelineBucket { start_ms, updates, last_seq });
    }
    let markers = store
        .events(id, 0, u64::MAX)?
        .into_iter()
        .filter_map(|event| {
            let change: Change = serde_json::from_str(&event.change_json).ok()?;
            Some(TimelineMarker {
                seq: event.seq,
                at_ms: event.at_ms as f64,
                kind: change.kind,
                label: format!("{} {}", event.author.name, summary::describe(std::slice::from_ref(&change))),
            })
        })
        .collect();
    Ok(Timeline {
        first_seq: stats.first_seq,
        last_seq: stats.last_seq,
        start_ms: activity.start_ms as f64,
        end_ms: activity.end_ms as f64,
        buckets: filled,
        markers,
        log: stats,
    })
}
