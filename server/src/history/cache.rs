//! Past documents kept between history reads ("cursors"), so that the next read close
//! after one catches up from it instead of integrating a whole checkpoint.
//!
//! Integrating a checkpoint costs about a microsecond per CRDT item of the board (a
//! board of 2,000 notes moved and typed into for 100,000 updates holds some 200,000
//! items: about 100 ms), while catching up costs a few microseconds per logged update.
//! So after answering a point the pool keeps its document, and a read at a later point
//! takes the kept document with the largest point at or before it, when applying the
//! updates in between is cheaper than integrating the nearest checkpoint: always when
//! that document is at or after the checkpoint, and when it is before it by fewer
//! updates than the checkpoint's integration costs (estimated from its size). Scrubbing
//! forward and playback-like reads then cost a few milliseconds; a read before every
//! kept document, or far after them, is built from its checkpoint as without the pool.
//!
//! The pool is bounded three ways: [`DOCS_PER_BOARD`], [`BOARDS`], and a memory budget
//! (`serve --history-cache-mb`) checked against each document's estimated weight; the
//! least recently used documents go first. A document is taken out of the pool while a
//! request uses it (two requests never share one) and given back with
//! [`HistoryCache::keep`]; the lock guards only the pool's list, never a document's
//! work. Kept documents never go stale: the log is append-only (a restore is a new
//! update), and compaction only drops updates, which a catch-up then notices.

use std::sync::Mutex;

use super::{catch_up, from_checkpoint, HistoryError, PastBoard};
use crate::store::{Checkpoint, Store};
use crate::telemetry;

/// Documents kept per board: enough for a few people scrubbing at once, and for a
/// scrubber's recent positions.
pub const DOCS_PER_BOARD: usize = 8;
/// Boards with kept documents: history is read on a few boards at a time.
pub const BOARDS: usize = 8;

/// Estimated memory per byte of a checkpoint's state, by encoding, and per byte of a
/// logged update applied. Measured on the history preset's board (a 1.1 MB v2
/// checkpoint took 40 MB once integrated; 50,000 updates of 2.5 MB took 19 MB).
const MEMORY_PER_V2_BYTE: usize = 40;
/// A document's v1 state is about four times its v2 state (2.1 MB against 515 KiB for
/// the 100,000-update board of `commonboard-load replay`): the same document, so a
/// quarter of the memory per byte.
const MEMORY_PER_V1_BYTE: usize = 10;
const MEMORY_PER_UPDATE_BYTE: usize = 8;
/// What an empty document weighs (its store and root types).
const MEMORY_PER_DOC: usize = 16 << 10;

/// Bytes of checkpoint state that take about as long to integrate as catching up on one
/// logged update (reading and applying it): measured 90 ns per v2 byte against about
/// 4 µs per update. Larger means the pool is used from further before a checkpoint.
const V2_BYTES_PER_UPDATE: usize = 40;
/// The same for v1 checkpoints, about four times larger for the same document.
const V1_BYTES_PER_UPDATE: usize = 160;

/// The estimated memory of a document holding a checkpoint's state.
pub fn checkpoint_weight(checkpoint: &Checkpoint) -> usize {
    let per_byte = if checkpoint.encoding.is_v2() { MEMORY_PER_V2_BYTE } else { MEMORY_PER_V1_BYTE };
    MEMORY_PER_DOC + checkpoint.state.len() * per_byte
}

/// The estimated memory of a document integrated from a v1 state of `len` bytes (a
/// stitched one: [`super::stitched`]).
pub fn v1_weight(len: usize) -> usize {
    MEMORY_PER_DOC + len * MEMORY_PER_V1_BYTE
}

/// The estimated memory a logged update of `len` bytes adds to a document.
pub fn update_weight(len: usize) -> usize {
    len * MEMORY_PER_UPDATE_BYTE
}

/// Drops documents on the blocking pool: freeing a large one takes milliseconds (5 ms
/// for a board of 200,000 items), which neither the cache's lock nor the request that
/// evicted it should wait for.
fn drop_later(docs: Vec<PastBoard>) {
    if docs.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(docs))),
        Err(_) => drop(docs),
    }
}

/// How many logged updates cost as much to catch up on as integrating `checkpoint`.
fn checkpoint_cost_in_updates(checkpoint: &Checkpoint) -> u64 {
    let bytes_per_update = if checkpoint.encoding.is_v2() { V2_BYTES_PER_UPDATE } else { V1_BYTES_PER_UPDATE };
    (checkpoint.state.len() / bytes_per_update) as u64
}

/// The bounds of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Estimated memory of all kept documents together; 0 keeps none.
    pub budget_bytes: usize,
    pub docs_per_board: usize,
    pub boards: usize,
}

