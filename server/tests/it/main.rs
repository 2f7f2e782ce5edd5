//! Integration tests: a real server on an ephemeral port, real WebSocket clients with
//! real yrs documents, the real store.

mod abuse;
mod access;
mod any_document;
mod bad_input;
mod chaos;
mod client;
mod cold;
mod durability;
mod exports;
mod history;
mod hostile;
mod http;
mod identity;
mod idle;
mod install;
mod limits;
mod log_capture;
mod openapi;
mod postgres;
mod security;
mod share;
mod store_contract;
mod sync;
mod votes;
mod webhooks;
mod workshop;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use commonboard_server::config::Config;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen within milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

/// Starts a server on 127.0.0.1:0 with a fresh data directory.
pub async fn spawn_app() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_app_with(Config::with_data_dir(dir.path())).await;
    server._dir = Some(dir);
    server
}

/// Starts a server with the given settings (its `addr` is ignored: port 0 is used).
pub async fn spawn_app_with(config: Config) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let data_dir = config.data_dir.clone();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        commonboard_server::run(listener, config, token).await.expect("server failed");
    });
    TestServer { addr, data_dir, shutdown, task, _dir: None }
}

impl TestServer {
    /// Shuts down gracefully and waits until the store is closed.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        self.shutdown.cancel();
        (&mut self.task).await.unwrap();
        self._dir.take()
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates a board through the API; returns the board path with a participant token.
    pub async fn create_board(&self, title: &str) -> String {
        create_board(self.addr, title).await
    }

    /// Creates a board through the API; returns its links.
    pub async fn create_board_links(&self, title: &str) -> Links {
        create_board_links(self.addr, title).await
    }
}

/// A board's id and its tokens, by role.
#[derive(Debug, Clone)]
pub struct Links {
    pub id: String,
    pub facilitator: String,
    pub participant: String,
    pub viewer: String,
}

impl Links {
    /// The board path a peer connects to with `token`: `{id}?token={token}`.
    pub fn path(&self, token: &str) -> String {
        format!("{}?token={token}", self.id)
    }
}

/// `GET url` with `Authorization: Bearer <token>`, read as JSON; panics on anything else.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: String, token: &str) -> T {
    let response = reqwest::Client::new().get(&url).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!("GET {url}: {status}, not the JSON expected ({e}): {}", String::from_utf8_lossy(&body))
    })
}

/// Creates a board on the server at `addr`; returns the board path with a participant
/// token, ready for [`client::Peer::join`].
pub async fn create_board(addr: SocketAddr, title: &str) -> String {
    let links = create_board_links(addr, title).await;
    links.path(&links.participant)
}

/// Creates a board on the server at `addr` and returns its links.
pub async fn create_board_links(addr: SocketAddr, title: &str) -> Links {
    create_board_from(addr, title, "blank").await
}

/// Creates a board from a template and returns its links.
pub async fn create_board_from(addr: SocketAddr, title: &str, template: &str) -> Links {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/boards"))
        .json(&serde_json::json!({ "title": title, "template": template }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let token = |role: &str| body["links"][role].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    Links {
        id: body["id"].as_str().unwrap().to_owned(),
        facilitator: token("facilitator"),
        participant: token("participant"),
        viewer: token("viewer"),
    }
}

/// A config for a server whose data lives in `dir`.
pub fn config_in(dir: &Path) -> Config {
    Config::with_data_dir(dir)
}
