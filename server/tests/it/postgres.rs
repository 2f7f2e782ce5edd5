//! The server on PostgreSQL: boards survive a restart, history and votes work; and two
//! stores ("two servers") on one database never log the same point, migrate once, and
//! share one signing key.
//!
//! Each test works in a schema of its own (`test_<random>`, dropped at the end), so the
//! tests run in parallel. The database comes from `COMMONBOARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); if it does not answer, the tests are
//! skipped with a message, or fail when `CI` is set.

use std::sync::Arc;
use std::time::Duration;

use commonboard_protocol::app::ClientMessage;
use commonboard_protocol::history::BoardStateAt;
use commonboard_server::config::Config;
use commonboard_server::store::postgres::{describe, PostgresStore};
use commonboard_server::store::{
    committed, BallotRow, BoardRecord, Store, StoreError, StoreLocation, VoteRecord, Write,
};
use futures_util::future::join_all;

use crate::client::Peer;
use crate::store_contract::{commit, entry, read};
use crate::votes::{board_with_vote, next_ballot, next_vote, send, settings, voter};
use crate::{config_in, spawn_app_with, PATIENCE};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own in the test database, dropped when this is dropped.
pub struct TestDatabase {
    base: String,
    schema: String,
}

impl TestDatabase {
    /// Creates a fresh schema; `None` (after saying why) when PostgreSQL does not answer
    /// and `CI` is not set.
    pub async fn create() -> Option<TestDatabase> {
        let base = std::env::var("COMMONBOARD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.into());
        let schema = format!("test_{:016x}", rand::random::<u64>());
        let (url, statement) = (base.clone(), format!("CREATE SCHEMA {schema}"));
        let created = tokio::task::spawn_blocking(move || connect(&url)?.batch_execute(&statement)).await.unwrap();
        let created = created.map_err(|error| describe(&error));
        match created {
            Ok(()) => Some(TestDatabase { base, schema }),
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL at {base} does not answer ({error}) and CI is set")
            }
            Err(error) => {
                eprintln!("SKIPPED: PostgreSQL at {base} does not answer ({error}); start one or set COMMONBOARD_TEST_POSTGRES");
                None
            }
        }
    }

    /// The URL of the test database with this schema first on the search path (and as
    /// the connections' application name, to find them).
    pub fn url(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        let schema = &self.schema;
        format!("{}{separator}options=-c%20search_path%3D{schema}&application_name={schema}", self.base)
    }

    pub fn location(&self) -> StoreLocation {
        StoreLocation::Postgres(self.url())
    }

    /// Opens a store on this schema, off the async runtime.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        let url = self.url();
        tokio::task::spawn_blocking(move || Ok(Arc::new(PostgresStore::connect(&url)?) as Arc<dyn Store>))
            .await
            .unwrap()
    }

    /// Runs a query on this schema and returns the first column of each row as text.
    pub async fn query(&self, sql: &str) -> Vec<String> {
        let (url, sql) = (self.url(), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            let rows = connect(&url).unwrap().query(&sql, &[]).unwrap();
            rows.iter().map(|row| row.get::<_, String>(0)).collect()
        })
        .await
        .unwrap()
    }

    /// Runs statements on this schema.
    pub async fn execute(&self, sql: &str) {
        let (url, sql) = (self.url(), sql.to_owned());
        tokio::task::spawn_blocking(move || connect(&url).unwrap().batch_execute(&sql).unwrap()).await.unwrap();
    }

    /// A server config on this schema.
    pub fn config(&self, dir: &std::path::Path) -> Config {
        Config { store: self.location(), ..config_in(dir) }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // The client blocks on a runtime of its own: not on the test's async thread.
        let (base, statement) = (self.base.clone(), format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        let dropped = std::thread::spawn(move || connect(&base)?.batch_execute(&statement)).join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test schema {}: {error}", self.schema);
        }
    }
}

fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    config.connect(postgres::NoTls)
}

