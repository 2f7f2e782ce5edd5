//! The store contract: every `Store` implementation (embedded SQLite, PostgreSQL) reads
//! back what was written, with the same ordering and the same answers. Each test runs
//! once per backend (`<test>::sqlite`, `<test>::postgres`).

use std::sync::Arc;

use commonboard_server::store::{
    self, committed, seal, Activity, Author, BallotRow, BoardEvent, BoardRecord, Checkpoint, LogEntry, LogQuery,
    StateEncoding, Store, StoreError, StoreLocation, StoredPrivateNote, StoredWebhook, VoteRecord, Write,
};

use crate::postgres::TestDatabase;

/// Where a test's store lives; dropping it removes the data.
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Backend {
    async fn sqlite() -> Option<Backend> {
        Some(Backend::Sqlite(tempfile::tempdir().unwrap()))
    }

    async fn postgres() -> Option<Backend> {
        TestDatabase::create().await.map(Backend::Postgres)
    }

    /// Opens (or reopens) the store, off the async runtime as the server does.
    async fn open(&self) -> Arc<dyn Store> {
        let (location, dir) = match self {
            Backend::Sqlite(dir) => (StoreLocation::Sqlite, dir.path().to_owned()),
            Backend::Postgres(db) => (db.location(), std::env::temp_dir()),
        };
        tokio::task::spawn_blocking(move || store::open(&location, &dir)).await.unwrap().unwrap()
    }
}

/// One `#[tokio::test]` per backend for each contract function.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                if let Some(backend) = super::Backend::sqlite().await {
                    super::$name(backend).await;
                }
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(backend) = super::Backend::postgres().await {
                    super::$name(backend).await;
                }
            }
        }
    )*};
}

contract!(
    log_and_checkpoints_load_back,
    a_failing_batch_fails_alone,
    reopening_keeps_everything,
    votes_workshops_and_private_notes_read_back,
    history_reads_answer_the_same,
    a_closed_store_refuses_writes,
    webhooks_read_back_and_are_deleted,
    a_damaged_checkpoint_is_passed_over_for_the_one_before,
    summaries_are_kept_replaced_and_compacted,
);

/// Commits a batch, which must succeed.
pub async fn commit(store: &Arc<dyn Store>, writes: Vec<Write>) {
    committed(store.submit(writes)).await.unwrap();
}

/// Runs a blocking read off the async runtime, as the server does.
pub async fn read<T: Send + 'static>(
    store: &Arc<dyn Store>,
    read: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> T {
    let store = store.clone();
    tokio::task::spawn_blocking(move || read(store.as_ref())).await.unwrap().unwrap()
}

pub fn entry(seq: u64) -> LogEntry {
    LogEntry { seq, at_ms: 1000 + seq as i64, author: Author::server(), update: vec![seq as u8] }
}

fn by(seq: u64, id: &str, name: &str) -> LogEntry {
    LogEntry { author: Author { id: id.into(), name: name.into() }, ..entry(seq) }
}

fn append(board: &str, entries: Vec<LogEntry>) -> Write {
    Write::Append { board: board.into(), entries }
}

async fn log_and_checkpoints_load_back(backend: Backend) {
    let store = backend.open().await;
    commit(
        &store,
        vec![
            Write::CreateBoard(BoardRecord::blank("b")),
            append("b", vec![entry(1), entry(2)]),
            Write::Checkpoint {
                board: "b".into(),
                checkpoint: Checkpoint { seq: 2, at_ms: 5, encoding: StateEncoding::V2, state: vec![9] },
            },
            append("b", vec![entry(3)]),
        ],
    )
    .await;
    commit(
        &store,
        vec![
            Write::LinksGeneration { board: "b".into(), generation: 2 },
            Write::Locked { board: "b".into(), locked: true },
        ],
    )
    .await;
    let loaded = read(&store, |s| s.load("b")).await.unwrap();
    assert_eq!((loaded.record.links_generation, loaded.record.locked), (2, true));
    assert_eq!(read(&store, |s| s.board("b")).await, Some(loaded.record.clone()));
    let checkpoint = loaded.checkpoint.unwrap();
    assert_eq!((checkpoint.seq, checkpoint.encoding, checkpoint.state), (2, StateEncoding::V2, vec![9]));
    assert_eq!(loaded.tail, vec![entry(3)]);
    assert_eq!(read(&store, |s| s.log("b", 1, 2)).await, vec![entry(1), entry(2)]);
    assert!(read(&store, |s| s.load("missing")).await.is_none());
}

