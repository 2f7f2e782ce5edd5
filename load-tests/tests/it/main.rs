//! Integration tests: every preset at small scale against a real Commonboard server
//! started in this process on 127.0.0.1:0.

mod presets;

use std::net::SocketAddr;

use commonboard_server::config::Config;
use tokio_util::sync::CancellationToken;

/// A Commonboard server running inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// Starts a server with `--open` on 127.0.0.1:0 and a fresh data directory.
pub async fn spawn_server() -> TestServer {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = Config::with_data_dir(dir.path());
    config.open = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("bound address");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        commonboard_server::run(listener, config, token).await.expect("server failed");
    });
    TestServer { addr, shutdown, task, _dir: dir }
}

impl TestServer {
    /// The WebSocket URL pattern of this server.
    pub fn url(&self) -> String {
        format!("ws://{}/ws/{{board}}", self.addr)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}
