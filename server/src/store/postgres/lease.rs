//! Board leases: which node owns each loaded board when several nodes share the database.
//!
//! A lease is one row of `board_leases` (migration 3): the board, the node holding it
//! and when it expires, in the database's own clock so that nodes' clocks need not
//! agree. Taking a lease is one atomic upsert that succeeds only when the row is absent,
//! expired, or already this node's; renewing succeeds only while the row is still this
//! node's. The calls are async: each runs on tokio's blocking pool, as the store's do.

use std::sync::Arc;
use std::time::Duration;

use ::postgres::{Config, NoTls};
use r2d2_postgres::PostgresConnectionManager;

use crate::store::handle::on_pool;
use crate::store::StoreError;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Connections kept for lease calls (renewals of every owned board share them).
const POOL_SIZE: u32 = 4;

/// The lease table of one database.
pub struct Leases {
    /// `None` only while dropping.
    pool: Option<Pool>,
    ttl_ms: i64,
}

impl Drop for Leases {
    /// The pool's connections close on a thread of their own: the PostgreSQL client runs
    /// a runtime of its own, which must not be dropped on the server's async runtime.
    /// Not on tokio's blocking pool: the leases may be dropped while the runtime shuts
    /// down, when that pool takes no more work and drops what it is given right away,
    /// on the calling thread.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl Leases {
    /// Connects to the database at a `postgres://` URL (its schema already migrated by
    /// the store). Leases last `ttl` unless renewed.
    pub async fn connect(url: &str, ttl: Duration) -> Result<Arc<Self>, StoreError> {
        let url = url.to_owned();
        on_pool(move || Self::connect_now(&url, ttl).map(Arc::new)).await
    }

    fn connect_now(url: &str, ttl: Duration) -> Result<Self, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|error| StoreError::Unusable(format!("invalid PostgreSQL URL {}: {error}", super::redact(url))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(PostgresConnectionManager::new(config, NoTls))?;
        Ok(Leases { pool: Some(pool), ttl_ms: ttl.as_millis() as i64 })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        Ok(self.pool.as_ref().ok_or(StoreError::Closed)?.get()?)
    }

    /// Takes `board`'s lease for `node` if nobody else holds a live one; returns the
    /// node holding it afterwards (this one when taken).
    pub async fn acquire(self: &Arc<Self>, board: &str, node: &str) -> Result<String, StoreError> {
        let (leases, board, node) = (self.clone(), board.to_owned(), node.to_owned());
        on_pool(move || leases.acquire_now(&board, &node)).await
    }

    fn acquire_now(&self, board: &str, node: &str) -> Result<String, StoreError> {
        let mut conn = self.conn()?;
        let taken = conn.query_opt(
            "INSERT INTO board_leases (board, node, expires_at)
                 VALUES ($1, $2, now() + make_interval(secs => $3::BIGINT / 1000.0))
             ON CONFLICT (board) DO UPDATE SET node = EXCLUDED.node, expires_at = EXCLUDED.expires_at
                 WHERE board_leases.expires_at < now() OR board_leases.node = EXCLUDED.node
             RETURNING node",
            &[&board, &node, &self.ttl_ms],
        )?;
        if let Some(row) = taken {
            return Ok(row.get(0));
        }
        Ok(self.holder_now(board)?.unwrap_or_default())
    }

    /// Extends `node`'s lease on `board`; false when it is no longer this node's.
    pub async fn renew(self: &Arc<Self>, board: &str, node: &str) -> Result<bool, StoreError> {
        let (leases, board, node) = (self.clone(), board.to_owned(), node.to_owned());
        on_pool(move || leases.renew_now(&board, &node)).await
    }

    fn renew_now(&self, board: &str, node: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let renewed = conn.execute(
            "UPDATE board_leases SET expires_at = now() + make_interval(secs => $3::BIGINT / 1000.0)
             WHERE board = $1 AND node = $2",
            &[&board, &node, &self.ttl_ms],
        )?;
        Ok(renewed == 1)
    }

    /// Gives up `node`'s lease on `board` (a board unloading), so another node need not
    /// wait for it to expire.
    pub async fn release(self: &Arc<Self>, board: &str, node: &str) -> Result<(), StoreError> {
        let (leases, board, node) = (self.clone(), board.to_owned(), node.to_owned());
        on_pool(move || leases.release_now(&board, &node)).await
    }

    fn release_now(&self, board: &str, node: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute("DELETE FROM board_leases WHERE board = $1 AND node = $2", &[&board, &node])?;
        Ok(())
    }

    /// The node holding a live lease on `board`, if any.
    pub async fn holder(self: &Arc<Self>, board: &str) -> Result<Option<String>, StoreError> {
        let (leases, board) = (self.clone(), board.to_owned());
        on_pool(move || leases.holder_now(&board)).await
    }

    fn holder_now(&self, board: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        let row =
            conn.query_opt("SELECT node FROM board_leases WHERE board = $1 AND expires_at >= now()", &[&board])?;
        Ok(row.map(|row| row.get(0)))
    }
}
