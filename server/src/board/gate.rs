//! Who may come onto a board: the one admission check, run by the board's owner and by
//! its replicas on other nodes alike.

use std::collections::HashSet;

use tracing::warn;

use super::command::Member;
use super::error::BoardError;
use crate::auth::{self, AuthError};
use crate::store::BoardRecord;

/// Who may come onto a board, and whether it still takes anyone.
pub(crate) struct Gate {
    /// The board's links generation: participant and viewer tokens must match it.
    pub(crate) links_generation: u64,
    /// People the facilitator removed (person ids): refused from then on.
    pub(crate) removed: HashSet<String>,
    /// Whether the board agreed to unload (to make room for another).
    pub(crate) unloading: bool,
    /// Most connections on the board.
    max_connections: usize,
}

impl Gate {
    /// The gate of a board as stored, taking at most `max_connections`.
    pub(crate) fn new(record: &BoardRecord, max_connections: usize) -> Gate {
        Gate {
            links_generation: record.links_generation,
            removed: record.removed.iter().cloned().collect(),
            unloading: false,
            max_connections,
        }
    }

    /// Whether `member` may join the board, which has `connections` already; the
    /// refusal says why.
    pub(crate) fn admit(&self, member: &Member, connections: usize) -> Result<(), BoardError> {
        if let Some(claims) = &member.claims {
            auth::check_generation(claims, self.links_generation)?;
        }
        if self.removed.contains(&member.author.id) {
            warn!("a removed person tried to join; refused");
            return Err(AuthError::Removed.into());
        }
        if self.unloading {
            return Err(BoardError::Unloading);
        }
        if connections >= self.max_connections {
            return Err(BoardError::Full { limit: self.max_connections });
        }
        Ok(())
    }

    /// The links were rotated to `generation`. Generations only rise: a late word of an
    /// older rotation changes nothing. Returns the board's generation now.
    pub(crate) fn rotated(&mut self, generation: u64) -> u64 {
        self.links_generation = generation.max(self.links_generation);
        self.links_generation
    }

    /// Whether `member` keeps its place after a rotation: its token is of the board's
    /// generation (or it came without one, to an open board).
    pub(crate) fn keeps(&self, member: &Member) -> bool {
        member.claims.as_ref().is_none_or(|claims| auth::check_generation(claims, self.links_generation).is_ok())
    }

    /// Asked to unload to make room for another board: agrees when nobody is on this
    /// one (`empty`), and stays agreed. Answers whether it unloads.
    pub(crate) fn unload(&mut self, empty: bool) -> bool {
        self.unloading = self.unloading || empty;
        self.unloading
    }
}
