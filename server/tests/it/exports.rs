//! Exports against the real server: the board as SVG and PNG, the actions as CSV and
//! JSON, the whole board as a file that `POST /api/boards` and `commonboard import`
//! turn into a new board.

use commonboard_protocol::app::ClientMessage;
use commonboard_protocol::history::{BoardStateAt, ChangeKind, HistoryPage};
use commonboard_protocol::schema::{Action, Note};

use crate::client::Peer;
use crate::votes::{board_with_vote, next_vote, send, settings};
use crate::{config_in, spawn_app_with, Links, TestServer};

async fn get(server: &TestServer, links: &Links, file: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(server.http(&format!("/api/boards/{}/{file}", links.id)));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A board with a chosen goal (by a vote), a long note, and two actions, one of them
/// a would-be spreadsheet formula.
pub(crate) async fn workshop_board(server: &TestServer) -> (Links, Peer) {
    let (links, mut fay, vote) = board_with_vote(server, settings(3, 3, false, None)).await;
    for _ in 0..2 {
        send(&mut fay, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-b".into() }).await;
    }
    send(&mut fay, ClientMessage::CloseVote { vote: vote.clone() }).await;
    while next_vote(&mut fay).await.open {}
    fay.pump_until(|p| p.snapshot().meta.common_goal.as_deref() == Some("goal-b")).await;
    let before = fay.updates_received;
    fay.edit(|board, txn| {
        board.insert_note(
            txn,
            &Note {
                id: "long".into(),
                text: "A long note that the export has to wrap over several lines, <kept> & escaped".into(),
                x: 400.0,
                y: 300.0,
                w: 160.0,
                h: 120.0,
                color: "pink".into(),
                author: "Fay".into(),
                ..Note::default()
            },
        );
        let action = |id: &str, text: &str, owner: &str, due: &str, at: f64| Action {
            id: id.into(),
            text: text.into(),
            owner: owner.into(),
            due: due.into(),
            done: false,
            created_at: at,
        };
        board.insert_action(txn, &action("a1", "Book the room, then \"announce\" it", "Ana", "2026-12-24", 1.0));
        board.insert_action(txn, &action("a2", "=HYPERLINK(\"http://example.invalid\")", "@Bo", "", 2.0));
    })
    .await;
    fay.pump_until(|p| p.updates_received > before).await;
    (links, fay)
}

#[tokio::test]
async fn the_board_exports_as_pictures_tables_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let (links, fay) = workshop_board(&server).await;

    // The same access as the minutes: any link, none without one.
    assert_eq!(get(&server, &links, "export.svg", None).await.status(), 401);
    let svg = get(&server, &links, "export.svg", Some(&links.viewer)).await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml; charset=utf-8");
    assert!(svg.headers()["content-disposition"].to_str().unwrap().contains("vote.svg"));
    let svg = svg.text().await.unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.contains("&lt;kept&gt; &amp;") && svg.contains("#f8bbd0"), "the note, escaped, in its colour");
    assert!(svg.contains("Common goal") && svg.contains("#1b5e20"), "the chosen goal is marked");
    let tspans = svg.matches("<tspan").count();
    assert!(tspans >= 5, "the long note is wrapped: {tspans} lines in all");

    let png = get(&server, &links, "export.png", Some(&links.participant)).await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (width, height) =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    let svg_width: f64 = svg.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert_eq!(width as f64, svg_width.ceil(), "one pixel per canvas pixel");
    assert!(height > 100, "{width} x {height}");

    let csv = get(&server, &links, "actions.csv", Some(&links.viewer)).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(
        csv.text().await.unwrap(),
        format!(
            "text,owner,due,done,created_at,id\r\n\
             \"Book the room, then \"\"announce\"\" it\",Ana,2026-12-24,no,{},a1\r\n\
             \"'=HYPERLINK(\"\"http://example.invalid\"\")\",'@Bo,,no,{},a2\r\n",
            commonboard_server::history::rfc3339(1),
            commonboard_server::history::rfc3339(2)
        )
    );
    let json: serde_json::Value = get(&server, &links, "actions.json", Some(&links.viewer)).await.json().await.unwrap();
    assert_eq!(json[0]["owner"], "Ana");
    assert_eq!(json[1]["text"], "=HYPERLINK(\"http://example.invalid\")", "JSON keeps the text as written");

    // The board file: the facilitator's only (it holds every ballot).
    assert_eq!(get(&server, &links, "board.json", Some(&links.participant)).await.status(), 403);
    let file = get(&server, &links, "board.json", Some(&links.facilitator)).await;
    assert_eq!(file.status(), 200);
    let file: serde_json::Value = file.json().await.unwrap();
    assert_eq!(file["format"], "commonboard-board");
    assert_eq!(file["votes"][0]["ballots"][0]["count"], 2);
    assert_eq!(file["snapshot"]["meta"]["commonGoal"], "goal-b");
    assert!(file["history"].as_array().unwrap().len() >= 3);

    // Imported by the API: a new board with the same content, votes and history summary.
    let created = reqwest::Client::new().post(server.http("/api/boards")).json(&file).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let new_id = created["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, links.id);
    let token = created["links"]["viewer"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    let state: BoardStateAt = crate::get_json(server.http(&format!("/api/boards/{new_id}/state")), &token).await;
    assert_eq!(state.board, fay.snapshot());
    let votes: serde_json::Value = crate::get_json(server.http(&format!("/api/boards/{new_id}/votes")), &token).await;
    assert_eq!(votes[0]["tally"][0]["candidate"], "goal-b");
    let history: HistoryPage =
        crate::get_json(server.http(&format!("/api/boards/{new_id}/history?limit=100")), &token).await;
    let kinds: Vec<ChangeKind> = history.entries.iter().flat_map(|e| e.changes.iter().map(|c| c.kind)).collect();
    assert!(kinds.contains(&ChangeKind::VoteOpened) && kinds.contains(&ChangeKind::NoteAdded), "{kinds:?}");

    // A damaged file is refused with a reason, and creates nothing.
    let mut damaged = file.clone();
    damaged["document"] = serde_json::json!("AAAA not base64 !!");
    let refused = reqwest::Client::new().post(server.http("/api/boards")).json(&damaged).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("document"));
    server.stop().await;

    // `commonboard import FILE` into another server's data directory.
    let other = tempfile::tempdir().unwrap();
    let path = other.path().join("board.json");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let data = other.path().join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_commonboard"))
        .arg("import")
        .arg(&path)
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let link = printed.lines().find_map(|l| l.strip_prefix("facilitator link: ")).expect(&printed).to_owned();
    let (path, token) = link.split_once("?token=").unwrap();
    let id = path.trim_start_matches("/b/");
    let server = spawn_app_with(config_in(&data)).await;
    let state: BoardStateAt = crate::get_json(server.http(&format!("/api/boards/{id}/state")), token).await;
    assert_eq!(state.board, fay.snapshot());
    server.stop().await;
}
