//! The shared store: one PostgreSQL database that several servers can use at once.
//!
//! Same tables and semantics as the embedded SQLite store. One writer thread owns a
//! connection and commits every batch waiting in its queue in one transaction, each
//! batch in its own savepoint (so one bad batch fails alone): one round trip to disk for
//! all the boards that changed meanwhile. Reads take a connection from a small pool.
//!
//! The client is the synchronous `postgres` crate with an `r2d2` pool: the [`Store`]
//! trait's reads are blocking calls made on the blocking pool (through
//! [`super::Handle`]), and the writer is a plain thread, so a synchronous client fits
//! both without a second async layer. Its connections must not be opened or dropped on the async runtime (the client runs a
//! small runtime of its own), which is why [`PostgresStore::connect`] blocks and
//! [`Store::close`] drops the pool on a thread of its own.
//!
//! Two servers can never log the same point of a board: `(board, seq)` is the log's
//! primary key, and an append must follow the log's last point
//! ([`StoreError::SeqTaken`], [`StoreError::SeqGap`]). Connections are unencrypted
//! (`NoTls`): keep the database on a private network or the same machine.

pub mod lease;
mod read;
mod schema;
mod write;

use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::{Client, Config, NoTls};
use r2d2_postgres::PostgresConnectionManager;

use super::{
    Activity, Author, BoardEvent, BoardRecord, Checkpoint, Committed, LogEntry, LogQuery, LogStats, Store, StoreError,
    StoredBoard, StoredVote, StoredWebhook, Write,
};

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Most read connections one server keeps open.
const READ_POOL_SIZE: u32 = 8;
/// How long a read waits for a connection (and a connection for the server) before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// PostgreSQL-backed [`Store`].
pub struct PostgresStore {
    /// Queue to the writer thread; `None` once closed.
    writer: Mutex<Option<mpsc::Sender<super::group::Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Read connections; `None` once closed.
    readers: Mutex<Option<Pool>>,
}

