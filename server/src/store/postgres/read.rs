//! Reads of the PostgreSQL store, one function per [`Store`](crate::store::Store) read.
//!
//! Every function takes anything that runs queries (a pooled connection or a read-only
//! snapshot transaction), so multi-query reads can share one snapshot.

use postgres::{GenericClient, Row};

use super::clamp;
use crate::store::{
    newest_intact, Activity, Author, BallotRow, BoardEvent, BoardRecord, Checkpoint, LogEntry, LogQuery, LogStats,
    StateEncoding, StoreError, StoredBoard, StoredPrivateNote, StoredVote, StoredWebhook, VoteRecord,
};

const LOG_COLUMNS: &str = "seq, at, author_id, author_name, data";

pub fn board(conn: &mut impl GenericClient, id: &str) -> Result<Option<BoardRecord>, StoreError> {
    let row = conn.query_opt(
        "SELECT id, title, template, created_at, links_generation, locked FROM boards WHERE id = $1",
        &[&id],
    )?;
    let Some(row) = row else { return Ok(None) };
    let removed = conn.query("SELECT person FROM removed_people WHERE board = $1 ORDER BY at, person", &[&id])?;
    Ok(Some(BoardRecord {
        id: row.get(0),
        title: row.get(1),
        template: row.get(2),
        created_at_ms: row.get(3),
        links_generation: unsigned(row.get(4)),
        locked: row.get(5),
        removed: removed.iter().map(|row| row.get(0)).collect(),
    }))
}

pub fn load(conn: &mut impl GenericClient, id: &str) -> Result<Option<StoredBoard>, StoreError> {
    let Some(record) = board(conn, id)? else {
        return Ok(None);
    };
    let checkpoint = checkpoint_at_or_before(conn, id, u64::MAX)?;
    let after = checkpoint.as_ref().map_or(0, |c| c.seq);
    let tail = log(conn, id, after + 1, u64::MAX)?;
    let votes = votes(conn, id)?;
    let workshop = workshop(conn, id)?;
    let private_notes = conn
        .query("SELECT id, author_id, author_name, note FROM private_notes WHERE board = $1 ORDER BY id", &[&id])?
        .iter()
        .map(|row| StoredPrivateNote {
            id: row.get(0),
            author: Author { id: row.get(1), name: row.get(2) },
            note_json: row.get(3),
        })
        .collect();
    let written = written(conn, id)?;
    // The checkpoint's clocks are read by the board as it loads (see SQLite's load).
    let checkpoint_clocks = None;
    Ok(Some(StoredBoard { record, checkpoint, tail, votes, workshop, private_notes, written, checkpoint_clocks }))
}

/// Bytes of the logged updates of each author, by author id: the saved counts and the
/// log after them.
fn written(conn: &mut impl GenericClient, id: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let through: i64 =
        conn.query_opt("SELECT shares_through FROM boards WHERE id = $1", &[&id])?.map_or(0, |row| row.get(0));
    let saved = conn.query("SELECT person, bytes FROM person_shares WHERE board = $1", &[&id])?;
    let after = conn.query(
        "SELECT author_id, SUM(octet_length(data))::BIGINT FROM updates WHERE board = $1 AND seq > $2
         GROUP BY author_id",
        &[&id, &through],
    )?;
    let rows = saved.iter().chain(&after).map(|row| (row.get(0), unsigned(row.get(1))));
    Ok(crate::store::add_up_shares(rows))
}

pub fn votes(conn: &mut impl GenericClient, id: &str) -> Result<Vec<StoredVote>, StoreError> {
    let records: Vec<VoteRecord> = conn
        .query(
            "SELECT id, settings, opened_at, closes_at, open, revealed FROM votes WHERE board = $1
             ORDER BY opened_at, id",
            &[&id],
        )?
        .iter()
        .map(|row| VoteRecord {
            id: row.get(0),
            settings_json: row.get(1),
            opened_at_ms: row.get(2),
            closes_at_ms: row.get(3),
            open: row.get(4),
            revealed: row.get(5),
        })
        .collect();
    let ballots = conn.query(
        "SELECT vote, voter, name, candidate, count FROM ballots WHERE board = $1 ORDER BY vote, voter, candidate",
        &[&id],
    )?;
    let mut out: Vec<StoredVote> = records.into_iter().map(|record| (record, Vec::new())).collect();
    for row in &ballots {
        let vote: &str = row.get(0);
        if let Some((_, rows)) = out.iter_mut().find(|(record, _)| record.id == vote) {
            rows.push(BallotRow {
                voter: row.get(1),
                name: row.get(2),
                candidate: row.get(3),
                count: u32::try_from(row.get::<_, i64>(4)).unwrap_or(u32::MAX),
            });
        }
    }
    Ok(out)
}

