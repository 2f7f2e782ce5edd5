//! The `compare` subcommand: one scenario against several servers, side by side.
//!
//! Each server is started fresh, runs the scenario, and is stopped before the next
//! starts, so the servers never share the machine. With `--find-max`, each server then
//! goes through a step-up search for the most editors one board sustains: every step is
//! a short bounded run on a fresh server; the editor count grows by half each step while
//! the run passes (p99 under the limit, every delivery arrived, converged, no dropped
//! connection), then a bisection between the last pass and the first failure narrows it.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::report::{bytes, cpu_us, ms, Report};
use crate::run::{self, RunOptions};
use crate::scenario::Scenario;
use crate::servers::{RunningServer, ServerKind, ServerPaths};

/// Bisection steps after the step-up search found a failure.
const REFINEMENTS: usize = 2;
/// A failed step run while other processes used more than this share of the machine
/// (percent) is run again, up to [`MAX_RETRIES`] times per search.
const DISTURBED_PERCENT: f64 = 20.0;
const MAX_RETRIES: usize = 3;
/// How long the machine is watched for being idle before a run.
const IDLE_WINDOW: Duration = Duration::from_secs(2);
/// Longest wait for an idle machine before a run.
const IDLE_PATIENCE: Duration = Duration::from_secs(300);

/// Settings of the step-up search.
#[derive(Debug, Clone, Serialize)]
pub struct FindMax {
    /// A step passes while its p99 stays under this.
    pub max_p99_ms: f64,
    /// Editors in the first step.
    pub start: usize,
    /// The search stops here even if every step passed.
    pub limit: usize,
    /// Warm-up of each step.
    #[serde(skip)]
    pub warmup: Duration,
    /// Measurement window of each step.
    #[serde(skip)]
    pub window: Duration,
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub servers: Vec<ServerKind>,
    pub paths: ServerPaths,
    pub find_max: Option<FindMax>,
    /// Skip the plain run of the scenario (only search).
    pub only_find_max: bool,
    /// Before each run, wait (up to five minutes) until the machine is this idle
    /// (0 to 1; 0: do not wait), so that other processes do not skew the figures.
    pub wait_idle: f64,
    pub progress: bool,
}

/// One step of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub editors: usize,
    pub passed: bool,
    pub p99_ms: f64,
    pub delivered_updates_per_s: f64,
    pub missing: u64,
    pub converged: bool,
    pub tool_saturated: bool,
    pub server_cpu_percent: Option<f64>,
    /// Machine CPU used by neither the server nor the tool, percent (see [`crate::report::ToolStats`]).
    pub others_percent: Option<f64>,
    /// Why the step failed, if it did not even produce a report.
    pub error: Option<String>,
}

/// The search's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct MaxEditors {
    /// The most editors a step passed with.
    pub editors: Option<usize>,
    /// The fewest editors a step failed with.
    pub first_failure: Option<usize>,
    pub steps: Vec<Step>,
}

/// One server's results.
#[derive(Debug, Clone, Serialize)]
pub struct ServerResult {
    pub server: ServerKind,
    pub report: Option<Report>,
    pub error: Option<String>,
    pub max_editors: Option<MaxEditors>,
}

/// Every server's results.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub scenario: Scenario,
    pub find_max: Option<FindMax>,
    pub results: Vec<ServerResult>,
}

/// Runs the comparison.
pub async fn compare(scenario: &Scenario, options: &CompareOptions) -> anyhow::Result<CompareReport> {
    let mut results = Vec::new();
    for &kind in &options.servers {
        if kind == ServerKind::YSweet && options.paths.y_sweet_bin.is_none() {
            eprintln!("skipping y-sweet: no --y-sweet-bin given");
            continue;
        }
        let mut result = ServerResult { server: kind, report: None, error: None, max_editors: None };
        if !options.only_find_max {
            match run_on(kind, scenario, options, kind.name()).await {
                Ok(report) => result.report = Some(report),
                Err(error) if is_interrupted(&error) => return Err(error),
                Err(error) => {
                    eprintln!("{}: {error:#}", kind.name());
                    result.error = Some(format!("{error:#}"));
                }
            }
        }
        if let Some(search) = &options.find_max {
            result.max_editors = Some(find_max(kind, scenario, search, options).await?);
        }
        results.push(result);
    }
    Ok(CompareReport { scenario: scenario.clone(), find_max: options.find_max.clone(), results })
}

/// Starts `kind`, runs `scenario` on it, stops it.
pub(crate) async fn run_on(
    kind: ServerKind,
    scenario: &Scenario,
    options: &CompareOptions,
    label: &str,
) -> anyhow::Result<Report> {
    if options.wait_idle > 0.0 {
        wait_for_idle(options.wait_idle, label).await;
    }
    let server = RunningServer::start(kind, &options.paths).await?;
    let scenario = Scenario {
        url: server.url.clone(),
        protocol: server.protocol,
        create_boards: server.creation,
        ..scenario.clone()
    };
    let run_options = RunOptions {
        server_pid: Some(server.pid),
        progress: options.progress,
        label: format!("{label} "),
        frames: None,
    };
    // Stop the server on Ctrl-C or SIGTERM too: it is this tool's child.
    let report = tokio::select! {
        report = run::run(&scenario, &run_options) => report,
        () = interrupted() => Err(anyhow::anyhow!(INTERRUPTED)),
    };
    server.stop().await;
    report
}

