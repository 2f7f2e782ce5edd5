//! The `soak` subcommand: a long churning load on one Commonboard server it starts,
//! watching the server's resident memory and open files, then checking they come back.
//!
//! Two tracks run side by side until the duration is up, each as a series of
//! *sessions* on a fixed pool of boards:
//!
//! - many-boards: each session opens a random part of the pool with a few editors per
//!   board, an edit every few seconds and a cursor move now and then;
//! - workshop: each session opens one board of a small pool with many busy editors.
//!
//! During a session clients keep joining a board, editing for a moment and leaving
//! (churn). At the end of a session every client leaves; a pause longer than the
//! server's `--idle-unload` lets the boards unload, and later sessions open them again
//! from the store (each board up to `reopen` times, then a fresh board takes its place,
//! so that boards do not grow without end and the load stays the same throughout). After each session the server's copy of each board (fetched by a
//! fresh client) must hold exactly the notes created and not deleted over the whole
//! soak, and every replica of the session must equal it.
//!
//! The server's resident memory (`/proc/PID/status`: VmRSS, and RssAnon, the part that
//! is not pages of its files), its open file descriptors (`/proc/PID/fd`) and its
//! loaded boards (`/healthz`) are sampled into a CSV. When the load stops, the tool
//! waits for every board to unload and for memory to stop falling, and compares the end
//! with the baseline taken the same way after a first warm-up session of each track
//! (the allocator keeps some memory once it has been used; a leak keeps growing past
//! it). Memory is judged on RssAnon: VmRSS also counts the pages of the server's own
//! binary, which grow as code that had not run before the baseline runs for the first
//! time (unload and reopen paths, error paths) and which the kernel can drop at any
//! time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::latency::Recorder;
use crate::marker::{Clock, MarkerCodec};
use crate::peer::{self, BoardState, Counters, PeerOutcome, PeerPlan, Phase, ReplicaState, Shared};
use crate::servers::{RunningServer, ServerKind, ServerPaths};
use crate::wire::Flavor;

/// Longest wait for a session's clients to open and sync.
const SYNC_PATIENCE: Duration = Duration::from_secs(60);
/// After the last edit of a session, clients keep receiving until nothing new has
/// arrived for this long...
const QUIET: Duration = Duration::from_secs(2);
/// ...or for at most this long.
const DRAIN: Duration = Duration::from_secs(30);
/// How long a fresh client may take to fetch a board.
const FETCH_PATIENCE: Duration = Duration::from_secs(30);
/// How long a churning client stays connected after its last edit.
const CHURN_DRAIN: Duration = Duration::from_secs(1);
/// Boards fetched at once when checking a session.
const CHECK_CONCURRENCY: usize = 16;
/// Samples taken once every board has unloaded: at least this many...
const MIN_SETTLE_SAMPLES: usize = 3;
/// ...and at most this many, one a second, until memory stops falling:
const MAX_SETTLE_SAMPLES: usize = 30;
/// by less than this from one second to the next.
const STEADY_KIB: u64 = 512;
/// Problems kept for the report.
const MAX_PROBLEMS: usize = 20;

