//! Several nodes serving the same boards: one owner per board, replicas fed through NATS JetStream.
//!
//! Every board loaded anywhere has exactly one *owner*: the node holding its lease in
//! PostgreSQL ([`crate::store::postgres::lease`]). The owner runs the ordinary board actor
//! ([`crate::board`]): it applies, commits to the shared store, decides votes, locks and
//! the workshop flow, exactly as a single server does. A client connected to any other
//! node is served there by a *replica* ([`replica`]): a copy of the document loaded from
//! the store and kept current, in board-seq order, from the updates the owner publishes
//! after each commit on the board's JetStream subject. The replica answers its clients'
//! sync step 1 itself and relays the committed updates; everything else its clients send
//! (updates, presence, application messages) goes to the owner ([`owner`]), which treats
//! them as members whose frames it sends back to their node.
//!
//! The record is the PostgreSQL log: nothing is published before it is committed there,
//! and a replica that sees a gap in the board seq (a lost message, a broker restart)
//! reads what it missed from the log instead of going on without it.

mod commands;
pub mod owner;
pub mod publish;
pub mod replica;
pub mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use dashmap::DashMap;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use owner::OwnerLink;
pub use publish::PublishRefused;

use crate::board::{self, BoardCmd, BoardConfig, BoardError, BoardHandle, Usage};
use crate::outbox::{ConnId, Outbox};
use crate::store::postgres::lease::Leases;
use crate::store::{self, StoreError};
use crate::ws_frame::Frame;
use publish::PublishQueue;
use wire::{NodeMessage, Subjects};

/// How long a lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(4);
/// How often an owner renews its leases, and nodes say they are alive.
pub const BEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is dead: its connections leave the boards.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the stream keeps a published update (replicas read older ones from the store).
const STREAM_MAX_AGE: Duration = Duration::from_secs(120);
/// Most memory the stream takes on the broker (reserved there when it is created); the
/// oldest messages go first.
const STREAM_MAX_BYTES: i64 = 32 << 20;

/// JetStream messages pending for this node's replicas, last seen (gauge).
pub const BROKER_PENDING: &str = "commonboard_broker_pending_messages";
/// How far behind the owner's committed seq a replica was, last seen (gauge, updates).
pub const BROKER_SEQ_LAG: &str = "commonboard_broker_seq_lag_updates";
/// Gaps in a replica's board seq recovered from the store's log (counter).
pub const BROKER_GAPS: &str = "commonboard_broker_gaps_recovered_total";
/// Committed updates a replica relayed to its clients (counter).
pub const BROKER_RELAYED: &str = "commonboard_broker_updates_relayed_total";

/// Why the node could not join the others.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--broker needs a shared PostgreSQL store (--store postgres://...): nodes find boards' owners there")]
    NeedsPostgres,
    #[error("--broker {0}: only nats:// brokers are supported")]
    Scheme(String),
    #[error("cannot connect to the broker at {url}: {error}")]
    Connect { url: String, error: String },
    #[error("cannot set up the JetStream stream {stream}: {error}")]
    Stream { stream: String, error: String },
    #[error("cannot open the lease table: {0}")]
    Leases(#[from] StoreError),
}

/// This node's place among the nodes sharing a broker.
pub struct Cluster {
    node: String,
    subjects: Subjects,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream_config: jetstream::stream::Config,
    leases: Arc<Leases>,
    store: store::Handle,
    /// Messages to publish, in order, from synchronous code (the board actor's flush);
    /// bounded, see [`publish`] for what is refused and what clients then see.
    publish: PublishQueue,
    /// This node's connections to boards another node owns: where the owner's frames go.
    local: DashMap<ConnId, Outbox>,
    /// Board tasks running here (owned or replicated), for rotations from other nodes.
    boards: DashMap<String, mpsc::Sender<BoardCmd>>,
    /// When each node was last heard from.
    alive: DashMap<String, Instant>,
    /// Rises each time the broker connection came back (or dropped messages): replicas
    /// then have their clients reconnect, so whatever was lost on the way is resent.
    resync: watch::Sender<u64>,
    connected: Arc<AtomicBool>,
    /// Frames one remote connection may have queued on its owner.
    pub(crate) send_queue: usize,
}

