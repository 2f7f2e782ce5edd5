//! Document helpers: building a board's `yrs::Doc` from what the store keeps,
//! answering a client's sync step 1, checkpoint states, and containing yrs panics
//! (a document yrs panicked in is discarded, never used again).
//!
//! The board actor, the cluster replica, history and the fuzz targets share these.

use std::mem::ManuallyDrop;

use commonboard_protocol::frame;
use commonboard_protocol::validate::{self, WireLimits};
use tracing::{error, warn};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::store::{Checkpoint, StateEncoding, StoredBoard};

/// The size of a document's whole state in Yjs's v1 encoding: what a joining client
/// downloads (the integrated document, as [`sync_reply`] sends it).
pub(crate) fn encoded_len(doc: &Doc) -> usize {
    sync_reply(doc, &StateVector::default()).len()
}

/// Limits for reading bytes that were accepted before (a stored update, an encoding of
/// the document): only their shape is in question.
pub(crate) const ACCEPTED: WireLimits = validate::STORED;

/// The whole document as a checkpoint's state: Yjs v1, what a joining client
/// downloads, so that a board's next load answers its first visitor with these bytes
/// as stored, without decoding them (`board_load`), and a past point is this state with
/// the log after it stitched on, without a document (`history::stitched`). About four
/// times the size of v2 (which checkpoints were written in before, and which still
/// reads); checkpoints are placed by cost (`board::actor::CHECKPOINT_TAIL_SHARE`), so
/// a long board keeps fewer of them than at a fixed count. `encode_diff_v1` keeps
/// exactly what the document shows: a document holding pending updates (updates whose
/// dependencies never arrived: a client's edit made on top of one of its refused
/// edits, a damaged update) leaves them out, as the log does. (yrs 0.28 panicked
/// merging some pending updates into a v2 state, found by the `store_load` fuzz
/// target, and `encode_diff_v2` loses the board when a client's clocks have a gap.)
pub(crate) fn checkpoint_state(doc: &Doc) -> (StateEncoding, Vec<u8>) {
    (StateEncoding::V1, sync_reply(doc, &StateVector::default()))
}

/// A checkpoint's state as servers before v1 checkpoints wrote it: v2 sealed with its
/// checksum, or v1 while the document holds pending updates. Still read; written by
/// tests only, to check that it is.
#[cfg(test)]
pub(crate) fn checkpoint_state_v2(doc: &Doc) -> (StateEncoding, Vec<u8>) {
    let txn = doc.transact();
    if txn.has_missing_updates() {
        (StateEncoding::V1, txn.encode_diff_v1(&StateVector::default()))
    } else {
        (StateEncoding::V2Sealed, crate::store::seal(txn.encode_state_as_update_v2(&StateVector::default())))
    }
}

/// Runs `f`, catching a panic so that one bad update cannot take the board down.
#[cfg(not(feature = "fuzzing"))]
pub(crate) fn contain_panic<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

/// With the `fuzzing` feature the net is off: a panic propagates, so that the fuzz
/// targets under `fuzz/` (and any replay of their inputs) see it instead of the board
/// quietly rebuilding itself.
#[cfg(feature = "fuzzing")]
pub(crate) fn contain_panic<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    Ok(f())
}

