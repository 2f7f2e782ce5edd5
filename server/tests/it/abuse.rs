//! One participant cannot freeze or flood a board: presence belongs to its connection,
//! every field a client writes through the server is bounded, the server's own writes
//! (a reveal) stay within the size limits, `/updates` pages by bytes and board creation
//! is paced. Each test ends with witnesses on the same board and on another one still
//! syncing.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use commonboard_protocol::app::{ClientMessage, ErrorCode, ServerMessage, VoteSettings};
use commonboard_protocol::frame::{self, AwarenessUpdate, AwarenessUpdateEntry};
use commonboard_protocol::schema::Note;
use commonboard_protocol::workshop::TurnPerson;
use yrs::{ClientID, GetString, ReadTxn, Text, Transact, WriteTxn};

use crate::client::Peer;
use crate::{config_in, spawn_app_with, Links, TestServer};

async fn send(peer: &mut Peer, message: ClientMessage) {
    peer.send_raw(frame::client_app(&message)).await;
}

/// Joins as `name` and says hello.
async fn member(addr: SocketAddr, board: &str, name: &str) -> Peer {
    let mut peer = Peer::join_as(addr, board, name).await;
    send(&mut peer, ClientMessage::Hello { version: 1 }).await;
    assert!(matches!(peer.next_app().await, ServerMessage::Welcome { .. }));
    peer
}

/// The next error the peer receives (other application messages are skipped).
async fn next_error(peer: &mut Peer) -> (ErrorCode, String) {
    loop {
        if let ServerMessage::Error { code, message } = peer.next_app().await {
            return (code, message);
        }
    }
}

/// The next private notes the peer receives.
async fn next_private_notes(peer: &mut Peer) -> Vec<Note> {
    loop {
        if let ServerMessage::PrivateNotes { notes } = peer.next_app().await {
            return notes;
        }
    }
}

fn settings_template() -> VoteSettings {
    VoteSettings {
        title: "Goal".into(),
        candidates: Vec::new(),
        budget: 3,
        max_per_candidate: 1,
        anonymous: false,
        hidden: false,
        duration_s: None,
        roster: false,
    }
}

fn note(id: &str, text: &str) -> Box<Note> {
    Box::new(Note { id: id.into(), text: text.into(), w: 160.0, h: 120.0, color: "pink".into(), ..Note::default() })
}

/// Sends one awareness update holding `states` (client id, clock, JSON).
async fn send_presence(peer: &mut Peer, states: &[(u64, u32, &str)]) {
    let clients = states
        .iter()
        .map(|(client, clock, json)| {
            (ClientID::new(*client), AwarenessUpdateEntry { clock: *clock, json: (*json).into() })
        })
        .collect();
    peer.send_raw(frame::awareness(AwarenessUpdate { clients })).await;
}

/// Two fresh peers on `board` and two on `other` each see the other's new note.
async fn witnesses_sync(addr: SocketAddr, board: &str, other: &str, tag: &str) {
    for (path, side) in [(board, "same"), (other, "other")] {
        let mut writer = Peer::join_as(addr, path, &format!("w-{side}")).await;
        let mut reader = Peer::join_as(addr, path, &format!("r-{side}")).await;
        let id = format!("witness-{tag}-{side}");
        writer.add_note(&id, "still syncing").await;
        reader.pump_until(|p| p.board.has_note(&p.doc.transact(), &id)).await;
        assert!(writer.denied.is_none(), "the witness's change was refused: {:?}", writer.denied);
    }
}

async fn server_with(set: impl FnOnce(&mut commonboard_server::config::Config)) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    set(&mut config);
    (spawn_app_with(config).await, dir)
}

