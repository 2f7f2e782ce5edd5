//! Scenarios: what a run simulates, and the named presets that fill one in.

use std::time::Duration;

use serde::Serialize;

use crate::wire::Flavor;

/// A named scenario; every value it sets can be overridden by a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// A workshop: 40 editors on one board, 2 edits/s and 5 cursor moves/s each.
    Workshop,
    /// A town hall: 1,000 editors on one board, 0.5 edits/s and 2 cursor moves/s each.
    Townhall,
    /// Many small sessions: 1,000 boards of 10 editors, an edit per editor every 10 s.
    ManyBoards,
    /// Small edits on a board pre-filled to about 1.5 MB, against a board of about 5 KB.
    BigBoard,
    /// Builds one board with a long update log (100,000 updates), prints its id, exits.
    History,
}

/// Everything a run needs to know.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub preset: Preset,
    /// WebSocket URL with `{board}` where the board id goes.
    pub url: String,
    /// Framing the server speaks.
    pub protocol: Flavor,
    /// Boards in use at once.
    pub boards: usize,
    /// Editors per board.
    pub editors: usize,
    /// Edits per second per editor.
    pub edit_rate: f64,
    /// Cursor moves per second per editor.
    pub cursor_rate: f64,
    /// Editing before measurement starts.
    #[serde(serialize_with = "seconds")]
    pub warmup: Duration,
    /// The measurement window.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Longest wait, after the window, for edits still in flight.
    #[serde(serialize_with = "seconds")]
    pub drain: Duration,
    /// Editors per board that keep a full replica of the board (the rest are light).
    pub replicas: usize,
    /// Bytes of notes a board holds before the run (big-board).
    pub prefill_bytes: usize,
    /// Bytes of the small board big-board compares with.
    pub baseline_bytes: usize,
    /// Updates to log (history).
    pub updates: u64,
    /// How boards come to exist on the server.
    pub create_boards: BoardCreation,
    /// Start of board names when boards are named by the tool.
    pub board_prefix: String,
    /// Token sent in the Hocuspocus auth message.
    pub token: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Connections being opened at once.
    pub connect_concurrency: usize,
    /// Longest wait for every connection to open and sync.
    #[serde(serialize_with = "seconds")]
    pub connect_timeout: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// How boards come to exist on the server (defined with the boards themselves).
pub use crate::boards::BoardCreation;

/// Where the tool looks for a server by default.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/ws/{board}";

impl Preset {
    /// The scenario this preset stands for.
    pub fn scenario(self) -> Scenario {
        let base = Scenario {
            preset: self,
            url: DEFAULT_URL.into(),
            protocol: Flavor::YWebsocket,
            boards: 1,
            editors: 40,
            edit_rate: 2.0,
            cursor_rate: 5.0,
            warmup: Duration::from_secs(5),
            duration: Duration::from_secs(30),
            drain: Duration::from_secs(10),
            replicas: 2,
            prefill_bytes: 0,
            baseline_bytes: 0,
            updates: 0,
            create_boards: BoardCreation::Named,
            board_prefix: "load".into(),
            token: "load-test".into(),
            seed: rand::random(),
            connect_concurrency: 64,
            connect_timeout: Duration::from_secs(120),
        };
        match self {
            Preset::Workshop => base,
            Preset::Townhall => Scenario {
                editors: 1000,
                edit_rate: 0.5,
                cursor_rate: 2.0,
                warmup: Duration::from_secs(10),
                drain: Duration::from_secs(20),
                ..base
            },
            Preset::ManyBoards => Scenario {
                boards: 1000,
                editors: 10,
                edit_rate: 0.1,
                cursor_rate: 0.2,
                warmup: Duration::from_secs(10),
                duration: Duration::from_secs(60),
                replicas: 1,
                ..base
            },
            Preset::BigBoard => Scenario {
                editors: 20,
                edit_rate: 2.0,
                cursor_rate: 2.0,
                prefill_bytes: 1_500_000,
                baseline_bytes: 5_000,
                ..base
            },
            Preset::History => Scenario {
                editors: 1,
                edit_rate: 0.0,
                cursor_rate: 0.0,
                warmup: Duration::ZERO,
                duration: Duration::from_secs(600),
                replicas: 0,
                updates: 100_000,
                ..base
            },
        }
    }
}

impl Scenario {
    /// Connections the run opens.
    pub fn connections(&self) -> usize {
        self.boards * self.editors
    }

    /// Checks values that would make a run meaningless.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.boards >= 1, "--boards must be at least 1");
        anyhow::ensure!(self.editors >= 1, "--editors must be at least 1");
        anyhow::ensure!(self.edit_rate >= 0.0 && self.edit_rate <= 1000.0, "--edit-rate must be between 0 and 1000");
        anyhow::ensure!(
            self.cursor_rate >= 0.0 && self.cursor_rate <= 1000.0,
            "--cursor-rate must be between 0 and 1000"
        );
        anyhow::ensure!(self.duration <= Duration::from_secs(24 * 3600), "--duration is at most a day");
        for url in self.url.split(',').map(str::trim) {
            anyhow::ensure!(
                url.contains("{board}") || self.protocol == Flavor::Hocuspocus,
                "--url must contain {{board}} (where the board id goes)"
            );
            crate::boards::check_loopback(url)?;
        }
        Ok(())
    }
}
