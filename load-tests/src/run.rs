//! One run of a scenario, from opening connections to checking convergence.
//!
//! The coordinator moves the run through its [`Phase`]s: open and sync every connection
//! (a few dozen at a time), warm up, measure for the window while sampling the server's
//! CPU and memory, stop editing and drain what is still in flight. A fresh replica per
//! board then fetches the server's copy (while the editors are still connected, as
//! servers without persistence drop a board with its last connection), the peers
//! report and close, and every replica of each board is compared with the server's copy
//! and with the notes the editors created and did not delete.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::boards::{self, BoardTarget};
use crate::latency::{Percentiles, Recorder};
use crate::marker::{Clock, MarkerCodec};
use crate::peer::{self, BoardState, Counters, PeerOutcome, PeerPlan, Phase, ReplicaState, Shared};
use crate::procstat::{self, ProcSample};
use crate::record::FrameRecorder;
use crate::report::{
    ConnectionStats, Convergence, DeliveryStats, EditStats, ErrorStats, Report, ServerStats, ToolStats,
};
use crate::scenario::Scenario;

/// Name prefix of the tool's runtime threads; their CPU use is checked for saturation.
pub const WORKER_THREAD_NAME: &str = "load-worker";
/// A runtime thread busier than this (fraction of a core) saturates the tool.
const SATURATED: f64 = 0.9;
/// A machine busier than this (fraction of every CPU) makes latencies include CPU waits.
const MACHINE_SATURATED: f64 = 0.95;
/// Boards whose server copy is fetched at once during the convergence check.
const CHECK_CONCURRENCY: usize = 32;
/// Latency-recorder shards.
const SHARDS: usize = 16;
/// How long the fresh replica of a board may take to sync.
const FETCH_PATIENCE: Duration = Duration::from_secs(60);

/// How to run, beyond the scenario itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The server's process id, for CPU and memory figures.
    pub server_pid: Option<u32>,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Prefix of progress lines (which server, which step).
    pub label: String,
    /// Where the peers' frames are recorded (`--record-frames`), if anywhere.
    pub frames: Option<Arc<FrameRecorder>>,
}

