//! The update path: a client's update checked, integrated in one transaction and logged, or refused; the server's own changes.

use std::mem::ManuallyDrop;

use commonboard_protocol::close;
use commonboard_protocol::frame;
use commonboard_protocol::schema;
use commonboard_protocol::validate;
use tracing::{debug, error, warn};
use yrs::{ReadTxn, Transact, TransactionMut};

use crate::doc::{contain_panic, discard, rebuild, ACCEPTED};
use crate::intake::{self, Held, Unfit};
use crate::nesting::{self, TooDeep};
use crate::outbox::ConnId;
use crate::placement;
use crate::store::{Author, LogEntry, StoredBoard};

use super::fanout::Outgoing;
use super::{now_ms, Board};

/// Why an update was not taken.
pub(super) enum Refusal {
    /// yrs refused it (or it does not decode): what to tell the client, and yrs's words.
    Invalid(&'static str, String),
    /// It nests shared types too deeply (it was integrated: the document is rebuilt).
    TooDeep(TooDeep),
    /// yrs refused it part way, after integrating some of it (the document is rebuilt).
    Rejected(String),
    /// It builds on changes the board lacks: not applied.
    Held(Held),
    /// It integrated changes of this client past a gap in its clock (it was integrated:
    /// the document is rebuilt); see [`intake::skipped_ahead`].
    Gap(yrs::block::ClientID),
    /// yrs panicked applying it.
    Panicked,
}

/// What applying an update found besides its outcome.
#[derive(Default)]
pub(super) struct Integrated {
    /// It waits for changes the board lacks: left the document missing something, or
    /// changed nothing while something is missing.
    pub(super) missing: bool,
    /// It changed the board's metadata (where the common goal is).
    pub(super) changed_meta: bool,
}

/// Why the document must be read back from the store before the tick goes on: what is
/// durable plus the tick's accepted updates replace it (see [`Board::reload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reload {
    /// It integrated what it must not have (yrs refused an update part way, or one nests
    /// too deeply or skips a gap): yrs is sound, and the replaced document is dropped.
    Drop,
    /// yrs panicked in it: the replaced document is leaked (see `doc::discard`).
    Discard,
}

/// Applies a client's update in `txn` and commits it: what the document gained (`None`
/// for a duplicate), or why it was refused. An update that builds on changes the board
/// lacks is not applied (the sender is asked for the rest), and one that overlaps what
/// the board has is trimmed: see `intake`. Types nest only as deep as `nesting` allows:
/// checked after an update that creates types, or one that may integrate updates
/// waiting for it.
pub(super) fn integrate(
    txn: &mut TransactionMut,
    bytes: &[u8],
    summary: &validate::UpdateSummary,
    roots: &schema::Board,
    integrated: &mut Integrated,
) -> Result<Option<Vec<u8>>, Refusal> {
    let update = intake::prepare(bytes, &summary.references, txn.before_state()).map_err(|unfit| match unfit {
        Unfit::Undecodable(e) => Refusal::Invalid("update does not decode", e),
        Unfit::Held(held) => Refusal::Held(held),
    })?;
    let waiting = txn.has_missing_updates();
    if let Err(e) = txn.apply_update(update) {
        // yrs may have integrated part of it before it stopped: committed by the caller
        // (a transaction commits when dropped), then undone.
        return Err(Refusal::Rejected(e.to_string()));
    }
    let unchanged = txn.before_state() == txn.after_state() && txn.delete_set().is_empty();
    integrated.missing = txn.has_missing_updates() && (!waiting || unchanged);
    // What changed, and how deeply types nest, is read off the committed transaction.
    txn.commit();
    if let Some(client) = intake::skipped_ahead(txn, txn.before_state()) {
        return Err(Refusal::Gap(client));
    }
    if !summary.types.is_empty() || waiting {
        // Updates waiting in the document may come in with this one, and bring types
        // the summary does not list.
        nesting::check(txn, (!waiting).then_some(&summary.types[..])).map_err(Refusal::TooDeep)?;
    }
    integrated.changed_meta = roots.meta_changed(txn);
    Ok((!unchanged).then(|| txn.encode_update_v1()))
}

/// Writes what placing notes moved: grown or moved frames, and notes moved down.
pub(super) fn apply_layout(board: &schema::Board, txn: &mut yrs::TransactionMut, layout: &placement::Layout) {
    for f in &layout.frames {
        board.set_frame_rect(txn, &f.id, f.x, f.y, f.w, f.h);
    }
    for (id, x, y) in &layout.notes {
        board.move_note(txn, id, *x, *y);
    }
}

