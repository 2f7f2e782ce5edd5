//! The webhook worker: gathers each board's notices for `--webhook-debounce` after the
//! first, then makes one payload per event (the vote's result read from the store, the
//! actions compared with what the previous delivery saw) and delivers it to every hook
//! that follows it, each delivery on its own task, at most [`PARALLEL`] at once.

use std::collections::HashMap;
use std::sync::Arc;

use commonboard_protocol::history::{Change, ChangeKind};
use commonboard_protocol::schema::{self, Action};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use yrs::Transact;

use super::deliver::{self, Attempt};
use super::{Delivery, Event, Hook, Notice, Webhooks};
use crate::board::now_ms;
use crate::history;
use crate::store::Handle;
use crate::vote::Vote;

/// Deliveries in flight at once, over every board.
pub const PARALLEL: usize = 16;

/// One board's notices waiting for their debounce to end.
struct Pending {
    due: Instant,
    changes: Vec<Change>,
    document: bool,
}

/// Runs until `shutdown`.
pub async fn run(
    hooks: Arc<Webhooks>,
    store: Handle,
    mut notices: mpsc::Receiver<Notice>,
    shutdown: CancellationToken,
) {
    let mut pending: HashMap<String, Pending> = HashMap::new();
    // Each board's actions as the last delivery (or the first notice) saw them.
    let seen: Arc<std::sync::Mutex<HashMap<String, Vec<Action>>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(PARALLEL));
    loop {
        let next = pending.values().map(|p| p.due).min();
        let sleep = async move {
            match next {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            notice = notices.recv() => {
                let Some(notice) = notice else { return };
                let debounce = hooks.settings.debounce;
                let entry = pending.entry(notice.board.clone()).or_insert_with(|| Pending {
                    due: Instant::now() + debounce,
                    changes: Vec::new(),
                    document: false,
                });
                entry.changes.extend(notice.changes);
                entry.document |= notice.document.is_some();
                if let Some(first) = notice.document {
                    remember_actions_before(&store, &seen, &notice.board, first).await;
                }
            }
            _ = sleep => {
                let now = Instant::now();
                let due: Vec<String> = pending.iter().filter(|(_, p)| p.due <= now).map(|(b, _)| b.clone()).collect();
                for board in due {
                    let batch = pending.remove(&board).expect("listed");
                    let (hooks, store, seen, slots) = (hooks.clone(), store.clone(), seen.clone(), slots.clone());
                    tokio::spawn(async move { flush(hooks, store, seen, slots, board, batch).await });
                }
            }
        }
    }
}

/// The board's actions now, read from the store on the blocking pool.
async fn actions_now(store: &Handle, board: &str) -> Option<Vec<Action>> {
    let board = board.to_owned();
    let read = store.blocking(move |store| -> Result<Vec<Action>, history::HistoryError> {
        let last = store.last_seq(&board)?;
        let now = history::board_at(store, &board, last)?;
        let actions = schema::Board::new(&now.doc).snapshot(&now.doc.transact()).actions;
        Ok(actions)
    });
    match read.await {
        Ok(actions) => Some(actions),
        Err(error) => {
            tracing::error!(%error, "webhooks: cannot read the board's actions");
            None
        }
    }
}

/// The first notice of a board whose actions were never seen: the actions before it
/// are those of the point before its first update.
async fn remember_actions_before(
    store: &Handle,
    seen: &Arc<std::sync::Mutex<HashMap<String, Vec<Action>>>>,
    board: &str,
    first: u64,
) {
    if seen.lock().expect("seen actions").contains_key(board) {
        return;
    }
    let id = board.to_owned();
    let before = store
        .blocking(move |store| -> Result<Vec<Action>, history::HistoryError> {
            let past = history::board_at(store, &id, first.saturating_sub(1))?;
            let actions = schema::Board::new(&past.doc).snapshot(&past.doc.transact()).actions;
            Ok(actions)
        })
        .await;
    if let Ok(actions) = before {
        seen.lock().expect("seen actions").entry(board.to_owned()).or_insert(actions);
    }
}

/// What changed between two lists of actions.
fn compare(before: &[Action], now: &[Action]) -> Option<serde_json::Value> {
    let added: Vec<&Action> = now.iter().filter(|a| !before.iter().any(|b| b.id == a.id)).collect();
    let changed: Vec<&Action> = now.iter().filter(|a| before.iter().any(|b| b.id == a.id && b != *a)).collect();
    let deleted: Vec<&str> =
        before.iter().filter(|b| !now.iter().any(|a| a.id == b.id)).map(|b| b.id.as_str()).collect();
    if added.is_empty() && changed.is_empty() && deleted.is_empty() {
        return None;
    }
    Some(serde_json::json!({ "added": added, "changed": changed, "deleted": deleted, "actions": now }))
}