async fn a_failing_batch_fails_alone(backend: Backend) {
    let store = backend.open().await;
    commit(&store, vec![Write::CreateBoard(BoardRecord::blank("b"))]).await;
    let duplicate = store.submit(vec![Write::CreateBoard(BoardRecord::blank("b"))]);
    let fine = store.submit(vec![append("b", vec![entry(1)])]);
    assert!(matches!(committed(duplicate).await, Err(StoreError::BoardExists(_))));
    committed(fine).await.unwrap();
    assert_eq!(read(&store, |s| s.log("b", 1, 10)).await.len(), 1);
}

async fn reopening_keeps_everything(backend: Backend) {
    {
        let store = backend.open().await;
        commit(&store, vec![Write::CreateBoard(BoardRecord::blank("b")), append("b", vec![entry(1)])]).await;
    }
    let store = backend.open().await;
    assert_eq!(read(&store, |s| s.load("b")).await.unwrap().last_seq(), 1);
}

async fn votes_workshops_and_private_notes_read_back(backend: Backend) {
    let store = backend.open().await;
    let vote = |id: &str, opened_at_ms: i64, open: bool| VoteRecord {
        id: id.into(),
        settings_json: format!("{{\"title\":\"{id}\"}}"),
        opened_at_ms,
        closes_at_ms: open.then_some(opened_at_ms + 60_000),
        open,
        revealed: !open,
    };
    let ballot = |voter: &str, candidate: &str, count: u32| BallotRow {
        voter: voter.into(),
        name: voter.to_uppercase(),
        candidate: candidate.into(),
        count,
    };
    let note = |id: &str| StoredPrivateNote {
        id: id.into(),
        author: Author { id: "p:ana".into(), name: "Ana".into() },
        note_json: format!("{{\"text\":\"{id}\"}}"),
    };
    let b = || "b".to_string();
    commit(
        &store,
        vec![
            Write::CreateBoard(BoardRecord::blank("b")),
            Write::Vote { board: b(), vote: vote("late", 20, true) },
            Write::Vote { board: b(), vote: vote("early", 10, true) },
            Write::Ballot { board: b(), vote: "early".into(), ballot: ballot("ben", "c2", 1) },
            Write::Ballot { board: b(), vote: "early".into(), ballot: ballot("ana", "c1", 1) },
            Write::Workshop { board: b(), state_json: "{\"step\":1}".into() },
            Write::PrivateNote { board: b(), id: "n2".into(), note: Some(note("n2")) },
            Write::PrivateNote { board: b(), id: "n1".into(), note: Some(note("n1")) },
        ],
    )
    .await;
    // Later writes replace: the vote closes, a ballot grows, the flow moves on, a note goes.
    commit(
        &store,
        vec![
            Write::Ballot { board: b(), vote: "early".into(), ballot: ballot("ana", "c1", 2) },
            Write::Vote { board: b(), vote: vote("early", 10, false) },
            Write::Workshop { board: b(), state_json: "{\"step\":2}".into() },
            Write::PrivateNote { board: b(), id: "n1".into(), note: None },
        ],
    )
    .await;
    let loaded = read(&store, |s| s.load("b")).await.unwrap();
    let expected = vec![
        (vote("early", 10, false), vec![ballot("ana", "c1", 2), ballot("ben", "c2", 1)]),
        (vote("late", 20, true), vec![]),
    ];
    assert_eq!(loaded.votes, expected);
    assert_eq!(read(&store, |s| s.votes("b")).await, expected);
    assert_eq!(loaded.workshop.as_deref(), Some("{\"step\":2}"));
    assert_eq!(read(&store, |s| s.workshop("b")).await.as_deref(), Some("{\"step\":2}"));
    assert_eq!(loaded.private_notes, vec![note("n2")]);

    commit(&store, vec![Write::ClearPrivateNotes { board: b() }]).await;
    assert!(read(&store, |s| s.load("b")).await.unwrap().private_notes.is_empty());
    assert_eq!(read(&store, |s| s.workshop("missing")).await, None);
}

