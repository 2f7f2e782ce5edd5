//! The command line: presets, the flags that override them, and the subcommands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::scenario::{BoardCreation, Preset, Scenario};
use crate::servers::ServerKind;
use crate::wire::Flavor;

const ABOUT: &str = "Load tool for Commonboard and any Yjs (y-websocket protocol) sync server.";

const LONG_ABOUT: &str = "\
Load tool for Commonboard and any Yjs (y-websocket protocol) sync server.

Simulates editors on boards, each a real Yjs peer on its own WebSocket: they sync, then
edit the board (create, move, type into, recolour and delete sticky notes) and move
their cursors, at set rates, for a warm-up and a measured window. Every edit carries its
send time, so each receiver times it: the report gives the fan-out latency (p50, p90,
p99, p99.9, max) over every (edit, receiver) pair, delivered updates per second,
failures, and, with --server-pid, the server's CPU per delivered update and memory per
connection. At the end the full replicas of each board and a fresh copy fetched from the
server must agree and hold every note created and not deleted; a run that does not
converge exits with status 1.

Presets (every value can be overridden by the flags below):
  workshop     40 editors on 1 board, 2 edits/s and 5 cursor moves/s each
  townhall     1,000 editors on 1 board, 0.5 edits/s and 2 cursor moves/s each
  many-boards  1,000 boards x 10 editors (10,000 connections), 1 edit per editor per
               10 s, a cursor move per 5 s
  big-board    20 editors, 2 edits/s each, on a board pre-filled to ~1.5 MB, then the
               same on a ~5 KB board; compares the server's CPU per edit
  history      builds one board with --updates logged updates (default 100,000) of note
               creation, moves and typing, prints the board id (and, with
               --create-boards, its facilitator token), exits

Measuring history replay on such a board: `commonboard-load replay --help`.

Servers:
  Commonboard: run `commonboard serve --open` (boards are created on first connection)
  or pass --create-boards (POST /api/boards). y-websocket servers: --url
  'ws://127.0.0.1:1234/{board}'. Hocuspocus: --protocol hocuspocus. The tool only
  connects to loopback addresses.

Examples:
  commonboard-load --preset workshop --server-pid $(pgrep -n commonboard)
  commonboard-load --preset townhall --url 'ws://127.0.0.1:8080/ws/{board}' --json
  commonboard-load setup && commonboard-load compare --preset workshop --find-max
  commonboard-load compare --editors 10,50,200     (issue 19's ratio table, with the floor)
  commonboard-load replay --updates 100000";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "commonboard-load",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a preset against one server (the default when no subcommand is given).
    Run(RunArgs),
    /// Run the same scenario against several servers it starts itself, side by side.
    #[command(long_about = COMPARE_ABOUT)]
    Compare(CompareArgs),
    /// Install the Node servers `compare` starts (npm ci in load-tests/peers).
    Setup(SetupArgs),
    /// Measure reading a long history back: the board at random points, a full
    /// playback, loading the board after a restart, and the store's size.
    #[command(long_about = REPLAY_ABOUT)]
    Replay(ReplayArgs),
    /// Soak a server it starts: many-boards and workshop sessions with clients joining,
    /// leaving and reconnecting and boards unloading, for a long time; then check that
    /// memory and open files return to their baseline and that every board converged.
    #[command(long_about = SOAK_ABOUT)]
    Soak(SoakArgs),
    /// Measure the kernel's floor for fan-out: the CPU of writing one pre-framed
    /// message to one loopback socket, nothing else (no server); a server's CPU per
    /// delivered update divided by it says how far the server is from the floor.
    Floor(FloorArgs),
}

const COMPARE_ABOUT: &str = "\
Run the same scenario against several servers it starts itself, side by side.

Each server (--servers) is started fresh on 127.0.0.1 for each run and stopped after
it, so the servers never share the machine; before each run the tool waits for the
machine to be idle (--wait-idle). Node servers need `commonboard-load setup` first.

