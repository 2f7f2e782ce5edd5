//! The board actor: the one task that owns a board's `yrs::Doc`.
//!
//! Connections send it [`BoardCmd`]s; it answers with encoded frames pushed into each
//! connection's bounded queue. Nothing else touches the document, so no lock guards
//! it. The actor works in *ticks*: it takes every command waiting in its inbox, applies
//! them all, commits the new updates to the store in one write, and only then sends
//! anything out: one merged update frame and one awareness frame, encoded once and
//! shared by every recipient, plus the direct replies. An update is therefore relayed
//! only after it is durable, and a busy board naturally batches more per tick.
//!
//! The decisions are apart from the IO: [`Board::tick`] takes a tick's commands and
//! returns what they decided (`Outgoing`: writes, frames, answers) without awaiting
//! anything; `actor.rs` is the task around it (receive, tick, commit, send). The core
//! holds no store: when yrs panicked or refused an update part way, the tick stops
//! there, the actor reads what is durable and hands it back ([`Board::reload`]), and
//! the tick goes on with its remaining commands, none of which meets a broken document.

use std::collections::HashMap;
use std::sync::Arc;

use commonboard_protocol::app::ServerMessage;
use commonboard_protocol::history::Change;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use self::edits::Reload;
use self::fanout::Outgoing;
use crate::awareness::Awareness;
use crate::board_load::{Admit, Warming};
use crate::outbox::{ConnId, Outbox};
use crate::share::Written;
use crate::store::{Author, BoardEvent, Write};
use crate::telemetry;
use crate::telemetry::Limit;
use crate::vote::Vote;
use crate::workshop::Workshop;

// The board's state and its decisions, one concern a file; all of them `impl Board`.
mod admission;
mod answers;
mod edits;
mod fanout;
mod flow;
mod gate;
mod limits;
mod messages;
mod pace;
mod presence;
mod restore;
mod votes;
// Its types, as the rest of the server sees them.
pub(crate) mod command;
mod config;
mod error;
mod usage;
// Around it: creating a board, and the task that runs it.
mod actor;
mod create;
mod peers;
#[cfg(test)]
mod tests;

pub use self::actor::spawn;
pub(crate) use self::actor::{refuse_all, run, start};
pub(crate) use self::answers::{answer_burst, AnswerAllowance};
pub use self::command::{BoardCmd, BoardHandle, Member};
pub use self::config::{BoardConfig, BoardLimits, HeldLimits, Issuer};
pub(crate) use self::create::create_open_board;
pub use self::create::{new_board, NewBoard};
pub use self::error::BoardError;
pub(crate) use self::gate::Gate;
pub use self::messages::MAX_NAME_CHARS;
pub use self::peers::Peers;
pub use self::usage::{Pending, Usage};

/// A connection on the board, as the board sees it.
struct Conn {
    outbox: Outbox,
    member: Member,
    /// Whether the client said hello and receives application messages.
    app: bool,
    /// Whether the client was told that its changes are refused (told once).
    told_read_only: bool,
    /// Why this connection's changes are no longer accepted, once one passed a limit:
    /// its later changes build on the refused one and cannot apply without it.
    over_limit: Option<Limit>,
    /// Whether the client was told its awareness state is over a limit (told once).
    told_awareness: bool,
    /// Whether the client was told it may not set another connection's presence (once).
    told_forged_presence: bool,
    /// What it was sent of sync answers lately (`answers`).
    answers: answers::AnswerAllowance,
}

