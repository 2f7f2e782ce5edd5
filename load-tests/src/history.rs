//! The history preset: one board with a long update log, for replay and load tests.
//!
//! A writer sends `updates` edits (notes created, moved and typed into), each its own
//! update, as fast as the server takes them. The edits carry no latency marker in the
//! document, as a real client's would not; an observer on a second connection reads
//! the writer's clock in the relayed updates, and the writer keeps at most [`WINDOW`]
//! edits unacknowledged,
//! so the server is never flooded and works with any y-websocket-protocol server
//! (whether or not it echoes a client's own updates). At the end a fresh replica checks
//! that the board holds every note, and the board's id is printed (with the
//! facilitator's token when the board was made through Commonboard's API, for the
//! replay mode, [`crate::replay`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, Transact};

use crate::boards;
use crate::edits::{Editor, Mix};

use crate::peer;
use crate::procstat;
use crate::report::{bytes, cpu_us, Table};
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::wire::{self, Msg, Wire};

/// Edits in flight before the writer waits for the observer.
const WINDOW: u64 = 256;

/// What building a history did.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// The board's id: open it, replay it, load it.
    pub board: String,
    pub url: String,
    /// The facilitator's token, when the board was made with `POST /api/boards`
    /// (`--create-boards`): the history API and the replay mode take it.
    pub facilitator_token: Option<String>,
    pub updates: u64,
    pub elapsed_s: f64,
    pub updates_per_s: f64,
    /// Notes on the board at the end.
    pub notes: u64,
    /// Size of the board's whole state, encoded.
    pub state_bytes: u64,
    /// Whether the server's copy holds exactly the notes created.
    pub complete: bool,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_s_per_update: Option<f64>,
    pub server_rss_bytes: Option<u64>,
}

impl HistoryReport {
    pub fn render(&self) -> String {
        let mut t = Table::new();
        t.row("board", self.board.clone());
        t.row("url", self.url.clone());
        if let Some(token) = &self.facilitator_token {
            t.row("facilitator token", token.clone());
        }
        t.row("updates logged", format!("{} in {:.1} s ({:.0}/s)", self.updates, self.elapsed_s, self.updates_per_s));
        t.row(
            "board at the end",
            format!(
                "{} notes, {} encoded{}",
                self.notes,
                bytes(self.state_bytes as f64),
                if self.complete { "" } else { " (NOT every note!)" }
            ),
        );
        if let Some(cpu) = self.server_cpu_s {
            t.row("server CPU", format!("{cpu:.2} s, {} per update", cpu_us(self.server_cpu_s_per_update)));
        }
        if let Some(rss) = self.server_rss_bytes {
            t.row("server RSS", bytes(rss as f64));
        }
        t.render()
    }
}

