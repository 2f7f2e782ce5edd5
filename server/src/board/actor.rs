//! The board's task: receives commands, runs a tick, commits to the store, sends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use commonboard_protocol::close;
use commonboard_protocol::frame;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};
use yrs::{Doc, ReadTxn, Transact};

use crate::awareness::{Awareness, PresenceLimits};
use crate::board_load::{self, Integrating};
use crate::doc::{checkpoint_state, rebuild_stored};
use crate::idle::IdleTimer;
use crate::outbox::ConnId;
use crate::share::Written;
use crate::store::{self, Checkpoint, Store, StoreError, StoredBoard, Write};
use crate::telemetry;
use crate::vote::Vote;
use crate::workshop::Workshop;
use crate::ws_frame::Frame;

use super::command::{BoardCmd, BoardHandle};
use super::config::BoardConfig;
use super::create::create_open_board;
use super::error::BoardError;
use super::fanout::Outgoing;
use super::gate::Gate;
use super::peers::Peers;
use super::usage::Usage;
use super::{now_ms, Board};

/// Commands a board's inbox holds before senders wait: bounds memory per board while
/// letting a tick take a large batch.
pub(crate) const INBOX: usize = 4096;

/// Most commands one tick takes, so that replies are not held back for too long.
/// Ticks adapt to load by themselves: an idle board handles each message as it comes
/// (lowest latency), a busy one finds many waiting and batches them.
pub(super) const MAX_TICK: usize = 1024;

/// How often stale awareness states are looked for.
pub(super) const AWARENESS_SWEEP: Duration = Duration::from_secs(5);

/// Starts a board's actor; it loads the board itself before serving its inbox.
pub fn spawn(
    id: String,
    generation: u64,
    store: Arc<dyn Store>,
    config: BoardConfig,
    shutdown: CancellationToken,
    on_exit: impl FnOnce() + Send + 'static,
) -> (BoardHandle, tokio::task::JoinHandle<()>) {
    let store = store::Handle::new(store);
    start(generation, on_exit, |usage, rx, _| run(id, store, config, usage, rx, shutdown, None))
}

