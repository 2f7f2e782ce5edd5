//! History: the board at any point equals what a client saw then, diffs name the edits
//! made, restores reach everyone live and can themselves be undone, compaction keeps
//! checkpoints and says what it dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use commonboard_protocol::app::{ClientMessage, ServerMessage};
use commonboard_protocol::frame;
use commonboard_protocol::history::{BoardDiff, BoardStateAt, ChangeKind, HistoryPage, RestoreResult, Timeline};
use commonboard_protocol::schema::{note, BoardSnapshot};
use commonboard_server::history::compaction;
use commonboard_server::store::sqlite::SqliteStore;
use commonboard_server::store::Store;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

use crate::client::Peer;
use crate::{config_in, spawn_app_with, Links};

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn get<T: serde::de::DeserializeOwned>(addr: SocketAddr, token: &str, path: &str) -> T {
    let response =
        reqwest::Client::new().get(format!("http://{addr}/api/boards/{path}")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}: {}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn restore(addr: SocketAddr, links: &Links, token: &str, at: u64) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/api/boards/{}/restore", links.id))
        .bearer_auth(token)
        .json(&serde_json::json!({ "at": at, "name": "Fran" }))
        .send()
        .await
        .unwrap()
}

async fn last_seq(addr: SocketAddr, links: &Links) -> u64 {
    get::<Timeline>(addr, &links.viewer, &format!("{}/timeline?buckets=1", links.id)).await.last_seq
}

/// The board at `seq` in the Yjs form, applied to a fresh document (it must apply whole).
async fn yjs_state(server: &crate::TestServer, links: &Links, seq: u64) -> Doc {
    let response = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/state?at={seq}&format=yjs", links.id)))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-commonboard-seq"], seq.to_string().as_str());
    let doc = Doc::new();
    doc.transact_mut().apply_update(Update::decode_v1(&response.bytes().await.unwrap()).unwrap()).unwrap();
    assert!(!doc.transact().has_missing_updates(), "the Yjs state at {seq} applies whole");
    doc
}

/// Makes one edit and waits for the server's echo: the edit is then durable and logged.
async fn edit_and_settle(
    peer: &mut Peer,
    change: impl FnOnce(&commonboard_protocol::schema::Board, &mut yrs::TransactionMut),
) {
    let before = peer.updates_received;
    peer.edit(change).await;
    peer.pump_until(|p| p.updates_received > before).await;
}

/// One random edit of a realistic mix: add, move, retype, recolour or delete a note.
async fn random_edit(peer: &mut Peer, rng: &mut Lcg, step: u32) {
    let ids = peer.board.note_ids(&peer.doc.transact());
    let pick = if ids.is_empty() { 0 } else { rng.below(10) };
    let target = if ids.is_empty() { String::new() } else { ids[rng.below(ids.len() as u64) as usize].clone() };
    match pick {
        0..=2 => {
            let id = format!("n{step}");
            let before = peer.updates_received;
            peer.add_note(&id, &format!("note {step}")).await;
            peer.pump_until(|p| p.updates_received > before).await;
        }
        3..=5 => {
            let (x, y) = (rng.below(2000) as f64, rng.below(1500) as f64);
            edit_and_settle(peer, |b, t| {
                b.move_note(t, &target, x, y);
            })
            .await
        }
        6..=7 => {
            edit_and_settle(peer, |b, t| {
                b.set_note_text(t, &target, &format!("edited at {step}"));
            })
            .await
        }
        8 => {
            edit_and_settle(peer, |b, t| {
                b.set_note_field(t, &target, note::COLOR, "pink".into());
            })
            .await
        }
        _ => {
            edit_and_settle(peer, |b, t| {
                b.remove_note(t, &target);
            })
            .await
        }
    }
}