/// Waits (up to five minutes) until the machine is `idle` (0 to 1) idle; says so when
/// it never was.
pub(crate) async fn wait_for_idle(idle: f64, label: &str) {
    let seen = crate::procstat::wait_idle(idle, IDLE_WINDOW, IDLE_PATIENCE).await;
    if let Some(seen) = seen.filter(|seen| *seen < idle) {
        eprintln!("{label}: the machine is only {:.0}% idle; running anyway", 100.0 * seen);
    }
}

/// The error of a comparison stopped by a signal.
const INTERRUPTED: &str = "interrupted";

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

pub(crate) fn is_interrupted(error: &anyhow::Error) -> bool {
    error.to_string() == INTERRUPTED
}

async fn find_max(
    kind: ServerKind,
    scenario: &Scenario,
    search: &FindMax,
    options: &CompareOptions,
) -> anyhow::Result<MaxEditors> {
    let mut steps: Vec<Step> = Vec::new();
    let (mut best, mut failure): (Option<usize>, Option<usize>) = (None, None);
    let mut editors = search.start.max(2);
    let mut refinements = 0;
    let mut retries = 0;
    loop {
        let step_scenario =
            Scenario { boards: 1, editors, warmup: search.warmup, duration: search.window, ..scenario.clone() };
        let label = format!("{} {editors} editors", kind.name());
        let outcome = run_on(kind, &step_scenario, options, &label).await;
        if outcome.as_ref().err().is_some_and(is_interrupted) {
            return Err(outcome.expect_err("checked"));
        }
        let step = match outcome {
            Ok(report) => {
                let complete =
                    report.connections.synced == report.connections.planned && report.connections.closed_early == 0;
                Step {
                    editors,
                    passed: report.latency.count > 0
                        && report.latency.p99_ms < search.max_p99_ms
                        && report.delivery.missing == 0
                        && report.convergence.converged
                        && complete,
                    p99_ms: report.latency.p99_ms,
                    delivered_updates_per_s: report.delivery.updates_per_s,
                    missing: report.delivery.missing,
                    converged: report.convergence.converged,
                    tool_saturated: report.tool.saturated,
                    server_cpu_percent: report.server.as_ref().map(|s| s.cpu_percent),
                    others_percent: report.tool.others_percent,
                    error: None,
                }
            }
            Err(error) => Step {
                editors,
                passed: false,
                p99_ms: 0.0,
                delivered_updates_per_s: 0.0,
                missing: 0,
                converged: false,
                tool_saturated: false,
                server_cpu_percent: None,
                others_percent: None,
                error: Some(format!("{error:#}")),
            },
        };
        if options.progress {
            eprintln!(
                "{}: {} editors -> {} (p99 {}, other processes {})",
                kind.name(),
                editors,
                if step.passed { "pass" } else { "FAIL" },
                ms(step.p99_ms),
                step.others_percent.map_or("-".into(), |o| format!("{o:.0}%"))
            );
        }
        let disturbed = step.others_percent.is_some_and(|o| o > DISTURBED_PERCENT);
        if !step.passed && disturbed && retries < MAX_RETRIES {
            // Other processes took the CPU: this step says nothing about the server.
            retries += 1;
            steps.push(step);
            continue;
        }
        if step.passed {
            best = Some(best.map_or(editors, |b| b.max(editors)));
        } else {
            failure = Some(failure.map_or(editors, |f| f.min(editors)));
        }
        steps.push(step);
        editors = match (best, failure) {
            (Some(pass), None) => {
                let next = (pass * 3).div_ceil(2);
                if pass >= search.limit {
                    break;
                }
                next.min(search.limit)
            }
            (Some(pass), Some(fail)) => {
                if refinements >= REFINEMENTS || fail.saturating_sub(pass) <= (pass / 10).max(2) {
                    break;
                }
                refinements += 1;
                (pass + fail) / 2
            }
            (None, Some(_)) | (None, None) => break,
        };
    }
    Ok(MaxEditors { editors: best, first_failure: failure, steps })
}

