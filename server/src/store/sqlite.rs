//! The embedded store: one SQLite file in WAL mode under the data directory.
//!
//! One writer thread owns the write connection. It takes every batch waiting in its
//! queue, writes each in its own savepoint (so one bad batch fails alone) and commits
//! them together: one fsync for all the boards that changed meanwhile (group commit),
//! and no database work on the async runtime. Reads use a small pool of read-only
//! connections; WAL lets them run while the writer commits.

use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use super::{
    Activity, Author, BallotRow, BoardEvent, BoardRecord, Checkpoint, Committed, LogEntry, LogQuery, LogStats,
    StateEncoding, Store, StoreError, StoredBoard, StoredPrivateNote, StoredVote, StoredWebhook, VoteRecord, Write,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "commonboard.sqlite3";

/// Read connections, at most: reads beyond this many wait for one to be free. Each
/// holds two files and a page cache. Opening one per overlapping read and closing it
/// after is no cure: SQLite defers closing a database file while another connection of
/// the process holds a lock on it (the writer always does), so the files of every
/// reader ever open at once stayed open (22 of them after the 30-minute soak).
const MAX_READERS: usize = 4;

/// Page cache of a read connection, in KiB (SQLite's default is 2,000). In WAL mode a
/// read connection drops its whole cache when a read begins after any commit, and the
/// writer commits many times a second while boards are edited, so a bigger cache
/// served nothing: it only kept the pages of each reader's last read, a board's
/// checkpoint as often as not, in memory the allocator could not give back (up to
/// 8 MiB for the pool in the soak of docs/RELIABILITY.md).
const READER_CACHE_KIB: i64 = 256;

/// Most batches one commit takes, so a flood of writers still gets regular commits.
const MAX_BATCHES_PER_COMMIT: usize = 1024;

/// Schema, versioned with `PRAGMA user_version`. Append migrations; never edit one.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE boards (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        template TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE updates (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (board, seq)
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (board, seq)
    ) WITHOUT ROWID;
",
    "
    ALTER TABLE boards ADD COLUMN links_generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE boards ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
