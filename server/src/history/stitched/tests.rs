//! Tests of [`super`]: a stitched past state is the board the document shows, at and
//! around checkpoints of both encodings, and what does not stitch is left to it.

use commonboard_protocol::schema::{self, Board, BoardSnapshot, Note};
use yrs::updates::decoder::Decode;
use yrs::{Doc, Map, Out, ReadTxn, StateVector, Text, TextRef, Transact, Update};

use super::*;
use crate::store::sqlite::SqliteStore;
use crate::store::{committed, Author, BoardRecord, LogEntry, Write};

const BOARD: &str = "b";

/// A small deterministic generator (no seed file to keep).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// A board's log as the history preset writes it: notes created, then moved, typed
/// into a character at a time (and the odd deletion), some removed and written again.
/// `checkpoint(seq, doc)` is called after each update.
fn write_board(updates: u64, notes: u64, seed: u64, mut after: impl FnMut(u64, &Doc, Vec<u8>)) {
    let doc = Doc::with_client_id(seed + 1);
    let board = Board::new(&doc);
    let notes_map = doc.get_or_insert_map(schema::NOTES);
    let mut rng = Lcg(seed);
    for seq in 1..=updates {
        let update = {
            let mut txn = doc.transact_mut();
            let id = format!("n{}", rng.below(notes));
            let roll = rng.below(100);
            if !board.has_note(&txn, &id) || roll < 2 {
                let note = Note { id, text: format!("note {seq}"), created_at: seq as f64, ..Note::default() };
                board.insert_note(&mut txn, &note);
            } else if roll < 4 {
                board.remove_note(&mut txn, &id);
            } else if roll < 50 {
                board.move_note(&mut txn, &id, rng.below(4000) as f64, rng.below(3000) as f64 + 0.5);
            } else {
                let Some(Out::YMap(note)) = notes_map.get(&txn, &id) else { unreachable!("the note exists") };
                let Some(Out::YText(text)) = note.get(&txn, schema::note::TEXT) else { unreachable!("text") };
                type_into(&text, &mut txn, &mut rng);
            }
            txn.encode_update_v1()
        };
        after(seq, &doc, update);
    }
}

fn type_into(text: &TextRef, txn: &mut yrs::TransactionMut, rng: &mut Lcg) {
    let len = text.len(txn);
    let at = rng.below(u64::from(len) + 1) as u32;
    if rng.below(10) == 0 && len > 0 {
        text.remove_range(txn, at.min(len - 1), 1);
    } else {
        text.insert(txn, at, if rng.below(5) == 0 { " " } else { "e" });
    }
}

/// The board in a store: `updates` logged, a checkpoint after each seq in
/// `checkpoints` (v1 where `v1` says so, sealed v2 otherwise).
async fn stored_board(updates: u64, checkpoints: &[(u64, bool)]) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let record = BoardRecord::blank(BOARD);
    let mut writes = vec![Write::CreateBoard(record)];
    write_board(updates, 40, 7, |seq, doc, update| {
        let entry = LogEntry { seq, at_ms: 1000 + seq as i64, author: Author::server(), update };
        writes.push(Write::Append { board: BOARD.into(), entries: vec![entry] });
        if let Some(&(_, v1)) = checkpoints.iter().find(|(at, _)| *at == seq) {
            let (encoding, state) =
                if v1 { crate::doc::checkpoint_state(doc) } else { crate::doc::checkpoint_state_v2(doc) };
            let checkpoint = Checkpoint { seq, at_ms: 1000 + seq as i64, encoding, state };
            writes.push(Write::Checkpoint { board: BOARD.into(), checkpoint });
        }
    });
    committed(store.submit(writes)).await.unwrap();
    (dir, store)
}

