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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage, VoteSettings, APP_PROTOCOL_VERSION};
use commonboard_protocol::close::{self, CloseCode};
use commonboard_protocol::frame::{self, AwarenessUpdate, Incoming, Message, SyncMessage};
use commonboard_protocol::history::{Change, ChangeKind, RestoreResult};
use commonboard_protocol::schema;
use commonboard_protocol::validate;
use commonboard_protocol::workshop::TurnAction;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::auth::{self, AuthError, Claims, Signer};
use crate::awareness::{self, Awareness, PresenceLimits};
use crate::board_load::{self, Integrating, Warming};
use crate::cluster::OwnerLink;
use crate::doc::{
    apply_trusted, checkpoint_state, contain_panic, discard, encoded_len, rebuild, rebuild_stored, sync_answer,
    sync_reply, unload_checkpoint_state, ACCEPTED,
};
use crate::idle::IdleTimer;
use crate::intake::{self, Held, Unfit};
use crate::nesting::{self, TooDeep};
use crate::outbox::{ConnId, Outbox};
use crate::placement;
use crate::share::Written;
use crate::store::{
    self, Author, BallotRow, BoardEvent, Checkpoint, LogEntry, Store, StoreError, StoredBoard, StoredPrivateNote, Write,
};
use crate::telemetry::{self, Limit};
use crate::vote::{Vote, VoteError};
use crate::workshop::{PrivateNote, Workshop, WorkshopError};

/// Commands a board's inbox holds before senders wait: bounds memory per board while
/// letting a tick take a large batch.
pub(crate) const INBOX: usize = 4096;
/// Most commands one tick takes, so that replies are not held back for too long.
/// Ticks adapt to load by themselves: an idle board handles each message as it comes
/// (lowest latency), a busy one finds many waiting and batches them.
const MAX_TICK: usize = 1024;
/// How often stale awareness states are looked for.
const AWARENESS_SWEEP: Duration = Duration::from_secs(5);

/// Settings every board shares.
#[derive(Debug, Clone)]
pub struct BoardConfig {
    /// Create boards on first connection instead of refusing unknown ids.
    pub open: bool,
    /// How long a board with no connections stays loaded.
    pub idle_unload: Duration,
    /// Logged updates between checkpoints.
    pub checkpoint_every: u64,
    /// For tests: how long a loaded board's document waits before it integrates (see
    /// `board_load`); zero otherwise.
    pub integrate_delay: Duration,
    /// What one board and one client may take.
    pub limits: BoardLimits,
    /// Signs the personal tokens of people the board issues ids to (none: a
    /// participant who came with a shared link gets no token to keep).
    pub issuer: Option<Issuer>,
}

/// Signs personal tokens: the server's key and how long a link stays valid.
#[derive(Clone)]
pub struct Issuer {
    pub signer: Signer,
    pub link_ttl: Duration,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("link_ttl", &self.link_ttl).finish_non_exhaustive()
    }
}

/// What one board and each of its clients may take (see `config` for each flag).
#[derive(Debug, Clone, Copy)]
pub struct BoardLimits {
    /// Most connections on the board.
    pub max_connections: usize,
    /// Largest encoded state (Yjs v1) the document may grow to, in bytes.
    pub max_document_bytes: usize,
    /// Most bytes of accepted updates one person (the facilitator excepted) may write.
    pub max_person_bytes: usize,
    /// Largest update accepted, in bytes.
    pub max_update_bytes: usize,
    /// Largest awareness state of one client, in bytes of JSON.
    pub max_awareness_bytes: usize,
    /// Bytes queued for one client, not yet written to its socket, before it counts as
    /// too slow: a reply (sync step 2, the whole presence) is not even built for a
    /// client this far behind, and a frame that would queue past it closes the client.
    pub max_queued_bytes: usize,
}

impl Default for BoardLimits {
    /// No limits (for embedders and tests that set none).
    fn default() -> Self {
        BoardLimits {
            max_connections: usize::MAX,
            max_document_bytes: usize::MAX,
            max_person_bytes: usize::MAX,
            max_update_bytes: usize::MAX,
            max_awareness_bytes: usize::MAX,
            max_queued_bytes: usize::MAX,
        }
    }
}

/// Why a board refused a connection.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("board not found")]
    NotFound,
    #[error("board could not be loaded: {0}")]
    Load(#[from] StoreError),
    #[error("board is unloading")]
    Unloading,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("board full: {limit} people connected; try again when someone leaves")]
    Full { limit: usize },
    #[error("server busy: {limit} boards open, all in use; try again later")]
    TooManyBoards { limit: usize },
}

/// Who a connection is on a board: its person (an id the server issued, and a display
/// name that is only a label), its role, and its token's claims (`None` for open
/// boards reached without a token).
#[derive(Debug, Clone)]
pub struct Member {
    pub author: Author,
    pub role: Role,
    pub claims: Option<Claims>,
}

impl Member {
    /// Whether the person holds a personal link the facilitator handed out (the
    /// roster of a restricted vote), or is the facilitator.
    pub fn on_roster(&self) -> bool {
        self.role == Role::Facilitator || self.claims.as_ref().is_some_and(|c| c.minted)
    }

    /// Whether the server chose this person's id for this connection (a shared link):
    /// the person is given a personal token to keep.
    fn needs_personal_token(&self) -> bool {
        self.role == Role::Participant && self.claims.as_ref().is_none_or(|c| c.identity.is_none())
    }
}

/// What a connection tells its board.
pub enum BoardCmd {
    /// A connection joins; the board answers once it is loaded (or cannot be).
    Join { conn: ConnId, member: Member, outbox: Outbox, reply: oneshot::Sender<Result<(), BoardError>> },
    /// Messages of one frame from a connection, in order.
    Messages { conn: ConnId, messages: Vec<Incoming> },
    /// A connection ended.
    Leave { conn: ConnId },
    /// The facilitator rotated the links: tokens of older generations are refused, and
    /// connections holding them are closed.
    LinksRotated { generation: u64 },
    /// Return the board to a past state (`state`, the whole document at point `to_seq`)
    /// as a new forward change; answered once the change is durable.
    Restore { to_seq: u64, state: Vec<u8>, by: Author, reply: oneshot::Sender<Result<RestoreResult, StoreError>> },
    /// Unload now to make room for another board, if nobody is on this one: answers
    /// whether it unloads (it then checkpoints and ends, see [`Usage::exited`]).
    Unload { reply: oneshot::Sender<bool> },
    /// The facilitator removes a person: their person id is refused from now on (kept
    /// in the store), their connections are closed, and what they wrote stays. Answers,
    /// once durable, how many connections were closed.
    RemovePerson { person: String, by: Author, reply: oneshot::Sender<Result<u32, StoreError>> },
    /// The facilitator rotates links: the links generation rises by `step` (see `auth`
    /// for its two counters), read, raised and saved by the actor alone so that two
    /// rotations never both write the same one. Answers, once durable, the new generation.
    RotateLinks { step: u64, reply: oneshot::Sender<Result<u64, StoreError>> },
}

/// A cheap handle to a running board.
#[derive(Clone)]
pub struct BoardHandle {
    pub tx: mpsc::Sender<BoardCmd>,
    /// Distinguishes this load of the board from earlier and later ones.
    pub generation: u64,
    /// How the board is used, for the registry to choose which board to unload.
    pub usage: Arc<Usage>,
}

/// How a loaded board is used: read by the registry, written by the board's actor.
pub struct Usage {
    connections: AtomicUsize,
    /// Requests on their way to the board (a join, a restore): it is not idle meanwhile.
    pending: AtomicUsize,
    /// When the board was last used, on a process-wide clock that only moves forward.
    last_used: AtomicU64,
    /// Cancelled once the board's task has ended.
    exited: CancellationToken,
}

impl Usage {
    pub(crate) fn new() -> Self {
        Usage {
            connections: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            last_used: AtomicU64::new(use_clock()),
            exited: CancellationToken::new(),
        }
    }

    /// Ends the board's life for the registry once dropped: [`Self::exited`] resolves.
    pub(crate) fn exit_guard(&self) -> tokio_util::sync::DropGuard {
        self.exited.clone().drop_guard()
    }

