//! The replay mode: how fast a board's history reads back, on a board with a long log.
//!
//! Against a running Commonboard server and one board (typically built by the history
//! preset, [`crate::history`]), it measures:
//!
//! - **the board at random points**: `GET /api/boards/{id}/state?at=SEQ`, SEQ uniform
//!   over the log (seeded), half as JSON and half as a Yjs update (`&format=yjs`). Each
//!   answer is checked: the JSON parses and shows the point asked for, the Yjs update
//!   applies whole to a fresh document, and for a few points the Yjs answer holds the
//!   same notes as the JSON one;
//! - **the history list**: its newest page, and pages deep in the log (`before=SEQ`);
//! - **a full playback** as the web client plays a board back at its highest speed: the
//!   state at the first point, then every page of `GET /api/boards/{id}/updates`, in
//!   order. A fetcher task reads pages ahead (the browser's network works beside its
//!   main thread) while the player applies, in one batch per *frame*, everything
//!   fetched since the last frame. The longest gap between two frames is how long a
//!   viewer would see playback stall. The replayed document must end with the notes
//!   the server shows at the last point, or the run fails;
//! - **loading the live board after a restart**, when the tool started the server
//!   itself: the server's own load time (`commonboard_board_load_seconds` on
//!   `/metrics`) and a WebSocket client's time from connecting to holding the whole
//!   board (sync step 2 received);
//! - **storage**: bytes per logged update and per checkpoint (the `log` of
//!   `GET /api/boards/{id}/timeline`), and the SQLite file per update when the data
//!   directory is known.
//!
//! Requests go one at a time (a latency is the server's answer to one reader), only to
//! loopback addresses, and every loop is bounded by the length of the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use commonboard_protocol::history::{BoardStateAt, HistoryPage, LogStats, Timeline, UpdatePage};
use commonboard_protocol::schema::{Board, BoardSnapshot};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::history::{self, HistoryReport};
use crate::latency::{self, Percentiles};
use crate::peer;
use crate::procstat;
use crate::report::{bytes, ms, Table};
use crate::run::RunOptions;
use crate::scenario::{BoardCreation, Preset};
use crate::servers::{RunningServer, ServerKind, ServerPaths};
use crate::wire::{self, Flavor, Msg, Wire};

/// The target: the board at a random point, median latency.
pub const STATE_MEDIAN_TARGET_MS: f64 = 50.0;
/// The target: a full playback at high speed shows a frame at least this often.
pub const FRAME_GAP_TARGET_MS: f64 = 100.0;
/// The target (issue 23): a client has the whole live board after a restart.
pub const LOAD_TARGET_MS: f64 = 50.0;
/// The target (issue 23): the server accepts a client's first edit after a
/// restart (from connecting to the edit relayed back).
pub const EDIT_TARGET_MS: f64 = 100.0;

/// Header carrying the point a Yjs state answer shows.
const SEQ_HEADER: &str = "x-commonboard-seq";
/// The server's store file in its data directory (the server's `store::sqlite::DB_FILE`).
const SQLITE_FILE: &str = "commonboard.sqlite3";
/// Name of the server's load-time histogram (the server's `telemetry::BOARD_LOAD_SECONDS`).
const LOAD_METRIC: &str = "commonboard_board_load_seconds";
/// Longest wait for one HTTP answer: a whole board's state can be megabytes.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a WebSocket client to receive the whole board.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// Points whose Yjs answer is also compared with the JSON answer at the same point.
const COMPARED_POINTS: usize = 5;
/// Pages the fetcher may hold ready beyond the one being applied.
const PREFETCH_PAGES: usize = 2;
/// Entries per page of the history list, as the web client asks for them.
const HISTORY_PAGE_LIMIT: u32 = 50;
/// The server's largest page of updates.
pub const MAX_PAGE_SIZE: u32 = 5000;
/// Problems kept in the report; more are counted, not listed.
const MAX_PROBLEMS: usize = 20;

/// The board to measure, on a running server.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub board: String,
    /// An access token of the board (the facilitator's reads everything); none on an
    /// open server that lets anyone read.
    pub token: Option<String>,
}

/// How to measure.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Requests for the board at random points.
    pub samples: usize,
    /// Requests for the newest page of the history list, and as many for deep pages.
    pub history_samples: usize,
    /// Updates per page of the playback (at most [`MAX_PAGE_SIZE`]).
    pub page_size: u32,
    /// Seed of the random points.
    pub seed: u64,
    /// The server's data directory, for the size of its SQLite file.
    pub data_dir: Option<PathBuf>,
    /// The server's process id, for its CPU time per request.
    pub server_pid: Option<u32>,
    /// Print progress lines on stderr.
    pub progress: bool,
}

/// The one-shot run: start a server, build the history, measure, restart, measure.
#[derive(Debug, Clone)]
pub struct OneShot {
    /// Updates the history preset logs.
    pub updates: u64,
    /// The server's `--checkpoint-every` (its default when `None`).
    pub checkpoint_every: Option<u64>,
    pub commonboard_bin: PathBuf,
    /// Longest time building the history may take.
    pub build_timeout: Duration,
}

/// Everything the replay mode measured.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// `http://127.0.0.1:PORT` (before any restart).
    pub server: String,
    pub board: String,
    /// Seed of the random points.
    pub seed: u64,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// The history the tool built, when it did (one-shot mode).
    pub built: Option<HistoryReport>,
    /// The `--checkpoint-every` the tool started the server with, when it did.
    pub checkpoint_every: Option<u64>,
    /// The board's stored history, from its timeline.
    pub log: LogStats,
    pub state: StateStats,
    pub history_list: HistoryListStats,
    pub playback: PlaybackStats,
    /// Only when the tool started the server.
    pub restart: Option<RestartStats>,
    pub storage: StorageStats,
    /// The targets and what was measured.
    pub targets: Vec<Verdict>,
    pub checks: Checks,
    /// Length of the whole run, seconds.
    pub wall_s: f64,
    /// How busy the machine's CPUs were while measuring (before the restart), percent:
    /// the server and the tool share them, other processes skew the figures.
    pub machine_busy_percent: Option<f64>,
    pub machine_cpus: usize,
}

/// The board at random points.
#[derive(Debug, Clone, Serialize)]
pub struct StateStats {
    /// Every request, JSON and Yjs.
    pub all: Percentiles,
    pub json: Percentiles,
    pub yjs: Percentiles,
    pub json_mean_bytes: f64,
    pub yjs_mean_bytes: f64,
    /// Answers that parsed (JSON) or applied whole to a fresh document (Yjs) and showed
    /// the point asked for.
    pub answers_ok: u64,
    /// Points whose Yjs answer held the same notes as the JSON answer.
    pub compared_ok: u64,
    pub compared: u64,
    /// Medians by where the point lies in the log (quarters, oldest first): later
    /// points are bigger boards.
    pub by_quarter: Vec<QuarterStats>,
    /// The server's CPU time per request, when its pid is known.
    pub server_cpu_ms_per_request: Option<f64>,
}