impl Cluster {
    /// Connects to the broker at `url`, sets up the stream and starts this node's
    /// dispatcher and heartbeat (both stop at `shutdown`).
    pub async fn start(
        url: &str,
        prefix: &str,
        node: Option<String>,
        store: store::Handle,
        database: &str,
        send_queue: usize,
        shutdown: CancellationToken,
    ) -> Result<Arc<Cluster>, ClusterError> {
        if !url.starts_with("nats://") {
            return Err(ClusterError::Scheme(url.to_owned()));
        }
        // Each start is a new incarnation: connection ids start again from 1, and an owner
        // must not take a restarted node's connections for the ones it knew.
        let incarnation = format!("{:06x}", rand::random::<u32>() >> 8);
        let node = match node {
            Some(name) => format!("{name}-{incarnation}"),
            None => format!("node-{incarnation}"),
        };
        let subjects = Subjects::new(prefix);
        let (resync, _) = watch::channel(0);
        let connected = Arc::new(AtomicBool::new(false));
        let events = (resync.clone(), connected.clone());
        let options = async_nats::ConnectOptions::new()
            .name(format!("commonboard-{node}"))
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let (resync, connected) = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            if !connected.swap(true, Ordering::SeqCst) {
                                info!("broker connected");
                                resync.send_modify(|n| *n += 1);
                            }
                        }
                        async_nats::Event::Disconnected => {
                            connected.store(false, Ordering::SeqCst);
                            warn!("broker connection lost; reconnecting");
                        }
                        async_nats::Event::SlowConsumer(_) => {
                            warn!("broker dropped messages to this node (slow consumer); resyncing clients");
                            resync.send_modify(|n| *n += 1);
                        }
                        other => info!(event = %other, "broker event"),
                    }
                }
            });
        let client = tokio::time::timeout(Duration::from_secs(10), options.connect(url))
            .await
            .map_err(|_| ClusterError::Connect { url: url.to_owned(), error: "no answer in 10 s".into() })?
            .map_err(|error| ClusterError::Connect { url: url.to_owned(), error: error.to_string() })?;
        connected.store(true, Ordering::SeqCst);
        let js = jetstream::new(client.clone());
        let stream_config = jetstream::stream::Config {
            name: subjects.stream(),
            subjects: vec![subjects.every_board_out()],
            max_age: STREAM_MAX_AGE,
            storage: jetstream::stream::StorageType::Memory,
            discard: jetstream::stream::DiscardPolicy::Old,
            max_bytes: STREAM_MAX_BYTES,
            ..Default::default()
        };
        js.get_or_create_stream(stream_config.clone())
            .await
            .map_err(|error| ClusterError::Stream { stream: subjects.stream(), error: error.to_string() })?;
        let leases = Leases::connect(database, LEASE_TTL).await?;
        let (publish, queue) = PublishQueue::new(publish::PUBLISH_QUEUE, connected.clone());
        let cluster = Arc::new(Cluster {
            node,
            subjects,
            client,
            jetstream: js,
            stream_config,
            leases,
            store,
            publish,
            local: DashMap::new(),
            boards: DashMap::new(),
            alive: DashMap::new(),
            resync,
            connected,
            send_queue,
        });
        tokio::spawn(publish::run(cluster.client.clone(), queue));
        cluster.clone().start_dispatch(shutdown.clone()).await?;
        tokio::spawn(cluster.clone().heartbeat(shutdown.clone()));
        tokio::spawn(cluster.clone().keep_stream(shutdown));
        info!(node = %cluster.node, prefix, "joined the other nodes through the broker");
        Ok(cluster)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the broker connection is up (for `/healthz`).
    pub fn broker_ok(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
            && self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Queues a message to publish; messages leave in the order they were queued. A
    /// refusal (the broker is away or slow) is the caller's to act on: see [`publish`].
    pub(crate) fn send(&self, subject: String, message: &NodeMessage) -> Result<(), PublishRefused> {
        self.publish.push(subject, wire::encode(message))
    }

    /// Tells every other node that `board`'s links were rotated (their connections
    /// holding older links are closed there).
    pub(crate) fn links_rotated(&self, board: &str, generation: u64) {
        let message = NodeMessage::LinksRotated { node: self.node.clone(), board: board.to_owned(), generation };
        if let Err(refused) = self.send(self.subjects.rotate(), &message) {
            // Other nodes' connections holding older links stay until they reconnect;
            // they are refused then, as every node checks tokens against the store.
            warn!(board, %refused, "could not tell the other nodes that the links were rotated");
        }
    }

    /// Whether `node` was heard from recently.
    pub(crate) fn is_alive(&self, node: &str) -> bool {
        node == self.node || self.alive.get(node).is_some_and(|seen| seen.elapsed() < NODE_TIMEOUT)
    }

    /// Starts board `id`'s task on this node: its owner if this node gets the lease, a
    /// replica of the owner's otherwise. Same handle and commands either way.
    pub(crate) fn spawn_board(
        self: &Arc<Self>,
        id: String,
        generation: u64,
        config: BoardConfig,
        shutdown: CancellationToken,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> (BoardHandle, tokio::task::JoinHandle<()>) {
        let cluster = self.clone();
        board::start(generation, on_exit, |usage, rx, handle_tx| async move {
            cluster.boards.insert(id.clone(), handle_tx.clone());
            cluster.run_board(&id, config, usage, rx, handle_tx.clone(), shutdown).await;
            cluster.boards.remove_if(&id, |_, tx| tx.same_channel(&handle_tx));
        })
    }

    async fn run_board(
        self: &Arc<Self>,
        id: &str,
        config: BoardConfig,
        usage: Arc<Usage>,
        mut rx: mpsc::Receiver<BoardCmd>,
        tx: mpsc::Sender<BoardCmd>,
        shutdown: CancellationToken,
    ) {
        // Listening before taking the lease: no join sent to the new owner is missed.
        let inbox = match self.client.subscribe(self.subjects.board_in(id)).await {
            Ok(inbox) => inbox,
            Err(error) => {
                error!(board = %id, %error, "cannot subscribe to the board's subject");
                return board::refuse_all(&mut rx, &BoardError::Unloading).await;
            }
        };
        match self.leases.acquire(id, &self.node).await {
            Ok(holder) if holder == self.node => {
                info!(board = %id, node = %self.node, "owning the board");
                owner::run(self.clone(), id, config, usage, rx, tx, inbox, shutdown).await;
                if let Err(error) = self.leases.release(id, &self.node).await {
                    warn!(board = %id, %error, "could not release the board's lease; it expires by itself");
                }
            }
            Ok(holder) => {
                drop(inbox);
                info!(board = %id, owner = %holder, "replicating the board of another node");
                replica::run(self.clone(), id, holder, config, usage, rx, shutdown).await;
            }
            Err(error) => {
                error!(board = %id, %error, "cannot read the board's lease");
                board::refuse_all(&mut rx, &BoardError::Load(error)).await;
            }
        }
    }

    /// Serves this node's subjects: frames and closes for its connections from the
    /// owners, other nodes' heartbeats, rotations.
    async fn start_dispatch(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), ClusterError> {
        let subscribe = |subject: String| {
            let client = self.client.clone();
            async move {
                client.subscribe(subject.clone()).await.map_err(|error| ClusterError::Connect {
                    url: subject,
                    error: format!("cannot subscribe: {error}"),
                })
            }
        };
        let mut direct = subscribe(self.subjects.node_out(&self.node)).await?;
        let mut alive = subscribe(self.subjects.alive()).await?;
        let mut rotate = subscribe(self.subjects.rotate()).await?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    Some(message) = direct.next() => self.direct(message),
                    Some(message) = alive.next() => match wire::receive(&message.subject, &message.payload) {
                        Some(NodeMessage::Alive { node }) => {
                            self.alive.insert(node, Instant::now());
                        }
                        Some(other) => wire::dropped(&message.subject, &wire::unexpected(&other, "alive")),
                        None => {}
                    },
                    Some(message) = rotate.next() => self.rotated(message).await,
                    else => return,
                }
            }
        });
        Ok(())
    }

    /// A frame or close from an owner for one of this node's connections.
    fn direct(&self, message: async_nats::Message) {
        let outbox = |conn: ConnId| self.local.get(&conn).map(|o| o.clone());
        match wire::receive(&message.subject, &message.payload) {
            Some(NodeMessage::ToConn { conn, frame }) => {
                if let Some(outbox) = outbox(conn) {
                    outbox.send(&Frame::binary(&frame));
                }
            }
            Some(NodeMessage::Close { conn, code, reason }) => {
                if let Some(outbox) = outbox(conn) {
                    outbox.close(code, reason);
                }
            }
            Some(other) => wire::dropped(&message.subject, &wire::unexpected(&other, "to_conn or close")),
            None => {}
        }
    }

    /// Another node's board owner rotated the links: this node's copy of the board
    /// closes its connections holding older ones.
    async fn rotated(&self, message: async_nats::Message) {
        let (board, generation) = match wire::receive(&message.subject, &message.payload) {
            Some(NodeMessage::LinksRotated { node, .. }) if node == self.node => return,
            Some(NodeMessage::LinksRotated { board, generation, .. }) => (board, generation),
            Some(other) => return wire::dropped(&message.subject, &wire::unexpected(&other, "links_rotated")),
            None => return,
        };
        let tx = self.boards.get(&board).map(|tx| tx.clone());
        if let Some(tx) = tx {
            let _ = tx.send(BoardCmd::LinksRotated { generation }).await;
        }
    }

    /// Sets the stream up again each time the broker comes back (a restarted broker
    /// lost a stream kept in memory), until shutdown.
    async fn keep_stream(self: Arc<Self>, shutdown: CancellationToken) {
        let mut resync = self.resync.subscribe();
        loop {
            tokio::select! {
                changed = resync.changed() => if changed.is_err() { return },
                _ = shutdown.cancelled() => return,
            }
            if let Err(error) = self.ensure_stream().await {
                warn!(%error, "could not set the stream up again; replicas retry when they start");
            }
        }
    }

    /// Creates the stream if the broker does not have it.
    pub(crate) async fn ensure_stream(&self) -> Result<(), ClusterError> {
        let stream = self.subjects.stream();
        self.jetstream
            .get_or_create_stream(self.stream_config.clone())
            .await
            .map(drop)
            .map_err(|error| ClusterError::Stream { stream, error: error.to_string() })
    }

    /// Says this node is alive, each [`BEAT`], until shutdown.
    async fn heartbeat(self: Arc<Self>, shutdown: CancellationToken) {
        let mut beat = tokio::time::interval(BEAT);
        loop {
            tokio::select! {
                _ = beat.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            // A beat refused (the broker is away or slow) is not sent again: the next one comes.
            let _ = self.send(self.subjects.alive(), &NodeMessage::Alive { node: self.node.clone() });
        }
    }
}
