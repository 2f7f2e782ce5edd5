//! Integration tests: every preset at small scale against a real Commonboard server
//! started in this process on 127.0.0.1:0, and the replay mode against the server
//! binary (which it starts, stops and restarts itself), and a short soak of that binary.

mod presets;
mod replay;
mod soak;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

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

/// The `commonboard` binary of this build's profile, built once for these tests with
/// `cargo build -p commonboard-server` (`COMMONBOARD_BIN` names another one).
pub fn commonboard_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("COMMONBOARD_BIN") {
            return bin.into();
        }
        // This test binary is `<target>/<profile>/deps/it-…`.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("a target directory").to_owned();
        let release = profile_dir.file_name().is_some_and(|name| name == "release");
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "commonboard-server", "--bin", "commonboard"])
            .args(release.then_some("--release"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p commonboard-server failed");
        let bin = profile_dir.join("commonboard");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
    .clone()
}