/// Requests for points in one quarter of the log.
#[derive(Debug, Clone, Serialize)]
pub struct QuarterStats {
    pub from_seq: u64,
    pub to_seq: u64,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The medians of each form alone: the JSON view needs a document, the Yjs one may
    /// not, so the mixed median hides which one is slow.
    pub json_p50_ms: f64,
    pub yjs_p50_ms: f64,
}

/// Pages of the history list.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryListStats {
    pub limit: u32,
    /// The newest page (`history?limit=N`).
    pub newest: Percentiles,
    /// A page before a random point (`history?limit=N&before=SEQ`).
    pub deep: Percentiles,
}

/// A full playback at the highest speed.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybackStats {
    /// The first point (its state is fetched whole) and the last one applied.
    pub from_seq: u64,
    pub to_seq: u64,
    /// Updates applied after the first point's state.
    pub updates: u64,
    /// Bytes of those updates (decoded).
    pub update_bytes: u64,
    /// Time to fetch the first point's state, milliseconds.
    pub initial_state_ms: f64,
    pub initial_state_bytes: u64,
    pub page_size: u32,
    pub pages: u64,
    /// Time to fetch one page (request to last byte, then parsing).
    pub page_fetch: Percentiles,
    /// Frames that advanced the board.
    pub frames: u64,
    /// Time to decode and apply one frame's batch.
    pub frame_apply: Percentiles,
    pub most_updates_in_a_frame: u64,
    /// Time between the ends of two frames (the first: from the initial state).
    pub frame_gap: Percentiles,
    pub longest_gap_ms: f64,
    /// From asking for the initial state to the last frame, seconds.
    pub total_s: f64,
    pub updates_per_s: f64,
    /// Notes on the replayed board at the end.
    pub notes: u64,
}

/// Loading the live board after the server restarted.
#[derive(Debug, Clone, Serialize)]
pub struct RestartStats {
    /// Time from SIGTERM to the server's exit (boards checkpoint on the way out).
    pub stop_s: f64,
    /// Time from starting the server to its listening.
    pub start_s: f64,
    /// The server's own time to load the board, from `/metrics` (sum / count of
    /// `commonboard_board_load_seconds` in the new process).
    pub server_load_ms: Option<f64>,
    /// Loads the histogram counted (1: the board alone).
    pub server_loads: u64,
    /// A WebSocket client's time from connecting to the whole board (sync step 2).
    pub first_sync_ms: f64,
    pub first_sync_bytes: u64,
    /// The same client's time from connecting to its first edit relayed back (accepted:
    /// applied, committed, relayed), the edit sent as soon as the board arrived.
    pub first_edit_ms: Option<f64>,
    /// The same with the board already loaded.
    pub warm_sync_ms: f64,
    /// Notes the client received.
    pub notes: u64,
}

/// The store's size.
#[derive(Debug, Clone, Serialize)]
pub struct StorageStats {
    /// `update_bytes / updates` of the log (payload only).
    pub bytes_per_update: Option<f64>,
    /// `checkpoint_bytes / checkpoints` (payload only).
    pub bytes_per_checkpoint: Option<f64>,
    /// The SQLite database and its WAL, with the server running.
    pub sqlite_bytes: Option<u64>,
    /// Of which the WAL.
    pub sqlite_wal_bytes: Option<u64>,
    /// `sqlite_bytes` per logged update.
    pub sqlite_bytes_per_update: Option<f64>,
}

/// One of the targets.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub target: String,
    pub measured: String,
    /// `None` when it could not be measured.
    pub met: Option<bool>,
}

/// The correctness checks of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// Whether every answer checked out and the playback matched the server.
    pub passed: bool,
    pub problems: Vec<String>,
}

/// Collects problems, keeping the first few.
#[derive(Debug, Default)]
struct Problems {
    list: Vec<String>,
    count: usize,
}

impl Problems {
    fn add(&mut self, problem: String) {
        self.count += 1;
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(problem);
        }
    }

    fn into_checks(mut self) -> Checks {
        if self.count > self.list.len() {
            self.list.push(format!("... and {} more", self.count - self.list.len()));
        }
        Checks { passed: self.count == 0, problems: self.list }
    }
}

/// The board's history API, one request at a time.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    board: String,
    token: Option<String>,
}

impl Api {
    fn new(target: &Target) -> anyhow::Result<Self> {
        crate::boards::check_loopback(&target.base)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(HTTP_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api { client, base: target.base.clone(), board: target.board.clone(), token: target.token.clone() })
    }

    /// `GET /api/boards/{id}/{path}`: the body, the seq header, and the time to the
    /// body's last byte.
    async fn get(&self, path: &str) -> anyhow::Result<(Bytes, Option<u64>, Duration)> {
        let url = format!("{}/api/boards/{}/{path}", self.base, self.board);
        let mut request = self.client.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let response = request.send().await.with_context(|| format!("GET {url} failed"))?;
        let status = response.status();
        let seq = response.headers().get(SEQ_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body = response.bytes().await.with_context(|| format!("GET {url}: the body did not arrive"))?;
        let elapsed = started.elapsed();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            anyhow::bail!("GET {url} answered {status}: {text}");
        }
        Ok((body, seq, elapsed))
    }

    /// A JSON answer, parsed, and the time to its last byte (parsing excluded).
    async fn json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<(T, Duration, usize)> {
        let (body, _, elapsed) = self.get(path).await?;
        let value = serde_json::from_slice(&body).with_context(|| format!("{path}: not the expected JSON"))?;
        Ok((value, elapsed, body.len()))
    }
}

/// Prints progress lines, at most one a second (and every one marked `always`).
struct Progress {
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress { enabled, started: Instant::now(), last: None }
    }

    fn line(&mut self, always: bool, text: impl FnOnce() -> String) {
        if !self.enabled || (!always && self.last.is_some_and(|l| l.elapsed() < Duration::from_secs(1))) {
            return;
        }
        self.last = Some(Instant::now());
        eprintln!("[{:>5.0}s] replay  {}", self.started.elapsed().as_secs_f64(), text());
    }
}

/// Starts a Commonboard server on a fresh data directory, builds the history on it,
/// measures, restarts the server and measures loading the board; stops the server.
pub async fn run_one_shot(one: &OneShot, options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    let paths =
        ServerPaths { commonboard_bin: one.commonboard_bin.clone(), peers_dir: PathBuf::new(), y_sweet_bin: None };
    // Building a long history writes thousands of updates a second on one connection:
    // an import, not a person, so the per-connection message rate limit is off.
    let mut extra = vec!["--message-rate".to_owned(), "0".to_owned()];
    if let Some(n) = one.checkpoint_every {
        extra.extend(["--checkpoint-every".to_owned(), n.to_string()]);
    }
    let mut server = RunningServer::start_with(ServerKind::Commonboard, &paths, &extra).await?;
    if options.progress {
        eprintln!("started {} (pid {}) on {}", one.commonboard_bin.display(), server.pid, server.http_base());
    }
    let outcome = one_shot_on(&mut server, one, options).await;
    server.stop().await;
    outcome
}

