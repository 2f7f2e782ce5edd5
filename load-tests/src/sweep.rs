//! `compare --editors 10,50,200`: the ratio table of issue 19, in one run.
//!
//! For each editor count, every server runs the scenario on one board (each started
//! fresh, alone on the machine, as [`crate::compare`] does), then the kernel's floor
//! ([`crate::floor`]) writes as many updates of the same size to as many loopback
//! sockets. Each row gives every server's CPU per delivered update and fan-out p99,
//! Commonboard's ratios to the other servers and to the floor, and whether a run's
//! figures count: a run whose load tool saturated (its own warning), that lost
//! deliveries or did not converge does not, and its row is marked.

use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::{self, CompareOptions};
use crate::floor::{self, FloorConfig};
use crate::report::{ms, Report};
use crate::scenario::Scenario;
use crate::servers::ServerKind;

/// How long the floor writes at each count.
const FLOOR_DURATION: std::time::Duration = std::time::Duration::from_secs(5);
/// Payload of the floor's messages when no Commonboard run says what a frame weighs.
const DEFAULT_FRAME_BYTES: usize = 100;
/// Most updates a second the floor writes to each socket (it is a per-delivery cost:
/// a higher rate only makes it run out of CPU).
const MAX_FLOOR_RATE: f64 = 2000.0;

/// One server's run at one editor count, as the table needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub server: ServerKind,
    /// Server CPU per delivered update, microseconds.
    pub cpu_us_per_update: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The tool's saturation warning fired: the latency is partly the tool's.
    pub tool_saturated: bool,
    /// How busy the machine was during the window, percent of every CPU.
    pub machine_busy_percent: Option<f64>,
    /// Share of the machine used by neither the server nor the tool, percent.
    pub others_percent: Option<f64>,
    pub converged: bool,
    pub missing: u64,
    /// Average bytes of a frame the editors received (header excluded).
    pub frame_bytes: Option<f64>,
    /// The run did not produce a report.
    pub error: Option<String>,
}

impl Cell {
    pub fn from_report(server: ServerKind, report: &Report) -> Cell {
        let d = &report.delivery;
        Cell {
            server,
            cpu_us_per_update: report.server.as_ref().and_then(|s| s.cpu_s_per_delivered_update).map(|s| s * 1e6),
            p99_ms: (report.latency.count > 0).then_some(report.latency.p99_ms),
            tool_saturated: report.tool.saturated,
            machine_busy_percent: report.tool.machine_busy_percent,
            others_percent: report.tool.others_percent,
            converged: report.convergence.converged,
            missing: d.missing,
            frame_bytes: (d.frames_received > 0).then(|| d.bytes_received as f64 / d.frames_received as f64),
            error: None,
        }
    }

    fn failed(server: ServerKind, error: String) -> Cell {
        Cell {
            server,
            cpu_us_per_update: None,
            p99_ms: None,
            tool_saturated: false,
            machine_busy_percent: None,
            others_percent: None,
            converged: false,
            missing: 0,
            frame_bytes: None,
            error: Some(error),
        }
    }

    /// Whether this run's figures count.
    pub fn counts(&self) -> bool {
        self.error.is_none() && !self.tool_saturated && self.converged && self.missing == 0
    }

    /// Why it does not count, in a few words.
    fn flaw(&self) -> Option<String> {
        let name = self.server.name();
        if self.error.is_some() {
            Some(format!("{name}: no report"))
        } else if self.tool_saturated {
            Some(format!("{name}: tool saturated"))
        } else if !self.converged {
            Some(format!("{name}: not converged"))
        } else if self.missing > 0 {
            Some(format!("{name}: {} missing", self.missing))
        } else {
            None
        }
    }
}

/// The kernel's floor at one count.
#[derive(Debug, Clone, Serialize)]
pub struct FloorCell {
    pub connections: usize,
    pub frame_bytes: usize,
    pub rate: f64,
    pub cpu_us_per_delivery: f64,
}

/// Every server at one editor count, and the floor.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub editors: usize,
    pub cells: Vec<Cell>,
    pub floor: Option<FloorCell>,
    pub floor_error: Option<String>,
}

