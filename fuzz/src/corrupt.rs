//! A stored board with damaged rows, loaded as the server would.
//!
//! Each input writes a fresh board through the real store (a log of six updates, a
//! checkpoint, a vote with a ballot, the workshop flow, a private note), then damages
//! rows with SQL on the same file: an update's bytes, a checkpoint's bytes, encoding or
//! point, any column of any of those rows set to any SQL value, rows deleted or added.
//! Then it runs every read path over the board: `Store::load`, the board actor loading
//! it (as the registry does on a first connection) and answering a sync step 1, the
//! board at a past point, and a page of the history. Each may answer an error; none
//! may panic.

use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use commonboard_protocol::frame::{decode_frame, sync_step1};
use commonboard_protocol::schema::{self, BoardMeta, Note};
use commonboard_server::board::{self, BoardCmd, BoardConfig, Member};
use commonboard_server::history::{self, page};
use commonboard_server::outbox::{next_conn_id, Closer, Outbox};
use commonboard_server::socket::Socket;
use commonboard_server::store::{
    self, Author, BallotRow, BoardRecord, Checkpoint, LogEntry, StateEncoding, Store, StoredPrivateNote, VoteRecord,
    Write,
};
use commonboard_server::ws_frame;
use rusqlite::types::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use yrs::{Doc, ReadTxn, StateVector, Transact};

/// An input: where the checkpoint is, then the damage.
#[derive(Debug, Arbitrary)]
pub struct Damage {
    /// The checkpoint's point (modulo 7; 0 for none).
    pub checkpoint_at: u8,
    pub checkpoint_v1: bool,
    pub changes: Vec<Change>,
}

/// One change to the stored rows.
#[derive(Debug, Arbitrary)]
pub enum Change {
    /// An update's bytes (`seq` modulo 7).
    UpdateBytes {
        seq: u8,
        edit: BytesEdit,
    },
    CheckpointBytes {
        edit: BytesEdit,
    },
    /// A column of an update row (seq, at, author_id, author_name, data).
    UpdateColumn {
        seq: u8,
        column: u8,
        value: SqlValue,
    },
    /// A column of the checkpoint row (seq, at, state, encoding).
    CheckpointColumn {
        column: u8,
        value: SqlValue,
    },
    DeleteUpdate {
        seq: u8,
    },
    AddCheckpoint {
        seq: i64,
        encoding: i64,
        state: Vec<u8>,
    },
    AddUpdate {
        seq: i64,
        data: Vec<u8>,
    },
    /// A column of the board's row (links_generation, locked, compacted_through, created_at, title).
    BoardColumn {
        column: u8,
        value: SqlValue,
    },
    /// A column of the vote row (settings, opened_at, closes_at, open, revealed).
    VoteColumn {
        column: u8,
        value: SqlValue,
    },
    /// A column of the ballot row (count, candidate, voter).
    BallotColumn {
        column: u8,
        value: SqlValue,
    },
    WorkshopState {
        value: SqlValue,
    },
    PrivateNote {
        value: SqlValue,
    },
}

/// A change to a byte string.
#[derive(Debug, Arbitrary)]
pub enum BytesEdit {
    Replace(Vec<u8>),
    Truncate(u16),
    Flip { at: u16, mask: u8 },
    Insert { at: u16, bytes: Vec<u8> },
}

/// Any value SQLite stores.
#[derive(Debug, Arbitrary)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&SqlValue> for Value {
    fn from(value: &SqlValue) -> Value {
        match value {
            SqlValue::Null => Value::Null,
            SqlValue::Integer(i) => Value::Integer(*i),
            SqlValue::Real(r) => Value::Real(*r),
            SqlValue::Text(t) => Value::Text(t.clone()),
            SqlValue::Blob(b) => Value::Blob(b.clone()),
        }
    }
}

/// Updates in the base log.
const UPDATES: usize = 6;

/// The base history, the same for every input: the updates (v1) and, after each
/// point, the whole state as a v1 and a v2 update.
struct History {
    updates: Vec<Vec<u8>>,
    states_v1: Vec<Vec<u8>>,
    states_v2: Vec<Vec<u8>>,
}

