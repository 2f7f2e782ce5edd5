//! Reading boards from SQLite: the rows of a board, its votes, its log and who wrote
//! how much.

use rusqlite::{params, Connection, OptionalExtension};

use super::super::{
    Author, BallotRow, BoardRecord, Checkpoint, LogEntry, StateEncoding, StoreError, StoredVote, VoteRecord,
};

pub(super) fn checkpoint(row: &rusqlite::Row) -> rusqlite::Result<Checkpoint> {
    let encoding = StateEncoding::from_stored(row.get(3)?);
    Ok(Checkpoint { seq: row.get(0)?, at_ms: row.get(1)?, encoding, state: row.get(2)? })
}

/// The newest checkpoint at or before `seq`, intact or not (see `store::newest_intact`).
pub(super) fn checkpoint_at_or_before(conn: &Connection, id: &str, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, at, state, encoding FROM checkpoints WHERE board = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT 1",
    )?;
    Ok(statement.query_row(params![id, clamp(seq)], checkpoint).optional()?)
}

/// A sequence number as SQLite's signed integer.
pub(super) fn clamp(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(super) fn log_entry(row: &rusqlite::Row) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        seq: row.get(0)?,
        at_ms: row.get(1)?,
        author: Author { id: row.get(2)?, name: row.get(3)? },
        update: row.get(4)?,
    })
}

pub(super) fn read_board(conn: &Connection, id: &str) -> Result<Option<BoardRecord>, StoreError> {
    let record = conn
        .query_row(
            "SELECT id, title, template, created_at, links_generation, locked FROM boards WHERE id = ?1",
            [id],
            |row| {
                Ok(BoardRecord {
                    id: row.get(0)?,
                    title: row.get(1)?,
                    template: row.get(2)?,
                    created_at_ms: row.get(3)?,
                    links_generation: row.get(4)?,
                    locked: row.get(5)?,
                    removed: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut record) = record else { return Ok(None) };
    let mut statement =
        conn.prepare_cached("SELECT person FROM removed_people WHERE board = ?1 ORDER BY at, person")?;
    record.removed = statement.query_map([id], |row| row.get(0))?.collect::<Result<_, _>>()?;
    Ok(Some(record))
}

pub(super) fn read_votes(conn: &Connection, id: &str) -> Result<Vec<StoredVote>, StoreError> {
    let mut votes = conn.prepare_cached(
        "SELECT id, settings, opened_at, closes_at, open, revealed FROM votes WHERE board = ?1 ORDER BY opened_at, id",
    )?;
    let records = votes.query_map([id], |row| {
        Ok(VoteRecord {
            id: row.get(0)?,
            settings_json: row.get(1)?,
            opened_at_ms: row.get(2)?,
            closes_at_ms: row.get(3)?,
            open: row.get(4)?,
            revealed: row.get(5)?,
        })
    })?;
    let records: Vec<VoteRecord> = records.collect::<Result<_, _>>()?;
    let mut ballots = conn.prepare_cached(
        "SELECT voter, name, candidate, count FROM ballots WHERE board = ?1 AND vote = ?2 ORDER BY voter, candidate",
    )?;
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let rows = ballots.query_map(params![id, record.id], |row| {
            Ok(BallotRow { voter: row.get(0)?, name: row.get(1)?, candidate: row.get(2)?, count: row.get(3)? })
        })?;
        out.push((record, rows.collect::<Result<_, _>>()?));
    }
    Ok(out)
}

/// Bytes of the logged updates of each author, by author id: the saved counts and the
/// log after them.
pub(super) fn read_written(conn: &Connection, id: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let through: u64 = conn
        .query_row("SELECT shares_through FROM boards WHERE id = ?1", [id], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let mut statement = conn.prepare_cached("SELECT person, bytes FROM person_shares WHERE board = ?1")?;
    let saved = statement.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    let mut statement = conn.prepare_cached(
        "SELECT author_id, SUM(LENGTH(data)) FROM updates WHERE board = ?1 AND seq > ?2 GROUP BY author_id",
    )?;
    let after = statement.query_map(params![id, clamp(through)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(super::super::add_up_shares(saved.into_iter().chain(after.collect::<Result<Vec<_>, _>>()?)))
}

pub(super) fn read_log(conn: &Connection, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, at, author_id, author_name, data FROM updates
         WHERE board = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq",
    )?;
    let rows = statement.query_map(params![id, clamp(from), clamp(to)], log_entry)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
