//! Limits that protect every board: each refuses with a reason the client sees, the
//! board's other clients keep working, and what was accepted is kept across a restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commonboard_protocol::app::{ClientMessage, ErrorCode, ServerMessage};
use commonboard_protocol::close;
use commonboard_protocol::frame;
use commonboard_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{Closed, Peer};
use crate::{config_in, spawn_app_with, Links, PATIENCE};

/// A server with the defaults changed by `set`, in a fresh data directory.
fn config(dir: &tempfile::TempDir, set: impl FnOnce(&mut Config)) -> Config {
    let mut config = config_in(dir.path());
    set(&mut config);
    config
}

/// Joins and says hello, so the peer receives application messages too.
async fn join_app(addr: SocketAddr, board: &str) -> Peer {
    let mut peer = Peer::join(addr, board).await;
    peer.send_raw(frame::client_app(&ClientMessage::Hello { version: 1 })).await;
    assert!(matches!(peer.next_app().await, ServerMessage::Welcome { .. }));
    peer
}

/// Connects and waits until the board's state arrived or the server closed the socket.
async fn try_join(addr: SocketAddr, board: &str) -> Result<Peer, Closed> {
    let mut peer = Peer::connect(addr, board).await;
    let deadline = Instant::now() + PATIENCE;
    while peer.snapshot().meta.created_at == 0.0 {
        if let Some(closed) = peer.closed.clone() {
            return Err(closed);
        }
        assert!(Instant::now() < deadline, "neither joined nor refused");
        peer.drain_for(Duration::from_millis(20)).await;
    }
    Ok(peer)
}

/// Joins once there is room, retrying while refused with `code`.
async fn join_when_room(addr: SocketAddr, board: &str, code: close::CloseCode) -> Peer {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match try_join(addr, board).await {
            Ok(peer) => return peer,
            Err(closed) => assert_eq!(closed.code, code.0, "{closed:?}"),
        }
        assert!(Instant::now() < deadline, "never got in");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Adds a note and waits for the server's echo: the note is then saved.
async fn add_saved_note(peer: &mut Peer, id: &str, text: &str) {
    let echoes = peer.updates_received;
    peer.add_note(id, text).await;
    peer.pump_until(|p| p.updates_received > echoes).await;
}

/// Restarts on `config`'s data directory and checks `board` holds exactly `notes`.
async fn kept_after_restart(config: Config, board: &str, notes: &[&str]) {
    let server = spawn_app_with(config).await;
    let peer = Peer::join(server.addr, board).await;
    let mut kept: Vec<String> = peer.snapshot().notes.into_iter().map(|n| n.id).collect();
    kept.sort();
    let mut expected: Vec<String> = notes.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(kept, expected);
    server.stop().await;
}

/// The board's logged history, as its timeline reports it.
async fn log_stats(addr: SocketAddr, links: &Links) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/boards/{}/timeline", links.id))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<serde_json::Value>().await.unwrap()["log"].clone()
}

async fn metrics(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap()
}

// On several threads, as the server runs: the refusal's reason must win the race with
// the connection's writer noticing the refused join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_board_refuses_one_more_connection_and_takes_it_when_someone_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| c.max_connections_per_board = 2);
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Full").await;
    let mut a = Peer::join(server.addr, &board).await;
    let mut b = Peer::join(server.addr, &board).await;

    let closed = try_join(server.addr, &board).await.err().expect("a third connection is refused");
    assert_eq!(closed.code, close::BOARD_FULL.0, "{closed:?}");
    assert!(closed.reason.contains("board full: 2 people connected"), "{closed:?}");

    // The two on the board keep working; another board is not affected.
    a.add_note("n1", "still here").await;
    b.pump_until(|p| p.note_count() == 1).await;
    let other = server.create_board("Other").await;
    Peer::join(server.addr, &other).await;
    // Someone leaves: there is room again.
    b.leave().await;
    let mut c = join_when_room(server.addr, &board, close::BOARD_FULL).await;
    c.pump_until(|p| p.note_count() == 1).await;
    assert!(metrics(server.addr).await.contains("commonboard_refusals_total{kind=\"board_connections\"}"));
    server.stop().await;
    kept_after_restart(config, &board, &["n1"]).await;
}

#[tokio::test]
async fn a_full_server_refuses_one_more_connection_on_any_board() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| c.max_connections = 2);
    let server = spawn_app_with(config.clone()).await;
    let (board, other) = (server.create_board("One").await, server.create_board("Two").await);
    let mut a = Peer::join(server.addr, &board).await;
    let mut b = Peer::join(server.addr, &board).await;

    let closed = try_join(server.addr, &other).await.err().expect("a third connection is refused");
    assert_eq!(closed.code, close::SERVER_FULL.0, "{closed:?}");
    assert!(closed.reason.contains("server full: 2 connections"), "{closed:?}");

    a.add_note("n1", "still here").await;
    b.pump_until(|p| p.note_count() == 1).await;
    b.leave().await;
    join_when_room(server.addr, &other, close::SERVER_FULL).await;
    server.stop().await;
    kept_after_restart(config, &board, &["n1"]).await;
}

