//! Several nodes: three real `commonboard` processes sharing one PostgreSQL schema and one
//! NATS JetStream broker, with real Yjs clients spread over them.
//!
//! Each test has a PostgreSQL schema and a broker prefix of its own, so tests run in
//! parallel. The database comes from `COMMONBOARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and the broker from
//! `COMMONBOARD_TEST_NATS` (default `nats://127.0.0.1:4222`); when either does not
//! answer, the tests are skipped with a message, or fail when `CI` is set.

#[path = "it/client.rs"]
#[allow(dead_code, reason = "shared with the main test binary, which uses all of it")]
mod client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use commonboard_protocol::app::{ClientMessage, ErrorCode, ServerMessage, VoteSettings};
use commonboard_protocol::frame;
use commonboard_server::store::postgres::PostgresStore;
use commonboard_server::store::Store;
use futures_util::future::join_all;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use client::Peer;

/// How long a test waits for something that should happen within a second or two
/// (several nodes: a lease to expire, a client to reconnect).
pub const PATIENCE: Duration = Duration::from_secs(30);

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

/// A PostgreSQL schema and a broker prefix of this test's own.
struct Deployment {
    base: String,
    schema: String,
    nats: String,
    prefix: String,
    dir: tempfile::TempDir,
}

impl Deployment {
    /// `None` (after saying why) when PostgreSQL or NATS does not answer and `CI` is not set.
    async fn create() -> Option<Deployment> {
        let base = std::env::var("COMMONBOARD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        let nats = std::env::var("COMMONBOARD_TEST_NATS").unwrap_or_else(|_| DEFAULT_NATS.into());
        let suffix = format!("{:012x}", rand::random::<u64>() >> 16);
        let schema = format!("cluster_{suffix}");
        let (url, statement) = (base.clone(), format!("CREATE SCHEMA {schema}"));
        let created = tokio::task::spawn_blocking(move || {
            postgres::Client::connect(&url, postgres::NoTls)?.batch_execute(&statement)
        })
        .await
        .unwrap();
        let broker = nats.trim_start_matches("nats://").to_owned();
        let reachable = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(broker)).await;
        let missing = match (created, reachable) {
            (Err(error), _) => Some(format!("PostgreSQL at {base} does not answer ({error})")),
            (_, Err(_) | Ok(Err(_))) => Some(format!("NATS at {nats} does not answer")),
            _ => None,
        };
        if let Some(missing) = missing {
            if std::env::var_os("CI").is_some() {
                panic!("{missing} and CI is set");
            }
            eprintln!("SKIPPED: {missing}; start them or set COMMONBOARD_TEST_POSTGRES / COMMONBOARD_TEST_NATS");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        Some(Deployment { base, schema, nats, prefix: format!("t{suffix}"), dir })
    }

    fn url(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.base, self.schema)
    }

    /// Starts node `name` (its log goes to `<name>.log` in the test's directory).
    fn start(&self, name: &str) -> Node {
        self.start_with(name, &self.nats.clone())
    }

    fn start_with(&self, name: &str, broker: &str) -> Node {
        self.spawn(name, broker, &["--idle-unload", "10s"])
    }

    /// Starts node `name` with `flags`, which must include `--idle-unload`.
    fn start_flags(&self, name: &str, flags: &[&str]) -> Node {
        self.spawn(name, &self.nats.clone(), flags)
    }

    fn spawn(&self, name: &str, broker: &str, flags: &[&str]) -> Node {
        let data = self.dir.path().join(name);
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join(format!("{name}.log")));
        let mut child = Command::new(env!("CARGO_BIN_EXE_commonboard"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(["--store", &self.url(), "--broker", broker, "--broker-prefix", &self.prefix, "--node-id", name])
            .args(flags)
            .args(["--message-rate", "0"])
            .env("RUST_LOG", "commonboard_server=info")
            .stdout(Stdio::piped())
            .stderr(log.map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .spawn()
            .expect("server binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").expect("address line").parse().unwrap();
        Node { child: Some(child), addr, name: name.to_owned(), log: self.dir.path().join(format!("{name}.log")) }
    }

    /// Three nodes.
    fn start_three(&self) -> Vec<Node> {
        (0..3).map(|i| self.start(&format!("n{i}"))).collect()
    }

    /// Runs a query and returns the first column of each row as text.
    async fn query(&self, sql: &str) -> Vec<String> {
        let (url, sql) = (self.url(), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.query(&sql, &[]).unwrap().iter().map(|row| row.get::<_, String>(0)).collect()
        })
        .await
        .unwrap()
    }

    /// The node holding `board`'s live lease, once one does.
    async fn owner(&self, board: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let sql = format!("SELECT node FROM board_leases WHERE board = '{board}' AND expires_at > now()");
            if let Some(node) = self.query(&sql).await.pop() {
                return node;
            }
            assert!(tokio::time::Instant::now() < deadline, "no node owns the board");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The board as the store has it: its checkpoint and log, applied to a fresh document.
    async fn stored_doc(&self, board: &str) -> Doc {
        let (url, board) = (self.url(), board.to_owned());
        let stored = tokio::task::spawn_blocking(move || {
            let store = PostgresStore::connect(&url).unwrap();
            let stored = store.load(&board).unwrap().expect("board stored");
            store.close();
            stored
        })
        .await
        .unwrap();
        let doc = Doc::new();
        if let Some(checkpoint) = &stored.checkpoint {
            doc.transact_mut().apply_update(checkpoint.decode().unwrap()).unwrap();
        }
        for entry in &stored.tail {
            doc.transact_mut().apply_update(Update::decode_v1(&entry.update).unwrap()).unwrap();
        }
        doc
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // The stream reserves memory on the shared broker: give it back.
        let (nats, stream) = (self.nats.clone(), format!("{}_boards", self.prefix));
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(&nats).await {
                    let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
                }
            });
        })
        .join();
        let (base, statement) = (self.base.clone(), format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        // Off the async runtime: the postgres client runs a runtime of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&base, postgres::NoTls) {
                let _ = client.batch_execute(&statement);
            }
        })
        .join();
    }
}

/// One `commonboard` process.
struct Node {
    child: Option<Child>,
    addr: SocketAddr,
    name: String,
    log: std::path::PathBuf,
}

