//! Bad input closes only the offending connection, with a code and a reason; the board
//! and its other clients go on and nothing accepted is lost.

use commonboard_protocol::close;
use commonboard_protocol::frame::{self, Message, SyncMessage};

use crate::client::Peer;
use crate::{config_in, spawn_app, spawn_app_with, TestServer};

/// A board with two well-behaved peers and one note already accepted.
async fn board_with_peers(server: &TestServer) -> (String, Peer, Peer) {
    let board = server.create_board("Robust").await;
    let mut a = Peer::join(server.addr, &board).await;
    let mut b = Peer::join(server.addr, &board).await;
    a.add_note("before", "accepted before the bad input").await;
    b.pump_until(|p| p.note_count() == 1).await;
    (board, a, b)
}

/// After the offender was closed, the others still sync and the board kept everything.
async fn others_keep_working(server: &TestServer, board: &str, mut a: Peer, mut b: Peer) {
    a.add_note("after", "still syncing").await;
    b.pump_until(|p| p.note_count() == 2).await;
    let mut late = Peer::join(server.addr, board).await;
    late.pump_until(|p| p.note_count() == 2).await;
}

#[tokio::test]
async fn garbage_closes_only_its_connection() {
    let server = spawn_app().await;
    let (board, a, b) = board_with_peers(&server).await;
    let mut bad = Peer::join(server.addr, &board).await;
    bad.send_raw(vec![0xff, 0xfe, 0x00, 0x13, 0x37]).await;
    let closed = bad.closed().await;
    assert_eq!(closed.code, close::INVALID_DATA.0);
    assert!(closed.reason.contains("malformed frame"), "{closed:?}");
    others_keep_working(&server, &board, a, b).await;
    server.stop().await;
}

#[tokio::test]
async fn an_update_yrs_rejects_closes_only_its_connection() {
    let server = spawn_app().await;
    let (board, a, b) = board_with_peers(&server).await;
    let mut bad = Peer::join(server.addr, &board).await;
    let broken = frame::encode_frame([&Message::Sync(SyncMessage::Update(vec![0xff, 0xff, 0xff, 0x01]))]);
    bad.send_raw(broken).await;
    let closed = bad.closed().await;
    assert_eq!(closed.code, close::INVALID_DATA.0);
    assert!(closed.reason.contains("update"), "{closed:?}");
    others_keep_working(&server, &board, a, b).await;
    server.stop().await;
}

#[tokio::test]
async fn an_oversize_message_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.max_message_bytes = 64 * 1024;
    let server = spawn_app_with(config).await;
    let (board, a, b) = board_with_peers(&server).await;
    let mut bad = Peer::join(server.addr, &board).await;
    bad.add_note("huge", &"x".repeat(100 * 1024)).await;
    let closed = bad.closed().await;
    assert_eq!(closed.code, close::TOO_BIG.0);
    assert!(closed.reason.contains("65536"), "{closed:?}");
    others_keep_working(&server, &board, a, b).await;
    server.stop().await;
}

#[tokio::test]
async fn a_text_frame_is_refused() {
    let server = spawn_app().await;
    let (board, a, b) = board_with_peers(&server).await;
    let mut bad = Peer::join(server.addr, &board).await;
    bad.send_text("hello").await;
    assert_eq!(bad.closed().await.code, close::POLICY.0);
    others_keep_working(&server, &board, a, b).await;
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_board_is_refused_with_a_reason() {
    let server = spawn_app().await;
    let mut peer = Peer::connect(server.addr, &urlencode("not a valid id!")).await;
    let closed = peer.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (close::BOARD_NOT_FOUND.0, "board not found"));
    server.stop().await;

    // In open mode any valid name is a board, but a board id nobody created is still
    // unknown to a token-holder on a closed server.
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Real").await;
    server.stop().await;
    let other = tempfile::tempdir().unwrap();
    let mut config = config_in(other.path());
    config.signing_key = Some(std::fs::read_to_string(dir.path().join("signing.key")).unwrap());
    let server = spawn_app_with(config).await;
    let mut peer = Peer::connect(server.addr, &links.path(&links.participant)).await;
    let closed = peer.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (close::BOARD_NOT_FOUND.0, "board not found"));
    server.stop().await;
}

#[tokio::test]
async fn open_mode_creates_boards_on_first_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.open = true;
    let server = spawn_app_with(config).await;
    let mut a = Peer::join(server.addr, "team-retro").await;
    a.add_note("n", "hi").await;
    let mut b = Peer::join(server.addr, "team-retro").await;
    b.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_cannot_keep_up_is_disconnected_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.send_queue = 4;
    // One writer sends 13 MB: past a person's default share, which is not what this tests.
    config.max_person_bytes = 64 << 20;
    let server = spawn_app_with(config).await;
    let board = server.create_board("Slow").await;
    let mut fast = Peer::join(server.addr, &board).await;
    let mut slow = Peer::join(server.addr, &board).await;
    // `slow` stops reading; `fast` keeps editing and keeps receiving its echoes.
    let text = "y".repeat(32 * 1024);
    for i in 0..400 {
        // One tick, so one frame for `slow`, per note: wait for the echo.
        let echoes = fast.updates_received;
        fast.add_note(&format!("n{i}"), &text).await;
        fast.pump_until(|p| p.updates_received > echoes).await;
    }
    let closed = slow.closed().await;
    assert_eq!(closed.code, close::TOO_SLOW.0, "{closed:?}");
    // Reconnecting resyncs the whole board.
    let mut again = Peer::join(server.addr, &board).await;
    again.pump_until(|p| p.note_count() == 400).await;
    server.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace(' ', "%20").replace('!', "%21")
}
