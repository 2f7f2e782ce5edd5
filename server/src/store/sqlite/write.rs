//! The SQLite writer thread: every queued batch in its own savepoint, all committed
//! together; and the driver's errors as the store's own kinds.

use std::sync::mpsc;

use rusqlite::{params, Connection};

use super::super::{StoreError, Write};

use super::read::clamp;
use crate::store::group::{self, Request};

/// The writer thread: commits queued batches together until the queue closes.
pub(super) fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Request>) {
    group::write_loop(queue, |pending| commit(&mut conn, pending));
}

/// Writes every request in its own savepoint, then commits them all. Returns one result
/// per request; if the commit itself fails, every request fails.
pub(super) fn commit(conn: &mut Connection, requests: &[Request]) -> Vec<Result<(), StoreError>> {
    let all_failed = |error: &rusqlite::Error| -> Vec<Result<(), StoreError>> {
        requests.iter().map(|_| Err(commit_error(error))).collect()
    };
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(error) => {
            tracing::error!(error = %commit_error(&error), "store transaction could not start");
            return all_failed(&error);
        }
    };
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        let result = tx.savepoint().map_err(StoreError::from).and_then(|savepoint| {
            for write in &request.writes {
                apply(&savepoint, write)?;
            }
            savepoint.commit()?;
            Ok(())
        });
        if let Err(error) = result {
            tracing::error!(%error, "store write failed");
            // On a full disk or an I/O error SQLite may roll the whole transaction back
            // by itself: the batches written before this one are gone too, and the next
            // ones would run outside any transaction. Fail them all, saying why.
            if tx.is_autocommit() {
                tracing::error!(%error, "the store rolled back the whole commit");
                return requests.iter().map(|_| Err(same_error(&error))).collect();
            }
            results.push(Err(error));
            continue;
        }
        results.push(Ok(()));
    }
    if let Err(error) = tx.commit() {
        tracing::error!(error = %commit_error(&error), "store commit failed");
        return all_failed(&error);
    }
    results
}

/// A failed commit as the callers see it: a full disk named as such.
pub(super) fn commit_error(error: &rusqlite::Error) -> StoreError {
    if is_disk_full(error) {
        StoreError::DiskFull
    } else {
        StoreError::Commit(error.to_string())
    }
}

/// The error every batch of a rolled-back commit fails with.
pub(super) fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::DiskFull => StoreError::DiskFull,
        other => StoreError::Commit(other.to_string()),
    }
}

pub(super) fn is_disk_full(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// The driver's errors as the store's own kinds: a full disk named as such
/// (`SQLITE_FULL`), anything else with SQLite's message.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if is_disk_full(&error) {
            StoreError::DiskFull
        } else {
            StoreError::Database { engine: "SQLite", message: error.to_string() }
        }
    }
}

pub(super) fn apply(conn: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::CreateBoard(record) => {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO boards (id, title, template, created_at, links_generation, locked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record.id,
                    record.title,
                    record.template,
                    record.created_at_ms,
                    record.links_generation,
                    record.locked
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::BoardExists(record.id.clone()));
            }
        }
        Write::Append { board, entries } => {
            let mut statement = conn.prepare_cached(
                "INSERT INTO updates (board, seq, at, author_id, author_name, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in entries {
                statement.execute(params![board, e.seq, e.at_ms, e.author.id, e.author.name, e.update])?;
            }
        }
        Write::LinksGeneration { board, generation } => {
            conn.execute("UPDATE boards SET links_generation = ?2 WHERE id = ?1", params![board, generation])?;
        }
        Write::Locked { board, locked } => {
            conn.execute("UPDATE boards SET locked = ?2 WHERE id = ?1", params![board, locked])?;
        }
        Write::Vote { board, vote } => {
            conn.execute(
                "INSERT OR REPLACE INTO votes (board, id, settings, opened_at, closes_at, open, revealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    board,
                    vote.id,
                    vote.settings_json,
                    vote.opened_at_ms,
                    vote.closes_at_ms,
                    vote.open,
                    vote.revealed
                ],
            )?;
        }
        Write::Ballot { board, vote, ballot } => {
            conn.execute(
                "INSERT OR REPLACE INTO ballots (board, vote, voter, name, candidate, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![board, vote, ballot.voter, ballot.name, ballot.candidate, ballot.count],
            )?;
        }
        Write::Checkpoint { board, checkpoint } => {
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (board, seq, at, state, encoding) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![board, checkpoint.seq, checkpoint.at_ms, checkpoint.state, checkpoint.encoding as u8],
            )?;
        }
        Write::Shares { board, through, written } => {
            conn.execute("DELETE FROM person_shares WHERE board = ?1", [board])?;
            let mut statement =
                conn.prepare_cached("INSERT INTO person_shares (board, person, bytes) VALUES (?1, ?2, ?3)")?;
            for (person, bytes) in written {
                statement.execute(params![board, person, clamp(*bytes)])?;
            }
            conn.execute("UPDATE boards SET shares_through = ?2 WHERE id = ?1", params![board, clamp(*through)])?;
        }
        Write::Event { board, event } => {
            conn.execute(
                "INSERT INTO events (board, seq, at, author_id, author_name, change) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![board, event.seq, event.at_ms, event.author.id, event.author.name, event.change_json],
            )?;
        }
        Write::Workshop { board, state_json } => {
            conn.execute(
                "INSERT OR REPLACE INTO workshops (board, state) VALUES (?1, ?2)",
                params![board, state_json],
            )?;
        }
        Write::PrivateNote { board, id, note: Some(note) } => {
            conn.execute(
                "INSERT OR REPLACE INTO private_notes (board, id, author_id, author_name, note)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![board, id, note.author.id, note.author.name, note.note_json],
            )?;
        }
        Write::PrivateNote { board, id, note: None } => {
            conn.execute("DELETE FROM private_notes WHERE board = ?1 AND id = ?2", params![board, id])?;
        }
        Write::ClearPrivateNotes { board } => {
            conn.execute("DELETE FROM private_notes WHERE board = ?1", params![board])?;
        }
        Write::RemovePerson { board, person, at_ms } => {
            conn.execute(
                "INSERT OR IGNORE INTO removed_people (board, person, at) VALUES (?1, ?2, ?3)",
                params![board, person, at_ms],
            )?;
        }
        Write::Webhook(hook) => {
            conn.execute(
                "INSERT OR REPLACE INTO webhooks (board, id, url, events, secret, registered_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hook.board,
                    hook.id,
                    hook.url,
                    super::super::webhook_events_json(&hook.events),
                    hook.secret,
                    hook.registered_by,
                    hook.created_at_ms
                ],
            )?;
        }
        Write::DeleteWebhook { board, id } => {
            conn.execute("DELETE FROM webhooks WHERE board = ?1 AND id = ?2", params![board, id])?;
        }
        Write::Summaries { board, rows } => {
            let mut insert =
                conn.prepare_cached("INSERT OR REPLACE INTO summaries (board, seq, changes) VALUES (?1, ?2, ?3)")?;
            for (seq, changes) in rows {
                insert.execute(params![board, clamp(*seq), changes])?;
            }
        }
        Write::Compact { board, through } => {
            conn.execute("DELETE FROM updates WHERE board = ?1 AND seq <= ?2", params![board, clamp(*through)])?;
            conn.execute("DELETE FROM summaries WHERE board = ?1 AND seq <= ?2", params![board, clamp(*through)])?;
            conn.execute(
                "UPDATE boards SET compacted_through = MAX(compacted_through, ?2) WHERE id = ?1",
                params![board, clamp(*through)],
            )?;
        }
    }
    Ok(())
}
