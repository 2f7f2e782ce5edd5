//! One participant cannot freeze a board with plain Yjs writes: each person's share of
//! the board (`--max-person-bytes`) is refused past, kept across a restart, and a board
//! at its document limit can always be cleaned up by deleting.

use std::net::SocketAddr;
use std::time::Duration;

use commonboard_protocol::app::ErrorCode;
use commonboard_server::config::Config;
use yrs::{ReadTxn, StateVector, Transact};

use crate::client::Peer;
use crate::{config_in, spawn_app_with, Links};

/// A server with the defaults changed by `set`, in `dir`.
fn config(dir: &tempfile::TempDir, set: impl FnOnce(&mut Config)) -> Config {
    let mut config = config_in(dir.path());
    set(&mut config);
    config
}

/// Joins with `token` and says hello: the peer receives application messages too.
async fn join_app(addr: SocketAddr, links: &Links, token: &str, name: &str) -> Peer {
    let mut peer = Peer::join_as(addr, &links.path(token), name).await;
    peer.hello().await;
    peer
}

/// Adds notes of `chars` characters, each once the last was echoed, until the server
/// refuses one; returns how many it saved.
async fn write_until_refused(peer: &mut Peer, prefix: &str, chars: usize, most: usize) -> usize {
    let text = "w".repeat(chars);
    for saved in 0..most {
        let echoes = peer.updates_received;
        peer.add_note(&format!("{prefix}{saved}"), &text).await;
        peer.pump_until(|p| p.updates_received > echoes || p.denied.is_some()).await;
        if peer.denied.is_some() {
            return saved;
        }
    }
    panic!("no refusal after {most} notes");
}

/// Adds a note and waits until `watcher` has it.
async fn add_seen(writer: &mut Peer, watcher: &mut Peer, id: &str, text: &str) {
    writer.add_note(id, text).await;
    watcher.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == id)).await;
}

fn note_ids(peer: &Peer) -> Vec<String> {
    let mut ids: Vec<String> = peer.snapshot().notes.into_iter().map(|n| n.id).collect();
    ids.sort();
    ids
}

fn encoded_len(peer: &Peer) -> usize {
    peer.doc.transact().encode_state_as_update_v1(&StateVector::default()).len()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn one_participant_writing_big_notes_is_refused_at_their_share_and_the_board_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let share = 24 * 1024;
    let config = config(&dir, |c| c.max_person_bytes = share);
    let server = spawn_app_with(config.clone()).await;
    let links = server.create_board_links("Shared").await;
    let elsewhere = server.create_board_links("Elsewhere").await;
    let mut writer = join_app(server.addr, &links, &links.participant, "Writer").await;
    let mut other = join_app(server.addr, &links, &links.participant, "Other").await;
    let mut facilitator = join_app(server.addr, &links, &links.facilitator, "Facilitator").await;
    let mut witness = Peer::join(server.addr, &elsewhere.path(&elsewhere.participant)).await;
    let mut witness_peer = Peer::join(server.addr, &elsewhere.path(&elsewhere.participant)).await;

    // 5,000 characters a note: four fit in a 24 KiB share, the fifth does not.
    let saved = write_until_refused(&mut writer, "w", 5_000, 10).await;
    assert_eq!(saved, 4);
    writer.add_note("later", "builds on the refused change").await;
    let denied = writer.denied.clone().expect("permission-denied message");
    assert!(denied.contains(&format!("over the share of {share} bytes one person may write")), "{denied}");
    eprintln!("figure: refused at {denied:?} with {} bytes on the board", encoded_len(&writer));

    // Everyone else goes on: another participant, the facilitator (no share: a note
    // bigger than the whole share), and a board elsewhere.
    add_seen(&mut other, &mut facilitator, "o1", "after the refusal").await;
    add_seen(&mut facilitator, &mut other, "f1", &"f".repeat(30_000)).await;
    add_seen(&mut witness, &mut witness_peer, "e1", "elsewhere").await;
    writer.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "f1")).await;
    writer.drain_for(Duration::from_millis(200)).await;
    assert!(facilitator.denied.is_none() && other.denied.is_none(), "{:?}", facilitator.denied);
    let expected = sorted(&["w0", "w1", "w2", "w3", "o1", "f1"]);
    assert_eq!(note_ids(&other), expected);

    // The writer was told once, in Yjs terms and in application terms, and stays.
    let told = writer.errors();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, ErrorCode::LimitReached);
    assert!(writer.closed.is_none());
    let metrics = reqwest::get(server.http("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("commonboard_refusals_total{kind=\"person_share\"}"), "{metrics}");
    server.stop().await;

    // Nothing accepted is lost: the writer's first four notes are still there.
    let server = spawn_app_with(config).await;
    let late = Peer::join(server.addr, &links.path(&links.viewer)).await;
    assert_eq!(note_ids(&late), expected);
    server.stop().await;
}

