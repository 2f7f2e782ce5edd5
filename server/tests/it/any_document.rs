//! History and restore of a Yjs application's own document: an `--open` server used as
//! a y-websocket server by a client whose roots the board schema does not know (a
//! `Y.Map` "settings", a `Y.Array` "items", a `Y.Text` "doc").

use std::net::SocketAddr;

use commonboard_protocol::frame;
use commonboard_protocol::history::{ChangeKind, HistoryPage, RestoreResult, Timeline};
use yrs::types::ToJson;
use yrs::{Any, Array, ArrayPrelim, Doc, GetString, Map, MapPrelim, Text, Transact, TransactionMut};

use crate::client::Peer;
use crate::{config_in, spawn_app_with};

/// The client's roots, as JSON, in one `Any`.
fn roots(doc: &Doc) -> Any {
    let (settings, items, text) =
        (doc.get_or_insert_map("settings"), doc.get_or_insert_array("items"), doc.get_or_insert_text("doc"));
    let txn = doc.transact();
    Any::from(vec![settings.to_json(&txn), items.to_json(&txn), Any::from(text.get_string(&txn))])
}

/// Changes the client's own document, sends the update and waits for the server's echo.
async fn change(peer: &mut Peer, edit: impl FnOnce(&mut TransactionMut)) {
    let update = {
        let mut txn = peer.doc.transact_mut();
        edit(&mut txn);
        txn.encode_update_v1()
    };
    let before = peer.updates_received;
    peer.send_raw(frame::sync_update(update)).await;
    peer.pump_until(|p| p.updates_received > before).await;
}

async fn last_seq(addr: SocketAddr, id: &str, token: &str) -> u64 {
    let url = format!("http://{addr}/api/boards/{id}/timeline?buckets=1");
    let timeline: Timeline = crate::get_json(url, token).await;
    timeline.last_seq
}

#[tokio::test]
async fn a_restore_brings_back_every_root_of_any_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.open = true;
    let server = spawn_app_with(config).await;
    let links = server.create_board_links("An application's document").await;
    // No token: a stock y-websocket provider on an open server. Joined (the server's
    // sync step 2 arrived) before it edits, so that each `change` waits for the echo
    // of its own update, not for the handshake.
    let mut app = Peer::join(server.addr, &links.id).await;
    let (settings, items, text) = (
        app.doc.get_or_insert_map("settings"),
        app.doc.get_or_insert_array("items"),
        app.doc.get_or_insert_text("doc"),
    );

    change(&mut app, |txn| {
        settings.insert(txn, "theme", "dark");
        settings.insert(txn, "size", 3);
        settings.insert(txn, "panel", MapPrelim::from([("open", Any::Bool(true))]));
        items.push_back(txn, "first");
        items.push_back(txn, "second");
        items.push_back(txn, MapPrelim::from([("k", Any::from("v"))]));
        items.push_back(txn, ArrayPrelim::from([1, 2]));
        text.insert(txn, 0, "Hello, world");
    })
    .await;
    let point = last_seq(server.addr, &links.id, &links.viewer).await;
    let past = roots(&app.doc);

    change(&mut app, |txn| {
        settings.insert(txn, "theme", "light");
        settings.remove(txn, "size");
        settings.insert(txn, "extra", true);
        let Some(yrs::Out::YMap(panel)) = settings.get(txn, "panel") else { panic!("panel is a map") };
        panel.insert(txn, "open", false);
        items.remove(txn, 0);
        items.insert(txn, 0, "zero");
        let Some(yrs::Out::YMap(nested)) = items.get(txn, 2) else { panic!("a nested map") };
        nested.insert(txn, "k", "changed");
        items.push_back(txn, "later");
    })
    .await;
    change(&mut app, |txn| {
        text.remove_range(txn, 5, 7);
        text.insert(txn, 5, " there, everyone!");
    })
    .await;
    assert_ne!(roots(&app.doc), past);

    let response = reqwest::Client::new()
        .post(format!("http://{}/api/boards/{}/restore", server.addr, links.id))
        .bearer_auth(&links.facilitator)
        .json(&serde_json::json!({ "at": point }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let result: RestoreResult = response.json().await.unwrap();
    assert!(result.changed, "the restore changed the application's roots");
    app.pump_until(|p| roots(&p.doc) == past).await;
    assert_eq!(text.get_string(&app.doc.transact()), "Hello, world");

    // A client arriving now gets the restored document from the server.
    let mut late = Peer::connect(server.addr, &links.id).await;
    late.pump_until(|p| roots(&p.doc) == past).await;

    // The history names the roots each update changed.
    let url = format!("http://{}/api/boards/{}/history?limit=10", server.addr, links.id);
    let page: HistoryPage = crate::get_json(url, &links.viewer).await;
    let roots_changed = |seq: u64| -> Vec<String> {
        let entry = page.entries.iter().find(|e| e.seq == seq).unwrap_or_else(|| panic!("entry {seq}: {page:?}"));
        entry.changes.iter().filter(|c| c.kind == ChangeKind::RootChanged).filter_map(|c| c.id.clone()).collect()
    };
    assert_eq!(roots_changed(point), ["doc", "items", "settings"]);
    let first = page.entries.iter().find(|e| e.seq == point).unwrap();
    assert!(first.summary.contains("changed doc, items, settings"), "{}", first.summary);
    assert_eq!(roots_changed(point + 2), ["doc"]);
    let restore_entry = page.entries.iter().find(|e| e.seq == result.seq).unwrap();
    assert_eq!(restore_entry.changes[0].kind, ChangeKind::Restored);
    server.stop().await;
}