    /// Records how many connections the board has and that it was just used.
    pub(crate) fn note(&self, connections: usize) {
        self.connections.store(connections, Ordering::SeqCst);
        self.last_used.store(use_clock(), Ordering::Relaxed);
    }

    /// Whether nobody is on the board, or on their way to it.
    pub fn is_idle(&self) -> bool {
        self.connections.load(Ordering::SeqCst) == 0 && self.pending.load(Ordering::SeqCst) == 0
    }

    /// Marks a request on its way to the board until the mark is dropped.
    pub fn pending(self: &Arc<Self>) -> Pending {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Pending(self.clone())
    }

    /// When the board was last used: a larger value is more recent.
    pub fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// Resolves once the board's task has ended (its final checkpoint written).
    pub async fn exited(&self) {
        self.exited.cancelled().await
    }
}

/// A request on its way to a board: keeps the board from counting as idle.
pub struct Pending(Arc<Usage>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The area of a workshop template's frame the chosen common goal goes into.
const GOAL_AREA: &str = "chosen";

/// The next tick of the clock boards' use is told by.
fn use_clock() -> u64 {
    static CLOCK: AtomicU64 = AtomicU64::new(1);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

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
    let exited = usage.exited.clone().drop_guard();
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
    let (mut board, mut integrating) = match Board::load(&id, store, &config, usage).await {
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
                board.tick(commands.drain(..)).await;
                if board.unloading {
                    info!("unloading to make room for another board");
                    break;
                }
            }
            _ = sweep.tick() => board.expire_awareness(),
            _ = sleep_until_due(board.awareness.next_due()) => board.relay_held_awareness(),
            // A vote closing writes into the document: not before it is ready.
            _ = sleep_until_due(board.next_vote_deadline().filter(|_| integrating.is_none())) => {
                board.close_due_votes().await;
            }
            doc = board_load::ready(&mut integrating) => {
                board.integrated(doc, started).await;
                if board.unloading {
                    break;
                }
            }
            _ = idle.expired() => {
                info!(idle_s = config.idle_unload.as_secs_f64(), "idle, unloading");
                break;
            }
            _ = shutdown.cancelled() => {
                // What waited for the document is handled before everyone is closed.
                board.finish_warming(&mut integrating, started).await;
                board.close_all(close::GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    board.finish_warming(&mut integrating, started).await;
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

/// Frames to send once the tick's writes are durable.
#[derive(Default)]
struct Outgoing {
    /// Updates applied this tick, merged into one broadcast.
    updates: Vec<Vec<u8>>,
    /// Awareness changes this tick, latest per client.
    awareness: HashMap<yrs::ClientID, frame::AwarenessUpdateEntry>,
    /// Frames for one connection each, in order.
    direct: Vec<(ConnId, Bytes)>,
    /// Log entries to commit.
    log: Vec<LogEntry>,
    /// Connections whose updates are in `log`: told if the commit fails.
    writers: Vec<ConnId>,
    /// Other writes the tick's decisions need (a lock change, say).
    writes: Vec<Write>,
    /// Application messages for every client that said hello.
    app: Vec<ServerMessage>,
    /// Votes that changed: each is sent to every client that said hello, as its role
    /// may see it.
    votes: Vec<String>,
    /// Restores to answer once the tick is durable.
    restores: Vec<(oneshot::Sender<Result<RestoreResult, StoreError>>, RestoreResult)>,
    /// Removals of people to answer once the tick is durable, with the connections closed.
    removals: Vec<(oneshot::Sender<Result<u32, StoreError>>, u32)>,
    /// Whether who is present changed: the facilitator gets open votes' turnout again.
    turnout: bool,
    /// Whether the workshop flow changed: it is then saved and sent to everyone.
    workshop: bool,
    /// Connections whose sync step 1 was answered this tick: a repeat gets nothing
    /// more (the first answer and the tick's broadcast hold all it lacks).
    answered_step1: HashSet<ConnId>,
    /// Connections sent the whole presence this tick, answering a query.
    answered_query: HashSet<ConnId>,
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
    /// While the document integrates after a load: the stored form that answers
    /// joining clients, and the commands waiting for the document (see `board_load`).
    /// `doc` is an empty placeholder meanwhile and must not be read.
    warming: Option<Warming>,
    /// People the facilitator removed (person ids): refused from then on.
    removed: HashSet<String>,
    /// Signs the personal tokens of the people this board issues ids to.
    issuer: Option<Issuer>,
}

impl Board {
    /// Reads the board. A small one is integrated at once; a big one answers from its
    /// stored form while its document integrates in the background (`board_load`):
    /// the returned receiver gives the document.
    async fn load(
        id: &str,
        store: store::Handle,
        config: &BoardConfig,
        usage: Arc<Usage>,
    ) -> Result<(Self, Option<Integrating>), BoardError> {
        let loaded = {
            let id = id.to_owned();
            store.blocking(move |store| store.load(&id)).await?
        };
        let mut stored = match loaded {
            Some(stored) => stored,
            None if config.open => create_open_board(id, &store).await?,
            None => return Err(BoardError::NotFound),
        };
        let (seq, checkpoint_seq) = (stored.last_seq(), stored.checkpoint.as_ref().map_or(0, |c| c.seq));
        let (doc, warming, integrating) = if board_load::worth_warming(&stored) || !config.integrate_delay.is_zero() {
            // Moved, not copied: a big board's state is megabytes.
            let checkpoint = stored.checkpoint.take();
            let tail = std::mem::take(&mut stored.tail).into_iter().map(|e| e.update).collect();
            let (warming, integrating) = board_load::start(checkpoint, tail, config.integrate_delay).await;
            (Doc::new(), Some(warming), Some(integrating))
        } else {
            (rebuild_stored(&stored), None, None)
        };
        // The stored form's size is the document's: no measure at the first change.
        let (doc_bytes, measured) = match warming.as_ref().and_then(Warming::encoded) {
            Some(encoded) => (encoded.len(), 0),
            None => (usize::MAX, 0),
        };
        let board = Board {
            id: id.to_owned(),
            seq,
            checkpoint_seq,
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
            doc_bytes,
            measured,
            written: Written::from_log(&stored.written),
            usage,
            unloading: false,
            cluster: None,
            warming,
            removed: stored.record.removed.iter().cloned().collect(),
            issuer: config.issuer.clone(),
            doc,
        };
        Ok((board, integrating))
    }

    /// The document is integrated (`None`: integrating it failed): it replaces the
    /// placeholder, and the commands that waited for it are handled, in order.
    async fn integrated(&mut self, doc: Option<Doc>, loaded: std::time::Instant) {
        let Some(warming) = self.warming.take() else { return };
        let Some(doc) = doc else {
            error!("integrating the board's document failed; closing its connections to reload it");
            self.warming = Some(warming);
            self.close_all(close::INTERNAL, "board unavailable; reconnect shortly");
            self.unloading = true;
            return;
        };
        self.doc = doc;
        info!(elapsed_ms = loaded.elapsed().as_millis() as u64, "board's document integrated");
        let (held, ask) = warming.into_held();
        if !held.is_empty() {
            self.tick(held.into_iter()).await;
        }
        // Clients that joined without the server's sync step 1 get it now: their answer
        // brings what they hold and the board lacks. After the held commands, never
        // before: a client that sent its edits and left has its connection removed
        // only by its own `Leave`, after its edits were applied.
        let asked: Vec<_> = ask.into_iter().filter_map(|conn| self.conns.get(&conn)).collect();
        if !asked.is_empty() {
            let step1 = Bytes::from(frame::sync_step1(&self.doc.transact().state_vector()));
            for c in asked {
                // A client too far behind is closed by its queue, and leaves.
                c.outbox.send(step1.clone());
            }
        }
    }

    /// Waits for the document if it is still integrating, then handles what waited.
    async fn finish_warming(&mut self, integrating: &mut Option<Integrating>, loaded: std::time::Instant) {
        if integrating.is_some() {
            let doc = board_load::ready(integrating).await;
            self.integrated(doc, loaded).await;
        }
    }

    /// The board's state vector: its document's, or while that integrates, its
    /// stored form's, if that was read (`None`: not before the document is ready).
    fn state_vector(&self) -> Option<StateVector> {
        match &self.warming {
            Some(warming) => warming.encoded().and_then(|e| e.state_vector().cloned()),
            None => Some(self.doc.transact().state_vector()),
        }
    }

    /// Tells the registry how the board is used.
    fn note_usage(&self) {
        self.usage.connections.store(self.conns.len(), Ordering::SeqCst);
        self.usage.last_used.store(use_clock(), Ordering::Relaxed);
    }

    async fn tick(&mut self, commands: impl Iterator<Item = BoardCmd>) {
        let applying = std::time::Instant::now();
        let mut out = Outgoing::default();
        for cmd in commands {
            // While the document integrates, what needs it waits (see `board_load`).
            let cmd = match self.warming.as_mut() {
                Some(warming) => match warming.admit(cmd) {
                    Some(cmd) => cmd,
                    None => continue,
                },
                None => cmd,
            };
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

    /// Makes the live document equal to a past state with ordinary edits, logged under
    /// the facilitator who asked and relayed to everyone like any update.
    fn restore(
        &mut self,
        to_seq: u64,
        state: &[u8],
        by: Author,
        reply: oneshot::Sender<Result<RestoreResult, StoreError>>,
        out: &mut Outgoing,
    ) {
        // The edits are worked out on a copy of the live document, so that their size is
        // known before anything is written: a restore is checked against the limits like
        // a client's change (a restore of a big board usually writes little; one that
        // brings back much may not fit). The copy costs an encode and a load of the
        // board, on this rare path.
        let past = rebuild(None, &[state]);
        let copy = rebuild(None, &[&sync_reply(&self.doc, &StateVector::default())]);
        let update = crate::history::reconcile::reconcile(&copy, &past);
        drop((past, copy));
        if update.is_empty() {
            let _ = reply.send(Ok(RestoreResult { restored_to: to_seq, seq: self.seq, changed: false }));
            return;
        }
        if let Err(reason) = self.server_write_fits("the restore", update.len(), update.len()) {
            let _ = reply.send(Err(StoreError::Refused { board: self.id.clone(), reason }));
            return;
        }
        if apply_trusted(&self.doc, &update).is_err() {
            error!(to_seq, "yrs panicked applying a restore; rebuilding the board from the store");
            self.rebuild_after_panic(out);
            let reason = "the restore could not be applied; nothing was changed".to_owned();
            let _ = reply.send(Err(StoreError::Refused { board: self.id.clone(), reason }));
            return;
        }
        self.seq += 1;
        self.doc_bytes = self.doc_bytes.saturating_add(update.len());
        info!(to_seq, seq = self.seq, by = %by.name, "board restored");
        let change =
            Change { kind: ChangeKind::Restored, id: None, fields: Vec::new(), label: None, to_seq: Some(to_seq) };
        out.writes.push(self.event(&by, change));
        out.app.push(ServerMessage::Restored { to_seq, seq: self.seq, by: by.name.clone() });
        self.log(out, by, update);
        out.restores.push((reply, RestoreResult { restored_to: to_seq, seq: self.seq, changed: true }));
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

    fn join(
        &mut self,
        conn: ConnId,
        member: Member,
        outbox: Outbox,
        reply: oneshot::Sender<Result<(), BoardError>>,
        out: &mut Outgoing,
    ) {
        if let Some(claims) = &member.claims {
            if let Err(error) = auth::check_generation(claims, self.links_generation) {
                let _ = reply.send(Err(error.into()));
                return;
            }
        }
        if self.removed.contains(&member.author.id) {
            warn!(conn, "a removed person tried to join; refused");
            let _ = reply.send(Err(AuthError::Removed.into()));
            return;
        }
        if self.unloading {
            let _ = reply.send(Err(BoardError::Unloading));
            return;
        }
        if self.conns.len() >= self.limits.max_connections {
            let _ = reply.send(Err(BoardError::Full { limit: self.limits.max_connections }));
            return;
        }
        if reply.send(Ok(())).is_err() {
            return;
        }
        match self.state_vector() {
            Some(state_vector) => out.direct.push((conn, frame::sync_step1(&state_vector).into())),
            // Asked once the document is ready (see `board_load`).
            None => self.warming.as_mut().expect("only a warming board lacks its state vector").ask_later(conn),
        }
        let present = self.awareness.full();
        if !present.clients.is_empty() {
            out.direct.push((conn, frame::awareness(present).into()));
        }
        debug!(conn, author = %member.author.name, role = ?member.role, "joined");
        out.turnout |= member.role != Role::Viewer;
        let outbox = Outbox { max_queued: self.limits.max_queued_bytes, ..outbox };
        let state = Conn {
            outbox,
            member,
            app: false,
            told_read_only: false,
            over_limit: None,
            told_awareness: false,
            told_forged_presence: false,
        };
        self.conns.insert(conn, state);
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

    fn links_rotated(&mut self, generation: u64) {
        // Generations only rise: a late word of an older rotation changes nothing.
        let generation = generation.max(self.links_generation);
        self.links_generation = generation;
        self.conns.retain(|_, c| {
            let Some(claims) = &c.member.claims else { return true };
            let kept = auth::check_generation(claims, generation).is_ok();
            if !kept {
                c.outbox.closer.close(close::FORBIDDEN, AuthError::Revoked.to_string());
            }
            kept
        });
    }

    /// Removes a person from the board: refused from now on, their connections closed.
    fn remove_person(
        &mut self,
        person: String,
        by: &Author,
        reply: oneshot::Sender<Result<u32, StoreError>>,
        out: &mut Outgoing,
    ) {
        let mut closed = 0;
        let mut name = None;
        self.conns.retain(|conn, c| {
            if c.member.author.id != person {
                return true;
            }
            name = Some(c.member.author.name.clone());
            c.outbox.close(close::FORBIDDEN, AuthError::Removed.to_string());
            out.awareness.extend(self.awareness.remove_connection(*conn));
            closed += 1;
            false
        });
        info!(closed, "a person was removed from the board");
        if self.removed.insert(person.clone()) {
            out.writes.push(Write::RemovePerson { board: self.id.clone(), person: person.clone(), at_ms: now_ms() });
            let change = Change {
                kind: ChangeKind::PersonRemoved,
                id: Some(person),
                fields: Vec::new(),
                label: name,
                to_seq: None,
            };
            out.writes.push(self.event(by, change));
        }
        out.turnout = true;
        out.removals.push((reply, closed));
    }

    /// How many people voted in `vote` against how many present may vote.
    fn turnout(&self, vote: &Vote) -> commonboard_protocol::app::Turnout {
        let present: HashSet<&str> = self
            .conns
            .values()
            .filter(|c| c.member.role != Role::Viewer && (!vote.settings.roster || c.member.on_roster()))
            .map(|c| c.member.author.id.as_str())
            .collect();
        commonboard_protocol::app::Turnout { voted: vote.voters(), present: present.len() as u32 }
    }

    /// A vote as the facilitator sees it: the whole tally and the turnout.
    fn facilitator_view(&self, vote: &Vote) -> commonboard_protocol::app::VoteView {
        commonboard_protocol::app::VoteView { turnout: Some(self.turnout(vote)), ..vote.view(true) }
    }

    fn leave(&mut self, conn: ConnId, out: &mut Outgoing) {
        if let Some(c) = self.conns.remove(&conn) {
            debug!(conn, "left");
            out.turnout |= c.member.role != Role::Viewer;
        }
        out.awareness.extend(self.awareness.remove_connection(conn));
    }

    fn handle(&mut self, conn: ConnId, message: Incoming, out: &mut Outgoing) {
        match message {
            Incoming::Yjs(Message::Sync(SyncMessage::SyncStep1(state_vector))) => {
                if self.may_reply(conn, &mut out.answered_step1) {
                    let answer = match self.warming.as_ref().and_then(Warming::encoded) {
                        Some(encoded) => encoded.step2(&state_vector),
                        None => frame::sync_step2(sync_answer(&self.doc, &state_vector)).into(),
                    };
                    out.direct.push((conn, answer));
                }
            }
            Incoming::Yjs(Message::Sync(message @ (SyncMessage::SyncStep2(_) | SyncMessage::Update(_)))) => {
                let live = matches!(message, SyncMessage::Update(_));
                let (SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) = message else { return };
                if self.may_edit(conn, &update, out) && self.within_limits(conn, &update, out) {
                    self.apply(conn, &update, live, out);
                }
            }
            Incoming::Yjs(Message::Awareness(update)) => {
                let Some(state) = self.conns.get(&conn) else { return };
                // Presence moves between connections of one person only; every person id
                // is the server's (a shared link's connection gets one of its own).
                let person = Some(state.member.author.id.as_str());
                let applied = self.awareness.apply_from(conn, person, update);
                for refused in applied.refused {
                    self.presence_refused(conn, refused, out);
                }
                out.awareness.extend(applied.relay);
            }
            Incoming::Yjs(Message::AwarenessQuery) => {
                if self.may_reply(conn, &mut out.answered_query) {
                    out.direct.push((conn, frame::awareness(self.awareness.full()).into()));
                }
            }
            Incoming::Yjs(Message::Auth(_) | Message::Custom(..)) => {}
            Incoming::App(message) => self.handle_app(conn, message, out),
        }
    }

    /// Whether to build a reply for `conn` (a sync step 2, the whole presence): once a
    /// tick for each kind (`answered`), and not for a client already too far behind to
    /// read it, which is closed instead. Checked before the reply is built, so a frame
    /// of repeated queries costs one reply, not one each.
    fn may_reply(&self, conn: ConnId, answered: &mut HashSet<ConnId>) -> bool {
        let Some(state) = self.conns.get(&conn) else { return false };
        if !answered.insert(conn) {
            debug!(conn, "a repeated query in one tick; answered once");
            return false;
        }
        !state.outbox.too_far_behind()
    }

    fn handle_app(&mut self, conn: ConnId, message: ClientMessage, out: &mut Outgoing) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        let role = state.member.role;
        let author = state.member.author.clone();
        let reply = match message {
            ClientMessage::Hello { version } if version == APP_PROTOCOL_VERSION => {
                state.app = true;
                let token = state.member.needs_personal_token().then(|| self.personal_token(&author.id)).flatten();
                let welcome = ServerMessage::Welcome {
                    version: APP_PROTOCOL_VERSION,
                    connection: conn,
                    role,
                    identity: author.id.clone(),
                    token,
                    name: author.name.clone(),
                    locked: self.locked,
                    server_time_ms: now_ms() as f64,
                };
                out.direct.push((conn, frame::server_app(&welcome).into()));
                if !self.workshop.is_idle() {
                    let workshop = ServerMessage::Workshop { state: self.workshop.view() };
                    out.direct.push((conn, frame::server_app(&workshop).into()));
                }
                if let Some((viewport, by)) = &self.viewport {
                    let message = ServerMessage::Viewport { viewport: *viewport, bring: false, by: Some(by.clone()) };
                    out.direct.push((conn, frame::server_app(&message).into()));
                }
                let mine = self.workshop.notes_of(&author.id);
                if !mine.is_empty() {
                    out.direct.push((conn, frame::server_app(&ServerMessage::PrivateNotes { notes: mine }).into()));
                }
                for vote in &self.votes {
                    let view = if role == Role::Facilitator { self.facilitator_view(vote) } else { vote.view(false) };
                    let view = ServerMessage::Vote { vote: view };
                    out.direct.push((conn, frame::server_app(&view).into()));
                    let (mine, remaining) = vote.ballot(&author.id);
                    let ballot = ServerMessage::Ballot { vote: vote.id.clone(), mine, remaining };
                    out.direct.push((conn, frame::server_app(&ballot).into()));
                }
                None
            }
            ClientMessage::Hello { version } => Some(ServerMessage::Error {
                code: ErrorCode::UnsupportedVersion,
                message: format!("this server speaks application protocol {APP_PROTOCOL_VERSION}, not {version}"),
            }),
            ClientMessage::Lock { .. } if role != Role::Facilitator => Some(forbidden("lock or unlock the board")),
            ClientMessage::SetStep { .. } if role != Role::Facilitator => Some(forbidden("move the workshop on")),
            ClientMessage::SetTimer { .. } if role != Role::Facilitator => Some(forbidden("set the timer")),
            ClientMessage::SetPrivate { .. } if role != Role::Facilitator => Some(forbidden("end private writing")),
            ClientMessage::StartTurns { .. } if role != Role::Facilitator => Some(forbidden("start a turn order")),
            ClientMessage::ShowViewport { .. } if role != Role::Facilitator => Some(forbidden("lead the view")),
            ClientMessage::Turn { action } if role != Role::Facilitator && action != TurnAction::Pass => {
                Some(forbidden("move the turn order on"))
            }
            ClientMessage::PutPrivateNote { .. } | ClientMessage::DeletePrivateNote { .. } if role == Role::Viewer => {
                Some(ServerMessage::Error { code: ErrorCode::Forbidden, message: "viewers cannot write notes".into() })
            }
            ClientMessage::PutPrivateNote { .. } if role == Role::Participant && self.locked => {
                Some(ServerMessage::Error {
                    code: ErrorCode::Forbidden,
                    message: "the facilitator locked the board".into(),
                })
            }
            ClientMessage::SetStep { step } => self.workshop_change(out, |w| w.set_step(step)).or_else(|| {
                let label = self.workshop.current_step().map(|s| s.title.clone());
                let change =
                    Change { kind: ChangeKind::StepChanged, id: None, fields: Vec::new(), label, to_seq: None };
                out.writes.push(self.event(&author, change));
                None
            }),
            ClientMessage::SetTimer { seconds } => self.workshop_change(out, |w| w.set_timer(seconds, now_ms())),
            ClientMessage::SetPrivate { private } => self.set_private(private, &author, out),
            ClientMessage::PutPrivateNote { note } => {
                let exists = schema::Board::new(&self.doc).has_note(&self.doc.transact(), &note.id);
                let id = note.id.clone();
                let result = self.workshop.put_private(&author, *note, exists);
                self.private_note_changed(&author, &id, result, out)
            }
            ClientMessage::DeletePrivateNote { id } => {
                let result = self.workshop.delete_private(&author, &id);
                self.private_note_changed(&author, &id, result, out)
            }
            ClientMessage::StartTurns { people } => self.workshop_change(out, |w| w.start_turns(people)),
            ClientMessage::Turn { action } => {
                let facilitator = role == Role::Facilitator;
                self.workshop_change(out, |w| w.turn(action, &author, facilitator))
            }
            ClientMessage::ShowViewport { viewport, bring } => {
                self.viewport = Some((viewport, author.name.clone()));
                let by = Some(author.name.clone());
                let message = Bytes::from(frame::server_app(&ServerMessage::Viewport { viewport, bring, by }));
                for (&other, c) in &self.conns {
                    if other != conn && c.app {
                        out.direct.push((other, message.clone()));
                    }
                }
                None
            }
            ClientMessage::OpenVote { .. } if role != Role::Facilitator => Some(forbidden("open a vote")),
            ClientMessage::CloseVote { .. } if role != Role::Facilitator => Some(forbidden("close a vote")),
            ClientMessage::RevealVote { .. } if role != Role::Facilitator => Some(forbidden("reveal a vote")),
            ClientMessage::CastVote { .. } | ClientMessage::RetractVote { .. } if role == Role::Viewer => {
                Some(ServerMessage::Error { code: ErrorCode::Forbidden, message: "viewers cannot vote".into() })
            }
            ClientMessage::CastVote { .. } if !self.may_vote(conn, &message_vote(&message)) => {
                Some(ServerMessage::Error {
                    code: ErrorCode::Forbidden,
                    message: "this vote is for people holding a personal link from the facilitator".into(),
                })
            }
            ClientMessage::SetName { name } => {
                let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
                if name.is_empty() {
                    Some(ServerMessage::Error { code: ErrorCode::InvalidRequest, message: "a name is required".into() })
                } else {
                    // A label only: every connection of the person shows it; the id stays.
                    for c in self.conns.values_mut().filter(|c| c.member.author.id == author.id) {
                        c.member.author.name = name.clone();
                    }
                    None
                }
            }
            ClientMessage::OpenVote { settings } => self.open_vote(settings, &author, out),
            ClientMessage::CastVote { vote, candidate } => self.ballot(conn, &author, &vote, &candidate, true, out),
            ClientMessage::RetractVote { vote, candidate } => self.ballot(conn, &author, &vote, &candidate, false, out),
            ClientMessage::CloseVote { vote } => self.end_vote(&vote, false, &author, out),
            ClientMessage::RevealVote { vote } => self.end_vote(&vote, true, &author, out),
            ClientMessage::Lock { locked } => {
                if locked != self.locked {
                    self.locked = locked;
                    out.writes.push(Write::Locked { board: self.id.clone(), locked });
                    let kind = if locked { ChangeKind::Locked } else { ChangeKind::Unlocked };
                    out.writes.push(
                        self.event(&author, Change { kind, id: None, fields: Vec::new(), label: None, to_seq: None }),
                    );
                    out.app.push(ServerMessage::BoardState { locked });
                    if !locked {
                        self.ask_refused_again(out);
                    }
                    info!(locked, "board lock changed");
                }
                None
            }
        };
        if let Some(reply) = reply {
            out.direct.push((conn, frame::server_app(&reply).into()));
        }
    }

    /// Whether `conn` may vote in vote `id`: anyone but a viewer, or, in a vote
    /// restricted to the roster, only people holding a link the facilitator handed out.
    fn may_vote(&self, conn: ConnId, id: &str) -> bool {
        let Some(vote) = self.votes.iter().find(|v| v.id == id) else { return true };
        !vote.settings.roster || self.conns.get(&conn).is_some_and(|c| c.member.on_roster())
    }

    /// A personal token for person `id`, for the client to keep and open the board with.
    fn personal_token(&self, id: &str) -> Option<String> {
        let issuer = self.issuer.as_ref()?;
        let claims = Claims {
            board: self.id.clone(),
            role: Role::Participant,
            identity: Some(id.to_owned()),
            generation: self.links_generation,
            expires: now_ms() / 1000 + issuer.link_ttl.as_secs() as i64,
            minted: false,
            presenter: false,
        };
        Some(issuer.signer.sign(&claims))
    }

    /// Applies a change to the workshop flow; returns the refusal if it makes no sense.
    fn workshop_change(
        &mut self,
        out: &mut Outgoing,
        change: impl FnOnce(&mut Workshop) -> Result<(), WorkshopError>,
    ) -> Option<ServerMessage> {
        match change(&mut self.workshop) {
            Ok(()) => {
                out.workshop = true;
                None
            }
            Err(error) => Some(ServerMessage::Error { code: error.code(), message: error.to_string() }),
        }
    }

    /// Saves a private note's change and sends its author (on every device) their notes.
    fn private_note_changed(
        &mut self,
        author: &Author,
        id: &str,
        result: Result<(), WorkshopError>,
        out: &mut Outgoing,
    ) -> Option<ServerMessage> {
        if let Err(error) = result {
            if error.is_over_a_bound() {
                warn!(author = %author.id, %error, "refused a private note over a bound; its sender is told");
                telemetry::refused(Limit::FieldSize);
            }
            return Some(ServerMessage::Error { code: error.code(), message: error.to_string() });
        }
        let note = self.workshop.note_of(&author.id, id).map(|note| StoredPrivateNote {
            id: id.to_owned(),
            author: author.clone(),
            note_json: serde_json::to_string(&note).expect("note serializes"),
        });
        out.writes.push(Write::PrivateNote { board: self.id.clone(), id: id.to_owned(), note });
        self.send_private_notes(&author.id, out);
        // Everyone's placeholders count the notes being written.
        out.workshop = true;
        None
    }

    /// Sends a person's connections all of their private notes.
    fn send_private_notes(&self, author_id: &str, out: &mut Outgoing) {
        let notes = ServerMessage::PrivateNotes { notes: self.workshop.notes_of(author_id) };
        let bytes = Bytes::from(frame::server_app(&notes));
        for (&conn, c) in &self.conns {
            if c.app && c.member.author.id == author_id {
                out.direct.push((conn, bytes.clone()));
            }
        }
    }

    /// Turns private writing on or off; off reveals every private note at once: each
    /// author's notes go onto the board as one change of theirs.
    /// A reveal that would write past `--max-update-bytes` (one author's notes) or
    /// `--max-document-bytes` (everyone's) is refused as a whole: private writing stays
    /// on, every note is kept, and the facilitator is told why.
    fn set_private(&mut self, private: bool, by: &Author, out: &mut Outgoing) -> Option<ServerMessage> {
        if !private {
            let weights: Vec<usize> = self.workshop.reveal_weights().into_values().collect();
            let heaviest = weights.iter().copied().max().unwrap_or(0);
            let total: usize = weights.iter().sum();
            let fits = self
                .server_write_fits("the reveal", heaviest, 0)
                .and_then(|()| self.server_write_fits("the reveal", 0, total));
            if let Err(reason) = fits {
                let message = format!("{reason}; the private notes are kept: ask people to shorten or delete some");
                return Some(ServerMessage::Error { code: ErrorCode::LimitReached, message });
            }
        }
        let mut revealed = self.workshop.set_private(private);
        out.workshop = true;
        if revealed.is_empty() {
            return None;
        }
        // Each goes to free space in its area, never on top of a note already there.
        let snapshot = schema::Board::new(&self.doc).snapshot(&self.doc.transact());
        let mut notes: Vec<schema::Note> = revealed.iter().map(|p| p.note.clone()).collect();
        let layout = placement::place_notes(&snapshot, &mut notes);
        for (private, placed) in revealed.iter_mut().zip(notes) {
            private.note = placed;
        }
        // Full areas grew to hold them, and what lay below moved down.
        if !layout.is_empty() {
            self.server_change(out, |board, txn| apply_layout(board, txn, &layout));
        }
        let mut by_author: Vec<(Author, Vec<PrivateNote>)> = Vec::new();
        for note in revealed {
            match by_author.iter_mut().find(|(a, _)| a.id == note.author.id) {
                Some((_, notes)) => notes.push(note),
                None => by_author.push((note.author.clone(), vec![note])),
            }
        }
        let count: usize = by_author.iter().map(|(_, notes)| notes.len()).sum();
        for (author, notes) in by_author {
            self.change_as(author.clone(), out, |board, txn| {
                for private in &notes {
                    board.insert_note(txn, &private.note);
                }
            });
            self.send_private_notes(&author.id, out);
        }
        out.writes.push(Write::ClearPrivateNotes { board: self.id.clone() });
        let label = Some(format!("{count} notes"));
        let change = Change { kind: ChangeKind::NotesRevealed, id: None, fields: Vec::new(), label, to_seq: None };
        out.writes.push(self.event(by, change));
        info!(count, "private notes revealed");
        None
    }

    /// Opens a vote; returns the refusal if its settings are not valid.
    fn open_vote(&mut self, settings: VoteSettings, by: &Author, out: &mut Outgoing) -> Option<ServerMessage> {
        if self.votes.len() >= crate::vote::MAX_VOTES_PER_BOARD {
            let max = crate::vote::MAX_VOTES_PER_BOARD;
            return Some(refusal(VoteError::Invalid(format!(
                "this board holds {max} votes already, the most it keeps"
            ))));
        }
        let id = format!("{:016x}", rand::random::<u64>());
        let (doc, board) = (&self.doc, schema::Board::new(&self.doc));
        let vote = match Vote::open(id, settings, now_ms(), |note| board.has_note(&doc.transact(), note)) {
            Ok(vote) => vote,
            Err(error) => return Some(refusal(error)),
        };
        info!(vote = %vote.id, candidates = vote.settings.candidates.len(), "vote opened");
        out.writes.push(vote_write(&self.id, &vote));
        out.writes.push(self.event(by, vote_change(ChangeKind::VoteOpened, &vote)));
        out.votes.push(vote.id.clone());
        self.votes.push(vote);
        None
    }

    /// Casts (or retracts) one vote; answers with the voter's ballot or a refusal.
    fn ballot(
        &mut self,
        conn: ConnId,
        voter: &Author,
        id: &str,
        candidate: &str,
        cast: bool,
        out: &mut Outgoing,
    ) -> Option<ServerMessage> {
        let Some(vote) = self.votes.iter_mut().find(|v| v.id == id) else {
            return Some(ServerMessage::Error { code: ErrorCode::NoSuchVote, message: "no such vote".into() });
        };
        let now = now_ms();
        let counted = if cast {
            vote.cast(&voter.id, &voter.name, candidate, now)
        } else {
            vote.retract(&voter.id, candidate, now)
        };
        let count = match counted {
            Ok(count) => count,
            Err(error) => return Some(refusal(error)),
        };
        let row = BallotRow { voter: voter.id.clone(), name: voter.name.clone(), candidate: candidate.into(), count };
        out.writes.push(Write::Ballot { board: self.id.clone(), vote: id.into(), ballot: row });
        let (mine, remaining) = vote.ballot(&voter.id);
        let ballot = ServerMessage::Ballot { vote: id.into(), mine, remaining };
        out.direct.push((conn, frame::server_app(&ballot).into()));
        if !out.votes.iter().any(|v| v == id) {
            out.votes.push(id.into());
        }
        None
    }

    /// Closes a vote, or reveals its tally; once a closed vote's tally is visible to
    /// everyone, its winner is recorded on the board as the common goal.
    fn end_vote(&mut self, id: &str, reveal: bool, by: &Author, out: &mut Outgoing) -> Option<ServerMessage> {
        let Some(index) = self.votes.iter().position(|v| v.id == id) else {
            return Some(ServerMessage::Error { code: ErrorCode::NoSuchVote, message: "no such vote".into() });
        };
        let kind = if reveal { ChangeKind::VoteRevealed } else { ChangeKind::VoteClosed };
        let event = self.event(by, vote_change(kind, &self.votes[index]));
        let vote = &mut self.votes[index];
        if reveal {
            vote.revealed = true;
        } else {
            vote.open = false;
        }
        info!(vote = %id, open = vote.open, revealed = vote.revealed, "vote changed");
        out.writes.push(vote_write(&self.id, vote));
        out.writes.push(event);
        out.votes.push(id.into());
        let decided = !vote.open && (vote.revealed || !vote.settings.hidden);
        if let Some(winner) = vote.winner().filter(|_| decided) {
            let spot = self.goal_spot(&winner);
            // The goal, and the winning note moved into its area (a position and a frame id).
            let weight = goal_weight(&winner)
                + spot.as_ref().map_or(0, |(frame, _, _, layout)| 64 + frame.len() + layout.weight());
            if let Err(reason) = self.server_write_fits("the vote's result", weight, weight) {
                let message = format!("the vote is closed, but its result is not on the board: {reason}");
                return Some(ServerMessage::Error { code: ErrorCode::LimitReached, message });
            }
            self.server_change(out, |board, txn| {
                board.set_common_goal(txn, &winner);
                if let Some((frame, x, y, layout)) = &spot {
                    apply_layout(board, txn, layout);
                    board.move_note(txn, &winner, *x, *y);
                    board.set_note_field(txn, &winner, schema::note::FRAME, yrs::Any::from(frame.as_str()));
                }
            });
        }
        None
    }

    /// Where the chosen goal goes: free space in the board's "chosen" area (the template's
    /// "Our common goal"), unless it is there already or the board has no such area.
    /// Returns the frame, the place, and what moved to make room when the area was full.
    fn goal_spot(&self, winner: &str) -> Option<(String, f64, f64, placement::Layout)> {
        let snapshot = schema::Board::new(&self.doc).snapshot(&self.doc.transact());
        let frame = snapshot.frames.iter().find(|f| f.area.as_deref() == Some(GOAL_AREA))?;
        let note = snapshot.notes.iter().find(|n| n.id == winner)?;
        if note.frame.as_deref() == Some(frame.id.as_str()) {
            return None;
        }
        let mut placed = [schema::Note { frame: Some(frame.id.clone()), ..note.clone() }];
        let layout = placement::place_notes(&snapshot, &mut placed);
        Some((frame.id.clone(), placed[0].x, placed[0].y, layout))
    }

    /// When the next vote timer runs out, if one is running.
    fn next_vote_deadline(&self) -> Option<tokio::time::Instant> {
        let at = self.votes.iter().filter(|v| v.open).filter_map(|v| v.closes_at_ms).min()?;
        let wait = u64::try_from(at - now_ms()).unwrap_or(0);
        Some(tokio::time::Instant::now() + Duration::from_millis(wait))
    }

    /// Closes the votes whose timer ran out.
    async fn close_due_votes(&mut self) {
        let now = now_ms();
        let due: Vec<String> = self
            .votes
            .iter()
            .filter(|v| v.open && v.closes_at_ms.is_some_and(|at| at <= now))
            .map(|v| v.id.clone())
            .collect();
        let mut out = Outgoing::default();
        for id in due {
            self.end_vote(&id, false, &Author::server(), &mut out);
        }
        self.finish(out).await;
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
        let board = schema::Board::new(&self.doc);
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

    /// Whether `conn` may change the document; tells it once when it may not.
    fn may_edit(&mut self, conn: ConnId, bytes: &[u8], out: &mut Outgoing) -> bool {
        let Some(state) = self.conns.get_mut(&conn) else { return false };
        let reason = match state.member.role {
            Role::Viewer => "read-only: this is a viewer link, changes are not saved",
            Role::Participant if self.locked => "the facilitator locked the board: changes are not saved",
            _ => return true,
        };
        // A viewer's provider answers the server's sync step 1 with its (usually empty)
        // state: nothing to refuse there.
        let empty = frame::decode_update(bytes).is_ok_and(|u| u.is_empty());
        if !empty && !state.told_read_only {
            state.told_read_only = true;
            debug!(conn, reason, "refused a change");
            out.direct.push((conn, frame::encode_frame([&Message::Auth(Some(reason.into()))]).into()));
            if state.app {
                let error = ServerMessage::Error { code: ErrorCode::Forbidden, message: reason.into() };
                out.direct.push((conn, frame::server_app(&error).into()));
            }
        }
        false
    }

    /// After an unlock, asks every participant whose changes the lock refused for what
    /// the board lacks (the server's state vector, sync step 1): their answer carries
    /// the refused changes, and with them every later change of theirs that builds on
    /// one (held by the document as missing its dependencies until then).
    fn ask_refused_again(&mut self, out: &mut Outgoing) {
        let mut step1: Option<Bytes> = None;
        for (&conn, state) in &mut self.conns {
            if state.member.role != Role::Participant || !std::mem::take(&mut state.told_read_only) {
                continue;
            }
            let bytes =
                step1.get_or_insert_with(|| frame::sync_step1(&self.doc.transact().state_vector()).into()).clone();
            debug!(conn, "asking a client for the changes the lock refused");
            out.direct.push((conn, bytes));
        }
    }

    /// Whether an update from `conn` is within the board's limits: its size, its
    /// sender's share of the board (`max_person_bytes`, the facilitator excepted), and
    /// the document's size with it. One that is not is refused, not applied, not
    /// stored, not relayed, and so is every later change of that connection, which
    /// builds on it: the client is told once (the Yjs permission-denied message, and an
    /// application `error` if it said hello) and stays connected, so it does not
    /// reconnect and resend the change in a loop. The board goes on for everyone else.
    ///
    /// An update that only deletes what the board holds is the exception: a board at
    /// its limits can always be cleaned up (see [`Self::cleanup_fits`]). It is taken
    /// from a connection whose earlier change was refused too, as it needs nothing the
    /// board lacks.
    fn within_limits(&mut self, conn: ConnId, bytes: &[u8], out: &mut Outgoing) -> bool {
        let Some(state) = self.conns.get(&conn) else { return false };
        let refused_before = state.over_limit.is_some();
        let person = &state.member.author.id;
        let share = (state.member.role != Role::Facilitator).then_some(self.limits.max_person_bytes);
        let (limit, size, max) = if bytes.len() > self.limits.max_update_bytes {
            (Limit::UpdateSize, bytes.len(), self.limits.max_update_bytes)
        } else if refused_before {
            return self.cleanup_fits(bytes);
        } else if let Some(max) = share.filter(|&max| self.written.would_pass(person, bytes.len(), max)) {
            (Limit::PersonShare, self.written.of(person).saturating_add(bytes.len()), max)
        } else if self.would_outgrow(bytes.len()) {
            (Limit::DocumentSize, self.doc_bytes.saturating_add(bytes.len()), self.limits.max_document_bytes)
        } else {
            return true;
        };
        if limit != Limit::UpdateSize && self.cleanup_fits(bytes) {
            return true;
        }
        if refused_before {
            return false;
        }
        let reason = match limit {
            Limit::UpdateSize => format!(
                "change not saved: {size} bytes is over the limit of {max} bytes for one change; \
                 reload the board to go on editing"
            ),
            Limit::PersonShare => format!(
                "change not saved: it would bring what you wrote on this board to {size} bytes, over the \
                 share of {max} bytes one person may write (so that nobody can fill the board for everyone); \
                 reload the board to see what was saved; you can still delete, and the facilitator can still edit"
            ),
            _ => format!(
                "change not saved: the board reached its size limit of {max} bytes; \
                 reload the board to see what was saved; deleting notes makes room"
            ),
        };
        warn!(conn, limit = max, size, kind = limit.label(), "refused a change over a limit; its sender is told");
        telemetry::refused(limit);
        let state = self.conns.get_mut(&conn).expect("checked above");
        state.over_limit = Some(limit);
        out.direct.push((conn, frame::encode_frame([&Message::Auth(Some(reason.clone()))]).into()));
        if state.app {
            let error = ServerMessage::Error { code: ErrorCode::LimitReached, message: reason };
            out.direct.push((conn, frame::server_app(&error).into()));
        }
        false
    }

    /// Whether an update that a limit would refuse only deletes what the board holds,
    /// and so is taken anyway: no person's share counts it, and it is held to the
    /// document's limit with room to spare for cleaning up (a sixteenth of it), at what
    /// it can add at most, [`validate::DELETED_RANGE_GROWTH`] bytes per deleted range
    /// (a delete splits the items it cuts into), rather than at its size. That room
    /// bounds how far deletes alone can take a board past its limit; a delete that
    /// frees space gives it back once the board is measured again. Only looked at once a
    /// limit is reached: no state vector is built on the hot path.
    fn cleanup_fits(&mut self, bytes: &[u8]) -> bool {
        let state = std::cell::OnceCell::new();
        let known = |client| state.get_or_init(|| self.doc.transact().state_vector()).get(&yrs::ClientID::new(client));
        let Some(ranges) = validate::deletes_only_v1(bytes, known) else { return false };
        let growth = ranges.saturating_mul(validate::DELETED_RANGE_GROWTH);
        let room = self.limits.max_document_bytes / 16;
        if self.would_outgrow_by(growth, room) {
            warn!(ranges, "a delete would take the board past its limit and the room kept for cleaning up");
            return false;
        }
        self.doc_bytes = self.doc_bytes.saturating_add(growth);
        true
    }

    /// Whether an update of `bytes` would take the document past its size limit: the
    /// estimate says when to look, and the document is measured before refusing.
    fn would_outgrow(&mut self, bytes: usize) -> bool {
        self.would_outgrow_by(bytes, 0)
    }

    /// [`Self::would_outgrow`], with the limit raised by `room` bytes.
    fn would_outgrow_by(&mut self, bytes: usize, room: usize) -> bool {
        let max = self.limits.max_document_bytes.saturating_add(room);
        if self.doc_bytes.saturating_add(bytes) <= max {
            return false;
        }
        if self.doc_bytes != self.measured {
            self.measure();
        }
        self.doc_bytes.saturating_add(bytes) > max
    }

    /// Measures the document's encoded size (the whole state encoded once).
    fn measure(&mut self) {
        self.doc_bytes = encoded_len(&self.doc);
        self.measured = self.doc_bytes;
    }

    /// Whether a change the server writes itself (a reveal, a restore, a vote's result)
    /// fits the board's limits like a client's change: `update` bytes in one change, the
    /// document growing by `growth`. Both are upper bounds of what the change writes, so
    /// a change checked here never takes the board past a limit. The refusal says why.
    fn server_write_fits(&mut self, what: &str, update: usize, growth: usize) -> Result<(), String> {
        let reason = if update > self.limits.max_update_bytes {
            let max = self.limits.max_update_bytes;
            format!("{what} would write {update} bytes in one change, over the limit of {max} bytes")
        } else if growth > 0 && self.would_outgrow(growth) {
            let max = self.limits.max_document_bytes;
            format!("{what} would take the board past its size limit of {max} bytes")
        } else {
            return Ok(());
        };
        warn!(%reason, "refused a server-side write over a limit");
        telemetry::refused(Limit::FieldSize);
        Err(reason)
    }

    /// Tells `conn`, once per kind of refusal, that an awareness state it sent was
    /// dropped. A state for another connection's client id is a forgery: logged, and
    /// told as an application `error` to a client that said hello (a stock Yjs client
    /// has no way to show it, and is not sent anything). A state over a size limit is
    /// told to every client (stock ones with the Yjs permission-denied message).
    fn presence_refused(&mut self, conn: ConnId, refused: awareness::Refused, out: &mut Outgoing) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        let forged = refused == awareness::Refused::NotYours;
        let told = if forged { &mut state.told_forged_presence } else { &mut state.told_awareness };
        if std::mem::replace(told, true) {
            return;
        }
        let reason = refused.to_string();
        if forged {
            warn!(conn, "refused a presence state for a client id another connection owns; not relayed");
            telemetry::refused(Limit::PresenceOwner);
        } else {
            warn!(conn, %reason, "dropped a presence state over a limit; its sender is told once");
            telemetry::refused(Limit::AwarenessSize);
        }
        let code = if forged { ErrorCode::Forbidden } else { ErrorCode::LimitReached };
        let message = if state.app {
            frame::server_app(&ServerMessage::Error { code, message: reason })
        } else if forged {
            return;
        } else {
            frame::encode_frame([&Message::Auth(Some(reason))])
        };
        out.direct.push((conn, message.into()));
    }

    /// Applies one update from `conn`. What the document actually gained (nothing for a
    /// duplicate) is logged and relayed; an update yrs rejects, or one that makes yrs
    /// panic, closes that connection and changes nothing (`Err(None)`: yrs panicked).
    /// With `ask_if_missing` (a live update, not an answer to the server's sync step 1,
    /// so asking never loops), an update that waits for changes the board lacks has the
    /// server ask its sender for them.
    fn apply(&mut self, conn: ConnId, bytes: &[u8], ask_if_missing: bool, out: &mut Outgoing) {
        let goal = self.common_goal();
        // Types nest only as deep as `nesting` allows: checked after an update that
        // creates types, or one that may integrate updates waiting for it.
        // The connection's reader checked the update; this reads what it refers to.
        let summary = match validate::summarize_update_v1(bytes, &ACCEPTED) {
            Ok(summary) => summary,
            Err(invalid) => {
                debug!(conn, %invalid, "update does not read");
                return self.reject(conn, "update does not decode");
            }
        };
        let creates_types = summary.types > 0;
        let (waiting, state_before) = {
            let txn = self.doc.transact();
            (txn.has_missing_updates(), txn.state_vector())
        };
        let check_nesting = creates_types || waiting;
        let mut missing = false;
        let doc = &self.doc;
        let outcome = contain_panic(|| -> Result<Option<Vec<u8>>, Refusal> {
            // An update that builds on changes the board lacks is not applied (the
            // sender is asked for the rest), and one that overlaps what the board has
            // is trimmed: see `intake`.
            let update = intake::prepare(bytes, &summary.references, &state_before).map_err(|unfit| match unfit {
                Unfit::Undecodable(e) => Refusal::Invalid("update does not decode", e),
                Unfit::Held(held) => Refusal::Held(held),
            })?;
            // yrs panics on some crafted updates (see `contain_yrs`): the transaction,
            // its commit included, runs contained, and a panic rebuilds the board below.
            frame::contain_yrs(|| {
                // Committed only if yrs did not panic (see `discard`).
                let mut txn = ManuallyDrop::new(doc.transact_mut());
                let outcome = match txn.apply_update(update) {
                    Ok(()) => {
                        let unchanged = txn.before_state() == txn.after_state() && txn.delete_set().is_empty();
                        // This update is the one waiting: it left the document missing
                        // something, or changed nothing while something is missing.
                        missing = txn.has_missing_updates() && (!waiting || unchanged);
                        // The nesting is read off the committed transaction.
                        txn.commit();
                        if let Some(client) = intake::skipped_ahead(&txn, &state_before) {
                            Err(Refusal::Gap(client))
                        } else {
                            match check_nesting.then(|| nesting::check(&txn)).transpose() {
                                Ok(_) => Ok((!unchanged).then(|| txn.encode_update_v1())),
                                Err(too_deep) => Err(Refusal::TooDeep(too_deep)),
                            }
                        }
                    }
                    // yrs may have integrated part of it before it stopped: committed
                    // here (a transaction commits when dropped), then undone below.
                    Err(e) => Err(Refusal::Rejected(e.to_string())),
                };
                drop(ManuallyDrop::into_inner(txn));
                outcome
            })
            .unwrap_or(Err(Refusal::Panicked))
        });
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
                self.keep_common_goal(conn, goal, out);
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
        schema::Board::new(&self.doc).common_goal(&self.doc.transact())
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

    /// Relays the awareness states held back by the per-client throttle, now due.
    fn relay_held_awareness(&mut self) {
        let due = self.awareness.take_due(tokio::time::Instant::now());
        if !due.is_empty() {
            self.flush(Outgoing { awareness: due.into_iter().collect(), ..Outgoing::default() });
        }
    }

    /// Relays the removal of states whose clients stopped renewing them.
    fn expire_awareness(&mut self) {
        let removed = self.awareness.expire(tokio::time::Instant::now(), awareness::STATE_TTL);
        if !removed.is_empty() {
            debug!(count = removed.len(), "expired stale awareness states");
            self.flush(Outgoing { awareness: removed.into_iter().collect(), ..Outgoing::default() });
        }
    }

    /// Sends the tick's frames: each broadcast encoded once, shared by every recipient.
    fn flush(&mut self, out: Outgoing) {
        let fanout = std::time::Instant::now();
        let mut broadcast = Vec::with_capacity(2);
        let updates = out.updates.len() as u64;
        if !out.updates.is_empty() {
            let merged = if out.updates.len() == 1 {
                out.updates.into_iter().next().expect("one update")
            } else {
                yrs::merge_updates_v1(&out.updates).expect("updates encoded by yrs merge")
            };
            broadcast.push(Bytes::from(frame::sync_update(merged)));
        }
        let presence = (!out.awareness.is_empty())
            .then(|| Bytes::from(frame::awareness(AwarenessUpdate { clients: out.awareness })));
        if let Some(link) = &self.cluster {
            // Committed: the other nodes relay these to their own clients, in seq order.
            let update = (updates > 0).then(|| (self.seq + 1 - updates, self.seq, broadcast[0].clone()));
            link.publish(update, presence.clone());
        }
        broadcast.extend(presence);
        // Connections whose queue overflowed: closed by `Outbox::send`, dropped here.
        let mut dropped = Vec::new();
        for id in &out.votes {
            let Some(vote) = self.votes.iter().find(|v| &v.id == id) else { continue };
            let public = Bytes::from(frame::server_app(&ServerMessage::Vote { vote: vote.view(false) }));
            let full = Bytes::from(frame::server_app(&ServerMessage::Vote { vote: self.facilitator_view(vote) }));
            for (id, c) in self.conns.iter().filter(|(_, c)| c.app) {
                let view = if c.member.role == Role::Facilitator { &full } else { &public };
                if !c.outbox.send(view.clone()) {
                    dropped.push(*id);
                }
            }
        }
        if out.turnout {
            // Who is present changed: the facilitator sees each open vote's turnout live.
            for vote in self.votes.iter().filter(|v| v.open && !out.votes.contains(&v.id)) {
                let full = Bytes::from(frame::server_app(&ServerMessage::Vote { vote: self.facilitator_view(vote) }));
                for (id, c) in self.conns.iter().filter(|(_, c)| c.app && c.member.role == Role::Facilitator) {
                    if !c.outbox.send(full.clone()) {
                        dropped.push(*id);
                    }
                }
            }
        }
        if !out.app.is_empty() {
            let frames: Vec<Bytes> = out.app.iter().map(|m| Bytes::from(frame::server_app(m))).collect();
            for (id, c) in self.conns.iter().filter(|(_, c)| c.app) {
                if !frames.iter().all(|bytes| c.outbox.send(bytes.clone())) {
                    dropped.push(*id);
                }
            }
        }
        for (conn, bytes) in out.direct {
            if let Some(c) = self.conns.get(&conn) {
                if !c.outbox.send(bytes) {
                    dropped.push(conn);
                }
            }
        }
        if !broadcast.is_empty() {
            let mut deepest = 0;
            for (id, c) in &self.conns {
                if self.cluster.as_ref().is_some_and(|link| link.is_remote(*id)) {
                    continue;
                }
                deepest = deepest.max(c.outbox.depth());
                if !broadcast.iter().all(|bytes| c.outbox.send(bytes.clone())) {
                    dropped.push(*id);
                }
            }
            let bytes: usize = broadcast.iter().map(Bytes::len).sum();
            let recipients = self.conns.len() as u64;
            metrics::counter!(telemetry::FRAMES_SENT).increment(recipients * broadcast.len() as u64);
            metrics::counter!(telemetry::BYTES_SENT).increment(recipients * bytes as u64);
            metrics::histogram!(telemetry::QUEUE_DEPTH).record(deepest as f64);
            metrics::histogram!(telemetry::FANOUT_SECONDS).record(fanout.elapsed().as_secs_f64());
        }
        for id in dropped {
            self.conns.remove(&id);
        }
        self.note_usage();
        for (reply, result) in out.restores {
            let _ = reply.send(Ok(result));
        }
        for (reply, closed) in out.removals {
            let _ = reply.send(Ok(closed));
        }
    }

    /// Writes a checkpoint when more than `behind` updates were logged since the last.
    async fn checkpoint_if_behind(&mut self, behind: u64) {
        // Nothing to write before the document is integrated (nothing was applied).
        if self.warming.is_some() || self.seq <= self.checkpoint_seq + behind {
            return;
        }
        // The last one before unloading (`behind` 0) is what the next load answers with.
        let (encoding, state) =
            if behind == 0 { unload_checkpoint_state(&self.doc) } else { checkpoint_state(&self.doc) };
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

    fn close_all(&mut self, code: CloseCode, reason: &str) {
        for (_, c) in self.conns.drain() {
            c.outbox.closer.close(code, reason);
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

fn refusal(error: VoteError) -> ServerMessage {
    ServerMessage::Error { code: error.code(), message: error.to_string() }
}

fn vote_write(board: &str, vote: &Vote) -> Write {
    Write::Vote { board: board.into(), vote: vote.to_record() }
}

/// A vote's event for the history, named by its title.
fn vote_change(kind: ChangeKind, vote: &Vote) -> Change {
    let label = Some(vote.settings.title.trim().to_owned()).filter(|t| !t.is_empty());
    Change { kind, id: Some(vote.id.clone()), fields: Vec::new(), label, to_seq: None }
}

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The vote a cast names.
fn message_vote(message: &ClientMessage) -> String {
    match message {
        ClientMessage::CastVote { vote, .. } | ClientMessage::RetractVote { vote, .. } => vote.clone(),
        _ => String::new(),
    }
}

fn forbidden(what: &str) -> ServerMessage {
    ServerMessage::Error { code: ErrorCode::Forbidden, message: format!("only the facilitator can {what}") }
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

/// At most what writing (or putting back) the common goal adds to an update: the note
/// id and the item around it.
fn goal_weight(note_id: &str) -> usize {
    64 + note_id.len()
}

/// Server time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