/// What a client sees of a state: the board, its clocks, and its state re-encoded.
fn seen(update: &[u8]) -> (BoardSnapshot, StateVector, Vec<u8>) {
    let doc = Doc::new();
    let board = Board::new(&doc);
    doc.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
    let txn = doc.transact();
    assert!(!txn.has_missing_updates(), "the state applies whole");
    (board.snapshot(&txn), txn.state_vector(), txn.encode_state_as_update_v1(&StateVector::default()))
}

/// The answer the history gave before stitching: the document rebuilt from the
/// checkpoint and then each row, encoded.
fn from_document(store: &SqliteStore, seq: u64) -> Vec<u8> {
    let checkpoint = store.checkpoint_at_or_before(BOARD, seq).unwrap();
    let from = checkpoint.as_ref().map_or(0, |c| c.seq);
    let entries = store.log(BOARD, from + 1, seq).unwrap();
    assert_eq!(entries.last().map_or(from, |e| e.seq), seq);
    let rows: Vec<&[u8]> = entries.iter().map(|e| e.update.as_slice()).collect();
    let doc = crate::doc::rebuild(checkpoint.as_ref(), &rows);
    crate::doc::sync_reply(&doc, &StateVector::default())
}

#[tokio::test]
async fn a_stitched_state_is_the_board_the_document_shows() {
    // Checkpoints in both encodings; points before the first, at one, just after one,
    // and between.
    let (_dir, store) = stored_board(400, &[(100, false), (200, true), (300, false)]).await;
    let mut rng = Lcg(3);
    let mut points = vec![1, 2, 99, 100, 101, 199, 200, 201, 300, 301, 400];
    points.extend((0..20).map(|_| 1 + rng.below(400)));
    for seq in points {
        let stitched = state_at(&store, BOARD, seq).unwrap().expect("the stored forms stitch");
        assert_eq!((stitched.seq, stitched.at_ms), (seq, 1000 + seq as i64));
        let (board, clocks, state) = seen(&stitched.update);
        let expected = seen(&from_document(&store, seq));
        assert!(!board.notes.is_empty() || seq < 3);
        assert_eq!(board, expected.0, "the board at #{seq}");
        assert_eq!(clocks, expected.1, "the clocks at #{seq}");
        assert_eq!(state, expected.2, "the state at #{seq}");
        // And the document the JSON view reads, built from the stitched form.
        let past = crate::history::board_at(&store, BOARD, seq).unwrap();
        assert_eq!(Board::new(&past.doc).snapshot(&past.doc.transact()), expected.0, "the JSON view at #{seq}");
    }
}

#[tokio::test]
async fn the_point_of_a_v1_checkpoint_is_its_stored_bytes() {
    let (_dir, store) = stored_board(120, &[(60, true)]).await;
    let stored = store.checkpoint_at_or_before(BOARD, 60).unwrap().unwrap();
    let answer = state_at(&store, BOARD, 60).unwrap().unwrap();
    assert_eq!(answer.update, stored.state);
}

#[tokio::test]
async fn a_gap_in_the_log_is_left_to_the_document() {
    let (_dir, store) = stored_board(50, &[]).await;
    let entries = store.log(BOARD, 1, 20).unwrap();
    let mut updates: Vec<(u64, i64, &[u8])> = entries.iter().map(|e| (e.seq, e.at_ms, e.update.as_slice())).collect();
    updates.remove(7);
    assert!(matches!(stitch(None, &updates), Err(NotStitched::Gap { expected: 8, found: 9 })));
    assert!(matches!(stitch(None, &[]), Err(NotStitched::Nothing)));
    // A damaged row: refused by the reader, not stitched.
    let mut cut = entries[3].update.clone();
    cut.truncate(cut.len() - 2);
    let mut damaged: Vec<(u64, i64, &[u8])> = entries.iter().map(|e| (e.seq, e.at_ms, e.update.as_slice())).collect();
    damaged[3].2 = &cut;
    assert!(matches!(stitch(None, &damaged), Err(NotStitched::Stitch(_))));
}
