//! Roles and access links, enforced by the server: tokens, viewers, lock, rotation.

use std::time::Duration;

use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage};
use commonboard_protocol::close;
use commonboard_protocol::frame;

use crate::client::Peer;
use crate::{config_in, spawn_app, spawn_app_with, Links, TestServer};

async fn hello(peer: &mut Peer) -> ServerMessage {
    peer.send_raw(frame::client_app(&ClientMessage::Hello { version: 1 })).await;
    peer.next_app().await
}

#[tokio::test]
async fn missing_forged_and_foreign_tokens_are_refused_with_a_reason() {
    let server = spawn_app().await;
    let links = server.create_board_links("Private").await;
    let other = server.create_board_links("Other").await;

    let closed = Peer::connect(server.addr, &links.id).await.closed().await;
    assert_eq!(closed.code, close::UNAUTHORIZED.0);
    assert!(closed.reason.contains("token is required"), "{closed:?}");

    let mut forged = links.participant.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for (token, reason) in [(forged.as_str(), "invalid"), (other.participant.as_str(), "another board")] {
        let closed = Peer::connect(server.addr, &links.path(token)).await.closed().await;
        assert_eq!(closed.code, close::FORBIDDEN.0);
        assert!(closed.reason.contains(reason), "{closed:?}");
    }
    let http = reqwest::Client::new();
    let info = server.http(&format!("/api/boards/{}", links.id));
    assert_eq!(http.get(&info).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&info).bearer_auth(&forged).send().await.unwrap().status(), 403);
    assert_eq!(http.get(&info).bearer_auth(&links.viewer).send().await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn expired_links_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.link_ttl = Duration::ZERO;
    let server = spawn_app_with(config).await;
    let links = server.create_board_links("Expired").await;
    let closed = Peer::connect(server.addr, &links.path(&links.participant)).await.closed().await;
    assert_eq!(closed.code, close::FORBIDDEN.0);
    assert!(closed.reason.contains("expired"), "{closed:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_viewer_sees_the_board_live_but_its_changes_are_refused() {
    let server = spawn_app().await;
    let links = server.create_board_links("Read only").await;
    let mut participant = Peer::join(server.addr, &links.path(&links.participant)).await;
    let mut viewer = Peer::join(server.addr, &links.path(&links.viewer)).await;
    assert!(matches!(hello(&mut viewer).await, ServerMessage::Welcome { role: Role::Viewer, .. }));

    viewer.add_note("from-viewer", "should not be kept").await;
    viewer.pump_until(|p| p.denied.is_some()).await;
    assert!(viewer.denied.as_deref().unwrap().contains("read-only"));

    participant.add_note("from-participant", "live").await;
    viewer.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "from-participant")).await;
    participant.pump_until(|p| p.updates_received >= 2).await;
    let mut late = Peer::join(server.addr, &links.path(&links.participant)).await;
    late.pump_until(|p| p.note_count() == 1).await;
    assert!(late.snapshot().notes.iter().all(|n| n.id != "from-viewer"), "a viewer's note was stored");
    assert!(participant.snapshot().notes.iter().all(|n| n.id != "from-viewer"), "a viewer's note was relayed");
    server.stop().await;
}

