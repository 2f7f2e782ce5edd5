//! The workshop flow: private notes never reach other clients before the reveal, the
//! timer and the turn order survive a restart, and only the facilitator runs the flow.

use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage};
use commonboard_protocol::frame;
use commonboard_protocol::schema::{Frame, Note};
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
pub(crate) async fn next_workshop(peer: &mut Peer) -> WorkshopState {
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

fn private_note(id: &str, text: &str) -> Box<Note> {
    Box::new(Note {
        id: id.into(),
        text: text.into(),
        x: 10.0,
        y: 20.0,
        w: 160.0,
        h: 120.0,
        color: "pink".into(),
        ..Note::default()
    })
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
    let mut ana = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let (ana_id, _) = ana.hello().await;
    ana.app.clear();

    send(&mut fran, ClientMessage::SetTimer { seconds: Some(600) }).await;
    let timer = next_workshop(&mut ana).await.timer.expect("a timer runs");
    assert_eq!(timer.seconds, 600);
    let people = vec![
        TurnPerson { id: ana_id.clone(), name: "Ana".into() },
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
    assert_eq!((turns.current, turns.passed), (Some(1), vec![ana_id.clone()]));
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
    let presenter = crate::identity::presenter_token(&server, &links).await;
    let response = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/join.svg", links.id)))
        .bearer_auth(&presenter)
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

/// A note placed in one of the template's areas.
fn note_in(id: &str, text: &str, area: (f64, f64), author: &str) -> Note {
    Note {
        id: id.into(),
        text: text.into(),
        x: area.0 + 20.0,
        y: area.1 + 60.0,
        w: 160.0,
        h: 120.0,
        color: "yellow".into(),
        author: author.into(),
        ..Note::default()
    }
}

#[tokio::test]
async fn a_workshop_from_the_template_ends_in_minutes_and_a_calendar() {
    use commonboard_protocol::app::VoteSettings;
    use commonboard_protocol::schema::{note_kind, Action, TeamFields};

    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let templates: Vec<commonboard_protocol::api::TemplateInfo> =
        reqwest::get(server.http("/api/templates")).await.unwrap().json().await.unwrap();
    let workshop = templates.iter().find(|t| t.name == "collaboration-workshop").expect("offered");
    assert_eq!(workshop.steps.len(), 5);

    let links = crate::create_board_from(server.addr, "Ops × Data", "collaboration-workshop").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let state = next_workshop(&mut fran).await;
    assert_eq!(
        state.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["collaborators", "common-goal", "obstacles", "next-steps", "follow-up"]
    );
    let frames = fran.snapshot().frames;
    let area = |name: &str| {
        let frame = frames.iter().find(|f| f.area.as_deref() == Some(name)).unwrap_or_else(|| panic!("area {name}"));
        (frame.x, frame.y)
    };
    assert!(frames.iter().filter(|f| f.step.is_some() && f.guide.is_some()).count() >= 5, "guidance on each step");

    // Step 1: two teams; the group picks one.
    send(&mut fran, ClientMessage::SetStep { step: Some(0) }).await;
    assert_eq!(next_workshop(&mut fran).await.step, Some(0));
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    let team = |id: &str, name: &str, chosen: bool| Note {
        kind: Some(note_kind::TEAM.into()),
        team: Some(TeamFields {
            expects_of_us: format!("{name} expects answers within a day"),
            we_expect: "early warning of changes".into(),
            interaction: 4.0,
            conflict: if chosen { 3.0 } else { 1.0 },
            chosen,
        }),
        ..note_in(id, name, area("teams"), "Ana")
    };
    ana.edit(|b, t| {
        b.insert_note(t, &team("t1", "Data Platform", true));
        b.insert_note(t, &team("t2", "Security", false));
    })
    .await;
    // Step 2: needs, candidates, a vote that chooses the goal.
    ana.edit(|b, t| {
        b.insert_note(t, &note_in("v1", "Fewer failed releases", area("value"), "Ana"));
        b.insert_note(t, &note_in("g1", "Ship data changes safely every week", area("candidates"), "Ana"));
        b.insert_note(t, &Note { y: 400.0, ..note_in("g2", "One shared on-call rota", area("candidates"), "Ana") });
    })
    .await;
    ana.pump_until(|p| p.note_count() == 5).await;
    fran.pump_until(|p| p.note_count() == 5).await;
    let settings = VoteSettings {
        title: "Our common goal".into(),
        candidates: vec!["g1".into(), "g2".into()],
        budget: 1,
        max_per_candidate: 1,
        anonymous: false,
        hidden: false,
        duration_s: None,
        roster: false,
    };
    send(&mut fran, ClientMessage::OpenVote { settings }).await;
    let vote = loop {
        if let ServerMessage::Vote { vote } = ana.next_app().await {
            break vote.id;
        }
    };
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "g1".into() }).await;
    loop {
        if let ServerMessage::Ballot { remaining: 0, .. } = ana.next_app().await {
            break;
        }
    }
    send(&mut fran, ClientMessage::CloseVote { vote }).await;
    fran.pump_until(|p| p.snapshot().meta.common_goal.as_deref() == Some("g1")).await;
    // Step 3: going round the room, with someone in the room without a device.
    let people = vec![
        TurnPerson { id: "participant:Ana".into(), name: "Ana".into() },
        TurnPerson { id: "room:Carla".into(), name: "Carla".into() },
    ];
    send(&mut fran, ClientMessage::StartTurns { people }).await;
    assert!(next_workshop(&mut fran).await.turns.is_some());
    // Carla, in the room without a device, cannot pass herself: the facilitator passes
    // for her, and the round ends; once the turns end, the minutes still list her.
    send(&mut fran, ClientMessage::Turn { action: TurnAction::Next }).await;
    assert_eq!(next_workshop(&mut fran).await.turns.and_then(|t| t.current), Some(1));
    send(&mut fran, ClientMessage::Turn { action: TurnAction::Pass }).await;
    let turns = next_workshop(&mut fran).await.turns.expect("still going round");
    assert_eq!((turns.round, turns.passed.clone()), (1, vec![]), "a new round after the last person: {turns:?}");
    send(&mut fran, ClientMessage::Turn { action: TurnAction::End }).await;
    assert!(next_workshop(&mut fran).await.turns.is_none());
    // An obstacle and how its author manages it; step 4: actions; step 5.
    ana.edit(|b, t| {
        b.insert_note(t, &note_in("o1", "Releases freeze in December", area("obstacles"), "Ana"));
        b.insert_note(t, &note_in("r1", "Plan the pilot for January", area("remedies"), "Ana"));
        b.insert_note(t, &note_in("f1", "Review the actions every second Monday", area("followup"), "Ana"));
        let action = |id: &str, text: &str, owner: &str, due: &str, done: bool| Action {
            id: id.into(),
            text: text.into(),
            owner: owner.into(),
            due: due.into(),
            done,
            created_at: 1.0,
        };
        b.insert_action(t, &action("a1", "Draft the release checklist", "Ana", "2026-12-04", true));
        b.insert_action(t, &action("a2", "Book the pilot, with Security", "Fran", "2027-01-15", false));
        b.insert_action(t, &action("followup-1", "Are the actions done?", "Fran", "2027-02-01", false));
    })
    .await;
    fran.pump_until(|p| p.note_count() == 8 && p.snapshot().actions.len() == 3).await;

    let minutes = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/minutes.md?offset=60&zone=Europe/Paris", links.id)))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(minutes.status(), 200);
    assert!(minutes.headers()["content-disposition"].to_str().unwrap().contains("ops-data-minutes.md"));
    let minutes = minutes.text().await.unwrap();
    for expected in [
        "# Minutes: Ops × Data",
        "## Participants\n\nFran, Ana, Carla\n",
        "| Data Platform (chosen) | Data Platform expects answers within a day | early warning of changes | daily | weekly |",
        "| Security |",
        "**Team to approach first:** Data Platform",
        "**Value**\n\n- Fewer failed releases\n",
        "UTC+01:00 (Europe/Paris)",
        "Board, to look only: <http",
        "- **Check-in on 2027-02-01**, called by Fran: Are the actions done?",
        "Candidate goals, and the vote “Our common goal” (closed)",
        "| Ship data changes safely every week | 1 |",
        "| One shared on-call rota | 0 |",
        "**Common goal:** Ship data changes safely every week",
        "- **Releases freeze in December** (raised by Ana): Plan the pilot for January",
        "| Draft the release checklist | Ana | 2026-12-04 | yes |",
        "| Book the pilot, with Security | Fran | 2027-01-15 | no |",
        "1 of 2 actions done.",
        "- Review the actions every second Monday",
    ] {
        assert!(minutes.contains(expected), "minutes lack {expected:?}:\n{minutes}");
    }

    let ics = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/actions.ics", links.id)))
        .bearer_auth(&links.participant)
        .send()
        .await
        .unwrap();
    assert_eq!(ics.headers()["content-type"], "text/calendar; charset=utf-8");
    let ics = ics.text().await.unwrap();
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
    assert!(ics.contains("SUMMARY:Follow-up check-in: Are the actions done? (Fran)"), "{ics}");
    assert!(ics.contains("DTSTART;VALUE=DATE:20270115\r\nDTEND;VALUE=DATE:20270116\r\n"));
    assert!(ics.contains("SUMMARY:Book the pilot\\, with Security (Fran)"));
    server.stop().await;
}

#[tokio::test]
async fn a_screen_that_joins_late_gets_where_the_facilitator_is() {
    use commonboard_protocol::workshop::Viewport;
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Room").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    let viewport = Viewport { x: 1200.0, y: 400.0, zoom: 0.8 };
    send(&mut ana, ClientMessage::ShowViewport { viewport, bring: true }).await;
    assert_eq!(next_error(&mut ana).await.0, ErrorCode::Forbidden);
    send(&mut fran, ClientMessage::ShowViewport { viewport, bring: false }).await;
    assert_eq!(ana.next_app().await, ServerMessage::Viewport { viewport, bring: false, by: Some("Fran".into()) });
    let mut screen = member(server.addr, &links.path(&links.viewer), "Screen").await;
    assert_eq!(screen.next_app().await, ServerMessage::Viewport { viewport, bring: false, by: Some("Fran".into()) });
    server.stop().await;
}

#[tokio::test]
async fn going_back_a_step_turns_private_writing_off_and_keeps_the_timer() {
    let server = spawn_app_with(config_in(tempfile::tempdir().unwrap().path())).await;
    let links = crate::create_board_from(server.addr, "Steps", "collaboration-workshop").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    next_workshop(&mut fran).await;
    send(&mut fran, ClientMessage::SetStep { step: Some(2) }).await;
    assert!(next_workshop(&mut fran).await.private, "step 3 is written privately");
    send(&mut ana, ClientMessage::PutPrivateNote { note: private_note("o1", "Budget") }).await;
    send(&mut fran, ClientMessage::SetTimer { seconds: Some(300) }).await;
    let timer = loop {
        let state = next_workshop(&mut fran).await;
        if let Some(timer) = state.timer.filter(|_| state.writing.len() == 1) {
            break timer;
        }
    };
    send(&mut fran, ClientMessage::SetStep { step: Some(1) }).await;
    let state = next_workshop(&mut fran).await;
    assert_eq!(state.step, Some(1));
    assert!(!state.private, "step 2 notes never silently become private");
    assert_eq!(state.timer, Some(timer), "only the facilitator stops the timer");
    assert_eq!(state.writing.len(), 1, "Ana's obstacle stays private until the reveal");
    send(&mut ana, ClientMessage::PutPrivateNote { note: private_note("n1", "Value") }).await;
    assert_eq!(next_error(&mut ana).await.0, ErrorCode::InvalidRequest);
    server.stop().await;
}

#[tokio::test]
async fn a_reveal_into_a_full_area_grows_it_and_moves_the_area_below_down() {
    let server = spawn_app_with(config_in(tempfile::tempdir().unwrap().path())).await;
    let links = crate::create_board_from(server.addr, "Full", "collaboration-workshop").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    let frames = fran.snapshot().frames;
    let area = |name: &str| frames.iter().find(|f| f.area.as_deref() == Some(name)).unwrap().clone();
    let (value, costs) = (area("value"), area("costs"));
    // "Value" holds two notes, one above the other: it is full. "Costs" below has one.
    ana.edit(|b, t| {
        for (i, dy) in [44.0, 176.0].into_iter().enumerate() {
            let at = (value.x + 16.0, value.y + dy);
            b.insert_note(t, &Note { frame: Some(value.id.clone()), ..note_in(&format!("v{i}"), "Value", at, "Ana") });
        }
        let at = (costs.x + 16.0, costs.y + 44.0);
        b.insert_note(t, &Note { frame: Some(costs.id.clone()), ..note_in("c0", "Cost", at, "Ana") });
    })
    .await;
    let cost_y = ana.snapshot().notes.iter().find(|n| n.id == "c0").unwrap().y;
    send(&mut fran, ClientMessage::SetStep { step: Some(1) }).await;
    next_workshop(&mut fran).await;
    send(&mut fran, ClientMessage::SetPrivate { private: true }).await;
    next_workshop(&mut fran).await;
    for i in 0..2 {
        let note = Note { frame: Some(value.id.clone()), ..*private_note(&format!("p{i}"), "Hidden") };
        send(&mut ana, ClientMessage::PutPrivateNote { note: Box::new(note) }).await;
    }
    loop {
        if next_workshop(&mut fran).await.writing.first().is_some_and(|w| w.notes == 2) {
            break;
        }
    }
    send(&mut fran, ClientMessage::SetPrivate { private: false }).await;
    fran.pump_until(|p| p.note_count() == 5).await;
    let board = fran.snapshot();
    let frame = |id: &str| board.frames.iter().find(|f| f.id == id).unwrap().clone();
    let (grown, moved) = (frame(&value.id), frame(&costs.id));
    assert!(grown.h > value.h, "the full area grew: {grown:?}");
    assert_eq!(moved.y - costs.y, grown.h - value.h, "the area below moved down by as much");
    let inside = |f: &Frame, n: &Note| n.x >= f.x && n.y >= f.y && n.x + n.w <= f.x + f.w && n.y + n.h <= f.y + f.h;
    for n in &board.notes {
        let own = frame(n.frame.as_deref().unwrap());
        assert!(inside(&own, n), "{} inside its area", n.id);
    }
    let cost = board.notes.iter().find(|n| n.id == "c0").unwrap();
    assert_eq!(cost.y - cost_y, moved.y - costs.y, "the note below moved with its area");
    server.stop().await;
}

#[tokio::test]
async fn revealed_notes_land_in_free_space_of_their_area() {
    let server = spawn_app_with(config_in(tempfile::tempdir().unwrap().path())).await;
    let links = crate::create_board_from(server.addr, "Crowded", "collaboration-workshop").await;
    let mut fran = member(server.addr, &links.path(&links.facilitator), "Fran").await;
    let mut ana = member(server.addr, &links.path(&links.participant), "Ana").await;
    let area = fran.snapshot().frames.into_iter().find(|f| f.area.as_deref() == Some("obstacles")).unwrap();
    // The area's top-left is taken by a note on the board already.
    let (x, y) = (area.x + 16.0, area.y + 44.0);
    ana.edit(|b, t| {
        b.insert_note(t, &Note { frame: Some(area.id.clone()), ..note_in("on-board", "Already here", (x, y), "Ana") })
    })
    .await;
    send(&mut fran, ClientMessage::SetStep { step: Some(2) }).await;
    next_workshop(&mut fran).await;
    for i in 0..4 {
        // Each written at the same place, where the note on the board is.
        let note = Note { frame: Some(area.id.clone()), x, y, ..*private_note(&format!("p{i}"), "Hidden") };
        send(&mut ana, ClientMessage::PutPrivateNote { note: Box::new(note) }).await;
    }
    loop {
        if next_workshop(&mut fran).await.writing.first().is_some_and(|w| w.notes == 4) {
            break;
        }
    }
    send(&mut fran, ClientMessage::SetPrivate { private: false }).await;
    fran.pump_until(|p| p.note_count() == 5).await;
    let notes = fran.snapshot().notes;
    for (i, a) in notes.iter().enumerate() {
        assert!(a.x >= area.x && a.x + a.w <= area.x + area.w, "{} outside its area", a.id);
        for b in &notes[i + 1..] {
            let overlap = a.x < b.x + b.w && a.x + a.w > b.x && a.y < b.y + b.h && a.y + a.h > b.y;
            assert!(!overlap, "{} covers {}", a.id, b.id);
        }
    }
    server.stop().await;
}
