//! Webhooks: board events posted to URLs other tools listen on (a vote's result, a
//! workshop step, actions added or changed, a restore, a lock).
//!
//! The road of one event: the board actor commits its writes as always; the store it
//! writes through is wrapped by [`tap::Tapped`], which, once the commit is durable and
//! only if some hook follows that board, puts a small [`Notice`] in a bounded queue
//! (full: the notice is dropped with a warning; the board never waits). The
//! [`worker`] debounces each board's notices (`--webhook-debounce`), reads what the
//! event needs from the store (the tally, the actions' changes) and hands each hook's
//! payload to [`deliver`], which checks the address against `--webhook-allow`, signs
//! the body and posts it, retrying with backoff. Every delivery is recorded with its
//! status; `GET /api/boards/{id}/webhooks` lists the recent ones.
//!
//! Hooks: a board's facilitator registers them (`POST /api/boards/{id}/webhooks`),
//! and the operator sets server-wide ones (`--webhook URL` with `--webhook-secret`),
//! which follow every board. A board's hooks are rows of the store (with the secret
//! signing needs): the server reads them all when it starts ([`Webhooks::restore`]) and
//! keeps them in memory, so the check made on every commit stays one map lookup; a
//! registration or a deletion is committed to the store before it is answered.

pub mod deliver;
pub mod tap;
pub mod worker;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::store::StoredWebhook;

/// Notices waiting for the worker; more are dropped (with a warning), never waited for.
pub const QUEUE: usize = 1024;
/// Deliveries remembered per board, newest last.
pub const RECORDED: usize = 50;
/// Hooks one board may have.
pub const MAX_HOOKS_PER_BOARD: usize = 10;

/// Why a hook is refused or a delivery did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebhookError {
    #[error("not an http(s) URL: {0}")]
    BadUrl(String),
    #[error("{0} is not in --webhook-allow (private and loopback addresses need an explicit CIDR)")]
    NotAllowed(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
    #[error("unknown event {0:?}; known: {1}")]
    UnknownEvent(String, String),
    #[error("a board has at most {MAX_HOOKS_PER_BOARD} webhooks")]
    TooMany,
    #[error("--webhook-allow: {0}")]
    BadAllow(String),
}

/// The events a hook may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A vote closed (or, for a hidden vote, its result was revealed), with its result.
    #[serde(rename = "vote.closed")]
    VoteClosed,
    /// The workshop moved to another step.
    #[serde(rename = "workshop.step_changed")]
    StepChanged,
    /// Actions were added, changed or deleted (debounced: one delivery per burst).
    #[serde(rename = "actions.changed")]
    ActionsChanged,
    /// The board was restored to an earlier point.
    #[serde(rename = "board.restored")]
    Restored,
    /// The board was locked or unlocked.
    #[serde(rename = "board.locked")]
    Locked,
}

impl Event {
    pub const ALL: [Event; 5] =
        [Event::VoteClosed, Event::StepChanged, Event::ActionsChanged, Event::Restored, Event::Locked];

    pub fn name(self) -> &'static str {
        match self {
            Event::VoteClosed => "vote.closed",
            Event::StepChanged => "workshop.step_changed",
            Event::ActionsChanged => "actions.changed",
            Event::Restored => "board.restored",
            Event::Locked => "board.locked",
        }
    }

    pub fn parse(name: &str) -> Result<Event, WebhookError> {
        Event::ALL.into_iter().find(|e| e.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
            WebhookError::UnknownEvent(name.to_owned(), known.join(", "))
        })
    }
}

/// A registered hook.
#[derive(Clone)]
pub struct Hook {
    pub id: String,
    pub url: reqwest::Url,
    pub secret: String,
    /// Empty: every event.
    pub events: Vec<Event>,
    /// Set by the operator (`--webhook`), for every board.
    pub server_wide: bool,
    /// Who registered it: the facilitator's person id, `facilitator` for a link without
    /// one, `operator` for a `--webhook`.
    pub registered_by: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// Shown without the secret, so a hook can be logged.
impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("id", &self.id)
            .field("url", &self.url.as_str())
            .field("events", &self.events)
            .field("server_wide", &self.server_wide)
            .field("registered_by", &self.registered_by)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

impl Hook {
    pub fn follows(&self, event: Event) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }

    /// The row keeping a board's hook in the store.
    pub fn stored(&self, board: &str) -> StoredWebhook {
        StoredWebhook {
            board: board.to_owned(),
            id: self.id.clone(),
            url: self.url.as_str().to_owned(),
            events: self.events.iter().map(|e| e.name().to_owned()).collect(),
            secret: self.secret.clone(),
            registered_by: self.registered_by.clone(),
            created_at_ms: self.created_at_ms,
        }
    }

    /// A board's hook read back from the store. Its URL is not checked against
    /// `--webhook-allow` here: the list may have changed since, and every delivery is
    /// checked (and refused, recorded as such) anyway.
    pub fn from_stored(row: &StoredWebhook) -> Result<Hook, WebhookError> {
        Ok(Hook {
            id: row.id.clone(),
            url: deliver::parse_url(&row.url)?,
            secret: row.secret.clone(),
            events: row.events.iter().map(|e| Event::parse(e)).collect::<Result<_, _>>()?,
            server_wide: false,
            registered_by: row.registered_by.clone(),
            created_at_ms: row.created_at_ms,
        })
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub hook: String,
    pub event: String,
    /// `pending`, `delivered`, `failed` (every attempt failed) or `refused` (the
    /// address is not allowed).
    pub status: String,
    pub attempts: u32,
    /// The receiver's last HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was first attempted, RFC 3339.
    pub at: String,
}

/// What the store tap tells the worker after a commit.
#[derive(Debug)]
pub struct Notice {
    pub board: String,
    /// History events committed (a `Change` each).
    pub changes: Vec<commonboard_protocol::history::Change>,
    /// The document changed (actions may have) from this point on.
    pub document: Option<u64>,
}

/// The operator's webhook settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow: deliver::Allow,
    pub debounce: Duration,
    /// First retry delay; doubled for each next attempt.
    pub backoff: Duration,
    pub attempts: u32,
    pub server_hooks: Vec<Hook>,
}

