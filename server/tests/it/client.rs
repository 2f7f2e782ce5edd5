//! A test peer: a real yrs document synced over a real WebSocket with the Yjs protocol.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use commonboard_protocol::app::{ErrorCode, ServerMessage};
use commonboard_protocol::frame::{self, AwarenessUpdate, AwarenessUpdateEntry, Decoded, Message, SyncMessage};
use commonboard_protocol::schema::{Board, BoardSnapshot, Note, NOTE_SIZE};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, ReadTxn, StateVector, Transact, TransactionMut, Update};

use crate::PATIENCE;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connection ended, as the server said.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

pub struct Peer {
    /// Application messages received, oldest first.
    pub app: std::collections::VecDeque<ServerMessage>,
    pub doc: Doc,
    pub board: Board,
    socket: Socket,
    /// Awareness states received, by client id (null states removed).
    pub awareness: HashMap<u64, String>,
    pub closed: Option<Closed>,
    /// The reason of the last permission-denied (auth) message, if any.
    pub denied: Option<String>,
    /// Sync update messages received (the server relays every update to every peer,
    /// the sender included, so this also counts echoes of our own edits).
    pub updates_received: usize,
    /// Only what the server sent, applied: how much of our own writing it relayed back
    /// (a tick merges several edits into one update, so counting frames does not tell).
    relayed: Doc,
    /// Every byte the server sent (binary frames and close reasons), for tests that
    /// check a secret never reached this peer.
    pub received: Vec<u8>,
    /// The personal token of the last welcome, when the server issued one.
    pub token: Option<String>,
}

impl Peer {
    /// Connects to `board` (a board path, `{id}` or `{id}?token=…`) and sends sync
    /// step 1, as a y-websocket provider does.
    pub async fn connect(addr: SocketAddr, board: &str) -> Peer {
        Peer::connect_as(addr, board, "tester").await
    }

    /// Connects under a display name (a label: the server chooses the person id).
    pub async fn connect_as(addr: SocketAddr, board: &str, name: &str) -> Peer {
        let separator = if board.contains('?') { '&' } else { '?' };
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/{board}{separator}name={name}"))
            .await
            .expect("websocket connects");
        let doc = Doc::new();
        let board = Board::new(&doc);
        let mut peer = Peer {
            app: Default::default(),
            doc,
            board,
            socket,
            awareness: HashMap::new(),
            closed: None,
            updates_received: 0,
            relayed: Doc::new(),
            denied: None,
            received: Vec::new(),
            token: None,
        };
        let step1 = frame::sync_step1(&peer.doc.transact().state_vector());
        peer.send_raw(step1).await;
        peer
    }

