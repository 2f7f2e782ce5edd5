//! Security: tokens never reach the log (the real binary, debug logging), Origin checks
//! on the WebSocket and on state-changing API calls, security headers, and no internal
//! error text in responses.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use commonboard_protocol::frame::{self, Message, SyncMessage};
use commonboard_server::store::sqlite::DB_FILE;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::Peer;
use crate::{config_in, create_board_links, spawn_app, spawn_app_with, PATIENCE};

/// The `commonboard` binary, serving on a free port with its log captured.
struct Binary {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Binary {
    fn start(rust_log: &str) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web");
        std::fs::create_dir_all(&web).unwrap();
        std::fs::write(web.join("index.html"), "<!doctype html><title>t</title>").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_commonboard"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--web-dir")
            .arg(&web)
            .env("RUST_LOG", rust_log)
            .env_remove("COMMONBOARD_SIGNING_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").expect("the address line").parse().unwrap();
        Binary { child, addr, log, dir }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `text` (the binary logs from its own threads).
    async fn wait_for_log(&self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(start.elapsed() < PATIENCE, "the log never said {text:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects a WebSocket with extra request headers; the handshake's status and body.
async fn ws_handshake(url: &str, headers: &[(&'static str, &str)]) -> Result<(), (u16, String)> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("websocket failed otherwise: {other}"),
    }
}

#[tokio::test]
async fn tokens_never_appear_in_the_log() {
    let server = Binary::start("trace");
    let addr = server.addr;
    let http = reqwest::Client::new();
    let links = create_board_links(addr, "Secrets").await;
    let id = &links.id;
    let invalid = ["not-a-token-SECRET-one", "v1.eyJiIjoiZm9yZ2VkIn0.Zm9yZ2VkLXNpZ25hdHVyZS1TRUNSRVQtdHdv"];

    // HTTP: the page, API reads with good and bad bearer tokens, a token in an API query,
    // a state change, a cross-site refusal, an unknown board.
    for token in [links.facilitator.as_str(), links.viewer.as_str(), invalid[0], invalid[1]] {
        http.get(format!("http://{addr}/b/{id}?token={token}")).send().await.unwrap();
        http.get(format!("http://{addr}/api/boards/{id}")).bearer_auth(token).send().await.unwrap();
        http.get(format!("http://{addr}/api/boards/{id}/votes?token={token}")).send().await.unwrap();
        http.get(format!("http://{addr}/api/boards/0123/history?token={token}")).send().await.unwrap();
        let refused = http
            .post(format!("http://{addr}/api/boards/{id}/identities?token={token}"))
            .header("origin", "http://evil.example")
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": "Eve" }))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
    }
    let minted = http
        .post(format!("http://{addr}/api/boards/{id}/identities"))
        .bearer_auth(&links.facilitator)
        .json(&serde_json::json!({ "name": "Ana" }))
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), 200);
    let minted: serde_json::Value = minted.json().await.unwrap();
    let personal = minted["token"].as_str().unwrap().to_owned();

    // WebSocket: a valid peer that edits, then sends garbage; invalid and misdirected
    // tokens; a cross-site browser.
    let mut peer = Peer::join(addr, &links.path(&personal)).await;
    peer.add_note("n1", "hello").await;
    peer.send_raw(vec![0xff, 0xff, 0xff]).await;
    peer.closed().await;
    for token in [invalid[0], invalid[1], links.participant.as_str()] {
        let mut refused = Peer::connect(addr, &links.path(token)).await;
        refused.drain_for(Duration::from_millis(100)).await;
        let other_board = format!("ffffffffffffffffffffffffffffffff?token={token}");
        Peer::connect(addr, &other_board).await.drain_for(Duration::from_millis(50)).await;
        let url = format!("ws://{addr}/ws/{id}?token={token}");
        assert_eq!(ws_handshake(&url, &[("origin", "http://evil.example")]).await.unwrap_err().0, 403);
    }
    server.wait_for_log("cross-site request refused").await;
    server.wait_for_log("malformed frame").await;

    let log = server.log();
    assert!(log.contains("token=[redacted]"), "requests are logged, redacted:\n{log}");
    let secrets = [&links.facilitator, &links.participant, &links.viewer, &personal]
        .into_iter()
        .map(String::as_str)
        .chain(invalid);
    for secret in secrets {
        // The signature (the last part) is the secret half of a token.
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token reached the log: {secret}\n{log}");
    }
}

#[tokio::test]
async fn a_store_failure_answers_a_generic_error_with_an_id_that_is_logged() {
    let server = Binary::start("info");
    let links = create_board_links(server.addr, "Broken").await;
    let db = rusqlite::Connection::open(server.dir.path().join("data").join(DB_FILE)).unwrap();
    db.execute_batch("ALTER TABLE votes RENAME TO votes_gone").unwrap();
    let response = reqwest::Client::new()
        .get(format!("http://{}/api/boards/{}/votes", server.addr, links.id))
        .bearer_auth(&links.facilitator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    let id = message.strip_prefix("internal error (id ").and_then(|m| m.split_once(')')).expect(message).0;
    assert!(!message.contains("votes") && !message.contains("table"), "{message}");
    server.wait_for_log(&format!("error_id={id}")).await;
    let log = server.log();
    let line = log.lines().find(|l| l.contains(&format!("error_id={id}"))).unwrap();
    assert!(line.contains("no such table"), "the log has the detail: {line}");
}

#[tokio::test]
async fn websockets_from_other_sites_are_refused_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.allowed_origins = vec!["https://boards.example.org".into()];
    config.public_url = Some("http://192.168.1.20:8080/".into());
    let server = spawn_app_with(config).await;
    let links = server.create_board_links("Origins").await;
    let url = format!("ws://{}/ws/{}?token={}", server.addr, links.id, links.participant);
    let own = format!("http://{}", server.addr);

    assert_eq!(ws_handshake(&url, &[]).await, Ok(()), "no Origin: not a browser");
    assert_eq!(ws_handshake(&url, &[("origin", &own)]).await, Ok(()), "this server's own page");
    assert_eq!(ws_handshake(&url, &[("origin", "https://boards.example.org")]).await, Ok(()));
    assert_eq!(ws_handshake(&url, &[("origin", "http://192.168.1.20:8080")]).await, Ok(()), "--public-url");
    for origin in ["http://evil.example", "null", "https://127.0.0.1", "http://boards.example.org"] {
        let (status, body) = ws_handshake(&url, &[("origin", origin)]).await.unwrap_err();
        assert_eq!(status, 403, "{origin}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"].as_str().unwrap().contains("other websites"), "{body}");
    }
    let cross_site = [("origin", own.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(ws_handshake(&url, &cross_site).await.unwrap_err().0, 403);

    // A refused origin never reached the board: a real peer still syncs.
    let mut peer = Peer::join(server.addr, &links.path(&links.participant)).await;
    peer.add_note("n", "still fine").await;
    server.stop().await;
}

#[tokio::test]
async fn state_changing_api_calls_from_other_sites_are_refused() {
    let server = spawn_app().await;
    let http = reqwest::Client::new();
    let links = server.create_board_links("CSRF").await;
    let own = format!("http://{}", server.addr);
    let create = |headers: &[(&'static str, &str)]| {
        let mut request = http.post(server.http("/api/boards")).json(&serde_json::json!({ "title": "t" }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    assert_eq!(create(&[]).await.unwrap().status(), 201, "no Origin: not a browser");
    assert_eq!(create(&[("origin", &own), ("sec-fetch-site", "same-origin")]).await.unwrap().status(), 201);
    for headers in [
        &[("origin", "http://evil.example")][..],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", &own), ("sec-fetch-site", "cross-site")],
    ] {
        let response = create(headers).await.unwrap();
        assert_eq!(response.status(), 403, "{headers:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("other websites"), "{body}");
    }
    let rotate = http
        .post(server.http(&format!("/api/boards/{}/links/rotate", links.id)))
        .bearer_auth(&links.facilitator)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rotate.status(), 403);
    let still = http
        .get(server.http(&format!("/api/boards/{}", links.id)))
        .bearer_auth(&links.participant)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200, "reads are not refused, and the rotation did not happen");

    // What an HTML form can send is not JSON, and is refused.
    for content_type in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"] {
        let response = http
            .post(server.http("/api/boards"))
            .header("content-type", content_type)
            .body(r#"{"title":"form"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{content_type}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("application/json"), "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    let mut config = config_in(&dir.path().join("data"));
    config.web_dir = Some(web);
    let server = spawn_app_with(config).await;
    let links = server.create_board_links("Headers").await;
    let http = reqwest::Client::new();
    let host = server.addr.to_string();
    let paths = [
        ("/", None, 200, false),
        (&*format!("/b/{}", links.id), None, 200, false),
        ("/api/templates", None, 200, true),
        (&*format!("/api/boards/{}", links.id), Some(&links.facilitator), 200, true),
        (&*format!("/api/boards/{}/join.svg", links.id), Some(&links.facilitator), 200, true),
        ("/api/nothing", None, 404, true),
        (&*format!("/api/boards/{}", links.id), Some(&"bad".to_owned()), 403, true),
        ("/healthz", None, 200, false),
    ];
    for (path, token, status, api) in paths {
        let mut request = http.get(server.http(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let csp = header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            &format!("connect-src 'self' ws://{host} wss://{host}"),
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert!(header("permissions-policy").unwrap().contains("camera=()"), "{path}");
        if api {
            assert_eq!(header("cache-control").as_deref(), Some("no-store"), "{path}");
        }
    }
    let created = http.post(server.http("/api/boards")).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(created.headers()["cache-control"], "no-store", "the facilitator link is not cached");

    // A forged Host cannot inject into the policy.
    let response = http.get(server.http("/")).header("host", "evil; script-src *").send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("evil") && csp.contains("connect-src 'self';"), "{csp}");
    server.stop().await;
}

#[tokio::test]
async fn websocket_refusals_say_nothing_internal() {
    let server = spawn_app().await;
    let links = server.create_board_links("Closes").await;
    let mut forged =
        Peer::connect(server.addr, &links.path("v1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    let closed = forged.closed().await;
    assert_eq!(closed.reason, "invalid access token");
    let mut peer = Peer::connect(server.addr, &links.path(&links.participant)).await;
    peer.send_text("hello").await;
    let closed = peer.closed().await;
    assert_eq!(closed.reason, "binary frames only (Yjs protocol)");
    // An update yrs cannot read: the validating reader refuses it first, and the client
    // hears what was wrong with its bytes in our words, not yrs's.
    let mut bad = Peer::join(server.addr, &links.path(&links.participant)).await;
    bad.send_raw(frame::encode_frame([&Message::Sync(SyncMessage::Update(vec![0xff, 0xff, 0xff, 0x01]))])).await;
    let reason = bad.closed().await.reason;
    assert_eq!(
        reason,
        "malformed frame: refused: update declares 4194303 entries, more than the 0 bytes left could hold"
    );
    server.stop().await;
}

/// A client that opens connections and never finishes a request's head (slowloris)
/// loses them after `serve::HEAD_TIMEOUT`; a WebSocket opened meanwhile is kept.
#[tokio::test]
async fn a_connection_that_never_finishes_its_request_head_is_closed() {
    use commonboard_server::serve::HEAD_TIMEOUT;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = spawn_app().await;
    let board = server.create_board("Kept").await;
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n", server.addr).as_bytes()).await.unwrap();
    let mut peer = Peer::join(server.addr, &board).await;
    for stream in [&mut silent, &mut slow] {
        let mut buf = [0u8; 512];
        let ended = tokio::time::timeout(HEAD_TIMEOUT + Duration::from_secs(5), async {
            while let Ok(1..) = stream.read(&mut buf).await {}
        })
        .await;
        assert!(ended.is_ok(), "the connection is still open after {:?}", started.elapsed());
    }
    assert!(started.elapsed() >= HEAD_TIMEOUT - Duration::from_secs(1), "closed after {:?}", started.elapsed());
    peer.add_note("after", "the WebSocket outlived the deadline").await;
    peer.pump_until(|p| p.note_count() == 1).await;
    server.stop().await;
}