fn base_history() -> &'static History {
    static HISTORY: OnceLock<History> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let doc = Doc::with_client_id(7);
        let board = schema::Board::new(&doc);
        let note = |id: &str, text: &str| Note {
            id: id.into(),
            text: text.into(),
            w: 160.0,
            h: 120.0,
            color: "yellow".into(),
            author: "Ada".into(),
            ..Note::default()
        };
        let edits: [&dyn Fn(&mut yrs::TransactionMut); UPDATES] = [
            &|txn| {
                let meta = BoardMeta { title: "fuzz".into(), template: "blank".into(), ..BoardMeta::default() };
                board.set_meta(txn, &meta);
            },
            &|txn| board.insert_note(txn, &note("a", "first")),
            &|txn| board.insert_note(txn, &note("b", "second")),
            &|txn| {
                board.set_note_text(txn, "a", "first, edited");
            },
            &|txn| {
                board.move_note(txn, "b", 300.0, 40.0);
            },
            &|txn| {
                board.remove_note(txn, "a");
            },
        ];
        let mut history = History { updates: Vec::new(), states_v1: Vec::new(), states_v2: Vec::new() };
        for edit in edits {
            let mut txn = doc.transact_mut();
            edit(&mut txn);
            history.updates.push(txn.encode_update_v1());
            drop(txn);
            let txn = doc.transact();
            history.states_v1.push(txn.encode_state_as_update_v1(&StateVector::default()));
            history.states_v2.push(txn.encode_state_as_update_v2(&StateVector::default()));
        }
        history
    })
}

/// Runs one input.
pub fn run_input(data: &[u8]) {
    let Ok(damage) = Damage::arbitrary_take_rest(Unstructured::new(data)) else { return };
    crate::debug(&damage);
    crate::runtime().block_on(run(damage));
}

/// Stores a board, damages it, and reads it back every way the server does.
pub async fn run(damage: Damage) {
    let (dir, store) = crate::store();
    let store: Arc<dyn Store> = store.clone();
    let id = crate::fresh_board_id("load");
    store::committed(store.submit(writes(&id, &damage))).await.expect("the base board is stored");
    let db = rusqlite::Connection::open(dir.path().join(commonboard_server::store::sqlite::DB_FILE))
        .expect("the store's file opens");
    db.busy_timeout(std::time::Duration::from_secs(5)).expect("a busy timeout");
    for change in damage.changes.iter().take(8) {
        // A change SQLite refuses (a NULL in a NOT NULL column, a duplicate key) is no damage.
        let _ = apply(&db, &id, change);
    }
    drop(db);
    read_back(&store, &id).await;
}

/// The writes that store the base board.
fn writes(id: &str, damage: &Damage) -> Vec<Write> {
    let history = base_history();
    let author = Author { id: "ada".into(), name: "Ada".into() };
    let record = BoardRecord {
        id: id.into(),
        title: "fuzz".into(),
        template: "blank".into(),
        created_at_ms: 1,
        links_generation: 1,
        locked: false,
        removed: Vec::new(),
    };
    let entries = (1..)
        .zip(&history.updates)
        .map(|(seq, update)| LogEntry { seq, at_ms: 1000 * seq as i64, author: author.clone(), update: update.clone() })
        .collect();
    let mut writes = vec![Write::CreateBoard(record), Write::Append { board: id.into(), entries }];
    let at = usize::from(damage.checkpoint_at) % (UPDATES + 1);
    if at > 0 {
        let (encoding, state) = if damage.checkpoint_v1 {
            (StateEncoding::V1, history.states_v1[at - 1].clone())
        } else {
            // Sealed with its checksum, as the server writes v2 checkpoints.
            (StateEncoding::V2Sealed, store::seal(history.states_v2[at - 1].clone()))
        };
        let checkpoint = Checkpoint { seq: at as u64, at_ms: 1000 * at as i64, encoding, state };
        writes.push(Write::Checkpoint { board: id.into(), checkpoint });
    }
    let settings =
        r#"{"title":"Goal","candidates":["b"],"budget":3,"max_per_candidate":2,"anonymous":false,"hidden":true}"#;
    let vote = VoteRecord {
        id: "v1".into(),
        settings_json: settings.into(),
        opened_at_ms: 1,
        closes_at_ms: None,
        open: true,
        revealed: false,
    };
    writes.push(Write::Vote { board: id.into(), vote });
    let ballot = BallotRow { voter: "ada".into(), name: "Ada".into(), candidate: "b".into(), count: 2 };
    writes.push(Write::Ballot { board: id.into(), vote: "v1".into(), ballot });
    let steps = commonboard_server::templates::get("collaboration-workshop").map_or_else(Vec::new, |t| t.steps.clone());
    let workshop = commonboard_server::workshop::Workshop::new(steps).state_json();
    writes.push(Write::Workshop { board: id.into(), state_json: workshop });
    let note = Note { id: "p1".into(), text: "private".into(), ..Note::default() };
    let private = StoredPrivateNote {
        id: "p1".into(),
        author,
        note_json: serde_json::to_string(&note).expect("a note serializes"),
    };
    writes.push(Write::PrivateNote { board: id.into(), id: "p1".into(), note: Some(private) });
    writes
}

