//! The whole board as one JSON file (`board.json`), for backups and moves between
//! servers: the document's full state (a Yjs update, base64), the board read out of it
//! (for people and scripts), the votes with their ballots, the workshop flow, and the
//! history summary. [`import`] makes a new board of it, on this server or another
//! (`commonboard import FILE`, or `POST /api/boards` with the file as the body).
//!
//! What a new board gets: a new id and new links; the document as it was (one log
//! entry, by the server); the votes, ballots, workshop state and lock as they were;
//! the history summary as events at its first point, each with its original time and
//! author. The fine-grained history (every update) stays on the old server.

use base64::Engine as _;
use commonboard_protocol::history::HistoryEntry;
use commonboard_protocol::schema::{self, BoardSnapshot};
use serde::{Deserialize, Serialize};
use yrs::{ReadTxn, StateVector, Transact};

use super::ExportError;
use crate::history::{self, HistoryError};
use crate::registry::new_board_id;
use crate::store::{Author, BallotRow, BoardEvent, BoardRecord, LogEntry, Store, VoteRecord, Write};

/// The `format` field of a board file.
pub const FORMAT: &str = "commonboard-board";
/// The version this server writes and reads.
pub const VERSION: u32 = 1;
/// History entries kept in a file (the newest).
pub const HISTORY_ENTRIES: u32 = 500;
/// Longest title an imported board keeps, in characters (as `POST /api/boards`).
const MAX_TITLE_CHARS: usize = 200;

/// A board file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BoardFile {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// When the file was made, RFC 3339.
    pub exported_at: String,
    pub board: FileBoard,
    /// The document's full state: a Yjs update (v1 encoding), base64.
    pub document: String,
    /// The board read out of the document, for readers of the file; [`import`] uses
    /// `document`.
    pub snapshot: BoardSnapshot,
    #[serde(default)]
    pub votes: Vec<FileVote>,
    /// The workshop flow's state, as the server keeps it.
    #[serde(default)]
    pub workshop: Option<serde_json::Value>,
    /// The history summary, newest first (at most [`HISTORY_ENTRIES`]).
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// The board's record in a file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileBoard {
    /// The id on the server it was exported from.
    pub id: String,
    pub title: String,
    pub template: String,
    pub created_at_ms: i64,
    #[serde(default)]
    pub locked: bool,
}

/// A vote in a file, with every ballot.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileVote {
    pub id: String,
    pub settings: serde_json::Value,
    pub opened_at_ms: i64,
    pub closes_at_ms: Option<i64>,
    pub open: bool,
    pub revealed: bool,
    pub ballots: Vec<FileBallot>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileBallot {
    pub voter: String,
    pub name: String,
    pub candidate: String,
    pub count: u32,
}

/// Reads the board `record` from the store as a file (blocking: the store is read).
pub fn export(store: &dyn Store, record: &BoardRecord) -> Result<BoardFile, HistoryError> {
    let id = &record.id;
    let last = store.last_seq(id)?;
    let now = history::board_at(store, id, last)?;
    // The board's roots are declared before the read transaction (declaring writes).
    let board = schema::Board::new(&now.doc);
    let (document, snapshot) = {
        let txn = now.doc.transact();
        let state = txn.encode_state_as_update_v1(&StateVector::default());
        (base64::engine::general_purpose::STANDARD.encode(state), board.snapshot(&txn))
    };
    let votes = store
        .votes(id)?
        .into_iter()
        .map(|(vote, ballots)| FileVote {
            settings: serde_json::from_str(&vote.settings_json).unwrap_or(serde_json::Value::Null),
            id: vote.id,
            opened_at_ms: vote.opened_at_ms,
            closes_at_ms: vote.closes_at_ms,
            open: vote.open,
            revealed: vote.revealed,
            ballots: ballots
                .into_iter()
                .map(|b| FileBallot { voter: b.voter, name: b.name, candidate: b.candidate, count: b.count })
                .collect(),
        })
        .collect();
    let workshop = store.workshop(id)?.and_then(|json| serde_json::from_str(&json).ok());
    let query = history::page::PageQuery {
        before: u64::MAX,
        limit: HISTORY_ENTRIES,
        since_ms: None,
        until_ms: None,
        author: None,
    };
    let history = history::page::page(store, id, &query)?.entries;
    Ok(BoardFile {
        format: FORMAT.into(),
        version: VERSION,
        exported_at: history::rfc3339(crate::board::now_ms()),
        board: FileBoard {
            id: id.clone(),
            title: record.title.clone(),
            template: record.template.clone(),
            created_at_ms: record.created_at_ms,
            locked: record.locked,
        },
        document,
        snapshot,
        votes,
        workshop,
        history,
    })
}