pub fn log(conn: &mut impl GenericClient, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
    let rows = conn.query(
        &format!("SELECT {LOG_COLUMNS} FROM updates WHERE board = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq"),
        &[&id, &clamp(from), &clamp(to)],
    )?;
    Ok(rows.iter().map(log_entry).collect())
}

/// The newest intact checkpoint at or before `seq` (see `store::newest_intact`).
pub fn checkpoint_at_or_before(
    conn: &mut impl GenericClient,
    id: &str,
    seq: u64,
) -> Result<Option<Checkpoint>, StoreError> {
    newest_intact(seq, |bound| {
        let row = conn.query_opt(
            "SELECT seq, at, state, encoding FROM checkpoints WHERE board = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
            &[&id, &clamp(bound)],
        )?;
        Ok(row.map(|row| checkpoint(&row)))
    })
}

pub fn seq_at_time(conn: &mut impl GenericClient, id: &str, at_ms: i64) -> Result<Option<(u64, i64)>, StoreError> {
    let logged = conn.query_opt(
        "SELECT seq, at FROM updates WHERE board = $1 AND at <= $2 ORDER BY at DESC, seq DESC LIMIT 1",
        &[&id, &at_ms],
    )?;
    // Compacted away: the newest checkpoint made by then.
    let row = match logged {
        Some(row) => Some(row),
        None => conn.query_opt(
            "SELECT seq, at FROM checkpoints WHERE board = $1 AND at <= $2 ORDER BY seq DESC LIMIT 1",
            &[&id, &at_ms],
        )?,
    };
    Ok(row.map(|row| (unsigned(row.get(0)), row.get(1))))
}

pub fn query_log(conn: &mut impl GenericClient, id: &str, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {LOG_COLUMNS} FROM updates
             WHERE board = $1 AND seq < $2 AND at >= $3 AND at <= $4 AND ($5::TEXT IS NULL OR author_id = $5)
             ORDER BY seq DESC LIMIT $6"
        ),
        &[
            &id,
            &clamp(query.before),
            &query.since_ms.unwrap_or(i64::MIN),
            &query.until_ms.unwrap_or(i64::MAX),
            &query.author,
            &i64::from(query.limit),
        ],
    )?;
    Ok(rows.iter().map(log_entry).collect())
}

pub fn events(conn: &mut impl GenericClient, id: &str, from: u64, to: u64) -> Result<Vec<BoardEvent>, StoreError> {
    let rows = conn.query(
        "SELECT seq, at, author_id, author_name, change FROM events
         WHERE board = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq, id",
        &[&id, &clamp(from), &clamp(to)],
    )?;
    Ok(rows
        .iter()
        .map(|row| BoardEvent {
            seq: unsigned(row.get(0)),
            at_ms: row.get(1),
            author: Author { id: row.get(2), name: row.get(3) },
            change_json: row.get(4),
        })
        .collect())
}

pub fn summaries(
    conn: &mut impl GenericClient,
    id: &str,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, String)>, StoreError> {
    let rows = conn.query(
        "SELECT seq, changes FROM summaries WHERE board = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
        &[&id, &clamp(from), &clamp(to)],
    )?;
    Ok(rows.iter().map(|row| (unsigned(row.get(0)), row.get(1))).collect())
}

pub fn last_seq(conn: &mut impl GenericClient, id: &str) -> Result<u64, StoreError> {
    let row = conn.query_one(
        "SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM updates WHERE board = $1), 0),
                         COALESCE((SELECT MAX(seq) FROM checkpoints WHERE board = $1), 0))",
        &[&id],
    )?;
    Ok(unsigned(row.get(0)))
}

