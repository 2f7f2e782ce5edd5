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

/// A client that resends what partly reached the board (its whole state, in which one
/// text item holds both what the board has and what it lacks) has the rest taken, and
/// stays connected: yrs would split that item and read freed memory (see the server's
/// `intake` module).
#[tokio::test]
async fn a_resent_state_overlapping_the_board_is_taken_in_full() {
    use yrs::{GetString, ReadTxn, StateVector, Text};
    let server = spawn_app().await;
    let board = server.create_board("Overlap").await;
    let mut writer = Peer::join(server.addr, &board).await;
    let mut witness = Peer::join(server.addr, &board).await;
    let draft = writer.doc.get_or_insert_text("draft");
    writer.edit(|_, txn| draft.insert(txn, 0, "01234")).await;
    let seen = witness.doc.get_or_insert_text("draft");
    witness.pump_until(|p| seen.get_string(&p.doc.transact()) == "01234").await;
    // Typed right after, never sent: one item with the first half in the writer's document.
    draft.insert(&mut writer.doc.transact_mut(), 5, "56789");
    let whole = writer.doc.transact().encode_state_as_update_v1(&StateVector::default());
    writer.send_raw(frame::sync_update(whole)).await;
    witness.pump_until(|p| seen.get_string(&p.doc.transact()) == "0123456789").await;
    writer.edit(|_, txn| draft.insert(txn, 10, "!")).await;
    witness.pump_until(|p| seen.get_string(&p.doc.transact()) == "0123456789!").await;
    let late = Peer::join(server.addr, &board).await;
    let text = late.doc.get_or_insert_text("draft");
    assert_eq!(text.get_string(&late.doc.transact()), "0123456789!");
}

/// An update yrs refuses part way, after integrating its first item: the second item's
/// parent is the first, a string, not a shared type. The sender is closed with 1007,
/// and nothing of it stays on the board: what the board shows is what its log replays
/// (found by the `board_messages` fuzz target).
#[tokio::test]
async fn an_update_yrs_refuses_part_way_leaves_nothing_behind() {
    use commonboard_protocol::close;
    use yrs::GetString;
    let server = spawn_app().await;
    let board = server.create_board("Part way").await;
    let mut sender = Peer::join(server.addr, &board).await;
    let mut witness = Peer::join(server.addr, &board).await;
    #[rustfmt::skip]
    let update = vec![
        1, 2, 7, 0,                 // one client (7) with two structs from clock 0
        4, 1, 1, b't', 2, b'a', b'b', // "ab" in the root text "t"
        4, 0, 7, 0, 1, b'c',        // "c" whose parent is the item 7:0, a string
        0,                          // no deletions
    ];
    sender.send_raw(frame::sync_update(update)).await;
    let closed = sender.closed().await;
    assert_eq!(closed.code, close::INVALID_DATA.0, "{closed:?}");
    witness.add_note("after", "still going").await;
    let mut late = Peer::join(server.addr, &board).await;
    late.pump_until(|p| p.board.note(&p.doc.transact(), "after").is_some()).await;
    let text = late.doc.get_or_insert_text("t");
    assert_eq!(text.get_string(&late.doc.transact()), "", "nothing of the refused update is on the board");
    witness.drain_for(Duration::from_millis(200)).await;
    let seen = witness.doc.get_or_insert_text("t");
    assert_eq!(seen.get_string(&witness.doc.transact()), "", "nothing of it was relayed");
}

/// Control frames share the socket with the frames the board writes directly: a ping
/// is answered with its pong between whole binary frames, and a close with a close,
/// after which the server ends the stream.
#[tokio::test]
async fn a_ping_gets_its_pong_and_a_close_its_answer_between_whole_frames() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let server = spawn_app().await;
    let board = server.create_board("Control frames").await;
    let separator = if board.contains('?') { '&' } else { '?' };
    let url = format!("ws://{}/ws/{board}{separator}name=raw", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
    let mut writer = Peer::join(server.addr, &board).await;
    ws.send(WsMessage::Ping(b"are you there".to_vec().into())).await.unwrap();
    writer.add_note("n1", "hello").await;
    let (mut pong, mut binary) = (false, 0);
    while !pong || binary == 0 {
        match tokio::time::timeout(crate::PATIENCE, ws.next()).await.expect("the server answers") {
            Some(Ok(WsMessage::Pong(payload))) => {
                assert_eq!(&payload[..], b"are you there");
                pong = true;
            }
            Some(Ok(WsMessage::Binary(bytes))) => {
                frame::decode_server_frame(&bytes).expect("whole frames that decode");
                binary += 1;
            }
            other => panic!("unexpected: {other:?}"),
        }
    }
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    ws.send(WsMessage::Close(Some(bye))).await.unwrap();
    loop {
        match tokio::time::timeout(crate::PATIENCE, ws.next()).await.expect("the server answers the close") {
            Some(Ok(WsMessage::Binary(_))) => {}
            Some(Ok(WsMessage::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Normal);
                break;
            }
            other => panic!("unexpected: {other:?}"),
        }
    }
    let end = tokio::time::timeout(crate::PATIENCE, ws.next()).await.expect("the server ends the stream");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
    server.stop().await;
}
