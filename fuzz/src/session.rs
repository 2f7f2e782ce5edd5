//! A board session: steps from up to four connections, in any order, driven through
//! the real board actor (`board::spawn`) on a real SQLite store.
//!
//! Each connection slot has a replica document on the fuzzer's side. Edits are made
//! with yrs (through the board schema) on that replica and sent as the updates a real
//! client would send, so inputs reach deep into the board; raw bytes go in too. The
//! frames the board sends back are decoded (they must decode) and applied to the
//! replica, which also learns the ids of the votes the board opened. At the end the
//! board unloads (writing a checkpoint), loads again, and the board at its newest
//! point rebuilds, and the state rebuilt from the checkpoint must equal the state
//! replayed from the log.
//!
//! Inputs come in two forms: the `arbitrary` encoding of a [`Session`], or a recorded
//! session (see [`recorded`]) whose frames are replayed as they were sent.

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use commonboard_protocol::app::{ClientMessage, Role, ServerMessage, VoteSettings, APP_PROTOCOL_VERSION};
use commonboard_protocol::frame::{self, decode_frame, decode_server_frame, Decoded, Incoming, Message, SyncMessage};
use commonboard_protocol::schema::{self, Action, Frame as BoardFrame, Note};
use commonboard_protocol::workshop::{TurnAction, TurnPerson, Viewport};
use commonboard_server::board::{self, BoardCmd, BoardConfig, BoardHandle, Member};
use commonboard_server::outbox::{next_conn_id, Closer, ConnId, Outbox};
use commonboard_server::socket::Socket;
use commonboard_server::store::{self, Author, Store};
use commonboard_server::ws_frame;
use commonboard_server::{history, registry, templates};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

/// Connection slots a session uses.
const SLOTS: usize = 4;
/// Most steps one input runs, so that one input stays fast (a recorded session
/// replays up to 400).
const MAX_STEPS: usize = 64;
const MAX_RECORDED_STEPS: usize = 400;
/// Frames a connection's queue holds (as the server's `--send-queue`, but small).
const SEND_QUEUE: usize = 256;

/// An input: a board template, then steps.
#[derive(Debug, Arbitrary)]
pub struct Session {
    pub template: u8,
    pub steps: Vec<Step>,
}

/// A connection's role, as its link gives it.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum FuzzRole {
    Facilitator,
    Participant,
    Viewer,
}

