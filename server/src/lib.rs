//! The Commonboard server: boards synced live over WebSocket with the Yjs protocol.
//!
//! Code map, from the outside in:
//! - [`config`]: the command line and environment settings.
//! - [`app`]: HTTP routes (board API, `/ws/{board}`, health, the web client's files).
//! - [`auth`]: signed access links (facilitator, participant, viewer).
//! - [`connection`]: one WebSocket: a reader loop decoding frames and a writer task
//!   draining a bounded queue when the kernel would block.
//! - [`registry`]: loaded boards by id, each one running actor, loaded on demand.
//! - [`cluster`]: several nodes sharing boards (`--broker`): one owner per board by a
//!   lease in PostgreSQL, replicas on the other nodes fed through NATS JetStream.
//! - [`board`]: the actor owning a board's `yrs::Doc`: applies, commits, then relays.
//! - [`doc`]: building a document from the store, sync answers, checkpoint states,
//!   containing yrs panics.
//! - [`outbox`]: a connection's id, bounded frame queue and closing signal.
//! - [`socket`]: a client's TCP socket shared by hyper, the connection and the board,
//!   written directly while the kernel takes the frames; [`listener`] accepts them;
//!   [`ws_frame`]: server frames, framed once for every receiver.
//! - [`awareness`]: a board's presence table.
//! - [`rate`]: the token bucket that slows down, then cuts, a client sending too fast.
//! - [`store`]: the update log and checkpoints, behind the `Store` trait; SQLite by
//!   default, PostgreSQL for several servers sharing boards.
//! - [`history`]: the board at any past point, what each change did, diffs, restores and
//!   compaction.
//! - [`workshop`]: the workshop flow (steps, timer, turns, private notes);
//!   [`templates`]: the board templates under `templates/`; [`minutes`]: the minutes
//!   and the actions calendar.
//! - [`error`]: errors at the HTTP edge; [`redact`]: tokens kept out of logs.
//! - [`telemetry`]: the metrics served at `/metrics`.
//!
//! [`run`] serves on a bound listener until a shutdown token is cancelled; the binary
//! and the tests both call it.