/// What a soak does.
#[derive(Debug, Clone, Serialize)]
pub struct SoakOptions {
    /// How long the load runs (the warm-up and the settling come on top).
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// The server binary to start.
    pub commonboard_bin: PathBuf,
    /// The server's `--idle-unload`.
    #[serde(serialize_with = "seconds")]
    pub idle_unload: Duration,
    /// Boards in the many-boards pool.
    pub boards: usize,
    /// Boards of that pool one many-boards session opens.
    pub boards_per_session: usize,
    /// Editors per board in a many-boards session.
    pub editors: usize,
    /// Edits per second per many-boards editor.
    pub edit_rate: f64,
    /// Editors on the board of a workshop session.
    pub workshop_editors: usize,
    /// Edits per second per workshop editor.
    pub workshop_edit_rate: f64,
    /// Boards in the workshop pool.
    pub workshop_boards: usize,
    /// Length of one session.
    #[serde(serialize_with = "seconds")]
    pub session: Duration,
    /// Sessions a board is opened by before a fresh board replaces it.
    pub reopen: u32,
    /// Average time between two clients joining for a moment (churn), per track.
    #[serde(serialize_with = "seconds")]
    pub churn_every: Duration,
    /// How often the server is sampled.
    #[serde(serialize_with = "seconds")]
    pub sample_every: Duration,
    /// Where the samples go (CSV).
    pub csv: PathBuf,
    /// Longest wait, after the load, for every board to unload.
    #[serde(serialize_with = "seconds")]
    pub settle: Duration,
    /// Resident memory the end may exceed the baseline by, in MiB...
    pub rss_tolerance_mib: f64,
    /// ...or in percent of the baseline, whichever is larger.
    pub rss_tolerance_percent: f64,
    /// Open files the end may exceed the baseline by.
    pub fd_tolerance: u64,
    pub seed: u64,
    /// Print a progress line at every sample.
    #[serde(skip)]
    pub progress: bool,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// One sample of the server.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    pub elapsed_s: f64,
    /// VmRSS: all resident memory, the binary's own pages included.
    pub rss_kib: u64,
    /// RssAnon: resident memory that is not a file's pages (heap, stacks).
    pub anon_kib: u64,
    pub fds: u64,
    pub boards_loaded: u64,
    /// Connections the tool holds open.
    pub connections: u64,
}

/// What a soak found.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub options: SoakOptions,
    /// The server just started, before any load.
    pub cold: Sample,
    /// After a first session of each track, every board unloaded: the reference.
    pub baseline: Sample,
    /// The highest memory and file counts seen under load.
    pub peak_rss_kib: u64,
    pub peak_anon_kib: u64,
    pub peak_fds: u64,
    pub peak_boards_loaded: u64,
    /// After the load stopped and the boards unloaded.
    pub end: Sample,
    /// Whether every board unloaded within the settle time.
    pub unloaded: bool,
    pub sessions: u64,
    /// Client connections opened over the soak (session clients and churn).
    pub connections_opened: u64,
    /// Of which clients that joined for a moment and left mid-session.
    pub churn_connections: u64,
    /// Connections that failed to open, or ended before their session did.
    pub connect_failures: u64,
    pub closed_early: u64,
    pub close_reasons: BTreeMap<String, u64>,
    /// Edits sent by every client.
    pub edits: u64,
    /// Boards opened by sessions (each from the store, after its last unload).
    pub board_openings: u64,
    /// Boards the server loaded (its `commonboard_board_load_seconds` count).
    pub server_board_loads: Option<u64>,
    /// Board copies checked against the notes expected, and replicas against them.
    pub boards_checked: u64,
    pub replicas_compared: u64,
    pub converged: bool,
    pub problems: Vec<String>,
    /// Whether anonymous memory (RssAnon) came back within the tolerance.
    pub memory_ok: bool,
    pub fds_ok: bool,
    /// The server's open files by kind (a socket, a pipe, a file's name), at the
    /// baseline and at the end: what a leak of files leaks.
    pub baseline_files: BTreeMap<String, u64>,
    pub end_files: BTreeMap<String, u64>,
    pub wall_s: f64,
}

impl SoakReport {
    /// Whether the soak passed: converged, and memory and files back to the baseline.
    pub fn passed(&self) -> bool {
        self.converged && self.memory_ok && self.fds_ok && self.unloaded
    }