/// One thing that happens to the board. `conn` picks a connection slot (modulo 4).
#[derive(Debug, Arbitrary)]
pub enum Step {
    /// The slot connects (a no-op if it is connected); `same_person` gives it the
    /// identity of slot 0 (one person on two devices).
    Join {
        conn: u8,
        role: FuzzRole,
        same_person: bool,
    },
    Leave {
        conn: u8,
    },
    /// Sync step 1 with the replica's state vector, or an empty one.
    SyncStep1 {
        conn: u8,
        empty: bool,
    },
    /// Sync step 2: what the replica has that the board (as of its step 1) lacks.
    SyncStep2 {
        conn: u8,
    },
    /// Edits on the replica, sent as one update (or as a sync step 2).
    Edit {
        conn: u8,
        ops: Vec<Op>,
        as_step2: bool,
    },
    /// Raw bytes as an update.
    RawUpdate {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// A presence entry for a client id (the replica's own id for `client` 0).
    Awareness {
        conn: u8,
        client: u8,
        clock: u8,
        state: AwarenessState,
    },
    AwarenessQuery {
        conn: u8,
    },
    /// An application message.
    App {
        conn: u8,
        message: App,
    },
    /// Raw bytes as the JSON of an application message.
    RawApp {
        conn: u8,
        json: Vec<u8>,
    },
    /// Raw bytes as a whole frame.
    Frame {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// A facilitator restores the board to an earlier point (`back` points before the
    /// newest), as the history API does.
    Restore {
        back: u8,
    },
    /// The facilitator rotates the links.
    RotateLinks,
    /// Waits until the board handled everything sent so far and delivered its frames.
    Settle,
}

/// An edit on a replica, through the board schema.
#[derive(Debug, Arbitrary)]
pub enum Op {
    AddNote {
        id: u8,
        text: String,
        x: i16,
        y: i16,
        color: u8,
        kind: Option<u8>,
        frame: Option<u8>,
    },
    MoveNote {
        id: u8,
        x: i16,
        y: i16,
    },
    SetText {
        id: u8,
        text: String,
    },
    /// Types into a note's text at a position, deleting some characters first.
    Type {
        id: u8,
        at: u16,
        delete: u8,
        text: String,
    },
    RemoveNote {
        id: u8,
    },
    SetField {
        id: u8,
        field: u8,
        value: i32,
    },
    AddFrame {
        id: u8,
        title: String,
        step: Option<u8>,
    },
    AddAction {
        id: u8,
        text: String,
        done: bool,
    },
    SetTitle {
        title: String,
    },
    /// Something no client of ours writes: a plain value where a note's map belongs.
    Junk {
        key: u8,
        value: i64,
    },
}

/// A presence state.
#[derive(Debug, Arbitrary)]
pub enum AwarenessState {
    Cursor {
        x: i16,
        y: i16,
        name: String,
    },
    /// Removal (`null`).
    Gone,
    /// Any text as the JSON.
    Raw(String),
}

/// An application message, with ids picked among those that exist.
#[derive(Debug, Arbitrary)]
pub enum App {
    Hello { other_version: Option<u8> },
    Lock { locked: bool },
    OpenVote { title: String, candidates: Vec<u8>, budget: u8, max_per_candidate: u8, anonymous: bool, hidden: bool },
    CastVote { vote: u8, candidate: u8 },
    RetractVote { vote: u8, candidate: u8 },
    CloseVote { vote: u8 },
    RevealVote { vote: u8 },
    SetStep { step: Option<u8> },
    SetTimer { seconds: Option<u16> },
    SetPrivate { private: bool },
    PutPrivateNote { id: u8, text: String },
    DeletePrivateNote { id: u8 },
    StartTurns { people: Vec<u8> },
    Turn { action: u8 },
    ShowViewport { x: i16, y: i16, zoom: u8, bring: bool },
}

/// Runs an input: a recorded session, or the `arbitrary` encoding of a [`Session`].
pub fn run_input(data: &[u8]) {
    let mut session = match recorded::parse(data) {
        Some(session) => session,
        None => match Session::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(mut session) => {
                session.steps.truncate(MAX_STEPS);
                session
            }
            Err(_) => return,
        },
    };
    session.steps.truncate(MAX_RECORDED_STEPS);
    crate::debug(&session);
    crate::runtime().block_on(run(session));
}

/// Runs a session on a fresh board of the shared store.
pub async fn run(session: Session) {
    let store: Arc<dyn Store> = crate::store().1.clone();
    let all = templates::all();
    let template = &all[usize::from(session.template) % all.len()];
    let id = crate::fresh_board_id("session");
    let new = registry::new_board(id.clone(), "fuzz".into(), template);
    store::committed(store.submit(new.writes())).await.expect("a fresh board is created");
    // Small limits, so that the refusals run too.
    let limits = board::BoardLimits {
        max_connections: 4,
        max_document_bytes: 1 << 20,
        max_person_bytes: 1 << 19,
        max_update_bytes: 64 << 10,
        max_awareness_bytes: 1024,
        max_queued_bytes: 1 << 20,
        held: board::HeldLimits { max_bytes: 4 << 20, max_commands: 1024 },
    };
    let config = BoardConfig {
        open: false,
        idle_unload: std::time::Duration::from_secs(3600),
        checkpoint_every: 8,
        integrate_delay: std::time::Duration::ZERO,
        limits,
        issuer: None,
    };
    let shutdown = CancellationToken::new();
    let (handle, task) = board::spawn(id.clone(), 1, store.clone(), config, shutdown, || {});
    let mut driver =
        Driver { id: id.clone(), handle, store: store.clone(), slots: Default::default(), votes: Vec::new() };
    for step in session.steps {
        driver.step(step).await;
    }
    driver.settle().await;
    for slot in 0..SLOTS {
        driver.leave(slot).await;
    }
    drop(driver);
    if let Err(error) = task.await {
        if let Ok(panic) = error.try_into_panic() {
            std::panic::resume_unwind(panic);
        }
    }
    check_stored(&*store, &id);
}

/// The board as stored: loading it works, and its newest checkpoint holds the same
/// board as its log replayed from the start.
fn check_stored(store: &dyn Store, id: &str) {
    let stored = store.load(id).expect("the board loads").expect("the board exists");
    let last = stored.last_seq();
    let from_checkpoint = history::board_at(store, id, last).expect("the newest point rebuilds");
    let replayed = history::from_checkpoint(store, id, None, last).expect("the log replays");
    assert_eq!(from_checkpoint.seq, replayed.seq);
    let snapshot = |doc: &Doc| schema::Board::new(doc).snapshot(&doc.transact());
    assert_eq!(snapshot(&from_checkpoint.doc), snapshot(&replayed.doc), "the checkpoint and the replayed log disagree");
}

/// One connection slot.
#[derive(Default)]
struct Slot {
    /// The replica: edits are made on it, and the board's updates applied to it.
    replica: Option<Doc>,
    conn: Option<Live>,
}

/// A connected slot.
struct Live {
    id: ConnId,
    /// Its socket, with no TCP stream: the board's frames queue there until read.
    socket: Arc<Socket>,
    closer: Arc<Closer>,
    /// The board's state vector from its sync step 1.
    board_state: StateVector,
}

struct Driver {
    id: String,
    handle: BoardHandle,
    store: Arc<dyn Store>,
    slots: [Slot; SLOTS],
    /// Ids of the votes the board announced.
    votes: Vec<String>,
}

impl Driver {
    async fn step(&mut self, step: Step) {
        match step {
            Step::Join { conn, role, same_person } => self.join(slot(conn), role, same_person).await,
            Step::Leave { conn } => self.leave(slot(conn)).await,
            Step::SyncStep1 { conn, empty } => {
                let state =
                    if empty { StateVector::default() } else { self.replica(slot(conn)).transact().state_vector() };
                self.send(slot(conn), vec![Message::Sync(SyncMessage::SyncStep1(state))]).await;
            }
            Step::SyncStep2 { conn } => {
                let s = slot(conn);
                let Some(live) = &self.slots[s].conn else { return };
                let board_state = live.board_state.clone();
                let update = self.replica(s).transact().encode_state_as_update_v1(&board_state);
                self.send(s, vec![Message::Sync(SyncMessage::SyncStep2(update))]).await;
            }
            Step::Edit { conn, ops, as_step2 } => {
                let s = slot(conn);
                let update = edit(self.replica(s), &ops);
                let message = if as_step2 { SyncMessage::SyncStep2(update) } else { SyncMessage::Update(update) };
                self.send(s, vec![Message::Sync(message)]).await;
            }
            Step::RawUpdate { conn, bytes } => {
                // Any bytes: the reader may refuse them, which closes the connection.
                let frame = frame::encode_frame([&Message::Sync(SyncMessage::Update(bytes))]);
                self.send_frame(slot(conn), &frame).await;
            }
            Step::Awareness { conn, client, clock, state } => {
                let s = slot(conn);
                let client = if client == 0 {
                    self.replica(s).client_id()
                } else {
                    yrs::block::ClientID::new(u64::from(client))
                };
                let json: Arc<str> = match state {
                    AwarenessState::Cursor { x, y, name } => {
                        serde_json::json!({ "cursor": { "x": x, "y": y }, "user": { "name": name } }).to_string().into()
                    }
                    AwarenessState::Gone => "null".into(),
                    AwarenessState::Raw(text) => text.into(),
                };
                let entry = AwarenessUpdateEntry { clock: u32::from(clock), json };
                let update = AwarenessUpdate { clients: [(client, entry)].into_iter().collect() };
                // A raw state can be one the reader refuses (nested too deeply, say), as
                // a real client's would be: it goes through the reader like any frame.
                self.send_frame(s, &frame::encode_frame([&Message::Awareness(update)])).await;
            }
            Step::AwarenessQuery { conn } => self.send(slot(conn), vec![Message::AwarenessQuery]).await,
            Step::App { conn, message } => {
                let message = self.app_message(slot(conn), message);
                self.send_frame(slot(conn), &frame::client_app(&message)).await;
            }
            Step::RawApp { conn, json } => {
                let mut bytes = vec![frame::MSG_APP];
                yrs::encoding::write::Write::write_buf(&mut bytes, &json);
                self.send_frame(slot(conn), &bytes).await;
            }
            Step::Frame { conn, bytes } => self.send_frame(slot(conn), &bytes).await,
            Step::Restore { back } => self.restore(back).await,
            Step::RotateLinks => {
                let _ = self.handle.tx.send(BoardCmd::LinksRotated { generation: 2 }).await;
            }
            Step::Settle => self.settle().await,
        }
    }

