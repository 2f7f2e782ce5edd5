//! The registry of loaded boards: one running actor per board id, loaded on demand.
//!
//! Connections look a board up here and get a cheap [`BoardHandle`]. The map holds no
//! lock across an await: spawning an actor is synchronous, and the actor loads its
//! board itself while commands queue in its inbox. An actor that unloads (idle) or
//! fails removes its own entry, but only if the entry is still its own generation.
//!
//! It also holds the server-wide limits: how many boards may be loaded (loading one
//! more first unloads the least recently used board nobody is on) and how many
//! connections the server takes in all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::board::{self, BoardCmd, BoardConfig, BoardError, BoardHandle, Pending};
pub use crate::board::{new_board, NewBoard};
use crate::cluster::Cluster;
use crate::store;
use crate::telemetry::{self, Limit};

/// Loaded boards by id.
pub struct Registry {
    boards: Arc<DashMap<String, BoardHandle>>,
    store: store::Handle,
    config: BoardConfig,
    /// Cancelled at shutdown: every board closes its connections and checkpoints.
    shutdown: CancellationToken,
    /// Tracks board tasks so shutdown can wait for their final checkpoint.
    tracker: TaskTracker,
    generations: AtomicU64,
    capacity: Capacity,
    /// Held while a board that is not loaded is being admitted, so the cap holds.
    loading: tokio::sync::Mutex<()>,
    /// Open connections on the whole server.
    connections: Arc<AtomicUsize>,
    /// With several nodes (`--broker`): boards are owned here or replicated from their owner.
    cluster: Option<Arc<Cluster>>,
}

/// How much the server takes on at once.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Most boards loaded in memory.
    pub boards_loaded: usize,
    /// Most connections, over all boards.
    pub connections: usize,
}

/// A connection's place in the server's connection count, given back when dropped.
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Registry {
    pub fn new(
        store: store::Handle,
        config: BoardConfig,
        capacity: Capacity,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        Registry {
            boards: Arc::new(DashMap::new()),
            store,
            config,
            shutdown,
            tracker,
            generations: AtomicU64::new(1),
            capacity,
            loading: tokio::sync::Mutex::new(()),
            connections: Arc::new(AtomicUsize::new(0)),
            cluster: None,
        }
    }

    /// Runs boards as one of several nodes: each board is owned by one node and
    /// replicated on the others (see [`crate::cluster`]).
    pub fn with_cluster(self, cluster: Arc<Cluster>) -> Self {
        Registry { cluster: Some(cluster), ..self }
    }

    /// The other nodes, when this server is one of several.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// Takes a place for one more connection; `None` when the server is full.
    pub fn admit_connection(&self) -> Option<ConnectionSlot> {
        if self.connections.fetch_add(1, Ordering::SeqCst) >= self.capacity.connections {
            self.connections.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(ConnectionSlot(self.connections.clone()))
    }

    /// The most connections the server takes.
    pub fn max_connections(&self) -> usize {
        self.capacity.connections
    }

    /// The running board `id`, loaded if it is not. When the server already has its
    /// most boards loaded, the least recently used board that nobody is on is unloaded
    /// first (it checkpoints, as an idle board does); when every loaded board has
    /// people on it, the board is refused. The board is not unloaded to make room for
    /// another while the returned [`Pending`] mark is held: hold it until the board
    /// answered the request it was loaded for.
    pub async fn load(&self, id: &str) -> Result<(BoardHandle, Pending), BoardError> {
        let marked = |handle: BoardHandle| {
            let pending = handle.usage.pending();
            (handle, pending)
        };
        if let Some(handle) = self.get(id) {
            return Ok(marked(handle));
        }
        let limit = self.capacity.boards_loaded.max(1);
        let _loading = self.loading.lock().await;
        // Each round unloads a board or finds one that gained people meanwhile.
        for _ in 0..=limit {
            if let Some(handle) = self.get(id) {
                return Ok(marked(handle));
            }
            if self.boards.len() < limit {
                return Ok(marked(self.get_or_spawn(id)));
            }
            let Some((victim, handle)) = self.least_recently_used_idle() else { break };
            let (reply, unloading) = oneshot::channel();
            let sent = handle.tx.send(BoardCmd::Unload { reply }).await.is_ok();
            // A board that is already stopping answers no more: wait for it all the same.
            if sent && unloading.await == Ok(false) {
                continue;
            }
            handle.usage.exited().await;
            self.boards.remove_if(&victim, |_, h| h.generation == handle.generation);
            info!(board = %victim, to_load = %id, limit, "unloaded the least recently used board to load another");
        }
        telemetry::refused(Limit::BoardsLoaded);
        warn!(board = %id, limit, "every loaded board has people on it; refusing to load one more");
        Err(BoardError::TooManyBoards { limit })
    }

    /// The loaded board nobody is on that was used longest ago.
    fn least_recently_used_idle(&self) -> Option<(String, BoardHandle)> {
        self.boards
            .iter()
            .filter(|entry| entry.value().usage.is_idle())
            .min_by_key(|entry| entry.value().usage.last_used())
            .map(|entry| (entry.key().clone(), entry.value().clone()))
    }

    /// The running board `id`, started if it is not loaded (regardless of the cap on
    /// loaded boards: [`Self::load`] keeps that).
    fn get_or_spawn(&self, id: &str) -> BoardHandle {
        if let Some(handle) = self.boards.get(id) {
            return handle.clone();
        }
        self.boards
            .entry(id.to_owned())
            .or_insert_with(|| {
                let generation = self.generations.fetch_add(1, Ordering::Relaxed);
                let boards = Arc::downgrade(&self.boards);
                let key = id.to_owned();
                let on_exit = move || {
                    if let Some(boards) = boards.upgrade() {
                        boards.remove_if(&key, |_, h| h.generation == generation);
                    }
                };
                let (handle, task) = match &self.cluster {
                    Some(cluster) => cluster.spawn_board(
                        id.to_owned(),
                        generation,
                        self.config.clone(),
                        self.shutdown.clone(),
                        on_exit,
                    ),
                    None => board::spawn(
                        id.to_owned(),
                        generation,
                        self.store.shared().clone(),
                        self.config.clone(),
                        self.shutdown.clone(),
                        on_exit,
                    ),
                };
                // A panicking board must not stay registered: its connections see their
                // queues close and reconnect, and the next one loads it afresh.
                let boards = Arc::downgrade(&self.boards);
                let key = id.to_owned();
                self.tracker.spawn(async move {
                    if let Err(panic) = task.await {
                        error!(board = %key, %panic, "board task failed; it will be reloaded on next use");
                        if let Some(boards) = boards.upgrade() {
                            boards.remove_if(&key, |_, h| h.generation == generation);
                        }
                    }
                });
                handle
            })
            .clone()
    }

    /// The running board `id`, if it is loaded.
    pub fn get(&self, id: &str) -> Option<BoardHandle> {
        self.boards.get(id).map(|h| h.clone())
    }

    /// Number of boards in memory.
    pub fn loaded(&self) -> usize {
        self.boards.len()
    }

    pub fn store(&self) -> &store::Handle {
        &self.store
    }

    /// What each board and its clients may take.
    pub fn limits(&self) -> crate::board::BoardLimits {
        self.config.limits
    }
}

/// A fresh board id: 128 random bits, as 32 hex digits.
pub fn new_board_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

/// Whether `id` may name a board: 1 to 128 characters of letters, digits, `-`, `_`, `.`.
/// (Generated ids always qualify; `--open` mode accepts any such name.)
pub fn is_valid_board_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}
