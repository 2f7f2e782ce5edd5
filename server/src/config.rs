//! Command line and environment: every setting of the server, documented and defaulted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::store::StoreLocation;

/// Commonboard: a real-time collaborative whiteboard for collaboration workshops.
///
/// Boards sync live over WebSocket with the standard Yjs protocol, so the bundled web
/// client and any Yjs client (the y-websocket provider, for example) can join. Every
/// change is kept in an embedded SQLite store under the data directory, or in a
/// PostgreSQL database several servers share (`--store postgres://...`).
#[derive(Debug, Parser)]
#[command(name = "commonboard", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once at startup: its size does not matter")]
pub enum Command {
    /// Run the server: the web client, the HTTP API and the WebSocket sync endpoint.
    ///
    /// Open the printed URL in a browser to create a board. Every flag can also be set
    /// with the environment variable named in its help.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(Config),
    /// Drop the fine-grained history older than a window from every board, keeping the
    /// checkpoints (so old moments stay viewable, at checkpoint resolution), and say what
    /// was dropped. `serve --keep-history` does the same every hour while it runs.
    Compact(CompactArgs),
    /// Make a new board of a board file (`board.json`, exported from the board menu or
    /// `GET /api/boards/{id}/board.json`), in the store the server uses, and print its
    /// facilitator link. For backups and moves between servers; the server may run.
    Import(ImportArgs),
}

/// Settings of `commonboard import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The board file.
    pub file: PathBuf,

    /// Directory of the embedded store.
    #[arg(long, env = "COMMONBOARD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Where boards are kept: `sqlite` (the embedded store in --data-dir) or the
    /// PostgreSQL database the servers share (postgres://user:password@host:5432/db).
    #[arg(long, env = "COMMONBOARD_STORE", default_value = "sqlite", hide_env_values = true)]
    pub store: StoreLocation,

    /// The key the server signs links with, when it is not the one kept in the store.
    #[arg(long, env = "COMMONBOARD_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// How long the printed facilitator link stays valid (e.g. 30days, 12h).
    #[arg(long, env = "COMMONBOARD_LINK_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub link_ttl: Duration,
}

/// Settings of `commonboard compact`.
#[derive(Debug, Clone, Args)]
pub struct CompactArgs {
    /// Directory of the embedded store.
    #[arg(long, env = "COMMONBOARD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Where boards are kept: `sqlite` (the embedded store in --data-dir) or the
    /// PostgreSQL database the servers share (postgres://user:password@host:5432/db).
    #[arg(long, env = "COMMONBOARD_STORE", default_value = "sqlite", hide_env_values = true)]
    pub store: StoreLocation,