/// Runs `scenario` once and reports.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<Report> {
    scenario.validate()?;
    let wall = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let run_id: u32 = rand::random();
    let mut warnings = Vec::new();
    if let Some(pid) = options.server_pid {
        anyhow::ensure!(procstat::exists(pid), "no process with pid {pid}");
        if pid == std::process::id() {
            warnings.push("the server runs inside the load tool: its CPU figures include the tool's".into());
        }
        if let Some(limit) = procstat::open_files_limit(pid) {
            if (limit as usize) < scenario.connections() + 64 {
                warnings.push(format!(
                    "the server may open only {limit} files, fewer than the {} connections planned",
                    scenario.connections()
                ));
            }
        }
    }

    // Several URLs are the nodes of one deployment: boards are made through the first,
    // connections spread over all of them.
    let nodes: Vec<&str> = scenario.url.split(',').map(str::trim).collect();
    let targets =
        boards::prepare(nodes[0], &scenario.board_prefix, run_id, scenario.boards, scenario.create_boards).await?;
    let prefilled = prefill(scenario, &targets).await?;

    let shared = Arc::new(Shared {
        clock: Clock::new(),
        codec: MarkerCodec::new(run_id),
        recorder: Recorder::new(SHARDS),
        counters: Counters::default(),
        boards: targets.iter().map(|_| BoardState::default()).collect(),
        window_start_us: AtomicU64::new(u64::MAX),
        window_end_us: AtomicU64::new(u64::MAX),
        connecting: Arc::new(Semaphore::new(scenario.connect_concurrency.max(1))),
        flavor: scenario.protocol,
        token: scenario.token.clone(),
        error_samples: Mutex::new(Vec::new()),
        closes: Mutex::new(Default::default()),
        frames: options.frames.clone(),
    });
    let server = options.server_pid;
    let baseline = server.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let peak_rss = Arc::new(AtomicU64::new(baseline.map_or(0, |b| b.rss_bytes)));
    let progress = tokio::spawn(progress_loop(
        shared.clone(),
        phase_rx.clone(),
        scenario.connections() as u64,
        options.clone(),
        peak_rss.clone(),
    ));

    // Open every connection.
    let connect_started = Instant::now();
    let mut peers = JoinSet::new();
    for plan in plans(scenario, &targets, &nodes) {
        peers.spawn(peer::run(plan, shared.clone(), phase_rx.clone()));
    }
    let planned = scenario.connections() as u64;
    let connect_deadline = Instant::now() + scenario.connect_timeout;
    loop {
        let c = &shared.counters;
        let settled = c.synced.load(Ordering::Relaxed)
            + c.connect_failures.load(Ordering::Relaxed)
            + c.closed_early.load(Ordering::Relaxed);
        if settled >= planned {
            break;
        }
        if Instant::now() >= connect_deadline {
            warnings.push(format!(
                "only {} of {planned} connections synced within {:?}",
                c.synced.load(Ordering::Relaxed),
                scenario.connect_timeout
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = connect_started.elapsed().as_secs_f64();
    anyhow::ensure!(
        shared.counters.synced.load(Ordering::Relaxed) > 0,
        "no connection could sync with {}: {}",
        scenario.url,
        shared.error_samples.lock().unwrap_or_else(|p| p.into_inner()).first().cloned().unwrap_or_default()
    );
    let connected = server.map(|pid| procstat::sample(Some(pid))).transpose()?;

    // Warm up, then measure.
    let _ = phase_tx.send(Phase::Warmup);
    tokio::time::sleep(scenario.warmup).await;
    let server_start = server.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let tool_start = procstat::sample(None)?;
    let threads_start = procstat::thread_cpu(WORKER_THREAD_NAME);
    let machine_start = procstat::machine();
    let window_started = Instant::now();
    shared.window_start_us.store(shared.clock.now_us(), Ordering::Relaxed);
    let _ = phase_tx.send(Phase::Measure);
    tokio::time::sleep(scenario.duration).await;
    shared.window_end_us.store(shared.clock.now_us(), Ordering::Relaxed);
    let _ = phase_tx.send(Phase::Drain);
    let window_s = window_started.elapsed().as_secs_f64();
    let server_end = server.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let tool_end = procstat::sample(None)?;
    let threads_end = procstat::thread_cpu(WORKER_THREAD_NAME);
    let machine_busy = match (machine_start, procstat::machine()) {
        (Some(a), Some(b)) => procstat::machine_busy(a, b),
        _ => None,
    };

    // Drain: wait for every edit to reach every other editor, or for the drain to run out.
    let drain_deadline = Instant::now() + scenario.drain;
    let expected = |shared: &Shared| -> u64 {
        shared
            .boards
            .iter()
            .map(|b| {
                let alive = u64::from(b.alive.load(Ordering::Relaxed));
                b.sent.load(Ordering::Relaxed) * alive.saturating_sub(1)
            })
            .sum()
    };
    while shared.recorder.delivered() < expected(&shared) && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected_deliveries = expected(&shared);
    // The server's copy of each board, fetched while the editors are still connected:
    // servers without persistence drop a board when its last connection closes.
    let fetched = fetch_all(scenario, &targets).await;
    let _ = phase_tx.send(Phase::Done);
    let mut outcomes = Vec::with_capacity(planned as usize);
    while let Some(joined) = peers.join_next().await {
        outcomes.push(joined.context("a peer task panicked")?);
    }
    progress.abort();

    let convergence = verify(&targets, &prefilled, &outcomes, fetched);
    if !convergence.converged {
        warnings.push("replicas did not converge (see convergence problems)".into());
    }

    // Figures.
    let totals = shared.recorder.totals();
    let c = &shared.counters;
    let measured = c.edits_measured.load(Ordering::Relaxed);
    let synced = c.synced.load(Ordering::Relaxed);
    let server_stats = match (server, baseline, connected, server_start, server_end) {
        (Some(pid), Some(base), Some(conn), Some(start), Some(end)) => {
            let cpu_s = (end.cpu_s - start.cpu_s).max(0.0);
            let per = |n: u64| (n > 0).then(|| cpu_s / n as f64);
            let peak = peak_rss.load(Ordering::Relaxed).max(end.rss_bytes).max(conn.rss_bytes);
            Some(ServerStats {
                pid,
                cpu_s,
                cpu_percent: 100.0 * cpu_s / window_s,
                cpu_s_per_delivered_update: per(totals.delivered_measured),
                cpu_s_per_edit: per(measured),
                rss_baseline_bytes: base.rss_bytes,
                rss_connected_bytes: conn.rss_bytes,
                rss_peak_bytes: peak,
                rss_bytes_per_connection: (synced > 0)
                    .then(|| (conn.rss_bytes as f64 - base.rss_bytes as f64) / synced as f64),
                open_files_limit: procstat::open_files_limit(pid),
            })
        }
        _ => None,
    };
    let mut tool = tool_stats(tool_start, tool_end, &threads_start, &threads_end, window_s);
    tool.machine_busy_percent = machine_busy.map(|b| 100.0 * b);
    tool.others_percent = match (machine_busy, &server_stats) {
        (Some(busy), Some(server)) if server.pid != std::process::id() => {
            let cpus = tool.machine_cpus as f64;
            Some(((busy * cpus * 100.0 - server.cpu_percent - tool.cpu_percent) / cpus).max(0.0))
        }
        _ => None,
    };
    if machine_busy.is_some_and(|b| b > MACHINE_SATURATED) {
        warnings.push(format!(
            "the machine's CPUs were {:.0}% busy during the window: latencies include waiting for a CPU (the server and the tool share the machine)",
            100.0 * machine_busy.unwrap_or_default()
        ));
    }
    if tool.saturated {
        warnings.push(format!(
            "the load tool itself was saturated (a runtime thread {:.0}% busy): latencies include its own queueing; use fewer editors per run or more --threads",
            tool.busiest_thread_percent
        ));
    }
    let missing = expected_deliveries.saturating_sub(totals.delivered);
    if missing > 0 {
        warnings.push(format!("{missing} deliveries missing after a drain of {:?}", scenario.drain));
    }
    let close_reasons = shared.closes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let errors = ErrorStats {
        count: c.errors.load(Ordering::Relaxed),
        samples: shared.error_samples.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    };
    Ok(Report {
        scenario: scenario.clone(),
        run_id: format!("{run_id:08x}"),
        started_at,
        connections: ConnectionStats {
            planned,
            connected: c.connected.load(Ordering::Relaxed),
            synced,
            failed: c.connect_failures.load(Ordering::Relaxed),
            closed_early: c.closed_early.load(Ordering::Relaxed),
            close_reasons,
            connect_s,
        },
        edits: EditStats {
            sent: c.edits_sent.load(Ordering::Relaxed),
            measured,
            per_s: measured as f64 / window_s,
            cursor_moves_sent: c.cursors_sent.load(Ordering::Relaxed),
        },
        latency: Percentiles::of(&totals.edits),
        cursor_latency: Percentiles::of(&totals.cursors),
        delivery: DeliveryStats {
            delivered: totals.delivered,
            expected: expected_deliveries,
            missing,
            delivered_measured: totals.delivered_measured,
            updates_per_s: totals.delivered_measured as f64 / window_s,
            cursor_moves_delivered: totals.cursors_delivered,
            frames_received: totals.frames,
            bytes_received: totals.bytes,
        },
        errors,
        convergence,
        server: server_stats,
        tool,
        window_s,
        wall_s: wall.elapsed().as_secs_f64(),
        warnings,
    })
}

/// One plan per connection: editors spread over boards (and over the nodes, round-robin,
/// when `--url` names several), the first `replicas` of each board keeping a full replica.
fn plans(scenario: &Scenario, targets: &[BoardTarget], nodes: &[&str]) -> Vec<PeerPlan> {
    let every = |rate: f64| (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let mut plans = Vec::with_capacity(scenario.connections());
    // Board-major order would open one board at a time; interleave instead, so every
    // board fills up at the same pace.
    for slot in 0..scenario.editors {
        for (board, target) in targets.iter().enumerate() {
            plans.push(PeerPlan {
                index: (board * scenario.editors + slot) as u32,
                board,
                url: on_node(&target.url, nodes, slot),
                document: target.name.clone(),
                full: slot < scenario.replicas,
                edit_every: every(scenario.edit_rate),
                cursor_every: every(scenario.cursor_rate),
                seed: scenario.seed,
            });
        }
    }
    plans
}

/// A board's URL (made on the first node) on node `slot % nodes.len()`: the same path
/// and token on that node's host and port.
fn on_node(url: &str, nodes: &[&str], slot: usize) -> String {
    let origin = |url: &str| -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        format!("{scheme}://{}", rest.split(['/', '?']).next().unwrap_or(rest))
    };
    match nodes {
        [] | [_] => url.to_owned(),
        [first, ..] => url.replacen(&origin(first), &origin(nodes[slot % nodes.len()]), 1),
    }
}

/// Fills each board with `scenario.prefill_bytes` of notes; returns their ids per board.
async fn prefill(scenario: &Scenario, targets: &[BoardTarget]) -> anyhow::Result<Vec<Vec<String>>> {
    if scenario.prefill_bytes == 0 {
        return Ok(vec![Vec::new(); targets.len()]);
    }
    let mut ids = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        let (updates, notes) = crate::edits::prefill(scenario.prefill_bytes, scenario.seed ^ i as u64);
        peer::push_updates(&target.url, scenario.protocol, &target.name, &scenario.token, &updates, FETCH_PATIENCE)
            .await
            .with_context(|| format!("cannot pre-fill board {}", target.name))?;
        ids.push(notes);
    }
    Ok(ids)
}

/// The server's copy of every board, fetched by a fresh replica, a few boards at a time.
async fn fetch_all(scenario: &Scenario, targets: &[BoardTarget]) -> Vec<Option<anyhow::Result<ReplicaState>>> {
    let mut fetched: Vec<Option<anyhow::Result<ReplicaState>>> = (0..targets.len()).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    while next < targets.len() || !tasks.is_empty() {
        while next < targets.len() && tasks.len() < CHECK_CONCURRENCY {
            let target = targets[next].clone();
            let (flavor, token) = (scenario.protocol, scenario.token.clone());
            let board = next;
            tasks.spawn(async move {
                let state = peer::fetch_state(&target.url, flavor, &target.name, &token, FETCH_PATIENCE).await;
                (board, state)
            });
            next += 1;
        }
        if let Some(Ok((board, state))) = tasks.join_next().await {
            fetched[board] = Some(state);
        }
    }
    fetched
}

/// Compares, per board, every full replica with the server's copy and the expected notes.
fn verify(
    targets: &[BoardTarget],
    prefilled: &[Vec<String>],
    outcomes: &[PeerOutcome],
    mut fetched: Vec<Option<anyhow::Result<ReplicaState>>>,
) -> Convergence {
    const MAX_PROBLEMS: usize = 20;
    let mut problems = Vec::new();
    let note = |problems: &mut Vec<String>, p: String| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(p);
        }
    };

    let mut converged = true;
    let mut identical = true;
    let mut replicas_compared = 0u64;
    let mut notes_expected = 0u64;
    for (board, target) in targets.iter().enumerate() {
        let on_board = || outcomes.iter().filter(move |o| o.board == board);
        let mut expected: BTreeSet<String> = prefilled[board].iter().cloned().collect();
        for outcome in on_board() {
            expected.extend(outcome.created.iter().cloned());
        }
        for outcome in on_board() {
            for id in &outcome.deleted {
                expected.remove(id);
            }
        }
        notes_expected += expected.len() as u64;
        let reference = match fetched[board].take() {
            Some(Ok(state)) => state,
            Some(Err(error)) => {
                converged = false;
                note(&mut problems, format!("board {}: cannot fetch the server's copy: {error:#}", target.name));
                continue;
            }
            None => {
                converged = false;
                note(&mut problems, format!("board {}: check task failed", target.name));
                continue;
            }
        };
        replicas_compared += 1;
        if reference.notes != expected {
            converged = false;
            let missing = expected.difference(&reference.notes).count();
            let extra = reference.notes.difference(&expected).count();
            note(
                &mut problems,
                format!(
                    "board {}: the server's copy has {} notes, expected {} ({missing} missing, {extra} unexpected)",
                    target.name,
                    reference.notes.len(),
                    expected.len()
                ),
            );
        }
        for outcome in on_board().filter(|o| o.synced) {
            let Some(replica) = &outcome.replica else {
                continue;
            };
            replicas_compared += 1;
            if replica.snapshot != reference.snapshot || replica.json != reference.json {
                converged = false;
                note(
                    &mut problems,
                    format!(
                        "board {}: editor {}'s replica differs from the server's copy ({})",
                        target.name,
                        outcome.index,
                        if replica.snapshot.state_map != reference.snapshot.state_map {
                            "state vectors differ"
                        } else if replica.snapshot.delete_set != reference.snapshot.delete_set {
                            "delete sets differ"
                        } else {
                            "contents differ"
                        }
                    ),
                );
            } else if replica.encoded != reference.encoded {
                identical = false;
            }
        }
    }
    Convergence {
        converged,
        boards_checked: targets.len() as u64,
        replicas_compared,
        notes_expected,
        identical_encodings: identical && converged,
        problems,
    }
}