#[tokio::test]
async fn the_board_at_any_point_is_what_a_client_saw_then() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        spawn_app_with(commonboard_server::config::Config { checkpoint_every: 25, ..config_in(dir.path()) }).await;
    let links = server.create_board_links("History").await;
    let mut editor = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let mut rng = Lcg(20261123);

    // Record what the client saw after each edit, at the point the server gave it.
    let mut seen: Vec<(u64, BoardSnapshot)> = vec![(last_seq(server.addr, &links).await, editor.snapshot())];
    for step in 0..150 {
        random_edit(&mut editor, &mut rng, step).await;
        seen.push((last_seq(server.addr, &links).await, editor.snapshot()));
    }
    let points: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
    assert!(points.windows(2).all(|w| w[1] == w[0] + 1), "one logged update per edit: {points:?}");

    for _ in 0..40 {
        let (seq, snapshot) = &seen[rng.below(seen.len() as u64) as usize];
        let state: BoardStateAt = get(server.addr, &links.viewer, &format!("{}/state?at={seq}", links.id)).await;
        assert_eq!((state.seq, state.exact), (*seq, true));
        assert_eq!(&state.board, snapshot, "state at {seq}");
        // The Yjs form (stitched from the stored rows, no document) shows the same.
        let yjs = yjs_state(&server, &links, *seq).await;
        assert_eq!(&commonboard_protocol::schema::Board::new(&yjs).snapshot(&yjs.transact()), snapshot, "yjs at {seq}");
    }

    // The Yjs form rebuilds the same board.
    let (seq, snapshot) = &seen[77];
    let bytes = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/state?at={seq}&format=yjs", links.id)))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.headers()["x-commonboard-seq"], seq.to_string().as_str());
    let doc = Doc::new();
    doc.transact_mut().apply_update(Update::decode_v1(&bytes.bytes().await.unwrap()).unwrap()).unwrap();
    assert_eq!(&commonboard_protocol::schema::Board::new(&doc).snapshot(&doc.transact()), snapshot);

    // A time names the last update at or before it.
    let newest: HistoryPage = get(server.addr, &links.viewer, &format!("{}/history?limit=1", links.id)).await;
    let entry = &newest.entries[0];
    let by_time: BoardStateAt =
        get(server.addr, &links.viewer, &format!("{}/state?time={}", links.id, entry.at.replace('+', "%2B"))).await;
    assert_eq!(by_time.seq, entry.seq);

    // Points outside the log are refused clearly.
    for bad in ["state?at=0", "state?at=99999", "state?time=1999-01-01T00:00:00Z", "state?at=2&time=x"] {
        let response = reqwest::Client::new()
            .get(server.http(&format!("/api/boards/{}/{bad}", links.id)))
            .bearer_auth(&links.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    server.stop().await;
}

#[tokio::test]
async fn a_diff_names_the_edits_made_between_two_points() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        spawn_app_with(commonboard_server::config::Config { checkpoint_every: 4, ..config_in(dir.path()) }).await;
    let links = server.create_board_links("Diff").await;
    let mut peer = Peer::join(server.addr, &links.path(&links.participant)).await;
    for n in 1..=5 {
        let before = peer.updates_received;
        peer.add_note(&format!("n{n}"), &format!("note {n}")).await;
        peer.pump_until(|p| p.updates_received > before).await;
    }
    let from = last_seq(server.addr, &links).await;
    let before = peer.updates_received;
    peer.add_note("n6", "note 6").await;
    peer.pump_until(|p| p.updates_received > before).await;
    edit_and_settle(&mut peer, |b, t| {
        b.remove_note(t, "n2");
    })
    .await;
    edit_and_settle(&mut peer, |b, t| {
        b.move_note(t, "n3", 300.0, 400.0);
    })
    .await;
    edit_and_settle(&mut peer, |b, t| {
        b.set_note_text(t, "n4", "rewritten");
    })
    .await;
    edit_and_settle(&mut peer, |b, t| {
        b.set_note_field(t, "n5", note::COLOR, "green".into());
    })
    .await;
    let to = last_seq(server.addr, &links).await;

    let diff: BoardDiff = get(server.addr, &links.viewer, &format!("{}/diff?from={from}&to={to}", links.id)).await;
    let ids = |items: &[commonboard_protocol::schema::Note]| items.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&diff.notes.added), ["n6"]);
    assert_eq!(ids(&diff.notes.removed), ["n2"]);
    let mut changed: Vec<(String, Vec<String>)> =
        diff.notes.changed.iter().map(|c| (c.id.clone(), c.fields.clone())).collect();
    changed.sort();
    let expected = [("n3", vec!["x", "y"]), ("n4", vec!["text"]), ("n5", vec!["color"])]
        .map(|(id, fields)| (id.to_owned(), fields.into_iter().map(str::to_owned).collect()));
    assert_eq!(changed, expected);

    // The reverse diff undoes it.
    let back: BoardDiff = get(server.addr, &links.viewer, &format!("{}/diff?from={to}&to={from}", links.id)).await;
    assert_eq!((ids(&back.notes.added), ids(&back.notes.removed)), (vec!["n2".to_owned()], vec!["n6".to_owned()]));

    // The history names the same edits, newest first.
    let page: HistoryPage = get(server.addr, &links.viewer, &format!("{}/history?limit=5", links.id)).await;
    let kinds: Vec<ChangeKind> = page.entries.iter().map(|e| e.changes[0].kind).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::NoteChanged,
            ChangeKind::NoteEdited,
            ChangeKind::NoteMoved,
            ChangeKind::NoteDeleted,
            ChangeKind::NoteAdded
        ]
    );
    assert_eq!(page.entries[3].summary, "deleted the note “note 2”");
    assert_eq!(page.entries[0].author.name, "tester");
    server.stop().await;
}

