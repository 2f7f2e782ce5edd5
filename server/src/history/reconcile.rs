//! Restores as forward changes: makes a live document's content equal to a past
//! state's with ordinary edits (set a field, delete a note, retype the changed part of
//! a text), so that every client receives the restore as one update, and everything
//! logged after the restored point stays in the history.
//!
//! The board's own roots are restored field by field, as the schema knows them;
//! every other root of the document (a Yjs application using the server as its
//! y-websocket server) is restored by content, by `history::generic`.

use super::generic;
use super::retype::retype;
use yrs::types::AsPrelim;
use yrs::types::ToJson;
use yrs::{Doc, GetString, Map, MapPrelim, MapRef, Out, ReadTxn, TextPrelim, Transact, TransactionMut};

/// The roots a restore brings back field by field: everything the board schema holds.
const ROOTS: [&str; 4] = generic::BOARD_ROOTS;

/// Changes `live` so that every root reads exactly as `past`'s; returns the update
/// that does it (empty when they already matched).
pub fn reconcile(live: &Doc, past: &Doc) -> Vec<u8> {
    let pairs: Vec<(MapRef, MapRef)> =
        ROOTS.iter().map(|name| (live.get_or_insert_map(*name), past.get_or_insert_map(*name))).collect();
    let foreign = generic::roots_to_restore(live, past);
    let foreign_pairs = generic::declare(live, past, &foreign);
    let read = past.transact();
    let mut txn = live.transact_mut();
    for (live_root, past_root) in &pairs {
        map(&mut txn, live_root, &read, past_root);
    }
    for ((_, kind), (live_root, past_root)) in foreign.iter().zip(foreign_pairs) {
        generic::restore_root(&mut txn, *kind, live_root, &read, past_root);
    }
    let changed = txn.before_state() != txn.after_state() || !txn.delete_set().is_empty();
    if changed {
        txn.encode_update_v1()
    } else {
        Vec::new()
    }
}

fn map<T: ReadTxn>(txn: &mut TransactionMut, live: &MapRef, read: &T, past: &MapRef) {
    let stale: Vec<String> = live.keys(txn).filter(|key| !past.contains_key(read, key)).map(str::to_owned).collect();
    for key in stale {
        live.remove(txn, &key);
    }
    for (key, value) in past.iter(read) {
        let current = live.get(txn, key);
        match value {
            Out::Any(any) => {
                if !matches!(&current, Some(Out::Any(now)) if *now == any) {
                    live.insert(txn, key, any);
                }
            }
            Out::YText(text) => {
                let wanted = text.get_string(read);
                match current {
                    Some(Out::YText(now)) => retype(txn, &now, &wanted),
                    _ => {
                        live.insert(txn, key, TextPrelim::new(wanted));
                    }
                }
            }
            Out::YMap(nested) => {
                let now = match current {
                    Some(Out::YMap(now)) => now,
                    _ => live.insert(txn, key, MapPrelim::default()),
                };
                map(txn, &now, read, &nested);
            }
            // Types the board schema does not use (a client's own): restored by content.
            Out::YArray(nested) => match current {
                Some(Out::YArray(now)) => generic::array(txn, &now, read, &nested),
                _ => {
                    live.insert(txn, key, nested.as_prelim(read));
                }
            },
            other => {
                if current.map(|now| now.to_json(txn)) != Some(other.to_json(read)) {
                    live.insert(txn, key, other.as_prelim(read));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::schema::{Board, Note};
    use yrs::updates::decoder::Decode;
    use yrs::Text;
    use yrs::{StateVector, Update};

    fn note(id: &str, text: &str) -> Note {
        Note { id: id.into(), text: text.into(), x: 1.0, ..Note::default() }
    }

    fn copy(doc: &Doc) -> Doc {
        let copy = Doc::new();
        let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
        copy.transact_mut().apply_update(Update::decode_v1(&state).unwrap()).unwrap();
        copy
    }

    #[test]
    fn brings_back_deleted_notes_and_undoes_edits() {
        let live = Doc::new();
        let board = Board::new(&live);
        board.insert_note(&mut live.transact_mut(), &note("a", "Café au lait"));
        board.insert_note(&mut live.transact_mut(), &note("b", "Keep"));
        let past = copy(&live);
        {
            let mut txn = live.transact_mut();
            board.remove_note(&mut txn, "a");
            board.set_note_text(&mut txn, "b", "Keep it short");
            board.move_note(&mut txn, "b", 50.0, 60.0);
            board.insert_note(&mut txn, &note("c", "Later"));
        }
        let replica = copy(&live);
        let update = reconcile(&live, &past);
        assert!(!update.is_empty());
        let read = |doc: &Doc| Board::new(doc).snapshot(&doc.transact());
        assert_eq!(read(&live), read(&past));

        // A client that had the later state reaches the past one from the update alone.
        replica.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
        assert_eq!(read(&replica), read(&past));
        assert!(reconcile(&live, &past).is_empty(), "a second restore changes nothing");
    }

    #[test]
    fn retypes_only_what_differs() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "naïve café");
        retype(&mut doc.transact_mut(), &text, "naïve cafés ok");
        assert_eq!(text.get_string(&doc.transact()), "naïve cafés ok");
        retype(&mut doc.transact_mut(), &text, "une café");
        assert_eq!(text.get_string(&doc.transact()), "une café");
    }
}