/// Hooks, the queue and the record of deliveries: shared by the routes, the store tap
/// and the worker.
pub struct Webhooks {
    pub settings: Settings,
    hooks: Mutex<HashMap<String, Vec<Hook>>>,
    deliveries: Mutex<HashMap<String, VecDeque<Delivery>>>,
    queue: mpsc::Sender<Notice>,
}

impl Webhooks {
    /// The service and the receiving end of its queue (for [`worker::run`]).
    pub fn new(settings: Settings) -> (Arc<Webhooks>, mpsc::Receiver<Notice>) {
        let (queue, notices) = mpsc::channel(QUEUE);
        let hooks = Arc::new(Webhooks {
            settings,
            hooks: Mutex::new(HashMap::new()),
            deliveries: Mutex::new(HashMap::new()),
            queue,
        });
        (hooks, notices)
    }

    /// Whether anything follows `board` (checked on every commit: one map lookup).
    pub fn follows(&self, board: &str) -> bool {
        !self.settings.server_hooks.is_empty() || self.hooks.lock().expect("hooks").contains_key(board)
    }

    /// The hooks following `board`.
    pub fn hooks_of(&self, board: &str) -> Vec<Hook> {
        let mut hooks = self.settings.server_hooks.clone();
        hooks.extend(self.hooks.lock().expect("hooks").get(board).cloned().unwrap_or_default());
        hooks
    }

    /// Registers a board's hook after checking its URL; returns it (with its secret).
    /// In memory only: the caller commits [`Hook::stored`] to the store (and
    /// [`Webhooks::remove`]s the hook again if that fails).
    pub fn register(
        &self,
        board: &str,
        url: &str,
        events: &[String],
        registered_by: &str,
    ) -> Result<Hook, WebhookError> {
        let url = deliver::parse_url(url)?;
        self.settings.allow.check_host(&url)?;
        let events = events.iter().map(|e| Event::parse(e)).collect::<Result<Vec<_>, _>>()?;
        let hook = Hook {
            id: format!("hook_{:016x}", rand::random::<u64>()),
            url,
            secret: format!("whsec_{:032x}", rand::random::<u128>()),
            events,
            server_wide: false,
            registered_by: registered_by.to_owned(),
            created_at_ms: crate::board::now_ms(),
        };
        let mut hooks = self.hooks.lock().expect("hooks");
        let list = hooks.entry(board.to_owned()).or_default();
        if list.len() >= MAX_HOOKS_PER_BOARD {
            return Err(WebhookError::TooMany);
        }
        list.push(hook.clone());
        Ok(hook)
    }

    /// Puts back the hooks the store kept (when the server starts); returns how many.
    /// A row that no longer parses (an event this version does not know) is skipped
    /// with a warning, never delivered to half-understood.
    pub fn restore(&self, rows: &[StoredWebhook]) -> usize {
        let mut hooks = self.hooks.lock().expect("hooks");
        let mut restored = 0;
        for row in rows {
            match Hook::from_stored(row) {
                Ok(hook) => {
                    let list = hooks.entry(row.board.clone()).or_default();
                    list.retain(|h| h.id != hook.id);
                    list.push(hook);
                    restored += 1;
                }
                Err(error) => {
                    tracing::warn!(board = %row.board, hook = %row.id, %error, "a stored webhook is not restored");
                }
            }
        }
        restored
    }

    /// Whether `board` has a registered hook of that id.
    pub fn has(&self, board: &str, hook: &str) -> bool {
        self.hooks.lock().expect("hooks").get(board).is_some_and(|list| list.iter().any(|h| h.id == hook))
    }

    /// Removes a board's hook; false when it had none of that id.
    pub fn remove(&self, board: &str, hook: &str) -> bool {
        let mut hooks = self.hooks.lock().expect("hooks");
        let Some(list) = hooks.get_mut(board) else { return false };
        let before = list.len();
        list.retain(|h| h.id != hook);
        let removed = list.len() < before;
        if list.is_empty() {
            hooks.remove(board);
        }
        removed
    }

    /// Queues a notice; never waits.
    pub fn notify(&self, notice: Notice) {
        if let Err(error) = self.queue.try_send(notice) {
            let board = match &error {
                mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => n.board.clone(),
            };
            tracing::warn!(%board, "webhook queue full or stopped: an event is not delivered");
        }
    }

    /// Records a delivery's new state (by its id).
    pub fn record(&self, board: &str, delivery: Delivery) {
        let mut all = self.deliveries.lock().expect("deliveries");
        let list = all.entry(board.to_owned()).or_default();
        if let Some(known) = list.iter_mut().find(|d| d.id == delivery.id) {
            *known = delivery;
            return;
        }
        if list.len() >= RECORDED {
            list.pop_front();
        }
        list.push_back(delivery);
    }

    /// A board's recent deliveries, newest first.
    pub fn deliveries(&self, board: &str) -> Vec<Delivery> {
        let all = self.deliveries.lock().expect("deliveries");
        all.get(board).map(|list| list.iter().rev().cloned().collect()).unwrap_or_default()
    }
}