async fn history_reads_answer_the_same(backend: Backend) {
    let store = backend.open().await;
    let event = |seq: u64, who: &str, what: &str| BoardEvent {
        seq,
        at_ms: 1000 + seq as i64,
        author: Author { id: who.into(), name: who.to_uppercase() },
        change_json: what.into(),
    };
    let cp = Checkpoint { seq: 4, at_ms: 1004, encoding: StateEncoding::V2, state: vec![4, 4] };
    commit(
        &store,
        vec![
            Write::CreateBoard(BoardRecord::blank("b")),
            Write::CreateBoard(BoardRecord::blank("a")),
            append("b", vec![by(1, "p:ana", "Ana"), by(2, "p:ben", "Ben"), entry(3), by(4, "p:ben", "Ben")]),
            Write::Checkpoint { board: "b".into(), checkpoint: cp.clone() },
            append("b", vec![by(5, "p:ana", "Ana B."), by(6, "p:ana", "Ana B.")]),
            Write::Event { board: "b".into(), event: event(3, "p:ben", "first") },
            Write::Event { board: "b".into(), event: event(3, "server", "second") },
            Write::Event { board: "b".into(), event: event(5, "p:cleo", "third") },
        ],
    )
    .await;
    let log = |from, to| move |s: &dyn Store| s.log("b", from, to);
    assert_eq!(read(&store, log(2, 4)).await.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(read(&store, |s| s.checkpoint_at_or_before("b", 5)).await, Some(cp.clone()));
    assert_eq!(read(&store, |s| s.checkpoint_at_or_before("b", 3)).await, None);
    assert_eq!(read(&store, |s| s.seq_at_time("b", 1003)).await, Some((3, 1003)));
    assert_eq!(read(&store, |s| s.seq_at_time("b", 999)).await, None);
    let newest_two = LogQuery { before: 6, limit: 2, ..LogQuery::default() };
    let page = read(&store, move |s| s.query_log("b", &newest_two)).await;
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 4]);
    let anas =
        LogQuery { before: u64::MAX, limit: 10, author: Some("p:ana".into()), since_ms: Some(1002), until_ms: None };
    let page = read(&store, move |s| s.query_log("b", &anas)).await;
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 5]);
    let events = read(&store, |s| s.events("b", 3, 5)).await;
    assert_eq!(events.iter().map(|e| e.change_json.as_str()).collect::<Vec<_>>(), ["first", "second", "third"]);
    assert_eq!(read(&store, |s| s.events("b", 4, 4)).await, vec![]);
    assert_eq!((read(&store, |s| s.last_seq("b")).await, read(&store, |s| s.last_seq("nope")).await), (6, 0));

    let stats = read(&store, |s| s.log_stats("b")).await;
    assert_eq!((stats.first_seq, stats.last_seq, stats.updates, stats.update_bytes), (1, 6, 6, 6));
    assert_eq!(
        (stats.checkpoints, stats.checkpoint_bytes, stats.first_checkpoint, stats.compacted_through),
        (1, 2, 4, 0)
    );
    // Six updates at 1001..=1006 in three stretches of 5/3 ms.
    let activity = read(&store, |s| s.activity("b", 3)).await;
    assert_eq!(activity, Activity { start_ms: 1001, end_ms: 1006, buckets: vec![(0, 2, 2), (1, 2, 4), (2, 2, 6)] });
    assert_eq!(read(&store, |s| s.activity("a", 3)).await, Activity::default());
    // Each author once, by first appearance, with the name they first had; not the server.
    let authors = read(&store, |s| s.authors("b")).await;
    let expected = [("p:ana", "Ana"), ("p:ben", "Ben"), ("p:cleo", "P:CLEO")];
    assert_eq!(authors.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect::<Vec<_>>(), expected);
    assert_eq!(read(&store, |s| s.board_ids()).await, ["a", "b"]);
    // Each author's share: the bytes of their logged updates (one byte each here).
    let written = read(&store, |s| s.load("b")).await.unwrap().written;
    let share = |rows: &[(&str, u64)]| rows.iter().map(|(id, n)| (id.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(written, share(&[("p:ana", 3), ("p:ben", 2), ("server", 1)]));

    // Compaction drops the log through a checkpoint; the checkpoint answers for that time.
    commit(&store, vec![Write::Compact { board: "b".into(), through: 4 }]).await;
    let stats = read(&store, |s| s.log_stats("b")).await;
    assert_eq!((stats.first_seq, stats.last_seq, stats.updates, stats.compacted_through), (5, 6, 2, 4));
    assert_eq!(read(&store, log(1, 6)).await.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
    assert_eq!(read(&store, |s| s.seq_at_time("b", 1004)).await, Some((4, 1004)));
    assert_eq!(read(&store, |s| s.seq_at_time("b", 1003)).await, None);
    let loaded = read(&store, |s| s.load("b")).await.unwrap();
    assert_eq!((loaded.last_seq(), loaded.checkpoint), (6, Some(cp)));
    // What compaction dropped no longer counts in anyone's share, unless it was saved.
    assert_eq!(loaded.written, share(&[("p:ana", 2)]));
    let saved = Write::Shares { board: "b".into(), through: 4, written: share(&[("p:ana", 10), ("p:ben", 20)]) };
    commit(&store, vec![saved]).await;
    let written = read(&store, |s| s.load("b")).await.unwrap().written;
    assert_eq!(written, share(&[("p:ana", 12), ("p:ben", 20)]), "saved through 4, and 5 and 6 logged after");
    let saved = Write::Shares { board: "b".into(), through: 6, written: share(&[("p:cleo", 1)]) };
    commit(&store, vec![saved]).await;
    assert_eq!(read(&store, |s| s.load("b")).await.unwrap().written, share(&[("p:cleo", 1)]));
}

/// Descriptions of logged updates (`Write::Summaries`) read back by point, a newer one
/// replaces an older, and compaction drops them with their updates.
async fn summaries_are_kept_replaced_and_compacted(backend: Backend) {
    let store = backend.open().await;
    let cp = Checkpoint { seq: 2, at_ms: 1002, encoding: StateEncoding::V2, state: vec![2] };
    let keep = |rows: &[(u64, &str)]| Write::Summaries {
        board: "b".into(),
        rows: rows.iter().map(|(seq, json)| (*seq, json.to_string())).collect(),
    };
    commit(
        &store,
        vec![
            Write::CreateBoard(BoardRecord::blank("b")),
            append("b", vec![entry(1), entry(2), entry(3)]),
            Write::Checkpoint { board: "b".into(), checkpoint: cp },
            keep(&[(1, "[1]"), (3, "[3]")]),
        ],
    )
    .await;
    let kept = |from, to| move |s: &dyn Store| s.summaries("b", from, to);
    let owned = |rows: &[(u64, &str)]| rows.iter().map(|(seq, json)| (*seq, json.to_string())).collect::<Vec<_>>();
    assert_eq!(read(&store, kept(1, 3)).await, owned(&[(1, "[1]"), (3, "[3]")]));
    assert_eq!(read(&store, kept(2, 2)).await, owned(&[]));
    commit(&store, vec![keep(&[(3, "[\"again\"]"), (2, "[2]")])]).await;
    assert_eq!(read(&store, kept(2, 9)).await, owned(&[(2, "[2]"), (3, "[\"again\"]")]));
    commit(&store, vec![Write::Compact { board: "b".into(), through: 2 }]).await;
    assert_eq!(read(&store, kept(1, 9)).await, owned(&[(3, "[\"again\"]")]));
}

async fn a_closed_store_refuses_writes(backend: Backend) {
    let store = backend.open().await;
    commit(&store, vec![Write::CreateBoard(BoardRecord::blank("b"))]).await;
    let closing = store.clone();
    tokio::task::spawn_blocking(move || closing.close()).await.unwrap();
    let refused = committed(store.submit(vec![append("b", vec![entry(1)])])).await;
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
}

fn webhook(board: &str, id: &str, url: &str, created_at_ms: i64) -> StoredWebhook {
    StoredWebhook {
        board: board.into(),
        id: id.into(),
        url: url.into(),
        events: vec!["vote.closed".into(), "actions.changed".into()],
        secret: format!("whsec_{id}"),
        registered_by: "p:fay".into(),
        created_at_ms,
    }
}

async fn webhooks_read_back_and_are_deleted(backend: Backend) {
    let (b, a) = (|| "b".to_owned(), || "a".to_owned());
    {
        let store = backend.open().await;
        assert!(read(&store, |s| s.webhooks()).await.is_empty());
        let every_event = StoredWebhook { events: Vec::new(), ..webhook("a", "h3", "http://10.0.0.3/", 5) };
        commit(
            &store,
            vec![
                Write::CreateBoard(BoardRecord::blank("b")),
                Write::CreateBoard(BoardRecord::blank("a")),
                Write::Webhook(webhook("b", "h2", "http://10.0.0.2/hook", 20)),
                Write::Webhook(webhook("b", "h1", "http://10.0.0.1/hook", 10)),
                Write::Webhook(every_event.clone()),
            ],
        )
        .await;
        let all = read(&store, |s| s.webhooks()).await;
        assert_eq!(
            all,
            [
                every_event,
                webhook("b", "h1", "http://10.0.0.1/hook", 10),
                webhook("b", "h2", "http://10.0.0.2/hook", 20)
            ],
            "by board, oldest first, with secret, events and who registered them"
        );
        assert!(!format!("{:?}", all[1]).contains("whsec_"), "logged without the secret: {:?}", all[1]);

        // The same id again replaces the row; a deletion removes exactly one.
        let moved = webhook("b", "h1", "http://10.0.0.9/moved", 10);
        commit(
            &store,
            vec![
                Write::Webhook(moved.clone()),
                Write::DeleteWebhook { board: b(), id: "h2".into() },
                Write::DeleteWebhook { board: a(), id: "h1".into() },
                Write::DeleteWebhook { board: b(), id: "never".into() },
            ],
        )
        .await;
        let all = read(&store, |s| s.webhooks()).await;
        assert_eq!(
            all.iter().map(|h| (h.board.as_str(), h.id.as_str())).collect::<Vec<_>>(),
            [("a", "h3"), ("b", "h1")]
        );
        assert_eq!(all[1], moved);
    }
    // Reopened: still there.
    let store = backend.open().await;
    let all = read(&store, |s| s.webhooks()).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], webhook("b", "h1", "http://10.0.0.9/moved", 10));
    commit(&store, vec![Write::DeleteWebhook { board: a(), id: "h3".into() }]).await;
    assert_eq!(read(&store, |s| s.webhooks()).await.len(), 1);
}

