//! The HTTP API and the web client's files.

use crate::{config_in, spawn_app, spawn_app_with};

#[tokio::test]
async fn boards_are_created_with_unguessable_ids_and_described() {
    let server = spawn_app().await;
    let client = reqwest::Client::new();
    let response = client
        .post(server.http("/api/boards"))
        .json(&serde_json::json!({ "title": "  Q3 planning  " }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created["title"], "Q3 planning");
    assert_eq!(created["url"], format!("/b/{id}"));

    assert_eq!(created["role"], "facilitator");
    let facilitator = created["links"]["facilitator"].as_str().unwrap().split_once("?token=").unwrap().1;
    let info: serde_json::Value = client
        .get(server.http(&format!("/api/boards/{id}")))
        .bearer_auth(facilitator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in ["id", "title", "template", "created_at", "url", "role"] {
        assert_eq!(info[field], created[field], "{field}");
    }
    assert!(info["links"]["participant"].is_string(), "the facilitator sees the links");
    let other = server.create_board("Other").await;
    assert_ne!(other, id);
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let server = spawn_app().await;
    let client = reqwest::Client::new();
    let missing = client.get(server.http("/api/boards/0123456789abcdef0123456789abcdef")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<serde_json::Value>().await.unwrap()["error"], "board not found");

    let garbage = client
        .post(server.http("/api/boards"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert!(garbage.json::<serde_json::Value>().await.unwrap()["error"].is_string());

    let template = client
        .post(server.http("/api/boards"))
        .json(&serde_json::json!({ "title": "x", "template": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(template.status(), 400);
    assert!(template.text().await.unwrap().contains("unknown template"));

    let unknown = client.get(server.http("/api/nothing")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn health_and_the_web_client_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>Commonboard</title>").unwrap();
    std::fs::write(web.path().join("app.js"), "console.log(1)").unwrap();
    let mut config = config_in(dir.path());
    config.web_dir = Some(web.path().to_owned());
    let server = spawn_app_with(config).await;
    let health: serde_json::Value = reqwest::get(server.http("/healthz")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    for page in ["/", "/b/abc", "/b/abc/capture"] {
        let body = reqwest::get(server.http(page)).await.unwrap().text().await.unwrap();
        assert!(body.contains("<title>Commonboard</title>"), "{page}");
    }
    assert_eq!(reqwest::get(server.http("/app.js")).await.unwrap().text().await.unwrap(), "console.log(1)");
    server.stop().await;
}

#[tokio::test]
async fn metrics_report_the_merge_path_in_prometheus_format() {
    let server = spawn_app().await;
    let board = server.create_board("Metrics").await;
    let mut a = crate::client::Peer::join(server.addr, &board).await;
    let mut b = crate::client::Peer::join(server.addr, &board).await;
    a.add_note("n", "counted").await;
    b.pump_until(|p| p.note_count() == 1).await;
    let response = reqwest::get(server.http("/metrics")).await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let body = response.text().await.unwrap();
    for metric in [
        "commonboard_connections",
        "commonboard_boards_loaded",
        "commonboard_updates_applied_total",
        "commonboard_frames_sent_total",
        "commonboard_bytes_sent_total",
        "commonboard_apply_seconds_bucket",
        "commonboard_fanout_seconds_bucket",
        "commonboard_store_commit_seconds_bucket",
        "commonboard_board_load_seconds_bucket",
        "commonboard_send_queue_depth_bucket",
        "commonboard_persist_lag_updates",
        "commonboard_tick_commands_bucket",
    ] {
        assert!(body.contains(metric), "{metric} missing from /metrics:\n{body}");
    }
    server.stop().await;
}
