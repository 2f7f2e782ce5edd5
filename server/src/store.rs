//! Persistence: every board's update log and checkpoints, behind the [`Store`] interface.
//!
//! For each board the store keeps an append-only log of updates (sequence number,
//! server time, author, the update bytes) and checkpoints (the whole state at a
//! sequence number). Loading a board reads its newest checkpoint and the log after it;
//! history replay reads the log itself. Writes go through [`Store::submit`], which
//! resolves once they are durable; implementations group concurrent writes into one
//! commit. The [`Store`] trait's reads block; async code calls the store through a
//! [`Handle`], whose reads run on tokio's blocking pool.
//!
//! The embedded SQLite implementation is [`sqlite::SqliteStore`], the default; several
//! servers can share one PostgreSQL database with [`postgres::PostgresStore`]. `--store`
//! picks one ([`StoreLocation`]); [`open`] opens it.

mod checkpoint;
mod group;
mod handle;
pub mod postgres;
pub mod sqlite;

pub(crate) use checkpoint::{newest_intact, newest_intact_read};
pub use checkpoint::{seal, Checkpoint, CheckpointError, StateEncoding, WholeClocks};
pub use handle::Handle;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

/// File holding the server's signing key, inside the data directory beside the database.
pub const KEY_FILE: &str = "signing.key";

/// Who made a change: a participant's stable identity and display name, or the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Stable identity (`server` for changes the server makes itself).
    pub id: String,
    /// Display name at the time of the change.
    pub name: String,
}

impl Author {
    /// The author of changes the server makes itself (board creation, restores).
    pub fn server() -> Self {
        Author { id: "server".into(), name: "Commonboard".into() }
    }
}

/// One logged update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the board's log, from 1, without gaps.
    pub seq: u64,
    /// Server time of the change, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub author: Author,
    /// The Yjs update (v1 encoding).
    pub update: Vec<u8>,
}

/// A board's row in the index of boards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRecord {
    pub id: String,
    pub title: String,
    pub template: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Rises each time the facilitator rotates the board's links (see `auth`).
    pub links_generation: u64,
    /// Whether only the facilitator may change the document.
    pub locked: bool,
    /// People the facilitator removed: their person ids are refused from then on.
    pub removed: Vec<String>,
}

impl BoardRecord {
    /// A blank board's row, for tests: titled "T", created at 1 ms, links generation 1.
    pub fn blank(id: &str) -> BoardRecord {
        BoardRecord {
            id: id.into(),
            title: "T".into(),
            template: "blank".into(),
            created_at_ms: 1,
            links_generation: 1,
            locked: false,
            removed: Vec::new(),
        }
    }
}

/// Something that happened on a board besides a document update (a vote opened, a
/// restore, a lock), kept for the board's history at the point it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEvent {
    /// The board's newest point when it happened (the restore's own update, for a restore).
    pub seq: u64,
    pub at_ms: i64,
    pub author: Author,
    /// What happened: a history `Change`, as JSON.
    pub change_json: String,
}

/// Counts and sizes of a board's stored history (the history API reports them as is).
pub use commonboard_protocol::history::LogStats;

/// Which logged updates a history page lists.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only updates before this point (exclusive).
    pub before: u64,
    /// At most this many, newest first.
    pub limit: u32,
    /// Only updates at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only updates at or before this time.
    pub until_ms: Option<i64>,
    /// Only this author's updates.
    pub author: Option<String>,
}

/// The log's activity in equal stretches of time, for a timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Per stretch, oldest first: (index of the stretch, updates, last point in it).
    /// Stretches without updates are absent.
    pub buckets: Vec<(u32, u32, u64)>,
}

/// A vote's row: its settings (JSON of `VoteSettings`) and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRecord {
    pub id: String,
    pub settings_json: String,
    pub opened_at_ms: i64,
    pub closes_at_ms: Option<i64>,
    pub open: bool,
    pub revealed: bool,
}

/// One voter's count on one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallotRow {
    pub voter: String,
    pub name: String,
    pub candidate: String,
    pub count: u32,
}

/// A webhook a board's facilitator registered (the operator's `--webhook` hooks are
/// flags, not rows). The secret is kept as signing needs it, and never shown again.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredWebhook {
    pub board: String,
    pub id: String,
    pub url: String,
    /// Event names (`vote.closed`...); empty: every event.
    pub events: Vec<String>,
    /// The HMAC key signing its deliveries.
    pub secret: String,
    /// Who registered it: the facilitator's person id, or `facilitator` for a link
    /// without one.
    pub registered_by: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// Shown without the secret, so a hook can be logged.
impl std::fmt::Debug for StoredWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredWebhook")
            .field("board", &self.board)
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("registered_by", &self.registered_by)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

