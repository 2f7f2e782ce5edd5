//! A replica: a board another node owns, served to this node's clients.
//!
//! The replica subscribes to the board's JetStream subject first, then loads the board
//! from the store, so that no committed update falls between the two. It applies the
//! owner's updates in board-seq order and relays them to its clients: an update whose
//! first seq is not the next one (a message lost on the way, a broker restart) or an
//! owner's `seq` beat ahead of it makes the replica read the missing updates from the
//! store's log, apply and relay them, before going on. It answers its clients' sync
//! step 1 from its own document, which only ever holds committed updates; everything
//! else they send goes to the owner.
//!
//! When the owner changes (its lease expired or was taken over) or the broker
//! connection came back, the replica closes its clients with [`close::RESTART`]: they
//! reconnect through any node and resync with the standard Yjs handshake, sending back
//! whatever the old owner never committed. A client's frame that cannot be forwarded
//! (the broker is away or slow, see [`super::publish`]) closes that client the same way.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream::consumer::{push, DeliverPolicy};
use bytes::Bytes;
use commonboard_protocol::close::{self, CloseCode};
use commonboard_protocol::frame::{self, Decoded, Incoming, Message, SyncMessage};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};
use yrs::Doc;

use super::commands;
use super::wire::{self, Answer, NodeMessage};
use super::{Cluster, BEAT, BROKER_GAPS, BROKER_PENDING, BROKER_RELAYED, BROKER_SEQ_LAG};
use crate::auth::AuthError;
use crate::board::{self, answer_burst, AnswerAllowance, BoardCmd, BoardConfig, BoardError, Gate, Member, Usage};
use crate::doc;
use crate::idle::IdleTimer;
use crate::outbox::{ConnId, Outbox};
use crate::store::StoreError;
use crate::ws_frame::Frame;