/// Whether a JSON body is a board file (rather than a request to create a board).
pub fn is_board_file(body: &serde_json::Value) -> bool {
    body.get("format").and_then(|f| f.as_str()) == Some(FORMAT)
}

/// A new board made of a file: its record and the writes that create it, to commit
/// together.
pub struct Imported {
    pub record: BoardRecord,
    pub writes: Vec<Write>,
}

/// Checks a file and prepares the new board (nothing is written yet).
pub fn import(body: serde_json::Value) -> Result<Imported, ExportError> {
    if !is_board_file(&body) {
        return Err(ExportError::NotABoardFile(format!("no \"format\": \"{FORMAT}\"")));
    }
    let file: BoardFile = serde_json::from_value(body).map_err(|e| ExportError::NotABoardFile(e.to_string()))?;
    if file.version != VERSION {
        return Err(ExportError::Version(file.version, VERSION));
    }
    let update = base64::engine::general_purpose::STANDARD
        .decode(file.document.as_bytes())
        .map_err(|e| ExportError::Document(format!("not base64: {e}")))?;
    check_document(&update)?;
    let id = new_board_id();
    let title: String = file.board.title.trim().chars().take(MAX_TITLE_CHARS).collect();
    let record = BoardRecord {
        id: id.clone(),
        title: if title.is_empty() { "Imported board".into() } else { title },
        template: file.board.template.clone(),
        created_at_ms: file.board.created_at_ms,
        links_generation: 1,
        locked: false,
        removed: Vec::new(),
    };
    let mut writes = vec![
        Write::CreateBoard(record.clone()),
        Write::Append {
            board: id.clone(),
            entries: vec![LogEntry { seq: 1, at_ms: crate::board::now_ms(), author: Author::server(), update }],
        },
    ];
    for vote in file.votes {
        writes.push(Write::Vote {
            board: id.clone(),
            vote: VoteRecord {
                id: vote.id.clone(),
                settings_json: vote.settings.to_string(),
                opened_at_ms: vote.opened_at_ms,
                closes_at_ms: vote.closes_at_ms,
                open: vote.open,
                revealed: vote.revealed,
            },
        });
        for b in vote.ballots {
            let ballot = BallotRow { voter: b.voter, name: b.name, candidate: b.candidate, count: b.count };
            writes.push(Write::Ballot { board: id.clone(), vote: vote.id.clone(), ballot });
        }
    }
    if let Some(workshop) = file.workshop.filter(|w| !w.is_null()) {
        writes.push(Write::Workshop { board: id.clone(), state_json: workshop.to_string() });
    }
    // Oldest first, so that the history lists them newest first.
    for entry in file.history.iter().rev().take(HISTORY_ENTRIES as usize) {
        let author = Author { id: entry.author.id.clone(), name: entry.author.name.clone() };
        for change in &entry.changes {
            let Ok(change_json) = serde_json::to_string(change) else { continue };
            let event = BoardEvent { seq: 1, at_ms: entry.at_ms as i64, author: author.clone(), change_json };
            writes.push(Write::Event { board: id.clone(), event });
        }
    }
    if file.board.locked {
        writes.push(Write::Locked { board: id.clone(), locked: true });
    }
    Ok(Imported { record, writes })
}

/// A document that yrs decodes and applies without panicking.
fn check_document(update: &[u8]) -> Result<(), ExportError> {
    use yrs::updates::decoder::Decode;
    let decoded = yrs::Update::decode_v1(update).map_err(|e| ExportError::Document(e.to_string()))?;
    drop(decoded);
    let mut doc = yrs::Doc::new();
    let mut txn = doc.transact_mut();
    if history::apply(&mut txn, update).is_err() {
        // yrs panicked: the transaction and document must not be touched again.
        std::mem::forget(txn);
        crate::doc::discard(std::mem::replace(&mut doc, yrs::Doc::new()));
        return Err(ExportError::Document("yrs cannot apply it".into()));
    }
    let pending = txn.has_missing_updates();
    drop(txn);
    if pending {
        return Err(ExportError::Document("it depends on changes the file does not hold".into()));
    }
    Ok(())
}