#[tokio::test]
async fn a_server_on_postgres_keeps_boards_history_and_votes_across_a_restart() {
    let Some(db) = TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = Config { checkpoint_every: 7, ..db.config(dir.path()) };
    let server = spawn_app_with(config.clone()).await;
    let health: serde_json::Value = reqwest::get(server.http("/healthz")).await.unwrap().json().await.unwrap();
    assert_eq!((health["status"].as_str(), health["store"]["kind"].as_str()), (Some("ok"), Some("postgres")));

    let links = server.create_board_links("On PostgreSQL").await;
    let mut ana = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let mut ben = Peer::join_as(server.addr, &links.path(&links.participant), "Ben").await;
    for i in 0..12 {
        ana.add_note(&format!("a{i}"), "from Ana").await;
    }
    ben.add_note("b0", "from Ben").await;
    ana.pump_until(|p| p.note_count() == 13).await;
    ben.pump_until(|p| p.note_count() == 13).await;
    let expected = ana.snapshot();
    assert_eq!(ben.snapshot(), expected);
    let (vote_links, _facilitator, vote) = board_with_vote(&server, settings(3, 2, false, None)).await;
    let mut cleo = voter(server.addr, &vote_links.path(&vote_links.participant), "Cleo").await;
    send(&mut cleo, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    next_vote(&mut cleo).await;
    assert_eq!(next_ballot(&mut cleo).await, (vec![("goal-a".to_string(), 1)], 2));
    let cleo_token = cleo.token.clone();
    server.stop().await;
    // The data is in PostgreSQL, not the data directory.
    assert!(!dir.path().join("commonboard.sqlite3").exists());

    let server = spawn_app_with(config).await;
    let mut again = Peer::join(server.addr, &links.path(&links.participant)).await;
    again.pump_until(|p| p.snapshot() == expected).await;
    // The board at its first point: created, no notes yet.
    let response = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/state?at=1", links.id)))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first: BoardStateAt = response.json().await.unwrap();
    assert_eq!((first.seq, first.exact, first.board.notes.len()), (1, true, 0));
    // The vote is still open with Cleo's ballot, and the budget still counts it (Cleo
    // comes back as herself, with the personal token she was given).
    let cleo_token = cleo_token.expect("a personal token");
    let mut cleo = Peer::join_as(server.addr, &vote_links.path(&cleo_token), "Cleo").await;
    cleo.hello().await;
    assert!(next_vote(&mut cleo).await.open);
    assert_eq!(next_ballot(&mut cleo).await, (vec![("goal-a".to_string(), 1)], 2));
    send(&mut cleo, ClientMessage::CastVote { vote, candidate: "goal-b".into() }).await;
    assert_eq!(next_ballot(&mut cleo).await, (vec![("goal-a".to_string(), 1), ("goal-b".to_string(), 1)], 1));
    server.stop().await;
}

#[tokio::test]
async fn two_stores_on_one_database_never_log_the_same_point() {
    let Some(db) = TestDatabase::create().await else { return };
    let (a, b) = (db.open().await.unwrap(), db.open().await.unwrap());
    commit(
        &a,
        vec![Write::CreateBoard(BoardRecord::blank("b")), Write::Append { board: "b".into(), entries: vec![entry(1)] }],
    )
    .await;

    // B has not seen A's point 1: its own point 1 is refused, and so is a gap.
    let append = |seq: u64| vec![Write::Append { board: "b".into(), entries: vec![entry(seq)] }];
    let taken = committed(b.submit(append(1))).await;
    assert!(matches!(&taken, Err(StoreError::SeqTaken { seq: 1, .. })), "{taken:?}");
    let gap = committed(b.submit(append(3))).await;
    assert!(matches!(&gap, Err(StoreError::SeqGap { expected: 2, got: 3, .. })), "{gap:?}");
    assert!(gap.unwrap_err().to_string().contains("next position is 2"));

    // Both append point 2 at once, twenty times over: exactly one wins each round.
    for seq in 2..22 {
        let results = join_all([committed(a.submit(append(seq))), committed(b.submit(append(seq)))]).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "point {seq}: {results:?}");
        let lost = results.into_iter().find_map(Result::err).unwrap();
        assert!(matches!(lost, StoreError::SeqTaken { seq: taken, .. } if taken == seq), "{lost:?}");
    }
    let log = read(&b, |s| s.log("b", 1, 100)).await;
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..22).collect::<Vec<_>>());
}

#[tokio::test]
async fn servers_starting_together_migrate_once_and_share_one_signing_key() {
    let Some(db) = TestDatabase::create().await else { return };
    let stores = join_all((0..4).map(|_| db.open())).await;
    let stores: Vec<Arc<dyn Store>> = stores.into_iter().map(Result::unwrap).collect();
    let versions = db.query("SELECT version::TEXT FROM schema_migrations ORDER BY version").await;
    assert_eq!(versions, ["1", "2", "3", "4", "5", "6", "7"]);

    let keys = join_all(stores.iter().map(|store| read(store, |s| s.shared_signing_key()))).await;
    let first = keys[0].clone().unwrap();
    assert_eq!(first.len(), 64);
    assert!(keys.iter().all(|key| key.as_deref() == Some(first.as_str())), "{keys:?}");
    drop(stores);

    // A database migrated by a newer server is refused, not written to.
    db.query("INSERT INTO schema_migrations (version) VALUES (99) RETURNING version::TEXT").await;
    let refused = db.open().await.err().unwrap();
    assert!(refused.to_string().contains("newer than this server's"), "{refused}");
}

