//! The PostgreSQL store's writer thread: queued batches committed together, each batch
//! in its own savepoint.

use std::sync::mpsc;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Transaction};

use super::{clamp, read};
use crate::store::group::{self, Request};
use crate::store::{StoreError, Write};

/// Commits queued batches together until the queue closes. When the connection was
/// lost (the database restarted, an idle connection was cut), the transaction cannot
/// begin and nothing was sent: the writer reconnects and tries once more.
pub fn write_loop(mut client: Client, config: Config, queue: mpsc::Receiver<Request>) {
    group::write_loop(queue, |pending| match commit(&mut client, pending) {
        Ok(results) => results,
        Err(error) => {
            tracing::warn!(error = %super::describe(&error), "lost the PostgreSQL connection; reconnecting");
            match config.connect(NoTls) {
                Ok(reconnected) => {
                    client = reconnected;
                    commit(&mut client, pending).unwrap_or_else(|error| failed(pending, &error))
                }
                Err(error) => failed(pending, &error),
            }
        }
    });
}

/// One failure per request: the commit holding them failed (a full disk named as such).
fn failed(requests: &[Request], error: &postgres::Error) -> Vec<Result<(), StoreError>> {
    let message = super::describe(error);
    tracing::error!(error = %message, "store commit failed");
    let disk_full = error.code() == Some(&SqlState::DISK_FULL);
    let error = || if disk_full { StoreError::DiskFull } else { StoreError::Commit(message.clone()) };
    requests.iter().map(|_| Err(error())).collect()
}

/// Writes every request in its own savepoint, then commits them all. Returns one result
/// per request; if the commit itself fails, every request fails. Fails as a whole only
/// when the transaction cannot begin (nothing was written).
fn commit(client: &mut Client, requests: &[Request]) -> Result<Vec<Result<(), StoreError>>, postgres::Error> {
    let mut tx = client.transaction()?;
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        let result = tx.savepoint("batch").map_err(StoreError::from).and_then(|mut savepoint| {
            for write in &request.writes {
                apply(&mut savepoint, write)?;
            }
            savepoint.commit()?;
            Ok(())
        });
        if let Err(error) = &result {
            tracing::error!(%error, "store write failed");
        }
        results.push(result);
    }
    if let Err(error) = tx.commit() {
        return Ok(failed(requests, &error));
    }
    Ok(results)
}