",
    "
    CREATE TABLE votes (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        settings TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        closes_at INTEGER,
        open INTEGER NOT NULL,
        revealed INTEGER NOT NULL,
        PRIMARY KEY (board, id)
    ) WITHOUT ROWID;
    CREATE TABLE ballots (
        board TEXT NOT NULL,
        vote TEXT NOT NULL,
        voter TEXT NOT NULL,
        name TEXT NOT NULL,
        candidate TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (board, vote, voter, candidate)
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE events (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        change TEXT NOT NULL
    );
    CREATE INDEX events_by_point ON events (board, seq);
    CREATE INDEX updates_by_time ON updates (board, at, seq);
    ALTER TABLE boards ADD COLUMN compacted_through INTEGER NOT NULL DEFAULT 0;
",
    "
    CREATE TABLE workshops (
        board TEXT PRIMARY KEY,
        state TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE private_notes (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        note TEXT NOT NULL,
        PRIMARY KEY (board, id)
    ) WITHOUT ROWID;
",
    "
    ALTER TABLE checkpoints ADD COLUMN encoding INTEGER NOT NULL DEFAULT 1;
",
    "
    CREATE TABLE removed_people (
        board TEXT NOT NULL,
        person TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (board, person)
    ) WITHOUT ROWID;
",
    // Webhooks a board's facilitator registered (events: a JSON array of names); they
    // go with their board.
    "
    CREATE TABLE webhooks (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        registered_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (board, id)
    ) WITHOUT ROWID;
    CREATE TRIGGER webhooks_go_with_their_board AFTER DELETE ON boards
    BEGIN
        DELETE FROM webhooks WHERE board = OLD.id;
    END;
",
    // The bytes each person's updates took in a board's log through `shares_through`
    // (saved with checkpoints), so that loading a board does not sum its whole log.
    "
    CREATE TABLE person_shares (
        board TEXT NOT NULL,
        person TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (board, person)
    ) WITHOUT ROWID;
    ALTER TABLE boards ADD COLUMN shares_through INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER person_shares_go_with_their_board AFTER DELETE ON boards
    BEGIN
        DELETE FROM person_shares WHERE board = OLD.id;
    END;
",
];

struct Request {
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    /// Queue to the writer thread; `None` once closed.
    writer: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Read connections: the idle ones, and how many are open in all.
    readers: Mutex<Readers>,
    /// Signalled when a read connection is returned.
    reader_free: std::sync::Condvar,
    path: std::path::PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(DB_FILE);
        private_files(data_dir, &path)?;
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before it is acknowledged, so an acknowledged
        // update survives a power cut too, not only a killed process.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;

        let (sender, receiver) = mpsc::channel();
        let thread =
            std::thread::Builder::new().name("store-writer".into()).spawn(move || write_loop(conn, receiver))?;
        Ok(SqliteStore {
            writer: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            readers: Mutex::new(Readers::default()),
            reader_free: std::sync::Condvar::new(),
            path,
        })
    }

    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = {
            let mut readers = self.readers.lock().expect("reader pool");
            loop {
                if let Some(conn) = readers.idle.pop() {
                    break Some(conn);
                }
                if readers.open < MAX_READERS {
                    readers.open += 1;
                    break None;
                }
                readers = self.reader_free.wait(readers).expect("reader pool");
            }
        };
        let conn = match conn {
            Some(conn) => conn,
            None => match self.open_reader() {
                Ok(conn) => conn,
                Err(error) => {
                    self.readers.lock().expect("reader pool").open -= 1;
                    self.reader_free.notify_one();
                    return Err(error);
                }
            },
        };
        let result = read(&conn);
        self.readers.lock().expect("reader pool").idle.push(conn);
        self.reader_free.notify_one();
        result
    }

    fn open_reader(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // A negative size is in KiB.
        conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
        Ok(conn)
    }
}

/// The pool of read connections.
#[derive(Default)]
struct Readers {
    idle: Vec<Connection>,
    /// Idle and in use.
    open: usize,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        Store::close(self);
    }
}

impl Store for SqliteStore {
    fn submit(&self, writes: Vec<Write>) -> Committed {
        let (done, receiver) = oneshot::channel();
        let writer = self.writer.lock().expect("writer lock");
        match writer.as_ref() {
            Some(sender) => {
                if let Err(mpsc::SendError(request)) = sender.send(Request { writes, done }) {
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
        self.with_reader(|conn| read_board(conn, id))
    }

    fn load(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        self.with_reader(|conn| {
            let tx = conn.unchecked_transaction()?;
            let Some(record) = read_board(&tx, id)? else {
                return Ok(None);
            };
            let checkpoint = tx
                .query_row(
                    "SELECT seq, at, state, encoding FROM checkpoints WHERE board = ?1 ORDER BY seq DESC LIMIT 1",
                    [id],
                    checkpoint,
                )
                .optional()?;
            let after = checkpoint.as_ref().map_or(0, |c| c.seq);
            let tail = read_log(&tx, id, after + 1, u64::MAX)?;
            let votes = read_votes(&tx, id)?;
            let workshop =
                tx.query_row("SELECT state FROM workshops WHERE board = ?1", [id], |row| row.get(0)).optional()?;
            let mut statement = tx.prepare_cached(
                "SELECT id, author_id, author_name, note FROM private_notes WHERE board = ?1 ORDER BY id",
            )?;
            let private_notes = statement
                .query_map([id], |row| {
                    Ok(StoredPrivateNote {
                        id: row.get(0)?,
                        author: Author { id: row.get(1)?, name: row.get(2)? },
                        note_json: row.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let written = read_written(&tx, id)?;
            Ok(Some(StoredBoard { record, checkpoint, tail, votes, workshop, private_notes, written }))
        })
    }

    fn votes(&self, id: &str) -> Result<Vec<StoredVote>, StoreError> {
        self.with_reader(|conn| read_votes(conn, id))
    }

    fn log(&self, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
        self.with_reader(|conn| read_log(conn, id, from, to))
    }

    fn checkpoint_at_or_before(&self, id: &str, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT seq, at, state, encoding FROM checkpoints WHERE board = ?1 AND seq <= ?2
                 ORDER BY seq DESC LIMIT 1",
            )?;
            let row = statement.query_row(params![id, clamp(seq)], checkpoint);
            Ok(row.optional()?)
        })
    }

    fn seq_at_time(&self, id: &str, at_ms: i64) -> Result<Option<(u64, i64)>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT seq, at FROM updates WHERE board = ?1 AND at <= ?2 ORDER BY at DESC, seq DESC LIMIT 1",
            )?;
            let logged = statement.query_row(params![id, at_ms], |row| Ok((row.get(0)?, row.get(1)?))).optional()?;
            if logged.is_some() {
                return Ok(logged);
            }
            // Compacted away: the newest checkpoint made by then.
            let mut statement = conn.prepare_cached(
                "SELECT seq, at FROM checkpoints WHERE board = ?1 AND at <= ?2 ORDER BY seq DESC LIMIT 1",
            )?;
            Ok(statement.query_row(params![id, at_ms], |row| Ok((row.get(0)?, row.get(1)?))).optional()?)
        })
    }