    /// Opens a new connection for the same document after the last one ended, as a
    /// provider does: sync step 1 with the local state, so the server sends what is
    /// missing here and asks for what is missing there (unsynced local edits included).
    /// Returns false, keeping the old state, if the server cannot be reached.
    pub async fn reconnect(&mut self, addr: SocketAddr, board: &str, name: &str) -> bool {
        let separator = if board.contains('?') { '&' } else { '?' };
        let url = format!("ws://{addr}/ws/{board}{separator}name={name}");
        let Ok(Ok((socket, _))) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url)).await else {
            return false;
        };
        self.socket = socket;
        self.closed = None;
        let step1 = frame::sync_step1(&self.doc.transact().state_vector());
        self.send_raw(step1).await;
        true
    }

    /// Connects and waits until the board's current state has arrived.
    pub async fn join(addr: SocketAddr, board: &str) -> Peer {
        Peer::join_as(addr, board, "tester").await
    }

    /// Joins under a display name.
    pub async fn join_as(addr: SocketAddr, board: &str, name: &str) -> Peer {
        let mut peer = Peer::connect_as(addr, board, name).await;
        peer.pump_until(|p| p.snapshot().meta.created_at > 0.0).await;
        peer
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let _ = self.socket.send(WsMessage::Binary(bytes.into())).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        let _ = self.socket.send(WsMessage::Text(text.into())).await;
    }

    /// Makes a local change and sends it as a sync update.
    pub async fn edit(&mut self, change: impl FnOnce(&Board, &mut TransactionMut)) {
        let update = {
            let mut txn = self.doc.transact_mut();
            change(&self.board, &mut txn);
            txn.encode_update_v1()
        };
        self.send_raw(frame::sync_update(update)).await;
    }

    /// Adds a note with the given id and text.
    pub async fn add_note(&mut self, id: &str, text: &str) {
        let note = Note {
            id: id.into(),
            text: text.into(),
            w: NOTE_SIZE.0,
            h: NOTE_SIZE.1,
            color: "yellow".into(),
            author: "tester".into(),
            created_at: 1.0,
            ..Note::default()
        };
        self.edit(|board, txn| board.insert_note(txn, &note)).await;
    }

    /// Sends an awareness state for this peer's client id.
    pub async fn set_awareness(&mut self, clock: u32, json: &str) {
        let client = self.doc.client_id();
        let entry = AwarenessUpdateEntry { clock, json: json.into() };
        self.send_raw(frame::awareness(AwarenessUpdate { clients: [(client, entry)].into() })).await;
    }

    /// Whether the server relayed back everything this peer wrote (so it accepted it).
    pub fn own_edits_relayed(&self) -> bool {
        let own = self.doc.client_id();
        self.relayed.transact().state_vector().get(&own) >= self.doc.transact().state_vector().get(&own)
    }

    pub fn note_count(&self) -> u32 {
        self.board.note_count(&self.doc.transact())
    }

    pub fn snapshot(&self) -> BoardSnapshot {
        self.board.snapshot(&self.doc.transact())
    }

    pub fn state_vector(&self) -> StateVector {
        self.doc.transact().state_vector()
    }

    /// Reads and handles incoming frames until `done` holds, the socket closes, or
    /// patience runs out (which fails the test).
    pub async fn pump_until(&mut self, done: impl Fn(&Peer) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            assert!(self.closed.is_none(), "connection closed while waiting: {:?}", self.closed);
            let next =
                tokio::time::timeout_at(deadline, self.socket.next()).await.expect("timed out waiting for the server");
            self.handle(next).await;
        }
    }

    /// Reads until the server closes the connection; returns its close frame.
    pub async fn closed(&mut self) -> Closed {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.closed.is_none() {
            let next =
                tokio::time::timeout_at(deadline, self.socket.next()).await.expect("timed out waiting for close");
            self.handle(next).await;
        }
        self.closed.clone().unwrap()
    }

    /// Handles whatever arrives within `wait`.
    pub async fn drain_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while self.closed.is_none() {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(next) => self.handle(next).await,
                Err(_) => return,
            }
        }
    }

    async fn handle(&mut self, next: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>) {
        match next {
            Some(Ok(WsMessage::Binary(bytes))) => {
                self.received.extend_from_slice(&bytes);
                for message in frame::decode_server_frame(&bytes).expect("server frames decode") {
                    self.apply(message).await;
                }
            }
            Some(Ok(WsMessage::Close(frame))) => {
                if let Some(f) = &frame {
                    self.received.extend_from_slice(f.reason.as_bytes());
                }
                self.closed = Some(match frame {
                    Some(f) => Closed { code: u16::from(f.code), reason: f.reason.to_string() },
                    None => Closed { code: u16::from(CloseCode::Status), reason: String::new() },
                });
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                self.closed.get_or_insert(Closed { code: 1006, reason: "connection dropped".into() });
            }
        }
    }

    async fn apply(&mut self, message: Decoded<ServerMessage>) {
        match message {
            Decoded::Yjs(Message::Sync(SyncMessage::SyncStep1(sv))) => {
                let update = self.doc.transact().encode_state_as_update_v1(&sv);
                self.send_raw(frame::sync_step2(update)).await;
            }
            Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u))) => {
                self.updates_received += 1;
                self.relayed.transact_mut().apply_update(Update::decode_v1(&u).unwrap()).unwrap();
                self.doc.transact_mut().apply_update(Update::decode_v1(&u).unwrap()).unwrap();
            }
            Decoded::Yjs(Message::Awareness(update)) => {
                for (client, entry) in update.clients {
                    if &*entry.json == "null" {
                        self.awareness.remove(&client.get());
                    } else {
                        self.awareness.insert(client.get(), entry.json.to_string());
                    }
                }
            }
            Decoded::App(message) => self.app.push_back(message),
            Decoded::Yjs(Message::Auth(reason)) => self.denied = reason,
            _ => {}
        }
    }

    /// The next application message from the server.
    pub async fn next_app(&mut self) -> ServerMessage {
        self.pump_until(|p| !p.app.is_empty()).await;
        self.app.pop_front().unwrap()
    }

    /// The application errors received so far, without waiting: their codes and messages.
    pub fn errors(&self) -> Vec<(ErrorCode, String)> {
        self.app
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Error { code, message } => Some((*code, message.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn client_id(&self) -> ClientID {
        self.doc.client_id()
    }

    /// Says hello and returns the welcome's person id and personal token (the welcome
    /// is taken out of the queue of application messages; what came after it stays).
    pub async fn hello(&mut self) -> (String, Option<String>) {
        let hello = commonboard_protocol::app::ClientMessage::Hello { version: 1 };
        self.send_raw(frame::client_app(&hello)).await;
        self.pump_until(|p| p.app.iter().any(|m| matches!(m, ServerMessage::Welcome { .. }))).await;
        let at = self.app.iter().position(|m| matches!(m, ServerMessage::Welcome { .. })).expect("a welcome");
        match self.app.remove(at) {
            Some(ServerMessage::Welcome { identity, token, .. }) => {
                self.token.clone_from(&token);
                (identity, token)
            }
            _ => unreachable!("found above"),
        }
    }

    /// Closes the connection from this side, keeping the document (to
    /// [`Self::reconnect`] later, as a provider does).
    pub async fn disconnect(&mut self) {
        let _ = self.socket.close(None).await;
        self.drain_for(Duration::from_millis(200)).await;
        self.closed.get_or_insert(Closed { code: 1000, reason: "left".into() });
    }

    /// Closes the connection from this side.
    pub async fn leave(mut self) {
        let _ = self.socket.close(None).await;
    }
}