impl Board {
    /// Makes a change to the document on the server's own account (logged and relayed
    /// like any update).
    pub(super) fn server_change(
        &mut self,
        out: &mut Outgoing,
        change: impl FnOnce(&schema::Board, &mut yrs::TransactionMut),
    ) {
        self.change_as(Author::server(), out, change);
    }

    /// Makes a change to the document on someone's behalf (logged under their name).
    pub(super) fn change_as(
        &mut self,
        author: Author,
        out: &mut Outgoing,
        change: impl FnOnce(&schema::Board, &mut yrs::TransactionMut),
    ) {
        let board = self.roots();
        let update = {
            let mut txn = self.doc.transact_mut();
            change(&board, &mut txn);
            txn.encode_update_v1()
        };
        self.seq += 1;
        self.doc_bytes = self.doc_bytes.saturating_add(update.len());
        self.log(out, author, update);
    }

    /// Logs and relays an update at the board's newest point (`seq`, already raised),
    /// counting it in its author's share.
    pub(super) fn log(&mut self, out: &mut Outgoing, author: Author, update: Vec<u8>) {
        self.answers.forget_whole();
        self.written.add(&author.id, update.len());
        out.log.push(LogEntry { seq: self.seq, at_ms: now_ms(), author, update: update.clone() });
        out.updates.push(update);
    }