    /// The report as a short text.
    pub fn render(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let verdict = |ok: bool| if ok { "ok" } else { "FAILED" };
        let mut s = String::new();
        s += &format!(
            "soak: {:.0} s of load ({:.0} s wall), {} sessions, {} connections opened ({} churn), {} edits\n",
            self.options.duration.as_secs_f64(),
            self.wall_s,
            self.sessions,
            self.connections_opened,
            self.churn_connections,
            self.edits
        );
        s += &format!(
            "boards: {} openings by sessions, {} loads by the server, peak {} loaded at once, {} unloaded at the end: {}\n",
            self.board_openings,
            self.server_board_loads.map_or("?".into(), |n| n.to_string()),
            self.peak_boards_loaded,
            self.end.boards_loaded,
            verdict(self.unloaded)
        );
        s += &format!(
            "anonymous memory (RssAnon) MiB: cold {:.1}, baseline {:.1}, peak {:.1}, end {:.1} (tolerance {:.0} MiB or {:.0}%): {}\n",
            mib(self.cold.anon_kib),
            mib(self.baseline.anon_kib),
            mib(self.peak_anon_kib),
            mib(self.end.anon_kib),
            self.options.rss_tolerance_mib,
            self.options.rss_tolerance_percent,
            verdict(self.memory_ok)
        );
        s += &format!(
            "resident memory (VmRSS, the binary's pages included) MiB: cold {:.1}, baseline {:.1}, peak {:.1}, end {:.1}\n",
            mib(self.cold.rss_kib),
            mib(self.baseline.rss_kib),
            mib(self.peak_rss_kib),
            mib(self.end.rss_kib),
        );
        s += &format!(
            "open files: cold {}, baseline {}, peak {}, end {} (tolerance {}): {}\n",
            self.cold.fds,
            self.baseline.fds,
            self.peak_fds,
            self.end.fds,
            self.options.fd_tolerance,
            verdict(self.fds_ok)
        );
        if !self.fds_ok {
            let more: Vec<String> = self
                .end_files
                .iter()
                .filter_map(|(kind, &n)| {
                    let before = self.baseline_files.get(kind).copied().unwrap_or(0);
                    (n > before).then(|| format!("{kind} +{}", n - before))
                })
                .collect();
            s += &format!("open at the end, not at the baseline: {}\n", more.join(", "));
        }
        s += &format!(
            "convergence: {} board copies and {} replicas checked: {}\n",
            self.boards_checked,
            self.replicas_compared,
            verdict(self.converged)
        );
        s += &format!("connections: {} failed, {} ended early\n", self.connect_failures, self.closed_early);
        for (reason, count) in &self.close_reasons {
            s += &format!("  {count} x {reason}\n");
        }
        for problem in &self.problems {
            s += &format!("  problem: {problem}\n");
        }
        s += &format!("samples: {}\n", self.options.csv.display());
        s
    }
}

/// A series of sessions on a pool of boards.
#[derive(Debug, Clone)]
struct Track {
    name: &'static str,
    /// Board names start with this.
    prefix: &'static str,
    pool: Vec<String>,
    /// Sessions each board of the pool was opened by, and its generation: a board
    /// opened `reopen` times is replaced by a fresh one, so that boards stay the size
    /// of a few sessions and the load stays the same over hours.
    opened: Vec<u32>,
    generation: Vec<u32>,
    reopen: u32,
    per_session: usize,
    editors: usize,
    replicas: usize,
    edit_rate: f64,
    cursor_rate: f64,
}

/// What the tracks share.
struct Ctx {
    url: String,
    next_index: AtomicU32,
    /// Notes each board must hold: created and not deleted, over the whole soak.
    expected: Mutex<HashMap<String, BTreeSet<String>>>,
    session: Duration,
    churn_every: Duration,
    seed: u64,
    open: AtomicU64,
    totals: Mutex<Totals>,
}

#[derive(Debug, Default)]
struct Totals {
    sessions: u64,
    connections_opened: u64,
    churn_connections: u64,
    connect_failures: u64,
    closed_early: u64,
    close_reasons: BTreeMap<String, u64>,
    edits: u64,
    board_openings: u64,
    boards_checked: u64,
    replicas_compared: u64,
    problems: Vec<String>,
    diverged: bool,
}

