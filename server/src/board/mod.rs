//! The board actor: the one task that owns a board's `yrs::Doc`.
//!
//! Connections send it [`BoardCmd`]s; it answers with encoded frames pushed into each
//! connection's bounded queue. Nothing else touches the document, so no lock guards
//! it. The actor works in *ticks*: it takes every command waiting in its inbox, applies
//! them all, commits the new updates to the store in one write, and only then sends
//! anything out: one merged update frame and one awareness frame, encoded once and
//! shared by every recipient, plus the direct replies. An update is therefore relayed
//! only after it is durable, and a busy board naturally batches more per tick.

use std::collections::{HashMap, HashSet};
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use commonboard_protocol::app::ServerMessage;
use commonboard_protocol::close::{self};
use commonboard_protocol::frame::{self};
use commonboard_protocol::history::Change;
use commonboard_protocol::schema;
use commonboard_protocol::validate;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};
use yrs::{Doc, ReadTxn, Transact, TransactionMut};

use crate::awareness::{Awareness, PresenceLimits};
use crate::cluster::OwnerLink;
use crate::doc::{checkpoint_state, contain_panic, discard, rebuild, rebuild_stored, ACCEPTED};
use crate::idle::IdleTimer;
use crate::intake::{self, Held, Unfit};
use crate::nesting::{self, TooDeep};
use crate::outbox::{ConnId, Outbox};
use crate::placement;
use crate::share::Written;
use crate::store::{self, Author, BoardEvent, Checkpoint, LogEntry, Store, StoreError, StoredBoard, Write};
use crate::telemetry::{self, Limit};
use crate::vote::Vote;
use crate::workshop::Workshop;

mod config;
pub use self::config::{BoardConfig, BoardLimits, Issuer};

mod error;
pub use self::error::BoardError;

mod command;
pub use self::command::{BoardCmd, BoardHandle, Member};

mod usage;
pub use self::usage::{Pending, Usage};

mod fanout;
use self::fanout::Outgoing;

mod presence;

mod limits;

mod votes;
use self::votes::goal_weight;

mod flow;

mod messages;
pub use self::messages::MAX_NAME_CHARS;

mod admission;

mod restore;

/// Commands a board's inbox holds before senders wait: bounds memory per board while
/// letting a tick take a large batch.
pub(crate) const INBOX: usize = 4096;
/// Most commands one tick takes, so that replies are not held back for too long.
/// Ticks adapt to load by themselves: an idle board handles each message as it comes
/// (lowest latency), a busy one finds many waiting and batches them.
const MAX_TICK: usize = 1024;
/// How often stale awareness states are looked for.
const AWARENESS_SWEEP: Duration = Duration::from_secs(5);

struct Conn {
    outbox: Outbox,
    member: Member,
    /// Whether the client said hello and receives application messages.
    app: bool,
    /// Whether the client was told that its changes are refused (told once).
    told_read_only: bool,
    /// Why this connection's changes are no longer accepted, once one passed a limit:
    /// its later changes build on the refused one and cannot apply without it.
    over_limit: Option<Limit>,
    /// Whether the client was told its awareness state is over a limit (told once).
    told_awareness: bool,
    /// Whether the client was told it may not set another connection's presence (once).
    told_forged_presence: bool,
}

/// Starts a board's actor; it loads the board itself before serving its inbox.
pub fn spawn(
    id: String,
    generation: u64,
    store: Arc<dyn Store>,
    config: BoardConfig,
    shutdown: CancellationToken,
    on_exit: impl FnOnce() + Send + 'static,
) -> (BoardHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(INBOX);
    let usage = Arc::new(Usage::new());
    let exited = usage.exit_guard();
    let used = usage.clone();
    let store = store::Handle::new(store);
    let task = tokio::spawn(async move {
        run(id, store, config, used, rx, shutdown, None).await;
        on_exit();
        drop(exited);
    });
    (BoardHandle { tx, generation, usage }, task)
}