/// A checkpoint damaged on disk is passed over: the board loads from the intact one
/// before it and the log after that, and a point in the past does the same.
async fn a_damaged_checkpoint_is_passed_over_for_the_one_before(backend: Backend) {
    let store = backend.open().await;
    let intact = Checkpoint { seq: 2, at_ms: 5, encoding: StateEncoding::V2Sealed, state: seal(vec![7, 7]) };
    let mut damaged = Checkpoint { seq: 4, at_ms: 6, encoding: StateEncoding::V2Sealed, state: seal(vec![8, 8]) };
    damaged.state[0] ^= 1;
    commit(
        &store,
        vec![
            Write::CreateBoard(BoardRecord::blank("b")),
            append("b", (1..=5).map(entry).collect()),
            Write::Checkpoint { board: "b".into(), checkpoint: intact.clone() },
            Write::Checkpoint { board: "b".into(), checkpoint: damaged },
        ],
    )
    .await;
    let loaded = read(&store, |s| s.load("b")).await.unwrap();
    assert_eq!(loaded.checkpoint, Some(intact.clone()));
    assert_eq!(loaded.tail, (3..=5).map(entry).collect::<Vec<_>>());
    assert_eq!(read(&store, |s| s.checkpoint_at_or_before("b", 4)).await, Some(intact));
    assert_eq!(read(&store, |s| s.checkpoint_at_or_before("b", 1)).await, None);
}