impl Node {
    /// SIGKILL: no shutdown, no lease released, no checkpoint.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the graceful shutdown; returns whether it exited cleanly.
    fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exited = child.wait().unwrap();
        if !exited.success() {
            eprintln!(
                "{} exited with {exited}; its log:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        exited.success()
    }

    /// A metric's value in `/metrics` (0 when absent).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.addr)).await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|line| line.starts_with(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates a board through node `addr`; returns (id, participant token, facilitator token).
async fn create_board(addr: SocketAddr, title: &str) -> (String, String, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/boards"))
        .json(&serde_json::json!({ "title": title, "template": "blank" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let token = |role: &str| body["links"][role].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    (body["id"].as_str().unwrap().to_owned(), token("participant"), token("facilitator"))
}

/// Whether everything `peer` holds is in `stored` (its state vector is covered).
fn covered(stored: &StateVector, peer: &StateVector) -> bool {
    peer.iter().all(|(client, clock)| stored.get(client) >= *clock)
}

/// Waits until every peer has `count` notes.
async fn converge(peers: &mut [Peer], count: u32) {
    for peer in peers.iter_mut() {
        peer.pump_until(|p| p.note_count() >= count).await;
    }
    for peer in peers.iter() {
        assert_eq!(peer.note_count(), count);
    }
}

/// Waits until every peer has `count` notes, reconnecting (through the live nodes, in
/// turn) each one whose connection ends meanwhile; returns how many were told to
/// reconnect by the server (1012).
async fn converge_reconnecting(peers: &mut [Peer], live: &[SocketAddr], path: &str, count: u32) -> usize {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut told = 0;
    let mut attempt = 0;
    // Round after round over every peer: one peer's change may wait for its reconnect.
    while peers.iter().any(|p| p.note_count() < count || p.closed.is_some()) {
        let counts: Vec<u32> = peers.iter().map(Peer::note_count).collect();
        assert!(tokio::time::Instant::now() < deadline, "not converged on {count} notes: {counts:?}");
        for i in 0..peers.len() {
            peers[i].drain_for(Duration::from_millis(50)).await;
            if let Some(closed) = peers[i].closed.clone() {
                told += usize::from(closed.code == 1012);
                attempt += 1;
                peers[i] = reconnect(&peers[i], live[(i + attempt) % live.len()], path, &format!("p{i}")).await;
            }
        }
    }
    for peer in peers.iter() {
        assert_eq!(peer.note_count(), count);
    }
    told
}

/// Connects again through `addr` with everything `old` held, as a y-websocket provider
/// does on reconnect: its state goes back to the server, which keeps what it lacks.
async fn reconnect(old: &Peer, addr: SocketAddr, board: &str, name: &str) -> Peer {
    let state = old.doc.transact().encode_state_as_update_v1(&StateVector::default());
    let mut peer = Peer::connect_as(addr, board, name).await;
    peer.doc.transact_mut().apply_update(Update::decode_v1(&state).unwrap()).unwrap();
    peer.send_raw(frame::sync_update(state)).await;
    peer
}

#[tokio::test]
async fn clients_spread_over_three_nodes_converge_and_everything_they_received_is_stored() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Spread").await;
    let path = format!("{id}?token={participant}");
    let mut peers = Vec::new();
    for i in 0..6 {
        peers.push(Peer::join_as(nodes[i % 3].addr, &path, &format!("p{i}")).await);
    }
    let owner = deployment.owner(&id).await;
    for round in 0..10 {
        for (i, peer) in peers.iter_mut().enumerate() {
            peer.add_note(&format!("p{i}-{round}"), "spread").await;
        }
    }
    converge(&mut peers, 60).await;

    let stored = deployment.stored_doc(&id).await.transact().state_vector();
    for (i, peer) in peers.iter().enumerate() {
        assert!(covered(&stored, &peer.state_vector()), "peer {i} holds something the store does not");
    }
    // The replicas did relay (not only the owner).
    for node in nodes.iter().filter(|n| !owner.starts_with(&format!("{}-", n.name))) {
        let relayed = node.metric("commonboard_broker_updates_relayed_total").await;
        assert!(relayed > 0.0, "{} relayed nothing", node.name);
    }
    assert_eq!(deployment.query(&format!("SELECT node FROM board_leases WHERE board = '{id}'")).await, [owner]);
}

#[tokio::test]
async fn sigkill_of_the_owner_during_editing_loses_nothing_and_its_clients_resume_elsewhere() {
    sigkill_during_editing(true).await;
}

#[tokio::test]
async fn sigkill_of_a_replica_during_editing_loses_nothing_and_its_clients_resume_elsewhere() {
    sigkill_during_editing(false).await;
}

async fn sigkill_during_editing(kill_owner: bool) {
    let Some(deployment) = Deployment::create().await else { return };
    let mut nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Crash").await;
    let path = format!("{id}?token={participant}");
    // The owner is the node the first client reaches.
    let mut peers = vec![Peer::join_as(nodes[0].addr, &path, "p0").await];
    for i in 1..6 {
        peers.push(Peer::join_as(nodes[i % 3].addr, &path, &format!("p{i}")).await);
    }
    let owner = deployment.owner(&id).await;
    assert!(owner.starts_with("n0-"), "{owner}");
    let victim = if kill_owner { 0 } else { 1 };

    let mut made = 0;
    for round in 0..5 {
        for (i, peer) in peers.iter_mut().enumerate() {
            peer.add_note(&format!("p{i}-{round}"), "before").await;
            made += 1;
        }
    }
    // Kill mid-stream: some of these are committed, some not.
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.add_note(&format!("p{i}-mid"), "during").await;
        made += 1;
    }
    nodes[victim].kill();
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.drain_for(Duration::from_millis(200)).await;
        assert!(peer.updates_received > 0, "peer {i} received nothing");
    }

    // Every client whose connection ends (its node died, or the board moved once the
    // dead owner's lease ran out) comes back through a live node with what it held, as
    // a y-websocket provider does, and edits on.
    let live: Vec<SocketAddr> = nodes.iter().filter(|n| n.child.is_some()).map(|n| n.addr).collect();
    let mut told_to_move = 0;
    for (i, peer) in peers.iter_mut().enumerate() {
        if i % 3 == victim {
            assert_eq!(peer.closed().await.code, 1006, "peer {i} was on the dead node");
            *peer = reconnect(peer, live[i % live.len()], &path, &format!("p{i}")).await;
        }
    }
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.add_note(&format!("p{i}-after"), "after").await;
        made += 1;
    }
    told_to_move += converge_reconnecting(&mut peers, &live, &path, made).await;
    if kill_owner {
        assert!(told_to_move > 0, "the replicas' clients were told the board moved");
    }
    let stored_doc = deployment.stored_doc(&id).await;
    let stored = stored_doc.transact().state_vector();
    for (i, peer) in peers.iter().enumerate() {
        assert!(covered(&stored, &peer.state_vector()), "peer {i} holds something the store does not");
    }
    let new_owner = deployment.owner(&id).await;
    if kill_owner {
        assert!(!new_owner.starts_with("n0-"), "a live node took the board over: {new_owner}");
    } else {
        assert_eq!(new_owner, owner);
    }
}

#[tokio::test]
async fn what_a_replica_relays_is_always_already_in_the_store() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Durable").await;
    let path = format!("{id}?token={participant}");
    let mut writer = Peer::join_as(nodes[0].addr, &path, "writer").await;
    let mut watcher = Peer::join_as(nodes[1].addr, &path, "watcher").await;
    for round in 0..20 {
        writer.add_note(&format!("w-{round}"), "durable").await;
        watcher.drain_for(Duration::from_millis(20)).await;
        // Read the store after the watcher received: it holds everything received.
        let seen = watcher.state_vector();
        let stored = deployment.stored_doc(&id).await.transact().state_vector();
        assert!(covered(&stored, &seen), "round {round}: the watcher holds something the store does not");
    }
    watcher.pump_until(|p| p.note_count() == 20).await;
}