#[tokio::test]
async fn only_the_facilitator_locks_and_a_locked_board_takes_only_the_facilitators_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Lock").await;
    let mut facilitator = Peer::join(server.addr, &links.path(&links.facilitator)).await;
    let mut participant = Peer::join(server.addr, &links.path(&links.participant)).await;
    assert!(matches!(
        hello(&mut facilitator).await,
        ServerMessage::Welcome { role: Role::Facilitator, locked: false, .. }
    ));
    assert!(matches!(hello(&mut participant).await, ServerMessage::Welcome { role: Role::Participant, .. }));

    participant.send_raw(frame::client_app(&ClientMessage::Lock { locked: true })).await;
    assert!(matches!(participant.next_app().await, ServerMessage::Error { code: ErrorCode::Forbidden, .. }));

    facilitator.send_raw(frame::client_app(&ClientMessage::Lock { locked: true })).await;
    assert_eq!(participant.next_app().await, ServerMessage::BoardState { locked: true });
    participant.add_note("while-locked", "refused").await;
    participant.pump_until(|p| p.denied.is_some()).await;
    assert!(participant.denied.as_deref().unwrap().contains("locked"));
    facilitator.add_note("by-facilitator", "allowed").await;
    participant.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "by-facilitator")).await;
    server.stop().await;

    // The lock is kept across a restart.
    let server = spawn_app_with(config_in(dir.path())).await;
    let mut participant = Peer::join(server.addr, &links.path(&links.participant)).await;
    assert!(matches!(hello(&mut participant).await, ServerMessage::Welcome { locked: true, .. }));
    let snapshot = participant.snapshot();
    assert!(snapshot.notes.iter().any(|n| n.id == "by-facilitator"));
    assert!(snapshot.notes.iter().all(|n| n.id != "while-locked"));
    server.stop().await;
}

#[tokio::test]
async fn changes_refused_while_locked_reach_the_board_after_the_unlock() {
    let server = spawn_app_with(config_in(tempfile::tempdir().unwrap().path())).await;
    let links = server.create_board_links("Lock and unlock").await;
    let mut facilitator = Peer::join(server.addr, &links.path(&links.facilitator)).await;
    let mut phone = Peer::join(server.addr, &links.path(&links.participant)).await;
    hello(&mut facilitator).await;
    hello(&mut phone).await;
    facilitator.send_raw(frame::client_app(&ClientMessage::Lock { locked: true })).await;
    assert_eq!(phone.next_app().await, ServerMessage::BoardState { locked: true });
    phone.add_note("while-locked", "written during the lock").await;
    // Refused, and told in both ways: Yjs's permission-denied and an application error.
    let refused = loop {
        if let ServerMessage::Error { code, message } = phone.next_app().await {
            break (code, message);
        }
    };
    assert_eq!(refused.0, ErrorCode::Forbidden);
    assert!(refused.1.contains("locked") && phone.denied.as_deref().is_some_and(|d| d.contains("locked")));
    facilitator.drain_for(Duration::from_millis(200)).await;
    assert_eq!(facilitator.note_count(), 0, "nothing of it was applied");

    facilitator.send_raw(frame::client_app(&ClientMessage::Lock { locked: false })).await;
    assert_eq!(phone.next_app().await, ServerMessage::BoardState { locked: false });
    // A note after the unlock builds on the refused change; the server asks the phone
    // for what it lacks (sync step 1, answered by the peer as y-websocket does): both arrive.
    phone.add_note("after-unlock", "written after the unlock").await;
    phone.drain_for(Duration::from_millis(300)).await;
    facilitator.pump_until(|p| p.note_count() == 2).await;
    let ids: Vec<String> = facilitator.snapshot().notes.into_iter().map(|n| n.id).collect();
    assert!(ids.contains(&"while-locked".to_owned()) && ids.contains(&"after-unlock".to_owned()), "{ids:?}");
    server.stop().await;
}

