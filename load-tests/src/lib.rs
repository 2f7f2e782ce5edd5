//! `commonboard-load`: a load tool for Commonboard and any Yjs sync server.
//!
//! It simulates editors, each a real Yjs peer on its own WebSocket, measures how fast
//! every edit reaches every other editor, samples the server's CPU and memory, and
//! checks at the end that every replica converged. Code map:
//!
//! - [`cli`]: the command line, presets and overrides;
//! - [`scenario`]: what a run simulates, and the presets;
//! - [`run`]: one run, phase by phase, and the convergence check;
//! - [`peer`]: one simulated editor's connection task;
//! - [`edits`]: the whiteboard edit mix a peer applies to its document;
//! - [`marker`]: edit ids and send times written into edits and found in received bytes;
//! - [`wire`]: y-websocket and Hocuspocus framing;
//! - [`latency`]: sharded histograms and percentiles;
//! - [`procstat`]: CPU and memory from `/proc`;
//! - [`record`]: writing the frames of a run to files (`--record-frames`), for the fuzzers;
//! - [`report`]: the report, as a table or JSON;
//! - [`boards`]: board names, creation and URLs;
//! - [`bigboard`], [`history`]: the presets that are more than one plain run;
//! - [`replay`]: reading a long history back (the `replay` subcommand);
//! - [`servers`], [`compare`]: starting other servers and comparing them;
//! - [`sweep`]: `compare --editors 10,50,200`, the ratio table across editor counts
//!   with the kernel's floor ([`floor`]);
//! - [`soak`]: a long churning load with a memory, open-files and convergence check.
//!
//! Invariant: the tool sends traffic only to loopback addresses
//! ([`boards::check_loopback`]), and every loop is bounded in count and time.

pub mod bigboard;
pub mod boards;
pub mod cli;
pub mod compare;
pub mod edits;
pub mod floor;
pub mod history;
pub mod latency;
pub mod marker;
pub mod peer;
pub mod procstat;
pub mod record;
pub mod replay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod servers;
pub mod soak;
pub mod sweep;
pub mod wire;

use std::time::Duration;

use cli::{Cli, Command, CompareArgs, ReplayArgs, RunArgs, SoakArgs};
use scenario::Preset;

/// Runs what the command line asks; returns whether it succeeded (converged, or the
/// replay's checks passed).
pub async fn execute(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Some(Command::Setup(args)) => {
            let dir = args.peers_dir.unwrap_or_else(servers::default_peers_dir);
            servers::setup(&dir).await?;
            eprintln!("installed the Node servers in {}", dir.display());
            Ok(true)
        }
        Some(Command::Compare(args)) => compare(args).await,
        Some(Command::Run(args)) => run_preset(args).await,
        Some(Command::Replay(args)) => replay(args).await,
        Some(Command::Soak(args)) => soak(args).await,
        Some(Command::Floor(args)) => {
            let config = floor::FloorConfig {
                connections: args.connections,
                frame_bytes: args.frame_bytes,
                rate: args.rate,
                duration: args.duration,
            };
            let report = floor::measure(config).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "floor: {} connections, {}-byte messages, {} updates: {:.2} us of writer CPU per delivery ({} deliveries, {:.3} s)",
                    report.connections, report.frame_bytes, report.updates, report.cpu_us_per_delivery,
                    report.deliveries, report.writer_cpu_s
                );
            }
            Ok(true)
        }
        None => run_preset(cli.run).await,
    }
}

async fn run_preset(args: RunArgs) -> anyhow::Result<bool> {
    args.scenario.one_editor_count()?;
    let scenario = args.scenario.apply(args.preset);
    let frames = match &args.record_frames {
        Some(dir) => Some(std::sync::Arc::new(record::FrameRecorder::create(dir, args.record_limit)?)),
        None => None,
    };
    let options = run::RunOptions {
        server_pid: args.server_pid,
        progress: !args.output.quiet,
        label: String::new(),
        frames: frames.clone(),
    };
    let succeeded = run_scenario(&args, &scenario, &options).await;
    if let Some(frames) = frames {
        let (written, failed) = frames.written();
        eprintln!("recorded {written} frames in {} ({failed} could not be written)", frames.dir().display());
    }
    succeeded
}