// On several threads, as the server runs: the refusal's reason must win the race with
// the connection's writer noticing the refused join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_a_board_too_many_unloads_the_least_recently_used_idle_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| c.max_boards_loaded = 2);
    let server = spawn_app_with(config.clone()).await;
    let addr = server.addr;
    let (a, b, c) = (
        server.create_board_links("A").await,
        server.create_board_links("B").await,
        server.create_board_links("C").await,
    );
    // A is used, then B; both are left idle, A longest ago.
    for (links, note) in [(&a, "a1"), (&b, "b1")] {
        let mut peer = Peer::join(addr, &links.path(&links.participant)).await;
        add_saved_note(&mut peer, note, "kept").await;
        peer.leave().await;
    }
    assert_eq!(log_stats(addr, &a).await["checkpoints"], 0);

    // Loading C unloads A, which checkpoints on its way out, and keeps B.
    let mut on_c = Peer::join(addr, &c.path(&c.participant)).await;
    assert_eq!(log_stats(addr, &a).await["checkpoints"], 1, "A (least recently used) was unloaded");
    assert_eq!(log_stats(addr, &b).await["checkpoints"], 0, "B stayed loaded");
    let health: serde_json::Value = reqwest::get(server.http("/healthz")).await.unwrap().json().await.unwrap();
    assert_eq!(health["boards_loaded"], 2);

    // A comes back with its note (B, now idle and least recent, makes room).
    let mut on_a = Peer::join(addr, &a.path(&a.participant)).await;
    on_a.pump_until(|p| p.note_count() == 1).await;
    assert_eq!(log_stats(addr, &b).await["checkpoints"], 1);

    // Every loaded board has someone on it: B is refused, with a reason.
    let closed = try_join(addr, &b.path(&b.participant)).await.err().expect("B is refused");
    assert_eq!(closed.code, close::TOO_MANY_BOARDS.0, "{closed:?}");
    assert!(closed.reason.contains("2 boards open, all in use"), "{closed:?}");

    // The loaded boards keep working.
    add_saved_note(&mut on_a, "a2", "after the refusal").await;
    add_saved_note(&mut on_c, "c1", "after the refusal").await;
    server.stop().await;
    kept_after_restart(config.clone(), &a.path(&a.participant), &["a1", "a2"]).await;
    kept_after_restart(config.clone(), &b.path(&b.participant), &["b1"]).await;
    kept_after_restart(config, &c.path(&c.participant), &["c1"]).await;
}

#[tokio::test]
async fn a_change_that_would_grow_the_board_past_its_size_limit_is_refused_and_its_sender_told() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 16 * 1024;
    let config = config(&dir, |c| c.max_document_bytes = limit);
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Bounded").await;
    let mut a = Peer::join(server.addr, &board).await;
    let mut b = Peer::join(server.addr, &board).await;
    let mut big = join_app(server.addr, &board).await;
    a.add_note("n1", &"a".repeat(4_000)).await;
    b.pump_until(|p| p.note_count() == 1).await;

    big.add_note("huge", &"x".repeat(20_000)).await;
    big.add_note("later", "builds on the refused change").await;
    big.pump_until(|p| p.denied.is_some()).await;
    // Everyone else goes on; neither of the refused changes reaches them.
    a.add_note("n2", "after the refusal").await;
    b.pump_until(|p| p.note_count() == 2).await;
    big.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "n2")).await;
    big.drain_for(Duration::from_millis(200)).await;
    assert!(!b.snapshot().notes.iter().any(|n| n.id == "huge" || n.id == "later"));

    // The sender was told once, in Yjs terms and in application terms, and stays.
    let denied = big.denied.clone().expect("permission-denied message");
    assert!(denied.contains(&format!("size limit of {limit} bytes")), "{denied}");
    let told = big.errors();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, ErrorCode::LimitReached);
    assert!(big.closed.is_none());
    let late = Peer::join(server.addr, &board).await;
    assert_eq!(late.note_count(), 2);
    assert!(metrics(server.addr).await.contains("commonboard_refusals_total{kind=\"document_size\"}"));
    server.stop().await;
    kept_after_restart(config, &board, &["n1", "n2"]).await;
}