    /// Applies one update from `conn`. What the document actually gained (nothing for a
    /// duplicate) is logged and relayed; an update yrs rejects, or one that makes yrs
    /// panic, closes that connection and changes nothing (`Err(None)`: yrs panicked).
    /// With `ask_if_missing` (a live update, not an answer to the server's sync step 1,
    /// so asking never loops), an update that waits for changes the board lacks has the
    /// server ask its sender for them.
    pub(super) fn apply(&mut self, conn: ConnId, bytes: &[u8], ask_if_missing: bool, out: &mut Outgoing) {
        let goal = self.common_goal();
        // The connection's reader checked the update; this reads what it refers to and
        // the types it creates.
        let summary = match validate::summarize_update_v1(bytes, &ACCEPTED) {
            Ok(summary) => summary,
            Err(invalid) => {
                debug!(conn, %invalid, "update does not read");
                return self.reject(conn, "update does not decode");
            }
        };
        let doc = &self.doc;
        let roots = self.roots();
        let mut integrated = Integrated::default();
        let outcome = contain_panic(|| -> Result<Option<Vec<u8>>, Refusal> {
            // yrs panics on some crafted updates (see `contain_yrs`): the transaction,
            // its commit included, runs contained, and a panic rebuilds the board below.
            frame::contain_yrs(|| {
                // Committed only if yrs did not panic (see `discard`).
                let mut txn = ManuallyDrop::new(doc.transact_mut());
                let outcome = integrate(&mut txn, bytes, &summary, &roots, &mut integrated);
                drop(ManuallyDrop::into_inner(txn));
                outcome
            })
            .unwrap_or(Err(Refusal::Panicked))
        });
        let missing = integrated.missing;
        if missing && ask_if_missing && matches!(outcome, Ok(Ok(_))) {
            // The update builds on changes the board never received (refused while the
            // board was locked, or lost on the way): ask the sender for them.
            debug!(conn, "an update waits for changes the board lacks; asking its sender");
            out.direct.push((conn, frame::sync_step1(&self.doc.transact().state_vector()).into()));
        }
        match outcome {
            Ok(Ok(Some(applied))) => {
                self.doc_bytes = self.doc_bytes.saturating_add(applied.len());
                self.seq += 1;
                let author = self.conns.get(&conn).map(|c| c.member.author.clone()).unwrap_or_else(Author::server);
                self.log(out, author, applied);
                out.writers.push(conn);
                if integrated.changed_meta {
                    self.keep_common_goal(conn, goal, out);
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(Refusal::Invalid(reason, detail))) => {
                debug!(conn, detail, "update refused by yrs");
                self.reject(conn, reason);
            }
            Ok(Err(Refusal::Rejected(detail))) => {
                // The document may hold part of the update, which the log does not: it
                // goes back to what is durable and this tick's accepted updates (found by
                // `board_messages`, `fuzz/regressions/board_messages-checkpoint-vs-log-2`).
                debug!(conn, detail, "update refused by yrs part way; reloading the document");
                self.reject(conn, "update rejected");
                self.reload_due = Some(Reload::Drop);
            }
            Ok(Err(Refusal::Held(held))) if ask_if_missing => {
                debug!(conn, ?held, "an update builds on changes the board lacks; asking its sender for the rest");
                out.direct.push((conn, frame::sync_step1(&self.doc.transact().state_vector()).into()));
            }
            Ok(Err(Refusal::Held(held))) => {
                // An answer to the server's own sync step 1 holds everything from the
                // board's state on: a gap in it is not a Yjs client's.
                warn!(conn, ?held, "a sync answer builds on changes the board lacks; refusing it");
                self.reject(conn, held.reason());
            }
            Ok(Err(Refusal::Gap(client))) => {
                // Integrated, like a too-deep update below: the document goes back to
                // what is durable and this tick's accepted updates.
                warn!(conn, ?client, "an update skips changes the board lacks; refusing it");
                let reason = "update refused: it skips over changes the board does not have";
                self.reject(conn, reason);
                self.reload_due = Some(Reload::Drop);
            }
            Ok(Err(Refusal::TooDeep(too_deep))) => {
                // Integrated, but neither logged nor relayed: the document goes back to
                // what is durable and this tick's accepted updates. yrs is sound here (no
                // panic), so the replaced document is dropped as usual.
                warn!(conn, %too_deep, "an update nests shared types too deeply; refusing it");
                self.reject(conn, &format!("update refused: {too_deep}"));
                self.reload_due = Some(Reload::Drop);
            }
            Ok(Err(Refusal::Panicked)) | Err(_) => {
                error!(conn, "yrs panicked applying an update; rebuilding the board from the store");
                self.reject(conn, "update crashed the CRDT engine");
                self.reload_due = Some(Reload::Discard);
            }
        }
    }

    /// The common goal is the vote's result, which only the server writes: a client's
    /// change to it (a modified or hostile client; the web client never writes it) is
    /// undone at once by a server change, which every client receives after it.
    pub(super) fn keep_common_goal(&mut self, conn: ConnId, goal: Option<String>, out: &mut Outgoing) {
        if self.common_goal() == goal {
            return;
        }
        warn!(conn, "a client changed the common goal, which only a vote sets; putting it back");
        let weight = goal_weight(goal.as_deref().unwrap_or_default());
        if self.server_write_fits("putting the common goal back", weight, weight).is_err() {
            return;
        }
        self.server_change(out, |board, txn| board.reset_common_goal(txn, goal.as_deref()));
    }

    pub(super) fn common_goal(&self) -> Option<String> {
        self.roots().common_goal(&self.doc.transact())
    }

    /// The document's root types. Read, not created: creating (`schema::Board::new`)
    /// opens and commits a write transaction per root, which an update's path cannot
    /// afford. A board's roots exist from its first load on; a document without them
    /// (an empty one being set up) gets them here.
    pub(super) fn roots(&self) -> schema::Board {
        let existing = schema::Board::existing(&self.doc.transact());
        existing.unwrap_or_else(|| schema::Board::new(&self.doc))
    }

    pub(super) fn reject(&mut self, conn: ConnId, reason: &str) {
        warn!(conn, reason, "invalid update, closing connection");
        if let Some(c) = self.conns.remove(&conn) {
            c.outbox.closer.close(close::INVALID_DATA, close::fit_reason(reason));
        }
    }

    /// Replaces the document with `stored` (what is durable, read by the actor; `None`
    /// if it could not be read) plus this tick's accepted updates so far, once a command
    /// asked for it (`reload_due`). No IO: see [`Board::tick`].
    pub(super) fn reload(&mut self, reload: Reload, stored: Option<&StoredBoard>, out: &Outgoing) {
        let mut updates: Vec<&[u8]> = Vec::new();
        if let Some(stored) = stored {
            updates.extend(stored.tail.iter().map(|e| e.update.as_slice()));
        }
        updates.extend(out.updates.iter().map(Vec::as_slice));
        let rebuilt = rebuild(stored.and_then(|s| s.checkpoint.as_ref()), &updates);
        let replaced = std::mem::replace(&mut self.doc, rebuilt);
        self.answers.forget_whole();
        self.measure();
        match reload {
            Reload::Drop => drop(replaced),
            Reload::Discard => discard(replaced),
        }
    }
}

/// At most what writing (or putting back) the common goal adds to an update: the note
/// id and the item around it.
pub(super) fn goal_weight(note_id: &str) -> usize {
    64 + note_id.len()
}
