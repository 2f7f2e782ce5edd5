//! The owner's side: the board actor runs here; other nodes' clients reach it through NATS.
//!
//! The owner holds the board's lease and renews it each second; when a renewal finds
//! the lease taken (this node was too slow and another took over), the board stops at
//! once and its clients reconnect. A client on another node joins as a member whose
//! outbox is a *proxy*: frames the actor queues for it are published to its node,
//! and a close becomes a [`NodeMessage::Close`] there. The actor's broadcasts (committed
//! updates and presence) go once to the board's JetStream subject instead of to each
//! remote member ([`OwnerLink`]). A node not heard from for [`super::NODE_TIMEOUT`]
//! is dead: its members leave, and their presence is removed for everyone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use commonboard_protocol::close;
use commonboard_protocol::frame::decode_frame;
use dashmap::DashSet;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::commands::{self};
use super::wire::{self, Answer, Failure, NodeMessage};
use super::{Cluster, BEAT};
use crate::board::{self, BoardCmd, BoardConfig, Member, Peers, Usage};
use crate::outbox::{next_conn_id, Closer, ConnId, Outbox, Released};
use crate::socket::Socket;
use crate::ws_frame;

/// What the owner's board actor needs from the cluster: where its committed
/// broadcasts go, and which of its members are on other nodes.
#[derive(Clone)]
pub struct OwnerLink {
    cluster: Arc<Cluster>,
    board: String,
    subject: String,
    remote: Arc<DashSet<ConnId>>,
    /// The last committed seq published.
    last_seq: Arc<AtomicU64>,
}

impl Peers for OwnerLink {
    /// Whether member `conn` is on another node (served there by a replica).
    fn is_remote(&self, conn: ConnId) -> bool {
        self.remote.contains(&conn)
    }

    /// Publishes a tick's broadcasts once they are committed: the merged update frame
    /// with the seq range it holds, and the presence frame. One refused (the broker is
    /// away or slow) is dropped: the update is in the store's log, where replicas read
    /// it when they see the gap in the seq; presence is renewed by its clients.
    fn publish(&self, update: Option<(u64, u64, Bytes)>, awareness: Option<Bytes>) {
        if let Some((first, last, frame)) = update {
            self.last_seq.store(last, Ordering::SeqCst);
            if let Err(refused) = self.cluster.send(self.subject.clone(), &NodeMessage::Update { first, last, frame }) {
                debug!(%refused, first, last, "committed update not published; replicas read it from the store");
            }
        }
        if let Some(frame) = awareness {
            let _ = self.cluster.send(self.subject.clone(), &NodeMessage::Awareness { frame });
        }
    }

    /// Tells the other nodes that the board's links were rotated to `generation`.
    fn links_rotated(&self, generation: u64) {
        self.cluster.links_rotated(&self.board, generation);
    }
}

/// Runs board `id` as its owner until it unloads, the node stops or the lease is lost.
#[allow(clippy::too_many_arguments, reason = "one call site, the cluster's board task")]
pub(crate) async fn run(
    cluster: Arc<Cluster>,
    id: &str,
    config: BoardConfig,
    usage: Arc<Usage>,
    rx: mpsc::Receiver<BoardCmd>,
    tx: mpsc::Sender<BoardCmd>,
    inbox: async_nats::Subscriber,
    shutdown: CancellationToken,
) {
    let stop = shutdown.child_token();
    let link = OwnerLink {
        cluster: cluster.clone(),
        board: id.to_owned(),
        subject: cluster.subjects.board_out(id),
        remote: Arc::new(DashSet::new()),
        last_seq: Arc::new(AtomicU64::new(0)),
    };
    let bridge = Bridge { cluster: cluster.clone(), id: id.to_owned(), tx, link: link.clone(), remote: HashMap::new() };
    let commands = match cluster.client.subscribe(cluster.subjects.board_command(id)).await {
        Ok(commands) => Some(commands),
        Err(error) => {
            warn!(board = %id, %error, "cannot take board commands from other nodes");
            None
        }
    };
    let bridging = tokio::spawn(bridge.run(inbox, commands, stop.clone(), usage.clone()));
    board::run(id.to_owned(), cluster.store.clone(), config, usage, rx, stop.clone(), Some(Box::new(link))).await;
    stop.cancel();
    let _ = bridging.await;
}

/// Carries other nodes' members to the board actor, and keeps the lease.
struct Bridge {
    cluster: Arc<Cluster>,
    id: String,
    tx: mpsc::Sender<BoardCmd>,
    link: OwnerLink,
    /// Remote members: (node, its connection id) to the id the actor knows them by.
    remote: HashMap<(String, ConnId), ConnId>,
}