impl Row {
    fn cell(&self, server: ServerKind) -> Option<&Cell> {
        self.cells.iter().find(|c| c.server == server)
    }

    /// Commonboard's value over `other`'s, with `value` picking the figure.
    fn ratio(&self, other: ServerKind, value: fn(&Cell) -> Option<f64>) -> Option<f64> {
        let ours = self.cell(ServerKind::Commonboard).and_then(value)?;
        let theirs = self.cell(other).and_then(value)?;
        (theirs > 0.0).then(|| ours / theirs)
    }

    /// Commonboard's CPU per delivered update over the floor's CPU per delivery.
    pub fn floor_ratio(&self) -> Option<f64> {
        let ours = self.cell(ServerKind::Commonboard).and_then(|c| c.cpu_us_per_update)?;
        let floor = self.floor.as_ref()?.cpu_us_per_delivery;
        (floor > 0.0).then(|| ours / floor)
    }

    /// Whether every run of the row counts.
    pub fn counts(&self) -> bool {
        self.cells.iter().all(Cell::counts)
    }
}

/// The whole sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub scenario: Scenario,
    pub servers: Vec<ServerKind>,
    pub rows: Vec<Row>,
}

/// Runs every server at every count, then the floor at that count.
pub async fn sweep(scenario: &Scenario, counts: &[usize], options: &CompareOptions) -> anyhow::Result<SweepReport> {
    let servers: Vec<ServerKind> = options
        .servers
        .iter()
        .copied()
        .filter(|&kind| {
            let skip = kind == ServerKind::YSweet && options.paths.y_sweet_bin.is_none();
            if skip {
                eprintln!("skipping y-sweet: no --y-sweet-bin given");
            }
            !skip
        })
        .collect();
    let mut rows = Vec::with_capacity(counts.len());
    for &editors in counts {
        let at = Scenario { boards: 1, editors, ..scenario.clone() };
        let mut cells = Vec::with_capacity(servers.len());
        for &kind in &servers {
            let label = format!("{} {editors} editors", kind.name());
            match compare::run_on(kind, &at, options, &label).await {
                Ok(report) => cells.push(Cell::from_report(kind, &report)),
                Err(error) if compare::is_interrupted(&error) => return Err(error),
                Err(error) => {
                    eprintln!("{label}: {error:#}");
                    cells.push(Cell::failed(kind, format!("{error:#}")));
                }
            }
        }
        let frame_bytes = cells
            .iter()
            .find(|c| c.server == ServerKind::Commonboard)
            .and_then(|c| c.frame_bytes)
            .map_or(DEFAULT_FRAME_BYTES, |b| (b.round() as usize).clamp(2, 1 << 16));
        let config = FloorConfig {
            connections: editors,
            frame_bytes,
            rate: (editors as f64 * scenario.edit_rate).clamp(1.0, MAX_FLOOR_RATE),
            duration: FLOOR_DURATION,
        };
        if options.wait_idle > 0.0 {
            compare::wait_for_idle(options.wait_idle, &format!("floor {editors}")).await;
        }
        let (floor, floor_error) = match floor::measure(config).await {
            Ok(report) => (
                Some(FloorCell {
                    connections: report.connections,
                    frame_bytes: report.frame_bytes,
                    rate: config.rate,
                    cpu_us_per_delivery: report.cpu_us_per_delivery,
                }),
                None,
            ),
            Err(error) => {
                eprintln!("floor at {editors} connections: {error:#}");
                (None, Some(format!("{error:#}")))
            }
        };
        if options.progress {
            eprintln!("{editors} editors done");
        }
        rows.push(Row { editors, cells, floor, floor_error });
    }
    Ok(SweepReport { scenario: scenario.clone(), servers, rows })
}

/// Formats an optional value, `-` when absent.
fn or_dash(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), format)
}