#[tokio::test]
async fn a_forged_presence_state_is_refused_and_no_third_client_sees_it() {
    let (server, _dir) = server_with(|_| {}).await;
    let links = server.create_board_links("Presence").await;
    let other = server.create_board("Elsewhere").await;
    let mut fran = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut witness = Peer::join_as(server.addr, &links.path(&links.participant), "Wit").await;
    let mut eve = member(server.addr, &links.path(&links.viewer), "Eve").await;
    let mut stock = Peer::join_as(server.addr, &links.path(&links.participant), "Mallory").await;

    let fran_id = fran.client_id().get();
    let real = r#"{"user":{"name":"Fran"},"cursor":{"x":1,"y":2}}"#;
    fran.set_awareness(1, real).await;
    witness.pump_until(|p| p.awareness.get(&fran_id).map(String::as_str) == Some(real)).await;

    // A viewer, then a stock client, write Fran's client id with newer clocks.
    send_presence(&mut eve, &[(fran_id, 50, r#"{"user":{"name":"Fran (forged)"}}"#)]).await;
    send_presence(&mut eve, &[(fran_id, 51, "null")]).await;
    send_presence(&mut stock, &[(fran_id, 60, r#"{"user":{"name":"forged"}}"#)]).await;
    let (code, message) = next_error(&mut eve).await;
    assert_eq!(code, ErrorCode::Forbidden);
    assert!(message.contains("belongs to another connection"), "{message}");

    // Their own states still go through, and arrive after the refused ones would have.
    eve.set_awareness(1, r#"{"user":{"name":"Eve"}}"#).await;
    stock.set_awareness(1, r#"{"user":{"name":"Mallory"}}"#).await;
    let (eve_id, stock_id) = (eve.client_id().get(), stock.client_id().get());
    witness.pump_until(|p| p.awareness.contains_key(&eve_id) && p.awareness.contains_key(&stock_id)).await;
    assert_eq!(witness.awareness.get(&fran_id).map(String::as_str), Some(real), "the forgery was relayed");
    // A newcomer downloads Fran's real state only.
    let mut late = Peer::join_as(server.addr, &links.path(&links.viewer), "Late").await;
    late.pump_until(|p| p.awareness.contains_key(&fran_id)).await;
    assert_eq!(late.awareness[&fran_id], real);

    // Told once: a second forgery gets no second error.
    send_presence(&mut eve, &[(fran_id, 70, "{}")]).await;
    eve.drain_for(Duration::from_millis(200)).await;
    assert!(eve.errors().is_empty(), "{:?}", eve.errors());
    assert!(stock.denied.is_none(), "a stock client is not sent a permission-denied for a forgery");
    assert!(eve.closed.is_none() && stock.closed.is_none());
    // Fran still moves her own cursor.
    let moved = r#"{"user":{"name":"Fran"},"cursor":{"x":9,"y":9}}"#;
    fran.set_awareness(2, moved).await;
    witness.pump_until(|p| p.awareness.get(&fran_id).map(String::as_str) == Some(moved)).await;
    witnesses_sync(server.addr, &links.path(&links.participant), &other, "presence").await;
    server.stop().await;
}

/// A provider that reconnects before the server saw its old socket end sends its
/// state from a new connection: with a link minted for one person, that connection
/// takes the client id over, and the old one leaving no longer removes the state.
#[tokio::test]
async fn the_same_issued_identity_takes_its_presence_over_on_a_new_connection() {
    let (server, _dir) = server_with(|_| {}).await;
    let links = server.create_board_links("Reconnect").await;
    let other = server.create_board("Elsewhere").await;
    let minted: serde_json::Value = reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/identities", links.id)))
        .bearer_auth(&links.facilitator)
        .json(&serde_json::json!({ "name": "Ana" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ana_path = links.path(minted["token"].as_str().unwrap());
    let mut witness = Peer::join_as(server.addr, &links.path(&links.participant), "Wit").await;
    let mut old = Peer::join_as(server.addr, &ana_path, "Ana").await;
    let mut new = Peer::join_as(server.addr, &ana_path, "Ana").await;
    let id = old.client_id().get();
    send_presence(&mut old, &[(id, 1, r#"{"user":{"name":"Ana"}}"#)]).await;
    witness.pump_until(|p| p.awareness.contains_key(&id)).await;

    let moved = r#"{"user":{"name":"Ana","again":true}}"#;
    send_presence(&mut new, &[(id, 2, moved)]).await;
    witness.pump_until(|p| p.awareness.get(&id).map(String::as_str) == Some(moved)).await;
    old.leave().await;
    witness.drain_for(Duration::from_millis(300)).await;
    assert_eq!(witness.awareness.get(&id).map(String::as_str), Some(moved), "the old connection removed it");
    assert!(new.denied.is_none());

    // A participant of the shared link with the same name is not the same person.
    let mut namesake = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    send_presence(&mut namesake, &[(id, 9, r#"{"user":{"name":"not Ana"}}"#)]).await;
    namesake.set_awareness(1, "{}").await;
    let namesake_id = namesake.client_id().get();
    witness.pump_until(|p| p.awareness.contains_key(&namesake_id)).await;
    assert_eq!(witness.awareness.get(&id).map(String::as_str), Some(moved));
    witnesses_sync(server.addr, &links.path(&links.participant), &other, "reconnect").await;
    server.stop().await;
}

#[tokio::test]
async fn presence_is_capped_in_ids_and_bytes_per_connection() {
    let (server, _dir) = server_with(|c| c.max_awareness_bytes = 8 << 10).await;
    let links = server.create_board_links("Caps").await;
    let other = server.create_board("Elsewhere").await;
    let board = links.path(&links.participant);
    let mut witness = Peer::join_as(server.addr, &board, "Wit").await;
    let mut many = member(server.addr, &board, "Many").await;
    let mut heavy = Peer::join_as(server.addr, &links.path(&links.viewer), "Heavy").await;

    // Five ids from one connection: the fifth is one too many.
    let ids: Vec<(u64, u32, &str)> = (1..=5).map(|n| (1000 + n, 1, r#"{"user":{"name":"n"}}"#)).collect();
    send_presence(&mut many, &ids).await;
    let (code, message) = next_error(&mut many).await;
    assert_eq!(code, ErrorCode::LimitReached);
    assert!(message.contains("at most 4 awareness client ids"), "{message}");

    // A viewer without hello: three states of 6 KiB pass the per-state limit (8 KiB)
    // but not the connection's 16 KiB.
    let six = format!("{{\"pad\":\"{}\"}}", "x".repeat(6 << 10));
    let states: Vec<(u64, u32, &str)> = (1..=3).map(|n| (2000 + n, 1, six.as_str())).collect();
    send_presence(&mut heavy, &states).await;
    heavy.pump_until(|p| p.denied.is_some()).await;
    assert!(heavy.denied.as_deref().unwrap().contains("16384 bytes together"), "{:?}", heavy.denied);

    // Which of the update's entries is the one too many depends on their order.
    let count =
        |p: &Peer, range: std::ops::RangeInclusive<u64>| range.filter(|id| p.awareness.contains_key(id)).count();
    witness.pump_until(|p| count(p, 1001..=1005) == 4 && count(p, 2001..=2003) == 2).await;
    witness.drain_for(Duration::from_millis(200)).await;
    assert_eq!(count(&witness, 1001..=1005), 4, "a fifth id was relayed");
    assert_eq!(count(&witness, 2001..=2003), 2, "a third 6 KiB state was relayed");
    let mut late = Peer::join_as(server.addr, &board, "Late").await;
    late.pump_until(|p| count(p, 2001..=2003) == 2).await;
    let kept: usize = late.awareness.values().map(String::len).sum();
    assert!(kept <= 4 * 20 + 2 * (6 << 10) + 64, "newcomers download {kept} bytes of presence");
    witnesses_sync(server.addr, &board, &other, "caps").await;
    server.stop().await;
}

#[tokio::test]
async fn every_field_a_client_sends_is_bounded_and_refused_with_a_clear_error() {
    let (server, _dir) = server_with(|_| {}).await;
    let links = server.create_board_links("Fields").await;
    let other = server.create_board("Elsewhere").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    send(&mut fran, ClientMessage::SetPrivate { private: true }).await;

    let long = |n: usize| "x".repeat(n + 1);
    let cases: Vec<(Note, &str)> = vec![
        (Note { color: long(32), ..*note("c", "t") }, "color field holds at most 32"),
        (Note { kind: Some(long(32)), ..*note("k", "t") }, "kind field holds at most 32"),
        (Note { text: long(2000), ..*note("t", "") }, "text field holds at most 2000"),
        (Note { frame: Some(long(64)), ..*note("f", "t") }, "frame field holds at most 64"),
        (Note { pair: Some(long(64)), ..*note("p", "t") }, "pair field holds at most 64"),
        (
            Note {
                team: Some(commonboard_protocol::schema::TeamFields {
                    expects_of_us: long(1000),
                    ..Default::default()
                }),
                ..*note("e", "t")
            },
            "expectsOfUs field holds at most 1000",
        ),
    ];
    for (bad, expected) in cases {
        send(&mut ana, ClientMessage::PutPrivateNote { note: Box::new(bad) }).await;
        let (code, message) = next_error(&mut ana).await;
        assert_eq!(code, ErrorCode::InvalidRequest, "{message}");
        assert!(message.contains(expected), "{message} should say {expected}");
    }

    // A vote on a candidate id longer than a note id, and a turn order with a long id.
    let candidate = long(64);
    let settings = VoteSettings { candidates: vec![candidate], ..settings_template() };
    send(&mut fran, ClientMessage::OpenVote { settings }).await;
    let (code, message) = next_error(&mut fran).await;
    assert_eq!(code, ErrorCode::InvalidVote);
    assert!(message.contains("at most 64 characters"), "{message}");
    let people = vec![TurnPerson { id: long(64), name: "Someone".into() }];
    send(&mut fran, ClientMessage::StartTurns { people }).await;
    let (code, message) = next_error(&mut fran).await;
    assert_eq!(code, ErrorCode::InvalidRequest);
    assert!(message.contains("an id of at most 64"), "{message}");

    // A board keeps at most 200 votes.
    let mut author = Peer::join_as(server.addr, &links.path(&links.participant), "Ann").await;
    author.add_note("goal", "a candidate").await;
    fran.pump_until(|p| p.board.has_note(&p.doc.transact(), "goal")).await;
    let settings = VoteSettings { candidates: vec!["goal".into()], ..settings_template() };
    for _ in 0..200 {
        send(&mut fran, ClientMessage::OpenVote { settings: settings.clone() }).await;
    }
    send(&mut fran, ClientMessage::OpenVote { settings }).await;
    let (code, message) = next_error(&mut fran).await;
    assert_eq!(code, ErrorCode::InvalidVote);
    assert!(message.contains("200 votes already"), "{message}");
    let opened = fran.app.iter().filter(|m| matches!(m, ServerMessage::Vote { .. })).count();
    assert!(opened <= 200, "{opened} votes sent");

    // Nothing refused was kept: a valid note is Ana's only one.
    send(&mut ana, ClientMessage::PutPrivateNote { note: note("ok", "fine") }).await;
    let mine = next_private_notes(&mut ana).await;
    assert_eq!(mine.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["ok"]);
    witnesses_sync(server.addr, &links.path(&links.participant), &other, "fields").await;
    server.stop().await;
}

/// The issue's scenario: two private notes with 700,000-character colour and kind
/// fields, a reveal, then another participant's change. The board is not frozen.
#[tokio::test]
async fn huge_private_fields_cannot_freeze_a_board() {
    let (server, _dir) = server_with(|_| {}).await;
    let links = server.create_board_links("Freeze").await;
    let other = server.create_board("Elsewhere").await;
    let board = links.path(&links.participant);
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut mallory = member(server.addr, &board, "Mallory").await;
    let mut ben = member(server.addr, &board, "Ben").await;
    send(&mut fran, ClientMessage::SetPrivate { private: true }).await;

    let huge = "x".repeat(700_000);
    let colour = Note { color: huge.clone(), ..*note("m1", "colour") };
    let kind = Note { kind: Some(huge), ..*note("m2", "kind") };
    send(&mut mallory, ClientMessage::PutPrivateNote { note: Box::new(colour) }).await;
    send(&mut mallory, ClientMessage::PutPrivateNote { note: Box::new(kind) }).await;
    assert!(next_error(&mut mallory).await.1.contains("color field"));
    assert!(next_error(&mut mallory).await.1.contains("kind field"));
    send(&mut ben, ClientMessage::PutPrivateNote { note: note("b1", "a real obstacle") }).await;
    assert_eq!(next_private_notes(&mut ben).await.len(), 1);

    send(&mut fran, ClientMessage::SetPrivate { private: false }).await;
    ben.pump_until(|p| p.board.has_note(&p.doc.transact(), "b1")).await;
    assert!(!ben.board.has_note(&ben.doc.transact(), "m1") && !ben.board.has_note(&ben.doc.transact(), "m2"));
    let size = ben.doc.transact().encode_state_as_update_v1(&Default::default()).len();
    assert!(size < 16 << 10, "the board weighs {size} bytes");

    // Another participant's change is accepted, and nobody was told the board is full.
    ben.add_note("after", "the board still takes changes").await;
    fran.pump_until(|p| p.board.has_note(&p.doc.transact(), "after")).await;
    ben.drain_for(Duration::from_millis(100)).await;
    assert!(ben.denied.is_none(), "{:?}", ben.denied);
    assert!(ben.errors().is_empty(), "{:?}", ben.errors());
    witnesses_sync(server.addr, &board, &other, "freeze").await;
    server.stop().await;
}

/// A reveal that would pass `--max-document-bytes` is refused as a whole: the
/// facilitator is told, every private note is kept, and once some are deleted the reveal
/// goes through.
#[tokio::test]
async fn a_reveal_over_the_document_limit_is_refused_and_loses_nothing() {
    let (server, _dir) = server_with(|c| c.max_document_bytes = 48 << 10).await;
    let links = server.create_board_links("Reveal").await;
    let other = server.create_board("Elsewhere").await;
    let board = links.path(&links.participant);
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &board, "Ana").await;
    let mut ben = member(server.addr, &board, "Ben").await;
    send(&mut fran, ClientMessage::SetPrivate { private: true }).await;

    let text = "o".repeat(1900);
    for n in 0..20 {
        send(&mut ana, ClientMessage::PutPrivateNote { note: note(&format!("a{n}"), &text) }).await;
    }
    for n in 0..5 {
        send(&mut ben, ClientMessage::PutPrivateNote { note: note(&format!("b{n}"), &text) }).await;
    }
    ana.pump_until(|p| p.app.iter().any(|m| matches!(m, ServerMessage::PrivateNotes { notes } if notes.len() == 20)))
        .await;
    ben.pump_until(|p| p.app.iter().any(|m| matches!(m, ServerMessage::PrivateNotes { notes } if notes.len() == 5)))
        .await;
    assert!(ana.errors().is_empty() && ben.errors().is_empty(), "{:?} {:?}", ana.errors(), ben.errors());

    send(&mut fran, ClientMessage::SetPrivate { private: false }).await;
    let (code, message) = next_error(&mut fran).await;
    assert_eq!(code, ErrorCode::LimitReached);
    assert!(message.contains("past its size limit of 49152 bytes"), "{message}");
    assert!(message.contains("the private notes are kept"), "{message}");
    ben.drain_for(Duration::from_millis(200)).await;
    assert!(!ben.board.has_note(&ben.doc.transact(), "a0"), "nothing was revealed");

    // Still private: Ana's notes are all there; she deletes half, and the reveal fits.
    for n in 0..10 {
        send(&mut ana, ClientMessage::DeletePrivateNote { id: format!("a{n}") }).await;
    }
    ana.app.clear();
    ana.pump_until(|p| p.app.iter().any(|m| matches!(m, ServerMessage::PrivateNotes { notes } if notes.len() == 10)))
        .await;
    send(&mut fran, ClientMessage::SetPrivate { private: false }).await;
    ben.pump_until(|p| p.note_count() == 15).await;
    let size = ben.doc.transact().encode_state_as_update_v1(&Default::default()).len();
    assert!(size <= 48 << 10, "the reveal wrote past the limit: {size} bytes");

    // Ben's next change is accepted.
    ben.add_note("after", "still editing").await;
    fran.pump_until(|p| p.board.has_note(&p.doc.transact(), "after")).await;
    assert!(ben.denied.is_none(), "{:?}", ben.denied);
    witnesses_sync(server.addr, &board, &other, "reveal").await;
    server.stop().await;
}

/// A restore that would take the board past `--max-document-bytes` answers 409 with the
/// reason, and changes nothing.
#[tokio::test]
async fn a_restore_over_the_document_limit_is_refused_with_409() {
    let (server, _dir) = server_with(|c| c.max_document_bytes = 64 << 10).await;
    let links = server.create_board_links("Restore").await;
    let other = server.create_board("Elsewhere").await;
    let board = links.path(&links.participant);
    let mut ana = Peer::join_as(server.addr, &board, "Ana").await;
    let mut witness = Peer::join_as(server.addr, &board, "Wit").await;
    ana.add_note("first", &"a".repeat(40_000)).await;
    witness.pump_until(|p| p.board.has_note(&p.doc.transact(), "first")).await;
    ana.edit(|board, txn| {
        board.remove_note(txn, "first");
    })
    .await;
    ana.add_note("second", &"b".repeat(40_000)).await;
    witness.pump_until(|p| p.board.has_note(&p.doc.transact(), "second") && p.note_count() == 1).await;

    // Point 2 holds the first note: bringing it back beside the second passes 64 KiB.
    let response = reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/restore", links.id)))
        .bearer_auth(&links.facilitator)
        .json(&serde_json::json!({ "at": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("the restore would take the board past its size limit of 65536 bytes"), "{error}");
    witness.drain_for(Duration::from_millis(200)).await;
    assert!(!witness.board.has_note(&witness.doc.transact(), "first"), "the refused restore changed the board");

    ana.add_note("after", "still editing").await;
    witness.pump_until(|p| p.board.has_note(&p.doc.transact(), "after")).await;
    witnesses_sync(server.addr, &board, &other, "restore").await;
    server.stop().await;
}

#[derive(serde::Deserialize)]
struct Page {
    updates: Vec<Logged>,
    next_from: Option<u64>,
}

#[derive(serde::Deserialize)]
struct Logged {
    seq: u64,
    update: String,
}

async fn updates_page(server: &TestServer, links: &Links, from: u64) -> Page {
    let url = server.http(&format!("/api/boards/{}/updates?from={from}&limit=5000", links.id));
    let response = reqwest::Client::new().get(url).bearer_auth(&links.viewer).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn updates_are_paged_by_bytes() {
    let (server, _dir) = server_with(|_| {}).await;
    let links = server.create_board_links("Pastes").await;
    let other = server.create_board("Elsewhere").await;
    let board = links.path(&links.participant);
    let mut paster = Peer::join_as(server.addr, &board, "Paster").await;
    // Twelve pastes of 400 KB: 4.8 MB of log, more than one page's 4 MiB.
    for n in 0..12u8 {
        let text = char::from(b'a' + n).to_string().repeat(400_000);
        paster
            .edit(|_, txn| {
                let paste = txn.get_or_insert_text("paste");
                let len = paste.len(txn);
                paste.insert(txn, len, &text);
            })
            .await;
    }
    let expected = 12 * 400_000;
    let mut reader = Peer::join_as(server.addr, &board, "Reader").await;
    reader
        .pump_until(|p| {
            let txn = p.doc.transact();
            txn.get_text("paste").is_some_and(|t| t.get_string(&txn).len() == expected)
        })
        .await;

    let engine = base64::engine::general_purpose::STANDARD;
    let (mut from, mut pages, mut seqs) = (1, Vec::new(), Vec::new());
    loop {
        let page = updates_page(&server, &links, from).await;
        let bytes: usize = page.updates.iter().map(|u| engine.decode(&u.update).unwrap().len()).sum();
        assert!(!page.updates.is_empty());
        assert!(bytes <= 4 << 20, "a page of {bytes} bytes");
        seqs.extend(page.updates.iter().map(|u| u.seq));
        pages.push(bytes);
        match page.next_from {
            Some(next) => {
                assert_eq!(next, seqs.last().unwrap() + 1);
                from = next;
            }
            None => break,
        }
        assert!(pages.len() < 10, "pages never end");
    }
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(seqs, (1..=13).collect::<Vec<u64>>(), "every update once, in order");
    witnesses_sync(server.addr, &board, &other, "pages").await;
    server.stop().await;
}

async fn create(server: &TestServer) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http("/api/boards"))
        .json(&serde_json::json!({ "title": "Paced" }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn board_creation_is_paced_per_address_with_retry_after() {
    let (server, _dir) = server_with(|c| {
        c.board_creation_rate = 60.0;
        c.board_creation_burst = 3;
        c.board_creation_global_rate = 0.0;
    })
    .await;
    let mut created = Vec::new();
    for _ in 0..3 {
        let response = create(&server).await;
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        let participant = body["links"]["participant"].as_str().unwrap();
        let token = participant.split_once("?token=").unwrap().1;
        created.push(format!("{}?token={token}", body["id"].as_str().unwrap()));
    }
    let refused = create(&server).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1, "60 a minute: one a second");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("too many boards"), "{body}");

    // The boards made meanwhile work; after Retry-After, creation works again.
    witnesses_sync(server.addr, &created[0], &created[1], "paced").await;
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(100)).await;
    assert_eq!(create(&server).await.status(), 201);
    server.stop().await;
}

#[tokio::test]
async fn board_creation_has_a_global_cap() {
    let (server, _dir) = server_with(|c| {
        c.board_creation_rate = 0.0;
        c.board_creation_global_rate = 2.0;
    })
    .await;
    let (one, two) = (create(&server).await, create(&server).await);
    assert_eq!((one.status().as_u16(), two.status().as_u16()), (201, 201));
    let refused = create(&server).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 30, "2 a minute: one every 30 seconds");
    let token = |body: &serde_json::Value| {
        let link = body["links"]["participant"].as_str().unwrap().to_owned();
        format!("{}?token={}", body["id"].as_str().unwrap(), link.split_once("?token=").unwrap().1)
    };
    let (one, two): (serde_json::Value, serde_json::Value) = (one.json().await.unwrap(), two.json().await.unwrap());
    witnesses_sync(server.addr, &token(&one), &token(&two), "global").await;
    server.stop().await;
}
