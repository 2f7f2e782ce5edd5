//! Sync servers the `compare` subcommand starts, measures and stops.
//!
//! Each server runs as a child of the tool, on 127.0.0.1 and a free port, and is
//! stopped by its own pid (SIGTERM, then SIGKILL if it lingers); a Commonboard server
//! can also be restarted on its data directory, which the replay mode uses to time
//! loading a board after a restart. Node servers are
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
    addr: SocketAddr,
    child: Child,
    /// How it was started, to start it again.
    launch: Launch,
    /// The server's data and log; removed when the server is dropped.
    dir: tempfile::TempDir,
}

impl RunningServer {
    /// Starts `kind` and waits until it accepts connections.
    pub async fn start(kind: ServerKind, paths: &ServerPaths) -> anyhow::Result<Self> {
        RunningServer::start_with(kind, paths, &[]).await
    }

    /// Starts `kind` with `extra_args` after its usual ones (Commonboard: settings of
    /// `commonboard serve` such as `--checkpoint-every`), and waits until it accepts
    /// connections.
    pub async fn start_with(kind: ServerKind, paths: &ServerPaths, extra_args: &[String]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("commonboard-load-{}-", kind.name()))
            .tempdir()
            .context("cannot create a temporary directory")?;
        let launch = Launch { kind, paths: paths.clone(), extra_args: extra_args.to_vec() };
        let (child, pid, addr) = launch.spawn(dir.path()).await?;
        let (url, protocol, creation) = match kind {
            ServerKind::Commonboard => (format!("ws://{addr}/ws/{{board}}"), Flavor::YWebsocket, BoardCreation::Named),
            ServerKind::YWebsocket => (format!("ws://{addr}/{{board}}"), Flavor::YWebsocket, BoardCreation::Named),
            ServerKind::Hocuspocus => (format!("ws://{addr}/{{board}}"), Flavor::Hocuspocus, BoardCreation::Named),
            ServerKind::YSweet => {
                (format!("ws://{addr}/doc/ws/{{board}}"), Flavor::YWebsocket, BoardCreation::YSweetApi)
            }
        };
        Ok(RunningServer { kind, pid, addr, url, protocol, creation, child, launch, dir })
    }

    /// The Commonboard server's data directory (other servers keep nothing on disk).
    pub fn data_dir(&self) -> Option<PathBuf> {
        (self.kind == ServerKind::Commonboard).then(|| self.dir.path().join("data"))
    }

    /// The HTTP base URL, `http://127.0.0.1:PORT`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (SIGTERM) and starts it again with the same settings and data
    /// directory, on a new port; the URLs change accordingly. Returns how long the stop
    /// and the start took (until it listened again).
    pub async fn restart(&mut self) -> anyhow::Result<(Duration, Duration)> {
        let stopping = std::time::Instant::now();
        terminate(self.pid, &mut self.child).await;
        let stopped = stopping.elapsed();
        let starting = std::time::Instant::now();
        let (child, pid, addr) = self.launch.spawn(self.dir.path()).await?;
        let started = starting.elapsed();
        let (old, new) = (self.addr.to_string(), addr.to_string());
        self.url = self.url.replacen(&old, &new, 1);
        (self.child, self.pid, self.addr) = (child, pid, addr);
        Ok((stopped, started))
    }

    /// Stops the server: SIGTERM to its pid, then SIGKILL if it has not exited in time.
    pub async fn stop(mut self) {
        terminate(self.pid, &mut self.child).await;
    }
}

/// How to start one server: the program, its arguments and environment.
struct Launch {
    kind: ServerKind,
    paths: ServerPaths,
    extra_args: Vec<String>,
}

impl Launch {
    /// Starts the server with its data and log in `dir`; returns it once it listens.
    async fn spawn(&self, dir: &Path) -> anyhow::Result<(Child, u32, SocketAddr)> {
        let (kind, paths) = (self.kind, &self.paths);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log"))?;
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
                    .arg(dir.join("data"))
                    .env("RUST_LOG", "warn")
                    // A load run's writers are not people: one connection may write a
                    // long history (the history preset) past a participant's share of a
                    // board. Set as the environment, which builds without the flag ignore.
                    .env("COMMONBOARD_MAX_PERSON_BYTES", (1u64 << 40).to_string());
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
        command.args(&self.extra_args);
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
                .with_context(|| {
                    format!("commonboard exited before listening; see {}", dir.join("server.log").display())
                })?;
                line.parse().context("unexpected listening address")?
            }
            Some(port) => {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                wait_listening(addr, &mut child).await.with_context(|| {
                    format!("{} did not start; see {}", kind.name(), dir.join("server.log").display())
                })?;
                addr
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((child, pid, addr))
    }
}

/// SIGTERM to `pid`, then SIGKILL if it has not exited in time.
async fn terminate(pid: u32, child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(STOP_TIMEOUT, child.wait()).await.is_err() {
        let _ = child.kill().await;
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