impl SweepReport {
    /// The table: one row per editor count.
    pub fn render(&self) -> String {
        let others: Vec<ServerKind> = self.servers.iter().copied().filter(|&s| s != ServerKind::Commonboard).collect();
        let mut header = vec!["editors".to_owned()];
        for server in &self.servers {
            header.push(format!("{} CPU/update", server.name()));
            header.push(format!("{} p99", server.name()));
        }
        for other in &others {
            header.push(format!("CPU cb/{}", other.name()));
            header.push(format!("p99 cb/{}", other.name()));
        }
        header.extend(["floor".to_owned(), "cb/floor".to_owned(), "counts".to_owned()]);
        let mut rows = vec![header];
        for row in &self.rows {
            let mut line = vec![row.editors.to_string()];
            for &server in &self.servers {
                let cell = row.cell(server);
                let mark = if cell.is_some_and(|c| !c.counts()) { "*" } else { "" };
                line.push(or_dash(cell.and_then(|c| c.cpu_us_per_update), |v| format!("{v:.1} µs{mark}")));
                line.push(or_dash(cell.and_then(|c| c.p99_ms), |v| format!("{}{mark}", ms(v))));
            }
            for &other in &others {
                line.push(or_dash(row.ratio(other, |c| c.cpu_us_per_update), |r| format!("{r:.2}")));
                line.push(or_dash(row.ratio(other, |c| c.p99_ms), |r| format!("{r:.2}")));
            }
            line.push(or_dash(row.floor.as_ref().map(|f| f.cpu_us_per_delivery), |v| format!("{v:.2} µs")));
            line.push(or_dash(row.floor_ratio(), |r| format!("{r:.2}")));
            let flaws: Vec<String> = row.cells.iter().filter_map(Cell::flaw).collect();
            line.push(if flaws.is_empty() { "yes".to_owned() } else { format!("NO ({})", flaws.join("; ")) });
            rows.push(line);
        }
        let mut out = markdown(&rows);
        let s = &self.scenario;
        let _ = writeln!(
            out,
            "\nOne board, {}/s edits and {}/s cursor moves per editor; each server started fresh for each run. \
             CPU/update: server CPU per delivered update; p99: fan-out p99; cb/X: Commonboard's value over X's \
             (lower is better). floor: `commonboard-load floor` at the same count (writer CPU per delivery of a \
             pre-framed message of Commonboard's average frame size, at editors x edit rate updates/s); cb/floor: \
             Commonboard's CPU per delivered update over it. * and counts NO: the load tool saturated, deliveries \
             were missing or the replicas did not converge; such a row does not count.",
            s.edit_rate, s.cursor_rate
        );
        for row in &self.rows {
            for cell in &row.cells {
                let name = cell.server.name();
                if let Some(error) = &cell.error {
                    let _ = writeln!(out, "{} editors, {name}: error: {error}", row.editors);
                }
                if let Some(busy) = cell.machine_busy_percent.filter(|b| *b > 95.0) {
                    let others = or_dash(cell.others_percent, |o| format!("{o:.0}%"));
                    let _ = writeln!(
                        out,
                        "{} editors, {name}: the machine was {busy:.0}% busy (others {others}): latencies include waiting for a CPU",
                        row.editors
                    );
                }
            }
            if let Some(floor) = &row.floor {
                let _ = writeln!(
                    out,
                    "{} editors, floor: {} sockets, {}-byte messages, {:.0} updates/s",
                    row.editors, floor.connections, floor.frame_bytes, floor.rate
                );
            }
            if let Some(error) = &row.floor_error {
                let _ = writeln!(out, "{} editors, floor: error: {error}", row.editors);
            }
        }
        out
    }
}