fn tool_stats(
    start: ProcSample,
    end: ProcSample,
    threads_start: &[(u32, f64)],
    threads_end: &[(u32, f64)],
    window_s: f64,
) -> ToolStats {
    let busiest = threads_end
        .iter()
        .map(|(tid, cpu)| {
            let before = threads_start.iter().find(|(t, _)| t == tid).map_or(0.0, |(_, c)| *c);
            (cpu - before) / window_s
        })
        .fold(0.0, f64::max);
    let cpu_s = (end.cpu_s - start.cpu_s).max(0.0);
    ToolStats {
        threads: threads_end.len(),
        cpu_s,
        cpu_percent: 100.0 * cpu_s / window_s,
        busiest_thread_percent: 100.0 * busiest,
        saturated: busiest > SATURATED,
        machine_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        machine_busy_percent: None,
        others_percent: None,
    }
}

/// Prints a progress line every second and samples the server's memory.
async fn progress_loop(
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
    planned: u64,
    options: RunOptions,
    peak_rss: Arc<AtomicU64>,
) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last_delivered = 0;
    loop {
        ticker.tick().await;
        if let Some(pid) = options.server_pid {
            if let Ok(sample) = procstat::sample(Some(pid)) {
                peak_rss.fetch_max(sample.rss_bytes, Ordering::Relaxed);
            }
        }
        let (window, delivered) = shared.recorder.take_window();
        if !options.progress {
            continue;
        }
        let c = &shared.counters;
        let p99 = if window.is_empty() {
            "-".to_owned()
        } else {
            crate::report::ms(window.value_at_quantile(0.99) as f64 / 1000.0)
        };
        eprintln!(
            "{}[{:>5.0}s] {:<7} conns {}/{}  edits {}  delivered {} ({}/s)  p99 {}",
            options.label,
            started.elapsed().as_secs_f64(),
            format!("{:?}", *phase.borrow()).to_lowercase(),
            c.open.load(Ordering::Relaxed),
            planned,
            c.edits_sent.load(Ordering::Relaxed),
            delivered,
            delivered - last_delivered.min(delivered),
            p99
        );
        last_delivered = delivered;
    }
}