fn apply(tx: &mut Transaction, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::CreateBoard(record) => {
            let inserted = tx.execute(
                "INSERT INTO boards (id, title, template, created_at, links_generation, locked)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &record.id,
                    &record.title,
                    &record.template,
                    &record.created_at_ms,
                    &clamp(record.links_generation),
                    &record.locked,
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::BoardExists(record.id.clone()));
            }
        }
        Write::Append { board, entries } => append(tx, board, entries)?,
        Write::LinksGeneration { board, generation } => {
            tx.execute("UPDATE boards SET links_generation = $2 WHERE id = $1", &[board, &clamp(*generation)])?;
        }
        Write::Locked { board, locked } => {
            tx.execute("UPDATE boards SET locked = $2 WHERE id = $1", &[board, locked])?;
        }
        Write::Vote { board, vote } => {
            tx.execute(
                "INSERT INTO votes (board, id, settings, opened_at, closes_at, open, revealed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (board, id) DO UPDATE SET settings = EXCLUDED.settings, opened_at = EXCLUDED.opened_at,
                     closes_at = EXCLUDED.closes_at, open = EXCLUDED.open, revealed = EXCLUDED.revealed",
                &[
                    board,
                    &vote.id,
                    &vote.settings_json,
                    &vote.opened_at_ms,
                    &vote.closes_at_ms,
                    &vote.open,
                    &vote.revealed,
                ],
            )?;
        }
        Write::Ballot { board, vote, ballot } => {
            let written = tx.execute(
                "INSERT INTO ballots (board, vote, voter, name, candidate, count) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (board, vote, voter, candidate) DO UPDATE SET name = EXCLUDED.name, count = EXCLUDED.count",
                &[board, vote, &ballot.voter, &ballot.name, &ballot.candidate, &i64::from(ballot.count)],
            );
            match written {
                Err(error) if error.code() == Some(&SqlState::CHECK_VIOLATION) => {
                    let reason = error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned());
                    return Err(StoreError::Refused { board: board.clone(), reason });
                }
                written => {
                    written?;
                }
            }
        }
        Write::Checkpoint { board, checkpoint } => {
            tx.execute(
                "INSERT INTO checkpoints (board, seq, at, state, encoding) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (board, seq) DO UPDATE SET at = EXCLUDED.at, state = EXCLUDED.state,
                     encoding = EXCLUDED.encoding",
                &[board, &clamp(checkpoint.seq), &checkpoint.at_ms, &checkpoint.state, &(checkpoint.encoding as i16)],
            )?;
        }
        Write::Shares { board, through, written } => {
            tx.execute("DELETE FROM person_shares WHERE board = $1", &[board])?;
            let insert = tx.prepare("INSERT INTO person_shares (board, person, bytes) VALUES ($1, $2, $3)")?;
            for (person, bytes) in written {
                tx.execute(&insert, &[board, person, &clamp(*bytes)])?;
            }
            tx.execute("UPDATE boards SET shares_through = $2 WHERE id = $1", &[board, &clamp(*through)])?;
        }
        Write::Event { board, event } => {
            tx.execute(
                "INSERT INTO events (board, seq, at, author_id, author_name, change) VALUES ($1, $2, $3, $4, $5, $6)",
                &[board, &clamp(event.seq), &event.at_ms, &event.author.id, &event.author.name, &event.change_json],
            )?;
        }
        Write::Workshop { board, state_json } => {
            tx.execute(
                "INSERT INTO workshops (board, state) VALUES ($1, $2)
                 ON CONFLICT (board) DO UPDATE SET state = EXCLUDED.state",
                &[board, state_json],
            )?;
        }
        Write::PrivateNote { board, id, note: Some(note) } => {
            tx.execute(
                "INSERT INTO private_notes (board, id, author_id, author_name, note) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (board, id) DO UPDATE SET author_id = EXCLUDED.author_id,
                     author_name = EXCLUDED.author_name, note = EXCLUDED.note",
                &[board, id, &note.author.id, &note.author.name, &note.note_json],
            )?;
        }
        Write::PrivateNote { board, id, note: None } => {
            tx.execute("DELETE FROM private_notes WHERE board = $1 AND id = $2", &[board, id])?;
        }
        Write::ClearPrivateNotes { board } => {
            tx.execute("DELETE FROM private_notes WHERE board = $1", &[board])?;
        }
        Write::RemovePerson { board, person, at_ms } => {
            tx.execute(
                "INSERT INTO removed_people (board, person, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[board, person, at_ms],
            )?;
        }
        Write::Webhook(hook) => {
            tx.execute(
                "INSERT INTO webhooks (board, id, url, events, secret, registered_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (board, id) DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events,
                     secret = EXCLUDED.secret, registered_by = EXCLUDED.registered_by,
                     created_at = EXCLUDED.created_at",
                &[
                    &hook.board,
                    &hook.id,
                    &hook.url,
                    &crate::store::webhook_events_json(&hook.events),
                    &hook.secret,
                    &hook.registered_by,
                    &hook.created_at_ms,
                ],
            )?;
        }
        Write::DeleteWebhook { board, id } => {
            tx.execute("DELETE FROM webhooks WHERE board = $1 AND id = $2", &[board, id])?;
        }
        Write::Summaries { board, rows } => {
            let insert = tx.prepare(
                "INSERT INTO summaries (board, seq, changes) VALUES ($1, $2, $3)
                 ON CONFLICT (board, seq) DO UPDATE SET changes = EXCLUDED.changes",
            )?;
            for (seq, changes) in rows {
                tx.execute(&insert, &[board, &clamp(*seq), changes])?;
            }
        }
        Write::Compact { board, through } => {
            tx.execute("DELETE FROM updates WHERE board = $1 AND seq <= $2", &[board, &clamp(*through)])?;
            tx.execute("DELETE FROM summaries WHERE board = $1 AND seq <= $2", &[board, &clamp(*through)])?;
            tx.execute(
                "UPDATE boards SET compacted_through = GREATEST(compacted_through, $2) WHERE id = $1",
                &[board, &clamp(*through)],
            )?;
        }
    }
    Ok(())
}

/// Appends entries that must follow the log's last point without a gap. The primary
/// key `(board, seq)` settles a race with another server appending at the same time:
/// the second insert waits for the first's commit, then fails as [`StoreError::SeqTaken`].
fn append(tx: &mut Transaction, board: &str, entries: &[crate::store::LogEntry]) -> Result<(), StoreError> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let expected = read::last_seq(tx, board)? + 1;
    if first.seq > expected {
        return Err(StoreError::SeqGap { board: board.to_owned(), expected, got: first.seq });
    }
    if first.seq < expected {
        return Err(StoreError::SeqTaken { board: board.to_owned(), seq: first.seq });
    }
    for (entry, expected) in entries.iter().zip(first.seq..) {
        if entry.seq != expected {
            return Err(StoreError::SeqGap { board: board.to_owned(), expected, got: entry.seq });
        }
    }
    let seqs: Vec<i64> = entries.iter().map(|e| clamp(e.seq)).collect();
    let times: Vec<i64> = entries.iter().map(|e| e.at_ms).collect();
    let ids: Vec<&str> = entries.iter().map(|e| e.author.id.as_str()).collect();
    let names: Vec<&str> = entries.iter().map(|e| e.author.name.as_str()).collect();
    let data: Vec<&[u8]> = entries.iter().map(|e| e.update.as_slice()).collect();
    let inserted = tx.execute(
        "INSERT INTO updates (board, seq, at, author_id, author_name, data)
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::BYTEA[])",
        &[&board, &seqs, &times, &ids, &names, &data],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            Err(StoreError::SeqTaken { board: board.to_owned(), seq: first.seq })
        }
        Err(error) => Err(error.into()),
    }
}
