//! A store that tells the webhooks what was committed: every other call goes straight
//! to the store it wraps. A batch for a board nobody follows passes untouched; for a
//! followed board, the notice is made before the batch is submitted and queued only
//! once the store says it is durable.

use std::sync::Arc;

use commonboard_protocol::history::{Change, ChangeKind};
use tokio::sync::oneshot;

use super::{Notice, Webhooks};
use crate::store::{
    Activity, BoardEvent, BoardRecord, Checkpoint, Committed, LogEntry, LogQuery, LogStats, Store, StoreError,
    StoredBoard, StoredVote, StoredWebhook, Write,
};

/// The wrapped store.
pub struct Tapped {
    inner: Arc<dyn Store>,
    hooks: Arc<Webhooks>,
}

impl Tapped {
    pub fn new(inner: Arc<dyn Store>, hooks: Arc<Webhooks>) -> Self {
        Tapped { inner, hooks }
    }
}

/// The kinds of history event a webhook reports.
fn reported(change: &Change) -> bool {
    matches!(
        change.kind,
        ChangeKind::VoteClosed
            | ChangeKind::VoteRevealed
            | ChangeKind::StepChanged
            | ChangeKind::Restored
            | ChangeKind::Locked
            | ChangeKind::Unlocked
    )
}

/// What a batch holds for the webhooks, when it concerns one board someone follows.
fn notice(hooks: &Webhooks, writes: &[Write]) -> Option<Notice> {
    let mut board: Option<&str> = None;
    let mut changes = Vec::new();
    let mut document = None;
    for write in writes {
        match write {
            Write::Append { board: id, entries } if !entries.is_empty() => {
                board = Some(id);
                document = document.or(Some(entries[0].seq));
            }
            Write::Event { board: id, event } => {
                board = Some(id);
                if let Ok(change) = serde_json::from_str::<Change>(&event.change_json) {
                    if reported(&change) {
                        changes.push(change);
                    }
                }
            }
            _ => {}
        }
    }
    let board = board?;
    if (changes.is_empty() && document.is_none()) || !hooks.follows(board) {
        return None;
    }
    Some(Notice { board: board.to_owned(), changes, document })
}

impl Store for Tapped {
    fn submit(&self, writes: Vec<Write>) -> Committed {
        let Some(notice) = notice(&self.hooks, &writes) else { return self.inner.submit(writes) };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return self.inner.submit(writes) };
        let committed = self.inner.submit(writes);
        let (tell, told) = oneshot::channel();
        let hooks = self.hooks.clone();
        runtime.spawn(async move {
            let result = committed.await.unwrap_or(Err(StoreError::Closed));
            if result.is_ok() {
                hooks.notify(notice);
            }
            let _ = tell.send(result);
        });
        told
    }
    fn board(&self, id: &str) -> Result<Option<BoardRecord>, StoreError> {
        self.inner.board(id)
    }
    fn load(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        self.inner.load(id)
    }
    fn votes(&self, id: &str) -> Result<Vec<StoredVote>, StoreError> {
        self.inner.votes(id)
    }
    fn log(&self, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
        self.inner.log(id, from, to)
    }
    fn checkpoint_at_or_before(&self, id: &str, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint_at_or_before(id, seq)
    }
    fn seq_at_time(&self, id: &str, at_ms: i64) -> Result<Option<(u64, i64)>, StoreError> {
        self.inner.seq_at_time(id, at_ms)
    }
    fn query_log(&self, id: &str, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        self.inner.query_log(id, query)
    }
    fn events(&self, id: &str, from: u64, to: u64) -> Result<Vec<BoardEvent>, StoreError> {
        self.inner.events(id, from, to)
    }
    fn summaries(&self, id: &str, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError> {
        self.inner.summaries(id, from, to)
    }
    fn last_seq(&self, id: &str) -> Result<u64, StoreError> {
        self.inner.last_seq(id)
    }
    fn log_stats(&self, id: &str) -> Result<LogStats, StoreError> {
        self.inner.log_stats(id)
    }
    fn activity(&self, id: &str, buckets: u32) -> Result<Activity, StoreError> {
        self.inner.activity(id, buckets)
    }
    fn authors(&self, id: &str) -> Result<Vec<crate::store::Author>, StoreError> {
        self.inner.authors(id)
    }
    fn workshop(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.inner.workshop(id)
    }
    fn board_ids(&self) -> Result<Vec<String>, StoreError> {
        self.inner.board_ids()
    }
    fn webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError> {
        self.inner.webhooks()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping()
    }
    fn shared_signing_key(&self) -> Result<Option<String>, StoreError> {
        self.inner.shared_signing_key()
    }
    fn close(&self) {
        self.inner.close()
    }
}