impl CacheLimits {
    /// The fixed limits with a memory budget in MiB (`--history-cache-mb`).
    pub fn with_budget_mb(mb: usize) -> Self {
        CacheLimits { budget_bytes: mb << 20, docs_per_board: DOCS_PER_BOARD, boards: BOARDS }
    }
}

/// How reads were answered, and what the pool holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered by a kept document at that very point.
    pub hits: u64,
    /// Reads answered by bringing a kept document forward.
    pub catch_ups: u64,
    /// Reads built from a checkpoint.
    pub misses: u64,
    /// Documents kept now, and their estimated memory.
    pub docs: usize,
    pub bytes: usize,
}

/// The pool of past documents of every board; one per server.
pub struct HistoryCache {
    limits: CacheLimits,
    pool: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    kept: Vec<Kept>,
    /// Rises at each use: orders the documents from least to most recently used.
    clock: u64,
    stats: CacheStats,
}

/// How one read was answered.
enum Outcome {
    Hit,
    CatchUp,
    Miss,
}

struct Kept {
    board: String,
    past: PastBoard,
    used: u64,
}

impl HistoryCache {
    pub fn new(limits: CacheLimits) -> Self {
        HistoryCache { limits, pool: Mutex::new(Pool::default()) }
    }

    /// The board at `seq` (see [`super::board_at`]), from a kept document when that is
    /// cheaper. Give the document back with [`HistoryCache::keep`] once done with it.
    pub fn board_at(&self, store: &dyn Store, id: &str, seq: u64) -> Result<PastBoard, HistoryError> {
        if let Some(past) = self.take(id, |kept| (kept == seq).then_some(0)) {
            self.count(Outcome::Hit);
            return Ok(past);
        }
        let checkpoint = store.checkpoint_at_or_before(id, seq)?;
        let (at, cost) = checkpoint.as_ref().map_or((0, 0), |c| (c.seq, checkpoint_cost_in_updates(c)));
        // Worth it when the updates from the kept point to the checkpoint cost less than
        // integrating the checkpoint (from the checkpoint on, both paths apply the same).
        let worth = |kept: u64| (kept <= seq && kept.saturating_add(cost) > at).then_some(kept);
        if let Some(mut past) = self.take(id, worth) {
            match catch_up(store, id, &mut past, seq) {
                Ok(true) => {
                    self.count(Outcome::CatchUp);
                    return Ok(past);
                }
                // Compaction dropped updates after it: still right at its own point.
                Ok(false) => self.keep(id, past),
                Err(error) => {
                    self.keep(id, past);
                    return Err(error);
                }
            }
        }
        self.count(Outcome::Miss);
        from_checkpoint(store, id, checkpoint.as_ref(), seq)
    }

    /// Keeps a document after a read, evicting the least recently used ones beyond the
    /// limits. One heavier than the whole budget is not kept.
    pub fn keep(&self, id: &str, past: PastBoard) {
        if past.weight > self.limits.budget_bytes {
            drop_later(vec![past]);
            return;
        }
        let mut evicted = Vec::new();
        {
            let mut pool = self.pool.lock().expect("history cache");
            pool.clock += 1;
            let used = pool.clock;
            if let Some(same) = pool.kept.iter_mut().find(|k| k.board == id && k.past.seq == past.seq) {
                // Another request kept this point meanwhile.
                same.used = used;
                evicted.push(past);
            } else {
                pool.kept.push(Kept { board: id.to_owned(), past, used });
            }
            while let Some(index) = self.over_limit(&pool.kept) {
                evicted.push(pool.kept.swap_remove(index).past);
            }
            pool.stats.docs = pool.kept.len();
            pool.stats.bytes = pool.kept.iter().map(|k| k.past.weight).sum();
            metrics::gauge!(telemetry::HISTORY_CACHE_BYTES).set(pool.stats.bytes as f64);
        }
        drop_later(evicted);
    }

    /// How reads were answered so far, and what the pool holds.
    pub fn stats(&self) -> CacheStats {
        self.pool.lock().expect("history cache").stats
    }

    /// Takes out the document of board `id` with the largest point that `pick` accepts.
    fn take(&self, id: &str, pick: impl Fn(u64) -> Option<u64>) -> Option<PastBoard> {
        let mut pool = self.pool.lock().expect("history cache");
        let index = (pool.kept.iter().enumerate())
            .filter(|(_, k)| k.board == id)
            .filter_map(|(index, k)| Some((pick(k.past.seq)?, index)))
            .max()?
            .1;
        let kept = pool.kept.swap_remove(index);
        pool.stats.docs = pool.kept.len();
        pool.stats.bytes -= kept.past.weight;
        Some(kept.past)
    }

