//! Creating a board: from a template (`new_board`), and the one an `--open` server makes
//! for its first connection.

use commonboard_protocol::schema::{Board, BoardMeta};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use super::error::BoardError;
use super::now_ms;
use crate::store::{self, Author, BoardRecord, LogEntry, StoreError, StoredBoard, Write};
use crate::templates::Template;
use crate::workshop::Workshop;

/// Creates a board named by its first connection (`--open` mode).
pub(crate) async fn create_open_board(id: &str, store: &store::Handle) -> Result<StoredBoard, BoardError> {
    let blank = crate::templates::get("blank").expect("the blank template is built in");
    let new = new_board(id.to_owned(), id.to_owned(), blank);
    let written = vec![(new.entry.author.id.clone(), new.entry.update.len() as u64)];
    match store::committed(store.submit(new.writes())).await {
        Ok(()) => Ok(StoredBoard {
            record: new.record,
            checkpoint: None,
            tail: vec![new.entry],
            votes: Vec::new(),
            workshop: None,
            private_notes: Vec::new(),
            written,
            checkpoint_clocks: None,
        }),
        // Created meanwhile by another node or request: load what is there.
        Err(StoreError::BoardExists(_)) => store.load(id).await?.ok_or(BoardError::NotFound),
        Err(error) => Err(error.into()),
    }
}

/// What creating a board writes.
pub struct NewBoard {
    /// Its row in the index of boards.
    pub record: BoardRecord,
    /// Its first log entry: the metadata, and the template's frames and notes.
    pub entry: LogEntry,
    /// Its workshop flow (JSON), when the template has steps.
    pub workshop: Option<String>,
}

impl NewBoard {
    /// The writes that create the board, to commit together.
    pub fn writes(&self) -> Vec<Write> {
        let board = self.record.id.clone();
        let mut writes = vec![
            Write::CreateBoard(self.record.clone()),
            Write::Append { board: board.clone(), entries: vec![self.entry.clone()] },
        ];
        if let Some(state_json) = &self.workshop {
            writes.push(Write::Workshop { board, state_json: state_json.clone() });
        }
        writes
    }
}

/// A new board from a template.
pub fn new_board(id: String, title: String, template: &Template) -> NewBoard {
    let created_at_ms = now_ms();
    let doc = Doc::new();
    let meta = BoardMeta {
        title: title.clone(),
        template: template.name.clone(),
        created_at: created_at_ms as f64,
        common_goal: None,
    };
    let board = Board::new(&doc);
    {
        let mut txn = doc.transact_mut();
        board.set_meta(&mut txn, &meta);
        template.apply(&board, &mut txn, created_at_ms as f64);
    }
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    let record = BoardRecord {
        id,
        title,
        template: template.name.clone(),
        created_at_ms,
        links_generation: 1,
        locked: false,
        removed: Vec::new(),
    };
    let entry = LogEntry { seq: 1, at_ms: created_at_ms, author: Author::server(), update };
    let workshop = (!template.steps.is_empty()).then(|| Workshop::new(template.steps.clone()).state_json());
    NewBoard { record, entry, workshop }
}
