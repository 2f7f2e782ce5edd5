//! Live sync between peers: convergence, late joiners, isolation, awareness, app messages.

use std::time::Duration;

use commonboard_protocol::app::{ClientMessage, Role, ServerMessage};
use commonboard_protocol::frame;
use futures_util::future::join_all;

use crate::client::Peer;
use crate::spawn_app;
use yrs::Transact;

#[tokio::test]
async fn concurrent_editors_converge() {
    let server = spawn_app().await;
    let board = server.create_board("Converge").await;
    let mut peers = join_all((0..6).map(|_| Peer::join(server.addr, &board))).await;
    for round in 0..10 {
        for (i, peer) in peers.iter_mut().enumerate() {
            peer.add_note(&format!("p{i}-n{round}"), &format!("note {round} of {i}")).await;
            if round % 3 == 0 {
                let target = format!("p{}-n0", (i + 1) % 6);
                peer.edit(|b, txn| {
                    b.move_note(txn, &target, round as f64, i as f64);
                })
                .await;
            }
        }
    }
    for peer in &mut peers {
        peer.pump_until(|p| p.note_count() == 60).await;
    }
    let expected = peers[0].snapshot();
    for peer in &mut peers {
        peer.pump_until(|p| p.snapshot() == expected).await;
    }
    let vectors: Vec<_> = peers.iter().map(|p| p.state_vector()).collect();
    assert!(vectors.windows(2).all(|w| w[0] == w[1]), "state vectors differ");
    server.stop().await;
}

#[tokio::test]
async fn a_late_joiner_gets_the_whole_board() {
    let server = spawn_app().await;
    let board = server.create_board("Late").await;
    let mut early = Peer::join(server.addr, &board).await;
    for i in 0..25 {
        early.add_note(&format!("n{i}"), "early").await;
    }
    early
        .edit(|b, txn| {
            b.set_note_text(txn, "n3", "changed");
        })
        .await;
    let mut late = Peer::join(server.addr, &board).await;
    late.pump_until(|p| p.note_count() == 25).await;
    assert_eq!(late.snapshot().notes.into_iter().find(|n| n.id == "n3").unwrap().text, "changed");
    assert_eq!(late.snapshot().meta.title, "Late");
    server.stop().await;
}

#[tokio::test]
async fn boards_are_isolated() {
    let server = spawn_app().await;
    let (a, b) = (server.create_board("A").await, server.create_board("B").await);
    let mut on_a = Peer::join(server.addr, &a).await;
    let mut on_b = Peer::join(server.addr, &b).await;
    let mut also_a = Peer::join(server.addr, &a).await;
    on_a.add_note("only-a", "a").await;
    also_a.pump_until(|p| p.note_count() == 1).await;
    on_b.drain_for(Duration::from_millis(200)).await;
    assert_eq!(on_b.note_count(), 0);
    assert_eq!(on_b.snapshot().meta.title, "B");
    server.stop().await;
}

#[tokio::test]
async fn awareness_is_relayed_then_removed_when_a_peer_leaves() {
    let server = spawn_app().await;
    let board = server.create_board("Presence").await;
    let mut ana = Peer::join(server.addr, &board).await;
    let mut bo = Peer::join(server.addr, &board).await;
    let ana_id = ana.client_id().get();
    ana.set_awareness(1, r#"{"user":{"name":"Ana"},"cursor":{"x":3,"y":4}}"#).await;
    bo.pump_until(|p| p.awareness.get(&ana_id).is_some_and(|s| s.contains("Ana"))).await;

    // A newcomer gets the current states on connect.
    let mut cy = Peer::join(server.addr, &board).await;
    cy.pump_until(|p| p.awareness.contains_key(&ana_id)).await;

    ana.leave().await;
    bo.pump_until(|p| !p.awareness.contains_key(&ana_id)).await;
    cy.pump_until(|p| !p.awareness.contains_key(&ana_id)).await;
    server.stop().await;
}

#[tokio::test]
async fn application_messages_need_an_opt_in_and_get_a_welcome() {
    let server = spawn_app().await;
    let board = server.create_board("App").await;
    let mut peer = Peer::join(server.addr, &board).await;
    peer.send_raw(frame::client_app(&ClientMessage::Hello { version: 1 })).await;
    let welcome = peer.next_app().await;
    assert!(matches!(welcome, ServerMessage::Welcome { role: Role::Participant, version: 1, .. }), "{welcome:?}");
    peer.send_raw(frame::client_app(&ClientMessage::Hello { version: 99 })).await;
    assert!(matches!(peer.next_app().await, ServerMessage::Error { .. }));
    // The document is untouched by either.
    assert_eq!(peer.note_count(), 0);
    assert!(!peer.state_vector().is_empty());
    server.stop().await;
}

/// A change made on top of one the board never got (lost, or refused while the board
/// was locked) is not half taken: yrs would take the part that does not depend on the
/// missing one and leave a gap its log cannot replay. The board asks the sender for
/// everything it lacks instead, and both changes arrive, in the log too.
#[tokio::test]
async fn a_change_after_one_the_board_never_got_brings_both() {
    let server = spawn_app().await;
    let board = server.create_board("Gap").await;
    let mut writer = Peer::join(server.addr, &board).await;
    let mut reader = Peer::join(server.addr, &board).await;
    // The first note is made on the writer's document but never sent.
    {
        let note =
            commonboard_protocol::schema::Note { id: "unsent".into(), text: "first".into(), ..Default::default() };
        let mut txn = writer.doc.transact_mut();
        writer.board.insert_note(&mut txn, &note);
    }
    writer.add_note("sent", "second").await;
    // The writer reads, as any client does: the board's question, which it answers.
    writer.drain_for(Duration::from_millis(500)).await;
    reader
        .pump_until(|p| {
            let txn = p.doc.transact();
            p.board.note(&txn, "unsent").is_some() && p.board.note(&txn, "sent").is_some()
        })
        .await;
    let late = Peer::join(server.addr, &board).await;
    assert_eq!(late.note_count(), 2);
}