/// Applies one change with SQL.
fn apply(db: &rusqlite::Connection, id: &str, change: &Change) -> rusqlite::Result<()> {
    use rusqlite::params;
    let seq_of = |seq: &u8| i64::from(*seq) % (UPDATES as i64 + 1);
    match change {
        Change::UpdateBytes { seq, edit } => {
            let data: Vec<u8> = db.query_row(
                "SELECT data FROM updates WHERE board = ?1 AND seq = ?2",
                params![id, seq_of(seq)],
                |row| row.get(0),
            )?;
            db.execute(
                "UPDATE updates SET data = ?3 WHERE board = ?1 AND seq = ?2",
                params![id, seq_of(seq), edited(data, edit)],
            )?;
        }
        Change::CheckpointBytes { edit } => {
            let (seq, state): (i64, Vec<u8>) = db.query_row(
                "SELECT seq, state FROM checkpoints WHERE board = ?1 ORDER BY seq DESC LIMIT 1",
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            db.execute(
                "UPDATE checkpoints SET state = ?3 WHERE board = ?1 AND seq = ?2",
                params![id, seq, edited(state, edit)],
            )?;
        }
        Change::UpdateColumn { seq, column, value } => {
            let column = pick(&["seq", "at", "author_id", "author_name", "data"], *column);
            let sql = format!("UPDATE updates SET {column} = ?3 WHERE board = ?1 AND seq = ?2");
            db.execute(&sql, params![id, seq_of(seq), Value::from(value)])?;
        }
        Change::CheckpointColumn { column, value } => {
            let column = pick(&["seq", "at", "state", "encoding"], *column);
            let sql = format!("UPDATE checkpoints SET {column} = ?2 WHERE board = ?1");
            db.execute(&sql, params![id, Value::from(value)])?;
        }
        Change::DeleteUpdate { seq } => {
            db.execute("DELETE FROM updates WHERE board = ?1 AND seq = ?2", params![id, seq_of(seq)])?;
        }
        Change::AddCheckpoint { seq, encoding, state } => {
            db.execute(
                "INSERT OR REPLACE INTO checkpoints (board, seq, at, state, encoding) VALUES (?1, ?2, 0, ?3, ?4)",
                params![id, seq, state, encoding],
            )?;
        }
        Change::AddUpdate { seq, data } => {
            db.execute(
                "INSERT OR REPLACE INTO updates (board, seq, at, author_id, author_name, data)
                 VALUES (?1, ?2, 0, 'x', 'X', ?3)",
                params![id, seq, data],
            )?;
        }
        Change::BoardColumn { column, value } => {
            let column = pick(&["links_generation", "locked", "compacted_through", "created_at", "title"], *column);
            db.execute(&format!("UPDATE boards SET {column} = ?2 WHERE id = ?1"), params![id, Value::from(value)])?;
        }
        Change::VoteColumn { column, value } => {
            let column = pick(&["settings", "opened_at", "closes_at", "open", "revealed"], *column);
            db.execute(&format!("UPDATE votes SET {column} = ?2 WHERE board = ?1"), params![id, Value::from(value)])?;
        }
        Change::BallotColumn { column, value } => {
            let column = pick(&["count", "candidate", "voter"], *column);
            db.execute(&format!("UPDATE ballots SET {column} = ?2 WHERE board = ?1"), params![id, Value::from(value)])?;
        }
        Change::WorkshopState { value } => {
            db.execute("UPDATE workshops SET state = ?2 WHERE board = ?1", params![id, Value::from(value)])?;
        }
        Change::PrivateNote { value } => {
            db.execute("UPDATE private_notes SET note = ?2 WHERE board = ?1", params![id, Value::from(value)])?;
        }
    }
    Ok(())
}

fn pick<'a>(names: &[&'a str], i: u8) -> &'a str {
    names[usize::from(i) % names.len()]
}