Three ways to run:
  one count      --editors N (or the preset's): a table of every metric, one column
                 per server, each with its ratio to Commonboard's
  several counts --editors 10,50,200: for each count, every server on one board, then
                 the kernel's floor (`floor`) at that count; one row per count with
                 each server's CPU per delivered update and fan-out p99, Commonboard's
                 ratios to the others and to the floor, and whether the row counts (a
                 run whose load tool saturated, that lost deliveries or did not
                 converge is marked and does not)
  --find-max     a step-up search for the most editors one board sustains with
                 p99 under --max-p99-ms, per server

Commonboard runs with its default store (SQLite, each tick committed before it is
relayed).

Examples:
  commonboard-load compare --preset workshop
  commonboard-load compare --editors 10,50,200 --duration 20s
  commonboard-load compare --servers commonboard --find-max --start-editors 400";

const SOAK_ABOUT: &str = "\
Soak a Commonboard server (issue 8): a long churning load, then a leak check.

Starts target/release/commonboard (--commonboard-bin) with --open and a short
--idle-unload on a fresh data directory on 127.0.0.1, and runs two tracks side by side
until --duration is up, each as a series of sessions on a fixed pool of boards:

  many-boards  each session opens --boards-per-session of the --boards pool with
               --editors editors per board (one keeps a full replica)
  workshop     each session opens one board of the --workshop-boards pool with
               --workshop-editors busy editors (two keep a full replica)

During a session clients keep joining a board, editing for a moment and leaving
(--churn-every per track). At its end every client leaves; the pause before the next
session lets the boards unload, and later sessions open them again from the store
(each board --reopen times, then a fresh board takes its place, so that boards stay
the size of a few sessions and the load stays the same over hours).
After each session a fresh client fetches each board: it must hold exactly the notes
created and not deleted over the whole soak, and every replica must equal it.

The server's resident memory (VmRSS), open file descriptors (/proc/PID/fd) and loaded
boards (/healthz) are sampled every --sample-every into --csv. The baseline is taken
after a first session of each track, once its boards unloaded (the allocator keeps
memory it has used once; a leak keeps growing past it). When the load stops the tool
waits for every board to unload and compares: the end may exceed the baseline by
--rss-tolerance-mib or --rss-tolerance-percent (the larger) and by --fd-tolerance open
files. A leak, a divergence, or boards that stay loaded exit with status 1.

Examples:
  commonboard-load soak --duration 30m
  commonboard-load soak --duration 90s --boards 20 --boards-per-session 10 --editors 4 \\
      --workshop-editors 10 --session 15s --csv soak-short.csv";

/// Flags of `soak`.
#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// How long the load runs (the warm-up session and the settling come on top).
    #[arg(long, env = "COMMONBOARD_SOAK_DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The Commonboard server binary the tool starts.
    #[arg(long, env = "COMMONBOARD_SOAK_BIN", default_value = "target/release/commonboard")]
    pub commonboard_bin: PathBuf,
    /// The server's --idle-unload: how long a board with nobody connected stays loaded.
    #[arg(long, env = "COMMONBOARD_SOAK_IDLE_UNLOAD", default_value = "2s", value_parser = humantime::parse_duration)]
    pub idle_unload: Duration,
    /// Boards in the many-boards pool (sessions open part of it, so boards come and go).
    #[arg(long, env = "COMMONBOARD_SOAK_BOARDS", default_value_t = 100)]
    pub boards: usize,
    /// Boards one many-boards session opens.
    #[arg(long, env = "COMMONBOARD_SOAK_BOARDS_PER_SESSION", default_value_t = 50)]
    pub boards_per_session: usize,
    /// Editors per board in a many-boards session.
    #[arg(long, env = "COMMONBOARD_SOAK_EDITORS", default_value_t = 10)]
    pub editors: usize,
    /// Edits per second per many-boards editor (cursor moves: twice as many).
    #[arg(long, env = "COMMONBOARD_SOAK_EDIT_RATE", default_value_t = 0.1)]
    pub edit_rate: f64,
    /// Editors on the board of a workshop session.
    #[arg(long, env = "COMMONBOARD_SOAK_WORKSHOP_EDITORS", default_value_t = 40)]
    pub workshop_editors: usize,
    /// Edits per second per workshop editor (cursor moves: 2.5 times as many).
    #[arg(long, env = "COMMONBOARD_SOAK_WORKSHOP_EDIT_RATE", default_value_t = 2.0)]
    pub workshop_edit_rate: f64,
    /// Boards in the workshop pool.
    #[arg(long, env = "COMMONBOARD_SOAK_WORKSHOP_BOARDS", default_value_t = 6)]
    pub workshop_boards: usize,
    /// Sessions a board is opened by (loaded from the store again each time) before a
    /// fresh board takes its place, so that boards stay the size of a few sessions.
    #[arg(long, env = "COMMONBOARD_SOAK_REOPEN", default_value_t = 3)]
    pub reopen: u32,
    /// Length of one session.
    #[arg(long, env = "COMMONBOARD_SOAK_SESSION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub session: Duration,
    /// Average time between two clients joining a board for a moment, per track.
    #[arg(long, env = "COMMONBOARD_SOAK_CHURN_EVERY", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub churn_every: Duration,
    /// How often the server's memory, open files and loaded boards are sampled.
    #[arg(long, env = "COMMONBOARD_SOAK_SAMPLE_EVERY", default_value = "5s", value_parser = humantime::parse_duration)]
    pub sample_every: Duration,
    /// Where the samples are written (CSV: elapsed_s, phase, rss_kib, anon_kib, fds,
    /// boards_loaded, connections).
    #[arg(long, env = "COMMONBOARD_SOAK_CSV", default_value = "soak.csv")]
    pub csv: PathBuf,
    /// Longest wait, after the load, for every board to unload.
    #[arg(long, env = "COMMONBOARD_SOAK_SETTLE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// Anonymous resident memory (RssAnon: VmRSS without the pages of the server's
    /// binary and libraries) the end may exceed the baseline by, in MiB (or
    /// --rss-tolerance-percent, whichever is larger).
    #[arg(long, env = "COMMONBOARD_SOAK_RSS_TOLERANCE_MIB", default_value_t = 16.0)]
    pub rss_tolerance_mib: f64,
    /// Anonymous resident memory the end may exceed the baseline by, in percent of the
    /// baseline.
    #[arg(long, env = "COMMONBOARD_SOAK_RSS_TOLERANCE_PERCENT", default_value_t = 25.0)]
    pub rss_tolerance_percent: f64,
    /// Open files the end may exceed the baseline by. The embedded store keeps up to 4
    /// idle read connections of 2 files each after a burst of reads (its pool, bounded,
    /// not a leak), so 8 of the default 12 are that pool; a leak grows past any bound.
    #[arg(long, env = "COMMONBOARD_SOAK_FD_TOLERANCE", default_value_t = 12)]
    pub fd_tolerance: u64,
    /// Seed of the sessions' choices and edits (random by default; the report shows it).
    #[arg(long, env = "COMMONBOARD_SOAK_SEED")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

const REPLAY_ABOUT: &str = "\
Measure reading a board's long history back (issue 6), against Commonboard.

Without --server, starts target/release/commonboard (--commonboard-bin) on a fresh data
directory on 127.0.0.1, builds a board of --updates logged updates with the history
preset (note creation, moves and typing), measures, then restarts the server and
measures loading the board; the server and its data are removed at the end. With
--server, --board and --token, measures a board on a running server instead (the
history preset with --create-boards prints a board id and facilitator token); the
restart is then not measured.

Measured:
  board at random points   GET /api/boards/{id}/state?at=SEQ, SEQ uniform over the log
                           (seeded; --seed), half JSON and half &format=yjs; median,
                           p90, p99, max (target: median < 50 ms). Every answer is
                           checked, and a few Yjs answers compared with the JSON one.
  history list             the newest page and pages deep in the log (before=SEQ)
  full playback            the state at the first point, then every page of
                           GET /api/boards/{id}/updates (--page-size), applied as the web
                           client does at its highest speed: everything fetched since
                           the last frame in one batch per frame. Page fetch times,
                           batch apply times, the longest gap between frames (target:
                           at most 100 ms), updates/s. The replayed board must match the
                           server's state at the last point, or the run fails.
  live board after restart the server's own load time (commonboard_board_load_seconds
                           on /metrics) and a WebSocket client's time from connecting to
                           the whole board (target: under 100 ms)
  storage                  bytes per logged update and per checkpoint (the timeline's
                           log), the SQLite file and WAL per update (--data-dir)

