//! The workshop flow: private notes never reach other clients before the reveal, the
//! timer and the turn order survive a restart, and only the facilitator runs the flow.

use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage};
use commonboard_protocol::frame;
use commonboard_protocol::schema::Note;
use commonboard_protocol::workshop::{TurnAction, TurnPerson, WorkshopState};

use crate::client::Peer;
use crate::{config_in, spawn_app_with};

async fn send(peer: &mut Peer, message: ClientMessage) {
    peer.send_raw(frame::client_app(&message)).await;
}

/// Joins as `name` and says hello.
async fn member(addr: std::net::SocketAddr, board: &str, name: &str) -> Peer {
    let mut peer = Peer::join_as(addr, board, name).await;
    send(&mut peer, ClientMessage::Hello { version: 1 }).await;
    assert!(matches!(peer.next_app().await, ServerMessage::Welcome { .. }));
    peer
}

/// The next workshop state the peer receives (other messages are skipped).
async fn next_workshop(peer: &mut Peer) -> WorkshopState {
    loop {
        if let ServerMessage::Workshop { state } = peer.next_app().await {
            return state;
        }
    }
}

/// The next error the peer receives.
async fn next_error(peer: &mut Peer) -> (ErrorCode, String) {
    loop {
        if let ServerMessage::Error { code, message } = peer.next_app().await {
            return (code, message);
        }
    }
}

fn private_note(id: &str, text: &str) -> Note {
    Note {
        id: id.into(),
        text: text.into(),
        x: 10.0,
        y: 20.0,
        w: 160.0,
        h: 120.0,
        color: "pink".into(),
        ..Note::default()
    }
}

#[tokio::test]
async fn private_notes_reach_nobody_before_the_reveal() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Obstacles").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    let mut ben = member(server.addr, &links.path(&links.participant), "Ben").await;
    let mut plain = Peer::join_as(server.addr, &links.path(&links.viewer), "Screen").await;

    send(&mut ana, ClientMessage::PutPrivateNote { note: private_note("a1", "Budget") }).await;
    let (code, message) = next_error(&mut ana).await;
    assert_eq!(code, ErrorCode::InvalidRequest, "{message}");

    send(&mut ben, ClientMessage::SetPrivate { private: true }).await;
    assert_eq!(next_error(&mut ben).await.0, ErrorCode::Forbidden);
    send(&mut fran, ClientMessage::SetPrivate { private: true }).await;
    assert!(next_workshop(&mut ana).await.private);

    send(&mut ana, ClientMessage::PutPrivateNote { note: private_note("a1", "Budget is frozen") }).await;
    send(&mut ana, ClientMessage::PutPrivateNote { note: private_note("a2", "No shared backlog") }).await;
    send(&mut ben, ClientMessage::PutPrivateNote { note: private_note("a1", "I take Ana's id") }).await;
    assert_eq!(next_error(&mut ben).await.0, ErrorCode::Forbidden);
    // Ana's own devices get her notes; the others see only how many she is writing.
    let mine = loop {
        if let ServerMessage::PrivateNotes { notes } = ana.next_app().await {
            if notes.len() == 2 {
                break notes;
            }
        }
    };
    assert_eq!(mine[0].author, "Ana");
    let counted = loop {
        match ben.next_app().await {
            ServerMessage::PrivateNotes { notes } => assert!(notes.is_empty(), "Ben got someone's private notes"),
            ServerMessage::Workshop { state } if state.writing.first().is_some_and(|w| w.notes == 2) => break state,
            _ => {}
        }
    };
    assert_eq!(counted.writing[0].name, "Ana");

    // Nothing of the notes reached any document but Ana's server-side store.
    for peer in [&mut ben, &mut fran, &mut plain] {
        peer.drain_for(std::time::Duration::from_millis(200)).await;
        assert_eq!(peer.note_count(), 0);
    }

    // They survive a restart, still private.
    drop((fran, ana, ben, plain));
    server.stop().await;
    let server = spawn_app_with(config_in(dir.path())).await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let state = next_workshop(&mut fran).await;
    assert!(state.private && state.writing[0].notes == 2);
    let mut ben = member(server.addr, &links.path(&links.participant), "Ben").await;
    assert_eq!(ben.note_count(), 0);

    // The reveal puts them all on the board at once, under Ana's name.
    send(&mut fran, ClientMessage::SetPrivate { private: false }).await;
    ben.pump_until(|p| p.note_count() == 2).await;
    let snapshot = ben.snapshot();
    assert!(snapshot.notes.iter().all(|n| n.author == "Ana"));
    assert_eq!(
        snapshot.notes.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(),
        ["Budget is frozen", "No shared backlog"]
    );
    let state = next_workshop(&mut fran).await;
    assert!(!state.private && state.writing.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_timer_and_the_turns_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Round").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;

    send(&mut fran, ClientMessage::SetTimer { seconds: Some(600) }).await;
    let timer = next_workshop(&mut ana).await.timer.expect("a timer runs");
    assert_eq!(timer.seconds, 600);
    let people = vec![
        TurnPerson { id: "participant:Ana".into(), name: "Ana".into() },
        TurnPerson { id: "room:Carla".into(), name: "Carla (in the room)".into() },
    ];
    send(&mut ana, ClientMessage::StartTurns { people: people.clone() }).await;
    assert_eq!(next_error(&mut ana).await.0, ErrorCode::Forbidden);
    send(&mut fran, ClientMessage::StartTurns { people }).await;
    assert_eq!(next_workshop(&mut ana).await.turns.unwrap().current, Some(0));
    // Ana passes on her own turn; she cannot move the order otherwise.
    send(&mut ana, ClientMessage::Turn { action: TurnAction::Next }).await;
    assert_eq!(next_error(&mut ana).await.0, ErrorCode::Forbidden);
    send(&mut ana, ClientMessage::Turn { action: TurnAction::Pass }).await;
    let turns = next_workshop(&mut ana).await.turns.unwrap();
    assert_eq!((turns.current, turns.passed), (Some(1), vec!["participant:Ana".to_owned()]));
    drop((fran, ana));
    server.stop().await;

    let server = spawn_app_with(config_in(dir.path())).await;
    let mut screen = member(server.addr, &links.path(&links.viewer), "Screen").await;
    let state = next_workshop(&mut screen).await;
    assert_eq!(state.timer, Some(timer), "the same deadline, in server time");
    assert_eq!(state.turns.unwrap().current, Some(1));
    server.stop().await;
}

#[tokio::test]
async fn the_big_screen_gets_a_qr_code_that_joins_as_a_participant() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Room").await;
    let response = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/join.svg", links.id)))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let url = response.headers()["x-commonboard-join-url"].to_str().unwrap().to_owned();
    let prefix = format!("http://{}/b/{}/capture?token=", server.addr, links.id);
    assert!(url.starts_with(&prefix), "{url}");
    assert!(response.text().await.unwrap().starts_with("<?xml"));

    // The link's token makes a participant.
    let token = &url[prefix.len()..];
    let mut phone = Peer::join_as(server.addr, &links.path(token), "Phone").await;
    send(&mut phone, ClientMessage::Hello { version: 1 }).await;
    assert!(matches!(phone.next_app().await, ServerMessage::Welcome { role: Role::Participant, .. }));
    let anonymous = reqwest::get(server.http(&format!("/api/boards/{}/join.svg", links.id))).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    server.stop().await;
}
