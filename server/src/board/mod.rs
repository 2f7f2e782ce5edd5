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
use std::sync::Arc;
use std::time::Duration;

use commonboard_protocol::app::ServerMessage;
use commonboard_protocol::close::{self};
use commonboard_protocol::history::Change;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};
use yrs::{Doc, ReadTxn};

use crate::awareness::{Awareness, PresenceLimits};
use crate::cluster::OwnerLink;
use crate::doc::{checkpoint_state, rebuild_stored};
use crate::idle::IdleTimer;
use crate::outbox::{ConnId, Outbox};
use crate::share::Written;
use crate::store::{self, Author, BoardEvent, Checkpoint, Store, StoreError, Write};
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

mod flow;

mod messages;
pub use self::messages::MAX_NAME_CHARS;

mod admission;

mod restore;

mod edits;
use self::edits::apply_layout;

mod create;
pub(crate) use self::create::create_open_board;

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

/// Server time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
