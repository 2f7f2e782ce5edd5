//! `GET /api/boards/{id}/history`: the board's changes page by page, newest first,
//! with small edits close together by one author grouped into one line.

use std::collections::HashMap;

use commonboard_protocol::history::{Change, ChangeKind, HistoryAuthor, HistoryEntry, HistoryPage};

use super::summary::{self, Summarizer};
use super::{rfc3339, HistoryError};
use crate::store::{Author, BoardEvent, LogEntry, LogQuery, Store, Write};

/// Most logged updates one page reads, however much they group.
const MAX_ROWS: u32 = 2000;
/// Updates further apart than this are never grouped.
const GROUP_WINDOW_MS: i64 = 60_000;

/// What a page lists.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// Only entries before this point (exclusive); `u64::MAX` for the newest.
    pub before: u64,
    pub limit: u32,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub author: Option<String>,
}

/// One line before grouping: an update's changes or an event.
struct Line {
    seq: u64,
    first_seq: u64,
    /// Orders lines of one point: the update (0) before its events.
    order: u32,
    at_ms: i64,
    author: Author,
    updates: u32,
    changes: Vec<Change>,
}

/// Reads one page of a board's history.
#[tracing::instrument(skip(store, query))]
pub fn page(store: &dyn Store, id: &str, query: &PageQuery) -> Result<HistoryPage, HistoryError> {
    let limit = query.limit.clamp(1, 500);
    let raw_limit = (limit * 8).min(MAX_ROWS);
    let log_query = LogQuery {
        before: query.before,
        limit: raw_limit,
        since_ms: query.since_ms,
        until_ms: query.until_ms,
        author: query.author.clone(),
    };
    let mut rows = store.query_log(id, &log_query)?;
    rows.reverse();
    let exhausted = rows.len() < raw_limit as usize;
    let lowest = if exhausted { 0 } else { rows.first().map_or(0, |r| r.seq) };
    let highest = query.before.saturating_sub(1);

    let mut lines = described(store, id, &rows)?;
    for (index, event) in store.events(id, lowest, highest)?.into_iter().enumerate() {
        if !event_matches(&event, query) {
            continue;
        }
        let Ok(change) = serde_json::from_str::<Change>(&event.change_json) else {
            tracing::warn!(board = id, seq = event.seq, "an event does not parse; skipping it");
            continue;
        };
        // A restore's event names the update that holds it: one line for both.
        if change.kind == ChangeKind::Restored {
            if let Some(line) = lines.iter_mut().find(|l| l.seq == event.seq && l.order == 0) {
                line.changes.insert(0, change);
                continue;
            }
        }
        lines.push(Line {
            seq: event.seq,
            first_seq: event.seq,
            order: 1 + index as u32,
            at_ms: event.at_ms,
            author: event.author,
            updates: 0,
            changes: vec![change],
        });
    }
    lines.sort_by_key(|line| std::cmp::Reverse((line.seq, line.order)));
    let grouped = group(lines);

    // Cut after `limit` entries, but never between lines of one point, so that the
    // next page (`before` = the oldest point listed) misses nothing.
    let mut entries = Vec::new();
    let mut cut = false;
    for entry in grouped {
        if entries.len() >= limit as usize && entries.last().is_some_and(|e: &HistoryEntry| e.first_seq != entry.seq) {
            cut = true;
            break;
        }
        entries.push(entry);
    }
    let next_before = if cut || !exhausted { entries.iter().map(|e| e.first_seq).min() } else { None };
    Ok(HistoryPage { entries, next_before: next_before.filter(|&s| s > 1), log: store.log_stats(id)? })
}