impl Bridge {
    #[instrument(skip_all, fields(board = %self.id))]
    async fn run(
        mut self,
        mut inbox: async_nats::Subscriber,
        mut commands: Option<async_nats::Subscriber>,
        stop: CancellationToken,
        usage: Arc<Usage>,
    ) {
        let mut beat = tokio::time::interval(BEAT);
        let mut renewed_at = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = usage.exited() => break,
                message = inbox.next() => match message {
                    Some(message) => self.incoming(message).await,
                    None => break,
                },
                Some(request) = next_command(&mut commands) => {
                    tokio::spawn(command(self.cluster.clone(), self.id.clone(), self.tx.clone(), request));
                }
                _ = beat.tick() => {
                    if !self.renew(&mut renewed_at).await {
                        stop.cancel();
                        break;
                    }
                    // The beat: the last committed seq, and who owns the board. One refused
                    // is not sent again: the next one comes in a second.
                    let last = self.link.last_seq.load(Ordering::SeqCst);
                    let beat = NodeMessage::Seq { node: self.cluster.node.clone(), last };
                    let _ = self.cluster.send(self.link.subject.clone(), &beat);
                    self.forget_dead_nodes().await;
                }
            }
        }
    }

    /// Renews the lease; false once it is lost (taken by another node, or not renewed
    /// for longer than it lasts).
    async fn renew(&self, renewed_at: &mut std::time::Instant) -> bool {
        match self.cluster.leases.renew(&self.id, &self.cluster.node).await {
            Ok(true) => {
                *renewed_at = std::time::Instant::now();
                true
            }
            Ok(false) => {
                warn!("another node took this board's lease; stopping it here (its clients reconnect)");
                false
            }
            Err(error) => {
                warn!(%error, "could not renew the board's lease");
                let margin = super::LEASE_TTL.saturating_sub(BEAT);
                if renewed_at.elapsed() >= margin {
                    warn!("the lease may have run out; stopping the board here (its clients reconnect)");
                    return false;
                }
                true
            }
        }
    }

    async fn incoming(&mut self, message: async_nats::Message) {
        let Some(said) = wire::receive(&message.subject, &message.payload) else { return };
        match said {
            NodeMessage::Join { node, conn, member } => self.join((node, conn), member.into()).await,
            NodeMessage::Frame { node, conn, frame } => {
                let Some(&local) = self.remote.get(&(node.clone(), conn)) else {
                    // A member this owner does not know (it joined an owner before this
                    // one): it reconnects, and its client resends what it holds.
                    let reason = "board moved to another server; reconnecting".to_owned();
                    let close = NodeMessage::Close { conn, code: close::RESTART, reason };
                    let _ = self.cluster.send(self.cluster.subjects.node_out(&node), &close);
                    return;
                };
                match decode_frame(&frame) {
                    Ok(messages) => {
                        let _ = self.tx.send(BoardCmd::Messages { conn: local, messages }).await;
                    }
                    Err(error) => debug!(%error, "a forwarded frame that does not decode"),
                }
            }
            NodeMessage::Leave { node, conn } => {
                if let Some(local) = self.remote.remove(&(node, conn)) {
                    self.link.remote.remove(&local);
                    let _ = self.tx.send(BoardCmd::Leave { conn: local }).await;
                }
            }
            other => wire::dropped(&message.subject, &wire::unexpected(&other, "join, frame or leave")),
        }
    }

    /// A client on another node joins: the actor sees a member whose outbox publishes
    /// to that node.
    async fn join(&mut self, key: (String, ConnId), member: Member) {
        if let Some(old) = self.remote.remove(&key) {
            let _ = self.tx.send(BoardCmd::Leave { conn: old }).await;
        }
        let local = next_conn_id();
        let closer = Closer::new();
        let socket = Arc::new(Socket::detached());
        let (outbox, released) = Outbox::new(socket.clone(), closer.clone(), self.cluster.send_queue);
        self.link.remote.insert(local);
        self.remote.insert(key.clone(), local);
        let (node, conn) = key;
        let subject = self.cluster.subjects.node_out(&node);
        tokio::spawn(proxy(self.cluster.clone(), subject, conn, socket, released, closer.clone()));
        // Held until the join is answered, as a local connection does (`connection::serve`).
        let joining = outbox.clone();
        let (reply, joined) = oneshot::channel();
        if self.tx.send(BoardCmd::Join { conn: local, member, outbox, reply }).await.is_err() {
            closer.close(close::INTERNAL, "board restarted; reconnect");
            return;
        }
        tokio::spawn(async move {
            let _joining = joining;
            match joined.await {
                Ok(Ok(())) => debug!(node, conn, local, "remote member joined"),
                Ok(Err(error)) => error.refuse(&closer),
                Err(_) => closer.close(close::INTERNAL, "board restarted; reconnect"),
            }
        });
    }

    /// Members on nodes not heard from lately leave: their presence goes for everyone.
    async fn forget_dead_nodes(&mut self) {
        let dead: Vec<(String, ConnId)> =
            self.remote.keys().filter(|(node, _)| !self.cluster.is_alive(node)).cloned().collect();
        for key in dead {
            if let Some(local) = self.remote.remove(&key) {
                info!(node = %key.0, conn = key.1, "node not heard from; its member leaves the board");
                self.link.remote.remove(&local);
                let _ = self.tx.send(BoardCmd::Leave { conn: local }).await;
            }
        }
    }
}