    /// Keep every update of this recent window (e.g. 90days, 12h).
    #[arg(long, env = "COMMONBOARD_KEEP_HISTORY", value_parser = humantime::parse_duration)]
    pub keep_history: Duration,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  commonboard serve
      Serve on http://127.0.0.1:8080 with boards kept in ./data.
  commonboard serve --addr 0.0.0.0:8080 --data-dir /srv/commonboard
      Accept other machines (phones in the room, remote laptops).
  COMMONBOARD_OPEN=1 commonboard serve --addr 127.0.0.1:1234
      Replace a y-websocket server: clients keep their URLs and board names.
  commonboard serve --store postgres://commonboard@db.internal/commonboard
      Keep boards in a PostgreSQL database that several servers share.
  commonboard serve --store postgres://db.internal/commonboard --broker nats://nats.internal:4222
      Run as one of several nodes behind a load balancer (see README, Running several nodes).
  RUST_LOG=commonboard_server=debug commonboard serve
      Log every connection and board event.

Endpoints: / (web client), /b/{id} (a board), /ws/{id} (Yjs WebSocket),
/api/boards (create: POST {\"title\": ...}), /healthz, /metrics (Prometheus).";

/// Settings of `commonboard serve`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on. Use 0.0.0.0:8080 to accept other machines;
    /// port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "COMMONBOARD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory of the embedded store (created if missing). Back it up to back up
    /// every board.
    #[arg(long, env = "COMMONBOARD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Where boards are kept: `sqlite`, the embedded store in --data-dir (needs
    /// nothing else), or a PostgreSQL database several servers share
    /// (postgres://user:password@host:5432/db; the schema is created and migrated on
    /// start, and the link-signing key is kept there unless --signing-key is given).
    #[arg(long, env = "COMMONBOARD_STORE", default_value = "sqlite", hide_env_values = true)]
    pub store: StoreLocation,

    /// Serve the web client from this directory (`npm run build` in web/ writes
    /// web/dist) instead of the copy built into the binary: for working on the client.
    #[arg(long, env = "COMMONBOARD_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Create any board on its first WebSocket connection, as the y-websocket reference
    /// server does, instead of refusing boards not made with `POST /api/boards`.
    /// Anyone who can reach the server can then create boards and guess names.
    #[arg(long, env = "COMMONBOARD_OPEN", value_parser = clap::builder::BoolishValueParser::new())]
    pub open: bool,

    /// Largest WebSocket message accepted, in bytes; a bigger one closes the connection
    /// with code 1009. The default holds a 16 MiB update (a whole document synced by a
    /// client that was offline) and its framing.
    #[arg(long, env = "COMMONBOARD_MAX_MESSAGE_BYTES", default_value_t = 17 << 20)]
    pub max_message_bytes: usize,

    /// How long a board stays in memory with nobody connected (e.g. 30s, 5m).
    #[arg(long, env = "COMMONBOARD_IDLE_UNLOAD", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_unload: Duration,

    /// Frames queued for one connection before it counts as too slow and is
    /// disconnected (its client reconnects and resyncs).
    #[arg(long, env = "COMMONBOARD_SEND_QUEUE", default_value_t = 512)]
    pub send_queue: usize,

    /// Most connections on one board (a town hall of 1,000 people with room for screens
    /// and second devices); one more is closed with code 4530 ("board full").
    #[arg(long, env = "COMMONBOARD_MAX_CONNECTIONS_PER_BOARD", default_value_t = 2000)]
    pub max_connections_per_board: usize,

    /// Most connections on the whole server; one more is closed with code 4531
    /// ("server full").
    #[arg(long, env = "COMMONBOARD_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// For tests: how long a loaded board's document waits before it integrates. The
    /// board answers joining clients from its stored form meanwhile and holds what needs
    /// the document (updates included) until it is ready; this widens that window so a
    /// test can act inside it. Zero in production.
    #[arg(long, env = "COMMONBOARD_INTEGRATE_DELAY", default_value = "0s", value_parser = humantime::parse_duration, hide = true)]
    pub integrate_delay: Duration,

    /// Most boards in memory at once. Loading one more first unloads the least recently
    /// used board that nobody is on (checkpointed, as an idle board is); when every
    /// loaded board has people on it, the connection is closed with code 4532.
    #[arg(long, env = "COMMONBOARD_MAX_BOARDS_LOADED", default_value_t = 1000)]
    pub max_boards_loaded: usize,

    /// Largest a board's document may grow, in bytes of its encoded state (what a
    /// joining client downloads). A change that would pass it is not saved: its sender is
    /// told, and the board keeps working for everyone else.
    #[arg(long, env = "COMMONBOARD_MAX_DOCUMENT_BYTES", default_value_t = 32 << 20)]
    pub max_document_bytes: usize,

    /// Most bytes of changes one person may write on a board (the accepted Yjs updates
    /// of their person id, as the board's log holds them; saved with each checkpoint,
    /// so a reload, a restart or `--keep-history` compaction keeps the count). A change
    /// past it is not saved and its sender is told; the board goes on for everyone
    /// else, so one participant cannot fill the document. The facilitator has no share
    /// (only --max-document-bytes), and a change that only deletes is never refused for
    /// it. A heavy participant of a 2-hour workshop (10,000 characters typed, a change of
    /// about 50 bytes each: 0.5 MB; notes dragged for 10 minutes, 60 changes a second:
    /// 1.8 MB; a 1 MB paste) writes about 3.3 MB: the default is two and a half times that.
    #[arg(long, env = "COMMONBOARD_MAX_PERSON_BYTES", default_value_t = 8 << 20)]
    pub max_person_bytes: usize,

    /// Largest single Yjs update accepted, in bytes (a big paste, or a client that was
    /// offline sending its whole document); a bigger one is not saved and its sender is
    /// told. Keep it below --max-message-bytes.
    #[arg(long, env = "COMMONBOARD_MAX_UPDATE_BYTES", default_value_t = 16 << 20)]
    pub max_update_bytes: usize,

    /// Bytes queued for one connection and not yet written to it before it counts as
    /// too slow and is closed with code 4508 (its client reconnects and resyncs). No
    /// reply is built for a connection this far behind. Bounds what one client that
    /// asks and does not read can make the server hold.
    #[arg(long, env = "COMMONBOARD_MAX_QUEUED_BYTES", default_value_t = 24 << 20)]
    pub max_queued_bytes: usize,

    /// Bytes of clients' frames a board holds while its document integrates after a
    /// load (they wait for it, unaccepted). A connection may hold a quarter of it (one
    /// frame always fits); a frame past either is not taken: its connection is closed
    /// with code 4533 and its client sends its changes again when it reconnects.
    #[arg(long, env = "COMMONBOARD_MAX_HELD_BYTES", default_value_t = 64 << 20)]
    pub max_held_bytes: usize,

    /// Frames a board holds while its document integrates after a load, as
    /// --max-held-bytes (a connection may hold a quarter).
    #[arg(long, env = "COMMONBOARD_MAX_HELD_FRAMES", default_value_t = 16384)]
    pub max_held_frames: usize,

    /// Messages per second one connection may send, sustained. A faster client is slowed
    /// down (the server reads from it at this rate), not disconnected. 0 turns the limit
    /// off (for bulk imports on a trusted network).
    #[arg(long, env = "COMMONBOARD_MESSAGE_RATE", default_value_t = 200.0)]
    pub message_rate: f64,

    /// Messages one connection may send at once above --message-rate before it is
    /// slowed down.
    #[arg(long, env = "COMMONBOARD_MESSAGE_BURST", default_value_t = 400)]
    pub message_burst: u32,

    /// How long a connection may be slowed down without a pause before it counts as a
    /// flood and is closed with code 4529 (e.g. 10s).
    #[arg(long, env = "COMMONBOARD_FLOOD_CUTOFF", default_value = "10s", value_parser = humantime::parse_duration)]
    pub flood_cutoff: Duration,

    /// Largest presence (awareness) state of one client, in bytes of JSON; a bigger one
    /// is dropped (not relayed, not kept) and its sender is told once.
    #[arg(long, env = "COMMONBOARD_MAX_AWARENESS_BYTES", default_value_t = 8 << 10)]
    pub max_awareness_bytes: usize,

    /// Largest HTTP request body accepted by the API, in bytes; a bigger one gets
    /// 413 with a JSON error.
    #[arg(long, env = "COMMONBOARD_MAX_BODY_BYTES", default_value_t = 64 << 10)]
    pub max_body_bytes: usize,

    /// Boards one client address may create per minute, sustained (`POST /api/boards`);
    /// more are answered 429 with Retry-After. 0 turns the limit off (for load tests
    /// that create many boards). Behind a reverse proxy every client has the proxy's
    /// address: pace creation there.
    #[arg(long, env = "COMMONBOARD_BOARD_CREATION_RATE", default_value_t = 20.0)]
    pub board_creation_rate: f64,

    /// Boards one client address may create at once before --board-creation-rate
    /// applies (a facilitator preparing an event's boards).
    #[arg(long, env = "COMMONBOARD_BOARD_CREATION_BURST", default_value_t = 60)]
    pub board_creation_burst: u32,

    /// Boards the whole server may create per minute, every address together (also
    /// how many at once); more are answered 429 with Retry-After. 0 turns it off.
    #[arg(long, env = "COMMONBOARD_BOARD_CREATION_GLOBAL_RATE", default_value_t = 600.0)]
    pub board_creation_global_rate: f64,

    /// Key that signs access links. By default a random key is generated on first start
    /// and kept in the data directory (signing.key); set this to share one key between
    /// servers. Changing it invalidates every link handed out.
    #[arg(long, env = "COMMONBOARD_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// How long a board's access links stay valid (e.g. 30days, 12h).
    #[arg(long, env = "COMMONBOARD_LINK_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub link_ttl: Duration,

    /// Where webhook deliveries may go, comma-separated: networks (`10.0.0.0/8`,
    /// `127.0.0.1/32`), whose every address is allowed, and host names (or `*` for
    /// any), whose public addresses are. Empty (the default): no delivery is made.
    /// Private and loopback addresses are reached only through a listed network.
    #[arg(long, env = "COMMONBOARD_WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<String>,

    /// A webhook the operator sets for every board (repeatable, or comma-separated in
    /// the variable); needs --webhook-secret. Its URL must be allowed by --webhook-allow.
    #[arg(long = "webhook", env = "COMMONBOARD_WEBHOOKS", value_delimiter = ',')]
    pub webhooks: Vec<String>,

    /// The secret signing the deliveries of the --webhook hooks.
    #[arg(long, env = "COMMONBOARD_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// How long a board's events are gathered before they are delivered (a burst of
    /// action edits makes one delivery).
    #[arg(long, env = "COMMONBOARD_WEBHOOK_DEBOUNCE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub webhook_debounce: Duration,

    /// Delay before the first retry of a failed delivery; doubled for each next one.
    #[arg(long, env = "COMMONBOARD_WEBHOOK_BACKOFF", default_value = "1s", value_parser = humantime::parse_duration)]
    pub webhook_backoff: Duration,

    /// Attempts per delivery before it is recorded as failed.
    #[arg(long, env = "COMMONBOARD_WEBHOOK_ATTEMPTS", default_value_t = 5)]
    pub webhook_attempts: u32,

    /// Logged updates between two checkpoints of a board's full state, at least; past
    /// that, a long board writes its next checkpoint only once the bytes logged since
    /// the last one reach an eighth of that checkpoint's size (checkpoints placed by
    /// cost: each is the whole board, so a long board keeps fewer of them).
    #[arg(long, env = "COMMONBOARD_CHECKPOINT_EVERY", default_value_t = 1000)]
    pub checkpoint_every: u64,

    /// Keep every update for this long (e.g. 90days), then only the checkpoints: hourly
    /// compaction drops older fine-grained history and logs what it dropped. By default
    /// every update is kept forever.
    #[arg(long, env = "COMMONBOARD_KEEP_HISTORY", value_parser = humantime::parse_duration)]
    pub keep_history: Option<Duration>,

    /// Memory for past documents kept between history reads, in MiB (0 keeps none).
    /// Reading the board at a point near after a kept one (scrubbing, playback) then
    /// catches up from it in milliseconds instead of rebuilding the board from a
    /// checkpoint; a kept document weighs about 15 times the board's encoded size.
    #[arg(long, env = "COMMONBOARD_HISTORY_CACHE_MB", default_value_t = 256)]
    pub history_cache_mb: usize,

    /// Reads that rebuild a board from the store (a point in its history, a history
    /// page, an export, the minutes) that run at once (by default, one per CPU); eight
    /// times as many wait up to 10 s for a turn, and more are answered 503 with
    /// Retry-After. Each holds a whole document in memory (about 15 times the board's
    /// encoded size) and a core, so this bounds what a flood of them takes from the
    /// live boards.
    #[arg(long, env = "COMMONBOARD_MAX_HEAVY_READS", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_heavy_reads: Option<u16>,

    /// The address people's phones reach this server at (e.g. http://192.168.1.20:8080),
    /// used in the QR code the presentation view shows. By default, the address the
    /// big screen's browser used.
    #[arg(long, env = "COMMONBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Other web origins whose pages may open board WebSockets and change boards through
    /// the API, comma-separated (e.g. https://boards.example.org). Browser requests from
    /// this server's own origin (its Host, or --public-url) are always allowed, and
    /// clients that send no Origin (y-websocket in Node, the load tool) are not checked.
    #[arg(long, env = "COMMONBOARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Host names this server answers to besides its bound address and --public-url's
    /// host, comma-separated (`name` for any port, `name:port` for one). Every request
    /// naming another host is refused with 421, which stops DNS rebinding. IP addresses
    /// of the bound interface, and `localhost` with the bound port when bound to
    /// loopback, are always accepted.
    #[arg(long, env = "COMMONBOARD_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Run as one of several nodes serving the same boards: the NATS server (with
    /// JetStream) the nodes share, e.g. nats://127.0.0.1:4222. Needs a shared
    /// `--store postgres://...`. Each board is run by one node at a time (its owner, by
    /// a lease in the database); the other nodes relay its committed updates to their
    /// clients. Without this flag the server runs alone and needs nothing else.
    #[arg(long, env = "COMMONBOARD_BROKER", hide_env_values = true)]
    pub broker: Option<String>,

    /// Prefix of the NATS subjects and of the JetStream stream the nodes use (letters,
    /// digits, `-` and `_`): nodes sharing a broker for different deployments pick
    /// different prefixes.
    #[arg(long, env = "COMMONBOARD_BROKER_PREFIX", default_value = "cb", value_parser = parse_broker_prefix)]
    pub broker_prefix: String,

    /// This node's name among the nodes sharing a broker (letters, digits, `-` and `_`;
    /// shown in logs and in the lease table, followed by a random suffix that changes
    /// at each start). By default `node`.
    #[arg(long, env = "COMMONBOARD_NODE_ID", value_parser = parse_broker_prefix)]
    pub node_id: Option<String>,
}

/// A NATS subject token or stream name part: 1 to 32 letters, digits, `-` or `_`.
fn parse_broker_prefix(value: &str) -> Result<String, String> {
    let valid =
        (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("use 1 to 32 letters, digits, `-` or `_`".into())
    }
}

impl Config {
    /// Defaults with the given data directory, as tests and embedders want them.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        match Cli::parse_from(["commonboard", "serve"]).command {
            Command::Serve(config) => Config { data_dir: data_dir.into(), ..config },
            _ => unreachable!("parsed `serve`"),
        }
    }
}
