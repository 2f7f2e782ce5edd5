//! Who is on the board and what each may do: joining, leaving, links rotated, people removed, who may edit.

use std::collections::HashSet;

use bytes::Bytes;
use commonboard_protocol::app::{ErrorCode, Role, ServerMessage};
use commonboard_protocol::close::{self, CloseCode};
use commonboard_protocol::frame::{self, Message};
use commonboard_protocol::history::{Change, ChangeKind};
use tokio::sync::oneshot;
use tracing::{debug, info};
use yrs::{ReadTxn, Transact};

use crate::auth::{AuthError, Claims};
use crate::outbox::{ConnId, Outbox};
use crate::store::{Author, StoreError, Write};

use super::command::Member;
use super::error::BoardError;
use super::fanout::Outgoing;
use super::{now_ms, Board, Conn};

impl Board {
    pub(super) fn join(
        &mut self,
        conn: ConnId,
        member: Member,
        outbox: Outbox,
        reply: oneshot::Sender<Result<(), BoardError>>,
        out: &mut Outgoing,
    ) {
        if let Err(error) = self.gate.admit(&member, self.conns.len()) {
            let _ = reply.send(Err(error));
            return;
        }
        if reply.send(Ok(())).is_err() {
            return;
        }
        match self.state_vector() {
            Some(state_vector) => out.direct.push((conn, frame::sync_step1(&state_vector).into())),
            // Asked once the document is ready (see `board_load`).
            None => self.warming.as_mut().expect("only a warming board lacks its state vector").ask_later(conn),
        }
        let present = self.awareness.full();
        if !present.clients.is_empty() {
            out.direct.push((conn, frame::awareness(present).into()));
        }
        debug!(conn, author = %member.author.name, role = ?member.role, "joined");
        out.turnout |= member.role != Role::Viewer;
        let outbox = Outbox { max_queued: self.limits.max_queued_bytes, ..outbox };
        let state = Conn {
            outbox,
            member,
            app: false,
            told_read_only: false,
            over_limit: None,
            told_awareness: false,
            told_forged_presence: false,
            answers: super::answers::AnswerAllowance::new(),
        };
        self.conns.insert(conn, state);
    }

    /// Rotates the links (see [`BoardCmd::RotateLinks`]): the new generation is decided
    /// here, so joins later in the tick and a second rotation see it, and saved with the
    /// tick; once it is durable, connections holding older tokens are closed here and,
    /// with several nodes, on the others (see `actor.rs`).
    pub(super) fn rotate_links(
        &mut self,
        step: u64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
        out: &mut Outgoing,
    ) {
        let generation = self.gate.links_generation + step;
        self.gate.links_generation = generation;
        out.writes.push(Write::LinksGeneration { board: self.id.clone(), generation });
        out.rotations.push((reply, generation));
    }

    pub(super) fn links_rotated(&mut self, generation: u64) {
        self.gate.rotated(generation);
        let gate = &self.gate;
        self.conns.retain(|_, c| {
            let kept = gate.keeps(&c.member);
            if !kept {
                c.outbox.closer.close(close::FORBIDDEN, AuthError::Revoked.to_string());
            }
            kept
        });
    }

    /// Removes a person from the board: refused from now on, their connections closed.
    pub(super) fn remove_person(
        &mut self,
        person: String,
        by: &Author,
        reply: oneshot::Sender<Result<u32, StoreError>>,
        out: &mut Outgoing,
    ) {
        let mut closed = 0;
        let mut name = None;
        self.conns.retain(|conn, c| {
            if c.member.author.id != person {
                return true;
            }
            name = Some(c.member.author.name.clone());
            c.outbox.close(close::FORBIDDEN, AuthError::Removed.to_string());
            out.awareness.extend(self.awareness.remove_connection(*conn));
            closed += 1;
            false
        });
        info!(closed, "a person was removed from the board");
        if self.gate.removed.insert(person.clone()) {
            out.writes.push(Write::RemovePerson { board: self.id.clone(), person: person.clone(), at_ms: now_ms() });
            let change = Change {
                kind: ChangeKind::PersonRemoved,
                id: Some(person),
                fields: Vec::new(),
                label: name,
                to_seq: None,
            };
            out.writes.push(self.event(by, change));
        }
        out.turnout = true;
        out.removals.push((reply, closed));
    }

