//! One simulated editor: a WebSocket connection speaking the Yjs sync protocol.
//!
//! A peer connects, sends its sync step 1 (after the auth message, for Hocuspocus) and
//! answers the server's step 1. Once the server's step 2 has arrived it is *synced*.
//! While the run is in its warm-up or measurement phase it edits the board at its edit
//! rate and moves its cursor at its cursor rate, each at jittered intervals so that
//! editors do not fire in lock-step. Everything it receives is searched for latency
//! markers (see [`crate::marker`]); a *full* peer also applies every update to its
//! document so that the run can compare replicas at the end.
//!
//! One task per peer owns its socket, its document and its timers; peers share only
//! the run's [`Shared`] state: the phase (a watch channel the coordinator writes),
//! atomic counters, and the sharded latency recorder.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, ReadTxn, StateVector, Transact, Update};

use crate::edits::Editor;
use crate::latency::Recorder;
use crate::marker::{Clock, Marker, MarkerCodec, MARKER_ROOT};
use crate::record::{Direction, FrameRecorder};
use crate::wire::{self, Flavor, Msg, Wire};

/// A client socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for one connection to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer per connection: small, because thousands of connections are open.
const READ_BUFFER: usize = 16 * 1024;
/// Largest message accepted: a full board can be several megabytes.
const MAX_MESSAGE: usize = 256 << 20;

/// Where the run is; peers act on it, the coordinator moves it forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Connections are opening and syncing.
    Connect,
    /// Editing, not yet measured.
    Warmup,
    /// Editing, measured.
    Measure,
    /// No more edits; waiting for those in flight.
    Drain,
    /// Peers report and close.
    Done,
}

/// Counters every peer adds to.
#[derive(Debug, Default)]
pub struct Counters {
    pub connected: AtomicU64,
    pub synced: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Connections that ended before the run did.
    pub closed_early: AtomicU64,
    /// Frames that did not decode, refusals, and send failures.
    pub errors: AtomicU64,
    pub edits_sent: AtomicU64,
    /// Edits sent during the measurement window.
    pub edits_measured: AtomicU64,
    pub cursors_sent: AtomicU64,
    /// Connections open right now.
    pub open: AtomicU64,
}

/// Per-board state of a run.
#[derive(Debug, Default)]
pub struct BoardState {
    /// Edits sent to this board.
    pub sent: AtomicU64,
    /// Peers synced and still connected.
    pub alive: AtomicU32,
}

/// What every peer of a run shares.
pub struct Shared {
    pub clock: Clock,
    pub codec: MarkerCodec,
    pub recorder: Recorder,
    pub counters: Counters,
    pub boards: Vec<BoardState>,
    /// Start and end of the measurement window on [`Self::clock`] (`u64::MAX` until set).
    pub window_start_us: AtomicU64,
    pub window_end_us: AtomicU64,
    /// Limits connections being opened at once.
    pub connecting: Arc<Semaphore>,
    pub flavor: Flavor,
    pub token: String,
    /// The first few error messages, for the report.
    pub error_samples: Mutex<Vec<String>>,
    /// Close codes and reasons of connections that ended early, with counts.
    pub closes: Mutex<BTreeMap<String, u64>>,
    /// Records the first frames sent and received (`--record-frames`).
    pub frames: Option<Arc<FrameRecorder>>,
}

impl Shared {
    fn in_window(&self, sent_us: u64) -> bool {
        sent_us >= self.window_start_us.load(Ordering::Relaxed) && sent_us < self.window_end_us.load(Ordering::Relaxed)
    }

    /// Counts an error and keeps its message if it is among the first few.
    pub fn error(&self, message: String) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.error_samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < 10 {
            samples.push(message);
        }
    }

    fn closed(&self, reason: String) {
        let mut closes = self.closes.lock().unwrap_or_else(|p| p.into_inner());
        *closes.entry(reason).or_default() += 1;
    }
}