    fn replica(&mut self, s: usize) -> &Doc {
        self.slots[s].replica.get_or_insert_with(|| Doc::with_client_id(1000 + s as u64))
    }

    async fn join(&mut self, s: usize, role: FuzzRole, same_person: bool) {
        if self.slots[s].conn.is_some() {
            return;
        }
        let person = if same_person { 0 } else { s };
        let role = match role {
            FuzzRole::Facilitator => Role::Facilitator,
            FuzzRole::Participant => Role::Participant,
            FuzzRole::Viewer => Role::Viewer,
        };
        let member = Member {
            author: Author { id: format!("person-{person}"), name: format!("Person {person}") },
            role,
            claims: None,
        };
        let socket = Arc::new(Socket::detached());
        let closer = Closer::new();
        let (reply, joined) = oneshot::channel();
        let id = next_conn_id();
        let (outbox, _released) = Outbox::new(socket.clone(), closer.clone(), SEND_QUEUE);
        let cmd = BoardCmd::Join { conn: id, member, outbox, reply };
        if self.handle.tx.send(cmd).await.is_err() {
            return;
        }
        if let Ok(Ok(())) = joined.await {
            self.replica(s);
            self.slots[s].conn = Some(Live { id, socket, closer, board_state: StateVector::default() });
        }
    }

