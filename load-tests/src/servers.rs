//! Sync servers the `compare` subcommand starts, measures and stops.
//!
//! Each server runs as a child of the tool, on 127.0.0.1 and a free port, and is
//! stopped by its own pid (SIGTERM, then SIGKILL if it lingers). Node servers are
//! started with `node` on their entry script directly (what `npx` would run), so that
//! the pid measured and stopped is the server's own. Their packages are installed by
//! `commonboard-load setup` (or `load-tests/peers/setup.sh`) from
//! `load-tests/peers/package.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::scenario::BoardCreation;
use crate::wire::Flavor;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A server the tool knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// `commonboard serve --open` (the release build by default).
    Commonboard,
    /// The y-websocket reference server (npm `@y/websocket-server`).
    YWebsocket,
    /// Hocuspocus (npm `@hocuspocus/server`), through `load-tests/peers/hocuspocus.mjs`.
    Hocuspocus,
    /// y-sweet, when `--y-sweet-bin` names a built binary.
    YSweet,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Commonboard => "commonboard",
            ServerKind::YWebsocket => "y-websocket",
            ServerKind::Hocuspocus => "hocuspocus",
            ServerKind::YSweet => "y-sweet",
        }
    }
}

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub struct ServerPaths {
    pub commonboard_bin: PathBuf,
    /// `load-tests/peers`, with `node_modules` installed.
    pub peers_dir: PathBuf,
    pub y_sweet_bin: Option<PathBuf>,
}

/// A running server.
pub struct RunningServer {
    pub kind: ServerKind,
    pub pid: u32,
    /// WebSocket URL pattern with `{board}`.
    pub url: String,
    pub protocol: Flavor,
    pub creation: BoardCreation,
    child: Child,
    /// The server's data and log; removed when the server is dropped.
    _dir: tempfile::TempDir,
}

impl RunningServer {
    /// Starts `kind` and waits until it accepts connections.
    pub async fn start(kind: ServerKind, paths: &ServerPaths) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("commonboard-load-{}-", kind.name()))
            .tempdir()
            .context("cannot create a temporary directory")?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let node_script = |relative: &str| -> anyhow::Result<PathBuf> {
            let script = paths.peers_dir.join(relative);
            anyhow::ensure!(
                script.is_file(),
                "{} is missing: run `commonboard-load setup` (or load-tests/peers/setup.sh) first",
                script.display()
            );
            Ok(script)
        };
        let (mut command, port) = match kind {
            ServerKind::Commonboard => {
                anyhow::ensure!(
                    paths.commonboard_bin.is_file(),
                    "{} is missing: build it with `cargo build --release -p commonboard-server`",
                    paths.commonboard_bin.display()
                );
                let mut command = Command::new(&paths.commonboard_bin);
                command
                    .args(["serve", "--open", "--addr", "127.0.0.1:0", "--data-dir"])
                    .arg(dir.path().join("data"))
                    .env("RUST_LOG", "warn");
                (command, None)
            }
            ServerKind::YWebsocket => {
                let script = node_script("node_modules/@y/websocket-server/src/server.js")?;
                let port = free_port()?;
                let mut command = Command::new("node");
                command.arg(script).env("HOST", "127.0.0.1").env("PORT", port.to_string());
                (command, Some(port))
            }
            ServerKind::Hocuspocus => {
                let script = node_script("hocuspocus.mjs")?;
                node_script("node_modules/@hocuspocus/server/package.json")?;
                let port = free_port()?;
                let mut command = Command::new("node");
                command.arg(script).env("HOST", "127.0.0.1").env("PORT", port.to_string());
                (command, Some(port))
            }
            ServerKind::YSweet => {
                let bin = paths.y_sweet_bin.as_ref().context("y-sweet needs --y-sweet-bin PATH")?;
                let port = free_port()?;
                let mut command = Command::new(bin);
                command.args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()]);
                (command, Some(port))
            }
        };
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("cannot start {}", kind.name()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();

        let addr: SocketAddr = match port {
            None => {
                // Commonboard prints `listening on http://ADDR`.
                let line = tokio::time::timeout(START_TIMEOUT, async {
                    while let Some(line) = lines.next_line().await? {
                        if let Some(addr) = line.strip_prefix("listening on http://") {
                            return Ok::<_, std::io::Error>(Some(addr.trim().to_owned()));
                        }
                    }
                    Ok(None)
                })
                .await
                .context("commonboard did not start in time")??
                .context("commonboard exited before listening")?;
                line.parse().context("unexpected listening address")?
            }
            Some(port) => {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                wait_listening(addr, &mut child).await.with_context(|| {
                    format!("{} did not start; see {}", kind.name(), dir.path().join("server.log").display())
                })?;
                addr
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (url, protocol, creation) = match kind {
            ServerKind::Commonboard => (format!("ws://{addr}/ws/{{board}}"), Flavor::YWebsocket, BoardCreation::Named),
            ServerKind::YWebsocket => (format!("ws://{addr}/{{board}}"), Flavor::YWebsocket, BoardCreation::Named),
            ServerKind::Hocuspocus => (format!("ws://{addr}/{{board}}"), Flavor::Hocuspocus, BoardCreation::Named),
            ServerKind::YSweet => {
                (format!("ws://{addr}/doc/ws/{{board}}"), Flavor::YWebsocket, BoardCreation::YSweetApi)
            }
        };
        Ok(RunningServer { kind, pid, url, protocol, creation, child, _dir: dir })
    }

    /// Stops the server: SIGTERM to its pid, then SIGKILL if it has not exited in time.
    pub async fn stop(mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_listening(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("it exited with {status}");
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Installs the Node servers' packages: `npm ci` (or `npm install`) in `peers_dir`.
pub async fn setup(peers_dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(peers_dir.join("package.json").is_file(), "{} has no package.json", peers_dir.display());
    let verb = if peers_dir.join("package-lock.json").is_file() { "ci" } else { "install" };
    let status = Command::new("npm")
        .arg(verb)
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(peers_dir)
        .status()
        .await
        .context("cannot run npm: install Node.js 20 or newer")?;
    anyhow::ensure!(status.success(), "npm {verb} failed with {status}");
    Ok(())
}

/// `load-tests/peers` under the current directory, else beside this crate's sources.
pub fn default_peers_dir() -> PathBuf {
    let here = PathBuf::from("load-tests/peers");
    if here.join("package.json").is_file() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}