/// A loaded board's size is measured at its first change rather than while it loads:
/// a board reloaded near its limit still refuses the change that would take it over.
#[tokio::test]
async fn a_board_reloaded_near_its_size_limit_refuses_the_change_that_would_pass_it() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 16 * 1024;
    let config = config(&dir, |c| c.max_document_bytes = limit);
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Nearly full").await;
    let mut a = Peer::join(server.addr, &board).await;
    a.add_note("n1", &"a".repeat(12_000)).await;
    let mut b = Peer::join(server.addr, &board).await;
    b.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;

    let server = spawn_app_with(config.clone()).await;
    let mut big = join_app(server.addr, &board).await;
    assert_eq!(big.note_count(), 1);
    big.add_note("over", &"x".repeat(6_000)).await;
    big.pump_until(|p| p.denied.is_some()).await;
    big.drain_for(Duration::from_millis(200)).await;
    assert_eq!(big.errors().iter().map(|e| e.0).collect::<Vec<_>>(), [ErrorCode::LimitReached]);
    let mut small = Peer::join(server.addr, &board).await;
    small.add_note("n2", "still fits").await;
    let mut late = Peer::join(server.addr, &board).await;
    late.pump_until(|p| p.note_count() == 2).await;
    let mut ids: Vec<String> = late.snapshot().notes.into_iter().map(|n| n.id).collect();
    ids.sort();
    assert_eq!(ids, ["n1", "n2"]);
    server.stop().await;
}

#[tokio::test]
async fn an_update_over_the_size_limit_is_refused_and_its_sender_told() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| c.max_update_bytes = 4096);
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Small changes").await;
    let mut a = Peer::join(server.addr, &board).await;
    let mut b = Peer::join(server.addr, &board).await;
    let mut big = join_app(server.addr, &board).await;

    big.add_note("paste", &"x".repeat(8_000)).await;
    big.pump_until(|p| p.denied.is_some()).await;
    a.add_note("n1", "small").await;
    b.pump_until(|p| p.note_count() == 1).await;
    big.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "n1")).await;
    assert!(!b.snapshot().notes.iter().any(|n| n.id == "paste"));
    let denied = big.denied.clone().expect("permission-denied message");
    assert!(denied.contains("over the limit of 4096 bytes for one change"), "{denied}");
    assert_eq!(big.errors().iter().map(|e| e.0).collect::<Vec<_>>(), [ErrorCode::LimitReached]);
    assert!(big.closed.is_none());
    server.stop().await;
    kept_after_restart(config, &board, &["n1"]).await;
}

#[tokio::test]
async fn a_client_over_the_message_rate_is_slowed_down_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| {
        c.message_rate = 20.0;
        c.message_burst = 10;
        c.flood_cutoff = Duration::from_secs(30);
    });
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Rate").await;
    let mut fast = Peer::join(server.addr, &board).await;
    let mut observer = Peer::join(server.addr, &board).await;
    let started = Instant::now();
    let ids: Vec<String> = (0..40).map(|i| format!("n{i:02}")).collect();
    for id in &ids {
        fast.add_note(id, "fast").await;
    }
    observer.pump_until(|p| p.note_count() == 40).await;
    // The join took 2 of the 10 tokens; the other 32 notes came at 20 per second.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1_400), "not slowed down: {took:?}");
    fast.drain_for(Duration::from_millis(100)).await;
    assert!(fast.closed.is_none(), "{:?}", fast.closed);
    server.stop().await;
    kept_after_restart(config, &board, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn a_sustained_flood_is_cut_and_what_was_accepted_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| {
        c.message_rate = 20.0;
        c.message_burst = 10;
        c.flood_cutoff = Duration::from_millis(500);
    });
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Flood").await;
    let mut flood = Peer::join(server.addr, &board).await;
    let mut observer = Peer::join(server.addr, &board).await;
    for i in 0..300 {
        flood.add_note(&format!("f{i:03}"), "flood").await;
    }
    let closed = flood.closed().await;
    assert_eq!(closed.code, close::TOO_FAST.0, "{closed:?}");
    assert!(closed.reason.contains("sending too fast: over 20 messages/s"), "{closed:?}");

    // What the server took before the cut reached everyone and is kept; the rest never
    // arrived. The board goes on.
    let late = Peer::join(server.addr, &board).await;
    let accepted = late.note_count();
    assert!((5..300).contains(&accepted), "{accepted} notes accepted");
    observer.pump_until(|p| p.note_count() == accepted).await;
    add_saved_note(&mut observer, "after", "the board goes on").await;
    let mut kept: Vec<String> = late.snapshot().notes.into_iter().map(|n| n.id).collect();
    kept.push("after".into());
    assert!(metrics(server.addr).await.contains("commonboard_refusals_total{kind=\"flood\"}"));
    server.stop().await;
    kept_after_restart(config, &board, &kept.iter().map(String::as_str).collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn an_awareness_state_over_the_size_limit_is_dropped_and_its_sender_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| c.max_awareness_bytes = 512);
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Presence").await;
    let mut a = Peer::join(server.addr, &board).await;
    let mut b = Peer::join(server.addr, &board).await;
    let mut big = join_app(server.addr, &board).await;
    let mut plain = Peer::join(server.addr, &board).await;
    let huge = format!("{{\"user\":{{\"name\":\"{}\"}}}}", "x".repeat(2_000));

    big.set_awareness(1, &huge).await;
    big.set_awareness(2, &huge).await;
    plain.set_awareness(1, &huge).await;
    big.pump_until(|p| !p.errors().is_empty()).await;
    plain.pump_until(|p| p.denied.is_some()).await;
    a.set_awareness(1, "{\"user\":{\"name\":\"Ana\"}}").await;
    let a_id = a.client_id().get();
    b.pump_until(|p| p.awareness.contains_key(&a_id)).await;
    // Relayed in order: had the big states been relayed, they would be here by now.
    assert!(!b.awareness.contains_key(&big.client_id().get()));
    assert!(!b.awareness.contains_key(&plain.client_id().get()));

    big.drain_for(Duration::from_millis(200)).await;
    let told = big.errors();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert_eq!(told[0].0, ErrorCode::LimitReached);
    assert!(told[0].1.contains("512 bytes"), "{told:?}");
    assert!(plain.denied.as_deref().unwrap().contains("presence not shared"));

    // The sender's connection still works: a small state and an edit go through.
    big.set_awareness(3, "{\"user\":{\"name\":\"Bo\"}}").await;
    big.add_note("n1", "still editing").await;
    let big_id = big.client_id().get();
    b.pump_until(|p| p.awareness.contains_key(&big_id) && p.note_count() == 1).await;
    // Nothing over the limit was kept for newcomers either.
    let mut late = Peer::join(server.addr, &board).await;
    late.pump_until(|p| p.awareness.contains_key(&big_id)).await;
    assert!(late.awareness.values().all(|state| state.len() <= 512));
    server.stop().await;
    kept_after_restart(config, &board, &["n1"]).await;
}