A run whose checks fail exits with status 1.

Examples:
  commonboard-load replay --updates 100000
  commonboard-load replay --updates 20000 --checkpoint-every 500 --json
  commonboard-load --preset history --create-boards --url 'ws://127.0.0.1:8080/ws/{board}'
  commonboard-load replay --server http://127.0.0.1:8080 --board ID --token TOKEN";

/// Flags of a run.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario to start from.
    #[arg(long, value_enum, default_value = "workshop")]
    pub preset: Preset,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Process id of the server, for its CPU time and memory (read from /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the first frames the editors send and receive to files in DIR, one file
    /// per frame (NNNNN-peerP-sent.bin / -recv.bin), e.g. to seed the fuzz corpora
    /// (see fuzz/README.md). The history preset records nothing.
    #[arg(long, value_name = "DIR", env = "COMMONBOARD_LOAD_RECORD_FRAMES")]
    pub record_frames: Option<PathBuf>,
    /// Most frames --record-frames writes.
    #[arg(long, value_name = "N", default_value_t = 200, env = "COMMONBOARD_LOAD_RECORD_LIMIT")]
    pub record_limit: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags that override a preset.
#[derive(Debug, Clone, Default, Args)]
pub struct ScenarioArgs {
    /// WebSocket URL; `{board}` is replaced by each board's id. Several URLs,
    /// comma-separated, are the nodes of one deployment (`serve --broker`): boards are
    /// created through the first and connections spread over all, round-robin.
    #[arg(long)]
    pub url: Option<String>,
    /// Framing the server speaks.
    #[arg(long, value_enum)]
    pub protocol: Option<Flavor>,
    /// Boards in use at once.
    #[arg(long)]
    pub boards: Option<usize>,
    /// Editors (connections) per board. `compare` takes several, comma-separated
    /// (e.g. 10,50,200): each count is run on every server, then the kernel's floor at
    /// that count, and the ratio table is printed (one row per count).
    #[arg(long, value_delimiter = ',', value_name = "N[,N...]")]
    pub editors: Vec<usize>,
    /// Edits per second per editor.
    #[arg(long)]
    pub edit_rate: Option<f64>,
    /// Cursor moves per second per editor.
    #[arg(long)]
    pub cursor_rate: Option<f64>,
    /// Editing before measurement (e.g. 5s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Measurement window (e.g. 30s, 2m); for history, the most the build may take.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Longest wait after the window for edits still in flight.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drain: Option<Duration>,
    /// Editors per board keeping a full replica (compared at the end); the rest only
    /// read the timestamps out of what they receive.
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Pre-fill each board with this many bytes of notes (big-board: the big board).
    #[arg(long)]
    pub prefill_bytes: Option<usize>,
    /// Size of the small board big-board compares with.
    #[arg(long)]
    pub baseline_bytes: Option<usize>,
    /// Updates the history preset logs.
    #[arg(long)]
    pub updates: Option<u64>,
    /// Create boards with POST /api/boards on the URL's host (Commonboard without --open).
    #[arg(long)]
    pub create_boards: bool,
    /// Start of the board names the tool makes up.
    #[arg(long)]
    pub board_prefix: Option<String>,
    /// Token of the Hocuspocus auth message.
    #[arg(long)]
    pub token: Option<String>,
    /// Seed of the edit mix and timings (random by default; the report shows it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Connections opening at once.
    #[arg(long)]
    pub connect_concurrency: Option<usize>,
    /// Longest wait for every connection to open and sync.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub connect_timeout: Option<Duration>,
}

impl ScenarioArgs {
    /// Refuses several `--editors` counts where one run is made (all but `compare`).
    pub fn one_editor_count(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.editors.len() <= 1,
            "--editors takes one count here; several (10,50,200) are for `compare`"
        );
        Ok(())
    }

    /// The preset's scenario with these flags applied (the first `--editors` count).
    pub fn apply(&self, preset: Preset) -> Scenario {
        let mut s = preset.scenario();
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = &self.$field {
                    s.$field = value.clone();
                }
            )*};
        }
        if let Some(&editors) = self.editors.first() {
            s.editors = editors;
        }
        set!(
            url,
            protocol,
            boards,
            edit_rate,
            cursor_rate,
            warmup,
            duration,
            drain,
            replicas,
            prefill_bytes,
            baseline_bytes,
            updates,
            board_prefix,
            token,
            seed,
            connect_concurrency,
            connect_timeout
        );
        if self.create_boards {
            s.create_boards = BoardCreation::CommonboardApi;
        }
        s
    }
}