/// A Markdown table; the first row is the header.
fn markdown(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> =
            widths.iter().enumerate().map(|(c, w)| format!("{:<w$}", row.get(c).map_or("", String::as_str))).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "| {} |", rule.join(" | "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Preset;

    fn cell(server: ServerKind, cpu: f64, p99: f64) -> Cell {
        Cell {
            server,
            cpu_us_per_update: Some(cpu),
            p99_ms: Some(p99),
            tool_saturated: false,
            machine_busy_percent: Some(40.0),
            others_percent: Some(1.0),
            converged: true,
            missing: 0,
            frame_bytes: Some(90.0),
            error: None,
        }
    }

    fn report(rows: Vec<Row>) -> SweepReport {
        SweepReport {
            scenario: Preset::Workshop.scenario(),
            servers: vec![ServerKind::Commonboard, ServerKind::YWebsocket, ServerKind::Hocuspocus],
            rows,
        }
    }

    fn floor(cpu: f64) -> Option<FloorCell> {
        Some(FloorCell { connections: 10, frame_bytes: 90, rate: 20.0, cpu_us_per_delivery: cpu })
    }

    #[test]
    fn a_row_gives_the_ratios_to_the_peers_and_to_the_floor() {
        let row = Row {
            editors: 50,
            cells: vec![
                cell(ServerKind::Commonboard, 13.0, 4.0),
                cell(ServerKind::YWebsocket, 39.0, 8.0),
                cell(ServerKind::Hocuspocus, 52.0, 5.0),
            ],
            floor: floor(5.2),
            floor_error: None,
        };
        assert!(row.counts());
        assert!(row.floor_ratio().is_some_and(|r| (r - 2.5).abs() < 1e-9), "{:?}", row.floor_ratio());
        let table = report(vec![row]).render();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("| editors | commonboard CPU/update | commonboard p99 | y-websocket CPU/update"));
        assert!(lines[0].contains("| CPU cb/y-websocket | p99 cb/y-websocket | CPU cb/hocuspocus |"), "{}", lines[0]);
        assert!(lines[1].starts_with("| ------- |"));
        let cells: Vec<&str> = lines[2].split('|').map(str::trim).collect();
        assert_eq!(
            &cells[1..15],
            &[
                "50", "13.0 µs", "4.00 ms", "39.0 µs", "8.00 ms", "52.0 µs", "5.00 ms", "0.33", "0.50", "0.25", "0.80",
                "5.20 µs", "2.50", "yes"
            ]
        );
        assert!(table.contains("50 editors, floor: 10 sockets, 90-byte messages, 20 updates/s"));
    }

    #[test]
    fn a_row_whose_tool_saturated_or_that_failed_is_marked_and_does_not_count() {
        let mut saturated = cell(ServerKind::YWebsocket, 30.0, 60.0);
        saturated.tool_saturated = true;
        saturated.machine_busy_percent = Some(99.0);
        let row = Row {
            editors: 200,
            cells: vec![
                cell(ServerKind::Commonboard, 10.0, 20.0),
                saturated,
                Cell::failed(ServerKind::Hocuspocus, "did not start".into()),
            ],
            floor: None,
            floor_error: Some("no loopback".into()),
        };
        assert!(!row.counts());
        let table = report(vec![row]).render();
        let line = table.lines().nth(2).unwrap();
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(&cells[4..6], &["30.0 µs*", "60.0 ms*"]);
        assert_eq!(&cells[6..8], &["-", "-"], "no figures from a failed run");
        assert_eq!(&cells[8..10], &["0.33", "0.33"], "the ratio is still shown, the row marked");
        assert_eq!(&cells[10..14], &["-", "-", "-", "-"]);
        assert_eq!(cells[14], "NO (y-websocket: tool saturated; hocuspocus: no report)");
        assert!(table.contains("200 editors, hocuspocus: error: did not start"));
        assert!(table.contains("200 editors, y-websocket: the machine was 99% busy"));
        assert!(table.contains("200 editors, floor: error: no loopback"));
    }

    #[test]
    fn rows_follow_the_counts_and_a_commonboard_only_sweep_has_no_peer_columns() {
        let rows = [10, 50, 200]
            .into_iter()
            .map(|editors| Row {
                editors,
                cells: vec![cell(ServerKind::Commonboard, 100.0 / editors as f64, 1.0)],
                floor: floor(1.0),
                floor_error: None,
            })
            .collect();
        let sweep = SweepReport { servers: vec![ServerKind::Commonboard], ..report(rows) };
        let table = sweep.render();
        let lines: Vec<&str> = table.lines().take(5).collect();
        assert_eq!(lines[0].split('|').count(), 8, "editors, CPU, p99, floor, ratio, counts: {}", lines[0]);
        let editors: Vec<&str> = lines[2..].iter().map(|l| l.split('|').nth(1).unwrap().trim()).collect();
        assert_eq!(editors, ["10", "50", "200"]);
        assert!(lines[4].contains("| 0.50 "), "200 editors: 0.5 µs over a 1 µs floor: {}", lines[4]);
    }
}