    fn count(&self, outcome: Outcome) {
        let mut pool = self.pool.lock().expect("history cache");
        let (counter, label) = match outcome {
            Outcome::Hit => (&mut pool.stats.hits, "hit"),
            Outcome::CatchUp => (&mut pool.stats.catch_ups, "catch_up"),
            Outcome::Miss => (&mut pool.stats.misses, "miss"),
        };
        *counter += 1;
        metrics::counter!(telemetry::HISTORY_CACHE_READS, "outcome" => label).increment(1);
    }

    /// The index of the document to evict first, if the pool is over a limit.
    fn over_limit(&self, kept: &[Kept]) -> Option<usize> {
        let lru = |of: &dyn Fn(&Kept) -> bool| {
            kept.iter().enumerate().filter(|(_, k)| of(k)).min_by_key(|(_, k)| k.used).map(|(index, _)| index)
        };
        // A board over its count: its least recently used document.
        let mut boards: Vec<(&str, usize, u64)> = Vec::new();
        for k in kept {
            match boards.iter_mut().find(|(board, _, _)| *board == k.board) {
                Some((_, count, last)) => (*count, *last) = (*count + 1, (*last).max(k.used)),
                None => boards.push((&k.board, 1, k.used)),
            }
        }
        if let Some((board, _, _)) = boards.iter().find(|(_, count, _)| *count > self.limits.docs_per_board) {
            return lru(&|k| k.board == *board);
        }
        // Too many boards: a document of the board least recently read.
        if boards.len() > self.limits.boards {
            let (board, _, _) = boards.iter().min_by_key(|(_, _, last)| *last)?;
            return lru(&|k| k.board == *board);
        }
        // Over the budget: the least recently used document.
        if kept.iter().map(|k| k.past.weight).sum::<usize>() > self.limits.budget_bytes {
            return lru(&|_| true);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{committed, Author, BoardRecord, LogEntry, StateEncoding, Write};
    use commonboard_protocol::schema::{Board, BoardSnapshot, Note};
    use yrs::{Doc, ReadTxn, StateVector, Transact};

    const BOARD: &str = "b";

    /// A board of `updates` logged updates (notes added, then moved and retyped), with a
    /// checkpoint every `every` updates.
    async fn board(updates: u64, every: u64) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let record = BoardRecord::blank(BOARD);
        committed(store.submit(vec![Write::CreateBoard(record)])).await.unwrap();
        let doc = Doc::new();
        let board = Board::new(&doc);
        for seq in 1..=updates {
            let before = doc.transact().state_vector();
            {
                let mut txn = doc.transact_mut();
                let id = format!("n{}", seq % 20);
                if seq <= 20 {
                    board.insert_note(&mut txn, &Note { id, text: format!("note {seq}"), ..Note::default() });
                } else if seq % 2 == 0 {
                    board.move_note(&mut txn, &id, seq as f64, 2.0 * seq as f64);
                } else {
                    board.set_note_text(&mut txn, &id, &format!("text at {seq}"));
                }
            }
            let update = doc.transact().encode_state_as_update_v1(&before);
            let entry = LogEntry { seq, at_ms: 1000 + seq as i64, author: Author::server(), update };
            let mut writes = vec![Write::Append { board: BOARD.into(), entries: vec![entry] }];
            if seq % every == 0 {
                let state = doc.transact().encode_state_as_update_v2(&StateVector::default());
                let checkpoint = Checkpoint { seq, at_ms: 1000 + seq as i64, encoding: StateEncoding::V2, state };
                writes.push(Write::Checkpoint { board: BOARD.into(), checkpoint });
            }
            committed(store.submit(writes)).await.unwrap();
        }
        (dir, store)
    }

    fn roomy() -> CacheLimits {
        CacheLimits::with_budget_mb(64)
    }

    fn snapshot(past: &PastBoard) -> BoardSnapshot {
        Board::new(&past.doc).snapshot(&past.doc.transact())
    }

    fn stats(cache: &HistoryCache) -> (u64, u64, u64) {
        let stats = cache.stats();
        (stats.hits, stats.catch_ups, stats.misses)
    }

    /// A document kept without a store, for the bounds.
    fn past(seq: u64, weight: usize) -> PastBoard {
        PastBoard { doc: Doc::new(), seq, at_ms: 0, weight }
    }

    fn kept(cache: &HistoryCache) -> Vec<(String, u64)> {
        let pool = cache.pool.lock().unwrap();
        let mut kept: Vec<_> = pool.kept.iter().map(|k| (k.board.clone(), k.past.seq)).collect();
        kept.sort();
        kept
    }

    #[tokio::test]
    async fn a_kept_point_is_answered_without_the_store() {
        let (_dir, store) = board(60, 25).await;
        let cache = HistoryCache::new(roomy());
        let first = cache.board_at(&store, BOARD, 40).unwrap();
        let expected = snapshot(&first);
        cache.keep(BOARD, first);
        assert_eq!(stats(&cache), (0, 0, 1));
        let again = cache.board_at(&store, BOARD, 40).unwrap();
        assert_eq!((again.seq, again.at_ms), (40, 1040));
        assert_eq!(snapshot(&again), expected);
        assert_eq!(stats(&cache), (1, 0, 1));
        // Taken out while in use: a second reader of the same point builds its own.
        let other = cache.board_at(&store, BOARD, 40).unwrap();
        assert_eq!(stats(&cache), (1, 0, 2));
        cache.keep(BOARD, again);
        cache.keep(BOARD, other);
        assert_eq!(kept(&cache), vec![(BOARD.to_owned(), 40)]);
    }

    #[tokio::test]
    async fn a_later_point_catches_up_to_what_a_rebuild_gives() {
        let (_dir, store) = board(120, 25).await;
        let cache = HistoryCache::new(roomy());
        cache.keep(BOARD, cache.board_at(&store, BOARD, 30).unwrap());
        // Past the next checkpoint (50), but closer than integrating it.
        let checkpoint = store.checkpoint_at_or_before(BOARD, 57).unwrap().unwrap();
        assert!(checkpoint_cost_in_updates(&checkpoint) > 50 - 30, "the checkpoint costs more than 20 updates");
        let caught_up = cache.board_at(&store, BOARD, 57).unwrap();
        assert_eq!(stats(&cache), (0, 1, 1));
        let rebuilt = crate::history::board_at(&store, BOARD, 57).unwrap();
        assert_eq!((caught_up.seq, caught_up.at_ms), (57, rebuilt.at_ms));
        assert_eq!(snapshot(&caught_up), snapshot(&rebuilt));
        let state = |p: &PastBoard| p.doc.transact().state_vector();
        assert_eq!(state(&caught_up), state(&rebuilt));
        assert!(caught_up.weight > rebuilt.weight / 2, "weight grows with what was applied");
        cache.keep(BOARD, caught_up);
        // The document moved on: a point before it is built from its checkpoint.
        cache.keep(BOARD, cache.board_at(&store, BOARD, 31).unwrap());
        assert_eq!(stats(&cache), (0, 1, 2));
        assert_eq!(kept(&cache), vec![(BOARD.to_owned(), 31), (BOARD.to_owned(), 57)]);
    }

    #[tokio::test]
    async fn a_point_far_after_every_kept_document_is_built_from_its_checkpoint() {
        let (_dir, store) = board(400, 100).await;
        let cache = HistoryCache::new(roomy());
        cache.keep(BOARD, cache.board_at(&store, BOARD, 5).unwrap());
        let checkpoint = store.checkpoint_at_or_before(BOARD, 350).unwrap().unwrap();
        assert!(checkpoint_cost_in_updates(&checkpoint) < 300 - 5, "the checkpoint costs less than 295 updates");
        let past = cache.board_at(&store, BOARD, 350).unwrap();
        assert_eq!(past.seq, 350);
        assert_eq!(stats(&cache), (0, 0, 2));
        assert_eq!(kept(&cache), vec![(BOARD.to_owned(), 5)], "the early document stays for later");
    }

    #[test]
    fn evicts_the_least_recently_used_beyond_the_counts() {
        let cache = HistoryCache::new(CacheLimits { budget_bytes: 1 << 30, docs_per_board: 2, boards: 2 });
        cache.keep("a", past(10, 100));
        cache.keep("a", past(20, 100));
        cache.keep("a", past(30, 100));
        assert_eq!(kept(&cache), vec![("a".into(), 20), ("a".into(), 30)]);
        cache.keep("b", past(5, 100));
        cache.keep("a", past(40, 100));
        // Board a read last; a third board evicts b, the least recently read.
        cache.keep("c", past(7, 100));
        assert_eq!(kept(&cache), vec![("a".into(), 30), ("a".into(), 40), ("c".into(), 7)]);
        assert_eq!(cache.stats().docs, 3);
    }

    #[test]
    fn stays_within_the_memory_budget() {
        let cache = HistoryCache::new(CacheLimits { budget_bytes: 1000, docs_per_board: 8, boards: 8 });
        cache.keep("a", past(1, 400));
        cache.keep("b", past(2, 400));
        cache.keep("a", past(3, 400));
        assert_eq!(kept(&cache), vec![("a".into(), 3), ("b".into(), 2)]);
        assert_eq!(cache.stats().bytes, 800);
        // Heavier than the whole budget: not kept, and nothing is evicted for it.
        cache.keep("a", past(4, 2000));
        assert_eq!(kept(&cache), vec![("a".into(), 3), ("b".into(), 2)]);
        let none = HistoryCache::new(CacheLimits::with_budget_mb(0));
        none.keep("a", past(1, 1));
        assert_eq!(none.stats().docs, 0);
    }
}