/// What one peer is to do.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    /// Global index: part of note ids and markers.
    pub index: u32,
    pub board: usize,
    pub url: String,
    /// Document name (Hocuspocus frames carry it).
    pub document: String,
    /// Keep a full replica of the board.
    pub full: bool,
    pub edit_every: Option<Duration>,
    pub cursor_every: Option<Duration>,
    pub seed: u64,
}

/// A full replica's final state.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub snapshot: yrs::Snapshot,
    pub json: Any,
    /// The whole document encoded as one update.
    pub encoded: Vec<u8>,
    pub notes: BTreeSet<String>,
}

impl ReplicaState {
    pub fn of(doc: &Doc) -> Self {
        let notes = doc.get_or_insert_map(commonboard_protocol::schema::NOTES);
        let txn = doc.transact();
        ReplicaState {
            snapshot: txn.snapshot(),
            json: doc.to_json(&txn),
            encoded: txn.encode_state_as_update_v1(&StateVector::default()),
            notes: yrs::Map::keys(&notes, &txn).map(str::to_owned).collect(),
        }
    }
}

/// What a peer reports when the run ends.
#[derive(Debug)]
pub struct PeerOutcome {
    pub index: u32,
    pub board: usize,
    pub synced: bool,
    pub created: Vec<String>,
    pub deleted: Vec<String>,
    pub replica: Option<ReplicaState>,
}

/// Opens a WebSocket with the tool's settings.
pub async fn connect(url: &str) -> anyhow::Result<Socket> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (socket, _) =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async_with_config(url, Some(config), true))
            .await
            .context("timed out")?
            .with_context(|| format!("cannot connect to {url}"))?;
    Ok(socket)
}

/// Runs one peer until the run is done; never fails, it counts what went wrong.
pub async fn run(plan: PeerPlan, shared: Arc<Shared>, phase: watch::Receiver<Phase>) -> PeerOutcome {
    let editor = Editor::new(plan.index, plan.full, plan.seed);
    let permit = shared.connecting.clone().acquire_owned().await.ok();
    let socket = match connect(&plan.url).await {
        Ok(socket) => socket,
        Err(error) => {
            shared.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("{error:#}"));
            return PeerOutcome {
                index: plan.index,
                board: plan.board,
                synced: false,
                created: Vec::new(),
                deleted: Vec::new(),
                replica: None,
            };
        }
    };
    shared.counters.connected.fetch_add(1, Ordering::Relaxed);
    shared.counters.open.fetch_add(1, Ordering::Relaxed);
    let wire = Wire::new(shared.flavor, &plan.document);
    let mut peer = Peer {
        rng: StdRng::seed_from_u64(plan.seed ^ u64::from(plan.index).rotate_left(32)),
        plan,
        shared,
        wire,
        editor,
        socket,
        permit,
        synced: false,
        edit_seq: 0,
        cursor_seq: 0,
        cursor: (0.0, 0.0),
        edits: Vec::new(),
        cursors: Vec::new(),
    };
    let ended_early = peer.serve(phase).await;
    let Peer { plan, shared, editor, synced, .. } = peer;
    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
    if synced {
        shared.boards[plan.board].alive.fetch_sub(u32::from(ended_early), Ordering::Relaxed);
    }
    PeerOutcome {
        index: plan.index,
        board: plan.board,
        synced,
        replica: editor.is_full().then(|| ReplicaState::of(editor.doc())),
        created: editor.created,
        deleted: editor.deleted,
    }
}

struct Peer {
    plan: PeerPlan,
    shared: Arc<Shared>,
    wire: Wire,
    editor: Editor,
    socket: Socket,
    /// Held until synced, so that only so many connections open at once.
    permit: Option<OwnedSemaphorePermit>,
    synced: bool,
    edit_seq: u64,
    cursor_seq: u64,
    rng: StdRng,
    cursor: (f64, f64),
    /// Latencies found in the frame being handled (reused buffers).
    edits: Vec<u64>,
    cursors: Vec<u64>,
}