/// Runs a board's actor until it unloads or `shutdown`; with a cluster `link`, as the
/// board's owner among several nodes (see [`crate::cluster`]).
#[instrument(skip_all, fields(board = %id))]
pub(crate) async fn run(
    id: String,
    store: store::Handle,
    config: BoardConfig,
    usage: Arc<Usage>,
    mut rx: mpsc::Receiver<BoardCmd>,
    shutdown: CancellationToken,
    link: Option<OwnerLink>,
) {
    let started = std::time::Instant::now();
    let mut board = match Board::load(&id, store, &config, usage).await {
        Ok(board) => Board { cluster: link, ..board },
        Err(error) => {
            match &error {
                BoardError::NotFound => info!("board not found"),
                other => error!(error = %other, "board failed to load"),
            }
            refuse_all(&mut rx, &error).await;
            return;
        }
    };
    info!(seq = board.seq, elapsed_ms = started.elapsed().as_millis() as u64, "board loaded");
    metrics::histogram!(telemetry::BOARD_LOAD_SECONDS).record(started.elapsed().as_secs_f64());
    metrics::gauge!(telemetry::BOARDS_LOADED).increment(1.0);

    let mut commands = Vec::with_capacity(MAX_TICK);
    let mut sweep = tokio::time::interval(AWARENESS_SWEEP);
    let mut idle = IdleTimer::new(config.idle_unload);
    loop {
        idle.note(board.conns.is_empty());
        tokio::select! {
            received = rx.recv_many(&mut commands, MAX_TICK) => {
                if received == 0 {
                    break;
                }
                metrics::histogram!(telemetry::TICK_COMMANDS).record(received as f64);
                board.tick(commands.drain(..)).await;
                if board.unloading {
                    info!("unloading to make room for another board");
                    break;
                }
            }
            _ = sweep.tick() => board.expire_awareness(),
            _ = sleep_until_due(board.awareness.next_due()) => board.relay_held_awareness(),
            _ = sleep_until_due(board.next_vote_deadline()) => board.close_due_votes().await,
            _ = idle.expired() => {
                info!(idle_s = config.idle_unload.as_secs_f64(), "idle, unloading");
                break;
            }
            _ = shutdown.cancelled() => {
                board.close_all(close::GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    rx.close();
    board.checkpoint_if_behind(0).await;
    metrics::gauge!(telemetry::BOARDS_LOADED).decrement(1.0);
    refuse_all(&mut rx, &BoardError::Unloading).await;
}

/// Resolves at `due`, or never when nothing is due.
async fn sleep_until_due(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Answers the joins still queued after the board stopped, so their connections retry.
pub(crate) async fn refuse_all(rx: &mut mpsc::Receiver<BoardCmd>, error: &BoardError) {
    rx.close();
    while let Some(cmd) = rx.recv().await {
        if let BoardCmd::Join { reply, .. } = cmd {
            let _ = reply.send(Err(match error {
                BoardError::NotFound => BoardError::NotFound,
                _ => BoardError::Unloading,
            }));
        }
    }
}

struct Board {
    id: String,
    doc: Doc,
    store: store::Handle,
    /// Sequence number of the last logged update.
    seq: u64,
    /// Sequence number of the newest checkpoint.
    checkpoint_seq: u64,
    checkpoint_every: u64,
    conns: HashMap<ConnId, Conn>,
    awareness: Awareness,
    /// The board's links generation: participant and viewer tokens must match it.
    links_generation: u64,
    /// Whether only the facilitator may change the document.
    locked: bool,
    /// The board's votes, oldest first.
    votes: Vec<Vote>,
    /// The workshop flow: step, timer, private writing, turns.
    workshop: Workshop,
    /// Where the facilitator last showed the room, for screens that join later.
    viewport: Option<(commonboard_protocol::workshop::Viewport, String)>,
    limits: BoardLimits,
    /// The document's encoded size (Yjs v1), estimated: the last measure plus the size
    /// of every update applied since (an update adds about its own size; deletions take
    /// some away). Measured again before anything is refused for it. `usize::MAX` until
    /// first measured: a loaded board is measured at its first change, not while
    /// people wait for it to load (encoding a big board takes a tenth of its loading).
    doc_bytes: usize,
    /// `doc_bytes` when it was last measured: while they are equal nothing was applied
    /// since, and measuring again would find the same (a limit refusing update after
    /// update measures once).
    measured: usize,
    /// Bytes each person wrote on the board (logged updates), for `max_person_bytes`.
    written: Written,
    usage: Arc<Usage>,
    /// Whether the board agreed to unload (to make room for another).
    unloading: bool,
    /// With several nodes: where committed updates and presence go for the other nodes,
    /// and which connections are theirs.
    cluster: Option<OwnerLink>,
    /// People the facilitator removed (person ids): refused from then on.
    removed: HashSet<String>,
    /// Signs the personal tokens of the people this board issues ids to.
    issuer: Option<Issuer>,
}

impl Board {
    async fn load(id: &str, store: store::Handle, config: &BoardConfig, usage: Arc<Usage>) -> Result<Self, BoardError> {
        // Reading and integrating a big board takes a tenth of a second of CPU: on the
        // blocking pool, so that the other boards' tasks go on meanwhile.
        let loaded = {
            let id = id.to_owned();
            store
                .blocking(move |store| {
                    store.load(&id).map(|stored| stored.map(|stored| (rebuild_stored(&stored), stored)))
                })
                .await?
        };
        let (doc, stored) = match loaded {
            Some(loaded) => loaded,
            None if config.open => {
                let stored = create_open_board(id, &store).await?;
                (rebuild_stored(&stored), stored)
            }
            None => return Err(BoardError::NotFound),
        };
        Ok(Board {
            id: id.to_owned(),
            seq: stored.last_seq(),
            checkpoint_seq: stored.checkpoint.as_ref().map_or(0, |c| c.seq),
            checkpoint_every: config.checkpoint_every.max(1),
            store,
            conns: HashMap::new(),
            awareness: Awareness::new(PresenceLimits::from_state_limit(config.limits.max_awareness_bytes)),
            links_generation: stored.record.links_generation,
            locked: stored.record.locked,
            votes: stored.votes.iter().filter_map(Vote::from_stored).collect(),
            workshop: Workshop::from_stored(&stored),
            viewport: None,
            limits: config.limits,
            doc_bytes: usize::MAX,
            measured: 0,
            written: Written::from_log(&stored.written),
            usage,
            unloading: false,
            cluster: None,
            removed: stored.record.removed.iter().cloned().collect(),
            issuer: config.issuer.clone(),
            doc,
        })
    }

    async fn tick(&mut self, commands: impl Iterator<Item = BoardCmd>) {
        let applying = std::time::Instant::now();
        let mut out = Outgoing::default();
        for cmd in commands {
            match cmd {
                BoardCmd::Join { conn, member, outbox, reply } => self.join(conn, member, outbox, reply, &mut out),
                BoardCmd::Messages { conn, messages } => {
                    for message in messages {
                        if !self.conns.contains_key(&conn) {
                            break;
                        }
                        self.handle(conn, message, &mut out);
                    }
                }
                BoardCmd::Leave { conn } => self.leave(conn, &mut out),
                BoardCmd::LinksRotated { generation } => self.links_rotated(generation),
                BoardCmd::Restore { to_seq, state, by, reply } => self.restore(to_seq, &state, by, reply, &mut out),
                BoardCmd::Unload { reply } => {
                    self.unloading = self.unloading || self.conns.is_empty();
                    let _ = reply.send(self.unloading);
                }
                BoardCmd::RemovePerson { person, by, reply } => self.remove_person(person, &by, reply, &mut out),
                BoardCmd::RotateLinks { step, reply } => self.rotate_links(step, reply).await,
            }
        }
        metrics::histogram!(telemetry::APPLY_SECONDS).record(applying.elapsed().as_secs_f64());
        self.finish(out).await;
        self.note_usage();
    }

    /// Commits what a tick decided, then sends its frames; or, if the commit fails,
    /// sends nothing and falls back to what is durable.
    async fn finish(&mut self, mut out: Outgoing) {
        if out.workshop {
            out.writes.push(Write::Workshop { board: self.id.clone(), state_json: self.workshop.state_json() });
            out.app.push(ServerMessage::Workshop { state: self.workshop.view() });
        }
        if !out.log.is_empty() || !out.writes.is_empty() {
            let entries = std::mem::take(&mut out.log);
            let count = entries.len();
            metrics::counter!(telemetry::UPDATES_APPLIED).increment(count as u64);
            metrics::gauge!(telemetry::PERSIST_LAG).increment(count as f64);
            let mut writes = std::mem::take(&mut out.writes);
            if !entries.is_empty() {
                writes.push(Write::Append { board: self.id.clone(), entries });
            }
            let result = store::committed(self.store.submit(writes)).await;
            metrics::gauge!(telemetry::PERSIST_LAG).decrement(count as f64);
            if let Err(error) = result {
                for (reply, _) in out.restores.drain(..) {
                    let _ = reply.send(Err(StoreError::Commit(error.to_string())));
                }
                for (reply, _) in out.removals.drain(..) {
                    let _ = reply.send(Err(StoreError::Commit(error.to_string())));
                }
                self.commit_failed(&error, &out.writers).await;
                return;
            }
            debug!(updates = count, seq = self.seq, "committed");
        }
        self.flush(out);
        self.checkpoint_if_behind(self.checkpoint_every).await;
    }

    /// A board event for the history, at the board's newest point.
    fn event(&self, author: &Author, change: Change) -> Write {
        let event = BoardEvent {
            seq: self.seq,
            at_ms: now_ms(),
            author: author.clone(),
            change_json: serde_json::to_string(&change).expect("change serializes"),
        };
        Write::Event { board: self.id.clone(), event }
    }

    /// Rotates the links (see [`BoardCmd::RotateLinks`]): the new generation is saved
    /// before anyone is told, then connections holding older tokens are closed here and,
    /// with several nodes, on the others.
    async fn rotate_links(&mut self, step: u64, reply: oneshot::Sender<Result<u64, StoreError>>) {
        let generation = self.links_generation + step;
        let write = Write::LinksGeneration { board: self.id.clone(), generation };
        if let Err(error) = store::committed(self.store.submit(vec![write])).await {
            warn!(%error, "could not save the rotated links");
            let _ = reply.send(Err(error));
            return;
        }
        self.links_rotated(generation);
        if let Some(link) = &self.cluster {
            link.links_rotated(generation);
        }
        debug!(generation, "links rotated");
        let _ = reply.send(Ok(generation));
    }

    /// Makes a change to the document on the server's own account (logged and relayed
    /// like any update).
    fn server_change(&mut self, out: &mut Outgoing, change: impl FnOnce(&schema::Board, &mut yrs::TransactionMut)) {
        self.change_as(Author::server(), out, change);
    }

    /// Makes a change to the document on someone's behalf (logged under their name).
    fn change_as(
        &mut self,
        author: Author,
        out: &mut Outgoing,
        change: impl FnOnce(&schema::Board, &mut yrs::TransactionMut),
    ) {
        let board = self.roots();
        let update = {
            let mut txn = self.doc.transact_mut();
            change(&board, &mut txn);
            txn.encode_update_v1()
        };
        self.seq += 1;
        self.doc_bytes = self.doc_bytes.saturating_add(update.len());
        self.log(out, author, update);
    }

    /// Logs and relays an update at the board's newest point (`seq`, already raised),
    /// counting it in its author's share.
    fn log(&mut self, out: &mut Outgoing, author: Author, update: Vec<u8>) {
        self.written.add(&author.id, update.len());
        out.log.push(LogEntry { seq: self.seq, at_ms: now_ms(), author, update: update.clone() });
        out.updates.push(update);
    }

    /// Applies one update from `conn`. What the document actually gained (nothing for a
    /// duplicate) is logged and relayed; an update yrs rejects, or one that makes yrs
    /// panic, closes that connection and changes nothing (`Err(None)`: yrs panicked).
    /// With `ask_if_missing` (a live update, not an answer to the server's sync step 1,
    /// so asking never loops), an update that waits for changes the board lacks has the
    /// server ask its sender for them.
    fn apply(&mut self, conn: ConnId, bytes: &[u8], ask_if_missing: bool, out: &mut Outgoing) {
        let goal = self.common_goal();
        // The connection's reader checked the update; this reads what it refers to and
        // the types it creates.
        let summary = match validate::summarize_update_v1(bytes, &ACCEPTED) {
            Ok(summary) => summary,
            Err(invalid) => {
                debug!(conn, %invalid, "update does not read");
                return self.reject(conn, "update does not decode");
            }
        };
        let doc = &self.doc;
        let roots = self.roots();
        let mut integrated = Integrated::default();
        let outcome = contain_panic(|| -> Result<Option<Vec<u8>>, Refusal> {
            // yrs panics on some crafted updates (see `contain_yrs`): the transaction,
            // its commit included, runs contained, and a panic rebuilds the board below.
            frame::contain_yrs(|| {
                // Committed only if yrs did not panic (see `discard`).
                let mut txn = ManuallyDrop::new(doc.transact_mut());
                let outcome = integrate(&mut txn, bytes, &summary, &roots, &mut integrated);
                drop(ManuallyDrop::into_inner(txn));
                outcome
            })
            .unwrap_or(Err(Refusal::Panicked))
        });
        let missing = integrated.missing;
        if missing && ask_if_missing && matches!(outcome, Ok(Ok(_))) {
            // The update builds on changes the board never received (refused while the
            // board was locked, or lost on the way): ask the sender for them.
            debug!(conn, "an update waits for changes the board lacks; asking its sender");
            out.direct.push((conn, frame::sync_step1(&self.doc.transact().state_vector()).into()));
        }
        match outcome {
            Ok(Ok(Some(applied))) => {
                self.doc_bytes = self.doc_bytes.saturating_add(applied.len());
                self.seq += 1;
                let author = self.conns.get(&conn).map(|c| c.member.author.clone()).unwrap_or_else(Author::server);
                self.log(out, author, applied);
                out.writers.push(conn);
                if integrated.changed_meta {
                    self.keep_common_goal(conn, goal, out);
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(Refusal::Invalid(reason, detail))) => {
                debug!(conn, detail, "update refused by yrs");
                self.reject(conn, reason);
            }
            Ok(Err(Refusal::Rejected(detail))) => {
                // The document may hold part of the update, which the log does not: it
                // goes back to what is durable and this tick's accepted updates (found by
                // `board_messages`, `fuzz/regressions/board_messages-checkpoint-vs-log-2`).
                debug!(conn, detail, "update refused by yrs part way; reloading the document");
                self.reject(conn, "update rejected");
                drop(self.reload_document(out));
            }
            Ok(Err(Refusal::Held(held))) if ask_if_missing => {
                debug!(conn, ?held, "an update builds on changes the board lacks; asking its sender for the rest");
                out.direct.push((conn, frame::sync_step1(&self.doc.transact().state_vector()).into()));
            }
            Ok(Err(Refusal::Held(held))) => {
                // An answer to the server's own sync step 1 holds everything from the
                // board's state on: a gap in it is not a Yjs client's.
                warn!(conn, ?held, "a sync answer builds on changes the board lacks; refusing it");
                self.reject(conn, held.reason());
            }
            Ok(Err(Refusal::Gap(client))) => {
                // Integrated, like a too-deep update below: the document goes back to
                // what is durable and this tick's accepted updates.
                warn!(conn, ?client, "an update skips changes the board lacks; refusing it");
                let reason = "update refused: it skips over changes the board does not have";
                self.reject(conn, reason);
                drop(self.reload_document(out));
            }
            Ok(Err(Refusal::TooDeep(too_deep))) => {
                // Integrated, but neither logged nor relayed: the document goes back to
                // what is durable and this tick's accepted updates. yrs is sound here (no
                // panic), so the replaced document is dropped as usual.
                warn!(conn, %too_deep, "an update nests shared types too deeply; refusing it");
                self.reject(conn, &format!("update refused: {too_deep}"));
                drop(self.reload_document(out));
            }
            Ok(Err(Refusal::Panicked)) | Err(_) => {
                error!(conn, "yrs panicked applying an update; rebuilding the board from the store");
                self.reject(conn, "update crashed the CRDT engine");
                self.rebuild_after_panic(out);
            }
        }
    }

    /// The common goal is the vote's result, which only the server writes: a client's
    /// change to it (a modified or hostile client; the web client never writes it) is
    /// undone at once by a server change, which every client receives after it.
    fn keep_common_goal(&mut self, conn: ConnId, goal: Option<String>, out: &mut Outgoing) {
        if self.common_goal() == goal {
            return;
        }
        warn!(conn, "a client changed the common goal, which only a vote sets; putting it back");
        let weight = goal_weight(goal.as_deref().unwrap_or_default());
        if self.server_write_fits("putting the common goal back", weight, weight).is_err() {
            return;
        }
        self.server_change(out, |board, txn| board.reset_common_goal(txn, goal.as_deref()));
    }

    fn common_goal(&self) -> Option<String> {
        self.roots().common_goal(&self.doc.transact())
    }

    /// The document's root types. Read, not created: creating (`schema::Board::new`)
    /// opens and commits a write transaction per root, which an update's path cannot
    /// afford. A board's roots exist from its first load on; a document without them
    /// (an empty one being set up) gets them here.
    fn roots(&self) -> schema::Board {
        let existing = schema::Board::existing(&self.doc.transact());
        existing.unwrap_or_else(|| schema::Board::new(&self.doc))
    }

    fn reject(&mut self, conn: ConnId, reason: &str) {
        warn!(conn, reason, "invalid update, closing connection");
        if let Some(c) = self.conns.remove(&conn) {
            c.outbox.closer.close(close::INVALID_DATA, close::fit_reason(reason));
        }
    }

    /// A panic may leave the document half-changed: start again from what is durable
    /// plus this tick's accepted updates. The store read blocks this task; it happens
    /// only on this rare path, and the board has nothing better to do meanwhile. It runs
    /// on a thread of its own: the PostgreSQL client cannot block on a runtime thread.
    fn rebuild_after_panic(&mut self, out: &Outgoing) {
        discard(self.reload_document(out));
    }

    /// Replaces the document with what is durable plus this tick's accepted updates, and
    /// returns the one it replaced.
    fn reload_document(&mut self, out: &Outgoing) -> Doc {
        let (store, id) = (&self.store, &self.id);
        let stored = match std::thread::scope(|scope| scope.spawn(|| store.shared().load(id)).join()) {
            Ok(Ok(stored)) => stored,
            Ok(Err(error)) => {
                error!(%error, "reloading after a panic failed");
                None
            }
            Err(_) => {
                error!("reloading after a panic panicked");
                None
            }
        };
        let mut updates: Vec<&[u8]> = Vec::new();
        if let Some(stored) = &stored {
            updates.extend(stored.tail.iter().map(|e| e.update.as_slice()));
        }
        updates.extend(out.updates.iter().map(Vec::as_slice));
        let rebuilt = rebuild(stored.as_ref().and_then(|s| s.checkpoint.as_ref()), &updates);
        let replaced = std::mem::replace(&mut self.doc, rebuilt);
        self.measure();
        replaced
    }

    /// The tick's updates could not be saved: they must not reach anyone. Their senders
    /// are closed (their clients still hold the changes and resend them on reconnect)
    /// and the document goes back to what is durable.
    async fn commit_failed(&mut self, error: &StoreError, writers: &[ConnId]) {
        error!(%error, writers = writers.len(), "could not save updates; closing their senders and reloading");
        let reason = match error {
            StoreError::DiskFull => {
                "the server's disk is full: your change was not saved; it is sent again on reconnect"
            }
            _ => "your change could not be saved; reconnecting",
        };
        for conn in writers {
            if let Some(c) = self.conns.remove(conn) {
                c.outbox.closer.close(close::NOT_SAVED, reason);
            }
        }
        match self.store.load(&self.id).await {
            Ok(Some(stored)) => {
                self.doc = rebuild_stored(&stored);
                self.measure();
                self.seq = stored.last_seq();
                self.locked = stored.record.locked;
                self.written = Written::from_log(&stored.written);
            }
            _ => {
                error!("cannot reload the board; closing every connection");
                self.close_all(close::INTERNAL, "board unavailable; reconnect shortly");
            }
        }
    }

    /// Writes a checkpoint when more than `behind` updates were logged since the last.
    async fn checkpoint_if_behind(&mut self, behind: u64) {
        if self.seq <= self.checkpoint_seq + behind {
            return;
        }
        let (encoding, state) = checkpoint_state(&self.doc);
        metrics::histogram!(telemetry::DOCUMENT_BYTES).record(state.len() as f64);
        let checkpoint = Checkpoint { seq: self.seq, at_ms: now_ms(), encoding, state };
        // Each person's share is saved with it: loading then sums only the log after it.
        let shares = Write::Shares { board: self.id.clone(), through: self.seq, written: self.written.rows() };
        let write = Write::Checkpoint { board: self.id.clone(), checkpoint };
        match store::committed(self.store.submit(vec![write, shares])).await {
            Ok(()) => self.checkpoint_seq = self.seq,
            Err(error) => warn!(%error, "checkpoint failed; the log still has every update"),
        }
    }
}

/// Why an update was not taken.
enum Refusal {
    /// yrs refused it (or it does not decode): what to tell the client, and yrs's words.
    Invalid(&'static str, String),
    /// It nests shared types too deeply (it was integrated: the document is rebuilt).
    TooDeep(TooDeep),
    /// yrs refused it part way, after integrating some of it (the document is rebuilt).
    Rejected(String),
    /// It builds on changes the board lacks: not applied.
    Held(Held),
    /// It integrated changes of this client past a gap in its clock (it was integrated:
    /// the document is rebuilt); see [`intake::skipped_ahead`].
    Gap(yrs::block::ClientID),
    /// yrs panicked applying it.
    Panicked,
}

/// What applying an update found besides its outcome.
#[derive(Default)]
struct Integrated {
    /// It waits for changes the board lacks: left the document missing something, or
    /// changed nothing while something is missing.
    missing: bool,
    /// It changed the board's metadata (where the common goal is).
    changed_meta: bool,
}

/// Applies a client's update in `txn` and commits it: what the document gained (`None`
/// for a duplicate), or why it was refused. An update that builds on changes the board
/// lacks is not applied (the sender is asked for the rest), and one that overlaps what
/// the board has is trimmed: see `intake`. Types nest only as deep as `nesting` allows:
/// checked after an update that creates types, or one that may integrate updates
/// waiting for it.
fn integrate(
    txn: &mut TransactionMut,
    bytes: &[u8],
    summary: &validate::UpdateSummary,
    roots: &schema::Board,
    integrated: &mut Integrated,
) -> Result<Option<Vec<u8>>, Refusal> {
    let update = intake::prepare(bytes, &summary.references, txn.before_state()).map_err(|unfit| match unfit {
        Unfit::Undecodable(e) => Refusal::Invalid("update does not decode", e),
        Unfit::Held(held) => Refusal::Held(held),
    })?;
    let waiting = txn.has_missing_updates();
    if let Err(e) = txn.apply_update(update) {
        // yrs may have integrated part of it before it stopped: committed by the caller
        // (a transaction commits when dropped), then undone.
        return Err(Refusal::Rejected(e.to_string()));
    }
    let unchanged = txn.before_state() == txn.after_state() && txn.delete_set().is_empty();
    integrated.missing = txn.has_missing_updates() && (!waiting || unchanged);
    // What changed, and how deeply types nest, is read off the committed transaction.
    txn.commit();
    if let Some(client) = intake::skipped_ahead(txn, txn.before_state()) {
        return Err(Refusal::Gap(client));
    }
    if !summary.types.is_empty() || waiting {
        // Updates waiting in the document may come in with this one, and bring types
        // the summary does not list.
        nesting::check(txn, (!waiting).then_some(&summary.types[..])).map_err(Refusal::TooDeep)?;
    }
    integrated.changed_meta = roots.meta_changed(txn);
    Ok((!unchanged).then(|| txn.encode_update_v1()))
}

/// Creates a board named by its first connection (`--open` mode).
pub(crate) async fn create_open_board(id: &str, store: &store::Handle) -> Result<StoredBoard, BoardError> {
    let blank = crate::templates::get("blank").expect("the blank template is built in");
    let new = crate::registry::new_board(id.to_owned(), id.to_owned(), blank);
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
        }),
        // Created meanwhile by another node or request: load what is there.
        Err(StoreError::BoardExists(_)) => store.load(id).await?.ok_or(BoardError::NotFound),
        Err(error) => Err(error.into()),
    }
}

/// Writes what placing notes moved: grown or moved frames, and notes moved down.
fn apply_layout(board: &schema::Board, txn: &mut yrs::TransactionMut, layout: &placement::Layout) {
    for f in &layout.frames {
        board.set_frame_rect(txn, &f.id, f.x, f.y, f.w, f.h);
    }
    for (id, x, y) in &layout.notes {
        board.move_note(txn, id, *x, *y);
    }
}

/// Server time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