    fn query_log(&self, id: &str, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT seq, at, author_id, author_name, data FROM updates
                 WHERE board = ?1 AND seq < ?2 AND at >= ?3 AND at <= ?4 AND (?5 IS NULL OR author_id = ?5)
                 ORDER BY seq DESC LIMIT ?6",
            )?;
            let rows = statement.query_map(
                params![
                    id,
                    clamp(query.before),
                    query.since_ms.unwrap_or(i64::MIN),
                    query.until_ms.unwrap_or(i64::MAX),
                    query.author,
                    query.limit
                ],
                log_entry,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn events(&self, id: &str, from: u64, to: u64) -> Result<Vec<BoardEvent>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT seq, at, author_id, author_name, change FROM events
                 WHERE board = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq, rowid",
            )?;
            let rows = statement.query_map(params![id, clamp(from), clamp(to)], |row| {
                Ok(BoardEvent {
                    seq: row.get(0)?,
                    at_ms: row.get(1)?,
                    author: Author { id: row.get(2)?, name: row.get(3)? },
                    change_json: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn last_seq(&self, id: &str) -> Result<u64, StoreError> {
        self.with_reader(|conn| {
            Ok(conn.query_row(
                "SELECT MAX(COALESCE((SELECT MAX(seq) FROM updates WHERE board = ?1), 0),
                            COALESCE((SELECT MAX(seq) FROM checkpoints WHERE board = ?1), 0))",
                [id],
                |row| row.get(0),
            )?)
        })
    }

    fn log_stats(&self, id: &str) -> Result<LogStats, StoreError> {
        self.with_reader(|conn| {
            let tx = conn.unchecked_transaction()?;
            let (first_seq, last_seq, updates, update_bytes) = tx.query_row(
                "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0), COUNT(*), COALESCE(SUM(LENGTH(data)), 0)
                 FROM updates WHERE board = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )?;
            let (checkpoints, checkpoint_bytes, first_checkpoint, last_checkpoint): (u64, u64, u64, u64) = tx
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(LENGTH(state)), 0), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0)
                     FROM checkpoints WHERE board = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?;
            let compacted_through = tx
                .query_row("SELECT compacted_through FROM boards WHERE id = ?1", [id], |row| row.get(0))
                .optional()?
                .unwrap_or(0);
            Ok(LogStats {
                first_seq: if updates == 0 { compacted_through + 1 } else { first_seq },
                last_seq: u64::max(last_seq, last_checkpoint),
                updates,
                update_bytes,
                checkpoints,
                checkpoint_bytes,
                first_checkpoint,
                compacted_through,
            })
        })
    }

    fn activity(&self, id: &str, buckets: u32) -> Result<Activity, StoreError> {
        self.with_reader(|conn| {
            let tx = conn.unchecked_transaction()?;
            let (start_ms, end_ms): (Option<i64>, Option<i64>) =
                tx.query_row("SELECT MIN(at), MAX(at) FROM updates WHERE board = ?1", [id], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            let (Some(start_ms), Some(end_ms)) = (start_ms, end_ms) else {
                return Ok(Activity::default());
            };
            let buckets = buckets.max(1);
            let span = (end_ms - start_ms).max(1);
            let mut statement = tx.prepare_cached(
                "SELECT MIN(?4 - 1, (at - ?2) * ?4 / ?3) AS bucket, COUNT(*), MAX(seq) FROM updates
                 WHERE board = ?1 GROUP BY bucket ORDER BY bucket",
            )?;
            let rows = statement
                .query_map(params![id, start_ms, span, buckets], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            let buckets = rows.collect::<Result<_, _>>()?;
            Ok(Activity { start_ms, end_ms, buckets })
        })
    }

    fn authors(&self, id: &str) -> Result<Vec<Author>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT author_id, author_name FROM (
                     SELECT author_id, author_name, seq FROM updates WHERE board = ?1
                     UNION ALL SELECT author_id, author_name, seq FROM events WHERE board = ?1
                 ) WHERE author_id <> 'server' GROUP BY author_id ORDER BY MIN(seq)",
            )?;
            let rows = statement.query_map([id], |row| Ok(Author { id: row.get(0)?, name: row.get(1)? }))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn workshop(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.with_reader(|conn| {
            Ok(conn.query_row("SELECT state FROM workshops WHERE board = ?1", [id], |row| row.get(0)).optional()?)
        })
    }

    fn board_ids(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached("SELECT id FROM boards ORDER BY id")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT board, id, url, events, secret, registered_by, created_at FROM webhooks
                 ORDER BY board, created_at, id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok((
                    StoredWebhook {
                        board: row.get(0)?,
                        id: row.get(1)?,
                        url: row.get(2)?,
                        events: Vec::new(),
                        secret: row.get(4)?,
                        registered_by: row.get(5)?,
                        created_at_ms: row.get(6)?,
                    },
                    row.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (mut hook, events) = row?;
                hook.events = super::webhook_events(&events)?;
                Ok(hook)
            })
            .collect()
        })
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with_reader(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    fn shared_signing_key(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// Commits what is queued and stops the writer thread.
    fn close(&self) {
        self.writer.lock().expect("writer lock").take();
        if let Some(thread) = self.thread.lock().expect("thread lock").take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint(row: &rusqlite::Row) -> rusqlite::Result<Checkpoint> {
    let encoding = match row.get::<_, u8>(3)? {
        2 => StateEncoding::V2,
        _ => StateEncoding::V1,
    };
    Ok(Checkpoint { seq: row.get(0)?, at_ms: row.get(1)?, encoding, state: row.get(2)? })
}

/// A sequence number as SQLite's signed integer.
fn clamp(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn log_entry(row: &rusqlite::Row) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        seq: row.get(0)?,
        at_ms: row.get(1)?,
        author: Author { id: row.get(2)?, name: row.get(3)? },
        update: row.get(4)?,
    })
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The store holds private notes: the data directory is readable by its owner only
/// (0700), and so are the database and its WAL files (0600). SQLite creates the WAL
/// and shared-memory files with the database file's mode, so creating the database
/// 0600 before SQLite opens it covers them; files of an older version are tightened.
fn private_files(data_dir: &Path, db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        if !db.exists() {
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(db)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        let key = data_dir.join(super::KEY_FILE);
        if key.exists() {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (data_dir, db);
    Ok(())
}

fn read_board(conn: &Connection, id: &str) -> Result<Option<BoardRecord>, StoreError> {
    let record = conn
        .query_row(
            "SELECT id, title, template, created_at, links_generation, locked FROM boards WHERE id = ?1",
            [id],
            |row| {
                Ok(BoardRecord {
                    id: row.get(0)?,
                    title: row.get(1)?,
                    template: row.get(2)?,
                    created_at_ms: row.get(3)?,
                    links_generation: row.get(4)?,
                    locked: row.get(5)?,
                    removed: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut record) = record else { return Ok(None) };
    let mut statement =
        conn.prepare_cached("SELECT person FROM removed_people WHERE board = ?1 ORDER BY at, person")?;
    record.removed = statement.query_map([id], |row| row.get(0))?.collect::<Result<_, _>>()?;
    Ok(Some(record))
}

fn read_votes(conn: &Connection, id: &str) -> Result<Vec<StoredVote>, StoreError> {
    let mut votes = conn.prepare_cached(
        "SELECT id, settings, opened_at, closes_at, open, revealed FROM votes WHERE board = ?1 ORDER BY opened_at, id",
    )?;
    let records = votes.query_map([id], |row| {
        Ok(VoteRecord {
            id: row.get(0)?,
            settings_json: row.get(1)?,
            opened_at_ms: row.get(2)?,
            closes_at_ms: row.get(3)?,
            open: row.get(4)?,
            revealed: row.get(5)?,
        })
    })?;
    let records: Vec<VoteRecord> = records.collect::<Result<_, _>>()?;
    let mut ballots = conn.prepare_cached(
        "SELECT voter, name, candidate, count FROM ballots WHERE board = ?1 AND vote = ?2 ORDER BY voter, candidate",
    )?;
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let rows = ballots.query_map(params![id, record.id], |row| {
            Ok(BallotRow { voter: row.get(0)?, name: row.get(1)?, candidate: row.get(2)?, count: row.get(3)? })
        })?;
        out.push((record, rows.collect::<Result<_, _>>()?));
    }
    Ok(out)
}

/// Bytes of the logged updates of each author, by author id: the saved counts and the
/// log after them.
fn read_written(conn: &Connection, id: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let through: u64 = conn
        .query_row("SELECT shares_through FROM boards WHERE id = ?1", [id], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let mut statement = conn.prepare_cached("SELECT person, bytes FROM person_shares WHERE board = ?1")?;
    let saved = statement.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    let mut statement = conn.prepare_cached(
        "SELECT author_id, SUM(LENGTH(data)) FROM updates WHERE board = ?1 AND seq > ?2 GROUP BY author_id",
    )?;
    let after = statement.query_map(params![id, clamp(through)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(super::add_up_shares(saved.into_iter().chain(after.collect::<Result<Vec<_>, _>>()?)))
}

fn read_log(conn: &Connection, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, at, author_id, author_name, data FROM updates
         WHERE board = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq",
    )?;
    let rows = statement.query_map(params![id, clamp(from), clamp(to)], log_entry)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The writer thread: commits queued batches together until the queue closes.
fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Request>) {
    let mut pending = Vec::new();
    while let Ok(first) = queue.recv() {
        pending.push(first);
        while pending.len() < MAX_BATCHES_PER_COMMIT {
            match queue.try_recv() {
                Ok(request) => pending.push(request),
                Err(_) => break,
            }
        }
        let _span = tracing::debug_span!("store_commit", batches = pending.len()).entered();
        let started = std::time::Instant::now();
        let results = commit(&mut conn, &pending);
        metrics::histogram!(crate::telemetry::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "committed");
        for (request, result) in pending.drain(..).zip(results) {
            let _ = request.done.send(result);
        }
    }
}

/// Writes every request in its own savepoint, then commits them all. Returns one result
/// per request; if the commit itself fails, every request fails.
fn commit(conn: &mut Connection, requests: &[Request]) -> Vec<Result<(), StoreError>> {
    let all_failed = |error: &rusqlite::Error| -> Vec<Result<(), StoreError>> {
        requests.iter().map(|_| Err(commit_error(error))).collect()
    };
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(error) => {
            tracing::error!(error = %commit_error(&error), "store transaction could not start");
            return all_failed(&error);
        }
    };
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        let result = tx.savepoint().map_err(StoreError::from).and_then(|savepoint| {
            for write in &request.writes {
                apply(&savepoint, write)?;
            }
            savepoint.commit()?;
            Ok(())
        });
        if let Err(error) = result {
            tracing::error!(%error, "store write failed");
            // On a full disk or an I/O error SQLite may roll the whole transaction back
            // by itself: the batches written before this one are gone too, and the next
            // ones would run outside any transaction. Fail them all, saying why.
            if tx.is_autocommit() {
                tracing::error!(%error, "the store rolled back the whole commit");
                return requests.iter().map(|_| Err(same_error(&error))).collect();
            }
            results.push(Err(error));
            continue;
        }
        results.push(Ok(()));
    }
    if let Err(error) = tx.commit() {
        tracing::error!(error = %commit_error(&error), "store commit failed");
        return all_failed(&error);
    }
    results
}

/// A failed commit as the callers see it: a full disk named as such.
fn commit_error(error: &rusqlite::Error) -> StoreError {
    if is_disk_full(error) {
        StoreError::DiskFull
    } else {
        StoreError::Commit(error.to_string())
    }
}

/// The error every batch of a rolled-back commit fails with.
fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::DiskFull => StoreError::DiskFull,
        other => StoreError::Commit(other.to_string()),
    }
}

fn is_disk_full(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// The driver's errors as the store's own kinds: a full disk named as such
/// (`SQLITE_FULL`), anything else with SQLite's message.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if is_disk_full(&error) {
            StoreError::DiskFull
        } else {
            StoreError::Database { engine: "SQLite", message: error.to_string() }
        }
    }
}

fn apply(conn: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::CreateBoard(record) => {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO boards (id, title, template, created_at, links_generation, locked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record.id,
                    record.title,
                    record.template,
                    record.created_at_ms,
                    record.links_generation,
                    record.locked
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::BoardExists(record.id.clone()));
            }
        }
        Write::Append { board, entries } => {
            let mut statement = conn.prepare_cached(
                "INSERT INTO updates (board, seq, at, author_id, author_name, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in entries {
                statement.execute(params![board, e.seq, e.at_ms, e.author.id, e.author.name, e.update])?;
            }
        }
        Write::LinksGeneration { board, generation } => {
            conn.execute("UPDATE boards SET links_generation = ?2 WHERE id = ?1", params![board, generation])?;
        }
        Write::Locked { board, locked } => {
            conn.execute("UPDATE boards SET locked = ?2 WHERE id = ?1", params![board, locked])?;
        }
        Write::Vote { board, vote } => {
            conn.execute(
                "INSERT OR REPLACE INTO votes (board, id, settings, opened_at, closes_at, open, revealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    board,
                    vote.id,
                    vote.settings_json,
                    vote.opened_at_ms,
                    vote.closes_at_ms,
                    vote.open,
                    vote.revealed
                ],
            )?;
        }
        Write::Ballot { board, vote, ballot } => {
            conn.execute(
                "INSERT OR REPLACE INTO ballots (board, vote, voter, name, candidate, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![board, vote, ballot.voter, ballot.name, ballot.candidate, ballot.count],
            )?;
        }
        Write::Checkpoint { board, checkpoint } => {
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (board, seq, at, state, encoding) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![board, checkpoint.seq, checkpoint.at_ms, checkpoint.state, checkpoint.encoding as u8],
            )?;
        }
        Write::Shares { board, through, written } => {
            conn.execute("DELETE FROM person_shares WHERE board = ?1", [board])?;
            let mut statement =
                conn.prepare_cached("INSERT INTO person_shares (board, person, bytes) VALUES (?1, ?2, ?3)")?;
            for (person, bytes) in written {
                statement.execute(params![board, person, clamp(*bytes)])?;
            }
            conn.execute("UPDATE boards SET shares_through = ?2 WHERE id = ?1", params![board, clamp(*through)])?;
        }
        Write::Event { board, event } => {
            conn.execute(
                "INSERT INTO events (board, seq, at, author_id, author_name, change) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![board, event.seq, event.at_ms, event.author.id, event.author.name, event.change_json],
            )?;
        }
        Write::Workshop { board, state_json } => {
            conn.execute(
                "INSERT OR REPLACE INTO workshops (board, state) VALUES (?1, ?2)",
                params![board, state_json],
            )?;
        }
        Write::PrivateNote { board, id, note: Some(note) } => {
            conn.execute(
                "INSERT OR REPLACE INTO private_notes (board, id, author_id, author_name, note)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![board, id, note.author.id, note.author.name, note.note_json],
            )?;
        }
        Write::PrivateNote { board, id, note: None } => {
            conn.execute("DELETE FROM private_notes WHERE board = ?1 AND id = ?2", params![board, id])?;
        }
        Write::ClearPrivateNotes { board } => {
            conn.execute("DELETE FROM private_notes WHERE board = ?1", params![board])?;
        }
        Write::RemovePerson { board, person, at_ms } => {
            conn.execute(
                "INSERT OR IGNORE INTO removed_people (board, person, at) VALUES (?1, ?2, ?3)",
                params![board, person, at_ms],
            )?;
        }
        Write::Webhook(hook) => {
            conn.execute(
                "INSERT OR REPLACE INTO webhooks (board, id, url, events, secret, registered_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hook.board,
                    hook.id,
                    hook.url,
                    super::webhook_events_json(&hook.events),
                    hook.secret,
                    hook.registered_by,
                    hook.created_at_ms
                ],
            )?;
        }
        Write::DeleteWebhook { board, id } => {
            conn.execute("DELETE FROM webhooks WHERE board = ?1 AND id = ?2", params![board, id])?;
        }
        Write::Compact { board, through } => {
            conn.execute("DELETE FROM updates WHERE board = ?1 AND seq <= ?2", params![board, clamp(*through)])?;
            conn.execute(
                "UPDATE boards SET compacted_through = MAX(compacted_through, ?2) WHERE id = ?1",
                params![board, clamp(*through)],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> LogEntry {
        LogEntry { seq, at_ms: 1000 + seq as i64, author: Author::server(), update: vec![seq as u8] }
    }

    fn record(id: &str) -> BoardRecord {
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

    #[test]
    fn a_full_database_fails_the_commit_as_disk_full_and_keeps_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        migrate(&mut conn).unwrap();
        let request = |writes: Vec<Write>| Request { writes, done: oneshot::channel().0 };
        let first = [request(vec![Write::CreateBoard(record("b"))])];
        assert!(commit(&mut conn, &first).iter().all(Result::is_ok));
        // No room for another page, as on a full disk.
        let pages: i64 = conn.pragma_query_value(None, "page_count", |row| row.get(0)).unwrap();
        conn.pragma_update(None, "max_page_count", pages).unwrap();
        let big = |seq: u64| LogEntry { update: vec![7; 64 * 1024], ..entry(seq) };
        let batches = [
            request(vec![Write::Append { board: "b".into(), entries: vec![entry(1)] }]),
            request(vec![Write::Append { board: "b".into(), entries: vec![big(2), big(3)] }]),
            // After SQLite rolled the transaction back, this one would run on its own
            // and be saved while its caller is told it failed.
            request(vec![Write::Append { board: "b".into(), entries: vec![entry(4)] }]),
        ];
        let results = commit(&mut conn, &batches);
        assert!(results.iter().any(|r| matches!(r, Err(StoreError::DiskFull))), "{results:?}");
        // Whatever was answered Ok is there, what failed is not; the board is intact.
        let kept = read_log(&conn, "b", 1, 10).unwrap();
        for (seq, result) in [(1, &results[0]), (2, &results[1]), (4, &results[2])] {
            assert_eq!(kept.iter().any(|e| e.seq == seq), result.is_ok(), "{results:?}");
        }
        assert!(read_board(&conn, "b").unwrap().is_some());
        // Room again: writes succeed.
        conn.pragma_update(None, "max_page_count", 1 << 30).unwrap();
        let again = [request(vec![Write::Append { board: "b".into(), entries: vec![big(2)] }])];
        assert!(commit(&mut conn, &again).iter().all(Result::is_ok));
        assert!(read_log(&conn, "b", 2, 2).unwrap().len() == 1);
    }

    #[test]
    fn overlapping_reads_share_a_bounded_pool_of_connections() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
        let (inside, most) = (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
        let readers: Vec<_> = (0..16)
            .map(|_| {
                let (store, inside, most) = (store.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    store
                        .with_reader(|conn| {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            inside.fetch_sub(1, Ordering::SeqCst);
                            Ok(conn.query_row("SELECT count(*) FROM boards", [], |row| row.get::<_, i64>(0))?)
                        })
                        .unwrap()
                })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), 0);
        }
        assert_eq!(most.load(Ordering::SeqCst), MAX_READERS, "reads overlapped up to the bound, not past it");
        let pool = store.readers.lock().unwrap();
        assert_eq!((pool.open, pool.idle.len()), (MAX_READERS, MAX_READERS));
    }