impl PostgresStore {
    /// Connects to the database at a `postgres://` URL and migrates its schema.
    /// Blocking; do not call it on the async runtime.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let config: Config = url
            .parse()
            .map_err(|error| StoreError::Unusable(format!("invalid PostgreSQL URL {}: {error}", redact(url))))?;
        Self::open(config)
    }

    /// Connects with a parsed configuration (tests set `options` to pick a schema) and
    /// migrates the schema. Blocking.
    pub fn open(mut config: Config) -> Result<Self, StoreError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("commonboard");
        }
        let mut client = config.connect(NoTls)?;
        schema::migrate(&mut client)?;
        let pool = r2d2::Pool::builder()
            .max_size(READ_POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .build(PostgresConnectionManager::new(config.clone(), NoTls))?;
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write::write_loop(client, config, receiver))?;
        Ok(PostgresStore {
            writer: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            readers: Mutex::new(Some(pool)),
        })
    }

    fn with_reader<T>(&self, read: impl FnOnce(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pool = self.readers.lock().expect("reader pool").clone().ok_or(StoreError::Closed)?;
        let mut conn = pool.get()?;
        read(&mut conn)
    }

    /// Reads in one read-only snapshot, for reads made of several queries.
    fn with_snapshot<T>(
        &self,
        read: impl FnOnce(&mut ::postgres::Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_reader(|conn| {
            let mut tx = conn
                .build_transaction()
                .isolation_level(::postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let result = read(&mut tx)?;
            tx.commit()?;
            Ok(result)
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        Store::close(self);
    }
}

impl Store for PostgresStore {
    fn submit(&self, writes: Vec<Write>) -> Committed {
        let (done, receiver) = tokio::sync::oneshot::channel();
        let writer = self.writer.lock().expect("writer lock");
        match writer.as_ref() {
            Some(sender) => {
                if let Err(mpsc::SendError(request)) = sender.send(super::group::Request { writes, done }) {
                    let _ = request.done.send(Err(StoreError::Closed));
                }
            }
            None => {
                let _ = done.send(Err(StoreError::Closed));
            }
        }
        receiver
    }

    fn board(&self, id: &str) -> Result<Option<BoardRecord>, StoreError> {
        self.with_reader(|conn| read::board(conn, id))
    }

    fn load(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        self.with_snapshot(|tx| read::load(tx, id))
    }

    fn votes(&self, id: &str) -> Result<Vec<StoredVote>, StoreError> {
        self.with_snapshot(|tx| read::votes(tx, id))
    }

    fn log(&self, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
        self.with_reader(|conn| read::log(conn, id, from, to))
    }

    fn checkpoint_at_or_before(&self, id: &str, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        self.with_reader(|conn| read::checkpoint_at_or_before(conn, id, seq))
    }

    fn seq_at_time(&self, id: &str, at_ms: i64) -> Result<Option<(u64, i64)>, StoreError> {
        self.with_reader(|conn| read::seq_at_time(conn, id, at_ms))
    }

    fn query_log(&self, id: &str, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        self.with_reader(|conn| read::query_log(conn, id, query))
    }

    fn events(&self, id: &str, from: u64, to: u64) -> Result<Vec<BoardEvent>, StoreError> {
        self.with_reader(|conn| read::events(conn, id, from, to))
    }

    fn summaries(&self, id: &str, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError> {
        self.with_reader(|conn| read::summaries(conn, id, from, to))
    }

    fn last_seq(&self, id: &str) -> Result<u64, StoreError> {
        self.with_reader(|conn| read::last_seq(conn, id))
    }

    fn log_stats(&self, id: &str) -> Result<LogStats, StoreError> {
        self.with_snapshot(|tx| read::log_stats(tx, id))
    }

    fn activity(&self, id: &str, buckets: u32) -> Result<Activity, StoreError> {
        self.with_snapshot(|tx| read::activity(tx, id, buckets))
    }

    fn authors(&self, id: &str) -> Result<Vec<Author>, StoreError> {
        self.with_reader(|conn| read::authors(conn, id))
    }

    fn workshop(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.with_reader(|conn| read::workshop(conn, id))
    }

    fn board_ids(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(read::board_ids)
    }

    fn webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError> {
        self.with_reader(read::webhooks)
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with_reader(|conn| Ok(conn.simple_query("SELECT 1").map(drop)?))
    }

    fn shared_signing_key(&self) -> Result<Option<String>, StoreError> {
        self.with_reader(|conn| schema::signing_key(conn).map(Some))
    }

    /// Commits what is queued, stops the writer thread and closes every connection.
    fn close(&self) {
        self.writer.lock().expect("writer lock").take();
        if let Some(thread) = self.thread.lock().expect("thread lock").take() {
            let _ = thread.join();
        }
        if let Some(pool) = self.readers.lock().expect("reader pool").take() {
            // Closing a connection blocks on the client's own runtime, which panics on
            // an async worker thread: close them on a thread of their own.
            let closing = std::thread::Builder::new().name("store-close".into()).spawn(move || drop(pool));
            if let Ok(closing) = closing {
                let _ = closing.join();
            }
        }
    }
}

/// A PostgreSQL error with the server's message, detail and hint (the driver's own
/// text says only "db error").
pub fn describe(error: &::postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{db} (SQLSTATE {})", db.code().code()).replace('\n', "; ");
    }
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// The driver's errors as the store's own kinds, with the server's message, detail and
/// hint ([`describe`]).
impl From<::postgres::Error> for StoreError {
    fn from(error: ::postgres::Error) -> Self {
        StoreError::Database { engine: "PostgreSQL", message: describe(&error) }
    }
}

/// A connection the pool could not give (the database is down or every connection busy).
impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::NoConnection { engine: "PostgreSQL", message: error.to_string() }
    }
}

/// A `postgres://` URL without its password, for logs and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|query| {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| if pair.starts_with("password=") { "password=***".to_owned() } else { pair.to_owned() })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{scheme}://{authority}{path}{}", query.unwrap_or_default())
}

/// A sequence number as PostgreSQL's signed bigint.
fn clamp(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn urls_are_logged_without_their_password() {
        assert_eq!(redact("postgres://me:secret@db:5432/boards"), "postgres://me:***@db:5432/boards");
        assert_eq!(
            redact("postgres://me@db/boards?sslmode=disable&password=x"),
            "postgres://me@db/boards?sslmode=disable&password=***"
        );
        assert_eq!(redact("postgres://db/boards"), "postgres://db/boards");
    }
}