/// Each row's line: from its kept description, or, for rows without one (logged since
/// the history last listed them, or by a server before descriptions were kept),
/// described by replaying them, once: their descriptions are then kept
/// ([`Write::Summaries`], not waited for; a lost write is described again next time).
fn described(store: &dyn Store, id: &str, rows: &[LogEntry]) -> Result<Vec<Line>, HistoryError> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(Vec::new()) };
    let kept: HashMap<u64, String> = store.summaries(id, first.seq, last.seq)?.into_iter().collect();
    let mut lines = Vec::with_capacity(rows.len());
    let mut missing = Vec::new();
    for row in rows {
        match kept.get(&row.seq).map(|json| serde_json::from_str::<Vec<Change>>(json)) {
            Some(Ok(changes)) => lines.push(line(row, changes)),
            // A kept description that does not parse is described again.
            _ => missing.push(row.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(lines);
    }
    let fresh = describe_rows(store, id, &missing)?;
    let keep =
        fresh.iter().map(|line| (line.seq, serde_json::to_string(&line.changes).expect("changes serialize"))).collect();
    tracing::debug!(board = id, described = fresh.len(), kept = lines.len(), "described logged updates");
    drop(store.submit(vec![Write::Summaries { board: id.to_owned(), rows: keep }]));
    lines.extend(fresh);
    lines.sort_by_key(|line| line.seq);
    Ok(lines)
}

/// The line of a row whose changes are known.
fn line(row: &LogEntry, changes: Vec<Change>) -> Line {
    Line {
        seq: row.seq,
        first_seq: row.seq,
        order: 0,
        at_ms: row.at_ms,
        author: row.author.clone(),
        updates: 1,
        changes,
    }
}

/// Describes each row, replaying from the nearest checkpoint only where the rows are
/// far apart (an author filter, say); consecutive rows replay in one pass.
fn describe_rows(store: &dyn Store, id: &str, rows: &[LogEntry]) -> Result<Vec<Line>, HistoryError> {
    let mut lines = Vec::with_capacity(rows.len());
    let mut replay: Option<(Summarizer, u64)> = None;
    for row in rows {
        // A damaged log may hold a row at point 0 (found by the `store_load` fuzz target).
        let before = row.seq.saturating_sub(1);
        let reached = replay.as_ref().map(|(_, at)| *at);
        if reached != Some(before) {
            // Catch up from where the replay is, unless a checkpoint is nearer.
            let checkpoint = store.checkpoint_at_or_before(id, before)?;
            let from = checkpoint.as_ref().map_or(0, |c| c.seq);
            if reached.is_none_or(|at| from > at) {
                replay = Some((Summarizer::new(checkpoint.as_ref()), from));
            }
        }
        let (summarizer, at) = replay.as_mut().expect("replay started");
        if *at < before {
            let entries = store.log(id, *at + 1, before)?;
            summarizer.skip_all(&entries.iter().map(|e| e.update.as_slice()).collect::<Vec<_>>());
        }
        let changes = summarizer.describe(&row.update);
        *at = row.seq;
        lines.push(line(row, changes));
    }
    Ok(lines)
}

fn event_matches(event: &BoardEvent, query: &PageQuery) -> bool {
    query.author.as_ref().is_none_or(|a| *a == event.author.id)
        && query.since_ms.is_none_or(|t| event.at_ms >= t)
        && query.until_ms.is_none_or(|t| event.at_ms <= t)
}

/// Merges runs of updates (newest first) by one author, close together, that touch the
/// same items the same way: typing into a note or dragging it is one line, not fifty.
fn group(lines: Vec<Line>) -> Vec<HistoryEntry> {
    let mut out: Vec<Line> = Vec::new();
    for line in lines {
        if let Some(last) = out.last_mut() {
            if groupable(last, &line) {
                last.first_seq = line.first_seq;
                last.updates += line.updates;
                continue;
            }
        }
        out.push(line);
    }
    out.into_iter()
        .map(|line| HistoryEntry {
            seq: line.seq,
            first_seq: line.first_seq,
            at: rfc3339(line.at_ms),
            at_ms: line.at_ms as f64,
            author: HistoryAuthor { id: line.author.id, name: line.author.name },
            updates: line.updates,
            summary: summary::describe(&line.changes),
            changes: line.changes,
        })
        .collect()
}

fn groupable(newer: &Line, older: &Line) -> bool {
    let small = |line: &Line| {
        line.updates > 0
            && !line.changes.is_empty()
            && line.changes.iter().all(|c| {
                matches!(
                    c.kind,
                    ChangeKind::NoteEdited
                        | ChangeKind::NoteMoved
                        | ChangeKind::NoteChanged
                        | ChangeKind::FrameChanged
                        | ChangeKind::ActionChanged
                        | ChangeKind::RootChanged
                )
            })
    };
    let targets = |line: &Line| line.changes.iter().map(|c| (c.kind, c.id.clone())).collect::<Vec<_>>();
    small(newer)
        && small(older)
        && newer.author.id == older.author.id
        // Saturating: a damaged row may hold any time (found by the `store_load` fuzz target).
        && newer.at_ms.saturating_sub(older.at_ms) <= GROUP_WINDOW_MS
        && targets(newer) == targets(older)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{committed, BoardRecord, Write};

    /// Found by the `store_load` fuzz target: a log row at point 0 (which no server
    /// writes) made listing the history panic on a subtraction.
    #[tokio::test]
    async fn a_log_row_at_point_zero_does_not_break_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let record = BoardRecord::blank("b");
        let entry = |seq| LogEntry { seq, at_ms: 0, author: Author::server(), update: Vec::new() };
        let writes =
            vec![Write::CreateBoard(record), Write::Append { board: "b".into(), entries: vec![entry(0), entry(1)] }];
        committed(store.submit(writes)).await.unwrap();
        let query = PageQuery { before: u64::MAX, limit: 50, since_ms: None, until_ms: None, author: None };
        page(&store, "b", &query).unwrap();
    }

    /// Found by the `store_load` fuzz target: two moves of a note logged at times far
    /// apart (a damaged row) made grouping them overflow.
    #[tokio::test]
    async fn log_rows_at_any_times_group() {
        use commonboard_protocol::schema::{Board, Note};
        use yrs::Transact;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let doc = yrs::Doc::new();
        let board = Board::new(&doc);
        let mut updates = Vec::new();
        for step in 0..3 {
            let mut txn = doc.transact_mut();
            if step == 0 {
                board.insert_note(&mut txn, &Note { id: "n".into(), ..Note::default() });
            } else {
                board.move_note(&mut txn, "n", f64::from(step), 0.0);
            }
            updates.push(txn.encode_update_v1());
        }
        let author = Author { id: "ada".into(), name: "Ada".into() };
        let times = [0, i64::MIN, i64::MAX];
        let entries = (1..)
            .zip(updates.into_iter().zip(times))
            .map(|(seq, (update, at_ms))| LogEntry { seq, at_ms, author: author.clone(), update })
            .collect();
        create_board(&store, entries).await;
        let query = PageQuery { before: u64::MAX, limit: 50, since_ms: None, until_ms: None, author: None };
        assert!(!page(&store, "b", &query).unwrap().entries.is_empty());
    }

    /// The first listing describes the rows by replaying them and keeps what it found;
    /// the next reads it back (the same page); a kept description that does not parse
    /// is described again.
    #[tokio::test]
    async fn descriptions_are_kept_once_and_read_back() {
        use commonboard_protocol::schema::{Board, Note};
        use yrs::Transact;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let doc = yrs::Doc::new();
        let board = Board::new(&doc);
        let mut updates = Vec::new();
        for step in 0..4 {
            let mut txn = doc.transact_mut();
            match step {
                0 => board.insert_note(&mut txn, &Note { id: "n".into(), text: "Pilot".into(), ..Note::default() }),
                1 => assert!(board.move_note(&mut txn, "n", 10.0, 0.0)),
                2 => assert!(board.set_note_text(&mut txn, "n", "Pilot run")),
                _ => assert!(board.remove_note(&mut txn, "n")),
            }
            updates.push(txn.encode_update_v1());
        }
        let authors = [Author { id: "ada".into(), name: "Ada".into() }, Author { id: "bo".into(), name: "Bo".into() }];
        let entries = (1..)
            .zip(updates)
            .map(|(seq, update)| LogEntry { seq, at_ms: seq as i64, author: authors[seq as usize % 2].clone(), update })
            .collect();
        create_board(&store, entries).await;
        let query = PageQuery { before: u64::MAX, limit: 50, since_ms: None, until_ms: None, author: None };
        assert!(store.summaries("b", 1, 4).unwrap().is_empty());
        let first = page(&store, "b", &query).unwrap();
        assert_eq!(first.entries.len(), 4, "{first:?}");
        // The kept descriptions were queued before this write, on the same writer.
        committed(store.submit(vec![Write::Locked { board: "b".into(), locked: false }])).await.unwrap();
        assert_eq!(store.summaries("b", 1, 4).unwrap().len(), 4);
        assert_eq!(page(&store, "b", &query).unwrap().entries, first.entries);
        let damaged = Write::Summaries { board: "b".into(), rows: vec![(2, "not json".into())] };
        committed(store.submit(vec![damaged])).await.unwrap();
        assert_eq!(page(&store, "b", &query).unwrap().entries, first.entries);
    }

    /// Stores board "b" with `entries` as its log.
    async fn create_board(store: &SqliteStore, entries: Vec<LogEntry>) {
        let record = BoardRecord::blank("b");
        let writes = vec![Write::CreateBoard(record), Write::Append { board: "b".into(), entries }];
        committed(store.submit(writes)).await.unwrap();
    }
}