/// How long a request of the owner (a restore, a command) may take.
const RESTORE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs a replica of board `id`, owned by node `owner`, until it is idle, the owner
/// changes, or the node stops.
#[instrument(skip_all, fields(board = %id, owner = %owner))]
pub(crate) async fn run(
    cluster: Arc<Cluster>,
    id: &str,
    owner: String,
    config: BoardConfig,
    usage: Arc<Usage>,
    mut rx: mpsc::Receiver<BoardCmd>,
    shutdown: CancellationToken,
) {
    let mut resync = cluster.resync.subscribe();
    resync.mark_unchanged();
    let config_for = |cluster: &Cluster| push::OrderedConfig {
        deliver_subject: cluster.client.new_inbox(),
        filter_subject: cluster.subjects.board_out(id),
        deliver_policy: DeliverPolicy::New,
        ..Default::default()
    };
    let stream = cluster.subjects.stream();
    let mut consumer = cluster.jetstream.create_consumer_on_stream(config_for(&cluster), &stream).await;
    if consumer.is_err() {
        // A restarted broker may have lost the stream: set it up again, once.
        if cluster.ensure_stream().await.is_ok() {
            consumer = cluster.jetstream.create_consumer_on_stream(config_for(&cluster), &stream).await;
        }
    }
    let mut updates = match consumer {
        Ok(consumer) => match consumer.messages().await {
            Ok(messages) => messages,
            Err(error) => return fail(&mut rx, format!("cannot read the board's stream: {error}")).await,
        },
        Err(error) => return fail(&mut rx, format!("cannot subscribe to the board's stream: {error}")).await,
    };
    let stored = match cluster.store.load(id).await {
        Ok(Some(stored)) => stored,
        // A board opened through several nodes at once: the owner may not have committed
        // its creation yet. Creating is idempotent (whoever commits first wins, the other
        // loads what was committed), so the replica creates it too instead of refusing
        // its clients: a stock provider never reconnects after a 44xx close.
        Ok(None) if config.open => match board::create_open_board(id, &cluster.store).await {
            Ok(stored) => {
                info!("the board's owner had not committed its creation yet; created it from the replica");
                stored
            }
            Err(error) => return board::refuse_all(&mut rx, &error).await,
        },
        Ok(None) => {
            info!("board not found");
            return board::refuse_all(&mut rx, &BoardError::NotFound).await;
        }
        Err(error) => return board::refuse_all(&mut rx, &BoardError::Load(error)).await,
    };
    let doc = doc::rebuild_stored(&stored);
    let mut replica = Replica {
        cluster: cluster.clone(),
        id: id.to_owned(),
        doc,
        seq: stored.last_seq(),
        gate: Gate::new(&stored.record, config.limits.max_connections),
        conns: HashMap::new(),
        usage,
        owner_beat: None,
        beat_from: None,
        whole_len: 0,
    };
    info!(seq = replica.seq, "replica loaded");

    let mut commands = Vec::with_capacity(256);
    let mut check = tokio::time::interval(BEAT);
    let mut idle = IdleTimer::new(config.idle_unload);
    loop {
        idle.note(replica.conns.is_empty());
        tokio::select! {
            received = rx.recv_many(&mut commands, 256) => {
                if received == 0 {
                    break;
                }
                for cmd in commands.drain(..) {
                    replica.command(cmd);
                }
                replica.usage.note(replica.conns.len());
                if replica.gate.unloading {
                    debug!("unloading the replica to make room for another board");
                    break;
                }
            }
            message = updates.next() => match message {
                Some(Ok(message)) => replica.owner_said(message).await,
                Some(Err(error)) => warn!(%error, "the board's stream failed; it resumes by itself"),
                None => {
                    replica.close_all(close::RESTART, "lost the other nodes; reconnecting");
                    break;
                }
            },
            _ = check.tick() => {
                // The owner's beat says it still runs the board; without it, ask the lease.
                let beating = replica.owner_beat.is_some_and(|at| at.elapsed() < BEAT * 5 / 2);
                if replica.beat_from.as_deref().is_some_and(|from| from != owner) || (!beating && !replica.owner_still(&owner).await) {
                    info!("the board's owner changed; its clients here reconnect");
                    replica.close_all(close::RESTART, "board moved to another server; reconnecting");
                    break;
                }
            }
            _ = resync.changed() => {
                info!("broker connection came back; this board's clients here reconnect to resync");
                replica.close_all(close::RESTART, "lost the other nodes for a moment; reconnecting");
                break;
            }
            _ = idle.expired() => {
                info!(idle_s = config.idle_unload.as_secs_f64(), "idle, unloading the replica");
                break;
            }
            _ = shutdown.cancelled() => {
                replica.close_all(close::GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    replica.close_all(close::RESTART, "board moved; reconnecting");
    board::refuse_all(&mut rx, &BoardError::Unloading).await;
}

async fn fail(rx: &mut mpsc::Receiver<BoardCmd>, reason: String) {
    warn!(reason, "replica could not start");
    board::refuse_all(rx, &BoardError::Load(StoreError::Unusable(reason))).await;
}

struct Replica {
    cluster: Arc<Cluster>,
    id: String,
    doc: Doc,
    /// The last committed seq applied.
    seq: u64,
    /// Who may come onto the board: the owner's admission check, run here first.
    gate: Gate,
    /// Each connection's outbox, member, and what it was sent of sync answers lately
    /// (paced as on the owner: `board::answers`).
    conns: HashMap<ConnId, (Outbox, Member, AnswerAllowance)>,
    usage: Arc<Usage>,
    /// When the owner's last beat came, and from which node.
    owner_beat: Option<std::time::Instant>,
    beat_from: Option<String>,
    /// The size of the last whole state answered: the board's size, for the allowance.
    whole_len: usize,
}

impl Replica {
    fn command(&mut self, cmd: BoardCmd) {
        match cmd {
            BoardCmd::Join { conn, member, outbox, reply } => {
                if let Err(error) = self.gate.admit(&member, self.conns.len()) {
                    let _ = reply.send(Err(error));
                    return;
                }
                if reply.send(Ok(())).is_err() {
                    return;
                }
                self.cluster.local.insert(conn, outbox.clone());
                let join = NodeMessage::Join { node: self.cluster.node.clone(), conn, member: (&member).into() };
                self.conns.insert(conn, (outbox, member, AnswerAllowance::new()));
                if self.forward(conn, &join) {
                    debug!(conn, "joined through the replica");
                }
            }
            BoardCmd::Messages { conn, messages } => self.messages(conn, messages),
            BoardCmd::Leave { conn } => self.leave(conn),
            BoardCmd::LinksRotated { generation } => {
                self.gate.rotated(generation);
                let revoked: Vec<ConnId> =
                    self.conns.iter().filter(|(_, (_, m, _))| !self.gate.keeps(m)).map(|(conn, _)| *conn).collect();
                for conn in revoked {
                    if let Some((outbox, ..)) = self.conns.get(&conn) {
                        outbox.close(close::FORBIDDEN, AuthError::Revoked.to_string());
                    }
                    self.leave(conn);
                }
            }
            BoardCmd::Unload { reply } => {
                let _ = reply.send(self.gate.unload(self.conns.is_empty()));
            }
            // The rest the owner decides: asked of it, as every node asks.
            cmd @ (BoardCmd::RemovePerson { .. } | BoardCmd::RotateLinks { .. } | BoardCmd::Restore { .. }) => {
                self.ask_owner_to(cmd)
            }
        }
    }

    /// Asks the board's owner to decide `cmd` (see [`commands::to_owner`]) and answers
    /// it with what the owner answers. An answer that rotated the links is applied
    /// here at once too, not only when the owner's broadcast comes.
    fn ask_owner_to(&self, cmd: BoardCmd) {
        let Some((command, answered)) = commands::to_owner(cmd) else {
            return warn!("a command the replica serves itself was asked of the owner; dropped");
        };
        let asked = self.ask_owner(self.cluster.subjects.board_command(&self.id), NodeMessage::Command { command });
        let here = self.cluster.boards.get(&self.id).map(|tx| tx.clone());
        tokio::spawn(async move {
            let result = asked.await;
            if let (Ok(Answer::Rotated { generation }), Some(here)) = (&result, here) {
                let _ = here.send(BoardCmd::LinksRotated { generation: *generation }).await;
            }
            answered(result);
        });
    }

    /// Asks the board's owner on `subject` (request and reply); resolves to its answer.
    fn ask_owner(
        &self,
        subject: String,
        request: NodeMessage,
    ) -> impl Future<Output = Result<Answer, StoreError>> + Send + 'static {
        let (client, up, board) = (self.cluster.client.clone(), self.cluster.broker_ok(), self.id.clone());
        let payload = wire::encode(&request);
        async move {
            let no_answer = || StoreError::Unusable(NO_ANSWER.into());
            if !up {
                return Err(no_answer());
            }
            let answer = match tokio::time::timeout(RESTORE_PATIENCE, client.request(subject.clone(), payload)).await {
                Ok(Ok(answer)) => answer,
                _ => return Err(no_answer()),
            };
            match wire::receive(&subject, &answer.payload) {
                Some(NodeMessage::Answer { result: Ok(answer) }) => Ok(answer),
                Some(NodeMessage::Answer { result: Err(failure) }) => Err(failure.into_store_error(&board)),
                Some(other) => {
                    wire::dropped(&subject, &wire::unexpected(&other, "answer"));
                    Err(no_answer())
                }
                None => Err(no_answer()),
            }
        }
    }

    /// A client's messages: its sync step 1 is answered here (the last of a frame, within
    /// the connection's allowance: past it the question is dropped and logged; a Yjs
    /// client asks once when it connects), the rest goes to the owner.
    fn messages(&mut self, conn: ConnId, messages: Vec<Incoming>) {
        let Some((outbox, _, allowance)) = self.conns.get_mut(&conn) else { return };
        let mut forward = Vec::new();
        let mut asked = None;
        for message in messages {
            match message {
                Decoded::Yjs(Message::Sync(SyncMessage::SyncStep1(state_vector))) => asked = Some(state_vector),
                Decoded::Yjs(message) => forward.extend(frame::encode_frame([&message])),
                Decoded::App(message) => forward.extend(frame::client_app(&message)),
            }
        }
        if let Some(state_vector) = asked {
            let burst = answer_burst(self.whole_len);
            if allowance.wait(tokio::time::Instant::now(), burst).is_some() {
                debug!(conn, "a client asks for the board faster than it is sent; dropped");
            } else {
                let update = doc::sync_answer(&self.doc, &state_vector);
                if state_vector.is_empty() {
                    self.whole_len = update.len();
                }
                let answer = frame::sync_step2(update);
                allowance.spend(answer.len());
                outbox.send(&Frame::binary(&answer));
            }
        }
        if !forward.is_empty() {
            let frame = NodeMessage::Frame { node: self.cluster.node.clone(), conn, frame: forward.into() };
            self.forward(conn, &frame);
        }
    }

    fn leave(&mut self, conn: ConnId) {
        if self.conns.remove(&conn).is_some() {
            self.cluster.local.remove(&conn);
            let leave = NodeMessage::Leave { node: self.cluster.node.clone(), conn };
            if let Err(refused) = self.cluster.send(self.cluster.subjects.board_in(&self.id), &leave) {
                // The owner keeps a member that is gone until the board unloads there
                // (as when a leave is lost on the way): frames for it are dropped here.
                debug!(conn, %refused, "could not tell the owner a client left");
            }
        }
    }

    /// Sends connection `conn`'s message to the owner. When the broker queue refuses it,
    /// nothing the client sent was accepted: the client is closed to reconnect, and its
    /// provider sends it again then. False when refused.
    fn forward(&mut self, conn: ConnId, message: &NodeMessage) -> bool {
        let Err(refused) = self.cluster.send(self.cluster.subjects.board_in(&self.id), message) else { return true };
        warn!(conn, %refused, kind = message.kind(), "could not reach the board's owner; the client reconnects");
        if let Some((outbox, ..)) = self.conns.remove(&conn) {
            self.cluster.local.remove(&conn);
            outbox.close(close::RESTART, "cannot reach the server running this board; reconnecting");
        }
        false
    }

    /// A message on the board's stream: a committed update, presence, or the owner's seq.
    async fn owner_said(&mut self, message: async_nats::jetstream::Message) {
        if let Ok(info) = message.info() {
            metrics::gauge!(BROKER_PENDING).set(info.pending as f64);
        }
        match wire::receive(&message.subject, &message.payload) {
            Some(NodeMessage::Update { first, last, frame }) => {
                if last <= self.seq {
                    return;
                }
                if first > self.seq + 1 {
                    warn!(have = self.seq, next = first, "gap in the board's updates; reading them from the store");
                    self.recover(first - 1).await;
                }
                if let Some(update) = sync_update(&frame) {
                    self.apply_committed(&update).await;
                }
                self.seq = self.seq.max(last);
                self.relay(frame);
                metrics::counter!(BROKER_RELAYED).increment(1);
                metrics::gauge!(BROKER_SEQ_LAG).set(0.0);
            }
            Some(NodeMessage::Awareness { frame }) => self.relay(frame),
            Some(NodeMessage::Seq { node, last }) => {
                self.owner_beat = Some(std::time::Instant::now());
                self.beat_from = Some(node);
                metrics::gauge!(BROKER_SEQ_LAG).set(last.saturating_sub(self.seq) as f64);
                if last > self.seq {
                    warn!(
                        have = self.seq,
                        owner = last,
                        "behind the owner; reading the missing updates from the store"
                    );
                    self.recover(last).await;
                }
            }
            Some(other) => wire::dropped(&message.subject, &wire::unexpected(&other, "update, awareness or seq")),
            None => {}
        }
    }

    /// Applies a committed update. If yrs panics on it, the document must not be used
    /// again (see `doc::discard`): it is rebuilt from the store, and this node's
    /// clients reconnect to resync.
    async fn apply_committed(&mut self, update: &[u8]) {
        if doc::apply_trusted(&self.doc, update).is_ok() {
            return;
        }
        error!("yrs panicked on a committed update; rebuilding this replica from the store");
        if let Ok(Some(stored)) = self.cluster.store.load(&self.id).await {
            doc::discard(std::mem::replace(&mut self.doc, doc::rebuild_stored(&stored)));
            self.seq = stored.last_seq();
        }
        self.close_all(close::RESTART, "board reloading; reconnecting");
    }

    /// Reads the committed updates after `self.seq` up to `to` from the store's log,
    /// applies them and relays them as one update.
    async fn recover(&mut self, to: u64) {
        metrics::counter!(BROKER_GAPS).increment(1);
        let entries = match self.cluster.store.log(&self.id, self.seq + 1, to).await {
            Ok(entries) => entries,
            Err(error) => {
                warn!(%error, "cannot read the missing updates; this board's clients here reconnect");
                self.close_all(close::RESTART, "board unavailable for a moment; reconnecting");
                return;
            }
        };
        let Some(last) = entries.last().map(|e| e.seq) else { return };
        let updates: Vec<Vec<u8>> = entries.into_iter().map(|e| e.update).collect();
        for update in &updates {
            self.apply_committed(update).await;
        }
        let merged = yrs::merge_updates_v1(&updates).unwrap_or_default();
        info!(from = self.seq + 1, to = last, "recovered missing updates from the store");
        self.seq = last;
        if !merged.is_empty() {
            self.relay(frame::sync_update(merged).into());
        }
    }

    /// Sends a frame to every client of this node on the board, framed once.
    fn relay(&mut self, frame: Bytes) {
        let frame = Frame::binary(&frame);
        let dropped: Vec<ConnId> =
            self.conns.iter().filter(|(_, (outbox, ..))| !outbox.send(&frame)).map(|(conn, _)| *conn).collect();
        for conn in dropped {
            self.leave(conn);
        }
    }

    /// Whether `owner` still holds the board's lease.
    async fn owner_still(&self, owner: &str) -> bool {
        match self.cluster.leases.holder(&self.id).await {
            Ok(Some(holder)) => holder == owner,
            Ok(None) => false,
            // The database does not answer: keep serving what the broker brings.
            Err(_) => true,
        }
    }

    fn close_all(&mut self, code: CloseCode, reason: &str) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            if let Some((outbox, ..)) = self.conns.get(&conn) {
                outbox.close(code, reason);
            }
            self.leave(conn);
        }
        self.usage.note(0);
    }
}

/// Why a request of the owner failed without an answer.
const NO_ANSWER: &str = "the server running this board did not answer; try again in a moment";

/// The update in a sync update frame.
fn sync_update(frame: &[u8]) -> Option<Vec<u8>> {
    match frame::decode_server_frame(frame).ok()?.into_iter().next()? {
        Decoded::Yjs(Message::Sync(SyncMessage::Update(update))) => Some(update),
        _ => None,
    }
}