    async fn leave(&mut self, s: usize) {
        if let Some(live) = self.slots[s].conn.take() {
            let _ = self.handle.tx.send(BoardCmd::Leave { conn: live.id }).await;
        }
    }

    /// Sends a frame as the connection's reader would: one that does not decode closes
    /// the connection.
    async fn send_frame(&mut self, s: usize, bytes: &[u8]) {
        match decode_frame(bytes) {
            Ok(messages) => self.forward(s, messages).await,
            Err(_) => self.leave(s).await,
        }
    }

    async fn send(&mut self, s: usize, messages: Vec<Message>) {
        let bytes = frame::encode_frame(&messages);
        let decoded = decode_frame(&bytes).expect("frames the fuzzer encodes decode");
        self.forward(s, decoded).await;
    }

    async fn forward(&mut self, s: usize, messages: Vec<Incoming>) {
        let Some(live) = &self.slots[s].conn else { return };
        // The board closed this connection: its reader stops, and it leaves.
        if live.closer.reason().is_some() {
            self.leave(s).await;
            return;
        }
        let _ = self.handle.tx.send(BoardCmd::Messages { conn: live.id, messages }).await;
    }

    async fn restore(&mut self, back: u8) {
        let last = self.store.last_seq(&self.id).expect("the store reads");
        let to = last.saturating_sub(u64::from(back)).max(1);
        let Ok(past) = history::board_at(&*self.store, &self.id, to) else { return };
        let state = past.doc.transact().encode_state_as_update_v1(&StateVector::default());
        let (reply, done) = oneshot::channel();
        let cmd = BoardCmd::Restore { to_seq: past.seq, state, by: Author::server(), reply };
        if self.handle.tx.send(cmd).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Two ticks of the board: everything sent before is handled, committed and
    /// delivered once a join in a later tick is answered. Then every connection's
    /// frames are read.
    async fn settle(&mut self) {
        for _ in 0..2 {
            let (reply, joined) = oneshot::channel();
            let conn = next_conn_id();
            let member = Member { author: Author::server(), role: Role::Viewer, claims: None };
            let cmd = BoardCmd::Join { conn, member, outbox: Outbox::detached(Closer::new()), reply };
            if self.handle.tx.send(cmd).await.is_err() {
                return;
            }
            let _ = joined.await;
            let _ = self.handle.tx.send(BoardCmd::Leave { conn }).await;
        }
        for s in 0..SLOTS {
            self.receive(s);
        }
    }

    /// Reads the frames the board sent a connection; every one must decode.
    fn receive(&mut self, s: usize) {
        let Slot { replica, conn: Some(live) } = &mut self.slots[s] else { return };
        let replica = replica.get_or_insert_with(|| Doc::with_client_id(1000 + s as u64));
        for framed in live.socket.take_all() {
            let bytes = ws_frame::payload(framed);
            let messages = decode_server_frame(&bytes).expect("every frame the board sends decodes");
            for message in messages {
                match message {
                    Decoded::Yjs(Message::Sync(SyncMessage::SyncStep1(state))) => live.board_state = state,
                    Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update))) => {
                        let update = Update::decode_v1(&update).expect("the board's updates decode");
                        let _ = replica.transact_mut().apply_update(update);
                    }
                    Decoded::App(ServerMessage::Vote { vote }) if !self.votes.contains(&vote.id) => {
                        self.votes.push(vote.id)
                    }
                    _ => {}
                }
            }
        }
    }

    fn app_message(&mut self, s: usize, message: App) -> ClientMessage {
        let notes = {
            let doc = self.replica(s);
            schema::Board::new(doc).note_ids(&doc.transact())
        };
        let note = |i: u8| notes.get(usize::from(i) % notes.len().max(1)).cloned().unwrap_or_else(|| note_id(i));
        let vote = |i: u8| {
            self.votes.get(usize::from(i) % self.votes.len().max(1)).cloned().unwrap_or_else(|| format!("v{i}"))
        };
        match message {
            App::Hello { other_version } => ClientMessage::Hello {
                version: other_version.map_or(APP_PROTOCOL_VERSION, |v| APP_PROTOCOL_VERSION + 1 + u32::from(v)),
            },
            App::Lock { locked } => ClientMessage::Lock { locked },
            App::OpenVote { title, candidates, budget, max_per_candidate, anonymous, hidden } => {
                let settings = VoteSettings {
                    title,
                    candidates: candidates.into_iter().take(8).map(note).collect(),
                    budget: u32::from(budget % 8),
                    max_per_candidate: u32::from(max_per_candidate % 4),
                    anonymous,
                    hidden,
                    duration_s: None,
                    roster: false,
                };
                ClientMessage::OpenVote { settings }
            }
            App::CastVote { vote: v, candidate } => {
                ClientMessage::CastVote { vote: vote(v), candidate: note(candidate) }
            }
            App::RetractVote { vote: v, candidate } => {
                ClientMessage::RetractVote { vote: vote(v), candidate: note(candidate) }
            }
            App::CloseVote { vote: v } => ClientMessage::CloseVote { vote: vote(v) },
            App::RevealVote { vote: v } => ClientMessage::RevealVote { vote: vote(v) },
            App::SetStep { step } => ClientMessage::SetStep { step: step.map(u32::from) },
            App::SetTimer { seconds } => ClientMessage::SetTimer { seconds: seconds.map(u32::from) },
            App::SetPrivate { private } => ClientMessage::SetPrivate { private },
            App::PutPrivateNote { id, text } => {
                let note =
                    Note { id: note_id(id), text, w: 160.0, h: 120.0, color: "yellow".into(), ..Note::default() };
                ClientMessage::PutPrivateNote { note: Box::new(note) }
            }
            App::DeletePrivateNote { id } => ClientMessage::DeletePrivateNote { id: note_id(id) },
            App::StartTurns { people } => ClientMessage::StartTurns {
                people: people
                    .into_iter()
                    .take(6)
                    .map(|p| TurnPerson { id: format!("person-{}", p % 6), name: format!("Person {p}") })
                    .collect(),
            },
            App::Turn { action } => {
                let actions = [TurnAction::Next, TurnAction::Skip, TurnAction::Back, TurnAction::Pass, TurnAction::End];
                ClientMessage::Turn { action: actions[usize::from(action) % actions.len()] }
            }
            App::ShowViewport { x, y, zoom, bring } => ClientMessage::ShowViewport {
                viewport: Viewport { x: f64::from(x), y: f64::from(y), zoom: f64::from(zoom) / 16.0 },
                bring,
            },
        }
    }
}