/// A vote with its ballots.
pub type StoredVote = (VoteRecord, Vec<BallotRow>);

/// What loading a board reads: its newest checkpoint and the log after it.
#[derive(Debug, Clone)]
pub struct StoredBoard {
    pub record: BoardRecord,
    pub checkpoint: Option<Checkpoint>,
    /// Log entries after the checkpoint, in order.
    pub tail: Vec<LogEntry>,
    /// The board's votes, oldest first.
    pub votes: Vec<StoredVote>,
    /// The workshop flow's state (JSON), if the board has one.
    pub workshop: Option<String>,
    /// Notes written privately and not yet revealed.
    pub private_notes: Vec<StoredPrivateNote>,
    /// Bytes of the logged updates of each author (by id, in order): the counts the
    /// board last saved ([`Write::Shares`]) plus the updates logged after them, so
    /// loading reads only the log's tail, and compaction, which keeps the saved
    /// counts, does not reset them.
    pub written: Vec<(String, u64)>,
    /// The clocks of `checkpoint`, when it is a whole v1 state the store read whole
    /// with the validating reader as it loaded it (`None`: not read, and the board
    /// reads them itself). Taken with `checkpoint`, never apart from it.
    pub checkpoint_clocks: Option<WholeClocks>,
}

/// A note written privately: its author and the note (JSON of the schema's `Note`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPrivateNote {
    pub id: String,
    pub author: Author,
    pub note_json: String,
}

impl StoredBoard {
    /// Sequence number of the newest logged update (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        let checkpoint = self.checkpoint.as_ref().map_or(0, |c| c.seq);
        self.tail.last().map_or(checkpoint, |e| e.seq)
    }
}