async fn one_shot_on(
    server: &mut RunningServer,
    one: &OneShot,
    options: &ReplayOptions,
) -> anyhow::Result<ReplayReport> {
    let scenario = crate::scenario::Scenario {
        url: server.url.clone(),
        protocol: server.protocol,
        updates: one.updates,
        duration: one.build_timeout,
        create_boards: BoardCreation::CommonboardApi,
        seed: options.seed,
        ..Preset::History.scenario()
    };
    let run =
        RunOptions { server_pid: Some(server.pid), progress: options.progress, label: String::new(), frames: None };
    let built = history::build(&scenario, &run).await.context("building the history failed")?;
    anyhow::ensure!(built.complete, "the history's board does not hold every note created");
    let target =
        Target { base: server.http_base(), board: built.board.clone(), token: built.facilitator_token.clone() };
    let options = ReplayOptions { data_dir: server.data_dir(), server_pid: Some(server.pid), ..options.clone() };
    let started = Instant::now();
    let mut progress = Progress::new(options.progress);
    let Measured { mut report, final_notes, mut problems } = measure(&target, &options, &mut progress).await?;
    progress.line(true, || "restarting the server".into());
    let restart = restart_and_load(server, &target, &mut progress).await;
    if built.notes != final_notes {
        problems.add(format!(
            "the history preset left {} notes but the server's state at #{} has {final_notes}",
            built.notes, report.playback.to_seq
        ));
    }
    match restart {
        Ok(restart) => {
            if restart.notes != final_notes {
                problems
                    .add(format!("after the restart the board has {} notes, before it {final_notes}", restart.notes));
            }
            report.restart = Some(restart);
        }
        Err(error) => problems.add(format!("restart: {error:#}")),
    }
    report.built = Some(built);
    report.checkpoint_every = one.checkpoint_every;
    report.targets = verdicts(&report);
    report.checks = problems.into_checks();
    report.wall_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What [`measure`] found, before the restart adds to it.
struct Measured {
    report: ReplayReport,
    /// Notes on the board at the last point.
    final_notes: u64,
    problems: Problems,
}

/// Measures a board on a running server (everything but the restart).
pub async fn measure_board(target: &Target, options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    let started = Instant::now();
    let Measured { mut report, problems, .. } = measure(target, options, &mut Progress::new(options.progress)).await?;
    report.targets = verdicts(&report);
    report.checks = problems.into_checks();
    report.wall_s = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn measure(target: &Target, options: &ReplayOptions, progress: &mut Progress) -> anyhow::Result<Measured> {
    anyhow::ensure!(options.samples >= 1, "--samples must be at least 1");
    anyhow::ensure!(
        (1..=MAX_PAGE_SIZE).contains(&options.page_size),
        "--page-size must be between 1 and {MAX_PAGE_SIZE}"
    );
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let api = Api::new(target)?;
    let machine_start = procstat::machine();
    let mut problems = Problems::default();

    let (timeline, _, _) = api.json::<Timeline>("timeline?buckets=10").await.context("reading the timeline")?;
    let log = timeline.log.clone();
    let first = log.first_seq.max(1);
    let last = log.last_seq;
    anyhow::ensure!(last > first, "the board's log has no more than one point (#{first} to #{last})");
    progress.line(true, || {
        format!(
            "board {}: points #{first} to #{last}, {} updates, {} checkpoints; seed {}",
            target.board, log.updates, log.checkpoints, options.seed
        )
    });

    let mut rng = StdRng::seed_from_u64(options.seed);
    let state = states_at_random_points(&api, &mut rng, first, last, options, progress, &mut problems).await?;
    progress
        .line(true, || format!("board at random points: p50 {}, p99 {}", ms(state.all.p50_ms), ms(state.all.p99_ms)));
    let history_list = history_pages(&api, &mut rng, first, last, options.history_samples, &mut problems).await?;
    progress.line(true, || format!("history list: newest page p50 {}", ms(history_list.newest.p50_ms)));
    let (playback, doc) = playback(&api, first, last, options.page_size, progress, &mut problems).await?;
    progress.line(true, || {
        format!(
            "playback: {} updates in {:.1} s, longest gap between frames {}",
            playback.updates,
            playback.total_s,
            ms(playback.longest_gap_ms)
        )
    });

    // The replayed document against the server's state at the last point applied.
    let (server_state, _, _) = api
        .json::<BoardStateAt>(&format!("state?at={}", playback.to_seq))
        .await
        .context("reading the last point's state")?;
    let replayed = snapshot(&doc);
    if let Some(difference) = compare_notes(&replayed, &server_state.board) {
        problems.add(format!("the playback does not match the server at #{}: {difference}", playback.to_seq));
    }
    let final_notes = server_state.board.notes.len() as u64;

    let sqlite = options.data_dir.as_deref().map(sqlite_size).transpose()?;
    let sqlite_bytes = sqlite.map(|(db, wal)| db + wal);
    let per = |total: u64, count: u64| (count > 0).then(|| total as f64 / count as f64);
    let storage = StorageStats {
        bytes_per_update: per(log.update_bytes, log.updates),
        bytes_per_checkpoint: per(log.checkpoint_bytes, log.checkpoints),
        sqlite_bytes,
        sqlite_wal_bytes: sqlite.map(|(_, wal)| wal),
        sqlite_bytes_per_update: sqlite_bytes.and_then(|b| per(b, log.updates)),
    };
    let machine_busy_percent = match (machine_start, procstat::machine()) {
        (Some(a), Some(b)) => procstat::machine_busy(a, b).map(|busy| busy * 100.0),
        _ => None,
    };
    let report = ReplayReport {
        machine_busy_percent,
        machine_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        server: target.base.clone(),
        board: target.board.clone(),
        seed: options.seed,
        started_at,
        built: None,
        checkpoint_every: None,
        log,
        state,
        history_list,
        playback,
        restart: None,
        storage,
        targets: Vec::new(),
        checks: Checks { passed: true, problems: Vec::new() },
        wall_s: 0.0,
    };
    Ok(Measured { report, final_notes, problems })
}

/// `samples` requests for the board at uniformly random points, alternating JSON and
/// Yjs; the first few Yjs answers are compared with the JSON answer at their point.
async fn states_at_random_points(
    api: &Api,
    rng: &mut StdRng,
    first: u64,
    last: u64,
    options: &ReplayOptions,
    progress: &mut Progress,
    problems: &mut Problems,
) -> anyhow::Result<StateStats> {
    let (mut all, mut json, mut yjs) = (latency::histogram(), latency::histogram(), latency::histogram());
    let mut timed: Vec<(u64, Duration, bool)> = Vec::with_capacity(options.samples);
    let cpu_before = options.server_pid.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let (mut json_bytes, mut yjs_bytes) = (0u64, 0u64);
    let (mut answers_ok, mut compared, mut compared_ok) = (0u64, 0u64, 0u64);
    for i in 0..options.samples {
        let at = rng.random_range(first..=last);
        let as_yjs = i % 2 == 1;
        if as_yjs {
            let (body, seq, elapsed) = api.get(&format!("state?at={at}&format=yjs")).await?;
            record(&mut yjs, elapsed);
            record(&mut all, elapsed);
            timed.push((at, elapsed, true));
            yjs_bytes += body.len() as u64;
            let doc = Doc::new();
            let board = Board::new(&doc);
            let applied = apply_whole(&doc, &body);
            match (applied, seq) {
                (Err(error), _) => problems.add(format!("state at #{at} (yjs): {error}")),
                (Ok(()), Some(seq)) if seq != at => {
                    problems.add(format!("state at #{at} (yjs): {SEQ_HEADER} says #{seq}"))
                }
                (Ok(()), None) => problems.add(format!("state at #{at} (yjs): no {SEQ_HEADER} header")),
                (Ok(()), Some(_)) => {
                    answers_ok += 1;
                    if (compared as usize) < COMPARED_POINTS {
                        compared += 1;
                        let (expected, _, _) = api.json::<BoardStateAt>(&format!("state?at={at}")).await?;
                        let got = board.snapshot(&doc.transact());
                        match compare_notes(&got, &expected.board) {
                            None => compared_ok += 1,
                            Some(difference) => {
                                problems.add(format!("state at #{at}: the Yjs and JSON answers differ: {difference}"))
                            }
                        }
                    }
                }
            }
        } else {
            let (body, _, elapsed) = api.get(&format!("state?at={at}")).await?;
            record(&mut json, elapsed);
            record(&mut all, elapsed);
            timed.push((at, elapsed, false));
            json_bytes += body.len() as u64;
            match serde_json::from_slice::<BoardStateAt>(&body) {
                Err(error) => problems.add(format!("state at #{at} (json) does not parse: {error}")),
                Ok(state) if state.seq != at || !state.exact => {
                    problems.add(format!("state at #{at} (json) shows #{} (exact: {})", state.seq, state.exact))
                }
                Ok(_) => answers_ok += 1,
            }
        }
        progress.line(false, || format!("board at random points: {}/{}", i + 1, options.samples));
    }
    // The extra JSON requests of the comparisons add to the CPU time: a small excess.
    let cpu_after = options.server_pid.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let server_cpu_ms_per_request = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => Some((b.cpu_s - a.cpu_s) * 1000.0 / timed.len().max(1) as f64),
        _ => None,
    };
    let mean = |total: u64, h: &Histogram<u64>| if h.is_empty() { 0.0 } else { total as f64 / h.len() as f64 };
    Ok(StateStats {
        by_quarter: quarters(first, last, &timed),
        server_cpu_ms_per_request,
        json_mean_bytes: mean(json_bytes, &json),
        yjs_mean_bytes: mean(yjs_bytes, &yjs),
        all: Percentiles::of(&all),
        json: Percentiles::of(&json),
        yjs: Percentiles::of(&yjs),
        answers_ok,
        compared,
        compared_ok,
    })
}

/// Median latency of the points in each quarter of the log `first..=last`.
fn quarters(first: u64, last: u64, timed: &[(u64, Duration, bool)]) -> Vec<QuarterStats> {
    let span = last - first + 1;
    (0..4u64)
        .map(|q| {
            let from_seq = first + span * q / 4;
            let to_seq = first + span * (q + 1) / 4 - 1;
            let sorted = |form: Option<bool>| {
                let mut times: Vec<Duration> = (timed.iter())
                    .filter(|(at, _, yjs)| (from_seq..=to_seq).contains(at) && form.is_none_or(|f| f == *yjs))
                    .map(|&(_, t, _)| t)
                    .collect();
                times.sort_unstable();
                times
            };
            // Nearest rank: the median of an even count is the lower middle one.
            let at = |times: &[Duration], rank: f64| {
                let index = ((times.len() as f64 * rank).ceil() as usize).saturating_sub(1);
                times.get(index).map_or(0.0, |t| t.as_secs_f64() * 1000.0)
            };
            let all = sorted(None);
            QuarterStats {
                from_seq,
                to_seq,
                count: all.len() as u64,
                p50_ms: at(&all, 0.5),
                p99_ms: at(&all, 0.99),
                json_p50_ms: at(&sorted(Some(false)), 0.5),
                yjs_p50_ms: at(&sorted(Some(true)), 0.5),
            }
        })
        .collect()
}

/// The newest page of the history list, and pages before random points.
async fn history_pages(
    api: &Api,
    rng: &mut StdRng,
    first: u64,
    last: u64,
    samples: usize,
    problems: &mut Problems,
) -> anyhow::Result<HistoryListStats> {
    let (mut newest, mut deep) = (latency::histogram(), latency::histogram());
    for _ in 0..samples {
        let (page, elapsed, _) = api.json::<HistoryPage>(&format!("history?limit={HISTORY_PAGE_LIMIT}")).await?;
        record(&mut newest, elapsed);
        if page.entries.is_empty() {
            problems.add("the newest page of the history list is empty".into());
        }
        let before = rng.random_range(first + 1..=last);
        let path = format!("history?limit={HISTORY_PAGE_LIMIT}&before={before}");
        let (page, elapsed, _) = api.json::<HistoryPage>(&path).await?;
        record(&mut deep, elapsed);
        if page.entries.is_empty() {
            problems.add(format!("the history page before #{before} is empty"));
        } else if let Some(entry) = page.entries.iter().find(|e| e.seq >= before) {
            problems.add(format!("the history page before #{before} holds #{}", entry.seq));
        }
    }
    Ok(HistoryListStats { limit: HISTORY_PAGE_LIMIT, newest: Percentiles::of(&newest), deep: Percentiles::of(&deep) })
}

/// A page of updates as the fetcher hands it to the player.
struct Fetched {
    page: UpdatePage,
    elapsed: Duration,
}

/// Plays the whole log back; returns the figures and the replayed document.
async fn playback(
    api: &Api,
    first: u64,
    last: u64,
    page_size: u32,
    progress: &mut Progress,
    problems: &mut Problems,
) -> anyhow::Result<(PlaybackStats, Doc)> {
    let started = Instant::now();
    let doc = Doc::new();
    let board = Board::new(&doc);
    let (state, seq, initial) = api.get(&format!("state?at={first}&format=yjs")).await?;
    if seq.is_some_and(|s| s != first) {
        problems.add(format!("the playback's first state shows #{} instead of #{first}", seq.unwrap_or(0)));
    }
    apply_whole(&doc, &state).with_context(|| format!("the state at #{first} does not apply"))?;

    // The fetcher: reads pages ahead, as the browser's network does beside the player.
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<Fetched>>(PREFETCH_PAGES);
    let fetcher = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut from = first + 1;
            // Every page holds at least one update, so the log's length bounds the loop.
            for _ in 0..=(last - first) {
                if from > last {
                    break;
                }
                let fetched =
                    api.get(&format!("updates?from={from}&limit={page_size}")).await.and_then(|(body, _, elapsed)| {
                        let page: UpdatePage = serde_json::from_slice(&body).context("an update page is not JSON")?;
                        Ok(Fetched { page, elapsed })
                    });
                let next = match &fetched {
                    Ok(f) if f.page.updates.is_empty() => None,
                    Ok(f) => f.page.next_from.filter(|&n| n > from),
                    Err(_) => None,
                };
                let failed = fetched.is_err();
                if tx.send(fetched).await.is_err() || failed {
                    break;
                }
                match next {
                    Some(n) => from = n,
                    None => break,
                }
            }
        })
    };

    let mut frames = Frames::new(Instant::now());
    let mut page_fetch = latency::histogram();
    let (mut pages, mut expected, mut update_bytes) = (0u64, first + 1, 0u64);
    while let Some(fetched) = rx.recv().await {
        let mut batch = vec![fetched?];
        while let Ok(more) = rx.try_recv() {
            batch.push(more?);
        }
        let applying = Instant::now();
        let mut applied = 0u64;
        {
            let mut txn = doc.transact_mut();
            for fetched in &batch {
                for logged in fetched.page.updates.iter().take_while(|u| u.seq <= last) {
                    anyhow::ensure!(
                        logged.seq == expected,
                        "the updates jump from #{} to #{}",
                        expected - 1,
                        logged.seq
                    );
                    let raw = BASE64
                        .decode(&logged.update)
                        .with_context(|| format!("update #{} is not base64", logged.seq))?;
                    update_bytes += raw.len() as u64;
                    let update =
                        Update::decode_v1(&raw).with_context(|| format!("update #{} does not decode", logged.seq))?;
                    txn.apply_update(update).with_context(|| format!("update #{} does not apply", logged.seq))?;
                    expected += 1;
                    applied += 1;
                }
            }
        }
        frames.frame(Instant::now(), applying.elapsed(), applied);
        for fetched in &batch {
            pages += 1;
            record(&mut page_fetch, fetched.elapsed);
        }
        progress.line(false, || format!("playback: #{}/{last}, {pages} pages, {} frames", expected - 1, frames.count));
    }
    fetcher.await.context("the fetcher failed")?;
    let total = started.elapsed();
    if doc.transact().store().pending_update().is_some() {
        problems.add("the playback left updates waiting for missing ones".into());
    }
    let to_seq = expected - 1;
    if to_seq != last {
        problems.add(format!("the playback ended at #{to_seq}, not #{last}"));
    }
    let updates = to_seq - first;
    let notes = u64::from(board.note_count(&doc.transact()));
    let stats = PlaybackStats {
        from_seq: first,
        to_seq,
        updates,
        update_bytes,
        initial_state_ms: initial.as_secs_f64() * 1000.0,
        initial_state_bytes: state.len() as u64,
        page_size,
        pages,
        page_fetch: Percentiles::of(&page_fetch),
        frames: frames.count,
        frame_apply: Percentiles::of(&frames.apply),
        most_updates_in_a_frame: frames.most_updates,
        frame_gap: Percentiles::of(&frames.gaps),
        longest_gap_ms: frames.longest_gap.as_secs_f64() * 1000.0,
        total_s: total.as_secs_f64(),
        updates_per_s: updates as f64 / total.as_secs_f64().max(1e-9),
        notes,
    };
    Ok((stats, doc))
}