async fn rotate(server: &TestServer, links: &Links, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/links/rotate", links.id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn rotating_links_refuses_the_old_ones_everywhere() {
    let server = spawn_app().await;
    let links = server.create_board_links("Rotate").await;
    let mut old_participant = Peer::join(server.addr, &links.path(&links.participant)).await;
    let mut facilitator = Peer::join(server.addr, &links.path(&links.facilitator)).await;

    assert_eq!(rotate(&server, &links, &links.participant).await.status(), 403);
    let response = rotate(&server, &links, &links.facilitator).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let new_participant = body["links"]["participant"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();

    let closed = old_participant.closed().await;
    assert_eq!(closed.code, close::FORBIDDEN.0);
    assert!(closed.reason.contains("revoked"), "{closed:?}");
    let refused = Peer::connect(server.addr, &links.path(&links.participant)).await.closed().await;
    assert!(refused.reason.contains("revoked"), "{refused:?}");
    let http = reqwest::Client::new();
    let info = server.http(&format!("/api/boards/{}", links.id));
    assert_eq!(http.get(&info).bearer_auth(&links.viewer).send().await.unwrap().status(), 403);

    let mut fresh = Peer::join(server.addr, &links.path(&new_participant)).await;
    fresh.add_note("after-rotation", "welcome").await;
    facilitator.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

/// The links generation a token was issued at (its claims are not secret, only signed).
fn generation_of(token: &str) -> u64 {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a token has a payload");
    let claims: commonboard_server::auth::Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).expect("a token's payload is its claims");
    claims.generation
}

/// Fires `count` rotations at once; returns the participant link each one answered.
async fn rotate_at_once(server: &TestServer, links: &Links, count: usize) -> Vec<String> {
    let answers = futures_util::future::join_all((0..count).map(|_| rotate(server, links, &links.facilitator))).await;
    let mut participants = Vec::new();
    for response in answers {
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        participants.push(body["links"]["participant"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned());
    }
    participants
}

#[tokio::test]
async fn concurrent_rotations_each_get_their_own_generation_and_retire_every_older_link() {
    const AT_ONCE: usize = 8;
    let server = spawn_app().await;
    let links = server.create_board_links("Rotations").await;
    let first = generation_of(&links.participant);

    // Nobody is on the board: the rotations load it.
    let mut rotated = rotate_at_once(&server, &links, AT_ONCE).await;
    // Someone is on it, holding the newest link: the rotations close their connection.
    let newest = rotated.iter().max_by_key(|token| generation_of(token)).unwrap().clone();
    let mut holder = Peer::join(server.addr, &links.path(&newest)).await;
    rotated.extend(rotate_at_once(&server, &links, AT_ONCE).await);

    let mut generations: Vec<u64> = rotated.iter().map(|token| generation_of(token)).collect();
    generations.sort_unstable();
    let expected: Vec<u64> = (first + 1..=first + 2 * AT_ONCE as u64).collect();
    assert_eq!(generations, expected, "every rotation has a generation of its own, one after another");
    assert_eq!(holder.closed().await.code, close::FORBIDDEN.0);

    let last = rotated.iter().find(|token| generation_of(token) == first + 2 * AT_ONCE as u64).unwrap();
    let http = reqwest::Client::new();
    let info = server.http(&format!("/api/boards/{}", links.id));
    for old in rotated.iter().filter(|token| *token != last).chain([&links.participant]) {
        assert_eq!(http.get(&info).bearer_auth(old).send().await.unwrap().status(), 403);
    }
    let refused = Peer::connect(server.addr, &links.path(&newest)).await.closed().await;
    assert_eq!(refused.code, close::FORBIDDEN.0, "{refused:?}");
    assert_eq!(http.get(&info).bearer_auth(last).send().await.unwrap().status(), 200);
    let mut fresh = Peer::join(server.addr, &links.path(last)).await;
    fresh.add_note("after-rotations", "welcome").await;
    fresh.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

#[tokio::test]
async fn identities_are_issued_by_the_server_and_can_be_minted_per_person() {
    let server = spawn_app().await;
    let links = server.create_board_links("Who").await;
    let mut peer = Peer::join(server.addr, &links.path(&links.participant)).await;
    let ServerMessage::Welcome { identity, token, .. } = hello(&mut peer).await else { panic!("no welcome") };
    assert!(identity.starts_with("person:") && identity.len() == "person:".len() + 32, "{identity}");
    assert!(token.is_some(), "a shared link's person gets a personal token to keep");

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
    let person = minted["identity"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let mut device = Peer::join(server.addr, &links.path(minted["token"].as_str().unwrap())).await;
        let ServerMessage::Welcome { identity, role, token, .. } = hello(&mut device).await else {
            panic!("no welcome")
        };
        assert_eq!((identity.as_str(), role, token), (person.as_str(), Role::Participant, None));
    }
    let viewer_mint = reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/identities", links.id)))
        .bearer_auth(&links.viewer)
        .json(&serde_json::json!({ "name": "Eve" }))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer_mint.status(), 403);
    server.stop().await;
}