#[tokio::test]
async fn the_database_refuses_ballots_over_budget_or_on_a_closed_vote_from_any_server() {
    let Some(db) = TestDatabase::create().await else { return };
    let (a, b) = (db.open().await.unwrap(), db.open().await.unwrap());
    let vote = |open: bool| Write::Vote {
        board: "b".into(),
        vote: VoteRecord {
            id: "v".into(),
            settings_json: serde_json::to_string(&settings(3, 2, false, None)).unwrap(),
            opened_at_ms: 1,
            closes_at_ms: None,
            open,
            revealed: false,
        },
    };
    let ballot = |voter: &str, candidate: &str, count: u32| {
        let row = BallotRow { voter: voter.into(), name: voter.into(), candidate: candidate.into(), count };
        vec![Write::Ballot { board: "b".into(), vote: "v".into(), ballot: row }]
    };
    commit(&a, vec![Write::CreateBoard(BoardRecord::blank("b")), vote(true)]).await;
    commit(&a, ballot("ana", "goal-a", 2)).await;
    let refused = |result: Result<(), StoreError>, why: &str| match result {
        Err(StoreError::Refused { reason, .. }) => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    };
    refused(committed(b.submit(ballot("ana", "goal-b", 2))).await, "over the budget");
    refused(committed(b.submit(ballot("ana", "goal-a", 3))).await, "over the limit");
    commit(&b, ballot("ana", "goal-b", 1)).await;

    // Two servers each take Ben's last votes at once: the budget holds.
    for round in 0..10 {
        let voter = format!("ben{round}");
        commit(&a, ballot(&voter, "goal-a", 1)).await;
        let (on_a, on_b) = (ballot(&voter, "goal-b", 2), ballot(&voter, "goal-c", 2));
        let results = join_all([committed(a.submit(on_a)), committed(b.submit(on_b))]).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
    }

    // Closed on one server: refused from the other.
    commit(&a, vec![vote(false)]).await;
    refused(committed(b.submit(ballot("cleo", "goal-a", 1))).await, "is closed");
    let votes = read(&b, |s| s.votes("b")).await;
    let ana: u32 = votes[0].1.iter().filter(|row| row.voter == "ana").map(|row| row.count).sum();
    assert_eq!((ana, votes[0].1.len()), (3, 2 + 10 * 2));
}

#[tokio::test]
async fn the_writer_reconnects_when_its_connection_is_cut() {
    let Some(db) = TestDatabase::create().await else { return };
    let store = db.open().await.unwrap();
    commit(
        &store,
        vec![Write::CreateBoard(BoardRecord::blank("b")), Write::Append { board: "b".into(), entries: vec![entry(1)] }],
    )
    .await;
    let cut = db
        .query(&format!(
            "SELECT pg_terminate_backend(pid)::TEXT FROM pg_stat_activity
             WHERE application_name = '{}' AND pid <> pg_backend_pid()",
            db.schema
        ))
        .await;
    assert!(cut.len() >= 2, "the writer's and a reader's connections: {cut:?}");
    commit(&store, vec![Write::Append { board: "b".into(), entries: vec![entry(2)] }]).await;
    let log = read(&store, |s| s.log("b", 1, 10)).await;
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
}

/// A login role of its own, dropped with what it owns.
struct TestRole {
    name: String,
    admin_url: String,
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let sql = format!("DROP OWNED BY {name}; DROP ROLE {name}");
        let dropped = std::thread::spawn(move || connect(&url)?.batch_execute(&sql)).join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test role {}: {error}", self.name);
        }
    }
}

async fn health(server: &crate::TestServer) -> (u16, serde_json::Value) {
    let response = reqwest::get(server.http("/healthz")).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn healthz_says_so_when_the_database_stops_answering() {
    let Some(db) = TestDatabase::create().await else { return };
    let role = TestRole { name: db.schema.clone(), admin_url: db.url() };
    db.execute(&format!("CREATE ROLE {0} LOGIN; GRANT ALL ON SCHEMA {0} TO {0}", role.name)).await;
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config { store: StoreLocation::Postgres(format!("{}&user={}", db.url(), role.name)), ..config_in(dir.path()) };
    let server = spawn_app_with(config).await;
    let (status, body) = health(&server).await;
    assert_eq!((status, &body["store"]), (200, &serde_json::json!({ "kind": "postgres", "ok": true })));

    // The server's role may no longer log in, and its connections are cut.
    db.execute(&format!(
        "ALTER ROLE {0} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{0}'",
        role.name
    ))
    .await;
    let (status, body) = health(&server).await;
    assert_eq!((status, body["status"].as_str(), &body["store"]["ok"]), (503, Some("unavailable"), &false.into()));

    db.execute(&format!("ALTER ROLE {} LOGIN", role.name)).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while health(&server).await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the store never answered again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_board_takes_its_webhooks_with_it() {
    let Some(db) = TestDatabase::create().await else { return };
    let store = db.open().await.unwrap();
    let hook = |board: &str| {
        Write::Webhook(commonboard_server::store::StoredWebhook {
            board: board.into(),
            id: "h".into(),
            url: "http://10.0.0.1/".into(),
            events: Vec::new(),
            secret: "s".into(),
            registered_by: "facilitator".into(),
            created_at_ms: 1,
        })
    };
    commit(
        &store,
        vec![
            Write::CreateBoard(BoardRecord::blank("a")),
            Write::CreateBoard(BoardRecord::blank("b")),
            hook("a"),
            hook("b"),
        ],
    )
    .await;
    // No board, no hook: the database refuses it.
    assert!(committed(store.submit(vec![hook("ghost")])).await.is_err());
    assert_eq!(db.query("DELETE FROM boards WHERE id = 'a' RETURNING id").await, ["a"]);
    let left = read(&store, |s| s.webhooks()).await;
    assert_eq!(left.iter().map(|h| h.board.as_str()).collect::<Vec<_>>(), ["b"]);
}