/// The frames of a playback: when each ended, how long its batch took to apply, and
/// the longest wait between two.
struct Frames {
    last: Instant,
    count: u64,
    gaps: Histogram<u64>,
    apply: Histogram<u64>,
    longest_gap: Duration,
    most_updates: u64,
}

impl Frames {
    /// Frames counted from `start` (the initial state shown).
    fn new(start: Instant) -> Self {
        Frames {
            last: start,
            count: 0,
            gaps: latency::histogram(),
            apply: latency::histogram(),
            longest_gap: Duration::ZERO,
            most_updates: 0,
        }
    }

    /// A frame ended at `now`, after applying `updates` in `apply`.
    fn frame(&mut self, now: Instant, apply: Duration, updates: u64) {
        let gap = now.saturating_duration_since(self.last);
        self.last = now;
        self.count += 1;
        self.longest_gap = self.longest_gap.max(gap);
        self.most_updates = self.most_updates.max(updates);
        record(&mut self.gaps, gap);
        record(&mut self.apply, apply);
    }
}

/// Restarts the server and times loading the board: the server's own figure and a
/// WebSocket client's.
async fn restart_and_load(
    server: &mut RunningServer,
    target: &Target,
    progress: &mut Progress,
) -> anyhow::Result<RestartStats> {
    let (stopped, started) = server.restart().await.context("the server did not restart")?;
    progress.line(true, || format!("restarted (pid {}) on {}; connecting", server.pid, server.http_base()));
    let mut url = server.url.replace("{board}", &target.board);
    if let Some(token) = &target.token {
        url.push_str("?token=");
        url.push_str(token);
    }
    let (first_sync, update, first_edit) =
        sync_and_edit(&url, &target.board).await.context("connecting after the restart")?;
    let doc = Doc::new();
    let board = Board::new(&doc);
    apply_whole(&doc, &update).context("the board sent after the restart does not apply")?;
    let notes = u64::from(board.note_count(&doc.transact()));
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .build()?
        .get(format!("{}/metrics", server.http_base()))
        .send()
        .await
        .context("GET /metrics failed")?
        .text()
        .await?;
    let load = histogram_sum_count(&metrics, LOAD_METRIC);
    let (warm_sync, _) = sync_once(&url, &target.board).await.context("connecting a second time")?;
    Ok(RestartStats {
        stop_s: stopped.as_secs_f64(),
        start_s: started.as_secs_f64(),
        server_load_ms: load.filter(|&(_, count)| count > 0).map(|(sum, count)| sum * 1000.0 / count as f64),
        server_loads: load.map_or(0, |(_, count)| count),
        first_sync_ms: first_sync.as_secs_f64() * 1000.0,
        first_sync_bytes: update.len() as u64,
        first_edit_ms: Some(first_edit.as_secs_f64() * 1000.0),
        warm_sync_ms: warm_sync.as_secs_f64() * 1000.0,
        notes,
    })
}

