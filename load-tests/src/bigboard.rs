//! The big-board preset: what a small edit costs the server on a large document.
//!
//! The same scenario runs twice on fresh boards: first pre-filled to a few kilobytes
//! (`baseline_bytes`), then to about 1.5 MB (`prefill_bytes`). The server's CPU time per
//! edit of the two runs is compared: a server whose per-update work does not depend on
//! the document's size shows a ratio near 1.

use serde::Serialize;

use crate::report::{bytes, cpu_us, ms, Report, Table};
use crate::run::{self, RunOptions};
use crate::scenario::Scenario;

/// Most the big board may cost per edit, as a multiple of the small board's cost.
pub const TARGET_RATIO: f64 = 2.0;

/// The two runs and their comparison.
#[derive(Debug, Clone, Serialize)]
pub struct BigBoardReport {
    pub small: Report,
    pub big: Report,
    /// Server CPU seconds per edit on the small board.
    pub small_cpu_s_per_edit: Option<f64>,
    /// Server CPU seconds per edit on the big board.
    pub big_cpu_s_per_edit: Option<f64>,
    /// `big / small`.
    pub ratio: Option<f64>,
    /// Whether `ratio` is within [`TARGET_RATIO`].
    pub within_target: Option<bool>,
}

impl BigBoardReport {
    pub fn converged(&self) -> bool {
        self.small.convergence.converged && self.big.convergence.converged
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("== small board ({}) ==\n", bytes(self.small.scenario.prefill_bytes as f64)));
        out.push_str(&self.small.render());
        out.push_str(&format!("\n== big board ({}) ==\n", bytes(self.big.scenario.prefill_bytes as f64)));
        out.push_str(&self.big.render());
        let mut t = Table::new();
        t.section("small vs big board");
        t.row("fan-out p99", format!("{} vs {}", ms(self.small.latency.p99_ms), ms(self.big.latency.p99_ms)));
        t.row(
            "server CPU per edit",
            format!("{} vs {}", cpu_us(self.small_cpu_s_per_edit), cpu_us(self.big_cpu_s_per_edit)),
        );
        t.row(
            "ratio (big / small)",
            match (self.ratio, self.within_target) {
                (Some(r), Some(ok)) => {
                    format!("{r:.2}x ({} the {TARGET_RATIO}x target)", if ok { "within" } else { "OVER" })
                }
                _ => "- (needs --server-pid)".into(),
            },
        );
        out.push('\n');
        out.push_str(&t.render());
        out
    }
}

/// Runs the small board, then the big one.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<BigBoardReport> {
    let small_scenario = Scenario { prefill_bytes: scenario.baseline_bytes, ..scenario.clone() };
    let label = |which: &str| RunOptions { label: format!("{}{which} ", options.label), ..options.clone() };
    let small = run::run(&small_scenario, &label("small")).await?;
    let big = run::run(scenario, &label("big")).await?;
    let per_edit = |r: &Report| r.server.as_ref().and_then(|s| s.cpu_s_per_edit);
    let (small_cpu, big_cpu) = (per_edit(&small), per_edit(&big));
    let ratio = match (small_cpu, big_cpu) {
        (Some(s), Some(b)) if s > 0.0 => Some(b / s),
        _ => None,
    };
    Ok(BigBoardReport {
        small,
        big,
        small_cpu_s_per_edit: small_cpu,
        big_cpu_s_per_edit: big_cpu,
        ratio,
        within_target: ratio.map(|r| r <= TARGET_RATIO),
    })
}