/// How to print and how hard to work.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Runtime threads of the tool (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Flags of `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Scenario to run on every server.
    #[arg(long, value_enum, default_value = "workshop")]
    pub preset: Preset,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Servers to compare, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "commonboard,y-websocket,hocuspocus")]
    pub servers: Vec<ServerKind>,
    /// Also search the most editors one board sustains on each server.
    #[arg(long)]
    pub find_max: bool,
    /// Only search (skip the plain run of the scenario).
    #[arg(long, requires = "find_max")]
    pub only_find_max: bool,
    /// The p99 a step of the search must stay under, in milliseconds.
    #[arg(long, default_value_t = 100.0)]
    pub max_p99_ms: f64,
    /// Editors in the first step of the search.
    #[arg(long, default_value_t = 10)]
    pub start_editors: usize,
    /// Most editors the search tries.
    #[arg(long, default_value_t = 2000)]
    pub max_editors: usize,
    /// Length of each step (warm-up included).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub step_duration: Duration,
    /// Before each run, wait (up to five minutes) until the machine's CPUs are this
    /// percent idle, so that other processes do not skew the figures (0: do not wait).
    #[arg(long, default_value_t = 90.0)]
    pub wait_idle: f64,
    /// The Commonboard server binary.
    #[arg(long, default_value = "target/release/commonboard")]
    pub commonboard_bin: PathBuf,
    /// Directory with the Node servers' package.json (default: load-tests/peers).
    #[arg(long)]
    pub peers_dir: Option<PathBuf>,
    /// A built y-sweet binary; y-sweet is skipped without it.
    #[arg(long)]
    pub y_sweet_bin: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// A running Commonboard server (`http://127.0.0.1:PORT`) to measure instead of
    /// starting one.
    #[arg(long, requires = "board", conflicts_with_all = ["updates", "checkpoint_every"])]
    pub server: Option<String>,
    /// The board to measure on --server.
    #[arg(long, requires = "server")]
    pub board: Option<String>,
    /// An access token of the board (the facilitator's), sent as `Authorization: Bearer`.
    #[arg(long, requires = "server")]
    pub token: Option<String>,
    /// The --server's data directory, for the size of its SQLite file.
    #[arg(long, requires = "server")]
    pub data_dir: Option<PathBuf>,
    /// The --server's process id, for its CPU time per request (read from /proc).
    #[arg(long, requires = "server")]
    pub server_pid: Option<u32>,
    /// Updates the history preset logs on the server the tool starts.
    #[arg(long, default_value_t = 100_000)]
    pub updates: u64,
    /// The started server's `--checkpoint-every` (logged updates between checkpoints;
    /// the server's default when absent).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Requests for the board at random points (half JSON, half Yjs).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Requests for the newest page of the history list, and as many for deep pages.
    #[arg(long, default_value_t = 20)]
    pub history_samples: usize,
    /// Updates per page of the playback (the server allows at most 5000).
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
    /// Seed of the random points and of the history's edits (random by default).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The Commonboard server binary the tool starts.
    #[arg(long, default_value = "target/release/commonboard")]
    pub commonboard_bin: PathBuf,
    /// Longest time building the history may take.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub build_timeout: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `floor`.