/// Connects a fresh client to `board` and sends an empty sync step 1: the client's
/// wire, its socket, and when it started connecting.
async fn ask_whole_board(url: &str, board: &str) -> anyhow::Result<(Wire, peer::Socket, Instant)> {
    let wire = Wire::new(Flavor::YWebsocket, board);
    let started = Instant::now();
    let mut socket = peer::connect(url).await?;
    socket.send(WsMessage::Binary(wire.step1(&StateVector::default()).into())).await?;
    Ok((wire, socket, started))
}

/// The next binary frame from the server, before `deadline`.
async fn next_binary(socket: &mut peer::Socket, deadline: Instant) -> anyhow::Result<Bytes> {
    loop {
        let message = tokio::time::timeout_at(deadline.into(), socket.next())
            .await
            .context("timed out waiting for the board")?
            .context("the connection closed before the board arrived")??;
        match message {
            WsMessage::Binary(frame) => return Ok(frame),
            WsMessage::Close(close) => anyhow::bail!("the server closed the connection: {close:?}"),
            _ => {}
        }
    }
}

/// Connects a fresh client, sends an empty sync step 1 and waits for the server's sync
/// step 2: the time from connecting to holding it, and the update it carried.
async fn sync_once(url: &str, board: &str) -> anyhow::Result<(Duration, Vec<u8>)> {
    let (_, mut socket, started) = ask_whole_board(url, board).await?;
    let deadline = started + SYNC_TIMEOUT;
    loop {
        let frame = next_binary(&mut socket, deadline).await?;
        let mut step2 = None;
        wire::messages(Flavor::YWebsocket, &frame, |m| {
            if let Msg::SyncStep2(update) = m {
                step2 = Some(update.to_vec());
            }
        })?;
        if let Some(update) = step2 {
            let elapsed = started.elapsed();
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
            return Ok((elapsed, update));
        }
    }
}