impl Peer {
    /// Serves until the run is done; returns whether the connection ended before that.
    async fn serve(&mut self, mut phase_rx: watch::Receiver<Phase>) -> bool {
        if let Some(hello) = self.wire.hello(&self.shared.token) {
            if self.send(hello).await.is_err() {
                return true;
            }
        }
        let step1 = self.wire.step1(&self.editor.doc().transact().state_vector());
        if self.send(step1).await.is_err() {
            return true;
        }

        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let edit_timer = tokio::time::sleep_until(far);
        let cursor_timer = tokio::time::sleep_until(far);
        tokio::pin!(edit_timer, cursor_timer);
        let mut phase = *phase_rx.borrow_and_update();
        let mut active = false;
        loop {
            let editing = matches!(phase, Phase::Warmup | Phase::Measure) && self.synced;
            if editing && !active {
                active = true;
                let now = Instant::now();
                if let Some(every) = self.plan.edit_every {
                    edit_timer.as_mut().reset(now + every.mul_f64(self.rng.random_range(0.0..1.0)));
                }
                if let Some(every) = self.plan.cursor_every {
                    cursor_timer.as_mut().reset(now + every.mul_f64(self.rng.random_range(0.0..1.0)));
                }
            }
            if !editing && active {
                active = false;
                edit_timer.as_mut().reset(far);
                cursor_timer.as_mut().reset(far);
            }
            tokio::select! {
                changed = phase_rx.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                    phase = *phase_rx.borrow_and_update();
                    if phase == Phase::Done {
                        let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.close(None)).await;
                        return false;
                    }
                }
                message = self.socket.next() => {
                    match message {
                        Some(Ok(WsMessage::Binary(bytes))) => {
                            if let Some(frames) = &self.shared.frames {
                                frames.record(self.plan.index, Direction::Received, &bytes);
                            }
                            if let Err(error) = self.on_frame(&bytes).await {
                                self.shared.error(error);
                                return self.end(phase, "protocol error".into());
                            }
                        }
                        Some(Ok(WsMessage::Close(frame))) => {
                            let reason = frame.map_or_else(
                                || "closed without a code".to_owned(),
                                |f| format!("closed {} {}", u16::from(f.code), f.reason),
                            );
                            return self.end(phase, reason);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(error)) => return self.end(phase, format!("socket error: {error}")),
                        None => return self.end(phase, "connection dropped".into()),
                    }
                }
                () = &mut edit_timer, if active => {
                    let every = self.plan.edit_every.expect("armed only with a rate");
                    let next = jitter(&mut self.rng, every);
                    edit_timer.as_mut().reset(Instant::now() + next);
                    if self.edit(phase).await.is_err() {
                        return self.end(phase, "send failed".into());
                    }
                }
                () = &mut cursor_timer, if active => {
                    let every = self.plan.cursor_every.expect("armed only with a rate");
                    let next = jitter(&mut self.rng, every);
                    cursor_timer.as_mut().reset(Instant::now() + next);
                    if self.move_cursor().await.is_err() {
                        return self.end(phase, "send failed".into());
                    }
                }
            }
        }
    }

    /// Records why the connection ended before the run did.
    fn end(&mut self, phase: Phase, reason: String) -> bool {
        if phase < Phase::Done {
            self.shared.counters.closed_early.fetch_add(1, Ordering::Relaxed);
            self.shared.closed(reason);
        }
        self.permit = None;
        true
    }

    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ()> {
        if let Some(frames) = &self.shared.frames {
            frames.record(self.plan.index, Direction::Sent, &frame);
        }
        match self.socket.send(WsMessage::Binary(frame.into())).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.shared.error(format!("send failed: {error}"));
                Err(())
            }
        }
    }

    async fn edit(&mut self, phase: Phase) -> Result<(), ()> {
        self.edit_seq += 1;
        let marker = self.shared.codec.encode(Marker {
            editor: self.plan.index,
            seq: self.edit_seq,
            sent_us: self.shared.clock.now_us(),
        });
        let (_, update) = self.editor.edit(&marker);
        let counters = &self.shared.counters;
        counters.edits_sent.fetch_add(1, Ordering::Relaxed);
        if phase == Phase::Measure {
            counters.edits_measured.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.boards[self.plan.board].sent.fetch_add(1, Ordering::Relaxed);
        let frame = self.wire.update(update);
        self.send(frame).await
    }

    async fn move_cursor(&mut self) -> Result<(), ()> {
        self.cursor_seq += 1;
        let (x, y) = &mut self.cursor;
        *x = (*x + self.rng.random_range(-40.0..40.0_f64)).clamp(0.0, 4000.0).round();
        *y = (*y + self.rng.random_range(-40.0..40.0_f64)).clamp(0.0, 3000.0).round();
        let marker = self.shared.codec.encode(Marker {
            editor: self.plan.index,
            seq: self.cursor_seq,
            sent_us: self.shared.clock.now_us(),
        });
        let json = format!(
            "{{\"user\":{{\"name\":\"editor {}\",\"color\":\"#{:06x}\"}},\"cursor\":{{\"x\":{},\"y\":{}}},\"lt\":\"{}\"}}",
            self.plan.index,
            (self.plan.index.wrapping_mul(2_654_435_761)) & 0xff_ffff,
            x,
            y,
            marker
        );
        let update = AwarenessUpdate {
            clients: [(
                self.editor.doc().client_id(),
                AwarenessUpdateEntry { clock: self.cursor_seq as u32, json: json.into() },
            )]
            .into(),
        };
        self.shared.counters.cursors_sent.fetch_add(1, Ordering::Relaxed);
        let frame = self.wire.awareness(update);
        self.send(frame).await
    }

    async fn on_frame(&mut self, bytes: &[u8]) -> Result<(), String> {
        let now = self.shared.clock.now_us();
        let me = self.plan.index;
        let full = self.editor.is_full();
        let (mut delivered, mut cursors_delivered) = (0u64, 0u64);
        let mut replies = Vec::new();
        let mut failure = None;
        let mut synced_now = false;
        self.edits.clear();
        self.cursors.clear();
        let (shared, editor, edits, cursors) = (&self.shared, &self.editor, &mut self.edits, &mut self.cursors);
        wire::messages(shared.flavor, bytes, |message| match message {
            Msg::SyncStep1(sv) => match StateVector::decode_v1(sv) {
                Ok(sv) => {
                    let update = editor.doc().transact().encode_state_as_update_v1(&sv);
                    replies.push(update);
                }
                Err(error) => failure = Some(format!("bad state vector: {error}")),
            },
            Msg::SyncStep2(update) => {
                synced_now = true;
                if full {
                    if let Err(error) = apply(editor.doc(), update) {
                        failure = Some(error);
                    }
                }
            }
            Msg::Update(update) => {
                shared.codec.scan(update, |m| {
                    if m.editor != me {
                        delivered += 1;
                        if shared.in_window(m.sent_us) {
                            edits.push(now.saturating_sub(m.sent_us));
                        }
                    }
                });
                if full {
                    if let Err(error) = apply(editor.doc(), update) {
                        failure = Some(error);
                    }
                }
            }
            Msg::Awareness(body) => {
                shared.codec.scan(body, |m| {
                    if m.editor != me {
                        cursors_delivered += 1;
                        if shared.in_window(m.sent_us) {
                            cursors.push(now.saturating_sub(m.sent_us));
                        }
                    }
                });
            }
            Msg::AuthDenied(reason) => failure = Some(format!("access denied: {reason}")),
            Msg::Authenticated | Msg::Other(_) => {}
        })
        .map_err(|e| format!("undecodable frame: {e}"))?;

        let len = bytes.len() as u64;
        shared.recorder.with(self.plan.index as usize, |s| {
            s.frames += 1;
            s.bytes += len;
            s.delivered += delivered;
            s.cursors_delivered += cursors_delivered;
            for &latency in edits.iter() {
                s.edit(latency);
            }
            for &latency in cursors.iter() {
                s.cursor(latency);
            }
        });
        if let Some(failure) = failure {
            return Err(failure);
        }
        if synced_now && !self.synced {
            self.synced = true;
            self.permit = None;
            self.shared.counters.synced.fetch_add(1, Ordering::Relaxed);
            self.shared.boards[self.plan.board].alive.fetch_add(1, Ordering::Relaxed);
        }
        for update in replies {
            let frame = self.wire.step2(update);
            self.send(frame).await.map_err(|()| "send failed".to_owned())?;
        }
        Ok(())
    }
}