/// A board's document from a checkpoint and the updates after it. A damaged row is
/// skipped. yrs can panic on one, and a document that saw a panic in the middle of a
/// change must not be used again: reading one crashed the process (found by the
/// `store_load` fuzz target). So after a panic the rebuild starts over on a fresh
/// document without that row (at most once per row).
pub(crate) fn rebuild(checkpoint: Option<&Checkpoint>, updates: &[&[u8]]) -> Doc {
    let mut skipped: Vec<usize> = Vec::new();
    'attempt: loop {
        let doc = Doc::new();
        // Row 0 is the checkpoint, rows 1.. the updates.
        if let Some(checkpoint) = checkpoint.filter(|_| !skipped.contains(&0)) {
            let mut txn = ManuallyDrop::new(doc.transact_mut());
            if apply_checkpoint(&mut txn, checkpoint).is_err() {
                error!(seq = checkpoint.seq, "yrs panicked on a stored checkpoint; rebuilding without it");
                discard(doc);
                skipped.push(0);
                continue 'attempt;
            }
            drop(ManuallyDrop::into_inner(txn));
        }
        for (row, update) in (1..).zip(updates) {
            if !skipped.contains(&row) && apply_trusted(&doc, update).is_err() {
                error!(row, "yrs panicked on a stored update; rebuilding without it");
                discard(doc);
                skipped.push(row);
                continue 'attempt;
            }
        }
        return doc;
    }
}

/// What a client lacks, answering its sync step 1: the integrated document only. With
/// `encode_state_as_update_v1`, which merges in pending updates (ones whose
/// dependencies never arrived), yrs 0.28 panicked on some of them, and any client's
/// sync step 1 (every join) took the board down (found by the `protocol_frame` fuzz
/// target).
pub(crate) fn sync_reply(doc: &Doc, state_vector: &StateVector) -> Vec<u8> {
    doc.transact().encode_diff_v1(state_vector)
}

/// The answer to a client's sync step 1: [`sync_reply`], checked with the validating
/// reader (one linear pass, no allocation). yrs 0.28 sometimes encodes a diff that it
/// cannot read back (`fuzz/regressions/protocol_frame-undecodable-sync-answer`); a
/// client could not apply it and would never sync, so the whole state goes instead.
pub fn sync_answer(doc: &Doc, state_vector: &StateVector) -> Vec<u8> {
    let diff = sync_reply(doc, state_vector);
    if state_vector.is_empty() || validate::check_update_v1(&diff, &ACCEPTED).is_ok() {
        return diff;
    }
    let full = sync_reply(doc, &StateVector::default());
    let fallback_ok = validate::check_update_v1(&full, &ACCEPTED).is_ok();
    warn!(fallback_ok, "yrs encoded a sync answer it cannot read back; sending the whole state instead");
    full
}

/// Drops a document that yrs panicked in without running its destructor, and with it
/// the transaction left open in it: committing or freeing a half-applied change can
/// touch freed memory inside yrs and crash the whole process (found by the
/// `store_load` fuzz target). Leaks its memory; this happens only on a damaged row or
/// a crafted update.
pub fn discard(doc: Doc) {
    std::mem::forget(doc);
}

/// [`rebuild`] for a board as the store keeps it.
pub(crate) fn rebuild_stored(stored: &StoredBoard) -> Doc {
    let updates: Vec<&[u8]> = stored.tail.iter().map(|e| e.update.as_slice()).collect();
    rebuild(stored.checkpoint.as_ref(), &updates)
}

/// A document holding exactly `update`, a whole state stitched from stored rows
/// ([`commonboard_protocol::stitch`]) or a whole v1 checkpoint whose clocks were just
/// read: `None` when yrs refuses or panics on it, or leaves part of it waiting, and the
/// caller rebuilds row by row ([`rebuild`]), which skips only a damaged row.
pub(crate) fn integrate_whole(update: &[u8]) -> Option<Doc> {
    // The caller's: every part of it passed the validating reader while it was
    // stitched (its counts are then the stitcher's own), or the whole of it while its
    // clocks were read: not walked a second time.
    let decoded = frame::decode_read_update(update).ok()?;
    let doc = Doc::new();
    let applied = frame::contain_yrs(|| {
        // Committed only if yrs did not panic (see `discard`).
        let mut txn = ManuallyDrop::new(doc.transact_mut());
        let applied = txn.apply_update(decoded);
        drop(ManuallyDrop::into_inner(txn));
        applied
    });
    match applied {
        Ok(Ok(())) if !doc.transact().has_missing_updates() => Some(doc),
        Ok(outcome) => {
            warn!(refused = outcome.is_err(), "a stitched state does not integrate whole; rebuilding row by row");
            None
        }
        Err(_) => {
            error!("yrs panicked on a stitched state; rebuilding row by row");
            discard(doc);
            None
        }
    }
}