fn vote_settings(budget: u32, max: u32) -> VoteSettings {
    VoteSettings {
        title: "Goal".into(),
        candidates: vec!["goal-a".into(), "goal-b".into(), "goal-c".into()],
        budget,
        max_per_candidate: max,
        anonymous: false,
        hidden: false,
        duration_s: None,
        roster: false,
    }
}

async fn send(peer: &mut Peer, message: ClientMessage) {
    peer.send_raw(frame::client_app(&message)).await;
}

/// Joins as `name` and says hello; returns once welcomed (with its personal token, if
/// the server issued one, in `peer.token`).
async fn hello(addr: SocketAddr, path: &str, name: &str) -> Peer {
    let mut peer = Peer::join_as(addr, path, name).await;
    peer.hello().await;
    peer
}

#[tokio::test]
async fn a_vote_cast_across_nodes_respects_every_budget_under_concurrency() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Vote").await;
    let mut fay = hello(nodes[0].addr, &format!("{id}?token={facilitator}"), "Fay").await;
    for candidate in ["goal-a", "goal-b", "goal-c"] {
        fay.add_note(candidate, "candidate").await;
    }
    fay.pump_until(|p| p.note_count() == 3).await;
    send(&mut fay, ClientMessage::OpenVote { settings: vote_settings(3, 2) }).await;
    let vote = loop {
        if let ServerMessage::Vote { vote } = fay.next_app().await {
            break vote.id;
        }
    };
    // Each voter is on two nodes at once (two devices: the second opens the board with
    // the personal token the first was given), casting from both together.
    let path = format!("{id}?token={participant}");
    let mut devices = Vec::new();
    for v in 0..6 {
        let name = format!("voter{v}");
        let first = hello(nodes[(v + 1) % 3].addr, &path, &name).await;
        let personal = format!("{id}?token={}", first.token.as_ref().expect("a personal token"));
        devices.push((name.clone(), first));
        devices.push((name.clone(), hello(nodes[(v + 2) % 3].addr, &personal, &name).await));
    }
    let casts = devices.iter_mut().map(|(_, peer)| {
        let vote = vote.clone();
        async move {
            for k in 0..4 {
                let candidate = ["goal-a", "goal-b", "goal-c"][k % 3].to_owned();
                send(peer, ClientMessage::CastVote { vote: vote.clone(), candidate }).await;
            }
            // Four answers: ballots or refusals.
            let mut answers = 0;
            while answers < 4 {
                match peer.next_app().await {
                    ServerMessage::Ballot { .. } | ServerMessage::Error { .. } => answers += 1,
                    _ => {}
                }
            }
        }
    });
    join_all(casts).await;
    let spent = deployment
        .query(&format!(
            "SELECT voter || '=' || SUM(count)::TEXT FROM ballots WHERE board = '{id}' GROUP BY voter ORDER BY voter"
        ))
        .await;
    assert_eq!(spent.len(), 6, "{spent:?}");
    for row in &spent {
        let (_, count) = row.split_once('=').unwrap();
        assert_eq!(count, "3", "every voter spent exactly the budget, no more: {spent:?}");
    }
    let over = deployment.query(&format!("SELECT voter FROM ballots WHERE board = '{id}' AND count > 2")).await;
    assert!(over.is_empty(), "over the per-candidate limit: {over:?}");
}

#[tokio::test]
async fn presence_crosses_nodes_and_expires_with_its_node() {
    let Some(deployment) = Deployment::create().await else { return };
    let mut nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Presence").await;
    let path = format!("{id}?token={participant}");
    let mut on_owner = Peer::join_as(nodes[0].addr, &path, "owner-side").await;
    let mut doomed = Peer::join_as(nodes[1].addr, &path, "doomed").await;
    let mut other = Peer::join_as(nodes[2].addr, &path, "other").await;
    assert!(deployment.owner(&id).await.starts_with("n0-"));

    doomed.set_awareness(1, r#"{"user":{"name":"doomed"}}"#).await;
    let client = doomed.client_id().get();
    on_owner.pump_until(|p| p.awareness.contains_key(&client)).await;
    other.pump_until(|p| p.awareness.contains_key(&client)).await;

    // The node dies without a word: its clients' presence goes once it is missed.
    nodes[1].kill();
    let started = std::time::Instant::now();
    on_owner.pump_until(|p| !p.awareness.contains_key(&client)).await;
    other.pump_until(|p| !p.awareness.contains_key(&client)).await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(12), "presence went after {waited:?}");
    drop(doomed);
}

