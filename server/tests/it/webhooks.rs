//! Webhooks against a real receiver on loopback: signed, debounced, retried after a
//! 500, recorded; refused for an address outside `--webhook-allow`; a board's hooks
//! kept across restarts (and deleted for good), the allow-list checked again after one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use commonboard_protocol::app::ClientMessage;
use commonboard_protocol::schema::Action;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::client::Peer;
use crate::votes::send;
use crate::{config_in, spawn_app_with, Links, TestServer, PATIENCE};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A receiving HTTP server on 127.0.0.1; answers the scripted statuses in order, then 200.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn receiver(mut statuses: Vec<u16>) -> Receiver {
    statuses.reverse();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let script = Arc::new(Mutex::new(statuses));
    let (sink, answers) = (got.clone(), script.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (sink, answers) = (sink.clone(), answers.clone());
            async move {
                sink.lock().unwrap().push(Received { headers, body: body.to_vec() });
                let status = answers.lock().unwrap().pop().unwrap_or(200);
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { addr, got }
}

impl Receiver {
    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= count {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} of {count} deliveries arrived", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn webhook_config(dir: &std::path::Path, allow: &[&str]) -> commonboard_server::config::Config {
    let mut config = config_in(dir);
    config.webhook_allow = allow.iter().map(|a| a.to_string()).collect();
    config.webhook_debounce = Duration::from_millis(300);
    config.webhook_backoff = Duration::from_millis(50);
    config.webhook_attempts = 3;
    config
}

async fn webhook_server(allow: &[&str]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (spawn_app_with(webhook_config(dir.path(), allow)).await, dir)
}

async fn register(server: &TestServer, links: &Links, url: &str, events: &[&str]) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/webhooks", links.id)))
        .bearer_auth(&links.facilitator)
        .json(&serde_json::json!({ "url": url, "events": events }))
        .send()
        .await
        .unwrap()
}

async fn deliveries(server: &TestServer, links: &Links) -> serde_json::Value {
    let url = server.http(&format!("/api/boards/{}/webhooks", links.id));
    crate::get_json(url, &links.facilitator).await
}

fn action(id: &str, text: &str) -> Action {
    Action {
        id: id.into(),
        text: text.into(),
        owner: "Ana".into(),
        due: "2026-12-24".into(),
        done: false,
        created_at: 1.0,
    }
}

/// Whether a delivery is signed with `secret`.
fn signed_with(secret: &str, got: &Received) -> bool {
    let timestamp = got.headers["commonboard-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&got.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    got.headers["commonboard-signature"].to_str().unwrap() == format!("v1={expected}")
}

/// Adds an action as the facilitator and waits until the server has it.
async fn add_action(server: &TestServer, links: &Links, id: &str) {
    let mut fay = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fay").await;
    let before = fay.updates_received;
    fay.edit(|board, txn| board.insert_action(txn, &action(id, &format!("Do {id}")))).await;
    fay.pump_until(|p| p.updates_received > before).await;
}

/// Waits for the newest recorded delivery to have `status`.
async fn newest_delivery(server: &TestServer, links: &Links, status: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let listed = deliveries(server, links).await;
        if listed["deliveries"][0]["status"] == status {
            return listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {status} delivery recorded: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn registrations_survive_a_restart_and_deletions_too() {
    let hook = receiver(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = webhook_config(dir.path(), &["127.0.0.1/32"]);
    let server = spawn_app_with(config.clone()).await;
    let links = server.create_board_links("Kept hooks").await;
    let created = register(&server, &links, &hook.url(), &["actions.changed"]).await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let (id, secret) = (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned());
    server.stop().await;

    // Restarted on the same data directory: the hook is listed (without its secret) and
    // an event reaches the receiver, signed with the same secret.
    let server = spawn_app_with(config.clone()).await;
    let listed = deliveries(&server, &links).await;
    assert_eq!(listed["hooks"].as_array().unwrap().len(), 1, "{listed}");
    let kept = &listed["hooks"][0];
    assert_eq!(kept["id"], id.as_str());
    assert_eq!(kept["url"], hook.url().as_str());
    assert_eq!(kept["events"], serde_json::json!(["actions.changed"]));
    assert_eq!(kept["scope"], "board");
    assert!(!kept["registered_by"].as_str().unwrap().is_empty() && kept["created_at"].is_string(), "{kept}");
    assert!(kept.get("secret").is_none(), "the secret is never shown again: {kept}");
    assert!(!listed.to_string().contains(&secret), "{listed}");
    add_action(&server, &links, "a1").await;
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].headers["commonboard-event"], "actions.changed");
    assert!(signed_with(&secret, &got[0]), "signed with the secret given at registration");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["board"]["id"], links.id.as_str());

    // Deleted, then restarted: it stays deleted, and nothing arrives.
    let deleted = reqwest::Client::new()
        .delete(server.http(&format!("/api/boards/{}/webhooks/{id}", links.id)))
        .bearer_auth(&links.facilitator)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    server.stop().await;
    let server = spawn_app_with(config.clone()).await;
    assert_eq!(deliveries(&server, &links).await["hooks"], serde_json::json!([]));
    add_action(&server, &links, "a2").await;
    tokio::time::sleep(config.webhook_debounce + Duration::from_millis(700)).await;
    assert_eq!(hook.got.lock().unwrap().len(), 1, "nothing arrives for a deleted hook");
    assert_eq!(deliveries(&server, &links).await["deliveries"], serde_json::json!([]));

    // A kept hook whose address the operator's list no longer admits: refused at
    // delivery, recorded as refused, never sent.
    assert_eq!(register(&server, &links, &hook.url(), &[]).await.status(), 201);
    server.stop().await;
    let server = spawn_app_with(webhook_config(dir.path(), &["10.0.0.0/8"])).await;
    assert_eq!(deliveries(&server, &links).await["hooks"].as_array().unwrap().len(), 1);
    add_action(&server, &links, "a3").await;
    let listed = newest_delivery(&server, &links, "refused").await;
    assert!(listed["deliveries"][0]["error"].as_str().unwrap().contains("--webhook-allow"), "{listed}");
    assert_eq!(hook.got.lock().unwrap().len(), 1, "the receiver got nothing more");
    server.stop().await;

    // The store keeping the secrets stays readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let db = dir.path().join(commonboard_server::store::sqlite::DB_FILE);
        assert_eq!(std::fs::metadata(db).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test]
async fn deliveries_are_signed_debounced_and_retried() {
    let hook = receiver(vec![500]).await;
    let (server, _dir) = webhook_server(&["127.0.0.1/32"]).await;
    let links = server.create_board_links("Hooks").await;

    // Only the facilitator registers; an unknown event is refused with its reason.
    let refused = reqwest::Client::new()
        .post(server.http(&format!("/api/boards/{}/webhooks", links.id)))
        .bearer_auth(&links.participant)
        .json(&serde_json::json!({ "url": hook.url() }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let unknown = register(&server, &links, &hook.url(), &["board.exploded"]).await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("board.exploded"));
    let created = register(&server, &links, &hook.url(), &["actions.changed", "board.locked"]).await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();

    // Three quick edits: one delivery (after a 500 and a retry).
    let mut fay = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fay").await;
    for id in ["a1", "a2", "a3"] {
        let before = fay.updates_received;
        fay.edit(|board, txn| board.insert_action(txn, &action(id, &format!("Do {id}")))).await;
        fay.pump_until(|p| p.updates_received > before).await;
    }
    let got = hook.wait_for(2).await;
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(
        first.headers["commonboard-delivery"], second.headers["commonboard-delivery"],
        "a retry, not a new delivery"
    );
    assert_eq!(second.headers["commonboard-event"], "actions.changed");
    let timestamp = second.headers["commonboard-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&second.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(second.headers["commonboard-signature"].to_str().unwrap(), format!("v1={expected}"));
    let body: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(body["board"]["id"], links.id.as_str());
    let added: Vec<&str> =
        body["data"]["added"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(added, ["a1", "a2", "a3"], "one delivery for the burst: {body}");

    // A lock: its own event; nothing more for the actions.
    send(&mut fay, ClientMessage::Hello { version: 1 }).await;
    send(&mut fay, ClientMessage::Lock { locked: true }).await;
    let got = hook.wait_for(3).await;
    assert_eq!(got[2].headers["commonboard-event"], "board.locked");
    let body: serde_json::Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(body["data"]["locked"], true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hook.got.lock().unwrap().len(), 3, "nothing else was sent");

    // Recorded: newest first, with attempts and status.
    let listed = deliveries(&server, &links).await;
    assert_eq!(listed["deliveries"][0]["event"], "board.locked");
    assert_eq!(listed["deliveries"][1]["status"], "delivered");
    assert_eq!(listed["deliveries"][1]["attempts"], 2);
    assert!(listed["hooks"][0].get("secret").is_none(), "the secret is shown once");
    server.stop().await;
}

#[tokio::test]
async fn addresses_outside_the_allow_list_are_refused() {
    let hook = receiver(Vec::new()).await;
    // Nothing allowed (the default): refused at registration.
    let (server, _dir) = webhook_server(&[]).await;
    let links = server.create_board_links("No hooks").await;
    let refused = register(&server, &links, &hook.url(), &[]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("--webhook-allow"));
    server.stop().await;

    // Any public host allowed: a name that resolves to loopback is refused at delivery.
    let (server, _dir) = webhook_server(&["*"]).await;
    let links = server.create_board_links("Rebinding").await;
    let url = format!("http://localhost:{}/hook", hook.addr.port());
    assert_eq!(register(&server, &links, &url, &[]).await.status(), 201);
    let mut fay = Peer::join_as(server.addr, &links.path(&links.facilitator), "Fay").await;
    let before = fay.updates_received;
    fay.edit(|board, txn| board.insert_action(txn, &action("a1", "Never sent"))).await;
    fay.pump_until(|p| p.updates_received > before).await;
    let listed = newest_delivery(&server, &links, "refused").await;
    assert!(listed["deliveries"][0]["error"].as_str().unwrap().contains("--webhook-allow"), "{listed}");
    assert!(hook.got.lock().unwrap().is_empty(), "the receiver on loopback got nothing");
    server.stop().await;
}