impl CompareReport {
    /// A table, one column per server, with each value's ratio to Commonboard's.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let columns: Vec<&ServerResult> = self.results.iter().collect();
        let baseline = columns.iter().find(|r| r.server == ServerKind::Commonboard).and_then(|r| r.report.as_ref());
        type Metric = (&'static str, fn(&Report) -> Option<f64>, fn(f64) -> String);
        let metrics: [Metric; 10] = [
            ("fan-out p50", |r| Some(r.latency.p50_ms), ms),
            ("fan-out p90", |r| Some(r.latency.p90_ms), ms),
            ("fan-out p99", |r| Some(r.latency.p99_ms), ms),
            ("fan-out p99.9", |r| Some(r.latency.p999_ms), ms),
            ("fan-out max", |r| Some(r.latency.max_ms), ms),
            ("cursor p99", |r| Some(r.cursor_latency.p99_ms), ms),
            ("delivered updates/s", |r| Some(r.delivery.updates_per_s), |v| format!("{v:.0}")),
            (
                "server CPU / delivered update",
                |r| r.server.as_ref().and_then(|s| s.cpu_s_per_delivered_update),
                |v| cpu_us(Some(v)),
            ),
            ("server CPU / edit", |r| r.server.as_ref().and_then(|s| s.cpu_s_per_edit), |v| cpu_us(Some(v))),
            ("server RSS peak", |r| r.server.as_ref().map(|s| s.rss_peak_bytes as f64), bytes),
        ];
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut header = vec!["metric".to_owned()];
        header.extend(columns.iter().map(|r| r.server.name().to_owned()));
        rows.push(header);
        if columns.iter().any(|r| r.report.is_some() || r.error.is_some()) {
            for (name, value, format) in metrics {
                let mut row = vec![name.to_owned()];
                let base = baseline.and_then(value);
                for result in &columns {
                    row.push(match result.report.as_ref().and_then(value) {
                        Some(v) => match base {
                            Some(b) if b > 0.0 && result.server != ServerKind::Commonboard => {
                                format!("{} ({:.1}x)", format(v), v / b)
                            }
                            _ => format(v),
                        },
                        None => "-".into(),
                    });
                }
                rows.push(row);
            }
            let mut row = vec!["converged".to_owned()];
            for result in &columns {
                row.push(match (&result.report, &result.error) {
                    (Some(r), _) => {
                        let mut cell = if r.convergence.converged { "yes" } else { "NO" }.to_owned();
                        if r.delivery.missing > 0 {
                            cell.push_str(&format!(", {} missing", r.delivery.missing));
                        }
                        if r.tool.saturated {
                            cell.push_str(", tool saturated");
                        }
                        cell
                    }
                    (None, Some(_)) => "error".into(),
                    (None, None) => "-".into(),
                });
            }
            rows.push(row);
        }
        if let Some(search) = &self.find_max {
            let base = columns
                .iter()
                .find(|r| r.server == ServerKind::Commonboard)
                .and_then(|r| r.max_editors.as_ref())
                .and_then(|m| m.editors);
            let mut row = vec![format!("max editors (p99 < {} ms)", search.max_p99_ms)];
            for result in &columns {
                row.push(match result.max_editors.as_ref() {
                    Some(m) => {
                        let shown = match (m.editors, m.first_failure) {
                            (Some(e), Some(f)) => format!("{e} (fails at {f})"),
                            (Some(e), None) => format!(">= {e} (limit)"),
                            (None, Some(f)) => format!("< {f}"),
                            (None, None) => "-".into(),
                        };
                        match (m.editors, base) {
                            (Some(e), Some(b)) if result.server != ServerKind::Commonboard && e > 0 => {
                                format!("{shown} ({:.2}x)", e as f64 / b as f64)
                            }
                            _ => shown,
                        }
                    }
                    None => "-".into(),
                });
            }
            rows.push(row);
        }
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for (i, row) in rows.iter().enumerate() {
            let line: Vec<String> =
                row.iter().enumerate().map(|(c, cell)| format!("{cell:<w$}", w = widths[c])).collect();
            let _ = writeln!(out, "| {} |", line.join(" | "));
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                let _ = writeln!(out, "| {} |", rule.join(" | "));
            }
        }
        let _ =
            writeln!(out, "\nRatios are the server's value over Commonboard's (for latency and CPU, lower is better).");
        for result in &self.results {
            if let Some(error) = &result.error {
                let _ = writeln!(out, "{}: error: {error}", result.server.name());
            }
            if let Some(report) = &result.report {
                for problem in &report.convergence.problems {
                    let _ = writeln!(out, "{}: {problem}", result.server.name());
                }
                for warning in &report.warnings {
                    let _ = writeln!(out, "{}: warning: {warning}", result.server.name());
                }
            }
            if let Some(m) = &result.max_editors {
                let _ = writeln!(out, "\n{} step-up search:", result.server.name());
                for s in &m.steps {
                    let _ = writeln!(
                        out,
                        "  {:>5} editors  {}  p99 {:>9}  {:>8.0} updates/s  server CPU {:>4}  others {:>4}{}{}{}",
                        s.editors,
                        if s.passed { "pass" } else { "FAIL" },
                        ms(s.p99_ms),
                        s.delivered_updates_per_s,
                        s.server_cpu_percent.map_or("-".into(), |c| format!("{c:.0}%")),
                        s.others_percent.map_or("-".into(), |c| format!("{c:.0}%")),
                        if s.missing > 0 { format!("  {} missing", s.missing) } else { String::new() },
                        if s.tool_saturated { "  (tool saturated)" } else { "" },
                        s.error.as_ref().map_or(String::new(), |e| format!("  error: {e}")),
                    );
                }
            }
        }
        out
    }
}
