//! What a connection tells its board (`BoardCmd`), who it is there (`Member`), and the handle it holds.

use std::sync::Arc;

use commonboard_protocol::app::Role;
use commonboard_protocol::frame::Incoming;
use commonboard_protocol::history::RestoreResult;
use tokio::sync::{mpsc, oneshot};

use crate::auth::Claims;
use crate::outbox::{ConnId, Outbox};
use crate::store::{Author, StoreError};

use super::error::BoardError;
use super::usage::Usage;

/// Who a connection is on a board: its person (an id the server issued, and a display
/// name that is only a label), its role, and its token's claims (`None` for open
/// boards reached without a token).
#[derive(Debug, Clone)]
pub struct Member {
    pub author: Author,
    pub role: Role,
    pub claims: Option<Claims>,
}

impl Member {
    /// Whether the person holds a personal link the facilitator handed out (the
    /// roster of a restricted vote), or is the facilitator.
    pub fn on_roster(&self) -> bool {
        self.role == Role::Facilitator || self.claims.as_ref().is_some_and(|c| c.minted)
    }

    /// Whether the server chose this person's id for this connection (a shared link):
    /// the person is given a personal token to keep.
    pub(super) fn needs_personal_token(&self) -> bool {
        self.role == Role::Participant && self.claims.as_ref().is_none_or(|c| c.identity.is_none())
    }
}

/// What a connection tells its board.
pub enum BoardCmd {
    /// A connection joins; the board answers once it is loaded (or cannot be).
    Join { conn: ConnId, member: Member, outbox: Outbox, reply: oneshot::Sender<Result<(), BoardError>> },
    /// Messages of one frame from a connection, in order.
    Messages { conn: ConnId, messages: Vec<Incoming> },
    /// A connection ended.
    Leave { conn: ConnId },
    /// The facilitator rotated the links: tokens of older generations are refused, and
    /// connections holding them are closed.
    LinksRotated { generation: u64 },
    /// Return the board to a past state (`state`, the whole document at point `to_seq`)
    /// as a new forward change; answered once the change is durable.
    Restore { to_seq: u64, state: Vec<u8>, by: Author, reply: oneshot::Sender<Result<RestoreResult, StoreError>> },
    /// Unload now to make room for another board, if nobody is on this one: answers
    /// whether it unloads (it then checkpoints and ends, see [`Usage::exited`]).
    Unload { reply: oneshot::Sender<bool> },
    /// The facilitator removes a person: their person id is refused from now on (kept
    /// in the store), their connections are closed, and what they wrote stays. Answers,
    /// once durable, how many connections were closed.
    RemovePerson { person: String, by: Author, reply: oneshot::Sender<Result<u32, StoreError>> },
    /// The facilitator rotates links: the links generation rises by `step` (see `auth`
    /// for its two counters), read, raised and saved by the actor alone so that two
    /// rotations never both write the same one. Answers, once durable, the new generation.
    RotateLinks { step: u64, reply: oneshot::Sender<Result<u64, StoreError>> },
}

/// A cheap handle to a running board.
#[derive(Clone)]
pub struct BoardHandle {
    pub tx: mpsc::Sender<BoardCmd>,
    /// Distinguishes this load of the board from earlier and later ones.
    pub generation: u64,
    /// How the board is used, for the registry to choose which board to unload.
    pub usage: Arc<Usage>,
}
