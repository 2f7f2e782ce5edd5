//! A board loaded after a restart answers from its stored form while its document
//! integrates (`--integrate-delay` holds the integration so that the tests act inside
//! that window): clients that join, edit, leave or come back with part of the board
//! meanwhile converge, and nothing they sent is lost.

use std::time::{Duration, Instant};

use commonboard_server::config::Config;
use yrs::Transact;

use crate::client::Peer;
use crate::{config_in, spawn_app_with};

/// How long the restarted server holds each loaded board's integration.
const DELAY: Duration = Duration::from_secs(3);

fn notes(peer: &Peer) -> Vec<String> {
    let mut ids: Vec<String> = peer.snapshot().notes.into_iter().map(|n| n.id).collect();
    ids.sort();
    ids
}

/// Waits until what `writer` holds was committed (a new client receives it) and returns it.
async fn committed(
    server: &crate::TestServer,
    board: &str,
    writer: &Peer,
) -> commonboard_protocol::schema::BoardSnapshot {
    let expected = writer.snapshot();
    let mut check = Peer::join(server.addr, board).await;
    check.pump_until(|p| p.snapshot() == expected).await;
    check.leave().await;
    expected
}

/// Restarts on the same data directory with the integration held for [`DELAY`].
async fn restart_cold(config: &Config) -> (crate::TestServer, Instant) {
    let cold = Config { integrate_delay: DELAY, ..config.clone() };
    let server = spawn_app_with(cold).await;
    (server, Instant::now())
}

#[tokio::test]
async fn a_client_joins_edits_and_leaves_while_its_board_integrates() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    // The only checkpoint is the one the board writes when it unloads (Yjs v1): the
    // restarted board answers with it as stored, and asks its clients for what they
    // hold only once its document is ready.
    config.checkpoint_every = 1000;
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Cold").await;
    let mut writer = Peer::join(server.addr, &board).await;
    for i in 0..10 {
        writer.add_note(&format!("n{i}"), "before the restart").await;
    }
    let before = committed(&server, &board, &writer).await;
    server.stop().await;

    let (server, started) = restart_cold(&config).await;
    // The first visitor gets the whole board from its stored form, long before the
    // document is integrated.
    let mut observer = Peer::join(server.addr, &board).await;
    observer.pump_until(|p| p.snapshot() == before).await;
    let answered = started.elapsed();
    assert!(answered < DELAY, "the board answered after {answered:?}, not while integrating ({DELAY:?})");

    // A second client joins, edits and leaves, all while the board integrates.
    let mut editor = Peer::join(server.addr, &board).await;
    assert_eq!(notes(&editor), notes(&observer));
    editor.add_note("during", "written while the board integrated").await;
    editor.edit(|board, txn| assert!(board.remove_note(txn, "n3"))).await;
    editor.leave().await;
    assert!(started.elapsed() < DELAY, "the edit was not made inside the integrating window");

    // Relayed once the document is ready and the edits are committed.
    observer.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "during") && p.note_count() == 10).await;
    let after = observer.snapshot();
    assert!(!after.notes.iter().any(|n| n.id == "n3"));
    // Accepted edits go on as usual once it is ready.
    observer.add_note("later", "after integration").await;
    let expected = committed(&server, &board, &observer).await;
    assert_eq!(expected.notes.len(), 11);
    server.stop().await;

    // Nothing was lost: committed before it was relayed.
    let server = spawn_app_with(config).await;
    let again = Peer::join(server.addr, &board).await;
    assert_eq!(again.snapshot(), expected);
    server.stop().await;
}

#[tokio::test]
async fn a_client_with_part_of_the_board_reconnects_while_it_integrates() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.checkpoint_every = 4;
    let server = spawn_app_with(config.clone()).await;
    let board = server.create_board("Partial").await;
    let mut returning = Peer::join(server.addr, &board).await;
    for i in 0..5 {
        returning.add_note(&format!("a{i}"), "seen by the returning client").await;
    }
    committed(&server, &board, &returning).await;
    returning.disconnect().await;
    // Others go on writing while it is away.
    let mut other = Peer::join(server.addr, &board).await;
    for i in 0..15 {
        other.add_note(&format!("b{i}"), "written while it was away").await;
    }
    let board_before = committed(&server, &board, &other).await;
    server.stop().await;
    // It also wrote offline, and has not sent that yet.
    let note = commonboard_protocol::schema::Note {
        id: "offline".into(),
        text: "written offline".into(),
        w: 160.0,
        h: 120.0,
        ..Default::default()
    };
    returning.board.insert_note(&mut returning.doc.transact_mut(), &note);

    let (server, started) = restart_cold(&config).await;
    let mut fresh = Peer::join(server.addr, &board).await;
    fresh.pump_until(|p| p.snapshot() == board_before).await;
    returning.received.clear();
    assert!(returning.reconnect(server.addr, &board, "tester").await);
    // It receives only what it lacks, from the stored form, before integration ends.
    returning.pump_until(|p| p.note_count() == 21).await;
    assert!(started.elapsed() < DELAY, "the returning client was answered after integration");
    assert!(
        returning.received.len() < fresh.received.len(),
        "the returning client got {} bytes, a fresh one {}: it should get only what it lacks",
        returning.received.len(),
        fresh.received.len()
    );
    // Its offline note reaches the others once the document is ready.
    fresh.pump_until(|p| p.note_count() == 21).await;
    returning.pump_until(|p| p.snapshot() == fresh.snapshot()).await;
    let expected = fresh.snapshot();
    assert!(expected.notes.iter().any(|n| n.id == "offline"));
    server.stop().await;

    let server = spawn_app_with(config).await;
    let again = Peer::join(server.addr, &board).await;
    assert_eq!(again.snapshot(), expected);
    server.stop().await;
}
