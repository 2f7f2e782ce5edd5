//! Chaos: the server binary killed with SIGKILL at random moments while clients edit,
//! and a data directory whose disk fills up; nothing any client received is lost, and
//! every client converges once the server is back.
//!
//! The kill test's seed is printed; `COMMONBOARD_CHAOS_SEED=N` replays a run and
//! `COMMONBOARD_CHAOS_ROUNDS=N` changes the number of kills (5 by default).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commonboard_protocol::close;
use commonboard_protocol::schema::{self, BoardSnapshot};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yrs::{ClientID, GetString, Map, ReadTxn, StateVector, Text, Transact};

use crate::client::Peer;
use crate::PATIENCE;

/// Longest any one chaos test may run.
const BUDGET: Duration = Duration::from_secs(60);

/// The `commonboard` binary serving a data directory, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on 127.0.0.1 and a free port; its log goes to `log`.
    fn start(data_dir: &Path, log: &Path) -> Server {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("server log opens");
        let mut child = Command::new(env!("CARGO_BIN_EXE_commonboard"))
            .args(["serve", "--addr", "127.0.0.1:0", "--checkpoint-every", "25", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("server binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).expect("reads stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("server did not start: {line:?}; log: {}", read(log)))
            .parse()
            .expect("an address");
        Server { child, addr, log: log.to_owned() }
    }

    /// SIGKILL: no shutdown, no flush, no checkpoint.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One editing client: a replica, and what it did and saw.
struct Client {
    name: String,
    peer: Peer,
    /// Its notes, with the text it typed into each.
    notes: BTreeMap<String, String>,
    next: usize,
    /// The highest clock of every *other* writer this client ever held: all of it came
    /// from the server.
    received: HashMap<ClientID, u32>,
    /// Notes of other clients this client ever held.
    seen: BTreeSet<String>,
}

impl Client {
    fn new(name: String, peer: Peer) -> Client {
        Client { name, peer, notes: BTreeMap::new(), next: 0, received: HashMap::new(), seen: BTreeSet::new() }
    }

    /// Makes one random edit (offline too: it stays local until the next sync).
    async fn edit(&mut self, rng: &mut StdRng) {
        let own: Vec<String> = self.notes.keys().cloned().collect();
        match rng.random_range(0..10) {
            0..4 if !own.is_empty() => {
                let id = own[rng.random_range(0..own.len())].clone();
                let typed = format!(" {}", rng.random_range(0..1000));
                self.notes.get_mut(&id).expect("own note").push_str(&typed);
                self.peer
                    .edit(|_, txn| {
                        let text = note_text(txn, &id).expect("own note has a text");
                        let end = text.len(txn);
                        text.insert(txn, end, &typed);
                    })
                    .await;
            }
            4..6 if !own.is_empty() => {
                let id = own[rng.random_range(0..own.len())].clone();
                let (x, y) = (rng.random_range(0..4000) as f64, rng.random_range(0..3000) as f64);
                self.peer.edit(|board, txn| assert!(board.move_note(txn, &id, x, y))).await;
            }
            _ => {
                let id = format!("{}-{}", self.name, self.next);
                self.next += 1;
                self.notes.insert(id.clone(), format!("by {}", self.name));
                let text = self.notes[&id].clone();
                self.peer.add_note(&id, &text).await;
            }
        }
    }

    /// Records what this client holds from others.
    fn observe(&mut self) {
        let me = self.peer.client_id();
        for (client, clock) in self.peer.state_vector().iter() {
            if *client != me {
                let seen = self.received.entry(*client).or_default();
                *seen = (*seen).max(*clock);
            }
        }
        let mine = format!("{}-", self.name);
        for note in self.peer.snapshot().notes {
            if !note.id.starts_with(&mine) {
                self.seen.insert(note.id);
            }
        }
    }

    /// Reads what arrives for `wait`, then records it.
    async fn drain(&mut self, wait: Duration) {
        self.peer.drain_for(wait).await;
        self.observe();
    }
}

/// The text of note `id`, as a Y.Text.
fn note_text<T: ReadTxn>(txn: &T, id: &str) -> Option<yrs::TextRef> {
    let notes = txn.get_map(schema::NOTES)?;
    let yrs::Out::YMap(note) = notes.get(txn, id)? else { return None };
    match note.get(txn, schema::note::TEXT)? {
        yrs::Out::YText(text) => Some(text),
        _ => None,
    }
}

/// What the server holds, read by a fresh client: its state vector and board.
async fn fresh_state(addr: SocketAddr, board: &str) -> (StateVector, BoardSnapshot, BTreeMap<String, String>) {
    let mut fresh = Peer::join(addr, board).await;
    // The step 2 holds everything; give a moment for anything sent with it.
    fresh.drain_for(Duration::from_millis(50)).await;
    let texts = texts(&fresh);
    let state = (fresh.state_vector(), fresh.snapshot(), texts);
    fresh.leave().await;
    state
}

/// Every note's text as typed (the Y.Text itself, not a rendering).
fn texts(peer: &Peer) -> BTreeMap<String, String> {
    let txn = peer.doc.transact();
    peer.board
        .note_ids(&txn)
        .into_iter()
        .map(|id| {
            let text = note_text(&txn, &id).map(|t| t.get_string(&txn)).unwrap_or_default();
            (id, text)
        })
        .collect()
}

/// `GET /api/boards/{id}/state` (JSON) with the board's participant token.
async fn state_over_http(addr: SocketAddr, id: &str, token: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/boards/{id}/state"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET state");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON state")
}

fn seed() -> u64 {
    match std::env::var("COMMONBOARD_CHAOS_SEED") {
        Ok(seed) => seed.parse().expect("COMMONBOARD_CHAOS_SEED is a number"),
        Err(_) => rand::random(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_clients_resync() {
    let seed = seed();
    let rounds: usize = std::env::var("COMMONBOARD_CHAOS_ROUNDS")
        .map_or(5, |r| r.parse().expect("COMMONBOARD_CHAOS_ROUNDS is a number"));
    println!("chaos seed {seed} (COMMONBOARD_CHAOS_SEED={seed} replays it), {rounds} kills");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));

    let mut server = Server::start(&data, &log);
    let links = crate::create_board_links(server.addr, "Chaos").await;
    let board = links.path(&links.participant);
    let mut clients = Vec::new();
    for i in 0..4 {
        let name = format!("c{i}");
        let peer = Peer::join_as(server.addr, &board, &name).await;
        clients.push(Client::new(name, peer));
    }

    // Notes of other clients that some client held when a kill happened.
    let mut seen_before_kills = BTreeSet::new();
    for round in 0..rounds {
        // Edit for a random while, then kill the server without warning, mid-stream.
        let edit_for = Duration::from_millis(rng.random_range(100..1200));
        let until = Instant::now() + edit_for;
        let mut edits = 0;
        while Instant::now() < until {
            for client in &mut clients {
                for _ in 0..rng.random_range(1..4) {
                    client.edit(&mut rng).await;
                    edits += 1;
                }
                client.drain(Duration::from_millis(rng.random_range(0..4))).await;
            }
        }
        server.kill();
        for client in &mut clients {
            client.peer.closed().await;
            client.observe();
            // Offline edits: only on this client until it syncs again.
            for _ in 0..rng.random_range(0..3) {
                client.edit(&mut rng).await;
            }
        }
        println!("round {round}: {edits} edits in {edit_for:?}, then SIGKILL");

        seen_before_kills.extend(clients.iter().flat_map(|c| c.seen.iter().cloned()));

        server = Server::start(&data, &log);
        for client in &mut clients {
            assert!(client.peer.reconnect(server.addr, &board, &client.name).await, "reconnects after the restart");
        }
        assert!(started.elapsed() < BUDGET, "the chaos test ran out of time (seed {seed})");
    }

    // Converge: every client's edits (offline ones included) land, and all agree.
    let deadline = Instant::now() + PATIENCE;
    let (server_sv, server_board, server_texts) = loop {
        for client in &mut clients {
            client.drain(Duration::from_millis(50)).await;
            assert!(client.peer.closed.is_none(), "{} was closed: {:?} (seed {seed})", client.name, client.peer.closed);
        }
        let (sv, snapshot, texts) = fresh_state(server.addr, &board).await;
        if clients.iter().all(|c| c.peer.state_vector() == sv && c.peer.snapshot() == snapshot) {
            break (sv, snapshot, texts);
        }
        assert!(Instant::now() < deadline, "clients did not converge with the server (seed {seed})");
    };

    // Every update any client received from the server is in the store.
    for client in &clients {
        for (writer, clock) in &client.received {
            assert!(
                server_sv.get(writer) >= *clock,
                "{} received writer {writer} up to clock {clock}; the store has {} (seed {seed})",
                client.name,
                server_sv.get(writer)
            );
        }
        for id in &client.seen {
            assert!(server_texts.contains_key(id), "{} saw note {id}, which the store lost (seed {seed})", client.name);
        }
    }
    // No note lost or duplicated, and no typing lost or repeated.
    let expected: BTreeMap<String, String> = clients.iter().flat_map(|c| c.notes.clone()).collect();
    assert_eq!(server_texts, expected, "notes or their texts differ from what the clients wrote (seed {seed})");
    let ids: Vec<&str> = server_board.notes.iter().map(|n| n.id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a note appears twice (seed {seed})");
    for client in &clients {
        assert_eq!(texts(&client.peer), expected, "{}'s texts differ (seed {seed})", client.name);
    }
    // The HTTP API reads the same board from the store.
    let over_http = state_over_http(server.addr, &links.id, &links.participant).await;
    assert_eq!(over_http["board"], serde_json::to_value(&server_board).unwrap(), "GET state differs (seed {seed})");
    println!(
        "{} notes after {rounds} kills, all kept; {} of them had reached another client before a kill; {:?}",
        expected.len(),
        seen_before_kills.len(),
        started.elapsed()
    );
    assert!(started.elapsed() < BUDGET, "the chaos test took {:?} (seed {seed})", started.elapsed());
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax: 8m) at `at`; `None` when this process
    /// may not mount (not root, or in a container without the right).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        if !output.status.success() {
            println!("cannot mount a tmpfs: {}", String::from_utf8_lossy(&output.stderr).trim());
            return None;
        }
        Some(Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system of `path` with a file there; returns its size.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut written = 0u64;
    // Bounded: the tmpfs is a few MiB.
    for _ in 0..4096 {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_keeps_what_was_accepted_and_recovers() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = Tmpfs::mount(&dir.path().join("disk"), "8m") else {
        println!("SKIPPED: the disk-full test needs to mount a tmpfs (run as root)");
        return;
    };
    let log = dir.path().join("server.log");
    let data = mount.0.join("data");
    let server = Server::start(&data, &log);
    let links = crate::create_board_links(server.addr, "Disk full").await;
    let board = links.path(&links.participant);
    let mut writer = Client::new("w".into(), Peer::join_as(server.addr, &board, "w").await);
    let mut other = Client::new("o".into(), Peer::join_as(server.addr, &board, "o").await);
    let mut watcher = Peer::join_as(server.addr, &board, "watcher").await;
    let mut rng = StdRng::seed_from_u64(8);
    for _ in 0..10 {
        writer.edit(&mut rng).await;
    }
    let accepted = writer.notes.clone();
    watcher.pump_until(|p| texts(p) == accepted).await;

    // The disk fills up.
    let filler = mount.0.join("filler");
    let filled = fill(&filler);
    println!("filled the disk with {filled} bytes");

    // Writes are refused: the writer is told why, the others stay connected.
    let mut refused = None;
    for _ in 0..200 {
        writer.edit(&mut rng).await;
        writer.drain(Duration::from_millis(20)).await;
        if let Some(closed) = writer.peer.closed.clone() {
            refused = Some(closed);
            break;
        }
    }
    let refused = refused.expect("a write on a full disk is refused");
    assert_eq!(refused.code, close::NOT_SAVED.0, "{refused:?}");
    assert!(refused.reason.contains("disk is full"), "the reason says why: {refused:?}");
    let pending = writer.notes.clone();
    assert!(pending.len() > accepted.len());
    let deadline = Instant::now() + PATIENCE;
    while !read(&server.log).contains("disk holding the store is full") {
        assert!(Instant::now() < deadline, "the log does not say the disk is full: {}", read(&server.log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What was accepted is still served, to those connected and to newcomers.
    watcher.drain_for(Duration::from_millis(100)).await;
    assert!(watcher.closed.is_none(), "a reader was disconnected: {:?}", watcher.closed);
    assert_eq!(texts(&watcher), accepted, "the watcher got an update that was not saved, or lost one");
    let (_, _, served) = fresh_state(server.addr, &board).await;
    assert_eq!(served, accepted);
    // Creating a board is refused with a clear 507.
    let response = reqwest::Client::new()
        .post(server_url(&server, "/api/boards"))
        .json(&serde_json::json!({ "title": "No room" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 507);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().is_some_and(|e| e.contains("disk is full")), "{body}");
    // The other client's edit is refused too, while the disk stays full; reconnecting
    // (as a provider does) keeps being refused, without losing the pending edits.
    other.edit(&mut rng).await;
    let closed = other.peer.closed().await;
    assert_eq!(closed.code, close::NOT_SAVED.0);
    assert!(writer.peer.reconnect(server.addr, &board, "w").await);
    let again = writer.peer.closed().await;
    assert_eq!(again.code, close::NOT_SAVED.0, "{again:?}");

    // Space returns: the server recovers by itself, the pending edits land.
    std::fs::remove_file(&filler).unwrap();
    let expected: BTreeMap<String, String> =
        writer.notes.iter().chain(other.notes.iter()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        for client in [&mut writer, &mut other] {
            if client.peer.closed.is_some() {
                assert!(client.peer.reconnect(server.addr, &board, &client.name).await);
            }
            client.drain(Duration::from_millis(50)).await;
        }
        watcher.drain_for(Duration::from_millis(10)).await;
        if texts(&watcher) == expected && texts(&writer.peer) == expected && texts(&other.peer) == expected {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover after space returned: {}", read(&server.log));
    }
    assert!(watcher.closed.is_none(), "the watcher stayed connected throughout");
    let (sv, board_now, served) = fresh_state(server.addr, &board).await;
    assert_eq!(served, expected);
    assert_eq!(writer.peer.state_vector(), sv);
    assert_eq!(writer.peer.snapshot(), board_now);
    // And it keeps them across a restart.
    drop(server);
    let server = Server::start(&data, &log);
    let (_, _, reloaded) = fresh_state(server.addr, &board).await;
    assert_eq!(reloaded, expected);
    let response = reqwest::Client::new()
        .post(server_url(&server, "/api/boards"))
        .json(&serde_json::json!({ "title": "Room again" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    drop(server);
    drop(mount);
    let log = read(&log);
    let lines: Vec<&str> = log.lines().collect();
    println!("server log, {} lines; the first of them:", lines.len());
    for line in lines.iter().take(12) {
        println!("  {line}");
    }
    assert!(started.elapsed() < BUDGET, "the disk-full test took {:?}", started.elapsed());
}

fn server_url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}
