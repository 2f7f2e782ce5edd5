//! The registry of loaded boards: one running actor per board id, loaded on demand.
//!
//! Connections look a board up here and get a cheap [`BoardHandle`]. The map holds no
//! lock across an await: spawning an actor is synchronous, and the actor loads its
//! board itself while commands queue in its inbox. An actor that unloads (idle) or
//! fails removes its own entry, but only if the entry is still its own generation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use commonboard_protocol::schema::{Board, BoardMeta};
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::board::{self, now_ms, BoardConfig, BoardHandle};
use crate::store::{Author, BoardRecord, LogEntry, Store, Write};
use crate::templates::Template;
use crate::workshop::Workshop;

/// Loaded boards by id.
pub struct Registry {
    boards: Arc<DashMap<String, BoardHandle>>,
    store: Arc<dyn Store>,
    config: BoardConfig,
    /// Cancelled at shutdown: every board closes its connections and checkpoints.
    shutdown: CancellationToken,
    /// Tracks board tasks so shutdown can wait for their final checkpoint.
    tracker: TaskTracker,
    generations: AtomicU64,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, config: BoardConfig, shutdown: CancellationToken, tracker: TaskTracker) -> Self {
        Registry { boards: Arc::new(DashMap::new()), store, config, shutdown, tracker, generations: AtomicU64::new(1) }
    }

    /// The running board `id`, started if it is not loaded.
    pub fn get_or_spawn(&self, id: &str) -> BoardHandle {
        if let Some(handle) = self.boards.get(id) {
            return handle.clone();
        }
        self.boards
            .entry(id.to_owned())
            .or_insert_with(|| {
                let generation = self.generations.fetch_add(1, Ordering::Relaxed);
                let boards = Arc::downgrade(&self.boards);
                let key = id.to_owned();
                let on_exit = move || {
                    if let Some(boards) = boards.upgrade() {
                        boards.remove_if(&key, |_, h| h.generation == generation);
                    }
                };
                let (handle, task) = board::spawn(
                    id.to_owned(),
                    generation,
                    self.store.clone(),
                    self.config.clone(),
                    self.shutdown.clone(),
                    on_exit,
                );
                // A panicking board must not stay registered: its connections see their
                // queues close and reconnect, and the next one loads it afresh.
                let boards = Arc::downgrade(&self.boards);
                let key = id.to_owned();
                self.tracker.spawn(async move {
                    if let Err(panic) = task.await {
                        error!(board = %key, %panic, "board task failed; it will be reloaded on next use");
                        if let Some(boards) = boards.upgrade() {
                            boards.remove_if(&key, |_, h| h.generation == generation);
                        }
                    }
                });
                handle
            })
            .clone()
    }

    /// The running board `id`, if it is loaded.
    pub fn get(&self, id: &str) -> Option<BoardHandle> {
        self.boards.get(id).map(|h| h.clone())
    }

    /// Number of boards in memory.
    pub fn loaded(&self) -> usize {
        self.boards.len()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
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
    let record =
        BoardRecord { id, title, template: template.name.clone(), created_at_ms, links_generation: 1, locked: false };
    let entry = LogEntry { seq: 1, at_ms: created_at_ms, author: Author::server(), update };
    let workshop = (!template.steps.is_empty()).then(|| Workshop::new(template.steps.clone()).state_json());
    NewBoard { record, entry, workshop }
}

/// A fresh board id: 128 random bits, as 32 hex digits.
pub fn new_board_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

/// Whether `id` may name a board: 1 to 128 characters of letters, digits, `-`, `_`, `.`.
/// (Generated ids always qualify; `--open` mode accepts any such name.)
pub fn is_valid_board_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}