/// Applies a checkpoint's state (which was accepted before; a damaged row is skipped).
/// `Err`: yrs panicked, and the document must be thrown away.
pub fn apply_checkpoint(txn: &mut yrs::TransactionMut, checkpoint: &Checkpoint) -> Result<(), frame::YrsPanicked> {
    let update = match checkpoint.decode() {
        Ok(update) => update,
        Err(error) => {
            error!(seq = checkpoint.seq, %error, "a stored checkpoint no longer decodes; skipping it");
            return Ok(());
        }
    };
    if let Err(error) = frame::contain_yrs(|| txn.apply_update(update))? {
        error!(seq = checkpoint.seq, %error, "a stored checkpoint no longer applies; skipping it");
    }
    Ok(())
}

/// Applies an update that was accepted before (from the store or this tick); one that
/// no longer applies is skipped. `Err`: yrs panicked, and the document must be thrown
/// away.
pub(crate) fn apply_trusted(doc: &Doc, update: &[u8]) -> Result<(), frame::YrsPanicked> {
    let update = match frame::decode_update(update) {
        Ok(update) => update,
        Err(error) => {
            error!(%error, "a stored update no longer decodes; skipping it");
            return Ok(());
        }
    };
    let applied = frame::contain_yrs(|| {
        // Committed only if yrs did not panic (see `discard`).
        let mut txn = ManuallyDrop::new(doc.transact_mut());
        let applied = txn.apply_update(update);
        drop(ManuallyDrop::into_inner(txn));
        applied
    })?;
    if let Err(error) = applied {
        error!(%error, "a stored update no longer applies; skipping it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use commonboard_protocol::frame::{Message, SyncMessage};
    use commonboard_protocol::schema;
    use yrs::updates::decoder::Decode;
    use yrs::Update;

    use super::*;

    /// Found by the `store_load` and `board_messages` fuzz targets: a document holding
    /// pending updates (here the first note's creation is missing: the second note
    /// waits behind the gap in its client's clocks, and an edit of the first note waits
    /// for it) made yrs panic encoding the checkpoint in v2, and in v1 the checkpoint
    /// showed the waiting note, which the live board and its log did not.
    /// Found by the `protocol_frame` fuzz target: this frame's updates leave the
    /// document holding a pending update, and answering a sync step 1 with
    /// `encode_state_as_update_v1` then panicked inside yrs.
    #[test]
    fn a_sync_step_1_is_answered_while_updates_are_pending() {
        let frame: &[u8] = &[
            0, 2, 80, 1, 2, 152, 178, 229, 131, 177, 147, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 2, 2, 2, 2, 2, 2, 2, 0, 0,
            0, 0, 0, 1, 1, 101, 0, 119, 44, 76, 84, 2, 2, 2, 126, 0, 2, 2, 2, 2, 2, 46, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
            2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 89, 2, 2, 2, 2, 2, 0, 2, 70, 5, 0, 6, 0, 0, 0, 0, 0, 1, 2,
            133, 242, 224, 237, 151, 163, 145, 1, 177, 14, 132, 156, 208, 210, 237, 229, 48, 1, 106, 119, 50, 54, 53,
            99, 53, 124, 100, 37, 242, 224, 237, 151, 2, 2, 2, 2, 163, 145, 105, 155, 90, 48, 55, 102, 1, 124, 118,
            255, 255, 255, 255, 255, 255, 2, 2, 2, 2, 2, 0, 1, 0, 0, 2, 0, 0, 0, 0, 114, 0, 0, 255, 0, 11, 100, 0, 97,
            106, 101,
        ];
        let doc = Doc::new();
        let mut answered = 0;
        // The validating reader now refuses this frame from a client (an update with
        // stray bytes after it); read without it, the document still must answer.
        for message in frame::decode_server_frame(frame).unwrap() {
            match message {
                frame::Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update))) => {
                    // yrs's own decoder: `frame::decode_update` refuses it too.
                    if let Ok(update) = yrs::Update::decode_v1(&update) {
                        let _ = doc.transact_mut().apply_update(update);
                    }
                }
                frame::Decoded::Yjs(Message::Sync(SyncMessage::SyncStep1(state_vector))) => {
                    assert!(doc.transact().has_missing_updates());
                    let reply = sync_reply(&doc, &state_vector);
                    frame::decode_update(&reply).unwrap();
                    answered += 1;
                }
                _ => {}
            }
        }
        assert_eq!(answered, 1);
    }

    #[test]
    fn a_sync_answer_is_the_diff_and_passes_the_validating_reader() {
        use yrs::{GetString, Text};
        let doc = Doc::with_client_id(9);
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "hello");
        let half = doc.transact().state_vector();
        text.insert(&mut doc.transact_mut(), 5, ", world");
        let answer = sync_answer(&doc, &half);
        assert_eq!(answer, sync_reply(&doc, &half));
        assert_eq!(validate::check_update_v1(&answer, &WireLimits::default()), Ok(()));
        let peer = Doc::with_client_id(10);
        let full = sync_answer(&doc, &StateVector::default());
        peer.transact_mut().apply_update(yrs::Update::decode_v1(&full).unwrap()).unwrap();
        assert_eq!(peer.get_or_insert_text("t").get_string(&peer.transact()), "hello, world");
    }

    /// A board's meta (title "fuzz", template "blank") by client 7, as the fuzz
    /// findings below start.
    const META: &[u8] = &[
        1, 3, 7, 0, 40, 1, 4, 109, 101, 116, 97, 5, 116, 105, 116, 108, 101, 1, 119, 4, 102, 117, 122, 122, 40, 1, 4,
        109, 101, 116, 97, 8, 116, 101, 109, 112, 108, 97, 116, 101, 1, 119, 5, 98, 108, 97, 110, 107, 40, 1, 4, 109,
        101, 116, 97, 9, 99, 114, 101, 97, 116, 101, 100, 65, 116, 1, 125, 0, 0,
    ];

    #[test]
    fn a_checkpoint_holds_what_the_document_shows() {
        let second_note: &[u8] = &[
            1, 10, 7, 17, 39, 1, 5, 110, 111, 116, 101, 115, 1, 98, 1, 40, 0, 7, 17, 1, 120, 1, 125, 0, 40, 0, 7, 17,
            1, 121, 1, 125, 0, 40, 0, 7, 17, 1, 119, 1, 125, 160, 2, 40, 0, 7, 17, 1, 104, 1, 125, 184, 1, 40, 0, 7,
            17, 5, 99, 111, 108, 111, 114, 1, 119, 6, 121, 101, 108, 108, 111, 119, 40, 0, 7, 17, 6, 97, 117, 116, 104,
            111, 114, 1, 119, 3, 65, 100, 97, 40, 0, 7, 17, 9, 99, 114, 101, 97, 116, 101, 100, 65, 116, 1, 125, 0, 39,
            0, 7, 17, 4, 116, 101, 120, 116, 2, 4, 0, 7, 25, 6, 115, 101, 99, 111, 110, 100, 0,
        ];
        // Types into the first note.
        let edit_of_missing_note: &[u8] = &[
            1, 1, 7, 32, 132, 7, 16, 13, 102, 105, 114, 115, 116, 44, 32, 101, 100, 105, 116, 101, 100, 1, 7, 1, 12, 5,
        ];
        let doc = Doc::new();
        for update in [META, second_note, edit_of_missing_note] {
            doc.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
        }
        assert!(doc.transact().has_missing_updates());
        let shown = |doc: &Doc| schema::Board::new(doc).snapshot(&doc.transact());

        for (encoding, state) in [checkpoint_state(&doc), checkpoint_state_v2(&doc)] {
            let checkpoint = Checkpoint { seq: 3, at_ms: 0, encoding, state };
            let reloaded = Doc::new();
            apply_checkpoint(&mut reloaded.transact_mut(), &checkpoint).unwrap();
            assert_eq!(shown(&reloaded), shown(&doc));
            assert!(schema::Board::new(&reloaded).has_note(&reloaded.transact(), "b"));
            assert_eq!(shown(&reloaded).meta.title, "fuzz");
        }
    }

    /// Found by the `store_load` fuzz target: a damaged log row (a note's creation with
    /// five bytes inserted into its clock) panics inside yrs (`BlockStore::push`)
    /// when applied. Loading the board skips the row instead of taking the board down.
    #[test]
    fn a_stored_update_that_makes_yrs_panic_is_skipped() {
        let first_note: &[u8] = &[
            1, 10, 7, 3, 39, 1, 5, 110, 111, 116, 101, 115, 1, 97, 1, 40, 0, 7, 3, 1, 120, 1, 125, 0, 40, 0, 7, 3, 1,
            121, 1, 125, 0, 40, 0, 7, 3, 1, 119, 1, 125, 160, 2, 40, 0, 7, 3, 1, 104, 1, 125, 184, 1, 40, 0, 7, 3, 5,
            99, 111, 108, 111, 114, 1, 119, 6, 121, 101, 108, 108, 111, 119, 40, 0, 7, 3, 6, 97, 117, 116, 104, 111,
            114, 1, 119, 3, 65, 100, 97, 40, 0, 7, 3, 9, 99, 114, 101, 97, 116, 101, 100, 65, 116, 1, 125, 0, 39, 0, 7,
            3, 4, 116, 101, 120, 116, 2, 4, 0, 7, 11, 5, 102, 105, 114, 115, 116, 0,
        ];
        let damaged: &[u8] = &[
            1, 10, 7, 172, 200, 147, 147, 172, 17, 39, 1, 5, 110, 111, 116, 101, 115, 1, 98, 1, 40, 0, 7, 17, 1, 120,
            1, 125, 0, 40, 0, 7, 17, 1, 121, 1, 125, 0, 40, 0, 7, 17, 1, 119, 1, 125, 160, 2, 40, 0, 7, 17, 1, 104, 1,
            125, 184, 1, 40, 0, 7, 17, 5, 99, 111, 108, 111, 114, 1, 119, 6, 121, 101, 108, 108, 111, 119, 40, 0, 7,
            17, 6, 97, 117, 116, 104, 111, 114, 1, 119, 3, 65, 100, 97, 40, 0, 7, 17, 9, 99, 114, 101, 97, 116, 101,
            100, 65, 116, 1, 125, 0, 39, 0, 7, 17, 4, 116, 101, 120, 116, 2, 4, 0, 7, 25, 6, 115, 101, 99, 111, 110,
            100, 0,
        ];
        let crashed = frame::contain_yrs(|| {
            let copy = Doc::new();
            for update in [META, first_note, damaged] {
                let _ = copy.transact_mut().apply_update(Update::decode_v1(update).unwrap());
            }
        });
        assert!(crashed.is_err(), "the damaged row still makes yrs 0.28 panic; if not, this test can go");

        // Reading a document yrs panicked in can crash the process: the rebuild starts
        // over without the damaged row.
        let doc = rebuild(None, &[META, first_note, damaged]);
        assert!(schema::Board::new(&doc).has_note(&doc.transact(), "a"));
        assert_eq!(schema::Board::new(&doc).snapshot(&doc.transact()).notes.len(), 1);
    }
}