/// Connects a fresh client, sends an empty sync step 1, and as soon as the server's
/// sync step 2 arrives sends an edit (a new note, made on a document of its own so that
/// the client need not integrate the board first) and waits for it to come back: the
/// times from connecting to holding the board and to the edit accepted, and the board.
pub async fn sync_and_edit(url: &str, board: &str) -> anyhow::Result<(Duration, Vec<u8>, Duration)> {
    let (wire, mut socket, started) = ask_whole_board(url, board).await?;
    let deadline = started + SYNC_TIMEOUT;
    let editor = Doc::new();
    let editor_board = Board::new(&editor);
    let client = editor.client_id();
    let mut synced: Option<(Duration, Vec<u8>)> = None;
    loop {
        let frame = next_binary(&mut socket, deadline).await?;
        let (mut step2, mut echoed) = (None, false);
        wire::messages(Flavor::YWebsocket, &frame, |m| match m {
            Msg::SyncStep2(update) => step2 = Some(update.to_vec()),
            Msg::Update(update) => {
                echoed |= Update::decode_v1(update).is_ok_and(|u| u.state_vector().get(&client) > 0);
            }
            _ => {}
        })?;
        if let (Some(update), None) = (step2, &synced) {
            synced = Some((started.elapsed(), update));
            let note = commonboard_protocol::schema::Note {
                id: format!("restart-edit-{}", client.get()),
                text: "first edit after the restart".into(),
                w: 160.0,
                h: 120.0,
                color: "yellow".into(),
                author: "replay".into(),
                created_at: 1.0,
                ..Default::default()
            };
            let edit = {
                let mut txn = editor.transact_mut();
                editor_board.insert_note(&mut txn, &note);
                txn.encode_update_v1()
            };
            socket.send(WsMessage::Binary(wire.update(edit).into())).await?;
        }
        if echoed {
            let edited = started.elapsed();
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
            let (sync, update) = synced.context("an edit came back before the board")?;
            return Ok((sync, update, edited));
        }
    }
}

/// The targets against what was measured.
fn verdicts(report: &ReplayReport) -> Vec<Verdict> {
    let mut verdicts = vec![
        Verdict {
            target: format!("state at a point: median < {STATE_MEDIAN_TARGET_MS} ms"),
            measured: format!("{} (p99 {})", ms(report.state.all.p50_ms), ms(report.state.all.p99_ms)),
            met: Some(report.state.all.p50_ms < STATE_MEDIAN_TARGET_MS),
        },
        Verdict {
            target: format!("playback: a frame every {FRAME_GAP_TARGET_MS} ms"),
            measured: format!("longest gap {}", ms(report.playback.longest_gap_ms)),
            met: Some(report.playback.longest_gap_ms <= FRAME_GAP_TARGET_MS),
        },
    ];
    let load_target = format!("load after a restart: < {LOAD_TARGET_MS} ms");
    match &report.restart {
        Some(restart) => {
            let measured = format!(
                "server {}, client {}",
                restart.server_load_ms.map_or("-".into(), ms),
                ms(restart.first_sync_ms)
            );
            let worst = restart.server_load_ms.unwrap_or(0.0).max(restart.first_sync_ms);
            verdicts.push(Verdict { target: load_target, measured, met: Some(worst < LOAD_TARGET_MS) });
            if let Some(edit) = restart.first_edit_ms {
                verdicts.push(Verdict {
                    target: format!("first edit accepted after a restart: < {EDIT_TARGET_MS} ms"),
                    measured: ms(edit),
                    met: Some(edit < EDIT_TARGET_MS),
                });
            }
        }
        None => verdicts.push(Verdict {
            target: load_target,
            measured: "not measured: the tool did not start the server".into(),
            met: None,
        }),
    }
    verdicts
}

/// Records a duration in microseconds.
fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    histogram.saturating_record(elapsed.as_micros().min(u128::from(u64::MAX)) as u64);
}

/// Applies a Yjs update to `doc` and checks nothing is left waiting for missing parts.
fn apply_whole(doc: &Doc, update: &[u8]) -> anyhow::Result<()> {
    let update = Update::decode_v1(update).context("not a Yjs v1 update")?;
    let mut txn = doc.transact_mut();
    txn.apply_update(update).context("does not apply")?;
    anyhow::ensure!(txn.store().pending_update().is_none(), "parts of it wait for missing updates");
    Ok(())
}

fn snapshot(doc: &Doc) -> BoardSnapshot {
    let board = Board::new(doc);
    let txn = doc.transact();
    board.snapshot(&txn)
}

/// Where two boards' notes differ (ids and texts), if they do.
pub fn compare_notes(got: &BoardSnapshot, expected: &BoardSnapshot) -> Option<String> {
    let texts = |s: &BoardSnapshot| -> BTreeMap<String, String> {
        s.notes.iter().map(|n| (n.id.clone(), n.text.clone())).collect()
    };
    let (got, expected) = (texts(got), texts(expected));
    if got == expected {
        return None;
    }
    if let Some(id) = expected.keys().find(|id| !got.contains_key(*id)) {
        return Some(format!("{} notes instead of {}; note {id} is missing", got.len(), expected.len()));
    }
    if let Some(id) = got.keys().find(|id| !expected.contains_key(*id)) {
        return Some(format!("{} notes instead of {}; note {id} should not be there", got.len(), expected.len()));
    }
    let (id, text) = got.iter().find(|(id, text)| expected.get(*id) != Some(text))?;
    Some(format!("note {id} reads {text:?} instead of {:?}", expected[id]))
}

/// Sum and count of a Prometheus histogram, over every label set.
pub fn histogram_sum_count(text: &str, name: &str) -> Option<(f64, u64)> {
    let value = |suffix: &str| -> Option<f64> {
        let metric = format!("{name}{suffix}");
        let mut found = None;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&metric) else {
                continue;
            };
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                continue;
            }
            let number: f64 = rest.rsplit(' ').next()?.trim().parse().ok()?;
            found = Some(found.unwrap_or(0.0) + number);
        }
        found
    };
    Some((value("_sum")?, value("_count")? as u64))
}

/// Bytes of the SQLite database and of its WAL in a data directory.
fn sqlite_size(data_dir: &Path) -> anyhow::Result<(u64, u64)> {
    let db = data_dir.join(SQLITE_FILE);
    let main = std::fs::metadata(&db).with_context(|| format!("cannot read {}", db.display()))?.len();
    let wal = std::fs::metadata(data_dir.join(format!("{SQLITE_FILE}-wal"))).map_or(0, |m| m.len());
    Ok((main, wal))
}