fn slot(conn: u8) -> usize {
    usize::from(conn) % SLOTS
}

fn note_id(i: u8) -> String {
    format!("note-{}", i % 16)
}

/// Applies edits to a replica in one transaction; returns the update it made.
fn edit(doc: &Doc, ops: &[Op]) -> Vec<u8> {
    let board = schema::Board::new(doc);
    let notes = doc.get_or_insert_map(schema::NOTES);
    let meta = doc.get_or_insert_map(schema::META);
    let mut txn = doc.transact_mut();
    for op in ops.iter().take(16) {
        match op {
            Op::AddNote { id, text, x, y, color, kind, frame } => {
                let note = Note {
                    id: note_id(*id),
                    text: text.clone(),
                    x: f64::from(*x),
                    y: f64::from(*y),
                    w: 160.0,
                    h: 120.0,
                    color: schema::NOTE_COLORS[usize::from(*color) % schema::NOTE_COLORS.len()].into(),
                    author: "fuzz".into(),
                    frame: frame.map(|f| format!("frame-{}", f % 4)),
                    created_at: 1.0,
                    kind: kind.map(|k| ["goal", "obstacle", "remedy", "team", "need"][usize::from(k) % 5].into()),
                    ..Note::default()
                };
                board.insert_note(&mut txn, &note);
            }
            Op::MoveNote { id, x, y } => {
                board.move_note(&mut txn, &note_id(*id), f64::from(*x), f64::from(*y));
            }
            Op::SetText { id, text } => {
                board.set_note_text(&mut txn, &note_id(*id), text);
            }
            Op::Type { id, at, delete, text } => {
                if let Some(yrs::Out::YMap(note)) = yrs::Map::get(&notes, &txn, &note_id(*id)) {
                    if let Some(yrs::Out::YText(content)) = yrs::Map::get(&note, &txn, schema::note::TEXT) {
                        let len = content.len(&txn);
                        let at = u32::from(*at) % (len + 1);
                        let delete = u32::from(*delete).min(len - at);
                        content.remove_range(&mut txn, at, delete);
                        content.insert(&mut txn, at, text);
                        let _ = content.get_string(&txn);
                    }
                }
            }
            Op::RemoveNote { id } => {
                board.remove_note(&mut txn, &note_id(*id));
            }
            Op::SetField { id, field, value } => {
                let fields = [schema::note::W, schema::note::H, schema::note::COLOR, schema::note::FRAME];
                let field = fields[usize::from(*field) % fields.len()];
                board.set_note_field(&mut txn, &note_id(*id), field, schema::js_number(f64::from(*value)));
            }
            Op::AddFrame { id, title, step } => {
                let frame = BoardFrame {
                    id: format!("frame-{}", id % 4),
                    title: title.clone(),
                    w: 400.0,
                    h: 300.0,
                    step: step.map(|s| format!("step-{s}")),
                    ..BoardFrame::default()
                };
                board.insert_frame(&mut txn, &frame);
            }
            Op::AddAction { id, text, done } => {
                let action =
                    Action { id: format!("action-{}", id % 4), text: text.clone(), done: *done, ..Action::default() };
                board.insert_action(&mut txn, &action);
            }
            Op::SetTitle { title } => {
                yrs::Map::insert(&meta, &mut txn, schema::meta::TITLE, title.as_str());
            }
            Op::Junk { key, value } => {
                yrs::Map::insert(&notes, &mut txn, note_id(*key), *value);
            }
        }
    }
    txn.encode_update_v1()
}