/// One write; a batch of them is committed atomically.
#[derive(Debug, Clone)]
pub enum Write {
    /// Adds a board to the index.
    CreateBoard(BoardRecord),
    /// Appends to a board's log; sequence numbers must follow the log's last one.
    Append { board: String, entries: Vec<LogEntry> },
    /// Sets a board's links generation (after a rotation).
    LinksGeneration { board: String, generation: u64 },
    /// Locks or unlocks a board.
    Locked { board: String, locked: bool },
    /// Adds or updates a vote.
    Vote { board: String, vote: VoteRecord },
    /// Sets one voter's count on one candidate of a vote.
    Ballot { board: String, vote: String, ballot: BallotRow },
    /// Records a checkpoint.
    Checkpoint { board: String, checkpoint: Checkpoint },
    /// Records a board event for the history.
    Event { board: String, event: BoardEvent },
    /// Saves the bytes each author's updates took in the log through point `through`
    /// (with a checkpoint), replacing the counts saved before.
    Shares { board: String, through: u64, written: Vec<(String, u64)> },
    /// Drops logged updates up to `through`, which must be a checkpoint's point.
    Compact { board: String, through: u64 },
    /// Keeps what logged updates changed (each a JSON list of history `Change`s, by
    /// point), described once so that the history list does not replay them again.
    Summaries { board: String, rows: Vec<(u64, String)> },
    /// Sets the workshop flow's state (JSON).
    Workshop { board: String, state_json: String },
    /// Writes a private note, or deletes it (`None`).
    PrivateNote { board: String, id: String, note: Option<StoredPrivateNote> },
    /// Deletes every private note of a board (after the reveal).
    ClearPrivateNotes { board: String },
    /// Records that the facilitator removed a person (by person id) from the board.
    RemovePerson { board: String, person: String, at_ms: i64 },
    /// Registers a board's webhook (replacing one of the same id).
    Webhook(StoredWebhook),
    /// Deletes a board's webhook (nothing when it has none of that id).
    DeleteWebhook { board: String, id: String },
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement: `engine` is `SQLite` or `PostgreSQL`;
    /// the message is the database's own (for PostgreSQL with the server's detail and
    /// hint, see [`postgres::describe`]). Each backend converts its driver's errors here.
    #[error("{engine} error: {message}")]
    Database { engine: &'static str, message: String },
    /// No connection to the database could be had (PostgreSQL: the pool timed out).
    #[error("no {engine} connection: {message}")]
    NoConnection { engine: &'static str, message: String },
    #[error("cannot open the data directory: {0}")]
    Io(#[from] std::io::Error),
    /// `--store` or the database itself is not something this server can use.
    #[error("{0}")]
    Unusable(String),
    /// The commit holding this write failed (disk full, I/O error): nothing was written.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The disk holding the store is full (`SQLITE_FULL`): nothing of the write was
    /// kept; writes succeed again once space is freed.
    #[error("the disk holding the store is full; nothing was saved")]
    DiskFull,
    #[error("a board with id {0} already exists")]
    BoardExists(String),
    /// Another writer (another server sharing the database) already logged this point.
    #[error("board {board}: log position {seq} is already taken (another server wrote it first)")]
    SeqTaken { board: String, seq: u64 },
    /// An append that does not follow the log's last point.
    #[error("board {board}: appending at {got} but the log's next position is {expected}")]
    SeqGap { board: String, expected: u64, got: u64 },
    /// The database's own rules refused the write (a ballot on a closed vote or over
    /// budget, when several servers share the database).
    #[error("board {board}: refused by the store: {reason}")]
    Refused { board: String, reason: String },
    #[error("the store has shut down")]
    Closed,
}

/// Resolves when a submitted batch is durable, or failed (and nothing of it was written).
pub type Committed = oneshot::Receiver<Result<(), StoreError>>;

/// Where boards are kept.
pub trait Store: Send + Sync + 'static {
    /// Queues writes to be committed together; never blocks.
    fn submit(&self, writes: Vec<Write>) -> Committed;
    /// Reads a board's row. Blocking.
    fn board(&self, id: &str) -> Result<Option<BoardRecord>, StoreError>;
    /// Reads what is needed to load a board. Blocking.
    fn load(&self, id: &str) -> Result<Option<StoredBoard>, StoreError>;
    /// Reads a board's votes with their ballots, oldest first. Blocking.
    fn votes(&self, id: &str) -> Result<Vec<StoredVote>, StoreError>;
    /// Reads a board's log between two sequence numbers (inclusive). Blocking.
    fn log(&self, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError>;
    /// Reads the newest checkpoint at or before `seq`. Blocking.
    fn checkpoint_at_or_before(&self, id: &str, seq: u64) -> Result<Option<Checkpoint>, StoreError>;
    /// The last point logged at or before a time, with its time. Blocking.
    fn seq_at_time(&self, id: &str, at_ms: i64) -> Result<Option<(u64, i64)>, StoreError>;
    /// Reads logged updates matching a query, newest first. Blocking.
    fn query_log(&self, id: &str, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError>;
    /// Reads a board's events between two points (inclusive), oldest first. Blocking.
    fn events(&self, id: &str, from: u64, to: u64) -> Result<Vec<BoardEvent>, StoreError>;
    /// The kept descriptions ([`Write::Summaries`]) of the updates at points `from..=to`
    /// that have one, by point. Blocking.
    fn summaries(&self, id: &str, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError>;
    /// The board's newest point (0 for an unknown board). Blocking.
    fn last_seq(&self, id: &str) -> Result<u64, StoreError>;
    /// Counts and sizes of a board's stored history (reads the whole log). Blocking.
    fn log_stats(&self, id: &str) -> Result<LogStats, StoreError>;
    /// The log's activity in `buckets` equal stretches of time. Blocking.
    fn activity(&self, id: &str, buckets: u32) -> Result<Activity, StoreError>;
    /// Who changed the board or ran its flow (votes, restores...), the server excepted,
    /// in the order they first did. Blocking.
    fn authors(&self, id: &str) -> Result<Vec<Author>, StoreError>;
    /// The board's workshop flow (JSON), if it has one. Blocking.
    fn workshop(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// Ids of every board. Blocking.
    fn board_ids(&self) -> Result<Vec<String>, StoreError>;
    /// Every board's registered webhooks, by board, oldest first. Blocking.
    fn webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError>;

    /// What kind of store this is (`sqlite`, `postgres`), for `/healthz` and logs.
    fn kind(&self) -> &'static str;
    /// Checks that the store answers. Blocking.
    fn ping(&self) -> Result<(), StoreError>;
    /// The key signing access links when the store is shared by several servers: kept in
    /// the store, created by the first server to ask. `None` for a store of one server
    /// (the key then lives in the data directory). Blocking.
    fn shared_signing_key(&self) -> Result<Option<String>, StoreError>;
    /// Commits what is queued and stops writing; later submits fail with
    /// [`StoreError::Closed`]. Blocks until done.
    fn close(&self);
}

/// Where boards are kept, as `--store` gives it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite file in the data directory.
    Sqlite,
    /// A PostgreSQL database, by its `postgres://` URL.
    Postgres(String),
}

impl std::str::FromStr for StoreLocation {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("sqlite") {
            Ok(StoreLocation::Sqlite)
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(value.to_owned()))
        } else {
            Err("expected `sqlite` (the embedded store in --data-dir) or a postgres://user@host/database URL".into())
        }
    }
}

/// Shown without the URL's password, so settings can be logged.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite => f.write_str("sqlite"),
            StoreLocation::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Opens the store at `location` (SQLite in `data_dir`, or PostgreSQL), migrating its
/// schema. Blocking: PostgreSQL connects and migrates here.
pub fn open(location: &StoreLocation, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        StoreLocation::Sqlite => Arc::new(sqlite::SqliteStore::open(data_dir)?),
        StoreLocation::Postgres(url) => Arc::new(postgres::PostgresStore::connect(url)?),
    })
}

/// A webhook's events as its row keeps them: a JSON array of names.
fn webhook_events_json(events: &[String]) -> String {
    serde_json::to_string(events).expect("names serialize")
}

/// A webhook row's events (a damaged row gives an error).
fn webhook_events(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|error| StoreError::Unusable(format!("a webhook's events {json:?}: {error}")))
}