pub fn log_stats(conn: &mut impl GenericClient, id: &str) -> Result<LogStats, StoreError> {
    let log = conn.query_one(
        "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0), COUNT(*), COALESCE(SUM(octet_length(data)), 0)::BIGINT
         FROM updates WHERE board = $1",
        &[&id],
    )?;
    let checkpoints = conn.query_one(
        "SELECT COUNT(*), COALESCE(SUM(octet_length(state)), 0)::BIGINT, COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0)
         FROM checkpoints WHERE board = $1",
        &[&id],
    )?;
    let compacted_through = conn
        .query_opt("SELECT compacted_through FROM boards WHERE id = $1", &[&id])?
        .map_or(0, |row| unsigned(row.get(0)));
    let updates = unsigned(log.get(2));
    Ok(LogStats {
        first_seq: if updates == 0 { compacted_through + 1 } else { unsigned(log.get(0)) },
        last_seq: u64::max(unsigned(log.get(1)), unsigned(checkpoints.get(3))),
        updates,
        update_bytes: unsigned(log.get(3)),
        checkpoints: unsigned(checkpoints.get(0)),
        checkpoint_bytes: unsigned(checkpoints.get(1)),
        first_checkpoint: unsigned(checkpoints.get(2)),
        compacted_through,
    })
}

pub fn activity(conn: &mut impl GenericClient, id: &str, buckets: u32) -> Result<Activity, StoreError> {
    let span = conn.query_one("SELECT MIN(at), MAX(at) FROM updates WHERE board = $1", &[&id])?;
    let (Some(start_ms), Some(end_ms)) = (span.get::<_, Option<i64>>(0), span.get::<_, Option<i64>>(1)) else {
        return Ok(Activity::default());
    };
    let buckets = i64::from(buckets.max(1));
    let span = (end_ms - start_ms).max(1);
    let rows = conn.query(
        "SELECT LEAST($4::BIGINT - 1, (at - $2::BIGINT) * $4::BIGINT / $3::BIGINT) AS bucket, COUNT(*), MAX(seq) FROM updates
         WHERE board = $1 GROUP BY bucket ORDER BY bucket",
        &[&id, &start_ms, &span, &buckets],
    )?;
    let buckets = rows
        .iter()
        .map(|row| {
            let bucket = u32::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            let count = u32::try_from(row.get::<_, i64>(1)).unwrap_or(u32::MAX);
            (bucket, count, unsigned(row.get(2)))
        })
        .collect();
    Ok(Activity { start_ms, end_ms, buckets })
}

pub fn authors(conn: &mut impl GenericClient, id: &str) -> Result<Vec<Author>, StoreError> {
    // Each author once, with the name of their first change, in the order they came.
    let rows = conn.query(
        "SELECT author_id, author_name FROM (
             SELECT DISTINCT ON (author_id) author_id, author_name, seq FROM (
                 SELECT author_id, author_name, seq FROM updates WHERE board = $1
                 UNION ALL SELECT author_id, author_name, seq FROM events WHERE board = $1
             ) AS changes WHERE author_id <> 'server' ORDER BY author_id, seq
         ) AS firsts ORDER BY seq, author_id",
        &[&id],
    )?;
    Ok(rows.iter().map(|row| Author { id: row.get(0), name: row.get(1) }).collect())
}

pub fn workshop(conn: &mut impl GenericClient, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_opt("SELECT state FROM workshops WHERE board = $1", &[&id])?.map(|row| row.get(0)))
}

pub fn board_ids(conn: &mut impl GenericClient) -> Result<Vec<String>, StoreError> {
    Ok(conn.query("SELECT id FROM boards ORDER BY id", &[])?.iter().map(|row| row.get(0)).collect())
}

pub fn webhooks(conn: &mut impl GenericClient) -> Result<Vec<StoredWebhook>, StoreError> {
    let rows = conn.query(
        "SELECT board, id, url, events, secret, registered_by, created_at FROM webhooks
         ORDER BY board, created_at, id",
        &[],
    )?;
    rows.iter()
        .map(|row| {
            Ok(StoredWebhook {
                board: row.get(0),
                id: row.get(1),
                url: row.get(2),
                events: crate::store::webhook_events(row.get(3))?,
                secret: row.get(4),
                registered_by: row.get(5),
                created_at_ms: row.get(6),
            })
        })
        .collect()
}

fn checkpoint(row: &Row) -> Checkpoint {
    let encoding = StateEncoding::from_stored(row.get::<_, i16>(3).into());
    Checkpoint { seq: unsigned(row.get(0)), at_ms: row.get(1), encoding, state: row.get(2) }
}

fn log_entry(row: &Row) -> LogEntry {
    LogEntry {
        seq: unsigned(row.get(0)),
        at_ms: row.get(1),
        author: Author { id: row.get(2), name: row.get(3) },
        update: row.get(4),
    }
}

/// A count or sequence number from a bigint column (never negative: the schema checks).
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