/// Builds the board.
pub async fn build(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<HistoryReport> {
    scenario.validate()?;
    anyhow::ensure!(scenario.updates > 0, "--updates must be at least 1");
    let run_id: u32 = rand::random();
    let target =
        boards::prepare(&scenario.url, &scenario.board_prefix, run_id, 1, scenario.create_boards).await?.remove(0);
    let wire = Wire::new(scenario.protocol, &target.name);
    let deadline = Instant::now() + scenario.duration;

    // The writer's edits carry no marker in the document (a real client's would not):
    // the observer acknowledges them by the writer's clock in the updates relayed.
    let mut editor = Editor::new(0, false, scenario.seed).with_mix(Mix::HISTORY).without_markers();
    let writer_client = editor.doc().client_id();

    // The observer: the highest clock of the writer's the server relayed.
    let acked_clock = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Notify::new());
    let mut observer = peer::connect(&target.url).await?;
    if let Some(hello) = wire.hello(&scenario.token) {
        observer.send(WsMessage::Binary(hello.into())).await?;
    }
    observer.send(WsMessage::Binary(wire.step1(&yrs::StateVector::default()).into())).await?;
    wait_synced(&mut observer, &wire, deadline).await?;
    let observe = {
        let (acked_clock, progress, flavor) = (acked_clock.clone(), progress.clone(), wire.flavor());
        tokio::spawn(async move {
            let replica = yrs::Doc::new();
            while let Some(Ok(message)) = observer.next().await {
                let WsMessage::Binary(bytes) = message else {
                    continue;
                };
                let _ = wire::messages(flavor, &bytes, |m| {
                    if let Msg::Update(update) = m {
                        if let Ok(update) = yrs::Update::decode_v1(update) {
                            let _ = replica.transact_mut().apply_update(update);
                        }
                    }
                });
                // The replica's state vector is exact (an update's own is a lower bound).
                let highest = replica.transact().state_vector().get(&writer_client);
                if highest > 0 {
                    acked_clock.fetch_max(u64::from(highest), Ordering::Relaxed);
                    progress.notify_one();
                }
            }
            progress.notify_one();
        })
    };

    // The writer: its reader half only drains what the server sends it.
    let writer = peer::connect(&target.url).await?;
    let (mut sink, mut stream) = writer.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    if let Some(hello) = wire.hello(&scenario.token) {
        sink.send(WsMessage::Binary(hello.into())).await?;
    }
    let server = options.server_pid;
    let cpu_before = server.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    // The writer's clock after each edit not yet acknowledged, oldest first.
    let mut in_flight: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
    let mut acked = 0u64;
    let settle = |in_flight: &mut std::collections::VecDeque<u64>, acked: &mut u64| {
        let clock = acked_clock.load(Ordering::Relaxed);
        while in_flight.front().is_some_and(|&c| c <= clock) {
            in_flight.pop_front();
            *acked += 1;
        }
    };
    for seq in 1..=scenario.updates {
        settle(&mut in_flight, &mut acked);
        while seq > acked + WINDOW {
            anyhow::ensure!(
                Instant::now() < deadline,
                "gave up after {:?}: only {} of {} updates acknowledged",
                scenario.duration,
                acked,
                scenario.updates
            );
            anyhow::ensure!(!observe.is_finished(), "the observer's connection closed");
            let _ = tokio::time::timeout(Duration::from_millis(100), progress.notified()).await;
            settle(&mut in_flight, &mut acked);
        }
        let (_, update) = editor.edit("");
        in_flight.push_back(u64::from(editor.doc().transact().state_vector().get(&writer_client)));
        sink.send(WsMessage::Binary(wire.update(update).into()))
            .await
            .context("the server closed the writer's connection")?;
        if options.progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "{}[{:>5.0}s] history  sent {seq}/{}  acknowledged {}",
                options.label,
                started.elapsed().as_secs_f64(),
                scenario.updates,
                acked
            );
        }
    }
    loop {
        settle(&mut in_flight, &mut acked);
        if acked >= scenario.updates {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "gave up waiting for the last updates to be relayed");
        anyhow::ensure!(!observe.is_finished(), "the observer's connection closed");
        let _ = tokio::time::timeout(Duration::from_millis(100), progress.notified()).await;
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let cpu_after = server.map(|pid| procstat::sample(Some(pid))).transpose()?;
    let _ = sink.close().await;
    drain.abort();
    observe.abort();

    let state =
        peer::fetch_state(&target.url, scenario.protocol, &target.name, &scenario.token, Duration::from_secs(120))
            .await
            .context("cannot fetch the finished board")?;
    let created: BTreeSet<String> = editor.created.iter().cloned().collect();
    let own = editor.doc().transact().state_vector();
    let server_cpu_s = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => Some(b.cpu_s - a.cpu_s),
        _ => None,
    };
    Ok(HistoryReport {
        board: target.name,
        url: target.url,
        facilitator_token: target.facilitator_token,
        updates: scenario.updates,
        elapsed_s,
        updates_per_s: scenario.updates as f64 / elapsed_s,
        notes: state.notes.len() as u64,
        state_bytes: state.encoded.len() as u64,
        complete: state.notes == created
            && state.snapshot.state_map.get(&editor.doc().client_id()) == own.get(&editor.doc().client_id()),
        server_cpu_s,
        server_cpu_s_per_update: server_cpu_s.map(|c| c / scenario.updates as f64),
        server_rss_bytes: cpu_after.map(|s| s.rss_bytes),
    })
}

/// Reads until the server's sync step 2 arrived.
async fn wait_synced(socket: &mut peer::Socket, wire: &Wire, deadline: Instant) -> anyhow::Result<()> {
    loop {
        let message = tokio::time::timeout_at(deadline.into(), socket.next())
            .await
            .context("timed out waiting for the board")?
            .context("connection closed before the board arrived")??;
        if let WsMessage::Binary(bytes) = message {
            let mut synced = false;
            wire::messages(wire.flavor(), &bytes, |m| {
                synced |= matches!(m, Msg::SyncStep2(_));
            })?;
            if synced {
                return Ok(());
            }
        }
    }
}