impl ReplayReport {
    /// The human table.
    pub fn render(&self) -> String {
        let mut t = Table::new();
        t.row("board", format!("{} on {}", self.board, self.server));
        t.row("run", format!("{} (seed {}), {:.1} s", self.started_at, self.seed, self.wall_s));
        if let Some(busy) = self.machine_busy_percent {
            t.row("machine busy while measuring", format!("{busy:.0}% of {} CPUs", self.machine_cpus));
        }
        let l = &self.log;
        t.row(
            "log",
            format!(
                "points #{} to #{}: {} updates ({}), {} checkpoints ({}){}",
                l.first_seq,
                l.last_seq,
                l.updates,
                bytes(l.update_bytes as f64),
                l.checkpoints,
                bytes(l.checkpoint_bytes as f64),
                self.checkpoint_every.map_or(String::new(), |n| format!(", --checkpoint-every {n}"))
            ),
        );
        if let Some(built) = &self.built {
            t.row(
                "built",
                format!(
                    "{} updates in {:.1} s ({:.0}/s), {} notes, {} encoded",
                    built.updates,
                    built.elapsed_s,
                    built.updates_per_s,
                    built.notes,
                    bytes(built.state_bytes as f64)
                ),
            );
        }

        let s = &self.state;
        t.section(&format!("board at random points ({} requests, one at a time)", s.all.count));
        let line =
            |p: &Percentiles| format!("{} / {} / {} / {}", ms(p.p50_ms), ms(p.p90_ms), ms(p.p99_ms), ms(p.max_ms));
        t.row("all p50 / p90 / p99 / max", line(&s.all));
        t.row(
            "JSON",
            format!("{}  ({} requests, {} each on average)", line(&s.json), s.json.count, bytes(s.json_mean_bytes)),
        );
        t.row(
            "Yjs",
            format!("{}  ({} requests, {} each on average)", line(&s.yjs), s.yjs.count, bytes(s.yjs_mean_bytes)),
        );
        let quarters: Vec<String> = s
            .by_quarter
            .iter()
            .map(|q| {
                format!(
                    "#{}-#{} {} (JSON {}, Yjs {}; p99 {}; {})",
                    q.from_seq,
                    q.to_seq,
                    ms(q.p50_ms),
                    ms(q.json_p50_ms),
                    ms(q.yjs_p50_ms),
                    ms(q.p99_ms),
                    q.count
                )
            })
            .collect();
        t.row("p50 by quarter of the log", quarters.join(", "));
        if let Some(cpu) = s.server_cpu_ms_per_request {
            t.row("server CPU per request", ms(cpu));
        }
        t.row(
            "answers checked",
            format!(
                "{} of {} right; Yjs = JSON at {} of {} points",
                s.answers_ok, s.all.count, s.compared_ok, s.compared
            ),
        );

        let h = &self.history_list;
        t.section(&format!("history list (pages of {})", h.limit));
        t.row("newest page p50 / p99", format!("{} / {}", ms(h.newest.p50_ms), ms(h.newest.p99_ms)));
        t.row("page deep in the log p50 / p99", format!("{} / {}", ms(h.deep.p50_ms), ms(h.deep.p99_ms)));

        let p = &self.playback;
        t.section(&format!("full playback at the highest speed (pages of {})", p.page_size));
        t.row(
            "initial state",
            format!("#{} in {} ({})", p.from_seq, ms(p.initial_state_ms), bytes(p.initial_state_bytes as f64)),
        );
        t.row(
            "pages fetched",
            format!(
                "{}, each p50 {} / p99 {} / max {}",
                p.pages,
                ms(p.page_fetch.p50_ms),
                ms(p.page_fetch.p99_ms),
                ms(p.page_fetch.max_ms)
            ),
        );
        t.row(
            "frames",
            format!(
                "{}, applying a batch p50 {} / p99 {} / max {} (at most {} updates)",
                p.frames,
                ms(p.frame_apply.p50_ms),
                ms(p.frame_apply.p99_ms),
                ms(p.frame_apply.max_ms),
                p.most_updates_in_a_frame
            ),
        );
        t.row(
            "gap between frames",
            format!(
                "p50 {} / p99 {} / longest {}",
                ms(p.frame_gap.p50_ms),
                ms(p.frame_gap.p99_ms),
                ms(p.longest_gap_ms)
            ),
        );
        t.row(
            "whole playback",
            format!(
                "#{} to #{}: {} updates ({}) in {:.2} s, {:.0} updates/s; {} notes",
                p.from_seq,
                p.to_seq,
                p.updates,
                bytes(p.update_bytes as f64),
                p.total_s,
                p.updates_per_s,
                p.notes
            ),
        );

        t.section("live board after a restart");
        match &self.restart {
            Some(r) => {
                t.row("server stop / start", format!("{:.2} s / {:.2} s", r.stop_s, r.start_s));
                t.row(
                    "server's load time",
                    match r.server_load_ms {
                        Some(load) if r.server_loads == 1 => ms(load),
                        Some(load) => format!("{} (mean of {} loads)", ms(load), r.server_loads),
                        None => format!("- ({LOAD_METRIC} not on /metrics)"),
                    },
                );
                t.row(
                    "client: connect to whole board",
                    format!("{} ({}, {} notes)", ms(r.first_sync_ms), bytes(r.first_sync_bytes as f64), r.notes),
                );
                t.row("client: first edit accepted", r.first_edit_ms.map_or("-".into(), ms));
                t.row("the same, board loaded", ms(r.warm_sync_ms));
            }
            None => t.row("not measured", "the tool did not start the server (run without --server)"),
        }

        let st = &self.storage;
        t.section("storage");
        let maybe = |v: Option<f64>| v.map_or("-".into(), bytes);
        t.row("bytes per logged update", maybe(st.bytes_per_update));
        t.row("bytes per checkpoint", maybe(st.bytes_per_checkpoint));
        t.row(
            "SQLite file + WAL",
            match st.sqlite_bytes {
                Some(size) => format!(
                    "{} (WAL {}), {} per update",
                    bytes(size as f64),
                    bytes(st.sqlite_wal_bytes.unwrap_or(0) as f64),
                    maybe(st.sqlite_bytes_per_update)
                ),
                None => "- (pass --data-dir)".into(),
            },
        );

        t.section("targets (issue 6)");
        for v in &self.targets {
            let verdict = match v.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "-",
            };
            t.row(v.target.clone(), format!("{}: {verdict}", v.measured));
        }
        t.section("checks");
        t.row("passed", if self.checks.passed { "yes".to_owned() } else { "NO".to_owned() });
        for problem in &self.checks.problems {
            t.row("  problem", problem.clone());
        }
        t.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::schema::Note;

    fn note(id: &str, text: &str) -> Note {
        Note {
            id: id.into(),
            text: text.into(),
            x: 0.0,
            y: 0.0,
            w: 160.0,
            h: 120.0,
            color: "yellow".into(),
            author: "a".into(),
            frame: None,
            created_at: 1.0,
            ..Note::default()
        }
    }

