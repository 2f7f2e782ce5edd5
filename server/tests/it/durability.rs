//! Nothing accepted is lost: across restarts, idle unloads, and a killed process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::client::Peer;
use crate::{config_in, spawn_app_with, PATIENCE};

#[tokio::test]
async fn a_restart_keeps_every_board() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.checkpoint_every = 7; // exercise checkpoint + tail on reload
    let server = spawn_app_with(config.clone()).await;
    let (a, b) = (server.create_board("A").await, server.create_board("B").await);
    let mut peer_a = Peer::join(server.addr, &a).await;
    let mut peer_b = Peer::join(server.addr, &b).await;
    let mut observer = Peer::join(server.addr, &a).await;
    for i in 0..20 {
        peer_a.add_note(&format!("a{i}"), "kept").await;
    }
    peer_b.add_note("b0", "kept too").await;
    let mut observer_b = Peer::join(server.addr, &b).await;
    // What the others received was committed first.
    observer.pump_until(|p| p.note_count() == 20).await;
    observer_b.pump_until(|p| p.note_count() == 1).await;
    let expected_a = peer_a.snapshot();
    assert_eq!(observer.snapshot(), expected_a);
    server.stop().await;

    let server = spawn_app_with(config).await;
    let mut again_a = Peer::join(server.addr, &a).await;
    let mut again_b = Peer::join(server.addr, &b).await;
    again_a.pump_until(|p| p.snapshot() == expected_a).await;
    again_b.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_board_unloads_and_reloads_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.idle_unload = Duration::from_millis(100);
    let server = spawn_app_with(config).await;
    let board = server.create_board("Idle").await;
    let mut peer = Peer::join(server.addr, &board).await;
    peer.add_note("n1", "survives unloading").await;
    peer.pump_until(|p| p.note_count() == 1).await;
    peer.leave().await;

    let health = server.http("/healthz");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body: serde_json::Value = reqwest::get(&health).await.unwrap().json().await.unwrap();
        if body["boards_loaded"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "board never unloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut back = Peer::join(server.addr, &board).await;
    back.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

/// The `commonboard` binary as a child process.
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    fn start(data_dir: &std::path::Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_commonboard"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").expect("address line").parse().unwrap();
        Process { child, addr }
    }

    /// SIGTERM, then waits for the process; returns whether it exited successfully.
    fn terminate(mut self) -> bool {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap().success()
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

#[tokio::test]
async fn sigkill_during_editing_loses_nothing_any_client_received() {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let board = crate::create_board(server.addr, "Crash").await;

    let mut writers = Vec::new();
    for _ in 0..3 {
        writers.push(Peer::join(server.addr, &board).await);
    }
    let mut watchers = vec![Peer::join(server.addr, &board).await, Peer::join(server.addr, &board).await];

    let kill_after = Duration::from_millis(rng.random_range(200..900));
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < kill_after {
        for (w, writer) in writers.iter_mut().enumerate() {
            writer.add_note(&format!("w{w}-{n}"), "typed before the crash").await;
            if n % 4 == 1 {
                let id = format!("w{w}-{}", n - 1);
                writer
                    .edit(|b, txn| {
                        b.move_note(txn, &id, n as f64, w as f64);
                    })
                    .await;
            }
        }
        for watcher in &mut watchers {
            watcher.drain_for(Duration::from_millis(1)).await;
        }
        n += 1;
    }
    server.kill();
    for watcher in &mut watchers {
        watcher.closed().await;
    }
    let received: Vec<_> = watchers.iter().map(|w| (w.state_vector(), w.snapshot())).collect();
    assert!(received.iter().any(|(_, s)| !s.notes.is_empty()), "no update reached a watcher before the kill");

    let server = Process::start(dir.path());
    let mut reloaded = Peer::join(server.addr, &board).await;
    reloaded.drain_for(Duration::from_millis(200)).await;
    let reloaded_sv = reloaded.state_vector();
    let reloaded_snapshot = reloaded.snapshot();
    for (sv, snapshot) in &received {
        for (client, clock) in sv.iter() {
            assert!(
                reloaded_sv.get(client) >= *clock,
                "client {client} clock {clock} was received but lost (seed {seed})"
            );
        }
        for note in &snapshot.notes {
            assert!(reloaded_snapshot.notes.iter().any(|n| n.id == note.id), "note {} lost (seed {seed})", note.id);
        }
    }
    println!(
        "{} notes written, {} received, {} after restart",
        n * 3,
        received[0].1.notes.len(),
        reloaded_snapshot.notes.len()
    );
    server.kill();
}

#[tokio::test]
async fn sigterm_closes_clients_with_going_away_and_keeps_the_board() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let board = crate::create_board(server.addr, "Shutdown").await;
    let mut writer = Peer::join(server.addr, &board).await;
    let mut watcher = Peer::join(server.addr, &board).await;
    writer.add_note("n1", "saved at shutdown").await;
    watcher.pump_until(|p| p.note_count() == 1).await;
    assert!(server.terminate(), "the server exits cleanly on SIGTERM");
    assert_eq!(watcher.closed().await.code, commonboard_protocol::close::GOING_AWAY.0);

    let server = Process::start(dir.path());
    let mut back = Peer::join(server.addr, &board).await;
    back.pump_until(|p| p.note_count() == 1).await;
    server.kill();
}
