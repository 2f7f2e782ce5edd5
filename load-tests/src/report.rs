//! What a run found: the [`Report`] and its renderings (a table for people, JSON for
//! machines).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::latency::Percentiles;
use crate::scenario::Scenario;

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    /// Random id of the run; it names the boards and tags the markers.
    pub run_id: String,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    pub connections: ConnectionStats,
    pub edits: EditStats,
    /// Fan-out latency of every (edit, receiver) pair of the measurement window.
    pub latency: Percentiles,
    /// Latency of cursor moves (awareness) over the same window.
    pub cursor_latency: Percentiles,
    pub delivery: DeliveryStats,
    pub errors: ErrorStats,
    pub convergence: Convergence,
    /// The server process, when its pid was given.
    pub server: Option<ServerStats>,
    pub tool: ToolStats,
    /// Length of the measurement window, seconds.
    pub window_s: f64,
    /// Length of the whole run, seconds.
    pub wall_s: f64,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStats {
    /// Connections the scenario asked for.
    pub planned: u64,
    pub connected: u64,
    /// Connections that finished the initial sync.
    pub synced: u64,
    pub failed: u64,
    /// Connections that ended before the run did.
    pub closed_early: u64,
    /// Why connections ended early, with counts.
    pub close_reasons: BTreeMap<String, u64>,
    /// Time to open and sync every connection, seconds.
    pub connect_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EditStats {
    /// Edits sent in every phase.
    pub sent: u64,
    /// Edits sent during the measurement window.
    pub measured: u64,
    /// Measured edits per second.
    pub per_s: f64,
    pub cursor_moves_sent: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryStats {
    /// Edits received by other editors, every phase (one per edit and receiver).
    pub delivered: u64,
    /// What `delivered` should be: each edit reaching every other connected editor.
    pub expected: u64,
    /// `expected - delivered`: lost, or still in flight when the drain gave up.
    pub missing: u64,
    /// Deliveries of edits sent during the measurement window.
    pub delivered_measured: u64,
    /// `delivered_measured` per second of the window.
    pub updates_per_s: f64,
    pub cursor_moves_delivered: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorStats {
    pub count: u64,
    /// The first few messages.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Convergence {
    /// Whether every board's replicas and the server's copy agree and hold exactly the
    /// notes created and not deleted.
    pub converged: bool,
    pub boards_checked: u64,
    /// Full replicas compared (the editors' and one fresh replica per board).
    pub replicas_compared: u64,
    /// Notes every board should hold, summed.
    pub notes_expected: u64,
    /// Whether the replicas' encoded states were also byte-identical.
    pub identical_encodings: bool,
    /// What disagreed (the first few).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerStats {
    pub pid: u32,
    /// CPU time used during the measurement window, seconds.
    pub cpu_s: f64,
    /// Of one core, during the window.
    pub cpu_percent: f64,
    pub cpu_s_per_delivered_update: Option<f64>,
    pub cpu_s_per_edit: Option<f64>,
    pub rss_baseline_bytes: u64,
    pub rss_connected_bytes: u64,
    pub rss_peak_bytes: u64,
    /// RSS growth from before connecting to everyone connected, per connection.
    pub rss_bytes_per_connection: Option<f64>,
    /// The server's soft limit on open files.
    pub open_files_limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolStats {
    /// Runtime worker threads found.
    pub threads: usize,
    /// The tool's CPU time during the window, seconds.
    pub cpu_s: f64,
    /// Of one core, during the window.
    pub cpu_percent: f64,
    /// The busiest runtime thread, percent of a core.
    pub busiest_thread_percent: f64,
    /// Whether a runtime thread was over 90% busy: then latencies include the tool's
    /// own queueing and are not the server's alone.
    pub saturated: bool,
    /// CPUs of the machine.
    pub machine_cpus: usize,
    /// How busy the whole machine was during the window (every process), percent.
    pub machine_busy_percent: Option<f64>,
    /// Of the machine's CPUs, percent used by neither the server nor the tool (other
    /// processes, the kernel's network work): high values make a run unreliable.
    pub others_percent: Option<f64>,
}

/// Formats a byte count for people.
pub fn bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut value = n;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// Formats a latency in milliseconds for people.
pub fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// Formats seconds of CPU per unit as microseconds.
pub fn cpu_us(value: Option<f64>) -> String {
    value.map_or("-".into(), |s| format!("{:.1} µs", s * 1e6))
}

/// Two-column table rows.
pub struct Table {
    rows: Vec<(String, String)>,
}

impl Table {
    pub fn new() -> Self {
        Table { rows: Vec::new() }
    }

    pub fn row(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.rows.push((label.into(), value.into()));
    }

    pub fn section(&mut self, title: &str) {
        self.rows.push((String::new(), String::new()));
        self.rows.push((format!("{title}:"), String::new()));
    }

    pub fn render(&self) -> String {
        let width = self.rows.iter().filter(|(_, v)| !v.is_empty()).map(|(l, _)| l.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.rows {
            if value.is_empty() {
                let _ = writeln!(out, "{label}");
            } else {
                let _ = writeln!(out, "  {label:<width$}  {value}");
            }
        }
        out
    }
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Report {
    /// The human table.
    pub fn render(&self) -> String {
        let s = &self.scenario;
        let mut t = Table::new();
        t.row(
            "scenario",
            format!(
                "{} ({:?}): {} board(s) x {} editors, {}/s edits, {}/s cursor moves each",
                serde_json::to_value(s.preset).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                s.protocol,
                s.boards,
                s.editors,
                s.edit_rate,
                s.cursor_rate
            ),
        );
        t.row("url", s.url.clone());
        t.row(
            "timing",
            format!(
                "warm-up {:.0} s, window {:.1} s, whole run {:.1} s",
                s.warmup.as_secs_f64(),
                self.window_s,
                self.wall_s
            ),
        );
        t.row("run", format!("{} at {}", self.run_id, self.started_at));

        let c = &self.connections;
        t.section("connections");
        t.row("synced / planned", format!("{} / {} (in {:.1} s)", c.synced, c.planned, c.connect_s));
        t.row("failed to connect", c.failed.to_string());
        t.row("ended early", c.closed_early.to_string());
        for (reason, count) in &c.close_reasons {
            t.row(format!("  {reason}"), count.to_string());
        }

        let l = &self.latency;
        t.section("fan-out latency (edit sent -> received by another editor)");
        t.row("samples", l.count.to_string());
        t.row("p50", ms(l.p50_ms));
        t.row("p90", ms(l.p90_ms));
        t.row("p99", ms(l.p99_ms));
        t.row("p99.9", ms(l.p999_ms));
        t.row("max", ms(l.max_ms));
        let cl = &self.cursor_latency;
        t.row("cursor p50 / p99 / max", format!("{} / {} / {}", ms(cl.p50_ms), ms(cl.p99_ms), ms(cl.max_ms)));

        let d = &self.delivery;
        t.section("throughput");
        t.row(
            "edits sent",
            format!("{} ({} in window, {:.1}/s)", self.edits.sent, self.edits.measured, self.edits.per_s),
        );
        t.row("delivered updates/s", format!("{:.0}", d.updates_per_s));
        t.row("delivered / expected", format!("{} / {} (missing {})", d.delivered, d.expected, d.missing));
        t.row(
            "cursor moves sent / delivered",
            format!("{} / {}", self.edits.cursor_moves_sent, d.cursor_moves_delivered),
        );
        t.row("frames / bytes received", format!("{} / {}", d.frames_received, bytes(d.bytes_received as f64)));
        t.row("errors", self.errors.count.to_string());
        for sample in &self.errors.samples {
            t.row("  e.g.", sample.clone());
        }

        let v = &self.convergence;
        t.section("convergence");
        t.row(
            "converged",
            format!(
                "{} ({} boards, {} replicas, {} notes expected{})",
                if v.converged { "yes" } else { "NO" },
                v.boards_checked,
                v.replicas_compared,
                v.notes_expected,
                if v.identical_encodings { ", byte-identical encodings" } else { "" }
            ),
        );
        for problem in &v.problems {
            t.row("  problem", problem.clone());
        }

        if let Some(server) = &self.server {
            t.section(&format!("server (pid {})", server.pid));
            t.row("CPU in window", format!("{:.2} s ({:.0}% of a core)", server.cpu_s, server.cpu_percent));
            t.row("CPU per delivered update", cpu_us(server.cpu_s_per_delivered_update));
            t.row("CPU per edit", cpu_us(server.cpu_s_per_edit));
            t.row(
                "RSS before / connected / peak",
                format!(
                    "{} / {} / {}",
                    bytes(server.rss_baseline_bytes as f64),
                    bytes(server.rss_connected_bytes as f64),
                    bytes(server.rss_peak_bytes as f64)
                ),
            );
            t.row("RSS per connection", server.rss_bytes_per_connection.map_or("-".into(), bytes));
        }
        t.section("load tool");
        t.row(
            "CPU in window",
            format!(
                "{:.2} s ({:.0}% of a core, busiest of {} threads {:.0}%)",
                self.tool.cpu_s, self.tool.cpu_percent, self.tool.threads, self.tool.busiest_thread_percent
            ),
        );
        if let Some(busy) = self.tool.machine_busy_percent {
            t.row(
                "machine busy",
                format!(
                    "{busy:.0}% of {} CPUs{}",
                    self.tool.machine_cpus,
                    self.tool
                        .others_percent
                        .map_or(String::new(), |o| format!(" ({o:.0}% neither the server nor the tool)"))
                ),
            );
        }
        let mut out = t.render();
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_for_people() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(600.0 * 1024.0 * 1024.0), "600.0 MiB");
        assert_eq!(ms(3.256), "3.26 ms");
        assert_eq!(ms(42.0), "42.0 ms");
        assert_eq!(ms(150.2), "150 ms");
        assert_eq!(cpu_us(Some(0.000_012_5)), "12.5 µs");
        assert_eq!(cpu_us(None), "-");
    }
}