pub mod app;
pub mod auth;
pub mod awareness;
pub mod board;
pub mod board_load;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod doc;
pub mod error;
pub mod export;
pub mod history;
pub mod idle;
pub mod intake;
pub mod listener;
pub mod minutes;
pub mod nesting;
pub mod outbox;
pub mod placement;
pub mod rate;
pub mod redact;
pub mod registry;
pub mod serve;
pub mod share;
pub mod socket;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod vote;
pub mod webhook;
pub mod workshop;
pub mod ws_frame;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::creation_limit::{CreationLimiter, CreationRate};
use crate::app::heavy_reads::{HeavyReadLimits, HeavyReads};
use crate::app::AppState;
use crate::auth::Signer;
use crate::board::{BoardConfig, BoardLimits};
use crate::config::Config;
use crate::connection::ConnLimits;
use crate::history::cache::{CacheLimits, HistoryCache};
use crate::rate::RateLimit;
use crate::registry::{Capacity, Registry};
use crate::store::{Store, StoreError};
use commonboard_protocol::validate::WireLimits;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("--public-url or --allowed-origins: {0}")]
    Origin(#[from] app::security::BadOrigin),
    #[error("--public-url or --allowed-hosts: {0}")]
    Host(#[from] app::hosts::BadHost),
    #[error("{0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error("webhooks: {0}")]
    Webhook(String),
}

/// Serves on `listener` until `shutdown` is cancelled, then closes every connection,
/// checkpoints every loaded board and closes the store.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    telemetry::prometheus();
    let (store, signer) = open_store(&config).await?;
    let (webhooks, notices) = webhook::Webhooks::new(webhook_settings(&config)?);
    let tapped: Arc<dyn Store> = Arc::new(webhook::tap::Tapped::new(store.shared().clone(), webhooks.clone()));
    let store = store::Handle::new(tapped);
    // The boards' hooks the store kept, before anything commits.
    let rows = store.webhooks().await?;
    let restored = webhooks.restore(&rows);
    if restored > 0 {
        tracing::info!(restored, "webhooks restored from the store");
    }
    tokio::spawn(webhook::worker::run(webhooks.clone(), store.clone(), notices, shutdown.clone()));
    match &config.web_dir {
        Some(dir) if !dir.join("index.html").is_file() => tracing::warn!(
            web_dir = %dir.display(),
            "--web-dir has no index.html; run `npm --prefix web install && npm --prefix web run build` (the API and WebSocket still work)"
        ),
        None if !app::web::embedded() => tracing::warn!(
            "the web client was not built into this binary; run ./scripts/start, or build web/ before the server (the API and WebSocket still work)"
        ),
        _ => {}
    }
    let origins = Arc::new(app::security::Origins::new(config.public_url.as_deref(), &config.allowed_origins)?);
    let bound = listener.local_addr()?;
    let hosts = Arc::new(app::hosts::Hosts::new(bound, config.public_url.as_deref(), &config.allowed_hosts)?);
    let tracker = TaskTracker::new();
    let limits = BoardLimits {
        max_connections: config.max_connections_per_board,
        max_document_bytes: config.max_document_bytes,
        max_person_bytes: config.max_person_bytes,
        max_update_bytes: config.max_update_bytes,
        max_awareness_bytes: config.max_awareness_bytes,
        max_queued_bytes: config.max_queued_bytes,
        held: board::HeldLimits { max_bytes: config.max_held_bytes, max_commands: config.max_held_frames },
    };
    let board_config = BoardConfig {
        open: config.open,
        idle_unload: config.idle_unload,
        checkpoint_every: config.checkpoint_every,
        integrate_delay: config.integrate_delay,
        limits,
        issuer: Some(board::Issuer { signer: signer.clone(), link_ttl: config.link_ttl }),
    };
    let capacity = Capacity { boards_loaded: config.max_boards_loaded, connections: config.max_connections };
    let mut registry = Registry::new(store.clone(), board_config, capacity, shutdown.clone(), tracker.clone());
    if let Some(broker) = &config.broker {
        let store::StoreLocation::Postgres(database) = &config.store else {
            return Err(cluster::ClusterError::NeedsPostgres.into());
        };
        let node = config.node_id.clone();
        let (prefix, queue) = (&config.broker_prefix, config.send_queue);
        let joined = cluster::Cluster::start(broker, prefix, node, store.clone(), database, queue, shutdown.clone());
        registry = registry.with_cluster(joined.await?);
    }
    let registry = Arc::new(registry);
    let rate =
        RateLimit { per_second: config.message_rate, burst: config.message_burst, flood_cutoff: config.flood_cutoff };
    let state = AppState {
        registry,
        limits: ConnLimits {
            send_queue: config.send_queue,
            max_message_bytes: config.max_message_bytes,
            rate,
            wire: WireLimits::default(),
        },
        max_message_bytes: config.max_message_bytes,
        shutdown: shutdown.clone(),
        signer,
        open: config.open,
        link_ttl: config.link_ttl,
        public_url: config.public_url.clone(),
        history: Arc::new(HistoryCache::new(CacheLimits::with_budget_mb(config.history_cache_mb))),
        heavy_reads: Arc::new(HeavyReads::new(HeavyReadLimits::new(
            config
                .max_heavy_reads
                .map_or_else(|| std::thread::available_parallelism().map_or(2, usize::from), usize::from),
        ))),
        max_body_bytes: config.max_body_bytes,
        origins,
        creation: Arc::new(CreationLimiter::new(CreationRate {
            per_minute: config.board_creation_rate,
            burst: config.board_creation_burst,
            global_per_minute: config.board_creation_global_rate,
        })),
        hosts,
        webhooks,
    };
    if let Some(keep) = config.keep_history {
        tokio::spawn(compact_hourly(store.clone(), keep, shutdown.clone()));
    }
    let app = app::router(state, config.web_dir.as_deref());
    // Each connection's socket is shared, so that a WebSocket writes its frames itself.
    let listener = listener::SocketListener(listener);
    serve::serve(listener, app, shutdown.clone()).await;
    tracker.close();
    tracker.wait().await;
    // Closing waits for the last commit (on the blocking pool).
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The webhook settings of the flags; the operator's hooks checked like a board's.
fn webhook_settings(config: &Config) -> Result<webhook::Settings, ServeError> {
    let bad = |e: webhook::WebhookError| ServeError::Webhook(e.to_string());
    let allow = webhook::deliver::Allow::parse(&config.webhook_allow).map_err(bad)?;
    let mut server_hooks = Vec::new();
    for (index, url) in config.webhooks.iter().filter(|u| !u.trim().is_empty()).enumerate() {
        let Some(secret) = config.webhook_secret.clone().filter(|s| !s.is_empty()) else {
            return Err(ServeError::Webhook("--webhook needs --webhook-secret".into()));
        };
        let url = webhook::deliver::parse_url(url).map_err(bad)?;
        allow.check_host(&url).map_err(bad)?;
        server_hooks.push(webhook::Hook {
            id: format!("server_{index}"),
            url,
            secret,
            events: Vec::new(),
            server_wide: true,
            registered_by: "operator".into(),
            created_at_ms: board::now_ms(),
        });
    }
    Ok(webhook::Settings {
        allow,
        debounce: config.webhook_debounce,
        backoff: config.webhook_backoff,
        attempts: config.webhook_attempts.max(1),
        server_hooks,
    })
}

/// Opens the store `--store` names and the key signing access links (kept in the store
/// when several servers share it). Both run on the blocking pool: PostgreSQL connects
/// and migrates synchronously.
async fn open_store(config: &Config) -> Result<(store::Handle, Signer), ServeError> {
    let store = store::Handle::open(&config.store, &config.data_dir).await?;
    let (key, data_dir) = (config.signing_key.clone(), config.data_dir.clone());
    let signer = store.blocking(move |store| Signer::for_store(key.as_deref(), &data_dir, store)).await?;
    tracing::info!(store = %config.store, "store open");
    Ok((store, signer))
}

/// Drops history older than `keep` now and every hour, until shutdown.
async fn compact_hourly(store: store::Handle, keep: std::time::Duration, shutdown: CancellationToken) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = hourly.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(error) = history::compaction::compact_all(&store, keep).await {
            tracing::error!(%error, "history compaction failed; will retry in an hour");
        }
    }
}