impl Totals {
    fn problem(&mut self, problem: String) {
        self.diverged = true;
        eprintln!("soak: {problem}");
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

impl Ctx {
    fn url_of(&self, board: &str) -> String {
        self.url.replace("{board}", board)
    }

    fn index(&self) -> u32 {
        self.next_index.fetch_add(1, Ordering::Relaxed)
    }
}

/// Runs a soak against a server it starts, and reports.
pub async fn soak(options: SoakOptions) -> anyhow::Result<SoakReport> {
    anyhow::ensure!(
        options.boards_per_session >= 1 && options.boards >= options.boards_per_session,
        "--boards must be at least --boards-per-session (at least 1)"
    );
    anyhow::ensure!(options.editors >= 1 && options.workshop_editors >= 1, "every session needs at least one editor");
    anyhow::ensure!(options.workshop_boards >= 1, "--workshop-boards must be at least 1");
    let wall = Instant::now();
    let paths = ServerPaths {
        commonboard_bin: options.commonboard_bin.clone(),
        peers_dir: crate::servers::default_peers_dir(),
        y_sweet_bin: None,
    };
    let extra = vec!["--idle-unload".to_owned(), humantime::format_duration(options.idle_unload).to_string()];
    let server = RunningServer::start_with(ServerKind::Commonboard, &paths, &extra).await?;
    let pid = server.pid;
    let base = server.http_base();
    let http = reqwest::Client::new();
    let mut csv =
        std::fs::File::create(&options.csv).with_context(|| format!("cannot create {}", options.csv.display()))?;
    writeln!(csv, "elapsed_s,phase,rss_kib,anon_kib,fds,boards_loaded,connections")?;

    let ctx = Arc::new(Ctx {
        url: server.url.clone(),
        next_index: AtomicU32::new(0),
        expected: Mutex::new(HashMap::new()),
        session: options.session,
        churn_every: options.churn_every,
        seed: options.seed,
        open: AtomicU64::new(0),
        totals: Mutex::new(Totals::default()),
    });
    let tracks = [
        Track {
            name: "many-boards",
            prefix: "soak-mb",
            pool: (0..options.boards).map(|i| format!("soak-mb-{i}-0")).collect(),
            opened: vec![0; options.boards],
            generation: vec![0; options.boards],
            reopen: options.reopen,
            per_session: options.boards_per_session,
            editors: options.editors,
            replicas: 1.min(options.editors),
            edit_rate: options.edit_rate,
            cursor_rate: options.edit_rate * 2.0,
        },
        Track {
            name: "workshop",
            prefix: "soak-ws",
            pool: (0..options.workshop_boards).map(|i| format!("soak-ws-{i}-0")).collect(),
            opened: vec![0; options.workshop_boards],
            generation: vec![0; options.workshop_boards],
            reopen: options.reopen,
            per_session: 1,
            editors: options.workshop_editors,
            replicas: 2.min(options.workshop_editors),
            edit_rate: options.workshop_edit_rate,
            cursor_rate: options.workshop_edit_rate * 2.5,
        },
    ];

    let started = Instant::now();
    let sample = |phase: &'static str| {
        let (http, base, ctx) = (http.clone(), base.clone(), ctx.clone());
        async move { take_sample(pid, &http, &base, &ctx, started).await.map(|s| (phase, s)) }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, cold) = sample("cold").await?;
    write_sample(&mut csv, "cold", &cold)?;

    // Warm-up: one session of each track, then wait for the boards to unload.
    let mut rng = StdRng::seed_from_u64(options.seed);
    if options.progress {
        eprintln!("soak: server pid {pid}, warming up (one session of each track)");
    }
    let warmups: Vec<_> = tracks
        .iter()
        .map(|track| {
            let (mut track, ctx, seed) = (track.clone(), ctx.clone(), rng.random());
            tokio::spawn(async move { session(&mut track, &ctx, &mut StdRng::seed_from_u64(seed)).await })
        })
        .collect();
    for warmup in warmups {
        warmup.await.context("a warm-up session panicked")?;
    }
    let (unloaded, baseline) = settle(&options, &mut csv, "baseline", &sample).await?;
    let baseline_files = open_files(pid);
    anyhow::ensure!(unloaded, "the boards of the warm-up did not unload within {:?}", options.settle);
    if options.progress {
        eprintln!(
            "soak: baseline rss {} KiB, {} open files; load for {:?}",
            baseline.rss_kib, baseline.fds, options.duration
        );
    }

    // The load: both tracks until the deadline, sampled meanwhile.
    let deadline = tokio::time::Instant::now() + options.duration;
    let mut running = JoinSet::new();
    for track in &tracks {
        let (mut track, ctx, seed) = (track.clone(), ctx.clone(), rng.random::<u64>());
        let pause = options.idle_unload + Duration::from_secs(1);
        running.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            while tokio::time::Instant::now() < deadline {
                session(&mut track, &ctx, &mut rng).await;
                // Let the boards go idle and unload before the next session reopens them.
                tokio::time::sleep(pause.mul_f64(rng.random_range(1.0..2.0))).await;
            }
        });
    }
    let (mut peak_rss, mut peak_anon) = (baseline.rss_kib, baseline.anon_kib);
    let (mut peak_fds, mut peak_boards) = (baseline.fds, baseline.boards_loaded);
    let mut ticker = tokio::time::interval(options.sample_every);
    loop {
        tokio::select! {
            joined = running.join_next() => match joined {
                Some(result) => result.context("a track panicked")?,
                None => break,
            },
            _ = ticker.tick() => {
                let (phase, s) = sample("load").await?;
                write_sample(&mut csv, phase, &s)?;
                (peak_rss, peak_anon) = (peak_rss.max(s.rss_kib), peak_anon.max(s.anon_kib));
                (peak_fds, peak_boards) = (peak_fds.max(s.fds), peak_boards.max(s.boards_loaded));
                if options.progress {
                    let t = ctx.totals.lock().unwrap_or_else(|p| p.into_inner());
                    eprintln!(
                        "[{:>5.0}s] rss {:.1} MiB (anon {:.1})  fds {}  boards {}  conns {}  sessions {}  opened {}  edits {}{}",
                        s.elapsed_s,
                        s.rss_kib as f64 / 1024.0,
                        s.anon_kib as f64 / 1024.0,
                        s.fds,
                        s.boards_loaded,
                        s.connections,
                        t.sessions,
                        t.connections_opened,
                        t.edits,
                        if t.diverged { "  DIVERGED" } else { "" }
                    );
                }
            }
        }
    }

    let (unloaded, end) = settle(&options, &mut csv, "end", &sample).await?;
    let end_files = open_files(pid);
    let server_board_loads = board_loads(&http, &base).await;
    server.stop().await;

    let memory_allowed =
        (options.rss_tolerance_mib * 1024.0).max(baseline.anon_kib as f64 * options.rss_tolerance_percent / 100.0);
    let memory_ok = end.anon_kib as f64 <= baseline.anon_kib as f64 + memory_allowed;
    let fds_ok = end.fds <= baseline.fds + options.fd_tolerance;
    let totals = std::mem::take(&mut *ctx.totals.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(SoakReport {
        options,
        cold,
        baseline,
        peak_rss_kib: peak_rss,
        peak_anon_kib: peak_anon,
        peak_fds,
        peak_boards_loaded: peak_boards,
        end,
        unloaded,
        sessions: totals.sessions,
        connections_opened: totals.connections_opened,
        churn_connections: totals.churn_connections,
        connect_failures: totals.connect_failures,
        closed_early: totals.closed_early,
        close_reasons: totals.close_reasons,
        edits: totals.edits,
        board_openings: totals.board_openings,
        server_board_loads,
        boards_checked: totals.boards_checked,
        replicas_compared: totals.replicas_compared,
        converged: !totals.diverged,
        problems: totals.problems,
        memory_ok,
        fds_ok,
        baseline_files,
        end_files,
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

/// Waits until no board is loaded (or the settle time runs out), then samples the
/// server once a second until its memory stops falling, and returns the last sample.
async fn settle<F, Fut>(
    options: &SoakOptions,
    csv: &mut std::fs::File,
    phase: &'static str,
    sample: &F,
) -> anyhow::Result<(bool, Sample)>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(&'static str, Sample)>>,
{
    let deadline = tokio::time::Instant::now() + options.settle;
    let mut unloaded = false;
    while tokio::time::Instant::now() < deadline {
        let (_, s) = sample("settle").await?;
        write_sample(csv, "settle", &s)?;
        if s.boards_loaded == 0 {
            unloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Closing sockets and the last checkpoints finish just after the unload, and the
    // allocator gives freed pages back a second or two after that: a sample taken
    // while memory still falls would judge the moment, not the server.
    let mut last: Option<Sample> = None;
    for taken in 1..=MAX_SETTLE_SAMPLES {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, s) = sample(phase).await?;
        write_sample(csv, phase, &s)?;
        let steady = last.as_ref().is_some_and(|before| before.anon_kib <= s.anon_kib + STEADY_KIB);
        last = Some(s);
        if steady && taken >= MIN_SETTLE_SAMPLES {
            break;
        }
    }
    let last = last.expect("at least one sample");
    Ok((unloaded && last.boards_loaded == 0, last))
}

async fn take_sample(
    pid: u32,
    http: &reqwest::Client,
    base: &str,
    ctx: &Ctx,
    started: Instant,
) -> anyhow::Result<Sample> {
    let memory = crate::procstat::sample(Some(pid))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("cannot list /proc/{pid}/fd"))?
        .count() as u64;
    let health: serde_json::Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .context("GET /healthz failed")?
        .json()
        .await
        .context("/healthz answered something that is not JSON")?;
    Ok(Sample {
        elapsed_s: started.elapsed().as_secs_f64(),
        rss_kib: memory.rss_bytes / 1024,
        anon_kib: memory.rss_anon_bytes / 1024,
        fds,
        boards_loaded: health["boards_loaded"].as_u64().unwrap_or(0),
        connections: ctx.open.load(Ordering::Relaxed),
    })
}

/// The process's open files counted by kind: `socket`, `pipe`, `anon_inode:[eventpoll]`,
/// or a file's name (`commonboard.db-wal`).
fn open_files(pid: u32) -> BTreeMap<String, u64> {
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        let target = target.to_string_lossy();
        let kind = match target.split_once(":[") {
            Some((kind, _)) if !target.starts_with("anon_inode") => kind.to_owned(),
            _ if target.starts_with('/') => target.rsplit('/').next().unwrap_or_default().to_owned(),
            _ => target.into_owned(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

fn write_sample(csv: &mut std::fs::File, phase: &str, s: &Sample) -> anyhow::Result<()> {
    writeln!(
        csv,
        "{:.1},{phase},{},{},{},{},{}",
        s.elapsed_s, s.rss_kib, s.anon_kib, s.fds, s.boards_loaded, s.connections
    )?;
    Ok(())
}

/// How many times the server loaded a board, from its `/metrics`.
async fn board_loads(http: &reqwest::Client, base: &str) -> Option<u64> {
    let text = http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with("commonboard_board_load_seconds_count"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok())
        .map(|n| n as u64)
}

/// One session of a track: clients join a few boards, edit, come and go, then all
/// leave; the server's copy of each board is then checked.
async fn session(track: &mut Track, ctx: &Arc<Ctx>, rng: &mut StdRng) {
    let mut picks: Vec<usize> = (0..track.pool.len()).collect();
    for i in 0..picks.len() {
        let j = rng.random_range(i..picks.len());
        picks.swap(i, j);
    }
    picks.truncate(track.per_session);
    for &i in &picks {
        track.opened[i] += 1;
        if track.opened[i] > track.reopen.max(1) {
            (track.opened[i], track.generation[i]) = (1, track.generation[i] + 1);
            track.pool[i] = format!("{}-{i}-{}", track.prefix, track.generation[i]);
        }
    }
    let boards: Vec<String> = picks.iter().map(|&i| track.pool[i].clone()).collect();
    let shared = Arc::new(Shared {
        clock: Clock::new(),
        codec: MarkerCodec::new(rng.random()),
        recorder: Recorder::new(4),
        counters: Counters::default(),
        boards: boards.iter().map(|_| BoardState::default()).collect(),
        window_start_us: AtomicU64::new(0),
        window_end_us: AtomicU64::new(u64::MAX),
        connecting: Arc::new(Semaphore::new(32)),
        flavor: Flavor::YWebsocket,
        token: String::new(),
        error_samples: Mutex::new(Vec::new()),
        closes: Mutex::new(BTreeMap::new()),
        frames: None,
    });
    let every = |rate: f64| (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let plan = |ctx: &Ctx, board: usize, full: bool| PeerPlan {
        index: ctx.index(),
        board,
        url: ctx.url_of(&boards[board]),
        document: boards[board].clone(),
        full,
        edit_every: every(track.edit_rate),
        cursor_every: every(track.cursor_rate),
        seed: ctx.seed,
    };

    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let mut peers = JoinSet::new();
    for slot in 0..track.editors {
        for board in 0..boards.len() {
            let plan = plan(ctx, board, slot < track.replicas);
            let (shared, phase, ctx) = (shared.clone(), phase_rx.clone(), ctx.clone());
            ctx.open.fetch_add(1, Ordering::Relaxed);
            peers.spawn(async move {
                let outcome = peer::run(plan, shared, phase).await;
                ctx.open.fetch_sub(1, Ordering::Relaxed);
                outcome
            });
        }
    }
    let planned = (track.editors * boards.len()) as u64;
    let sync_deadline = Instant::now() + SYNC_PATIENCE;
    loop {
        let c = &shared.counters;
        let settled = c.synced.load(Ordering::Relaxed)
            + c.connect_failures.load(Ordering::Relaxed)
            + c.closed_early.load(Ordering::Relaxed);
        if settled >= planned || Instant::now() >= sync_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = phase_tx.send(Phase::Measure);

    // Churn: clients join a random board of the session, edit for a moment, leave.
    let mut churn = JoinSet::new();
    let end = Instant::now() + ctx.session;
    let mut churned = 0u64;
    loop {
        let wait = ctx.churn_every.mul_f64(rng.random_range(0.5..1.5));
        if Instant::now() + wait >= end {
            tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
            break;
        }
        tokio::time::sleep(wait).await;
        let plan = plan(ctx, rng.random_range(0..boards.len()), false);
        let stay = Duration::from_millis(rng.random_range(500..4000));
        let (shared, ctx) = (shared.clone(), ctx.clone());
        churned += 1;
        ctx.open.fetch_add(1, Ordering::Relaxed);
        churn.spawn(async move {
            let (leave, phase) = watch::channel(Phase::Measure);
            let client = tokio::spawn(peer::run(plan, shared, phase));
            tokio::time::sleep(stay).await;
            // Stop typing, let the last edits reach the server, then close: a client
            // that drops its socket with frames still unread resets the connection,
            // and TCP then discards what the server had not read yet.
            let _ = leave.send(Phase::Drain);
            tokio::time::sleep(CHURN_DRAIN).await;
            let _ = leave.send(Phase::Done);
            let outcome = client.await;
            ctx.open.fetch_sub(1, Ordering::Relaxed);
            outcome
        });
    }
    let mut outcomes: Vec<PeerOutcome> = Vec::new();
    while let Some(joined) = churn.join_next().await {
        if let Ok(Ok(outcome)) = joined {
            outcomes.push(outcome);
        }
    }
    // Stop editing, let the last relays arrive, then everyone leaves.
    let _ = phase_tx.send(Phase::Drain);
    let drain_end = Instant::now() + DRAIN;
    let mut delivered = shared.recorder.delivered();
    let mut quiet_since = Instant::now();
    while Instant::now() < drain_end && quiet_since.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = shared.recorder.delivered();
        if now != delivered {
            (delivered, quiet_since) = (now, Instant::now());
        }
    }
    let _ = phase_tx.send(Phase::Done);
    while let Some(joined) = peers.join_next().await {
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }

    let fetched = fetch_all(ctx, &boards).await;
    let mut totals = ctx.totals.lock().unwrap_or_else(|p| p.into_inner());
    let c = &shared.counters;
    totals.sessions += 1;
    totals.connections_opened += planned + churned;
    totals.churn_connections += churned;
    totals.connect_failures += c.connect_failures.load(Ordering::Relaxed);
    totals.closed_early += c.closed_early.load(Ordering::Relaxed);
    totals.edits += c.edits_sent.load(Ordering::Relaxed);
    totals.board_openings += boards.len() as u64;
    for (reason, count) in shared.closes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        *totals.close_reasons.entry(reason.clone()).or_default() += count;
    }
    let mut expected_all = ctx.expected.lock().unwrap_or_else(|p| p.into_inner());
    for (board, (name, server_copy)) in boards.iter().zip(fetched).enumerate() {
        let expected = expected_all.entry(name.clone()).or_default();
        for outcome in outcomes.iter().filter(|o| o.board == board) {
            expected.extend(outcome.created.iter().cloned());
        }
        for outcome in outcomes.iter().filter(|o| o.board == board) {
            for id in &outcome.deleted {
                expected.remove(id);
            }
        }
        let server_copy = match server_copy {
            Ok(state) => state,
            Err(error) => {
                totals.problem(format!("{} board {name}: cannot fetch the server's copy: {error:#}", track.name));
                continue;
            }
        };
        totals.boards_checked += 1;
        if &server_copy.notes != expected {
            let missing: Vec<&String> = expected.difference(&server_copy.notes).take(5).collect();
            let extra: Vec<&String> = server_copy.notes.difference(expected).take(5).collect();
            let closes = shared.closes.lock().unwrap_or_else(|p| p.into_inner()).clone();
            totals.problem(format!(
                "{} board {name}: the server's copy has {} notes, expected {} (missing {missing:?}, unexpected \
                 {extra:?}; this session: {} connections ended early {closes:?}, {} failed to connect)",
                track.name,
                server_copy.notes.len(),
                expected.len(),
                c.closed_early.load(Ordering::Relaxed),
                c.connect_failures.load(Ordering::Relaxed),
            ));
        }
        for outcome in outcomes.iter().filter(|o| o.board == board && o.synced) {
            let Some(replica) = &outcome.replica else { continue };
            totals.replicas_compared += 1;
            if !same(replica, &server_copy) {
                totals.problem(format!(
                    "{} board {name}: editor {}'s replica differs from the server's copy",
                    track.name, outcome.index
                ));
            }
        }
    }
}

fn same(a: &ReplicaState, b: &ReplicaState) -> bool {
    a.snapshot == b.snapshot && a.json == b.json
}

/// The server's copy of each board, fetched by a fresh client, a few at a time.
async fn fetch_all(ctx: &Arc<Ctx>, boards: &[String]) -> Vec<anyhow::Result<ReplicaState>> {
    let mut fetched: Vec<Option<anyhow::Result<ReplicaState>>> = boards.iter().map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    while next < boards.len() || !tasks.is_empty() {
        while next < boards.len() && tasks.len() < CHECK_CONCURRENCY {
            let (url, name, index) = (ctx.url_of(&boards[next]), boards[next].clone(), next);
            tasks.spawn(async move {
                (index, peer::fetch_state(&url, Flavor::YWebsocket, &name, "", FETCH_PATIENCE).await)
            });
            next += 1;
        }
        if let Some(Ok((index, state))) = tasks.join_next().await {
            fetched[index] = Some(state);
        }
    }
    fetched.into_iter().map(|f| f.unwrap_or_else(|| Err(anyhow::anyhow!("the fetch task failed")))).collect()
}