#[derive(Debug, Clone, Args)]
pub struct FloorArgs {
    /// Loopback connections each update is written to (a board's editors).
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Payload bytes of each message (a workshop's updates and cursor moves are
    /// 30 to 200 bytes).
    #[arg(long, default_value_t = 100)]
    pub frame_bytes: usize,
    /// Updates a second, each written to every connection.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// How long to write (at most 10 minutes).
    #[arg(long, default_value = "10s", value_parser = parse_floor_duration)]
    pub duration: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_floor_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration > Duration::from_secs(600) {
        return Err("at most 10 minutes".into());
    }
    Ok(duration)
}

/// Flags of `setup`.
#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Directory with the Node servers' package.json (default: load-tests/peers).
    #[arg(long)]
    pub peers_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_the_preset() {
        let cli = Cli::parse_from(["commonboard-load", "--preset", "townhall", "--editors", "20", "--duration", "2s"]);
        let s = cli.run.scenario.apply(cli.run.preset);
        assert_eq!((s.editors, s.edit_rate), (20, 0.5));
        assert_eq!(s.duration, Duration::from_secs(2));
        let cli = Cli::parse_from(["commonboard-load", "compare", "--servers", "commonboard,hocuspocus", "--find-max"]);
        let Some(Command::Compare(args)) = cli.command else {
            panic!("compare parses");
        };
        assert_eq!(args.servers, vec![ServerKind::Commonboard, ServerKind::Hocuspocus]);
        let cli = Cli::parse_from(["commonboard-load", "compare", "--editors", "10,50,200"]);
        let Some(Command::Compare(args)) = cli.command else {
            panic!("compare parses");
        };
        assert_eq!(args.scenario.editors, vec![10, 50, 200]);
        assert!(args.scenario.one_editor_count().is_err());
        let cli = Cli::parse_from(["commonboard-load", "--editors", "7"]);
        assert!(cli.run.scenario.one_editor_count().is_ok());
    }

    #[test]
    fn replay_starts_a_server_or_measures_a_given_one() {
        let cli = Cli::parse_from(["commonboard-load", "replay", "--updates", "2000", "--checkpoint-every", "200"]);
        let Some(Command::Replay(args)) = cli.command else {
            panic!("replay parses");
        };
        assert_eq!((args.updates, args.checkpoint_every, args.samples), (2000, Some(200), 200));
        assert!(args.server.is_none());
        let given = ["commonboard-load", "replay", "--server", "http://127.0.0.1:8080", "--board", "b", "--token", "t"];
        let Some(Command::Replay(args)) = Cli::parse_from(given).command else {
            panic!("replay parses");
        };
        assert_eq!((args.board.as_deref(), args.token.as_deref()), (Some("b"), Some("t")));
        assert!(Cli::try_parse_from(["commonboard-load", "replay", "--board", "b"]).is_err());
        assert!(Cli::try_parse_from(["commonboard-load", "replay", "--server", "http://127.0.0.1:1"]).is_err());
        let both = ["commonboard-load", "replay", "--server", "http://127.0.0.1:1", "--board", "b", "--updates", "5"];
        assert!(Cli::try_parse_from(both).is_err());
    }
}
