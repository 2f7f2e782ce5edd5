//! The embedded store: one SQLite file in WAL mode under the data directory.
//!
//! One writer thread owns the write connection. It takes every batch waiting in its
//! queue, writes each in its own savepoint (so one bad batch fails alone) and commits
//! them together: one fsync for all the boards that changed meanwhile (group commit),
//! and no database work on the async runtime. Reads use a small pool of read-only
//! connections; WAL lets them run while the writer commits.
//!
//! `schema` holds the migrations, `read` the queries that load a board, `write` the
//! writer thread and what each write does; the `Store` methods are here.

use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

mod read;
mod schema;
#[cfg(test)]
mod tests;
mod write;

use self::read::{checkpoint_at_or_before, clamp, log_entry, read_board, read_log, read_votes, read_written};
use self::schema::migrate;
use self::write::write_loop;
use super::group::Request;
use super::{
    newest_intact, newest_intact_read, Activity, Author, BoardEvent, BoardRecord, Checkpoint, Committed, LogEntry,
    LogQuery, LogStats, Store, StoreError, StoredBoard, StoredPrivateNote, StoredVote, StoredWebhook, Write,
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
            let (checkpoint, checkpoint_clocks) =
                newest_intact_read(u64::MAX, |bound| checkpoint_at_or_before(&tx, id, bound))?.unzip();
            let checkpoint_clocks = checkpoint_clocks.flatten();
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
            Ok(Some(StoredBoard {
                record,
                checkpoint,
                tail,
                votes,
                workshop,
                private_notes,
                written,
                checkpoint_clocks,
            }))
        })
    }

    fn votes(&self, id: &str) -> Result<Vec<StoredVote>, StoreError> {
        self.with_reader(|conn| read_votes(conn, id))
    }

    fn log(&self, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
        self.with_reader(|conn| read_log(conn, id, from, to))
    }

    fn checkpoint_at_or_before(&self, id: &str, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        self.with_reader(|conn| newest_intact(seq, |bound| checkpoint_at_or_before(conn, id, bound)))
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

    fn summaries(&self, id: &str, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError> {
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT seq, changes FROM summaries WHERE board = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq",
            )?;
            let rows =
                statement.query_map(params![id, clamp(from), clamp(to)], |row| Ok((row.get(0)?, row.get(1)?)))?;
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