    #[test]
    fn read_connections_keep_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let size: i64 =
            store.with_reader(|conn| Ok(conn.pragma_query_value(None, "cache_size", |row| row.get(0))?)).unwrap();
        assert_eq!(size, -READER_CACHE_KIB);
    }

    #[tokio::test]
    async fn a_database_of_the_previous_version_upgrades_in_place_with_webhooks() {
        let dir = tempfile::tempdir().unwrap();
        let before = MIGRATIONS.len() - 1;
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            for (index, migration) in MIGRATIONS[..before].iter().enumerate() {
                conn.execute_batch(migration).unwrap();
                conn.pragma_update(None, "user_version", index + 1).unwrap();
            }
            let request = Request { writes: vec![Write::CreateBoard(record("b"))], done: oneshot::channel().0 };
            assert!(commit(&mut conn, &[request]).iter().all(Result::is_ok));
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let version: usize =
            store.with_reader(|conn| Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)).unwrap();
        assert_eq!(version, MIGRATIONS.len());
        assert!(store.board("b").unwrap().is_some(), "the board is kept");
        assert!(store.webhooks().unwrap().is_empty());
        let hook = StoredWebhook {
            board: "b".into(),
            id: "h".into(),
            url: "http://10.0.0.1/".into(),
            events: Vec::new(),
            secret: "s".into(),
            registered_by: "facilitator".into(),
            created_at_ms: 1,
        };
        super::super::committed(store.submit(vec![Write::Webhook(hook.clone())])).await.unwrap();
        assert_eq!(store.webhooks().unwrap(), [hook]);
        // A board deleted by hand (an operator's cleanup) takes its hooks with it.
        let deleted = rusqlite::Connection::open(dir.path().join(DB_FILE))
            .unwrap()
            .execute("DELETE FROM boards WHERE id = 'b'", [])
            .unwrap();
        assert_eq!(deleted, 1);
        assert!(store.webhooks().unwrap().is_empty());
    }

    #[tokio::test]
    async fn reopening_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            let writes =
                vec![Write::CreateBoard(record("b")), Write::Append { board: "b".into(), entries: vec![entry(1)] }];
            super::super::committed(store.submit(writes)).await.unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.load("b").unwrap().unwrap().last_seq(), 1);
    }
}
