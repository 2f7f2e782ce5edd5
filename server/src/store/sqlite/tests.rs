//! Tests of the SQLite store: a full disk, the pool of read connections, their cache.

use super::schema::MIGRATIONS;
use super::write::commit;
use super::*;

fn entry(seq: u64) -> LogEntry {
    LogEntry { seq, at_ms: 1000 + seq as i64, author: Author::server(), update: vec![seq as u8] }
}

fn record(id: &str) -> BoardRecord {
    BoardRecord::blank(id)
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