/// The next command asked by another node, or never when not listening for them.
async fn next_command(commands: &mut Option<async_nats::Subscriber>) -> Option<async_nats::Message> {
    match commands {
        Some(commands) => commands.next().await,
        None => std::future::pending().await,
    }
}

/// Sends the answer to a request of another node (refused: the asker times out).
fn answer(cluster: &Cluster, to: &str, result: Result<Answer, Failure>) {
    if let Err(refused) = cluster.send(to.to_owned(), &NodeMessage::Answer { result }) {
        warn!(%refused, "could not answer another node's request; it times out");
    }
}

/// A board command asked of another node: handed to the actor like a local one; the
/// answer goes back to the asking node.
async fn command(cluster: Arc<Cluster>, id: String, tx: mpsc::Sender<BoardCmd>, request: async_nats::Message) {
    let Some(answer_to) = request.reply.clone() else { return };
    let result = match wire::receive(&request.subject, &request.payload) {
        Some(NodeMessage::Command { command }) => commands::on_owner(command, &id, &cluster.store, &tx).await,
        Some(other) => {
            let error = wire::unexpected(&other, "command");
            let refusal = Failure::failed(error.to_string());
            wire::dropped(&request.subject, &error);
            Err(refusal)
        }
        None => Err(Failure::failed("a board command this node does not understand")),
    };
    answer(&cluster, &answer_to, result);
}

/// How long a remote member's proxy waits, once the actor dropped its queue, for the
/// reason it was closed (set just after a refused join).
const CLOSE_AFTER_QUEUE_ENDS: std::time::Duration = std::time::Duration::from_secs(2);

/// Publishes what the actor queued for a remote member to its node, then its close. A
/// frame the broker queue refuses closes the member ([`close::RESTART`]): its client
/// reconnects and resyncs instead of missing a frame.
async fn proxy(
    cluster: Arc<Cluster>,
    subject: String,
    conn: ConnId,
    socket: Arc<Socket>,
    released: Released,
    closer: Arc<Closer>,
) {
    let send_close = |subject: String, (code, reason): (close::CloseCode, String)| {
        if let Err(refused) = cluster.send(subject, &NodeMessage::Close { conn, code, reason }) {
            // Its node closes it when it sends next (the owner does not know it) or
            // when its broker connection comes back (every replica resyncs).
            debug!(conn, %refused, "could not tell a remote member's node to close it");
        }
    };
    loop {
        tokio::select! {
            biased;
            () = socket.handed_over() => {
                for frame in socket.take_all() {
                    let frame = ws_frame::payload(frame);
                    if let Err(refused) = cluster.send(subject.clone(), &NodeMessage::ToConn { conn, frame }) {
                        warn!(conn, %refused, "a remote member's frame could not be published; closing it");
                        closer.close(close::RESTART, "lost the other servers for a moment; reconnecting");
                        let reason = closer.reason().cloned().unwrap_or((close::RESTART, String::new()));
                        send_close(subject, reason);
                        return;
                    }
                }
            }
            () = released.released() => {
                // The actor dropped the member's outbox: it left, or the actor closed
                // it at once (a removed person, a rejected update) or refused its
                // join (whose closer is closed just after). A close must still go out.
                let closed = tokio::time::timeout(CLOSE_AFTER_QUEUE_ENDS, closer.closed()).await;
                if let (Ok(()), Some(reason)) = (closed, closer.reason().cloned()) {
                    send_close(subject, reason);
                }
                return;
            }
            _ = closer.closed() => {
                let reason = closer.reason().cloned().unwrap_or((close::INTERNAL, String::new()));
                send_close(subject, reason);
                return;
            }
        }
    }
}
