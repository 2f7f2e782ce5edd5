//! A board loaded after a restart answers from its stored form while its document
//! integrates (`--integrate-delay` holds the integration so that the tests act inside
//! that window): clients that join, edit, leave or come back with part of the board
//! meanwhile converge, and nothing they sent is lost; a flood of one meanwhile is cut
//! at what a loading board holds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commonboard_protocol::close;
use commonboard_server::config::Config;
use yrs::Transact;

use crate::client::{Closed, Peer};
use crate::hostile::Server;
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
    committed_at(server.addr, board, writer).await
}

/// [`committed`], on the server at `addr`.
async fn committed_at(addr: SocketAddr, board: &str, writer: &Peer) -> commonboard_protocol::schema::BoardSnapshot {
    let expected = writer.snapshot();
    let mut check = Peer::join(addr, board).await;
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

/// How long the flood of [`a_flood_of_a_loading_board_is_cut_and_its_memory_bounded`] lasts.
const FLOOD: Duration = Duration::from_secs(2);
/// How long the server holds the integration in that test (`--integrate-delay`): the
/// flood and the witnesses' edits fit in it, with room for a loaded machine.
const FLOOD_DELAY: Duration = Duration::from_secs(10);
/// What a loading board holds in that test (`--max-held-bytes`).
const HELD_BYTES: usize = 16 << 20;
/// What the flood may add to the server's resident memory, at its peak.
const FLOOD_ALLOWANCE_KIB: u64 = 64 << 10;

/// One flooding client: it sends the same 1 MiB update again and again, and reconnects
/// each time it is closed, until `until`. Returns the bytes it sent and the closes it got.
async fn flood(addr: SocketAddr, board: String, update: Vec<u8>, until: Instant) -> (usize, Vec<Closed>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let frame = bytes::Bytes::from(commonboard_protocol::frame::sync_update(update));
    let (mut sent, mut closes) = (0, Vec::new());
    while Instant::now() < until {
        let url = format!("ws://{addr}/ws/{board}&name=mallory");
        let Ok((socket, _)) = tokio_tungstenite::connect_async(url).await else { break };
        let (mut sink, mut stream) = socket.split();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let WsMessage::Close(Some(close)) = message {
                    return Some(Closed { code: u16::from(close.code), reason: close.reason.to_string() });
                }
            }
            None
        });
        while !reader.is_finished() && Instant::now() < until {
            let send = sink.send(WsMessage::Binary(frame.clone()));
            match tokio::time::timeout(Duration::from_millis(500), send).await {
                Ok(Ok(())) => sent += frame.len(),
                _ => break,
            }
        }
        // The server closed it (its reader stopped on the close), or the flood is over and
        // the attacker closes (the server's answer to that close is not one of its own).
        let closed_by_server = reader.is_finished();
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        // A close the server sent arrives at once; past the flood nobody waits longer.
        if let Ok(Ok(Some(closed))) = tokio::time::timeout(Duration::from_secs(1), reader).await {
            if closed_by_server {
                closes.push(closed);
            }
        }
    }
    (sent, closes)
}

/// Hostile clients flood a board whose document is integrating (the real binary, its
/// message rate limit off, so that only what a loading board holds stops them): each is
/// closed with 4533 once it holds a quarter of it, the server's memory stays bounded,
/// and the witnesses' changes, made before, during and after the flood, all arrive.
#[tokio::test]
async fn a_flood_of_a_loading_board_is_cut_and_its_memory_bounded() {
    let server = Server::start_with(&[]).await;
    let board = crate::create_board(server.addr, "Flooded").await;
    let mut writer = Peer::join(server.addr, &board).await;
    for i in 0..5 {
        writer.add_note(&format!("n{i}"), "before the restart").await;
    }
    committed_at(server.addr, &board, &writer).await;
    let dir = server.kill().await;

    let held = HELD_BYTES.to_string();
    let delay = format!("{}s", FLOOD_DELAY.as_secs());
    let flags = ["--integrate-delay", &delay, "--message-rate", "0", "--max-held-bytes", &held];
    let mut server = Server::start_in(dir, &flags).await;
    let started = Instant::now();
    let mut w1 = Peer::join_as(server.addr, &board, "w1").await;
    let mut w2 = Peer::join_as(server.addr, &board, "w2").await;
    let baseline = server.rss_kib();
    w1.add_note("w1-before", "before the flood").await;
    w2.add_note("w2-before", "before the flood").await;

    // A 1 MiB update, the same bytes each time (a duplicate costs the attacker nothing).
    let junk = {
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text("junk");
        let mut txn = doc.transact_mut();
        yrs::Text::insert(&text, &mut txn, 0, &"x".repeat(1 << 20));
        txn.encode_update_v1()
    };
    let until = Instant::now() + FLOOD;
    let attackers: Vec<_> =
        (0..6).map(|_| tokio::spawn(flood(server.addr, board.clone(), junk.clone(), until))).collect();
    let (mut sent, mut closes) = (0, Vec::new());
    for attacker in attackers {
        let (bytes, closed) = attacker.await.unwrap();
        sent += bytes;
        closes.extend(closed);
    }
    w1.add_note("w1-after", "after the flood, still loading").await;
    assert!(started.elapsed() < FLOOD_DELAY, "the flood outlasted the integration window");
    let peak = server.peak_kib().saturating_sub(baseline);
    println!("flood: {} MiB sent, {} closes, peak {peak} KiB over {baseline} KiB", sent >> 20, closes.len());
    assert!(sent > HELD_BYTES, "the flood sent only {sent} bytes");
    assert!(!closes.is_empty() && closes.iter().all(|c| c.code == close::BOARD_LOADING.0), "{closes:?}");
    assert!(closes[0].reason.contains("still loading"), "{closes:?}");
    assert!(peak < FLOOD_ALLOWANCE_KIB, "peak {peak} KiB over a baseline of {baseline} KiB");

    // Once the document is ready every witness change is there, for both.
    let witness_notes =
        |p: &Peer| ["w1-before", "w2-before", "w1-after"].iter().all(|id| notes(p).contains(&id.to_string()));
    w1.pump_until(|p| witness_notes(p) && p.note_count() == 8).await;
    w2.pump_until(|p| p.snapshot() == w1.snapshot()).await;
    server.assert_alive().await;
    let expected = w1.snapshot();
    let again = Peer::join(server.addr, &board).await;
    assert_eq!(again.snapshot(), expected);
}
