//! Idle unload with the flags an operator passes: a board nobody is on unloads after
//! `--idle-unload` (60 s by default), whatever other timers its task runs meanwhile,
//! and leaves a checkpoint of its newest point behind.
//!
//! Time is tokio's paused clock, moved a second at a time the way the board's own
//! timers (the 5-second awareness sweep) wake its loop, so a deadline that a wake-up
//! restarts never arrives here either. The clock runs again for the HTTP checks.
//!
//! The unload must show in the log: each test captures what its server logs (see
//! [`LogCapture`]). The `commonboard_boards_loaded` gauge of `/metrics` is
//! process-wide, and the other tests of this binary load and unload boards in the same
//! process meanwhile, so its value is checked in a binary of its own
//! (`tests/idle_metrics.rs`).

use std::time::Duration;

use clap::Parser;
use commonboard_protocol::history::Timeline;
use commonboard_server::config::{Cli, Command, Config};

use crate::client::Peer;
use crate::log_capture::LogCapture;
use crate::{spawn_app_with, TestServer, PATIENCE};

/// `commonboard serve` parsed from these flags, with a fresh data directory.
fn parsed(dir: &std::path::Path, flags: &[&str]) -> Config {
    let data_dir = dir.to_str().expect("utf-8 temp path");
    let args = ["commonboard", "serve", "--data-dir", data_dir].into_iter().chain(flags.iter().copied());
    match Cli::parse_from(args).command {
        Command::Serve(config) => config,
        _ => unreachable!("parsed `serve`"),
    }
}

async fn boards_loaded(server: &TestServer) -> u64 {
    let body: serde_json::Value = reqwest::get(server.http("/healthz")).await.unwrap().json().await.unwrap();
    body["boards_loaded"].as_u64().expect("boards_loaded in /healthz")
}

/// Moves the paused clock forward by `by`, one second at a time, letting every timer
/// that falls due run in between; real time runs again afterwards.
async fn pass(by: Duration) {
    tokio::time::pause();
    for _ in 0..by.as_secs() {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    tokio::time::resume();
    // Let the board's task act on what fell due (an unload writes a checkpoint).
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn unloads_after(flags: &[&str], idle: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let config = parsed(dir.path(), flags);
    assert_eq!(config.idle_unload, idle, "the flag sets the idle time");
    let (log, _capturing) = LogCapture::start();
    let server = spawn_app_with(config).await;
    let links = server.create_board_links("Idle").await;
    let board = format!("board={}", links.id);
    let mut peer = Peer::join(server.addr, &links.path(&links.participant)).await;
    peer.add_note("n1", "kept across the unload").await;
    peer.pump_until(|p| p.note_count() == 1).await;
    // Awareness keeps the sweep busy: the state is swept (and the loop woken) meanwhile.
    peer.set_awareness(1, r#"{"user":{"name":"Ana"}}"#).await;
    peer.leave().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(boards_loaded(&server).await, 1);

    pass(idle - Duration::from_secs(2)).await;
    assert_eq!(boards_loaded(&server).await, 1, "unloaded before its idle time");
    assert_eq!(log.lines_with(&[&board, "board loaded"]).len(), 1, "the board's load is logged");
    assert!(log.lines_with(&[&board, "idle, unloading"]).is_empty(), "unloaded before its idle time");

    pass(Duration::from_secs(3)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while boards_loaded(&server).await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "an idle board never unloaded after {idle:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let idle_s = format!("idle_s={:?}", idle.as_secs_f64());
    let logged = log.lines_with(&[&board, "idle, unloading"]);
    assert!(logged.len() == 1 && logged[0].contains(" INFO ") && logged[0].contains(&idle_s), "{logged:?}");
    let timeline: Timeline =
        crate::get_json(server.http(&format!("/api/boards/{}/timeline?buckets=1", links.id)), &links.viewer).await;
    assert!(timeline.log.checkpoints >= 1, "the unload wrote no checkpoint: {:?}", timeline.log);
    assert_eq!(timeline.log.first_checkpoint, timeline.last_seq, "the checkpoint holds the newest point");

    let mut back = Peer::join(server.addr, &links.path(&links.participant)).await;
    back.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_board_unloads_after_the_default_idle_time() {
    unloads_after(&[], Duration::from_secs(60)).await;
}

#[tokio::test]
async fn an_idle_board_unloads_after_an_idle_time_longer_than_the_sweep() {
    unloads_after(&["--idle-unload", "8s"], Duration::from_secs(8)).await;
}