fn edited(mut bytes: Vec<u8>, edit: &BytesEdit) -> Vec<u8> {
    match edit {
        BytesEdit::Replace(new) => return new.clone(),
        BytesEdit::Truncate(len) => bytes.truncate(usize::from(*len) % (bytes.len() + 1)),
        BytesEdit::Flip { at, mask } => {
            if !bytes.is_empty() {
                let at = usize::from(*at) % bytes.len();
                bytes[at] ^= mask;
            }
        }
        BytesEdit::Insert { at, bytes: new } => {
            let at = usize::from(*at) % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
    }
    bytes
}

/// Every read path over the board; errors are answers, panics are bugs.
async fn read_back(store: &Arc<dyn Store>, id: &str) {
    let loaded = store.load(id);
    let last = store.last_seq(id).unwrap_or(0);

    // The board actor loads it, as on a first connection, and answers a sync step 1
    // with the whole document.
    let config = BoardConfig {
        open: false,
        idle_unload: std::time::Duration::from_secs(3600),
        checkpoint_every: 1000,
        integrate_delay: std::time::Duration::ZERO,
        limits: board::BoardLimits::default(),
        issuer: None,
    };
    let (handle, task) = board::spawn(id.into(), 1, store.clone(), config, CancellationToken::new(), || {});
    let socket = Arc::new(Socket::detached());
    let (reply, joined) = oneshot::channel();
    let conn = next_conn_id();
    let member = Member { author: Author::server(), role: commonboard_protocol::app::Role::Viewer, claims: None };
    let (outbox, _released) = Outbox::new(socket.clone(), Closer::new(), 16);
    if handle.tx.send(BoardCmd::Join { conn, member, outbox, reply }).await.is_ok() {
        let joined = joined.await;
        assert_eq!(joined.is_ok_and(|r| r.is_ok()), matches!(loaded, Ok(Some(_))), "the board loads as the store does");
        let messages = decode_frame(&sync_step1(&StateVector::default())).expect("a sync step 1 decodes");
        let _ = handle.tx.send(BoardCmd::Messages { conn, messages }).await;
        let _ = handle.tx.send(BoardCmd::Leave { conn }).await;
    }
    drop(handle);
    if let Err(error) = task.await {
        if let Ok(panic) = error.try_into_panic() {
            std::panic::resume_unwind(panic);
        }
    }
    for frame in socket.take_all() {
        let frame = ws_frame::payload(frame);
        commonboard_protocol::frame::decode_server_frame(&frame).expect("the board's frames decode");
    }

    // The history: the board at several points, and the newest page of changes.
    for seq in [1, 2, last / 2, last.saturating_sub(1), last] {
        if let Ok(past) = history::board_at(&**store, id, seq) {
            let _ = schema::Board::new(&past.doc).snapshot(&past.doc.transact());
        }
    }
    let query = page::PageQuery { before: u64::MAX, limit: 50, since_ms: None, until_ms: None, author: None };
    let _ = page::page(&**store, id, &query);
    let _ = store.log_stats(id);
    let _ = history::timeline::timeline(&**store, id, 10);
}