#[tokio::test]
async fn a_rotated_link_is_refused_on_every_node() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Rotate").await;
    let path = format!("{id}?token={participant}");
    let mut old = Vec::new();
    for node in &nodes {
        old.push(Peer::join_as(node.addr, &path, "holder").await);
    }
    let rotated = reqwest::Client::new()
        .post(format!("http://{}/api/boards/{id}/links/rotate", nodes[1].addr))
        .bearer_auth(&facilitator)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200, "{:?}", rotated.text().await);
    let body: serde_json::Value = rotated.json().await.unwrap();
    let fresh = body["links"]["participant"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    for (i, peer) in old.iter_mut().enumerate() {
        assert_eq!(peer.closed().await.code, 4403, "old link on node {i} closed");
    }
    for (i, node) in nodes.iter().enumerate() {
        let mut again = Peer::connect_as(node.addr, &path, "holder").await;
        assert_eq!(again.closed().await.code, 4403, "old link refused on node {i}");
        let fresh = Peer::join_as(node.addr, &format!("{id}?token={fresh}"), "holder").await;
        assert!(fresh.closed.is_none());
    }
}

#[tokio::test]
async fn a_person_their_ballot_and_their_removal_are_the_same_through_any_node() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "People").await;
    let mut fay = hello(nodes[0].addr, &format!("{id}?token={facilitator}"), "Fay").await;
    for candidate in ["goal-a", "goal-b", "goal-c"] {
        fay.add_note(candidate, "candidate").await;
    }
    fay.pump_until(|p| p.note_count() == 3).await;
    assert!(deployment.owner(&id).await.starts_with("n0-"));
    send(&mut fay, ClientMessage::OpenVote { settings: vote_settings(1, 1) }).await;
    let vote = loop {
        if let ServerMessage::Vote { vote } = fay.next_app().await {
            break vote.id;
        }
    };
    // Eve joins on a replica with the shared link and votes; on another replica, with
    // the personal token she was given, she is the same person with the same budget.
    let mut eve = Peer::join_as(nodes[1].addr, &format!("{id}?token={participant}"), "Eve").await;
    let (eve_id, token) = eve.hello().await;
    let personal = format!("{id}?token={}", token.expect("a personal token"));
    send(&mut eve, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    loop {
        if let ServerMessage::Ballot { remaining: 0, .. } = eve.next_app().await {
            break;
        }
    }
    let mut eve_phone = Peer::join_as(nodes[2].addr, &personal, "Eve-phone").await;
    let (again, _) = eve_phone.hello().await;
    assert_eq!(again, eve_id);
    send(&mut eve_phone, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-b".into() }).await;
    loop {
        match eve_phone.next_app().await {
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, commonboard_protocol::app::ErrorCode::OverBudget);
                break;
            }
            ServerMessage::Ballot { remaining, .. } => assert_eq!(remaining, 0, "a second budget"),
            _ => {}
        }
    }
    eve.add_note("eve-note", "Eve was here").await;
    fay.pump_until(|p| p.note_count() == 4).await;

    // The facilitator removes her through a node that does not own the board.
    let removed = reqwest::Client::new()
        .delete(format!("http://{}/api/boards/{id}/people/{eve_id}", nodes[2].addr))
        .bearer_auth(&facilitator)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200, "{:?}", removed.text().await);
    let body: serde_json::Value = removed.json().await.unwrap();
    assert_eq!(body["connections_closed"], 2);
    for peer in [&mut eve, &mut eve_phone] {
        assert_eq!(peer.closed().await.code, 4403);
    }
    for (i, node) in nodes.iter().enumerate() {
        let mut back = Peer::connect(node.addr, &personal).await;
        assert_eq!(back.closed().await.code, 4403, "her personal token is refused on node {i}");
        let status = reqwest::Client::new()
            .get(format!("http://{}/api/boards/{id}", node.addr))
            .bearer_auth(personal.split_once("?token=").unwrap().1)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403, "node {i}");
    }
    let stored = deployment.query(&format!("SELECT person FROM removed_people WHERE board = '{id}'")).await;
    assert_eq!(stored, vec![eve_id]);
    let votes = deployment.query(&format!("SELECT SUM(count)::TEXT FROM ballots WHERE board = '{id}'")).await;
    assert_eq!(votes, vec!["1".to_owned()], "one person, one vote");
    assert_eq!(fay.snapshot().notes.iter().filter(|n| n.id == "eve-note").count(), 1, "what she wrote stays");
}

/// The new facilitator token out of a rotation's answer.
async fn rotated_facilitator(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["links"]["facilitator"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned()
}

#[tokio::test]
async fn a_rotated_facilitator_link_is_refused_and_its_connections_closed_through_any_node() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Rotate facilitator").await;
    let old_path = format!("{id}?token={facilitator}");
    let mut old = vec![Peer::join_as(nodes[0].addr, &old_path, "Fay").await];
    assert!(deployment.owner(&id).await.starts_with("n0-"));
    old.push(Peer::join_as(nodes[2].addr, &old_path, "Fay-laptop").await);
    let mut ana = Peer::join_as(nodes[1].addr, &format!("{id}?token={participant}"), "Ana").await;

    // The facilitator rotates their own link through a replica.
    let http = reqwest::Client::new();
    let rotate = |node: SocketAddr, path: &str| format!("http://{node}/api/boards/{id}/links/{path}");
    let answer = http.post(rotate(nodes[1].addr, "rotate-facilitator")).bearer_auth(&facilitator).send().await;
    let fresh = rotated_facilitator(answer.unwrap()).await;
    assert_ne!(fresh, facilitator);
    for (peer, node) in old.iter_mut().zip([0, 2]) {
        assert_eq!(peer.closed().await.code, 4403, "the old facilitator's connection on node {node}");
    }
    for (i, node) in nodes.iter().enumerate() {
        let mut again = Peer::connect_as(node.addr, &old_path, "Fay").await;
        assert_eq!(again.closed().await.code, 4403, "old facilitator link refused on node {i}");
        let info = format!("http://{}/api/boards/{id}", node.addr);
        assert_eq!(http.get(&info).bearer_auth(&facilitator).send().await.unwrap().status(), 403, "node {i}");
        for path in ["rotate", "rotate-facilitator"] {
            let status = http.post(rotate(node.addr, path)).bearer_auth(&facilitator).send().await.unwrap().status();
            assert_eq!(status, 403, "{path} with the old link on node {i}");
        }
        assert_eq!(http.get(&info).bearer_auth(&fresh).send().await.unwrap().status(), 200, "node {i}");
    }
    // The new link leads on every node; the participants' link was not touched.
    let mut fay = hello(nodes[2].addr, &format!("{id}?token={fresh}"), "Fay").await;
    ana.add_note("still", "here").await;
    fay.pump_until(|p| p.note_count() == 1).await;
    assert!(ana.closed.is_none());
}

