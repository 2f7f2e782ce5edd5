//! The workshop flow on the board: step, timer, turns, and private notes until they are revealed.

use bytes::Bytes;
use commonboard_protocol::app::{ErrorCode, ServerMessage};
use commonboard_protocol::frame;
use commonboard_protocol::history::{Change, ChangeKind};
use commonboard_protocol::schema;
use tracing::{info, warn};
use yrs::Transact;

use crate::placement;
use crate::store::{Author, StoredPrivateNote, Write};
use crate::telemetry::{self, Limit};
use crate::workshop::{PrivateNote, Workshop, WorkshopError};

use super::edits::apply_layout;
use super::fanout::Outgoing;
use super::Board;

impl Board {
    /// Applies a change to the workshop flow; returns the refusal if it makes no sense.
    pub(super) fn workshop_change(
        &mut self,
        out: &mut Outgoing,
        change: impl FnOnce(&mut Workshop) -> Result<(), WorkshopError>,
    ) -> Option<ServerMessage> {
        match change(&mut self.workshop) {
            Ok(()) => {
                out.workshop = true;
                None
            }
            Err(error) => Some(ServerMessage::Error { code: error.code(), message: error.to_string() }),
        }
    }

    /// Saves a private note's change and sends its author (on every device) their notes.
    pub(super) fn private_note_changed(
        &mut self,
        author: &Author,
        id: &str,
        result: Result<(), WorkshopError>,
        out: &mut Outgoing,
    ) -> Option<ServerMessage> {
        if let Err(error) = result {
            if error.is_over_a_bound() {
                warn!(author = %author.id, %error, "refused a private note over a bound; its sender is told");
                telemetry::refused(Limit::FieldSize);
            }
            return Some(ServerMessage::Error { code: error.code(), message: error.to_string() });
        }
        let note = self.workshop.note_of(&author.id, id).map(|note| StoredPrivateNote {
            id: id.to_owned(),
            author: author.clone(),
            note_json: serde_json::to_string(&note).expect("note serializes"),
        });
        out.writes.push(Write::PrivateNote { board: self.id.clone(), id: id.to_owned(), note });
        self.send_private_notes(&author.id, out);
        // Everyone's placeholders count the notes being written.
        out.workshop = true;
        None
    }

    /// Sends a person's connections all of their private notes.
    pub(super) fn send_private_notes(&self, author_id: &str, out: &mut Outgoing) {
        let notes = ServerMessage::PrivateNotes { notes: self.workshop.notes_of(author_id) };
        let bytes = Bytes::from(frame::server_app(&notes));
        for (&conn, c) in &self.conns {
            if c.app && c.member.author.id == author_id {
                out.direct.push((conn, bytes.clone()));
            }
        }
    }

    /// Turns private writing on or off; off reveals every private note at once: each
    /// author's notes go onto the board as one change of theirs.
    /// A reveal that would write past `--max-update-bytes` (one author's notes) or
    /// `--max-document-bytes` (everyone's) is refused as a whole: private writing stays
    /// on, every note is kept, and the facilitator is told why.
    pub(super) fn set_private(&mut self, private: bool, by: &Author, out: &mut Outgoing) -> Option<ServerMessage> {
        if !private {
            let weights: Vec<usize> = self.workshop.reveal_weights().into_values().collect();
            let heaviest = weights.iter().copied().max().unwrap_or(0);
            let total: usize = weights.iter().sum();
            let fits = self
                .server_write_fits("the reveal", heaviest, 0)
                .and_then(|()| self.server_write_fits("the reveal", 0, total));
            if let Err(reason) = fits {
                let message = format!("{reason}; the private notes are kept: ask people to shorten or delete some");
                return Some(ServerMessage::Error { code: ErrorCode::LimitReached, message });
            }
        }
        let mut revealed = self.workshop.set_private(private);
        out.workshop = true;
        if revealed.is_empty() {
            return None;
        }
        // Each goes to free space in its area, never on top of a note already there.
        let snapshot = self.roots().snapshot(&self.doc.transact());
        let mut notes: Vec<schema::Note> = revealed.iter().map(|p| p.note.clone()).collect();
        let layout = placement::place_notes(&snapshot, &mut notes);
        for (private, placed) in revealed.iter_mut().zip(notes) {
            private.note = placed;
        }
        // Full areas grew to hold them, and what lay below moved down.
        if !layout.is_empty() {
            self.server_change(out, |board, txn| apply_layout(board, txn, &layout));
        }
        let mut by_author: Vec<(Author, Vec<PrivateNote>)> = Vec::new();
        for note in revealed {
            match by_author.iter_mut().find(|(a, _)| a.id == note.author.id) {
                Some((_, notes)) => notes.push(note),
                None => by_author.push((note.author.clone(), vec![note])),
            }
        }
        let count: usize = by_author.iter().map(|(_, notes)| notes.len()).sum();
        for (author, notes) in by_author {
            self.change_as(author.clone(), out, |board, txn| {
                for private in &notes {
                    board.insert_note(txn, &private.note);
                }
            });
            self.send_private_notes(&author.id, out);
        }
        out.writes.push(Write::ClearPrivateNotes { board: self.id.clone() });
        let label = Some(format!("{count} notes"));
        let change = Change { kind: ChangeKind::NotesRevealed, id: None, fields: Vec::new(), label, to_seq: None };
        out.writes.push(self.event(by, change));
        info!(count, "private notes revealed");
        None
    }
}