    fn board(notes: &[(&str, &str)]) -> BoardSnapshot {
        BoardSnapshot { notes: notes.iter().map(|(id, text)| note(id, text)).collect(), ..BoardSnapshot::default() }
    }

    #[test]
    fn notes_are_compared_by_id_and_text() {
        let a = board(&[("n1", "pilot"), ("n2", "goal")]);
        assert_eq!(compare_notes(&a, &a.clone()), None);
        let missing = compare_notes(&board(&[("n1", "pilot")]), &a).unwrap();
        assert!(missing.contains("n2 is missing"), "{missing}");
        let extra = compare_notes(&board(&[("n1", "pilot"), ("n2", "goal"), ("n3", "")]), &a).unwrap();
        assert!(extra.contains("n3 should not be there"), "{extra}");
        let text = compare_notes(&board(&[("n1", "pilot"), ("n2", "goals")]), &a).unwrap();
        assert!(text.contains("\"goals\" instead of \"goal\""), "{text}");
    }

    #[test]
    fn the_load_histogram_is_read_from_metrics() {
        let text = "\
# TYPE commonboard_board_load_seconds histogram
commonboard_board_load_seconds_bucket{le=\"0.05\"} 1
commonboard_board_load_seconds_bucket{le=\"+Inf\"} 1
commonboard_board_load_seconds_sum 0.0125
commonboard_board_load_seconds_count 1
commonboard_board_load_seconds_total_other 7
";
        assert_eq!(histogram_sum_count(text, LOAD_METRIC), Some((0.0125, 1)));
        let labelled = "m_sum{a=\"1\"} 1.5\nm_sum{a=\"2\"} 0.5\nm_count{a=\"1\"} 1\nm_count{a=\"2\"} 3\n";
        assert_eq!(histogram_sum_count(labelled, "m"), Some((2.0, 4)));
        assert_eq!(histogram_sum_count("other_sum 1\n", LOAD_METRIC), None);
    }

    #[test]
    fn quarters_split_the_log() {
        let ms = Duration::from_millis;
        let timed = [
            (1, ms(10), false),
            (2, ms(30), true),
            (3, ms(20), false),
            (50, ms(40), true),
            (100, ms(90), false),
            (76, ms(70), true),
        ];
        let q = quarters(1, 100, &timed);
        let spans: Vec<(u64, u64, u64)> = q.iter().map(|q| (q.from_seq, q.to_seq, q.count)).collect();
        assert_eq!(spans, vec![(1, 25, 3), (26, 50, 1), (51, 75, 0), (76, 100, 2)]);
        assert_eq!((q[0].p50_ms, q[1].p50_ms, q[2].p50_ms, q[3].p50_ms), (20.0, 40.0, 0.0, 70.0));
        assert_eq!((q[0].json_p50_ms, q[0].yjs_p50_ms, q[0].p99_ms), (10.0, 30.0, 30.0));
        assert_eq!((q[3].json_p50_ms, q[3].yjs_p50_ms, q[3].p99_ms), (90.0, 70.0, 90.0));
    }

    #[test]
    fn frames_keep_the_longest_gap() {
        let start = Instant::now();
        let mut frames = Frames::new(start);
        frames.frame(start + Duration::from_millis(30), Duration::from_millis(5), 1000);
        frames.frame(start + Duration::from_millis(150), Duration::from_millis(80), 3000);
        frames.frame(start + Duration::from_millis(160), Duration::from_millis(8), 1000);
        assert_eq!(frames.count, 3);
        assert_eq!(frames.longest_gap, Duration::from_millis(120));
        assert_eq!(frames.most_updates, 3000);
        assert!((Percentiles::of(&frames.apply).max_ms - 80.0).abs() < 0.1);
        assert_eq!(Percentiles::of(&frames.gaps).count, 3);
    }

    #[test]
    fn a_yjs_update_applies_whole_or_is_refused() {
        let source = Doc::new();
        let board = Board::new(&source);
        {
            let mut txn = source.transact_mut();
            board.insert_note(&mut txn, &note("n1", "pilot"));
        }
        let first = source.transact().encode_state_as_update_v1(&StateVector::default());
        let before = source.transact().state_vector();
        board.set_note_text(&mut source.transact_mut(), "n1", "pilot in March");
        let second = source.transact().encode_state_as_update_v1(&before);

        let whole = Doc::new();
        apply_whole(&whole, &first).unwrap();
        apply_whole(&whole, &second).unwrap();
        assert_eq!(compare_notes(&snapshot(&whole), &snapshot(&source)), None);
        // The second update alone depends on the first.
        assert!(apply_whole(&Doc::new(), &second).is_err());
        assert!(apply_whole(&Doc::new(), b"not an update").is_err());
    }

    #[test]
    fn verdicts_follow_the_targets() {
        let p = |p50: f64| Percentiles {
            count: 1,
            p50_ms: p50,
            p90_ms: p50,
            p99_ms: p50,
            p999_ms: p50,
            max_ms: p50,
            mean_ms: p50,
        };
        let report = ReplayReport {
            server: "http://127.0.0.1:1".into(),
            board: "b".into(),
            seed: 1,
            started_at: String::new(),
            built: None,
            checkpoint_every: None,
            log: LogStats::default(),
            state: StateStats {
                all: p(12.0),
                json: p(12.0),
                yjs: p(12.0),
                json_mean_bytes: 0.0,
                yjs_mean_bytes: 0.0,
                answers_ok: 1,
                compared_ok: 0,
                compared: 0,
                by_quarter: Vec::new(),
                server_cpu_ms_per_request: None,
            },
            history_list: HistoryListStats { limit: 50, newest: p(1.0), deep: p(1.0) },
            playback: PlaybackStats {
                from_seq: 1,
                to_seq: 2,
                updates: 1,
                update_bytes: 10,
                initial_state_ms: 1.0,
                initial_state_bytes: 10,
                page_size: 1000,
                pages: 1,
                page_fetch: p(1.0),
                frames: 1,
                frame_apply: p(1.0),
                most_updates_in_a_frame: 1,
                frame_gap: p(120.0),
                longest_gap_ms: 120.0,
                total_s: 0.1,
                updates_per_s: 10.0,
                notes: 0,
            },
            restart: None,
            storage: StorageStats {
                bytes_per_update: Some(90.0),
                bytes_per_checkpoint: None,
                sqlite_bytes: None,
                sqlite_wal_bytes: None,
                sqlite_bytes_per_update: None,
            },
            targets: Vec::new(),
            checks: Checks { passed: true, problems: Vec::new() },
            wall_s: 1.0,
            machine_busy_percent: None,
            machine_cpus: 2,
        };
        let verdicts = verdicts(&report);
        let met: Vec<Option<bool>> = verdicts.iter().map(|v| v.met).collect();
        assert_eq!(met, vec![Some(true), Some(false), None]);
        let table = ReplayReport { targets: verdicts, ..report }.render();
        assert!(table.contains("MISSED") && table.contains("not measured"), "{table}");
    }
}
