//! Identities the server issues: each test attacks the real server the way a
//! participant, a viewer or a web page that wants to cheat would, and checks the
//! outcome (the secret absent from every byte the attacker received, the note still
//! there for its author, the vote count holding, the token refused, a 4xx).

use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage, VoteSettings};
use commonboard_protocol::close;
use commonboard_protocol::schema::Note;
use commonboard_protocol::workshop::{TurnAction, TurnPerson};

use crate::client::Peer;
use crate::votes::{board_with_vote, next_ballot, next_error, next_vote, send, settings};
use crate::workshop::next_workshop;
use crate::{config_in, spawn_app, spawn_app_with, Links, TestServer};

const SECRET: &str = "Ana's secret: the budget is frozen";

/// The presenter link the facilitator creates for the big screen.
pub(crate) async fn presenter_token(server: &TestServer, links: &Links) -> String {
    let response = reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/presenter", links.id)))
        .bearer_auth(&links.facilitator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["url"].as_str().unwrap().contains("/present?token="));
    body["token"].as_str().unwrap().to_owned()
}

/// A personal link minted by the facilitator: (person id, token).
async fn mint(server: &TestServer, links: &Links, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/identities", links.id)))
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": "Ana" }))
        .send()
        .await
        .unwrap()
}

async fn minted(server: &TestServer, links: &Links) -> (String, String) {
    let response = mint(server, links, &links.facilitator).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    (body["identity"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
}

fn private_note(id: &str, text: &str) -> Box<Note> {
    Box::new(Note { id: id.into(), text: text.into(), w: 160.0, h: 120.0, ..Note::default() })
}

/// Waits for the peer's private notes to be `count` long; returns them.
async fn private_notes(peer: &mut Peer, count: usize) -> Vec<Note> {
    loop {
        if let ServerMessage::PrivateNotes { notes } = peer.next_app().await {
            if notes.len() == count {
                return notes;
            }
        }
    }
}

async fn status(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_same_name_on_the_same_link_is_another_person_and_gets_nothing_of_hers() {
    let server = spawn_app().await;
    let links = server.create_board_links("Private").await;
    let shared = links.path(&links.participant);
    let mut fran = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fran").await;
    fran.hello().await;
    send(&mut fran, ClientMessage::SetPrivate { private: true }).await;
    let mut ana = Peer::join_as(server.addr, &shared, "Ana").await;
    let (ana_id, ana_token) = ana.hello().await;
    let ana_token = ana_token.expect("a personal token to keep");
    send(&mut ana, ClientMessage::PutPrivateNote { note: private_note("a1", SECRET) }).await;
    private_notes(&mut ana, 1).await;

    // Mallory opens the same shared link under Ana's name (and tries `user=` too).
    let mut mallory = Peer::join_as(server.addr, &format!("{shared}&user={ana_id}"), "Ana").await;
    let (mallory_id, _) = mallory.hello().await;
    assert_ne!(mallory_id, ana_id, "a name or a user= parameter is not an identity");
    send(&mut mallory, ClientMessage::DeletePrivateNote { id: "a1".into() }).await;
    send(&mut mallory, ClientMessage::PutPrivateNote { note: private_note("a1", "overwritten") }).await;
    let refusals = async {
        let mut refused = 0;
        while refused < 2 {
            if let ServerMessage::Error { code, .. } = mallory.next_app().await {
                assert_eq!(code, ErrorCode::Forbidden);
                refused += 1;
            }
        }
    };
    refusals.await;
    mallory.drain_for(std::time::Duration::from_millis(300)).await;
    let received = String::from_utf8_lossy(&mallory.received).into_owned();
    assert!(!received.contains("budget is frozen"), "the secret reached another person");

    // Ana comes back with her personal token, from another device: the same person,
    // with her note untouched.
    drop(ana);
    let mut phone = Peer::join_as(server.addr, &links.path(&ana_token), "Ana-phone").await;
    let (again, token) = phone.hello().await;
    assert_eq!((again.as_str(), token), (ana_id.as_str(), None));
    let notes = private_notes(&mut phone, 1).await;
    assert_eq!(notes[0].text, SECRET);
    server.stop().await;
}

#[tokio::test]
async fn nobody_else_can_pass_anas_turn_not_even_under_her_name() {
    let server = spawn_app().await;
    let links = server.create_board_links("Round").await;
    let shared = links.path(&links.participant);
    let mut fran = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fran").await;
    fran.hello().await;
    let mut ana = Peer::join_as(server.addr, &shared, "Ana").await;
    let (ana_id, _) = ana.hello().await;
    // Ben opens the same shared link in another browser: another person.
    let mut ben = Peer::join_as(server.addr, &shared, "Ben").await;
    let (ben_id, _) = ben.hello().await;
    let people = vec![
        TurnPerson { id: ana_id.clone(), name: "Ana".into() },
        TurnPerson { id: ben_id.clone(), name: "Ben".into() },
    ];
    send(&mut fran, ClientMessage::StartTurns { people }).await;
    loop {
        let turns = next_workshop(&mut ana).await.turns;
        if turns.is_some_and(|t| t.current == Some(0)) {
            break;
        }
    }

    // Mallory takes the same shared link under Ana's name and with her id as `user=`;
    // Ben, whose turn comes next, and a viewer try too.
    let mut mallory = Peer::join_as(server.addr, &format!("{shared}&user={ana_id}"), "Ana").await;
    let (mallory_id, _) = mallory.hello().await;
    assert_ne!(mallory_id, ana_id);
    let mut screen = Peer::join_as(server.addr, &links.path(&links.viewer), "Ana").await;
    screen.hello().await;
    for thief in [&mut mallory, &mut ben, &mut screen] {
        for action in [TurnAction::Pass, TurnAction::Next, TurnAction::Skip] {
            send(thief, ClientMessage::Turn { action }).await;
            let code = loop {
                match thief.next_app().await {
                    ServerMessage::Error { code, .. } => break code,
                    ServerMessage::Workshop { state } => {
                        assert_eq!(state.turns.and_then(|t| t.current), Some(0), "the turn moved")
                    }
                    _ => {}
                }
            };
            assert_eq!(code, ErrorCode::Forbidden, "{action:?}");
        }
    }
    // Still Ana's turn, nobody passed: as a newcomer sees it and as Ana's own
    // connection received it (no workshop change reached her).
    let mut late = Peer::join_as(server.addr, &links.path(&links.viewer), "Late").await;
    late.hello().await;
    let turns = next_workshop(&mut late).await.turns.expect("the round is going");
    assert_eq!((turns.current, turns.passed.len()), (Some(0), 0));
    ana.drain_for(std::time::Duration::from_millis(200)).await;
    for message in &ana.app {
        if let ServerMessage::Workshop { state } = message {
            assert_eq!(state.turns.as_ref().and_then(|t| t.current), Some(0), "the turn moved: {state:?}");
        }
    }
    // Ana herself may pass: the check is who she is, not that passing is closed.
    ana.app.clear();
    send(&mut ana, ClientMessage::Turn { action: TurnAction::Pass }).await;
    let turns = next_workshop(&mut ana).await.turns.unwrap();
    assert_eq!((turns.current, turns.passed), (Some(1), vec![ana_id]));
    server.stop().await;
}

#[tokio::test]
async fn a_name_change_never_gives_a_new_budget() {
    let server = spawn_app().await;
    let (links, mut facilitator, vote) = board_with_vote(&server, settings(1, 1, false, None)).await;
    let mut pat = Peer::join_as(server.addr, &links.path(&links.participant), "Pat").await;
    let (_, token) = pat.hello().await;
    let token = token.unwrap();
    assert_eq!(next_ballot(&mut pat).await.1, 1, "the ballot sent on hello");
    send(&mut pat, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    assert_eq!(next_ballot(&mut pat).await.1, 0);
    send(&mut pat, ClientMessage::SetName { name: "Pat2".into() }).await;
    send(&mut pat, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-b".into() }).await;
    assert_eq!(next_error(&mut pat).await, ErrorCode::OverBudget);
    // Reconnecting as the same person under a third name: the same budget.
    let mut pat3 = Peer::join_as(server.addr, &links.path(&token), "Pat3").await;
    pat3.hello().await;
    send(&mut pat3, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-c".into() }).await;
    assert_eq!(next_error(&mut pat3).await, ErrorCode::OverBudget);
    let view = loop {
        let view = next_vote(&mut facilitator).await;
        if view.tally.as_ref().is_some_and(|t| t.iter().map(|c| c.votes).sum::<u32>() == 1) {
            break view;
        }
    };
    let tally = view.tally.unwrap();
    assert_eq!(tally.iter().map(|c| c.votes).sum::<u32>(), 1, "one person, one vote");
    assert_eq!(view.turnout.map(|t| t.voted), Some(1));
    pat3.drain_for(std::time::Duration::from_millis(200)).await;
    let list: Vec<commonboard_protocol::app::VoteView> =
        crate::get_json(server.http(&format!("/api/boards/{}/votes", links.id)), &links.facilitator).await;
    assert_eq!(list[0].tally.as_ref().unwrap().iter().map(|c| c.votes).sum::<u32>(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_roster_vote_takes_personal_links_only_and_the_facilitator_sees_the_turnout() {
    let server = spawn_app().await;
    let roster = VoteSettings { roster: true, ..settings(2, 1, false, None) };
    let (links, mut facilitator, vote) = board_with_vote(&server, roster).await;
    let mut guest = Peer::join_as(server.addr, &links.path(&links.participant), "Guest").await;
    guest.hello().await;
    send(&mut guest, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    assert_eq!(next_error(&mut guest).await, ErrorCode::Forbidden);
    let (_, personal) = minted(&server, &links).await;
    let mut ana = Peer::join_as(server.addr, &links.path(&personal), "Ana").await;
    ana.hello().await;
    assert_eq!(next_ballot(&mut ana).await.1, 2, "the ballot sent on hello");
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    assert_eq!(next_ballot(&mut ana).await.1, 1);
    // Live: the facilitator and Ana are on the roster and present; one of them voted.
    loop {
        let view = next_vote(&mut facilitator).await;
        if let Some(turnout) = view.turnout.filter(|t| t.voted == 1) {
            assert_eq!(turnout.present, 2, "the guest is present but not on the roster");
            break;
        }
    }
    // Participants never see the turnout.
    let view = next_vote(&mut guest).await;
    assert_eq!(view.turnout, None);
    // Someone leaving changes the count, live.
    ana.leave().await;
    loop {
        let view = next_vote(&mut facilitator).await;
        if view.turnout.is_some_and(|t| t.present == 1 && t.voted == 1) {
            break;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn nothing_a_viewer_or_a_participant_can_call_returns_a_higher_token() {
    let server = spawn_app().await;
    let links = server.create_board_links("Roles").await;
    let http = reqwest::Client::new();
    let (_, personal) = minted(&server, &links).await;
    let presenter = presenter_token(&server, &links).await;
    let api = |path: &str| server.http(&format!("/api/boards/{}{path}", links.id));
    for (who, token) in [("viewer", &links.viewer), ("participant", &links.participant), ("personal", &personal)] {
        let calls = [
            ("join.svg", http.get(api("/join.svg")).bearer_auth(token)),
            ("identities", http.post(api("/identities")).bearer_auth(token).json(&serde_json::json!({"name": "x"}))),
            ("presenter", http.post(api("/presenter")).bearer_auth(token)),
            ("rotate", http.post(api("/links/rotate")).bearer_auth(token)),
            ("rotate-facilitator", http.post(api("/links/rotate-facilitator")).bearer_auth(token)),
            ("remove", http.delete(api("/people/person:00000000000000000000000000000000")).bearer_auth(token)),
        ];
        for (call, request) in calls {
            let (code, body) = status(request).await;
            assert_eq!(code, 403, "{who} {call}: {body}");
            assert!(!body.contains("v1."), "{who} {call} received a token: {body}");
        }
        let (code, body) = status(http.get(api("")).bearer_auth(token)).await;
        assert_eq!(code, 200);
        assert!(!body.contains("links") && !body.contains(&links.facilitator), "{who}: {body}");
    }
    // The presenter draws the join code, and changes nothing.
    let (code, _) = status(http.get(api("/join.svg")).bearer_auth(&presenter)).await;
    assert_eq!(code, 200);
    let (code, _) =
        status(http.post(api("/identities")).bearer_auth(&presenter).json(&serde_json::json!({"name": "x"}))).await;
    assert_eq!(code, 403);
    let mut screen = Peer::join_as(server.addr, &links.path(&presenter), "Screen").await;
    let (screen_id, token) = screen.hello().await;
    assert!(screen_id.starts_with("viewer:") && token.is_none());
    screen.add_note("n", "from the screen").await;
    screen.pump_until(|p| p.denied.is_some()).await;
    let state: serde_json::Value = crate::get_json(api("/state"), &links.viewer).await;
    assert_eq!(state["board"]["notes"].as_array().map_or(0, Vec::len), 0, "{state}");
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_facilitator_link_is_refused_and_its_connections_closed() {
    let server = spawn_app().await;
    let links = server.create_board_links("Rotate").await;
    let http = reqwest::Client::new();
    let mut old = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let rotated: serde_json::Value = http
        .post(server.http(&format!("/api/boards/{}/links/rotate-facilitator", links.id)))
        .bearer_auth(&links.facilitator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_facilitator = rotated["links"]["facilitator"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    assert_ne!(new_facilitator, links.facilitator);
    let closed = old.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (close::FORBIDDEN.0, "this link was revoked; ask the facilitator for the new one")
    );
    for path in ["", "/join.svg", "/history"] {
        let (code, _) =
            status(http.get(server.http(&format!("/api/boards/{}{path}", links.id))).bearer_auth(&links.facilitator))
                .await;
        assert_eq!(code, 403, "{path}");
    }
    let (code, _) = status(
        http.post(server.http(&format!("/api/boards/{}/links/rotate", links.id))).bearer_auth(&links.facilitator),
    )
    .await;
    assert_eq!(code, 403);
    let mut again = Peer::connect(server.addr, &links.path(&links.facilitator)).await;
    assert_eq!(again.closed().await.code, close::FORBIDDEN.0);
    // The new link works; the participants' link was not touched.
    let mut fran = Peer::join_as(server.addr, &links.path(&new_facilitator), "Fran").await;
    let (id, _) = fran.hello().await;
    assert_eq!(id, "facilitator");
    ana.add_note("still", "here").await;
    fran.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}

#[tokio::test]
async fn a_removed_person_is_refused_everywhere_and_what_they_wrote_stays() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Remove").await;
    let http = reqwest::Client::new();
    let (minted_id, minted_token) = minted(&server, &links).await;
    let mut eve = Peer::join_as(server.addr, &links.path(&links.participant), "Eve").await;
    let (eve_id, eve_token) = eve.hello().await;
    let eve_token = eve_token.unwrap();
    let mut eve_phone = Peer::join_as(server.addr, &links.path(&eve_token), "Eve").await;
    eve.add_note("eve-note", "Eve was here").await;
    let mut fran = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fran").await;
    fran.pump_until(|p| p.note_count() == 1).await;

    let remove = |person: &str, token: &str| {
        http.delete(server.http(&format!("/api/boards/{}/people/{person}", links.id))).bearer_auth(token.to_owned())
    };
    let (code, _) = status(remove(&eve_id, &links.participant)).await;
    assert_eq!(code, 403, "only the facilitator removes people");
    let (code, body) = status(remove(&eve_id, &links.facilitator)).await;
    assert_eq!(code, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["connections_closed"], 2);
    for peer in [&mut eve, &mut eve_phone] {
        let closed = peer.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (close::FORBIDDEN.0, "the facilitator removed this person from the board")
        );
    }
    let mut back = Peer::connect(server.addr, &links.path(&eve_token)).await;
    assert_eq!(back.closed().await.code, close::FORBIDDEN.0);
    let (code, _) = status(http.get(server.http(&format!("/api/boards/{}", links.id))).bearer_auth(&eve_token)).await;
    assert_eq!(code, 403);
    // A personal link the facilitator minted is refused once its person is removed,
    // after a restart too.
    let (code, _) = status(remove(&minted_id, &links.facilitator)).await;
    assert_eq!(code, 200);
    let (code, _) = status(remove("participant:Eve", &links.facilitator)).await;
    assert_eq!(code, 400);
    drop(fran);
    server.stop().await;
    let server = spawn_app_with(config_in(dir.path())).await;
    let mut minted_peer = Peer::connect(server.addr, &links.path(&minted_token)).await;
    assert_eq!(minted_peer.closed().await.code, close::FORBIDDEN.0);
    let mut eve_again = Peer::connect(server.addr, &links.path(&eve_token)).await;
    assert_eq!(eve_again.closed().await.code, close::FORBIDDEN.0);
    let mut fran = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fran").await;
    assert_eq!(fran.snapshot().notes[0].text, "Eve was here", "what they wrote stays");
    let (_, _) = fran.hello().await;
    server.stop().await;
}

#[tokio::test]
async fn requests_naming_another_host_are_refused_in_every_mode() {
    for open in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        config.open = open;
        config.allowed_hosts = vec!["boards.lan".into()];
        let server = spawn_app_with(config).await;
        let links = server.create_board_links("Hosts").await;
        let port = server.addr.port();
        let http = reqwest::Client::new();
        let evil = format!("attacker.example:{port}");
        for path in ["/", "/healthz", &format!("/api/boards/{}", links.id), "/api/templates"] {
            let (code, body) = status(http.get(server.http(path)).header("host", &evil)).await;
            assert_eq!(code, 421, "{path}: {body}");
            assert!(body.contains("--allowed-hosts"), "{body}");
        }
        // DNS rebinding: a page of attacker.example, now resolving to this server, opens
        // a WebSocket with its own Host and a matching Origin.
        let url = format!("ws://{}/ws/{}?token={}", server.addr, links.id, links.participant);
        let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
        request.headers_mut().insert("host", evil.parse().unwrap());
        request.headers_mut().insert("origin", format!("http://{evil}").parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 421),
            other => panic!("the rebound WebSocket was not refused: {:?}", other.map(|_| ())),
        }
        for host in
            [format!("localhost:{port}"), format!("127.0.0.1:{port}"), "boards.lan".into(), "boards.lan:8443".into()]
        {
            let (code, _) = status(http.get(server.http("/healthz")).header("host", &host)).await;
            assert_eq!(code, 200, "{host}");
        }
        let (code, _) = status(http.get(server.http("/healthz")).header("host", "localhost:1")).await;
        assert_eq!(code, 421, "localhost on another port");
        server.stop().await;
    }
}

#[tokio::test]
async fn open_mode_guests_get_ids_the_server_chooses() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(commonboard_server::config::Config { open: true, ..config_in(dir.path()) }).await;
    let mut ana = Peer::join_as(server.addr, "open-board", "Ana").await;
    let (ana_id, token) = ana.hello().await;
    assert!(ana_id.starts_with("person:") && token.is_some(), "{ana_id}");
    let mut mallory = Peer::join_as(server.addr, &format!("open-board?user={ana_id}"), "Ana").await;
    let (mallory_id, _) = mallory.hello().await;
    assert_ne!(mallory_id, ana_id);
    // The personal token brings Ana back as herself.
    let mut again = Peer::join_as(server.addr, &format!("open-board?token={}", token.unwrap()), "Ana").await;
    let (again_id, _) = again.hello().await;
    assert_eq!(again_id, ana_id);
    server.stop().await;
}

#[tokio::test]
async fn a_stock_yjs_client_without_hello_gets_a_server_chosen_id_per_connection() {
    let server = spawn_app().await;
    let links = server.create_board_links("Plain").await;
    let mut plain = Peer::join_as(server.addr, &links.path(&links.participant), "Plain").await;
    let before = plain.updates_received;
    plain.add_note("p", "from a plain client").await;
    plain.pump_until(|p| p.updates_received > before).await;
    let history: serde_json::Value =
        crate::get_json(server.http(&format!("/api/boards/{}/history", links.id)), &links.viewer).await;
    let author = history["entries"][0]["author"]["id"].as_str().unwrap();
    assert!(author.starts_with("person:") && author.len() == 39, "{history}");
    assert_eq!(history["entries"][0]["author"]["name"], "Plain");
    server.stop().await;
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = spawn_app_with(config_in(&data)).await;
    let links = server.create_board_links("Files").await;
    let mut ana = Peer::join(server.addr, &links.path(&links.participant)).await;
    let before = ana.updates_received;
    ana.add_note("n", "x").await;
    ana.pump_until(|p| p.updates_received > before).await;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 3, "the database, its WAL and the signing key");
    drop(ana);
    server.stop().await;
}

#[tokio::test]
async fn an_action_id_cannot_inject_into_the_calendar() {
    let server = spawn_app().await;
    let links = server.create_board_links("Calendar").await;
    let mut ana = Peer::join(server.addr, &links.path(&links.participant)).await;
    let injected = "a1\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Pay at https://phish.example\r\nUID:x";
    let action = commonboard_protocol::schema::Action {
        id: injected.into(),
        text: "Book the pilot; with Security, \\ and Zoë\r\n# not a heading".into(),
        owner: "Ana".into(),
        due: "2027-01-15".into(),
        done: false,
        created_at: 1.0,
    };
    let before = ana.updates_received;
    ana.edit(|b, t| b.insert_action(t, &action)).await;
    ana.pump_until(|p| p.updates_received > before).await;
    let get = |file: &str| {
        reqwest::Client::new()
            .get(server.http(&format!("/api/boards/{}/{file}", links.id)))
            .bearer_auth(links.viewer.clone())
            .send()
    };
    let ics = get("actions.ics").await.unwrap().text().await.unwrap();
    let unfolded = ics.replace("\r\n ", "");
    assert_eq!(unfolded.matches("BEGIN:VEVENT").count(), 1, "{ics}");
    assert!(!unfolded.contains("phish"), "{ics}");
    assert!(
        unfolded.contains("SUMMARY:Book the pilot\\; with Security\\, \\\\ and Zoë # not a heading (Ana)"),
        "{ics}"
    );
    let minutes = get("minutes.md").await.unwrap().text().await.unwrap();
    assert!(!minutes.lines().any(|l| l.starts_with("# not")), "{minutes}");
    assert!(minutes.contains("Book the pilot; with Security, \\\\ and Zoë \\# not a heading"), "{minutes}");
    server.stop().await;
}

#[tokio::test]
async fn a_welcome_names_the_role_and_only_participants_get_a_token() {
    let server = spawn_app().await;
    let links = server.create_board_links("Welcome").await;
    for (token, role) in [(&links.facilitator, Role::Facilitator), (&links.viewer, Role::Viewer)] {
        let mut peer = Peer::join(server.addr, &links.path(token)).await;
        send(&mut peer, ClientMessage::Hello { version: 1 }).await;
        match peer.next_app().await {
            ServerMessage::Welcome { role: got, token, .. } => assert_eq!((got, token), (role, None)),
            other => panic!("{other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_persons_own_qr_code_holds_their_own_token_and_nothing_more() {
    let server = spawn_app().await;
    let links = server.create_board_links("Phone").await;
    let mut ana = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let (_, token) = ana.hello().await;
    let token = token.unwrap();
    let me = |bearer: &str| {
        reqwest::Client::new()
            .get(server.http(&format!("/api/boards/{}/me.svg", links.id)))
            .bearer_auth(bearer.to_owned())
            .send()
    };
    let response = me(&token).await.unwrap();
    assert_eq!(response.status(), 200);
    let url = response.headers()["x-commonboard-join-url"].to_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/b/{}/capture?token={token}", links.id)), "{url}");
    // The phone opens it: the same person.
    let mut phone = Peer::join_as(server.addr, &links.path(url.rsplit_once("token=").unwrap().1), "Ana").await;
    assert_eq!(phone.hello().await.0, ana.hello().await.0);
    for other in [&links.participant, &links.viewer, &links.facilitator] {
        let response = me(other).await.unwrap();
        assert_eq!(response.status(), 400);
        assert!(!response.text().await.unwrap().contains("v1."));
    }
    server.stop().await;
}