#[tokio::test]
async fn a_persons_share_survives_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, |c| c.max_person_bytes = 24 * 1024);
    let server = spawn_app_with(config.clone()).await;
    let links = server.create_board_links("Remembered").await;
    let mut writer = Peer::join_as(server.addr, &links.path(&links.participant), "Writer").await;
    let (person, personal) = writer.hello().await;
    let personal = personal.expect("a personal token to keep");
    let text = "w".repeat(5_000);
    for i in 0..4 {
        let echoes = writer.updates_received;
        writer.add_note(&format!("w{i}"), &text).await;
        writer.pump_until(|p| p.updates_received > echoes).await;
    }
    assert!(writer.denied.is_none());
    writer.leave().await;
    server.stop().await;

    // After the restart the same person (their personal link) has used their share; a
    // new person on the same board has not.
    let server = spawn_app_with(config).await;
    let mut again = Peer::join_as(server.addr, &links.path(&personal), "Writer").await;
    assert_eq!(again.hello().await.0, person);
    again.add_note("w4", &text).await;
    again.pump_until(|p| p.denied.is_some()).await;
    assert!(again.denied.as_deref().unwrap().contains("over the share of 24576 bytes"), "{:?}", again.denied);
    let mut newcomer = join_app(server.addr, &links, &links.participant, "Newcomer").await;
    let mut watcher = Peer::join(server.addr, &links.path(&links.viewer)).await;
    add_seen(&mut newcomer, &mut watcher, "n1", &text).await;
    assert!(newcomer.denied.is_none());
    assert_eq!(note_ids(&watcher), sorted(&["w0", "w1", "w2", "w3", "n1"]));
    server.stop().await;
}

#[tokio::test]
async fn a_board_at_its_document_limit_is_cleaned_up_by_deleting_and_then_takes_changes_again() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 64 * 1024;
    let server = spawn_app_with(config(&dir, |c| c.max_document_bytes = limit)).await;
    let links = server.create_board_links("Full").await;
    let mut filler = join_app(server.addr, &links, &links.participant, "Filler").await;

    // Filled to its limit by one participant (the share is far above it).
    let saved = write_until_refused(&mut filler, "big", 12_000, 10).await;
    assert!(saved >= 4, "{saved}");
    assert!(filler.denied.as_deref().unwrap().contains(&format!("size limit of {limit} bytes")));
    let full = encoded_len(&Peer::join(server.addr, &links.path(&links.viewer)).await);
    server.stop().await;

    // Back with a limit a little under what the board holds (an operator lowered it):
    // however small, the next change that adds anything is refused.
    let limit = full - 256;
    let config = config(&dir, |c| c.max_document_bytes = limit);
    let server = spawn_app_with(config.clone()).await;
    let mut other = join_app(server.addr, &links, &links.participant, "Other").await;
    other.add_note("refused", "tiny").await;
    other.pump_until(|p| p.denied.is_some()).await;
    assert!(other.denied.as_deref().unwrap().contains(&format!("size limit of {limit} bytes")));

    // The facilitator deletes all but one of the big notes in one change (an update
    // that only deletes), and the participant refused a moment ago deletes the last:
    // both are taken.
    let mut facilitator = join_app(server.addr, &links, &links.facilitator, "Facilitator").await;
    let ids: Vec<String> = (0..saved - 1).map(|i| format!("big{i}")).collect();
    facilitator
        .edit(|board, txn| {
            for id in &ids {
                assert!(board.remove_note(txn, id));
            }
        })
        .await;
    let mut watcher = Peer::join(server.addr, &links.path(&links.viewer)).await;
    watcher.pump_until(|p| p.note_count() == 1).await;
    let last = format!("big{}", saved - 1);
    other.edit(|board, txn| assert!(board.remove_note(txn, &last))).await;
    watcher.pump_until(|p| p.note_count() == 0).await;
    assert!(facilitator.denied.is_none(), "{:?}", facilitator.denied);
    let cleaned = encoded_len(&watcher);

    // Changes are taken again: a newcomer's, and the refused participant's once reloaded.
    let mut newcomer = join_app(server.addr, &links, &links.participant, "Newcomer").await;
    add_seen(&mut newcomer, &mut facilitator, "n1", &"n".repeat(12_000)).await;
    let mut reloaded = join_app(server.addr, &links, &links.participant, "OtherAgain").await;
    add_seen(&mut reloaded, &mut facilitator, "n2", "after the cleanup").await;
    assert!(newcomer.denied.is_none() && reloaded.denied.is_none());
    eprintln!(
        "figure: {saved} notes of 12,000 characters filled the board to {full} bytes; with a limit of {limit} \
         a 4-character note was refused, the deletes were taken, and the board weighed {cleaned} bytes after them"
    );
    server.stop().await;

    let server = spawn_app_with(config).await;
    let late = Peer::join(server.addr, &links.path(&links.viewer)).await;
    assert_eq!(note_ids(&late), sorted(&["n1", "n2"]));
    server.stop().await;
}
