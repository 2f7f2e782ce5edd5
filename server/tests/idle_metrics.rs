//! With the default flags, an idle board's unload shows in `/metrics`:
//! `commonboard_boards_loaded` goes from 1 back to 0 once the default idle time (60 s)
//! has passed since the last client left.
//!
//! The gauge is process-wide (one Prometheus recorder per process), so this test is a
//! binary of its own: in the `it` binary, the servers of other tests load and unload
//! boards in the same process while it runs. Time is tokio's paused clock, moved a second
//! at a time, as in `it/idle.rs` (which checks the log line, the checkpoint and the
//! reload).

#[path = "it/client.rs"]
#[allow(dead_code, reason = "shared with the main test binary, which uses all of it")]
mod client;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use commonboard_server::config::{Cli, Command};
use tokio_util::sync::CancellationToken;

use client::Peer;

/// How long a test waits for something that should happen within milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// `commonboard_boards_loaded` as `/metrics` shows it (0 before any board loaded).
async fn boards_loaded(addr: SocketAddr) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(name, _)| *name == "commonboard_boards_loaded")
        .map_or(0.0, |(_, value)| value.trim().parse().expect("a number"))
}

/// Moves the paused clock forward by `by`, one second at a time, letting every timer
/// that falls due run in between; real time runs again afterwards.
async fn pass(by: Duration) {
    tokio::time::pause();
    for _ in 0..by.as_secs() {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    tokio::time::resume();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn with_default_flags_an_idle_boards_unload_shows_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let Command::Serve(config) = Cli::parse_from(["commonboard", "serve", "--data-dir", data_dir]).command else {
        unreachable!("parsed `serve`")
    };
    assert_eq!(config.idle_unload, Duration::from_secs(60), "the default idle time");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(commonboard_server::run(listener, config, shutdown.clone()));

    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/boards"))
        .json(&serde_json::json!({ "title": "Idle", "template": "blank" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = created["links"]["participant"].as_str().unwrap();
    let path = format!("{}?token={}", created["id"].as_str().unwrap(), link.split_once("?token=").unwrap().1);
    let mut peer = Peer::join(addr, &path).await;
    peer.add_note("n1", "written, then left").await;
    peer.pump_until(|p| p.note_count() == 1).await;
    peer.set_awareness(1, r#"{"user":{"name":"Ana"}}"#).await;
    peer.leave().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(boards_loaded(addr).await, 1.0, "the board is loaded while in use");

    pass(Duration::from_secs(58)).await;
    assert_eq!(boards_loaded(addr).await, 1.0, "unloaded before its idle time");
    pass(Duration::from_secs(3)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while boards_loaded(addr).await != 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "/metrics never showed the idle board unloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    server.await.unwrap().expect("the server stops cleanly");
}