async fn run_scenario(
    args: &RunArgs,
    scenario: &scenario::Scenario,
    options: &run::RunOptions,
) -> anyhow::Result<bool> {
    let json = args.output.json;
    match args.preset {
        Preset::History => {
            let report = history::build(scenario, options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eprint!("{}", report.render());
                println!("{}", report.board);
            }
            Ok(report.complete)
        }
        Preset::BigBoard => {
            let report = bigboard::run(scenario, options).await?;
            print(json, &report, || report.render())?;
            Ok(report.converged())
        }
        _ => {
            let report = run::run(scenario, options).await?;
            print(json, &report, || report.render())?;
            Ok(report.convergence.converged)
        }
    }
}

async fn compare(args: CompareArgs) -> anyhow::Result<bool> {
    let scenario = args.scenario.apply(args.preset);
    anyhow::ensure!(
        !matches!(args.preset, Preset::History | Preset::BigBoard),
        "compare runs the workshop, townhall and many-boards presets"
    );
    let step = args.step_duration;
    let warmup = (step / 4).min(Duration::from_secs(5));
    let options = compare::CompareOptions {
        servers: args.servers,
        paths: servers::ServerPaths {
            commonboard_bin: args.commonboard_bin,
            peers_dir: args.peers_dir.unwrap_or_else(servers::default_peers_dir),
            y_sweet_bin: args.y_sweet_bin,
        },
        find_max: args.find_max.then(|| compare::FindMax {
            max_p99_ms: args.max_p99_ms,
            start: args.start_editors,
            limit: args.max_editors,
            warmup,
            window: step.saturating_sub(warmup).max(Duration::from_secs(1)),
        }),
        only_find_max: args.only_find_max,
        wait_idle: (args.wait_idle / 100.0).clamp(0.0, 1.0),
        progress: !args.output.quiet,
    };
    if args.scenario.editors.len() > 1 {
        anyhow::ensure!(!args.find_max, "--find-max searches from --start-editors: give one --editors count with it");
        let report = sweep::sweep(&scenario, &args.scenario.editors, &options).await?;
        print(args.output.json, &report, || report.render())?;
        return Ok(report.rows.iter().flat_map(|r| &r.cells).all(|c| c.error.is_some() || c.converged));
    }
    let report = compare::compare(&scenario, &options).await?;
    print(args.output.json, &report, || report.render())?;
    Ok(report.results.iter().all(|r| r.report.as_ref().is_none_or(|r| r.convergence.converged)))
}

async fn replay(args: ReplayArgs) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let options = replay::ReplayOptions {
        samples: args.samples,
        history_samples: args.history_samples,
        page_size: args.page_size,
        seed,
        data_dir: args.data_dir,
        server_pid: args.server_pid,
        progress: !args.output.quiet,
    };
    let report = match (args.server, args.board) {
        (Some(server), Some(board)) => {
            let target = replay::Target { base: boards::http_base(&server)?, board, token: args.token };
            replay::measure_board(&target, &options).await?
        }
        _ => {
            let one = replay::OneShot {
                updates: args.updates,
                checkpoint_every: args.checkpoint_every,
                commonboard_bin: args.commonboard_bin,
                build_timeout: args.build_timeout,
            };
            replay::run_one_shot(&one, &options).await?
        }
    };
    print(args.output.json, &report, || report.render())?;
    Ok(report.checks.passed)
}

async fn soak(args: SoakArgs) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let options = soak::SoakOptions {
        duration: args.duration,
        commonboard_bin: args.commonboard_bin,
        idle_unload: args.idle_unload,
        boards: args.boards,
        boards_per_session: args.boards_per_session,
        editors: args.editors,
        edit_rate: args.edit_rate,
        workshop_editors: args.workshop_editors,
        workshop_edit_rate: args.workshop_edit_rate,
        workshop_boards: args.workshop_boards,
        session: args.session,
        reopen: args.reopen,
        churn_every: args.churn_every,
        sample_every: args.sample_every,
        csv: args.csv,
        settle: args.settle,
        rss_tolerance_mib: args.rss_tolerance_mib,
        rss_tolerance_percent: args.rss_tolerance_percent,
        fd_tolerance: args.fd_tolerance,
        seed,
        progress: !args.output.quiet,
    };
    let report = soak::soak(options).await?;
    print(args.output.json, &report, || report.render())?;
    Ok(report.passed())
}

fn print<T: serde::Serialize>(json: bool, value: &T, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", table());
    }
    Ok(())
}