/// Adds up per-author byte counts (saved counts and sums of the log after them) into
/// one count per author, ordered by author id.
pub(crate) fn add_up_shares(rows: impl IntoIterator<Item = (String, u64)>) -> Vec<(String, u64)> {
    let mut shares = std::collections::BTreeMap::<String, u64>::new();
    for (author, bytes) in rows {
        let total = shares.entry(author).or_default();
        *total = total.saturating_add(bytes);
    }
    shares.into_iter().collect()
}

/// Waits for a submitted batch.
pub async fn committed(receiver: Committed) -> Result<(), StoreError> {
    receiver.await.unwrap_or(Err(StoreError::Closed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{ReadTxn, StateVector, Text, Transact};

    fn state_v2() -> Vec<u8> {
        let doc = yrs::Doc::with_client_id(7);
        doc.get_or_insert_text("t").insert(&mut doc.transact_mut(), 0, "hello");
        let txn = doc.transact();
        txn.encode_state_as_update_v2(&StateVector::default())
    }

    fn checkpoint(encoding: StateEncoding, state: Vec<u8>) -> Checkpoint {
        Checkpoint { seq: 1, at_ms: 0, encoding, state }
    }

    /// A sealed v2 checkpoint reads back; one damaged on disk (any byte changed, or cut
    /// short) is refused before yrs reads it; one written before the seal still reads.
    #[test]
    fn a_sealed_checkpoint_damaged_on_disk_is_refused_before_yrs_reads_it() {
        let sealed = seal(state_v2());
        assert!(checkpoint(StateEncoding::V2Sealed, sealed.clone()).decode().is_ok());
        for at in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[at] ^= 0x40;
            let error = checkpoint(StateEncoding::V2Sealed, damaged).decode().unwrap_err();
            assert!(matches!(error, CheckpointError::Damaged), "byte {at}: {error}");
        }
        for len in 0..sealed.len() {
            let error = checkpoint(StateEncoding::V2Sealed, sealed[..len].to_vec()).decode().unwrap_err();
            assert!(matches!(error, CheckpointError::Damaged), "cut to {len}: {error}");
        }
        assert!(checkpoint(StateEncoding::V2, state_v2()).decode().is_ok());
    }

    /// A whole v1 checkpoint found intact comes with its clocks, read in that walk; a
    /// damaged one is passed over for the one before it, and a v1 state that is not
    /// whole (a later update) is intact without them.
    #[test]
    fn a_whole_v1_checkpoint_found_intact_comes_with_its_clocks() {
        let doc = yrs::Doc::with_client_id(7);
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "hello");
        let later = {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 5, ", world");
            txn.encode_update_v1()
        };
        let whole = doc.transact().encode_state_as_update_v1(&StateVector::default());
        let mut damaged = whole.clone();
        damaged.truncate(whole.len() - 1);
        let rows = [(3, damaged), (2, whole), (1, later)];
        let at_or_before = |bound: u64| {
            Ok(rows.iter().find(|(seq, _)| *seq <= bound).map(|(seq, state)| Checkpoint {
                seq: *seq,
                at_ms: 0,
                encoding: StateEncoding::V1,
                state: state.clone(),
            }))
        };
        let (checkpoint, clocks) = newest_intact_read(u64::MAX, at_or_before).unwrap().unwrap();
        assert_eq!(checkpoint.seq, 2);
        assert_eq!(clocks.unwrap().clocks(), &[(7, 12)]);
        let (checkpoint, clocks) = newest_intact_read(1, at_or_before).unwrap().unwrap();
        assert_eq!((checkpoint.seq, clocks), (1, None));
        assert_eq!(newest_intact(u64::MAX, at_or_before).unwrap().unwrap().seq, 2);
    }

    /// The numbers stored for each encoding read back as it.
    #[test]
    fn each_encoding_reads_back_from_its_stored_number() {
        for encoding in [StateEncoding::V1, StateEncoding::V2, StateEncoding::V2Sealed] {
            assert_eq!(StateEncoding::from_stored(encoding as i64), encoding);
        }
        assert_eq!(StateEncoding::from_stored(99), StateEncoding::V1);
    }
}
