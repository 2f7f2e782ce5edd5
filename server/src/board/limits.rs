//! What an update may take: its size, its sender's share, the document's size, and the room kept for cleaning up.

use commonboard_protocol::app::{ErrorCode, Role, ServerMessage};
use commonboard_protocol::close;
use commonboard_protocol::frame::{self, Message};
use commonboard_protocol::validate;
use tracing::warn;
use yrs::{ReadTxn, Transact};

use crate::doc::encoded_len;
use crate::outbox::ConnId;
use crate::telemetry::{self, Limit};

use super::fanout::Outgoing;
use super::Board;

impl Board {
    /// `conn` sent a frame past what the board holds while its document integrates
    /// (`board_load`): it is closed, to reconnect; nothing of it was accepted, and its
    /// client sends its changes again. Its end (`Leave`) removes it as usual.
    pub(super) fn refuse_while_loading(&mut self, conn: ConnId) {
        telemetry::refused(Limit::HeldForLoad);
        if let Some(state) = self.conns.get(&conn) {
            state.outbox.close(close::BOARD_LOADING, crate::board_load::LOADING_REASON);
        }
    }

    /// Whether an update from `conn` is within the board's limits: its size, its
    /// sender's share of the board (`max_person_bytes`, the facilitator excepted), and
    /// the document's size with it. One that is not is refused, not applied, not
    /// stored, not relayed, and so is every later change of that connection, which
    /// builds on it: the client is told once (the Yjs permission-denied message, and an
    /// application `error` if it said hello) and stays connected, so it does not
    /// reconnect and resend the change in a loop. The board goes on for everyone else.
    ///
    /// An update that only deletes what the board holds is the exception: a board at
    /// its limits can always be cleaned up (see [`Self::cleanup_fits`]). It is taken
    /// from a connection whose earlier change was refused too, as it needs nothing the
    /// board lacks.
    pub(super) fn within_limits(&mut self, conn: ConnId, bytes: &[u8], out: &mut Outgoing) -> bool {
        let Some(state) = self.conns.get(&conn) else { return false };
        let refused_before = state.over_limit.is_some();
        let person = &state.member.author.id;
        let share = (state.member.role != Role::Facilitator).then_some(self.limits.max_person_bytes);
        let (limit, size, max) = if bytes.len() > self.limits.max_update_bytes {
            (Limit::UpdateSize, bytes.len(), self.limits.max_update_bytes)
        } else if refused_before {
            return self.cleanup_fits(bytes);
        } else if let Some(max) = share.filter(|&max| self.written.would_pass(person, bytes.len(), max)) {
            (Limit::PersonShare, self.written.of(person).saturating_add(bytes.len()), max)
        } else if self.would_outgrow(bytes.len()) {
            (Limit::DocumentSize, self.doc_bytes.saturating_add(bytes.len()), self.limits.max_document_bytes)
        } else {
            return true;
        };
        if limit != Limit::UpdateSize && self.cleanup_fits(bytes) {
            return true;
        }
        if refused_before {
            return false;
        }
        let reason = match limit {
            Limit::UpdateSize => format!(
                "change not saved: {size} bytes is over the limit of {max} bytes for one change; \
                 reload the board to go on editing"
            ),
            Limit::PersonShare => format!(
                "change not saved: it would bring what you wrote on this board to {size} bytes, over the \
                 share of {max} bytes one person may write (so that nobody can fill the board for everyone); \
                 reload the board to see what was saved; you can still delete, and the facilitator can still edit"
            ),
            _ => format!(
                "change not saved: the board reached its size limit of {max} bytes; \
                 reload the board to see what was saved; deleting notes makes room"
            ),
        };
        warn!(conn, limit = max, size, kind = limit.label(), "refused a change over a limit; its sender is told");
        telemetry::refused(limit);
        let state = self.conns.get_mut(&conn).expect("checked above");
        state.over_limit = Some(limit);
        out.direct.push((conn, frame::encode_frame([&Message::Auth(Some(reason.clone()))]).into()));
        if state.app {
            let error = ServerMessage::Error { code: ErrorCode::LimitReached, message: reason };
            out.direct.push((conn, frame::server_app(&error).into()));
        }
        false
    }

    /// Whether an update that a limit would refuse only deletes what the board holds,
    /// and so is taken anyway: no person's share counts it, and it is held to the
    /// document's limit with room to spare for cleaning up (a sixteenth of it), at what
    /// it can add at most, [`validate::DELETED_RANGE_GROWTH`] bytes per deleted range
    /// (a delete splits the items it cuts into), rather than at its size. That room
    /// bounds how far deletes alone can take a board past its limit; a delete that
    /// frees space gives it back once the board is measured again. Only looked at once a
    /// limit is reached: no state vector is built on the hot path.
    pub(super) fn cleanup_fits(&mut self, bytes: &[u8]) -> bool {
        let state = std::cell::OnceCell::new();
        let known = |client| state.get_or_init(|| self.doc.transact().state_vector()).get(&yrs::ClientID::new(client));
        let Some(ranges) = validate::deletes_only_v1(bytes, known) else { return false };
        let growth = ranges.saturating_mul(validate::DELETED_RANGE_GROWTH);
        let room = self.limits.max_document_bytes / 16;
        if self.would_outgrow_by(growth, room) {
            warn!(ranges, "a delete would take the board past its limit and the room kept for cleaning up");
            return false;
        }
        self.doc_bytes = self.doc_bytes.saturating_add(growth);
        true
    }

    /// Whether an update of `bytes` would take the document past its size limit: the
    /// estimate says when to look, and the document is measured before refusing.
    pub(super) fn would_outgrow(&mut self, bytes: usize) -> bool {
        self.would_outgrow_by(bytes, 0)
    }

    /// [`Self::would_outgrow`], with the limit raised by `room` bytes.
    pub(super) fn would_outgrow_by(&mut self, bytes: usize, room: usize) -> bool {
        let max = self.limits.max_document_bytes.saturating_add(room);
        if self.doc_bytes.saturating_add(bytes) <= max {
            return false;
        }
        if self.doc_bytes != self.measured {
            self.measure();
        }
        self.doc_bytes.saturating_add(bytes) > max
    }

    /// Measures the document's encoded size (the whole state encoded once).
    pub(super) fn measure(&mut self) {
        self.doc_bytes = encoded_len(&self.doc);
        self.measured = self.doc_bytes;
    }

    /// Whether a change the server writes itself (a reveal, a restore, a vote's result)
    /// fits the board's limits like a client's change: `update` bytes in one change, the
    /// document growing by `growth`. Both are upper bounds of what the change writes, so
    /// a change checked here never takes the board past a limit. The refusal says why.
    pub(super) fn server_write_fits(&mut self, what: &str, update: usize, growth: usize) -> Result<(), String> {
        let reason = if update > self.limits.max_update_bytes {
            let max = self.limits.max_update_bytes;
            format!("{what} would write {update} bytes in one change, over the limit of {max} bytes")
        } else if growth > 0 && self.would_outgrow(growth) {
            let max = self.limits.max_document_bytes;
            format!("{what} would take the board past its size limit of {max} bytes")
        } else {
            return Ok(());
        };
        warn!(%reason, "refused a server-side write over a limit");
        telemetry::refused(Limit::FieldSize);
        Err(reason)
    }
}