struct Board {
    id: String,
    doc: Doc,
    /// Set by a command after which the document must be read back from the store
    /// before anything else touches it: the tick stops there (see [`Board::tick`]).
    reload_due: Option<Reload>,
    /// Sequence number of the last logged update.
    seq: u64,
    /// Sequence number of the newest checkpoint.
    checkpoint_seq: u64,
    checkpoint_every: u64,
    /// The newest checkpoint's size, and the bytes logged since it: checkpoints are
    /// placed by cost (`actor::CHECKPOINT_TAIL_SHARE`).
    checkpoint_bytes: usize,
    logged_bytes: usize,
    conns: HashMap<ConnId, Conn>,
    awareness: Awareness,
    /// Presence changes waiting while the board is busy (`presence::PRESENCE_BUDGET`).
    held_presence: presence::HeldPresence,
    /// Committed updates waiting for a big board's next broadcast (`pace`).
    held_updates: pace::HeldUpdates,
    /// Sync answers held for connections that ask too often, and the whole state's
    /// shared answer (`answers`).
    answers: answers::Answers,
    /// Who may come onto the board: the links generation, the people removed, whether
    /// it is unloading.
    gate: Gate,
    /// Whether only the facilitator may change the document.
    locked: bool,
    /// The board's votes, oldest first.
    votes: Vec<Vote>,
    /// The workshop flow: step, timer, private writing, turns.
    workshop: Workshop,
    /// Where the facilitator last showed the room, for screens that join later.
    viewport: Option<(commonboard_protocol::workshop::Viewport, String)>,
    limits: BoardLimits,
    /// The document's encoded size (Yjs v1), estimated: the last measure plus the size
    /// of every update applied since (an update adds about its own size; deletions take
    /// some away). Measured again before anything is refused for it. `usize::MAX` until
    /// first measured: a loaded board is measured at its first change, not while
    /// people wait for it to load (encoding a big board takes a tenth of its loading).
    doc_bytes: usize,
    /// `doc_bytes` when it was last measured: while they are equal nothing was applied
    /// since, and measuring again would find the same (a limit refusing update after
    /// update measures once).
    measured: usize,
    /// Bytes each person wrote on the board (logged updates), for `max_person_bytes`.
    written: Written,
    usage: Arc<Usage>,
    /// With several nodes: where committed updates and presence go for the other nodes,
    /// and which connections are theirs.
    cluster: Option<Box<dyn Peers>>,
    /// While the document integrates after a load: the stored form that answers
    /// joining clients, and the commands waiting for the document (see `board_load`).
    /// `doc` is an empty placeholder meanwhile and must not be read.
    warming: Option<Warming>,
    /// Signs the personal tokens of the people this board issues ids to.
    issuer: Option<Issuer>,
}

impl Board {
    /// One tick: the commands in turn, decided on the board's state alone, into `out`.
    /// Nothing is stored or sent here; what is to be is in `out`, which the actor commits
    /// and then sends. Returns `None` once `commands` ran out, or stops early with
    /// `Some` when the document must first be read back from the store (yrs panicked or
    /// refused an update part way): the actor reads it, passes it to [`Board::reload`],
    /// and calls this again with the same `commands` and `out`.
    fn tick(&mut self, commands: &mut impl Iterator<Item = BoardCmd>, out: &mut Outgoing) -> Option<Reload> {
        let applying = std::time::Instant::now();
        for cmd in commands.by_ref() {
            // While the document integrates, what needs it waits (see `board_load`).
            let cmd = match self.warming.as_mut() {
                Some(warming) => match warming.admit(cmd) {
                    Admit::Now(cmd) => cmd,
                    Admit::Waits => continue,
                    Admit::Refuse(conn) => {
                        self.refuse_while_loading(conn);
                        continue;
                    }
                },
                None => cmd,
            };
            self.decide(cmd, out);
            if let Some(reload) = self.reload_due.take() {
                metrics::histogram!(telemetry::APPLY_SECONDS).record(applying.elapsed().as_secs_f64());
                return Some(reload);
            }
        }
        metrics::histogram!(telemetry::APPLY_SECONDS).record(applying.elapsed().as_secs_f64());
        if out.workshop {
            out.writes.push(Write::Workshop { board: self.id.clone(), state_json: self.workshop.state_json() });
            out.app.push(ServerMessage::Workshop { state: self.workshop.view() });
        }
        None
    }

    /// One command, decided into `out`.
    fn decide(&mut self, cmd: BoardCmd, out: &mut Outgoing) {
        match cmd {
            BoardCmd::Join { conn, member, outbox, reply } => self.join(conn, member, outbox, reply, out),
            BoardCmd::Messages { conn, messages } => {
                for message in messages {
                    if !self.conns.contains_key(&conn) {
                        break;
                    }
                    self.handle(conn, message, out);
                }
            }
            BoardCmd::Leave { conn } => self.leave(conn, out),
            BoardCmd::LinksRotated { generation } => self.links_rotated(generation),
            BoardCmd::Restore { to_seq, state, by, reply } => self.restore(to_seq, &state, by, reply, out),
            BoardCmd::Unload { reply } => {
                let _ = reply.send(self.gate.unload(self.conns.is_empty()));
            }
            BoardCmd::RemovePerson { person, by, reply } => self.remove_person(person, &by, reply, out),
            BoardCmd::RotateLinks { step, reply } => self.rotate_links(step, reply, out),
        }
    }

    /// The board's state vector: its document's, or while that integrates, its
    /// stored form's, if that was read (`None`: not before the document is ready).
    fn state_vector(&self) -> Option<StateVector> {
        match &self.warming {
            Some(warming) => warming.encoded().and_then(|e| e.state_vector().cloned()),
            None => Some(self.doc.transact().state_vector()),
        }
    }

    /// A board event for the history, at the board's newest point.
    fn event(&self, author: &Author, change: Change) -> Write {
        let event = BoardEvent {
            seq: self.seq,
            at_ms: now_ms(),
            author: author.clone(),
            change_json: serde_json::to_string(&change).expect("change serializes"),
        };
        Write::Event { board: self.id.clone(), event }
    }
}

/// Server time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