#[tokio::test]
async fn history_pages_cover_every_update_once_and_group_typing() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        spawn_app_with(commonboard_server::config::Config { checkpoint_every: 7, ..config_in(dir.path()) }).await;
    let links = server.create_board_links("Pages").await;
    let mut ana = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let mut ben = Peer::join_as(server.addr, &links.path(&links.participant), "Ben").await;
    let (ben_id, _) = ben.hello().await;
    let before = ana.updates_received;
    ana.add_note("a", "A").await;
    ana.pump_until(|p| p.updates_received > before).await;
    // Ana types into her note, one keystroke per update: one line in the history.
    for n in 1..=12 {
        edit_and_settle(&mut ana, |b, t| {
            b.set_note_text(t, "a", &"x".repeat(n));
        })
        .await;
    }
    for n in 0..30 {
        let before = ben.updates_received;
        ben.add_note(&format!("b{n}"), "B").await;
        ben.pump_until(|p| p.updates_received > before).await;
    }
    // Ben's waits may end on Ana's relayed updates rather than his own echo: wait for
    // the log to hold all of them (creation, Ana's note and 12 keystrokes, Ben's 30).
    let last = 1 + 1 + 12 + 30;
    let deadline = tokio::time::Instant::now() + crate::PATIENCE;
    while last_seq(server.addr, &links).await < last {
        assert!(tokio::time::Instant::now() < deadline, "the log never reached {last}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let mut covered = Vec::new();
    let mut before = None;
    let mut typing = None;
    for _ in 0..50 {
        let cursor = before.map(|b| format!("&before={b}")).unwrap_or_default();
        let page: HistoryPage = get(server.addr, &links.viewer, &format!("{}/history?limit=4{cursor}", links.id)).await;
        for entry in &page.entries {
            covered.extend(entry.first_seq..=entry.seq);
            if entry.author.name == "Ana" && entry.changes[0].kind == ChangeKind::NoteEdited {
                typing = Some(entry.clone());
            }
        }
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    covered.sort();
    assert_eq!(covered, (1..=last).collect::<Vec<_>>(), "every update listed exactly once");
    let typing = typing.expect("Ana's typing is listed");
    assert_eq!(typing.updates, 12, "twelve keystrokes grouped in one line");

    // Filtered by author, only Ben's thirty notes.
    let page: HistoryPage =
        get(server.addr, &links.viewer, &format!("{}/history?limit=100&author={ben_id}", links.id)).await;
    assert_eq!(page.entries.len(), 30);
    assert!(page.entries.iter().all(|e| e.author.name == "Ben" && e.changes[0].kind == ChangeKind::NoteAdded));
    assert_eq!(page.entries[0].changes[0].id.as_deref(), Some("b29"));
    server.stop().await;
}

#[tokio::test]
async fn a_restore_reaches_everyone_live_and_can_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let links = server.create_board_links("Restore").await;
    let mut ana = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let mut viewer = Peer::join_as(server.addr, &links.path(&links.viewer), "Screen").await;
    viewer.send_raw(frame::client_app(&ClientMessage::Hello { version: 1 })).await;
    assert!(matches!(viewer.next_app().await, ServerMessage::Welcome { .. }));

    for id in ["keep", "old"] {
        let before = ana.updates_received;
        ana.add_note(id, id).await;
        ana.pump_until(|p| p.updates_received > before).await;
    }
    let good = last_seq(server.addr, &links).await;
    let good_board = ana.snapshot();
    edit_and_settle(&mut ana, |b, t| {
        b.remove_note(t, "old");
        b.set_note_text(t, "keep", "overwritten");
    })
    .await;
    let before = ana.updates_received;
    ana.add_note("new", "new").await;
    ana.pump_until(|p| p.updates_received > before).await;
    let later_board = ana.snapshot();
    let later = last_seq(server.addr, &links).await;

    // Participants and viewers may not restore.
    for token in [&links.participant, &links.viewer] {
        assert_eq!(restore(server.addr, &links, token, good).await.status(), 403);
    }
    assert_eq!(last_seq(server.addr, &links).await, later, "a refused restore changes nothing");

    let response = restore(server.addr, &links, &links.facilitator, good).await;
    assert_eq!(response.status(), 200);
    let result: RestoreResult = response.json().await.unwrap();
    assert_eq!((result.restored_to, result.seq, result.changed), (good, later + 1, true));
    ana.pump_until(|p| p.snapshot() == good_board).await;
    viewer.pump_until(|p| p.snapshot() == good_board).await;
    let told = viewer.next_app().await;
    assert_eq!(told, ServerMessage::Restored { to_seq: good, seq: later + 1, by: "Fran".into() });

    // The restore is in the history, and what came after the point is still there.
    let page: HistoryPage = get(server.addr, &links.viewer, &format!("{}/history?limit=3", links.id)).await;
    assert_eq!(page.entries[0].seq, result.seq);
    assert_eq!(page.entries[0].changes[0].kind, ChangeKind::Restored);
    assert_eq!(page.entries[0].author.name, "Fran");
    let kept: BoardStateAt = get(server.addr, &links.viewer, &format!("{}/state?at={later}", links.id)).await;
    assert_eq!(kept.board, later_board);

    // Undo the restore by restoring the point just before it.
    let undo: RestoreResult = restore(server.addr, &links, &links.facilitator, later).await.json().await.unwrap();
    assert_eq!((undo.restored_to, undo.changed), (later, true));
    ana.pump_until(|p| p.snapshot() == later_board).await;
    viewer.pump_until(|p| p.snapshot() == later_board).await;

    // After a restart the board is the restored one, loaded from the store.
    server.stop().await;
    let server = spawn_app_with(config_in(dir.path())).await;
    let fresh = Peer::join(server.addr, &links.path(&links.viewer)).await;
    assert_eq!(fresh.snapshot(), later_board);
    server.stop().await;
}

#[tokio::test]
async fn compaction_keeps_checkpoints_and_says_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        spawn_app_with(commonboard_server::config::Config { checkpoint_every: 10, ..config_in(dir.path()) }).await;
    let links = server.create_board_links("Compact").await;
    let mut peer = Peer::join(server.addr, &links.path(&links.participant)).await;
    for n in 0..35 {
        let before = peer.updates_received;
        peer.add_note(&format!("n{n}"), "text").await;
        peer.pump_until(|p| p.updates_received > before).await;
    }
    let live = peer.snapshot();
    let at_25: BoardStateAt = get(server.addr, &links.viewer, &format!("{}/state?at=25", links.id)).await;
    peer.leave().await;
    server.stop().await;

    // Drop what is older than point 25's time: up to the checkpoint before it.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let cutoff = commonboard_server::history::parse_time(&at_25.at).unwrap();
    let handle = commonboard_server::store::Handle::new(store.clone());
    let compacted = compaction::compact_board(&handle, &links.id, cutoff).await.unwrap().expect("something dropped");
    assert_eq!(compacted.board, links.id);
    let checkpoint = store.checkpoint_at_or_before(&links.id, compacted.through).unwrap().unwrap();
    assert!(checkpoint.seq == compacted.through && compacted.through <= 25, "cut at a checkpoint: {compacted}");
    assert_eq!(compacted.updates, compacted.through);
    assert!(compacted.to_string().contains(&format!("dropped {} updates", compacted.updates)));
    assert!(compaction::compact_board(&handle, &links.id, cutoff).await.unwrap().is_none(), "nothing left to drop");
    let checkpoint_before_15 = store.checkpoint_at_or_before(&links.id, 15).unwrap().unwrap().seq;
    drop(handle);
    drop(store);

    let server = spawn_app_with(config_in(dir.path())).await;
    let fresh = Peer::join(server.addr, &links.path(&links.viewer)).await;
    assert_eq!(fresh.snapshot(), live, "the live board is whole");
    // A compacted point shows the nearest checkpoint and says so; later points are exact.
    let old: BoardStateAt = get(server.addr, &links.viewer, &format!("{}/state?at=15", links.id)).await;
    assert_eq!((old.seq, old.exact), (checkpoint_before_15, false));
    let gone = reqwest::Client::new()
        .get(server.http(&format!("/api/boards/{}/state?at=5", links.id)))
        .bearer_auth(&links.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 400);
    assert!(gone.text().await.unwrap().contains("compacted away; the earliest point still viewable is"));
    let kept: BoardStateAt = get(server.addr, &links.viewer, &format!("{}/state?at=25", links.id)).await;
    assert_eq!((kept.seq, kept.exact, &kept.board), (25, true, &at_25.board));
    let page: HistoryPage = get(server.addr, &links.viewer, &format!("{}/history?limit=2", links.id)).await;
    assert_eq!(page.log.compacted_through, compacted.through);
    assert_eq!(page.log.first_seq, compacted.through + 1);
    assert_eq!(page.entries[0].changes[0].kind, ChangeKind::Compacted);
    let timeline: Timeline = get(server.addr, &links.viewer, &format!("{}/timeline", links.id)).await;
    assert!(timeline.markers.iter().any(|m| m.kind == ChangeKind::Compacted));
    server.stop().await;
}