    pub(super) fn leave(&mut self, conn: ConnId, out: &mut Outgoing) {
        self.answers.left(conn);
        if let Some(c) = self.conns.remove(&conn) {
            debug!(conn, "left");
            out.turnout |= c.member.role != Role::Viewer;
        }
        out.awareness.extend(self.awareness.remove_connection(conn));
    }

    /// Whether to build a reply for `conn` (a sync step 2, the whole presence): once a
    /// tick for each kind (`answered`), and not for a client already too far behind to
    /// read it, which is closed instead. Checked before the reply is built, so a frame
    /// of repeated queries costs one reply, not one each.
    pub(super) fn may_reply(&self, conn: ConnId, answered: &mut HashSet<ConnId>) -> bool {
        let Some(state) = self.conns.get(&conn) else { return false };
        if !answered.insert(conn) {
            debug!(conn, "a repeated query in one tick; answered once");
            return false;
        }
        !state.outbox.too_far_behind()
    }

    /// A personal token for person `id`, for the client to keep and open the board with.
    pub(super) fn personal_token(&self, id: &str) -> Option<String> {
        let issuer = self.issuer.as_ref()?;
        let claims = Claims {
            board: self.id.clone(),
            role: Role::Participant,
            identity: Some(id.to_owned()),
            generation: self.gate.links_generation,
            expires: now_ms() / 1000 + issuer.link_ttl.as_secs() as i64,
            minted: false,
            presenter: false,
        };
        Some(issuer.signer.sign(&claims))
    }

    /// Whether `conn` may change the document; tells it once when it may not.
    pub(super) fn may_edit(&mut self, conn: ConnId, bytes: &[u8], out: &mut Outgoing) -> bool {
        let Some(state) = self.conns.get_mut(&conn) else { return false };
        let reason = match state.member.role {
            Role::Viewer => "read-only: this is a viewer link, changes are not saved",
            Role::Participant if self.locked => "the facilitator locked the board: changes are not saved",
            _ => return true,
        };
        // A viewer's provider answers the server's sync step 1 with its (usually empty)
        // state: nothing to refuse there.
        let empty = frame::decode_update(bytes).is_ok_and(|u| u.is_empty());
        if !empty && !state.told_read_only {
            state.told_read_only = true;
            debug!(conn, reason, "refused a change");
            out.direct.push((conn, frame::encode_frame([&Message::Auth(Some(reason.into()))]).into()));
            if state.app {
                let error = ServerMessage::Error { code: ErrorCode::Forbidden, message: reason.into() };
                out.direct.push((conn, frame::server_app(&error).into()));
            }
        }
        false
    }

    /// After an unlock, asks every participant whose changes the lock refused for what
    /// the board lacks (the server's state vector, sync step 1): their answer carries
    /// the refused changes, and with them every later change of theirs that builds on
    /// one (held by the document as missing its dependencies until then).
    pub(super) fn ask_refused_again(&mut self, out: &mut Outgoing) {
        let mut step1: Option<Bytes> = None;
        for (&conn, state) in &mut self.conns {
            if state.member.role != Role::Participant || !std::mem::take(&mut state.told_read_only) {
                continue;
            }
            let bytes =
                step1.get_or_insert_with(|| frame::sync_step1(&self.doc.transact().state_vector()).into()).clone();
            debug!(conn, "asking a client for the changes the lock refused");
            out.direct.push((conn, bytes));
        }
    }

    pub(super) fn close_all(&mut self, code: CloseCode, reason: &str) {
        for (_, c) in self.conns.drain() {
            c.outbox.closer.close(code, reason);
        }
    }
}