async fn flush(
    hooks: Arc<Webhooks>,
    store: Handle,
    seen: Arc<std::sync::Mutex<HashMap<String, Vec<Action>>>>,
    slots: Arc<Semaphore>,
    board: String,
    batch: Pending,
) {
    let mut payloads: Vec<(Event, serde_json::Value)> = Vec::new();
    for change in &batch.changes {
        match change.kind {
            ChangeKind::VoteClosed | ChangeKind::VoteRevealed => {
                if let Some(vote) = vote_result(&store, &board, change.id.as_deref()).await {
                    // A hidden vote's result is sent when it is revealed, not at closing.
                    let shown = vote.get("tally").is_some_and(|t| !t.is_null());
                    if shown {
                        payloads.push((Event::VoteClosed, serde_json::json!({ "vote": vote })));
                    }
                }
            }
            ChangeKind::StepChanged => {
                payloads.retain(|(e, _)| *e != Event::StepChanged);
                payloads.push((Event::StepChanged, serde_json::json!({ "step": change.label })));
            }
            ChangeKind::Restored => {
                payloads.push((Event::Restored, serde_json::json!({ "restored_to": change.to_seq })));
            }
            ChangeKind::Locked | ChangeKind::Unlocked => {
                payloads.retain(|(e, _)| *e != Event::Locked);
                payloads.push((Event::Locked, serde_json::json!({ "locked": change.kind == ChangeKind::Locked })));
            }
            _ => {}
        }
    }
    if batch.document {
        if let Some(now) = actions_now(&store, &board).await {
            let before = seen.lock().expect("seen actions").insert(board.clone(), now.clone()).unwrap_or_default();
            if let Some(data) = compare(&before, &now) {
                payloads.push((Event::ActionsChanged, data));
            }
        }
    }
    let title = store.board(&board).await.ok().flatten().map(|r| r.title);
    for hook in hooks.hooks_of(&board) {
        for (event, data) in &payloads {
            if !hook.follows(*event) {
                continue;
            }
            let body = serde_json::json!({
                "event": event.name(),
                "board": { "id": board, "title": title },
                "at": history::rfc3339(now_ms()),
                "data": data,
            });
            let (hooks, hook, board, slots) = (hooks.clone(), hook.clone(), board.clone(), slots.clone());
            let event = *event;
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else { return };
                send(&hooks, &hook, &board, event, body).await;
            });
        }
    }
}

/// The vote's public view (its result, as every participant sees it once shown).
async fn vote_result(store: &Handle, board: &str, vote: Option<&str>) -> Option<serde_json::Value> {
    let vote = vote?;
    let votes = store.votes(board).await.ok()?;
    let found = votes.iter().filter_map(Vote::from_stored).find(|v| v.id == vote)?;
    serde_json::to_value(found.view(false)).ok()
}

/// Delivers one payload to one hook, retrying, recording each step.
async fn send(hooks: &Webhooks, hook: &Hook, board: &str, event: Event, body: serde_json::Value) {
    let body = serde_json::to_vec(&body).expect("a payload serializes");
    let mut delivery = Delivery {
        id: format!("dlv_{:016x}", rand::random::<u64>()),
        hook: hook.id.clone(),
        event: event.name().into(),
        status: "pending".into(),
        attempts: 0,
        http_status: None,
        error: None,
        at: history::rfc3339(now_ms()),
    };
    let settings = &hooks.settings;
    let mut delay = settings.backoff;
    loop {
        delivery.attempts += 1;
        let timestamp = now_ms() / 1000;
        let headers = [
            ("commonboard-event", event.name().to_owned()),
            ("commonboard-delivery", delivery.id.clone()),
            ("commonboard-timestamp", timestamp.to_string()),
            ("commonboard-signature", deliver::sign(&hook.secret, timestamp, &body)),
        ];
        match deliver::attempt(&settings.allow, &hook.url, &headers, &body).await {
            Attempt::Delivered(status) => {
                delivery.status = "delivered".into();
                delivery.http_status = Some(status);
                delivery.error = None;
                hooks.record(board, delivery);
                return;
            }
            Attempt::Refused(status, error) => {
                tracing::warn!(%board, hook = %hook.id, %error, "webhook delivery refused");
                delivery.status = "refused".into();
                delivery.http_status = status;
                delivery.error = Some(error);
                hooks.record(board, delivery);
                return;
            }
            Attempt::Failed(status, error) => {
                delivery.http_status = status;
                delivery.error = Some(error.clone());
                if delivery.attempts >= settings.attempts {
                    tracing::warn!(%board, hook = %hook.id, %error, attempts = delivery.attempts, "webhook delivery failed");
                    delivery.status = "failed".into();
                    hooks.record(board, delivery);
                    return;
                }
                hooks.record(board, delivery.clone());
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}