#[tokio::test]
async fn an_http_body_over_the_limit_gets_413_with_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config(&dir, |c| c.max_body_bytes = 1024)).await;
    let body = serde_json::json!({ "title": "t".repeat(2_000) }).to_string();
    let expected = "request body larger than the limit of 1024 bytes";

    // With its length announced: refused before it is read.
    let response = reqwest::Client::new()
        .post(server.http("/api/boards"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error, serde_json::json!({ "error": expected }));

    // Sent in chunks, length unknown: refused while it is read, with the same answer.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /api/boards HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        server.addr,
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(&format!("{{\"error\":\"{expected}\"}}")), "{answer}");

    // A body within the limit still works.
    let board = server.create_board("Small body").await;
    Peer::join(server.addr, &board).await;
    assert!(metrics(server.addr).await.contains("commonboard_refusals_total{kind=\"body_size\"}"));
    server.stop().await;
}

#[tokio::test]
async fn a_slow_reader_is_disconnected_with_a_reason_and_the_others_are_not_slowed() {
    let dir = tempfile::tempdir().unwrap();
    // One writer sends 13 MB: past a person's default share, which is not what this tests.
    let config = config(&dir, |c| {
        c.send_queue = 8;
        c.max_person_bytes = 64 << 20;
    });
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Slow").await;
    let mut writer = Peer::join(server.addr, &board).await;
    let observer = Peer::join(server.addr, &board).await;
    let mut slow = Peer::join(server.addr, &board).await;
    const NOTES: u32 = 400;
    // The observer reads as fast as it can; `slow` stops reading altogether. (Patience
    // runs per note: on a busy machine 13 MB of notes take longer than one wait.)
    let observing = tokio::spawn(async move {
        let mut observer = observer;
        for seen in 1..=NOTES {
            observer.pump_until(|p| p.note_count() >= seen).await;
        }
        observer
    });
    let text = "y".repeat(32 * 1024);
    for i in 0..NOTES {
        let echoes = writer.updates_received;
        writer.add_note(&format!("n{i:03}"), &text).await;
        writer.pump_until(|p| p.updates_received > echoes).await;
    }
    let observer = observing.await.unwrap();
    assert!(observer.closed.is_none());
    let closed = slow.closed().await;
    assert_eq!(closed.code, close::TOO_SLOW.0, "{closed:?}");
    assert!(closed.reason.contains("too slow to keep up"), "{closed:?}");
    assert!(metrics(server.addr).await.contains("commonboard_refusals_total{kind=\"slow_reader\"}"));
    server.stop().await;
    let ids: Vec<String> = (0..NOTES).map(|i| format!("n{i:03}")).collect();
    kept_after_restart(config, &board, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
}
