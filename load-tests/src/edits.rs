//! The whiteboard edit mix: what a simulated participant does to a board.
//!
//! Each edit is one transaction on the editor's own document, encoded as one update:
//! create a note (20%), move one (40%), type into one (25%), recolour one (10%) or
//! delete one of one's own (5%). Every transaction also stamps the editor's latency
//! marker (see [`crate::marker`]).
//!
//! A *light* editor's document holds only its own changes, so it edits only its own
//! notes; a *full* editor (a replica) holds the whole board and moves, types into and
//! recolours anyone's notes, so concurrent edits of one note happen and the convergence
//! check means something. Only the author of a note deletes it, so the notes a board
//! must end with are known: every note created minus those deleted.

use commonboard_protocol::schema::{self, Board, Note, NOTE_COLORS, NOTE_SIZE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yrs::{Any, Doc, Map, MapRef, Out, Text, Transact};

use crate::marker::MARKER_ROOT;

/// Most live notes one editor keeps; past it, it deletes instead of creating.
const MAX_OWN_NOTES: usize = 30;

/// Words notes are written with.
const WORDS: &[&str] = &[
    "goal",
    "customers",
    "handoff",
    "risk",
    "owner",
    "weekly",
    "sync",
    "KPI",
    "review",
    "cost",
    "outcome",
    "deploy",
    "support",
    "budget",
    "vote",
    "RACI",
    "feedback",
    "pilot",
    "mission",
    "shared",
];

/// How often each kind of edit happens, in percent: create, move, text, recolour, delete.
#[derive(Debug, Clone, Copy)]
pub struct Mix(pub [u32; 5]);

impl Mix {
    /// A live session: mostly moving and typing, some creating, a little tidying up.
    pub const SESSION: Mix = Mix([20, 40, 25, 10, 5]);
    /// A long session's history: a person creates a note, then types into it and moves
    /// it about fifty times (typing and dragging send an update per word or step).
    pub const HISTORY: Mix = Mix([2, 48, 50, 0, 0]);
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKind {
    Create,
    Move,
    Text,
    Recolour,
    Delete,
}

/// One simulated participant's document and habits.
pub struct Editor {
    /// Global index, part of every note id and marker.
    index: u32,
    doc: Doc,
    board: Board,
    notes: MapRef,
    markers: MapRef,
    marker_key: String,
    rng: StdRng,
    mix: Mix,
    /// Whether the document holds the whole board (a replica).
    full: bool,
    /// Whether each edit also writes its latency marker into the document.
    markers_in_doc: bool,
    /// This editor's notes not deleted yet.
    own: Vec<String>,
    next_note: u32,
    /// Every note this editor created.
    pub created: Vec<String>,
    /// Every note this editor deleted.
    pub deleted: Vec<String>,
}

impl Editor {
    pub fn new(index: u32, full: bool, seed: u64) -> Self {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let notes = doc.get_or_insert_map(schema::NOTES);
        let markers = doc.get_or_insert_map(MARKER_ROOT);
        Editor {
            index,
            doc,
            board,
            notes,
            markers,
            marker_key: format!("e{index}"),
            rng: StdRng::seed_from_u64(seed ^ (u64::from(index) << 20)),
            mix: Mix::SESSION,
            full,
            markers_in_doc: true,
            own: Vec::new(),
            next_note: 0,
            created: Vec::new(),
            deleted: Vec::new(),
        }
    }

    /// Changes how often each kind of edit happens.
    pub fn with_mix(mut self, mix: Mix) -> Self {
        self.mix = mix;
        self
    }

    /// Edits without a latency marker in the document, as a real client's: for building
    /// a history whose document holds only what people would have written.
    pub fn without_markers(mut self) -> Self {
        self.markers_in_doc = false;
        self
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Picks an edit, applies it with `marker` stamped in, and returns the update.
    pub fn edit(&mut self, marker: &str) -> (EditKind, Vec<u8>) {
        let total: u32 = self.mix.0.iter().sum();
        let mut roll: u32 = self.rng.random_range(0..total.max(1));
        let mut kind = EditKind::Delete;
        for (weight, candidate) in self.mix.0.iter().zip([
            EditKind::Create,
            EditKind::Move,
            EditKind::Text,
            EditKind::Recolour,
            EditKind::Delete,
        ]) {
            if roll < *weight {
                kind = candidate;
                break;
            }
            roll -= weight;
        }
        if self.own.is_empty() && (!self.full || kind == EditKind::Delete) {
            kind = EditKind::Create;
        }
        if kind == EditKind::Create && self.own.len() >= self.max_own() {
            kind = EditKind::Delete;
        }
        if kind == EditKind::Delete && self.own.len() <= 1 {
            kind = EditKind::Create;
        }
        let target = match kind {
            EditKind::Create | EditKind::Delete => None,
            _ => self.pick_target(),
        };
        let kind = if target.is_none() && kind != EditKind::Delete { EditKind::Create } else { kind };

        let mut txn = self.doc.transact_mut();
        match kind {
            EditKind::Create => {
                let id = format!("n{}-{}", self.index, self.next_note);
                self.next_note += 1;
                let note = Note {
                    id: id.clone(),
                    text: phrase(&mut self.rng, 4),
                    x: self.rng.random_range(0.0..4000.0_f64).round(),
                    y: self.rng.random_range(0.0..3000.0_f64).round(),
                    w: NOTE_SIZE.0,
                    h: NOTE_SIZE.1,
                    color: NOTE_COLORS[self.rng.random_range(0..NOTE_COLORS.len())].into(),
                    author: format!("editor {}", self.index),
                    frame: None,
                    created_at: now_ms(),
                    ..Note::default()
                };
                self.board.insert_note(&mut txn, &note);
                self.own.push(id.clone());
                self.created.push(id);
            }
            EditKind::Move => {
                let id = target.expect("moves have a target");
                let (dx, dy) =
                    (self.rng.random_range(-80.0..80.0_f64).round(), self.rng.random_range(-80.0..80.0_f64).round());
                let (x, y) = self.board.note(&txn, &id).map_or((0.0, 0.0), |n| (n.x, n.y));
                self.board.move_note(&mut txn, &id, x + dx, y + dy);
            }
            EditKind::Text => {
                let id = target.expect("typing has a target");
                let word = format!(" {}", WORDS[self.rng.random_range(0..WORDS.len())]);
                if let Some(Out::YMap(note)) = self.notes.get(&txn, &id) {
                    match note.get(&txn, schema::note::TEXT) {
                        Some(Out::YText(text)) => {
                            let end = text.len(&txn);
                            text.insert(&mut txn, end, &word);
                        }
                        _ => {
                            self.board.set_note_text(&mut txn, &id, &word);
                        }
                    }
                }
            }
            EditKind::Recolour => {
                let id = target.expect("recolouring has a target");
                let colour = NOTE_COLORS[self.rng.random_range(0..NOTE_COLORS.len())];
                self.board.set_note_field(&mut txn, &id, schema::note::COLOR, Any::from(colour));
            }
            EditKind::Delete => {
                let at = self.rng.random_range(0..self.own.len());
                let id = self.own.swap_remove(at);
                self.board.remove_note(&mut txn, &id);
                self.deleted.push(id);
            }
        }
        if self.markers_in_doc {
            self.markers.insert(&mut txn, self.marker_key.as_str(), marker);
        }
        (kind, txn.encode_update_v1())
    }

    /// Live notes kept before deleting instead of creating (without deletes: no limit).
    fn max_own(&self) -> usize {
        if self.mix.0[4] == 0 {
            usize::MAX
        } else {
            MAX_OWN_NOTES
        }
    }

    /// A note to move, type into or recolour: one's own, or anyone's for a full editor.
    fn pick_target(&mut self) -> Option<String> {
        if self.full && self.rng.random_bool(0.5) {
            let txn = self.doc.transact();
            let count = self.notes.len(&txn) as usize;
            if count > 0 {
                let at = self.rng.random_range(0..count);
                return self.notes.keys(&txn).nth(at).map(str::to_owned);
            }
        }
        if self.own.is_empty() {
            return None;
        }
        Some(self.own[self.rng.random_range(0..self.own.len())].clone())
    }
}

/// A few random words.
fn phrase(rng: &mut StdRng, words: usize) -> String {
    (0..words).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64)
}

/// Updates that fill a board with about `target_bytes` of notes, in chunks small enough
/// for any server's message limit; returns them and the ids of the notes they create.
///
/// The notes are written by many clients, [`PREFILL_NOTES_PER_CLIENT`] each, as a board
/// that many people used over several sessions is: per-update work that grows with the
/// number of clients in a document (state vectors) shows up.
pub fn prefill(target_bytes: usize, seed: u64) -> (Vec<Vec<u8>>, Vec<String>) {
    /// Bytes of updates per message: well under the usual 1 MiB message limit.
    const CHUNK_BYTES: usize = 200_000;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut chunks, mut ids) = (Vec::new(), Vec::new());
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let (mut total, mut pending_bytes) = (0, 0);
    while total + pending_bytes < target_bytes {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let mut txn = doc.transact_mut();
        for _ in 0..PREFILL_NOTES_PER_CLIENT {
            let id = format!("p-{}", ids.len());
            let note = Note {
                id: id.clone(),
                text: phrase(&mut rng, 30),
                x: rng.random_range(0.0..8000.0_f64).round(),
                y: rng.random_range(0.0..6000.0_f64).round(),
                w: NOTE_SIZE.0,
                h: NOTE_SIZE.1,
                color: NOTE_COLORS[rng.random_range(0..NOTE_COLORS.len())].into(),
                author: format!("participant {}", ids.len() / PREFILL_NOTES_PER_CLIENT),
                frame: None,
                created_at: now_ms(),
                ..Note::default()
            };
            board.insert_note(&mut txn, &note);
            ids.push(id);
        }
        let update = txn.encode_update_v1();
        pending_bytes += update.len();
        pending.push(update);
        if pending_bytes >= CHUNK_BYTES || total + pending_bytes >= target_bytes {
            let merged = yrs::merge_updates_v1(&pending).expect("updates made by yrs merge");
            total += merged.len();
            chunks.push(merged);
            pending.clear();
            pending_bytes = 0;
        }
    }
    (chunks, ids)
}

/// Notes each client writes when a board is pre-filled.
pub const PREFILL_NOTES_PER_CLIENT: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use yrs::updates::decoder::Decode;
    use yrs::{ReadTxn, Update};

    fn apply(doc: &Doc, update: &[u8]) {
        doc.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
    }

    #[test]
    fn light_and_full_editors_converge_on_the_expected_notes() {
        let mut editors: Vec<Editor> = (0..4).map(|i| Editor::new(i, i == 0, 7)).collect();
        let observer = Doc::new();
        let mut kinds = BTreeSet::new();
        for round in 0..300 {
            let i = round % editors.len();
            let (kind, update) = editors[i].edit("m");
            kinds.insert(format!("{kind:?}"));
            apply(&observer, &update);
            // The full editor sees everything, as a replica would.
            if i != 0 {
                apply(editors[0].doc(), &update);
            }
        }
        assert_eq!(kinds.len(), 5, "every kind of edit happened: {kinds:?}");
        let expected: BTreeSet<String> =
            editors.iter().flat_map(|e| e.created.iter().filter(|id| !e.deleted.contains(id))).cloned().collect();
        let board = Board::new(&observer);
        let got: BTreeSet<String> = board.note_ids(&observer.transact()).into_iter().collect();
        assert_eq!(got, expected);
        assert_eq!(observer.transact().state_vector(), editors[0].doc().transact().state_vector());
    }

    #[test]
    fn prefill_reaches_its_size_in_chunks() {
        let (chunks, ids) = prefill(600_000, 1);
        let total: usize = chunks.iter().map(Vec::len).sum();
        assert!((600_000..800_000).contains(&total), "total {total}");
        assert!(chunks.iter().all(|c| c.len() < 400_000));
        let doc = Doc::new();
        for chunk in &chunks {
            apply(&doc, chunk);
        }
        assert_eq!(Board::new(&doc).note_count(&doc.transact()) as usize, ids.len());
    }
}