/// Starts a board's task, whatever runs it (the actor on a single node; with several,
/// the owner's actor or a replica): its inbox, the usage the registry reads, and
/// `on_exit` once `task` ended. Every board starts here.
pub(crate) fn start<F>(
    generation: u64,
    on_exit: impl FnOnce() + Send + 'static,
    task: impl FnOnce(Arc<Usage>, mpsc::Receiver<BoardCmd>, mpsc::Sender<BoardCmd>) -> F,
) -> (BoardHandle, tokio::task::JoinHandle<()>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(INBOX);
    let usage = Arc::new(Usage::new());
    let exited = usage.exit_guard();
    let running = task(usage.clone(), rx, tx.clone());
    let task = tokio::spawn(async move {
        running.await;
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
    link: Option<Box<dyn Peers>>,
) {
    let started = std::time::Instant::now();
    let (mut board, mut integrating) = match Board::load(&id, &store, &config, usage).await {
        Ok((board, integrating)) => (Board { cluster: link, ..board }, integrating),
        Err(error) => {
            match &error {
                BoardError::NotFound => info!("board not found"),
                other => error!(error = %other, "board failed to load"),
            }
            refuse_all(&mut rx, &error).await;
            return;
        }
    };
    let warming = board.warming.is_some();
    info!(seq = board.seq, elapsed_ms = started.elapsed().as_millis() as u64, warming, "board loaded");
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
                board.run_tick(commands.drain(..), &store).await;
                board.note_usage();
                if board.gate.unloading {
                    info!("unloading to make room for another board");
                    break;
                }
            }
            _ = sweep.tick() => board.expire_awareness(),
            _ = sleep_until_due(board.awareness.next_due()) => board.relay_held_awareness(),
            _ = sleep_until_due(board.held_presence.due) => board.relay_held_presence(),
            _ = sleep_until_due(board.held_updates.due) => board.relay_held_updates(),
            _ = sleep_until_due(board.answers.due) => board.answer_held(),
            // A vote closing writes into the document: not before it is ready.
            _ = sleep_until_due(board.next_vote_deadline().filter(|_| integrating.is_none())) => {
                let out = board.close_due_votes();
                board.finish(out, &store).await;
            }
            doc = board_load::ready(&mut integrating) => {
                board.integrated(doc, started, &store).await;
                if board.gate.unloading {
                    break;
                }
            }
            _ = idle.expired() => {
                info!(idle_s = config.idle_unload.as_secs_f64(), "idle, unloading");
                break;
            }
            _ = shutdown.cancelled() => {
                // What waited for the document is handled before everyone is closed.
                board.finish_warming(&mut integrating, started, &store).await;
                // Committed updates still held for the next broadcast go first.
                board.relay_held_updates();
                board.close_all(close::GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    board.finish_warming(&mut integrating, started, &store).await;
    rx.close();
    board.checkpoint_if_behind(0, &store).await;
    metrics::gauge!(telemetry::BOARDS_LOADED).decrement(1.0);
    refuse_all(&mut rx, &BoardError::Unloading).await;
}

/// Past `--checkpoint-every` updates, a board writes its next checkpoint only once the
/// bytes logged since the last one reach this share of that checkpoint's size: the
/// checkpoints of a long board thin out as it grows (each is the whole board, so at a
/// fixed count their total grew with the square of the log), while a past point never
/// stitches more than an eighth of the board's size of log onto its checkpoint
/// (`history::stitched`).
pub(crate) const CHECKPOINT_TAIL_SHARE: usize = 8;

/// Resolves at `due`, or never when nothing is due.
pub(super) async fn sleep_until_due(due: Option<tokio::time::Instant>) {
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

impl Board {
    /// Reads the board. A small one is integrated at once; a big one answers from its
    /// stored form while its document integrates in the background (`board_load`):
    /// the returned receiver gives the document.
    pub(super) async fn load(
        id: &str,
        store: &store::Handle,
        config: &BoardConfig,
        usage: Arc<Usage>,
    ) -> Result<(Self, Option<Integrating>), BoardError> {
        let loaded = {
            let id = id.to_owned();
            store.blocking(move |store| store.load(&id)).await?
        };
        let mut stored = match loaded {
            Some(stored) => stored,
            None if config.open => create_open_board(id, store).await?,
            None => return Err(BoardError::NotFound),
        };
        if board_load::worth_warming(&stored) || !config.integrate_delay.is_zero() {
            let mut board = Board::from_stored(id, &stored, Doc::new(), config, usage);
            // Moved, not copied: a big board's state is megabytes.
            let checkpoint = stored.checkpoint.take();
            // Its clocks, when the store read them in the walk that found it intact.
            let read = stored.checkpoint_clocks.take();
            let tail = std::mem::take(&mut stored.tail).into_iter().map(|e| e.update).collect();
            let (warming, integrating) =
                board_load::start(checkpoint, read, tail, config.integrate_delay, config.limits.held).await;
            // The stored form's size is the document's: no measure at the first change.
            if let Some(encoded) = warming.encoded() {
                board.doc_bytes = encoded.len();
            }
            board.warming = Some(warming);
            return Ok((board, Some(integrating)));
        }
        let doc = rebuild_stored(&stored);
        Ok((Board::from_stored(id, &stored, doc, config, usage), None))
    }

    /// The document is integrated (`None`: integrating it failed): it replaces the
    /// placeholder, and the commands that waited for it are handled, in order.
    async fn integrated(&mut self, doc: Option<Doc>, loaded: std::time::Instant, store: &store::Handle) {
        let Some(warming) = self.warming.take() else { return };
        let Some(doc) = doc else {
            error!("integrating the board's document failed; closing its connections to reload it");
            self.warming = Some(warming);
            self.close_all(close::INTERNAL, "board unavailable; reconnect shortly");
            self.gate.unloading = true;
            return;
        };
        self.doc = doc;
        self.answers.forget_whole();
        info!(elapsed_ms = loaded.elapsed().as_millis() as u64, "board's document integrated");
        let (held, ask) = warming.into_held();
        if !held.is_empty() {
            self.run_tick(held.into_iter(), store).await;
        }
        // Clients that joined without the server's sync step 1 get it now: their answer
        // brings what they hold and the board lacks. After the held commands, never
        // before: a client that sent its edits and left has its connection removed
        // only by its own `Leave`, after its edits were applied.
        let asked: Vec<_> = ask.into_iter().filter_map(|conn| self.conns.get(&conn)).collect();
        if !asked.is_empty() {
            let step1 = Frame::binary(&frame::sync_step1(&self.doc.transact().state_vector()));
            for c in asked {
                // A client too far behind is closed by its queue, and leaves.
                c.outbox.send(&step1);
            }
        }
    }

    /// Waits for the document if it is still integrating, then handles what waited.
    async fn finish_warming(
        &mut self,
        integrating: &mut Option<Integrating>,
        loaded: std::time::Instant,
        store: &store::Handle,
    ) {
        if integrating.is_some() {
            let doc = board_load::ready(integrating).await;
            self.integrated(doc, loaded, store).await;
        }
    }

    /// The board as stored, its document already rebuilt (`doc`): no IO.
    pub(super) fn from_stored(
        id: &str,
        stored: &StoredBoard,
        doc: Doc,
        config: &BoardConfig,
        usage: Arc<Usage>,
    ) -> Board {
        Board {
            id: id.to_owned(),
            seq: stored.last_seq(),
            checkpoint_seq: stored.checkpoint.as_ref().map_or(0, |c| c.seq),
            checkpoint_every: config.checkpoint_every.max(1),
            checkpoint_bytes: stored.checkpoint.as_ref().map_or(0, |c| c.state.len()),
            logged_bytes: stored.tail.iter().map(|e| e.update.len()).sum(),
            reload_due: None,
            conns: HashMap::new(),
            awareness: Awareness::new(PresenceLimits::from_state_limit(config.limits.max_awareness_bytes)),
            held_presence: Default::default(),
            held_updates: Default::default(),
            answers: Default::default(),
            gate: Gate::new(&stored.record, config.limits.max_connections),
            locked: stored.record.locked,
            votes: stored.votes.iter().filter_map(Vote::from_stored).collect(),
            workshop: Workshop::from_stored(stored),
            viewport: None,
            limits: config.limits,
            doc_bytes: usize::MAX,
            measured: 0,
            written: Written::from_log(&stored.written),
            usage,
            cluster: None,
            warming: None,
            issuer: config.issuer.clone(),
            doc,
        }
    }

    /// Runs one tick of `commands` ([`Board::tick`]), reading the board back from the
    /// store whenever the tick stops for it, then commits and sends what it decided.
    pub(super) async fn run_tick(&mut self, commands: impl Iterator<Item = BoardCmd>, store: &store::Handle) {
        let mut commands = commands;
        let mut out = Outgoing::default();
        while let Some(reload) = self.tick(&mut commands, &mut out) {
            // Rare (yrs panicked or refused an update part way): the commands after the
            // one that broke the document wait for this read.
            let stored = match store.load(&self.id).await {
                Ok(stored) => stored,
                Err(error) => {
                    error!(%error, "reading the board back after a broken update failed");
                    None
                }
            };
            self.reload(reload, stored.as_ref(), &out);
        }
        self.finish(out, store).await;
    }

    /// Commits what a tick decided, then sends its frames; or, if the commit fails,
    /// sends nothing and falls back to what is durable.
    pub(super) async fn finish(&mut self, mut out: Outgoing, store: &store::Handle) {
        if !out.log.is_empty() || !out.writes.is_empty() {
            let entries = std::mem::take(&mut out.log);
            let count = entries.len();
            let logged: usize = entries.iter().map(|e| e.update.len()).sum();
            metrics::counter!(telemetry::UPDATES_APPLIED).increment(count as u64);
            metrics::gauge!(telemetry::PERSIST_LAG).increment(count as f64);
            let mut writes = std::mem::take(&mut out.writes);
            if !entries.is_empty() {
                writes.push(Write::Append { board: self.id.clone(), entries });
            }
            let result = store::committed(store.submit(writes)).await;
            metrics::gauge!(telemetry::PERSIST_LAG).decrement(count as f64);
            if let Err(error) = result {
                for (reply, _) in out.restores.drain(..) {
                    let _ = reply.send(Err(StoreError::Commit(error.to_string())));
                }
                for (reply, _) in out.removals.drain(..) {
                    let _ = reply.send(Err(StoreError::Commit(error.to_string())));
                }
                for (reply, _) in out.rotations.drain(..) {
                    warn!(%error, "could not save the rotated links");
                    let _ = reply.send(Err(StoreError::Commit(error.to_string())));
                }
                self.commit_failed(&error, &out.writers, store).await;
                return;
            }
            self.logged_bytes += logged;
            debug!(updates = count, seq = self.seq, "committed");
        }
        for (reply, generation) in out.rotations.drain(..) {
            self.links_rotated(generation);
            if let Some(link) = &self.cluster {
                link.links_rotated(generation);
            }
            debug!(generation, "links rotated");
            let _ = reply.send(Ok(generation));
        }
        self.flush(out);
        self.checkpoint_if_behind(self.checkpoint_every, store).await;
    }

    /// The tick's updates could not be saved: they must not reach anyone. Their senders
    /// are closed (their clients still hold the changes and resend them on reconnect)
    /// and the document goes back to what is durable.
    pub(super) async fn commit_failed(&mut self, error: &StoreError, writers: &[ConnId], store: &store::Handle) {
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
        match store.load(&self.id).await {
            Ok(Some(stored)) => {
                self.doc = rebuild_stored(&stored);
                self.answers.forget_whole();
                self.measure();
                self.seq = stored.last_seq();
                self.locked = stored.record.locked;
                self.gate.links_generation = stored.record.links_generation;
                self.written = Written::from_log(&stored.written);
            }
            _ => {
                error!("cannot reload the board; closing every connection");
                self.close_all(close::INTERNAL, "board unavailable; reconnect shortly");
            }
        }
    }

    /// Writes a checkpoint when more than `behind` updates were logged since the last
    /// and, unless `behind` is 0 (unloading), the bytes logged since are at least a
    /// [`CHECKPOINT_TAIL_SHARE`]th of the last checkpoint's size.
    pub(super) async fn checkpoint_if_behind(&mut self, behind: u64, store: &store::Handle) {
        // Nothing to write before the document is integrated (nothing was applied).
        if self.warming.is_some() || self.seq <= self.checkpoint_seq + behind {
            return;
        }
        if behind > 0 && self.logged_bytes.saturating_mul(CHECKPOINT_TAIL_SHARE) < self.checkpoint_bytes {
            return;
        }
        // Yjs v1, what a client downloads: the next load answers with the last one as
        // stored, and a past point is this state with the log after it stitched on.
        let (encoding, state) = checkpoint_state(&self.doc);
        let len = state.len();
        metrics::histogram!(telemetry::DOCUMENT_BYTES).record(len as f64);
        let checkpoint = Checkpoint { seq: self.seq, at_ms: now_ms(), encoding, state };
        // Each person's share is saved with it: loading then sums only the log after it.
        let shares = Write::Shares { board: self.id.clone(), through: self.seq, written: self.written.rows() };
        let write = Write::Checkpoint { board: self.id.clone(), checkpoint };
        match store::committed(store.submit(vec![write, shares])).await {
            Ok(()) => (self.checkpoint_seq, self.checkpoint_bytes, self.logged_bytes) = (self.seq, len, 0),
            Err(error) => warn!(%error, "checkpoint failed; the log still has every update"),
        }
    }
}
