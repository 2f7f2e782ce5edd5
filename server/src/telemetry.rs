//! Metrics in Prometheus text format, served at `/metrics`.
//!
//! Metrics are recorded with the `metrics` facade where things happen (board actors,
//! connections, the store's writer thread) and rendered by the Prometheus exporter.
//! The recorder is process-wide, installed once however many servers a process runs.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Open WebSocket connections (gauge).
pub const CONNECTIONS: &str = "commonboard_connections";
/// Boards loaded in memory (gauge).
pub const BOARDS_LOADED: &str = "commonboard_boards_loaded";
/// Updates applied to a board that changed its document (counter).
pub const UPDATES_APPLIED: &str = "commonboard_updates_applied_total";
/// Frames handed to connection queues (counter).
pub const FRAMES_SENT: &str = "commonboard_frames_sent_total";
/// Bytes handed to connection queues (counter).
pub const BYTES_SENT: &str = "commonboard_bytes_sent_total";
/// Connections closed by the server for misbehaviour or slowness, by reason (counter).
pub const CONNECTIONS_DROPPED: &str = "commonboard_connections_dropped_total";
/// Time to apply one tick's commands to a board's document (histogram, seconds).
pub const APPLY_SECONDS: &str = "commonboard_apply_seconds";
/// Time to encode and queue one tick's frames to every connection (histogram, seconds).
pub const FANOUT_SECONDS: &str = "commonboard_fanout_seconds";
/// Commands taken in one tick (histogram).
pub const TICK_COMMANDS: &str = "commonboard_tick_commands";
/// Frames waiting in a connection's queue when a broadcast is queued (histogram).
pub const QUEUE_DEPTH: &str = "commonboard_send_queue_depth";
/// Time for the store to commit one group of writes (histogram, seconds).
pub const STORE_COMMIT_SECONDS: &str = "commonboard_store_commit_seconds";
/// Updates applied in memory but not yet committed, over all boards (gauge).
pub const PERSIST_LAG: &str = "commonboard_persist_lag_updates";
/// Time to load a board from the store until it answers its clients (histogram,
/// seconds): reading it and merging its stored form (see `board_load`).
pub const BOARD_LOAD_SECONDS: &str = "commonboard_board_load_seconds";
/// Time to integrate a loaded board's document, in the background while the board
/// already answers from its stored form (histogram, seconds).
pub const BOARD_INTEGRATE_SECONDS: &str = "commonboard_board_integrate_seconds";
/// Bytes of clients' messages held by boards whose document is still integrating,
/// over all boards (gauge; bounded per board by `--max-held-bytes`).
pub const HELD_BYTES: &str = "commonboard_held_bytes";
/// History reads (the board at a point) by how they were answered: `hit` (a kept
/// document at that point), `catch_up` (a kept document brought forward), `miss` (built
/// from a checkpoint) (counter).
pub const HISTORY_CACHE_READS: &str = "commonboard_history_cache_reads_total";
/// Estimated memory of the past documents kept for history reads (gauge, bytes).
pub const HISTORY_CACHE_BYTES: &str = "commonboard_history_cache_bytes";
/// Size of a board's document at its last checkpoint (histogram, bytes).
pub const DOCUMENT_BYTES: &str = "commonboard_document_bytes";

/// Connections, messages and requests refused by a limit, by `kind` (a [`Limit`]'s
/// label) (counter).
pub const REFUSALS: &str = "commonboard_refusals_total";
/// Times a connection started being slowed down by the message rate limit (counter).
pub const THROTTLED: &str = "commonboard_throttled_total";

/// A limit that refuses something: the `kind` of [`REFUSALS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `--max-connections-per-board`.
    BoardConnections,
    /// `--max-connections`.
    ServerConnections,
    /// `--max-boards-loaded`, with every loaded board in use.
    BoardsLoaded,
    /// `--max-document-bytes`.
    DocumentSize,
    /// `--max-person-bytes`.
    PersonShare,
    /// `--max-update-bytes`.
    UpdateSize,
    /// `--message-rate` for longer than `--flood-cutoff`.
    Flood,
    /// `--max-awareness-bytes`.
    AwarenessSize,
    /// `--max-body-bytes`.
    BodySize,
    /// `--send-queue` overflowed.
    SlowReader,
    /// A presence state for a client id another connection owns.
    PresenceOwner,
    /// A field over its bound (a private note's, a vote's, a turn order's), or a
    /// server-side write (reveal, restore, vote result) over the size limits.
    FieldSize,
    /// `--board-creation-rate` or `--board-creation-global-rate`.
    CreationRate,
    /// `--max-held-bytes` or `--max-held-frames`, while a board's document integrates.
    HeldForLoad,
    /// `--max-heavy-reads`: history reads, exports and minutes waiting in a full line.
    HeavyReads,
}

impl Limit {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Limit::BoardConnections => "board_connections",
            Limit::ServerConnections => "server_connections",
            Limit::BoardsLoaded => "boards_loaded",
            Limit::DocumentSize => "document_size",
            Limit::PersonShare => "person_share",
            Limit::UpdateSize => "update_size",
            Limit::Flood => "flood",
            Limit::AwarenessSize => "awareness_size",
            Limit::BodySize => "body_size",
            Limit::SlowReader => "slow_reader",
            Limit::PresenceOwner => "presence_owner",
            Limit::FieldSize => "field_size",
            Limit::CreationRate => "creation_rate",
            Limit::HeldForLoad => "held_for_load",
            Limit::HeavyReads => "heavy_reads",
        }
    }
}

/// Counts one refusal by `limit`.
pub fn refused(limit: Limit) {
    metrics::counter!(REFUSALS, "kind" => limit.label()).increment(1);
}

/// Latency buckets: from 50 µs to 5 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
const BYTES_BUCKETS: &[f64] = &[1e3, 1e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7, 5e7];
/// How often histograms are folded into their rendered form.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(TICK_COMMANDS.into()), COUNT_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(QUEUE_DEPTH.into()), COUNT_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(DOCUMENT_BYTES.into()), BYTES_BUCKETS))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            })
            .expect("metrics upkeep thread starts");
        handle
    })
}
