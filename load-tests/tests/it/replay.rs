//! The replay mode on a small history: every answer checks out, the playback matches
//! the server, and the restart is measured. Figures are reported, not held to targets:
//! a test machine's timings say nothing about the server.

use std::time::Duration;

use commonboard_load_tests::history;
use commonboard_load_tests::replay::{self, OneShot, ReplayOptions, ReplayReport, Target};
use commonboard_load_tests::run::RunOptions;
use commonboard_load_tests::scenario::{BoardCreation, Preset, Scenario};

use crate::{commonboard_bin, spawn_server};

fn options() -> ReplayOptions {
    ReplayOptions {
        samples: 20,
        history_samples: 3,
        page_size: 300,
        seed: 7,
        data_dir: None,
        server_pid: None,
        progress: false,
    }
}

/// What every replay report must hold, restart or not.
fn assert_measured(report: &ReplayReport, updates: u64) {
    assert!(report.checks.passed, "{:#?}", report.checks);
    let log = &report.log;
    assert!(log.updates >= updates, "{log:?}");
    assert!(log.last_seq > updates && log.update_bytes > 0, "{log:?}");
    let s = &report.state;
    assert_eq!((s.all.count, s.json.count, s.yjs.count), (20, 10, 10));
    assert_eq!(s.answers_ok, 20);
    assert!(s.compared >= 1 && s.compared_ok == s.compared, "{s:?}");
    assert!(s.all.p50_ms > 0.0 && s.all.p50_ms <= s.all.p99_ms && s.all.p99_ms <= s.all.max_ms);
    assert!(s.json_mean_bytes > 0.0 && s.yjs_mean_bytes > 0.0);
    assert_eq!((report.history_list.newest.count, report.history_list.deep.count), (3, 3));
    let p = &report.playback;
    assert_eq!(p.to_seq, log.last_seq);
    assert_eq!(p.updates, p.to_seq - p.from_seq);
    assert!(p.pages >= p.updates.div_ceil(300), "{p:?}");
    assert!(p.frames >= 1 && p.frames <= p.pages);
    assert!(p.notes > 0 && p.update_bytes > 0 && p.initial_state_bytes > 0);
    assert!(p.longest_gap_ms > 0.0 && p.updates_per_s > 0.0);
    assert!(report.storage.bytes_per_update.is_some_and(|b| b > 0.0));
    // With a restart measured, its first edit is held to a target too.
    assert_eq!(report.targets.len(), 3 + usize::from(report.restart.is_some()));
    let json = serde_json::to_value(report).expect("the report serializes");
    for field in ["log", "state", "history_list", "playback", "storage", "targets", "checks"] {
        assert!(!json[field].is_null(), "{field} missing from the JSON");
    }
    let table = report.render();
    for row in ["board at random points", "gap between frames", "bytes per logged update", "targets (issue 6)"] {
        assert!(table.contains(row), "{row} missing from\n{table}");
    }
}

/// The one-shot mode: the tool starts the server binary, builds the history, measures,
/// restarts the server and measures loading the board.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_on_a_server_it_starts() {
    let bin = tokio::task::spawn_blocking(commonboard_bin).await.expect("the server binary");
    let one = OneShot {
        updates: 2000,
        checkpoint_every: Some(200),
        commonboard_bin: bin,
        build_timeout: Duration::from_secs(120),
    };
    let report = replay::run_one_shot(&one, &options()).await.expect("replay");
    assert_measured(&report, 2000);
    assert!(report.log.checkpoints >= 5, "{:?}", report.log);
    assert!(report.storage.bytes_per_checkpoint.is_some_and(|b| b > 0.0));
    assert!(report.storage.sqlite_bytes.is_some_and(|b| b > report.log.update_bytes));
    assert!(report.state.server_cpu_ms_per_request.is_some_and(|ms| ms > 0.0));
    assert_eq!(report.state.by_quarter.iter().map(|q| q.count).sum::<u64>(), 20);
    let built = report.built.as_ref().expect("the history it built");
    assert!(built.complete && built.facilitator_token.is_some());
    assert_eq!(report.playback.notes, built.notes);
    let restart = report.restart.as_ref().expect("the restart was measured");
    assert_eq!(restart.notes, built.notes);
    assert!(restart.first_edit_ms.is_some_and(|edit| edit >= restart.first_sync_ms), "{restart:?}");
    assert_eq!(restart.server_loads, 1, "{restart:?}");
    assert!(restart.server_load_ms.is_some_and(|ms| ms > 0.0), "{restart:?}");
    assert!(restart.first_sync_ms > 0.0 && restart.warm_sync_ms > 0.0 && restart.first_sync_bytes > 0);
    assert!(report.targets.iter().all(|t| t.met.is_some()), "{:?}", report.targets);
}

/// A board on a server the tool did not start, read with the facilitator's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_on_a_running_server() {
    let server = spawn_server().await;
    let scenario = Scenario {
        url: server.url(),
        updates: 600,
        duration: Duration::from_secs(60),
        create_boards: BoardCreation::CommonboardApi,
        seed: 3,
        ..Preset::History.scenario()
    };
    let run = RunOptions { server_pid: None, progress: false, label: String::new(), frames: None };
    let built = history::build(&scenario, &run).await.expect("history");
    assert!(built.complete);
    let target = Target {
        base: format!("http://{}", server.addr),
        board: built.board.clone(),
        token: built.facilitator_token.clone(),
    };
    let report = replay::measure_board(&target, &options()).await.expect("replay");
    assert_measured(&report, 600);
    assert_eq!(report.playback.notes, built.notes);
    assert!(report.restart.is_none() && report.targets[2].met.is_none());
    server.stop().await;
}