/// A reader who sends a flood of requests for past points (each rebuilds a whole
/// document) gets a few at a time: the rest are told to come back (503 with
/// Retry-After), nothing fails otherwise, and the live board keeps working.
#[tokio::test]
async fn a_flood_of_history_reads_takes_turns_and_the_rest_are_told_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let config = commonboard_server::config::Config {
        max_heavy_reads: Some(1),
        // Every read rebuilds its board: none is answered from a kept document.
        history_cache_mb: 0,
        ..config_in(dir.path())
    };
    let server = spawn_app_with(config).await;
    let links = server.create_board_links("Flooded").await;
    let mut editor = Peer::join_as(server.addr, &links.path(&links.participant), "Ana").await;
    let mut rng = Lcg(7);
    for step in 0..400 {
        random_edit(&mut editor, &mut rng, step).await;
    }
    let last = last_seq(server.addr, &links).await;

    let client = reqwest::Client::new();
    let reads = (0..120u64).map(|i| {
        let url = server.http(&format!("/api/boards/{}/state?at={}", links.id, 1 + i * 7 % last));
        let request = client.get(url).bearer_auth(&links.viewer).send();
        async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (status, retry, response.text().await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(reads).await;
    let served = answers.iter().filter(|(status, ..)| *status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(status, ..)| *status == 503).collect();
    assert_eq!(served + refused.len(), answers.len(), "only answers or refusals: {answers:?}");
    assert!(served >= 1, "the first reads are served");
    assert!(!refused.is_empty(), "120 reads at once, one at a time: the line fills");
    for (_, retry, body) in refused {
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(body.contains("try again in a moment"), "{body}");
    }

    // The live board went on, and reads are served again once the flood has passed.
    random_edit(&mut editor, &mut rng, 400).await;
    let state: BoardStateAt = get(server.addr, &links.viewer, &format!("{}/state?at={last}", links.id)).await;
    assert_eq!(state.seq, last);
    server.stop().await;
}