/// An interval around `every`: uniformly between half and one and a half times it.
fn jitter(rng: &mut StdRng, every: Duration) -> Duration {
    every.mul_f64(rng.random_range(0.5..1.5))
}

fn apply(doc: &Doc, update: &[u8]) -> Result<(), String> {
    let update = Update::decode_v1(update).map_err(|e| format!("update does not decode: {e}"))?;
    doc.transact_mut().apply_update(update).map_err(|e| format!("update does not apply: {e}"))
}

/// Connects a fresh full peer to a board, syncs, and returns the board's state as the
/// server has it.
pub async fn fetch_state(
    url: &str,
    flavor: Flavor,
    document: &str,
    token: &str,
    patience: Duration,
) -> anyhow::Result<ReplicaState> {
    let doc = Doc::new();
    let _board = commonboard_protocol::schema::Board::new(&doc);
    let _markers = doc.get_or_insert_map(MARKER_ROOT);
    let wire = Wire::new(flavor, document);
    let mut socket = connect(url).await?;
    if let Some(hello) = wire.hello(token) {
        socket.send(WsMessage::Binary(hello.into())).await?;
    }
    let step1 = wire.step1(&StateVector::default());
    socket.send(WsMessage::Binary(step1.into())).await?;
    let deadline = Instant::now() + patience;
    let mut synced = false;
    while !synced {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .context("timed out waiting for the board's state")?
            .context("connection closed before the board's state arrived")??;
        if let WsMessage::Binary(bytes) = message {
            let mut failure = None;
            wire::messages(flavor, &bytes, |m| match m {
                Msg::SyncStep2(update) => {
                    synced = true;
                    if let Err(e) = apply(&doc, update) {
                        failure = Some(e);
                    }
                }
                Msg::Update(update) => {
                    if let Err(e) = apply(&doc, update) {
                        failure = Some(e);
                    }
                }
                Msg::AuthDenied(reason) => failure = Some(format!("access denied: {reason}")),
                _ => {}
            })?;
            if let Some(failure) = failure {
                anyhow::bail!(failure);
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
    Ok(ReplicaState::of(&doc))
}

/// Sends `updates` to a board in order, then waits until the server has applied them
/// (its answer to a sync step 1 sent after them), and closes.
pub async fn push_updates(
    url: &str,
    flavor: Flavor,
    document: &str,
    token: &str,
    updates: &[Vec<u8>],
    patience: Duration,
) -> anyhow::Result<()> {
    let wire = Wire::new(flavor, document);
    let mut socket = connect(url).await?;
    if let Some(hello) = wire.hello(token) {
        socket.send(WsMessage::Binary(hello.into())).await?;
    }
    for update in updates {
        let frame = wire.update(update.clone());
        socket.send(WsMessage::Binary(frame.into())).await?;
    }
    // An empty document's step 1: the answer (step 2) comes after the updates applied.
    let step1 = wire.step1(&StateVector::default());
    socket.send(WsMessage::Binary(step1.into())).await?;
    let deadline = Instant::now() + patience;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .context("timed out waiting for the server to apply the updates")?
            .context("connection closed while pushing updates")??;
        if let WsMessage::Binary(bytes) = message {
            let mut done = false;
            let mut denied = None;
            wire::messages(flavor, &bytes, |m| match m {
                Msg::SyncStep2(_) => done = true,
                Msg::AuthDenied(reason) => denied = Some(reason),
                _ => {}
            })?;
            if let Some(reason) = denied {
                anyhow::bail!("access denied: {reason}");
            }
            if done {
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
    Ok(())
}
