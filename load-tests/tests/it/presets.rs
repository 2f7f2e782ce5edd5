//! Each preset at small scale: the report is complete and the replicas converge.

use std::time::Duration;

use commonboard_load_tests::report::Report;
use commonboard_load_tests::run::{self, RunOptions};
use commonboard_load_tests::scenario::{BoardCreation, Preset, Scenario};
use commonboard_load_tests::{bigboard, history};

use crate::spawn_server;

/// A preset shrunk to seconds, aimed at `url`.
fn small(preset: Preset, url: String) -> Scenario {
    Scenario {
        url,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(2),
        drain: Duration::from_secs(10),
        seed: 42,
        ..preset.scenario()
    }
}

fn options() -> RunOptions {
    RunOptions { server_pid: Some(std::process::id()), progress: false, label: String::new(), frames: None }
}

/// Every figure a run reports is there and plausible.
fn assert_complete(report: &Report) {
    let planned = report.connections.planned;
    assert_eq!(report.connections.synced, planned, "{report:#?}");
    assert_eq!(report.connections.failed, 0);
    assert_eq!(report.connections.closed_early, 0);
    assert!(report.edits.sent > 0 && report.edits.measured > 0);
    assert!(report.latency.count > 0, "no latency samples");
    let l = &report.latency;
    assert!(l.p50_ms > 0.0 && l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms);
    assert!(l.p99_ms <= l.p999_ms && l.p999_ms <= l.max_ms);
    assert!(report.delivery.updates_per_s > 0.0);
    assert_eq!(report.delivery.missing, 0, "{:?}", report.delivery);
    assert!(report.delivery.delivered >= report.delivery.expected);
    assert!(report.delivery.frames_received > 0 && report.delivery.bytes_received > 0);
    assert_eq!(report.errors.count, 0, "{:?}", report.errors);
    let v = &report.convergence;
    assert!(v.converged, "{:?}", v.problems);
    assert!(v.boards_checked > 0 && v.replicas_compared > v.boards_checked);
    assert!(v.notes_expected > 0);
    let server = report.server.as_ref().expect("server figures");
    assert!(server.cpu_s > 0.0 && server.rss_peak_bytes > 0);
    assert!(server.cpu_s_per_delivered_update.is_some() && server.cpu_s_per_edit.is_some());
    assert!(report.window_s >= 2.0);
    let json = serde_json::to_value(report).expect("report serializes");
    for field in [
        "scenario",
        "connections",
        "edits",
        "latency",
        "cursor_latency",
        "delivery",
        "errors",
        "convergence",
        "server",
        "tool",
    ] {
        assert!(!json[field].is_null(), "{field} missing from the JSON");
    }
    assert!(report.render().contains("p99.9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workshop() {
    let server = spawn_server().await;
    let scenario = Scenario { editors: 5, ..small(Preset::Workshop, server.url()) };
    let report = run::run(&scenario, &options()).await.expect("run");
    assert_complete(&report);
    assert!(report.cursor_latency.count > 0, "cursor moves were timed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn townhall() {
    let server = spawn_server().await;
    let scenario = Scenario { editors: 20, edit_rate: 2.0, ..small(Preset::Townhall, server.url()) };
    let report = run::run(&scenario, &options()).await.expect("run");
    assert_complete(&report);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_boards_with_boards_made_through_the_api() {
    let server = spawn_server().await;
    let scenario = Scenario {
        boards: 5,
        editors: 3,
        edit_rate: 2.0,
        create_boards: BoardCreation::CommonboardApi,
        ..small(Preset::ManyBoards, server.url())
    };
    let report = run::run(&scenario, &options()).await.expect("run");
    assert_complete(&report);
    assert_eq!(report.convergence.boards_checked, 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_board() {
    let server = spawn_server().await;
    let scenario =
        Scenario { editors: 4, prefill_bytes: 60_000, baseline_bytes: 5_000, ..small(Preset::BigBoard, server.url()) };
    let report = bigboard::run(&scenario, &options()).await.expect("run");
    assert_complete(&report.small);
    assert_complete(&report.big);
    assert!(report.big.convergence.notes_expected > report.small.convergence.notes_expected);
    assert!(report.ratio.is_some());
    assert!(report.render().contains("ratio (big / small)"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history() {
    let server = spawn_server().await;
    let scenario = Scenario { updates: 500, duration: Duration::from_secs(30), ..small(Preset::History, server.url()) };
    let report = history::build(&scenario, &options()).await.expect("build");
    assert!(report.complete, "{report:#?}");
    assert_eq!(report.updates, 500);
    assert!(report.notes > 0 && report.state_bytes > 0);
    assert!(report.board.starts_with("load-"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_elsewhere_is_refused() {
    let scenario = small(Preset::Workshop, "ws://192.0.2.1:8080/ws/{board}".into());
    let error = run::run(&scenario, &options()).await.unwrap_err();
    assert!(format!("{error:#}").contains("loopback"));
}
