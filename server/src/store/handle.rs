//! The store as async code calls it: a cloneable [`Handle`] whose reads run on tokio's blocking pool.
//!
//! The [`Store`] trait is synchronous (SQLite and the `postgres` client block, and the
//! PostgreSQL client must not block on an async worker thread). [`on_pool`] is the one
//! place the store's async callers leave the runtime; a panic there carries on in the
//! caller, as if the call had been made in place.

use std::path::Path;
use std::sync::Arc;

use super::{
    BoardRecord, Committed, LogEntry, LogStats, Store, StoreError, StoreLocation, StoredBoard, StoredVote,
    StoredWebhook, Write,
};

/// A shared store, called from async code.
#[derive(Clone)]
pub struct Handle(Arc<dyn Store>);

impl From<Arc<dyn Store>> for Handle {
    fn from(store: Arc<dyn Store>) -> Self {
        Handle(store)
    }
}

impl Handle {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Handle(store)
    }

    /// Opens the store at `location` (see [`super::open`]) off the async runtime.
    pub async fn open(location: &StoreLocation, data_dir: &Path) -> Result<Self, StoreError> {
        let (location, data_dir) = (location.clone(), data_dir.to_owned());
        on_pool(move || super::open(&location, &data_dir)).await.map(Handle)
    }

    /// The synchronous store, for code that hands it on (a board actor, the webhook tap).
    pub fn shared(&self) -> &Arc<dyn Store> {
        &self.0
    }

    /// What kind of store this is (`sqlite`, `postgres`).
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// Queues writes to be committed together; never blocks (see [`Store::submit`]).
    pub fn submit(&self, writes: Vec<Write>) -> Committed {
        self.0.submit(writes)
    }

    /// Runs `read`, which may call the store and block (history replay, several reads
    /// in a row), on the blocking pool.
    pub async fn blocking<T, E>(&self, read: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.0.clone();
        on_pool(move || read(store.as_ref())).await
    }

    /// See [`Store::board`].
    pub async fn board(&self, id: &str) -> Result<Option<BoardRecord>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |store| store.board(&id)).await
    }

    /// See [`Store::load`].
    pub async fn load(&self, id: &str) -> Result<Option<StoredBoard>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |store| store.load(&id)).await
    }

    /// See [`Store::votes`].
    pub async fn votes(&self, id: &str) -> Result<Vec<StoredVote>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |store| store.votes(&id)).await
    }

    /// See [`Store::log`].
    pub async fn log(&self, id: &str, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |store| store.log(&id, from, to)).await
    }

    /// See [`Store::log_stats`].
    pub async fn log_stats(&self, id: &str) -> Result<LogStats, StoreError> {
        let id = id.to_owned();
        self.blocking(move |store| store.log_stats(&id)).await
    }

    /// See [`Store::board_ids`].
    pub async fn board_ids(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|store| store.board_ids()).await
    }

    /// See [`Store::webhooks`].
    pub async fn webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError> {
        self.blocking(|store| store.webhooks()).await
    }

    /// See [`Store::ping`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|store| store.ping()).await
    }

    /// Commits what is queued and stops writing (see [`Store::close`]).
    pub async fn close(&self) {
        let closed: Result<(), StoreError> = self
            .blocking(|store| {
                store.close();
                Ok(())
            })
            .await;
        if let Err(error) = closed {
            tracing::error!(%error, "closing the store failed");
        }
    }
}

/// Runs a blocking call on tokio's blocking pool. A panic in it resumes in the caller;
/// a call the runtime dropped unstarted (it is shutting down) fails as [`StoreError::Closed`].
pub(in crate::store) async fn on_pool<T, E>(call: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(StoreError::Closed.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn sqlite(dir: &Path) -> Handle {
        Handle::new(Arc::new(SqliteStore::open(dir).expect("a fresh store opens")))
    }

    #[tokio::test]
    async fn reads_answer_as_the_store_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path());
        assert!(store.load("nothing").await.unwrap().is_none());
        assert!(store.board_ids().await.unwrap().is_empty());
        store.ping().await.unwrap();
        let ids = store.blocking(|store| store.board_ids().map(|ids| ids.len())).await.unwrap();
        assert_eq!(ids, 0);
        store.close().await;
        let closed = super::super::committed(store.submit(Vec::new())).await;
        assert!(matches!(closed, Err(StoreError::Closed)), "{closed:?}");
    }

    #[tokio::test]
    async fn a_panic_on_the_pool_carries_on_in_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path());
        let reader = store.clone();
        let task = tokio::spawn(async move {
            reader.blocking(|_| -> Result<(), StoreError> { panic!("a read went wrong") }).await
        });
        let panicked = task.await.expect_err("the caller panics");
        assert!(panicked.is_panic());
        // The store is still there for others.
        store.ping().await.unwrap();
    }

    #[test]
    fn driver_errors_become_the_stores_own_kinds() {
        let sqlite = StoreError::from(rusqlite::Error::InvalidQuery);
        assert!(matches!(&sqlite, StoreError::Database { engine: "SQLite", .. }), "{sqlite:?}");
        assert!(sqlite.to_string().starts_with("SQLite error: "), "{sqlite}");
    }
}