/// Recorded sessions: frames captured by `commonboard-load --record-frames`, replayed
/// from the connections that sent them.
///
/// Format: the magic `CBREC1`, then records of a connection slot (one byte), the frame's
/// length (u32, little-endian) and the frame. Every slot joins as a participant before
/// its first frame, and the board settles after each frame that held an update.
pub mod recorded {
    use super::{FuzzRole, Session, Step};

    pub const MAGIC: &[u8] = b"CBREC1";

    /// Encodes frames sent by connection slots as a recorded session.
    pub fn encode(frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (conn, frame) in frames {
            out.push(*conn);
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }

    /// The session a recorded input replays, or `None` if `data` is not one. A
    /// truncated last record is cut to what is there.
    pub fn parse(data: &[u8]) -> Option<Session> {
        let mut rest = data.strip_prefix(MAGIC)?;
        let mut steps = Vec::new();
        let mut joined = [false; super::SLOTS];
        while let Some((&conn, tail)) = rest.split_first() {
            let len = tail.get(..4).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("four bytes")) as usize);
            let tail = tail.get(4..).unwrap_or_default();
            let (frame, next) = tail.split_at(len.min(tail.len()));
            let slot = super::slot(conn);
            if !joined[slot] {
                joined[slot] = true;
                let role = if slot == 0 { FuzzRole::Facilitator } else { FuzzRole::Participant };
                steps.push(Step::Join { conn, role, same_person: false });
            }
            steps.push(Step::Frame { conn, bytes: frame.to_vec() });
            steps.push(Step::Settle);
            rest = next;
        }
        Some(Session { template: 0, steps })
    }
}