#[tokio::test]
async fn a_roster_vote_through_any_node_takes_personal_links_only_and_budgets_hold() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Roster").await;
    let mut fay = hello(nodes[0].addr, &format!("{id}?token={facilitator}"), "Fay").await;
    for candidate in ["goal-a", "goal-b", "goal-c"] {
        fay.add_note(candidate, "candidate").await;
    }
    fay.pump_until(|p| p.note_count() == 3).await;
    assert!(deployment.owner(&id).await.starts_with("n0-"));
    send(&mut fay, ClientMessage::OpenVote { settings: VoteSettings { roster: true, ..vote_settings(1, 1) } }).await;
    let vote = loop {
        if let ServerMessage::Vote { vote } = fay.next_app().await {
            break vote.id;
        }
    };
    let cast = |candidate: &str| ClientMessage::CastVote { vote: vote.clone(), candidate: candidate.into() };

    // A guest on the shared link, on a replica, and again with the token its welcome
    // gave it on another replica: not on the roster either way.
    let mut guest = hello(nodes[1].addr, &format!("{id}?token={participant}"), "Guest").await;
    let guest_personal = format!("{id}?token={}", guest.token.clone().expect("a personal token"));
    let mut guest_again = hello(nodes[2].addr, &guest_personal, "Guest").await;
    for peer in [&mut guest, &mut guest_again] {
        send(peer, cast("goal-a")).await;
        assert_eq!(next_error(peer).await, ErrorCode::Forbidden);
    }

    // Ana's personal link, minted through a replica: she votes on one node, and her
    // second device on another finds the budget spent.
    let minted: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/api/boards/{id}/identities", nodes[2].addr))
        .bearer_auth(&facilitator)
        .json(&serde_json::json!({ "name": "Ana" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ana_id = minted["identity"].as_str().unwrap().to_owned();
    let personal = format!("{id}?token={}", minted["token"].as_str().unwrap());
    let mut ana = hello(nodes[1].addr, &personal, "Ana").await;
    send(&mut ana, cast("goal-a")).await;
    loop {
        match ana.next_app().await {
            ServerMessage::Ballot { remaining: 0, .. } => break,
            ServerMessage::Error { code, message } => panic!("Ana's vote refused: {code:?} {message}"),
            _ => {}
        }
    }
    let mut ana_phone = hello(nodes[2].addr, &personal, "Ana-phone").await;
    send(&mut ana_phone, cast("goal-b")).await;
    assert_eq!(next_error(&mut ana_phone).await, ErrorCode::OverBudget);
    loop {
        let view = loop {
            if let ServerMessage::Vote { vote } = fay.next_app().await {
                break vote;
            }
        };
        if view.turnout.is_some_and(|t| t.voted == 1) {
            break;
        }
    }
    let spent = deployment
        .query(&format!("SELECT voter || '=' || SUM(count)::TEXT FROM ballots WHERE board = '{id}' GROUP BY voter"))
        .await;
    assert_eq!(spent, vec![format!("{ana_id}=1")], "one ballot, Ana's");
}

/// The code of the next error `peer` receives (ballots, votes and the rest skipped).
async fn next_error(peer: &mut Peer) -> ErrorCode {
    loop {
        if let ServerMessage::Error { code, .. } = peer.next_app().await {
            return code;
        }
    }
}

/// Peers spread over the nodes, editing in rounds and coming back through a live node
/// whenever their connection ends.
struct Crowd {
    peers: Vec<Peer>,
    path: String,
    made: u32,
    reconnects: usize,
}

impl Crowd {
    async fn join(nodes: &[Node], path: &str, count: usize) -> Crowd {
        let mut peers = Vec::new();
        for i in 0..count {
            peers.push(Peer::join_as(nodes[i % nodes.len()].addr, path, &format!("p{i}")).await);
        }
        Crowd { peers, path: path.to_owned(), made: 0, reconnects: 0 }
    }

    /// Every peer adds a note, then takes what arrived for a moment.
    async fn round(&mut self, live: &[SocketAddr], tag: &str) {
        for i in 0..self.peers.len() {
            self.peers[i].add_note(&format!("p{i}-{tag}"), tag).await;
            self.made += 1;
        }
        for i in 0..self.peers.len() {
            self.peers[i].drain_for(Duration::from_millis(20)).await;
            if self.peers[i].closed.is_some() {
                self.reconnects += 1;
                let addr = live[(i + self.reconnects) % live.len()];
                self.peers[i] = reconnect(&self.peers[i], addr, &self.path, &format!("p{i}")).await;
            }
        }
    }
}

fn live(nodes: &[Node]) -> Vec<SocketAddr> {
    nodes.iter().filter(|n| n.child.is_some()).map(|n| n.addr).collect()
}

#[tokio::test]
async fn a_rolling_restart_under_load_loses_nothing_and_keeps_the_board_available() {
    let Some(deployment) = Deployment::create().await else { return };
    let mut nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Rolling").await;
    let mut crowd = Crowd::join(&nodes, &format!("{id}?token={participant}"), 6).await;
    for round in 0..3 {
        crowd.round(&live(&nodes), &format!("warm{round}")).await;
    }
    for k in 0..3 {
        let name = nodes[k].name.clone();
        assert!(nodes[k].terminate(), "{name} stopped cleanly");
        for round in 0..3 {
            crowd.round(&live(&nodes), &format!("{name}-down{round}")).await;
        }
        nodes[k] = deployment.start(&name);
        for round in 0..3 {
            crowd.round(&live(&nodes), &format!("{name}-up{round}")).await;
        }
    }
    let made = crowd.made;
    converge_reconnecting(&mut crowd.peers, &live(&nodes), &crowd.path, made).await;
    assert!(crowd.reconnects >= 6, "every peer moved at least once: {} reconnects", crowd.reconnects);
    let stored = deployment.stored_doc(&id).await.transact().state_vector();
    for (i, peer) in crowd.peers.iter().enumerate() {
        assert!(covered(&stored, &peer.state_vector()), "peer {i} holds something the store does not");
    }
}

/// A NATS server of this test's own, so that it can be stopped and started again.
struct PrivateBroker {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl PrivateBroker {
    /// `None` (after saying why) when `nats-server` is not installed and `CI` is not set.
    fn start(dir: &std::path::Path) -> Option<PrivateBroker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = PrivateBroker { child: None, port, dir: dir.join("nats") };
        if let Err(error) = broker.run() {
            if std::env::var_os("CI").is_some() {
                panic!("cannot start nats-server ({error}) and CI is set");
            }
            eprintln!("SKIPPED: cannot start nats-server ({error}); install the nats-server package");
            return None;
        }
        Some(broker)
    }

    fn run(&mut self) -> std::io::Result<()> {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other("nats-server did not listen"))
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn health(node: &Node) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://{}/healthz", node.addr)).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_broker_restart_heals_without_divergence() {
    let Some(deployment) = Deployment::create().await else { return };
    let Some(mut broker) = PrivateBroker::start(deployment.dir.path()) else { return };
    let nodes: Vec<Node> = (0..3).map(|i| deployment.start_with(&format!("n{i}"), &broker.url())).collect();
    let (id, participant, _) = create_board(nodes[0].addr, "Broker").await;
    let mut crowd = Crowd::join(&nodes, &format!("{id}?token={participant}"), 6).await;
    for round in 0..3 {
        crowd.round(&live(&nodes), &format!("before{round}")).await;
    }
    let (status, body) = health(&nodes[1]).await;
    assert_eq!((status, &body["broker"]["ok"]), (200, &serde_json::json!(true)), "{body}");

    broker.kill();
    for round in 0..3 {
        crowd.round(&live(&nodes), &format!("outage{round}")).await;
    }
    let (status, body) = health(&nodes[1]).await;
    assert_eq!((status, &body["broker"]["ok"]), (503, &serde_json::json!(false)), "{body}");

    broker.run().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut waiting = 0;
    while health(&nodes[1]).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the node did not get the broker back");
        crowd.round(&live(&nodes), &format!("waiting{waiting}")).await;
        waiting += 1;
    }
    for round in 0..3 {
        crowd.round(&live(&nodes), &format!("after{round}")).await;
    }
    let made = crowd.made;
    converge_reconnecting(&mut crowd.peers, &live(&nodes), &crowd.path, made).await;
    let stored = deployment.stored_doc(&id).await.transact().state_vector();
    for (i, peer) in crowd.peers.iter().enumerate() {
        assert!(covered(&stored, &peer.state_vector()), "peer {i} holds something the store does not");
    }
}

#[tokio::test]
async fn a_replica_that_missed_an_update_reads_it_from_the_store() {
    use commonboard_server::cluster::wire::{self, NodeMessage};
    use commonboard_server::store::{Author, LogEntry, Write};
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Gap").await;
    let path = format!("{id}?token={participant}");
    let mut writer = Peer::join_as(nodes[0].addr, &path, "writer").await;
    let mut watcher = Peer::join_as(nodes[1].addr, &path, "watcher").await;
    writer.add_note("first", "relayed").await;
    watcher.pump_until(|p| p.note_count() == 1).await;

    // An update is committed but its message never reaches the stream (as if lost on
    // the way): only the owner's next seq beat says the replica is behind.
    let last: u64 =
        deployment.query(&format!("SELECT MAX(seq)::TEXT FROM updates WHERE board = '{id}'")).await[0].parse().unwrap();
    let missed = {
        let doc = Doc::new();
        let board = commonboard_protocol::schema::Board::new(&doc);
        let note = commonboard_protocol::schema::Note {
            id: "missed".into(),
            text: "from the log".into(),
            ..Default::default()
        };
        let mut txn = doc.transact_mut();
        board.insert_note(&mut txn, &note);
        txn.encode_update_v1()
    };
    let entry = LogEntry { seq: last + 1, at_ms: 1, author: Author::server(), update: missed };
    let (url, board) = (deployment.url(), id.clone());
    tokio::task::spawn_blocking(move || {
        let store = PostgresStore::connect(&url).unwrap();
        let result = store.submit(vec![Write::Append { board, entries: vec![entry] }]).blocking_recv().unwrap();
        store.close();
        result
    })
    .await
    .unwrap()
    .unwrap();
    let gaps_before = nodes[1].metric("commonboard_broker_gaps_recovered_total").await;
    let broker = async_nats::connect(&deployment.nats).await.unwrap();
    let beat = NodeMessage::Seq { node: deployment.owner(&id).await, last: last + 1 };
    let subject = format!("{}.board.{id}.out", deployment.prefix);
    broker.publish(subject, wire::encode(&beat)).await.unwrap();
    broker.flush().await.unwrap();

    watcher.pump_until(|p| p.note_count() == 2).await;
    assert!(nodes[1].metric("commonboard_broker_gaps_recovered_total").await > gaps_before);
}

#[test]
fn a_broker_without_a_shared_store_is_refused_at_startup_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_commonboard"))
        .args(["serve", "--addr", "127.0.0.1:0", "--broker", DEFAULT_NATS, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("server binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--broker needs a shared PostgreSQL store (--store postgres://...)"), "{stderr}");
}

#[tokio::test]
async fn a_restore_asked_of_any_node_is_done_by_the_owner_and_reaches_everyone() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Restore").await;
    let path = format!("{id}?token={participant}");
    let mut writer = Peer::join_as(nodes[0].addr, &path, "writer").await;
    let mut watcher = Peer::join_as(nodes[2].addr, &path, "watcher").await;
    writer.add_note("kept", "at seq 2").await;
    writer.add_note("undone", "at seq 3").await;
    watcher.pump_until(|p| p.note_count() == 2).await;

    // Node 1 is not the owner: it asks the owner, which rebuilds seq 2 from the store.
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/boards/{id}/restore", nodes[1].addr))
        .bearer_auth(&facilitator)
        .json(&serde_json::json!({ "at": 2, "name": "Fran" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let result: serde_json::Value = response.json().await.unwrap();
    assert_eq!((result["restored_to"].as_u64(), result["changed"].as_bool()), (Some(2), Some(true)), "{result}");
    watcher.pump_until(|p| p.note_count() == 1).await;
    writer.pump_until(|p| p.note_count() == 1).await;
    assert!(deployment.owner(&id).await.starts_with("n0-"));
}

/// A restore the owner refuses for the board's size answers 409 with the reason through
/// any node, as on a single node (it answered 500 when refusals crossed as plain text).
#[tokio::test]
async fn a_restore_refused_by_the_owner_answers_409_through_any_node() {
    let Some(deployment) = Deployment::create().await else { return };
    let flags = ["--idle-unload", "10s", "--max-document-bytes", "65536"];
    let nodes: Vec<Node> = (0..2).map(|i| deployment.start_flags(&format!("n{i}"), &flags)).collect();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Too big").await;
    let path = format!("{id}?token={participant}");
    let mut writer = Peer::join_as(nodes[0].addr, &path, "writer").await;
    let mut watcher = Peer::join_as(nodes[1].addr, &path, "watcher").await;
    writer.add_note("first", &"a".repeat(40_000)).await;
    watcher.pump_until(|p| p.board.has_note(&p.doc.transact(), "first")).await;
    writer
        .edit(|board, txn| {
            board.remove_note(txn, "first");
        })
        .await;
    writer.add_note("second", &"b".repeat(40_000)).await;
    watcher.pump_until(|p| p.board.has_note(&p.doc.transact(), "second") && p.note_count() == 1).await;
    assert!(deployment.owner(&id).await.starts_with("n0-"));

    // Point 2 holds the first note: bringing it back beside the second passes 64 KiB.
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/boards/{id}/restore", nodes[1].addr))
        .bearer_auth(&facilitator)
        .json(&serde_json::json!({ "at": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("past its size limit of 65536 bytes"), "{error}");
    writer.add_note("after", "still editing").await;
    watcher.pump_until(|p| p.board.has_note(&p.doc.transact(), "after")).await;
    assert!(!watcher.board.has_note(&watcher.doc.transact(), "first"), "the refused restore changed the board");
}

/// `/healthz`'s count of boards loaded on `node`.
async fn boards_loaded(node: &Node) -> u64 {
    health(node).await.1["boards_loaded"].as_u64().expect("boards_loaded in /healthz")
}

#[tokio::test]
async fn an_idle_board_unloads_on_every_node_checkpoints_and_releases_its_lease() {
    let Some(deployment) = Deployment::create().await else { return };
    // Above the awareness sweep (5 s) and the replica's owner check (1 s), which once
    // restarted the idle wait on every pass, so that a board never unloaded.
    let flags = ["--idle-unload", "6s"];
    let nodes: Vec<Node> = (0..3).map(|i| deployment.start_flags(&format!("n{i}"), &flags)).collect();
    let (id, participant, _) = create_board(nodes[0].addr, "Idle").await;
    let path = format!("{id}?token={participant}");
    let mut peers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut peer = Peer::join_as(node.addr, &path, &format!("p{i}")).await;
        peer.set_awareness(1, r#"{"user":{"name":"here"}}"#).await;
        peer.add_note(&format!("n{i}"), "kept").await;
        peers.push(peer);
    }
    converge(&mut peers, 3).await;
    let owner = deployment.owner(&id).await;
    let owning =
        nodes.iter().position(|n| owner.starts_with(&format!("{}-", n.name))).expect("an owner among the nodes");

    // The replicas' people leave while the owner still serves someone: each replica
    // unloads by its own idle time (the owner's beat must not keep it loaded).
    let mut staying = None;
    for (i, peer) in peers.into_iter().enumerate() {
        if i == owning {
            staying = Some(peer);
        } else {
            peer.leave().await;
        }
    }
    let unloads = |indices: Vec<usize>, since: tokio::time::Instant| {
        let nodes = &nodes;
        async move {
            let deadline = since + PATIENCE;
            for i in indices {
                while boards_loaded(&nodes[i]).await != 0 {
                    assert!(tokio::time::Instant::now() < deadline, "{} never unloaded the idle board", nodes[i].name);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            assert!(since.elapsed() >= Duration::from_secs(5), "unloaded before its idle time");
        }
    };
    let replicas: Vec<usize> = (0..nodes.len()).filter(|&i| i != owning).collect();
    unloads(replicas, tokio::time::Instant::now()).await;
    assert_eq!(boards_loaded(&nodes[owning]).await, 1, "the owner unloaded a board someone is on");

    staying.expect("the owner's peer").leave().await;
    unloads(vec![owning], tokio::time::Instant::now()).await;
    // Released, not left to expire: an expired lease keeps its row.
    let lease = format!("SELECT node FROM board_leases WHERE board = '{id}'");
    let released = tokio::time::Instant::now() + Duration::from_secs(3);
    while !deployment.query(&lease).await.is_empty() {
        assert!(tokio::time::Instant::now() < released, "{owner} kept the lease of an unloaded board");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let checkpointed = format!(
        "SELECT c.seq::text FROM checkpoints c WHERE c.board = '{id}' AND c.seq = (SELECT max(seq) FROM updates WHERE board = '{id}')"
    );
    assert_eq!(deployment.query(&checkpointed).await.len(), 1, "no checkpoint of the newest point");
}

/// Round after round, a fresh board name on an `--open` deployment is opened through
/// all three nodes at the same instant, as three people behind a load balancer would.
/// Whichever node takes the lease creates the board; the others must serve it, not
/// refuse it (a stock provider never comes back after a 44xx close).
#[tokio::test]
async fn a_new_board_opened_through_every_node_at_once_refuses_nobody() {
    let Some(deployment) = Deployment::create().await else { return };
    let nodes: Vec<Node> =
        (0..3).map(|i| deployment.start_flags(&format!("n{i}"), &["--idle-unload", "10s", "--open"])).collect();
    const ROUNDS: usize = 12;
    for round in 0..ROUNDS {
        let board = format!("fresh-{round}-{:08x}", rand::random::<u32>());
        let mut peers = join_all(nodes.iter().map(|node| Peer::connect_as(node.addr, &board, "guest"))).await;
        for (i, peer) in peers.iter_mut().enumerate() {
            peer.drain_for(Duration::from_millis(100)).await;
            assert_eq!(peer.closed, None, "round {round}: the visitor through node {i} was refused");
            peer.add_note(&format!("r{round}-p{i}"), "first").await;
        }
        converge(&mut peers, 3).await;
        let snapshot = peers[0].snapshot();
        for peer in &peers {
            assert_eq!(peer.snapshot(), snapshot, "round {round}: diverged");
        }
    }
}

/// The links generation a token was issued at (its claims are signed, not secret).
fn generation_of(token: &str) -> u64 {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a token has a payload");
    let claims: commonboard_server::auth::Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).expect("a token's payload is its claims");
    claims.generation
}

#[tokio::test]
async fn rotations_asked_of_every_node_at_once_each_get_their_own_generation() {
    const PER_NODE: usize = 3;
    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, facilitator) = create_board(nodes[0].addr, "Rotations").await;
    let first = generation_of(&participant);
    let path = format!("{id}?token={participant}");
    let mut holders = Vec::new();
    for node in &nodes {
        holders.push(Peer::join_as(node.addr, &path, "holder").await);
    }
    let http = reqwest::Client::new();
    let urls: Vec<String> = nodes
        .iter()
        .flat_map(|node| vec![format!("http://{}/api/boards/{id}/links/rotate", node.addr); PER_NODE])
        .collect();
    let answers = join_all(urls.into_iter().map(|url| http.post(url).bearer_auth(&facilitator).send())).await;
    let answers: Vec<reqwest::Response> = answers.into_iter().map(Result::unwrap).collect();
    let mut generations = Vec::new();
    let mut newest = String::new();
    for response in answers {
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        let token = body["links"]["participant"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
        generations.push(generation_of(&token));
        if generation_of(&token) == first + (PER_NODE * nodes.len()) as u64 {
            newest = token;
        }
    }
    generations.sort_unstable();
    let expected: Vec<u64> = (first + 1..=first + (PER_NODE * nodes.len()) as u64).collect();
    assert_eq!(generations, expected, "each rotation, through whichever node, has a generation of its own");
    for (i, holder) in holders.iter_mut().enumerate() {
        assert_eq!(holder.closed().await.code, 4403, "old link on node {i} closed");
    }
    for (i, node) in nodes.iter().enumerate() {
        let mut again = Peer::connect_as(node.addr, &path, "holder").await;
        assert_eq!(again.closed().await.code, 4403, "old link refused on node {i}");
        let fresh = Peer::join_as(node.addr, &format!("{id}?token={newest}"), "holder").await;
        assert!(fresh.closed.is_none(), "the newest link works on node {i}");
    }
}

#[tokio::test]
async fn while_the_broker_is_away_publishing_is_refused_and_counted_and_replica_clients_reconnect() {
    let Some(deployment) = Deployment::create().await else { return };
    let Some(mut broker) = PrivateBroker::start(deployment.dir.path()) else { return };
    let nodes: Vec<Node> = (0..2).map(|i| deployment.start_with(&format!("n{i}"), &broker.url())).collect();
    let (id, participant, _) = create_board(nodes[0].addr, "Away").await;
    let path = format!("{id}?token={participant}");
    let mut local = Peer::join_as(nodes[0].addr, &path, "local").await;
    assert!(deployment.owner(&id).await.starts_with("n0-"));
    let mut remote = Peer::join_as(nodes[1].addr, &path, "remote").await;
    local.add_note("before", "relayed").await;
    remote.pump_until(|p| p.note_count() == 1).await;

    broker.kill();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while health(&nodes[1]).await.0 != 503 || health(&nodes[0]).await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "the nodes did not notice the broker going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The owner's own clients go on: their changes are committed, not published.
    local.add_note("owner-during", "committed").await;
    local.pump_until(|p| p.note_count() == 2).await;
    // A replica's client is not left sending into nothing: it is told to reconnect.
    remote.add_note("remote-during", "sent again on reconnect").await;
    assert_eq!(remote.closed().await.code, 1012);
    let refused = "commonboard_broker_publish_refused_total";
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while nodes[0].metric(refused).await == 0.0 || nodes[1].metric(refused).await == 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "refusals are not counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    broker.run().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while health(&nodes[1]).await.0 != 200 || health(&nodes[0]).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the nodes did not get the broker back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut peers = vec![local, reconnect(&remote, nodes[1].addr, &path, "remote").await];
    let addrs = live(&nodes);
    converge_reconnecting(&mut peers, &addrs, &path, 3).await;
    let stored = deployment.stored_doc(&id).await.transact().state_vector();
    for (i, peer) in peers.iter().enumerate() {
        assert!(covered(&stored, &peer.state_vector()), "peer {i} holds something the store does not");
    }
}

/// A client of a replica asking for the whole board over and over is answered once a
/// frame and within its allowance, as on the owner, and the board's other clients
/// there keep syncing.
#[tokio::test]
async fn a_replica_paces_a_client_asking_for_the_board_over_and_over() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let Some(deployment) = Deployment::create().await else { return };
    let nodes = deployment.start_three();
    let (id, participant, _) = create_board(nodes[0].addr, "Asked").await;
    let path = format!("{id}?token={participant}");
    let mut writer = Peer::join_as(nodes[0].addr, &path, "writer").await;
    let mut watcher = Peer::join_as(nodes[1].addr, &path, "watcher").await;
    writer.add_note("big", &"0123456789abcdef".repeat(1_400_000 / 16)).await;
    watcher.pump_until(|p| p.note_count() == 1).await;

    let step1 = frame::encode_frame([&frame::Message::Sync(frame::SyncMessage::SyncStep1(Default::default()))]);
    let url = format!("ws://{}/ws/{path}&name=mallory", nodes[1].addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    for _ in 0..20 {
        socket.send(WsMessage::Binary(step1.repeat(32).into())).await.unwrap();
    }
    let mut answers = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let WsMessage::Binary(bytes) = message {
            let decoded = frame::decode_server_frame(&bytes).unwrap();
            answers += decoded
                .iter()
                .filter(|m| matches!(m, frame::Decoded::Yjs(frame::Message::Sync(frame::SyncMessage::SyncStep2(_)))))
                .count();
        }
    }
    // 640 questions: the burst (1 MiB and twice the board) and two seconds of its rate.
    assert!((1..=6).contains(&answers), "{answers} answers to 640 questions");
    writer.add_note("after", "still syncing").await;
    watcher.pump_until(|p| p.note_count() == 2).await;
}
