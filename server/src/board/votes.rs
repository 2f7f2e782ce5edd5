//! Votes on the board: opening, ballots, closing and revealing, turnout, and the chosen goal a decided vote writes.

use std::collections::HashSet;
use std::time::Duration;

use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage, VoteSettings};
use commonboard_protocol::frame;
use commonboard_protocol::history::{Change, ChangeKind};
use commonboard_protocol::schema;
use tracing::info;
use yrs::Transact;

use crate::outbox::ConnId;
use crate::placement;
use crate::store::{Author, BallotRow, Write};
use crate::vote::{Vote, VoteError};

use super::edits::{apply_layout, goal_weight};
use super::fanout::Outgoing;
use super::{now_ms, Board};

/// The area of a workshop template's frame the chosen common goal goes into.
pub(super) const GOAL_AREA: &str = "chosen";

pub(super) fn refusal(error: VoteError) -> ServerMessage {
    ServerMessage::Error { code: error.code(), message: error.to_string() }
}

pub(super) fn vote_write(board: &str, vote: &Vote) -> Write {
    Write::Vote { board: board.into(), vote: vote.to_record() }
}

/// A vote's event for the history, named by its title.
pub(super) fn vote_change(kind: ChangeKind, vote: &Vote) -> Change {
    let label = Some(vote.settings.title.trim().to_owned()).filter(|t| !t.is_empty());
    Change { kind, id: Some(vote.id.clone()), fields: Vec::new(), label, to_seq: None }
}

/// The vote a cast names.
pub(super) fn message_vote(message: &ClientMessage) -> String {
    match message {
        ClientMessage::CastVote { vote, .. } | ClientMessage::RetractVote { vote, .. } => vote.clone(),
        _ => String::new(),
    }
}

impl Board {
    /// How many people voted in `vote` against how many present may vote.
    pub(super) fn turnout(&self, vote: &Vote) -> commonboard_protocol::app::Turnout {
        let present: HashSet<&str> = self
            .conns
            .values()
            .filter(|c| c.member.role != Role::Viewer && (!vote.settings.roster || c.member.on_roster()))
            .map(|c| c.member.author.id.as_str())
            .collect();
        commonboard_protocol::app::Turnout { voted: vote.voters(), present: present.len() as u32 }
    }

    /// A vote as the facilitator sees it: the whole tally and the turnout.
    pub(super) fn facilitator_view(&self, vote: &Vote) -> commonboard_protocol::app::VoteView {
        commonboard_protocol::app::VoteView { turnout: Some(self.turnout(vote)), ..vote.view(true) }
    }

    /// Whether `conn` may vote in vote `id`: anyone but a viewer, or, in a vote
    /// restricted to the roster, only people holding a link the facilitator handed out.
    pub(super) fn may_vote(&self, conn: ConnId, id: &str) -> bool {
        let Some(vote) = self.votes.iter().find(|v| v.id == id) else { return true };
        !vote.settings.roster || self.conns.get(&conn).is_some_and(|c| c.member.on_roster())
    }

    /// Opens a vote; returns the refusal if its settings are not valid.
    pub(super) fn open_vote(
        &mut self,
        settings: VoteSettings,
        by: &Author,
        out: &mut Outgoing,
    ) -> Option<ServerMessage> {
        if self.votes.len() >= crate::vote::MAX_VOTES_PER_BOARD {
            let max = crate::vote::MAX_VOTES_PER_BOARD;
            return Some(refusal(VoteError::Invalid(format!(
                "this board holds {max} votes already, the most it keeps"
            ))));
        }
        let id = format!("{:016x}", rand::random::<u64>());
        let (doc, board) = (&self.doc, self.roots());
        let vote = match Vote::open(id, settings, now_ms(), |note| board.has_note(&doc.transact(), note)) {
            Ok(vote) => vote,
            Err(error) => return Some(refusal(error)),
        };
        info!(vote = %vote.id, candidates = vote.settings.candidates.len(), "vote opened");
        out.writes.push(vote_write(&self.id, &vote));
        out.writes.push(self.event(by, vote_change(ChangeKind::VoteOpened, &vote)));
        out.votes.push(vote.id.clone());
        self.votes.push(vote);
        None
    }

    /// Casts (or retracts) one vote; answers with the voter's ballot or a refusal.
    pub(super) fn ballot(
        &mut self,
        conn: ConnId,
        voter: &Author,
        id: &str,
        candidate: &str,
        cast: bool,
        out: &mut Outgoing,
    ) -> Option<ServerMessage> {
        let Some(vote) = self.votes.iter_mut().find(|v| v.id == id) else {
            return Some(ServerMessage::Error { code: ErrorCode::NoSuchVote, message: "no such vote".into() });
        };
        let now = now_ms();
        let counted = if cast {
            vote.cast(&voter.id, &voter.name, candidate, now)
        } else {
            vote.retract(&voter.id, candidate, now)
        };
        let count = match counted {
            Ok(count) => count,
            Err(error) => return Some(refusal(error)),
        };
        let row = BallotRow { voter: voter.id.clone(), name: voter.name.clone(), candidate: candidate.into(), count };
        out.writes.push(Write::Ballot { board: self.id.clone(), vote: id.into(), ballot: row });
        let (mine, remaining) = vote.ballot(&voter.id);
        let ballot = ServerMessage::Ballot { vote: id.into(), mine, remaining };
        out.direct.push((conn, frame::server_app(&ballot).into()));
        if !out.votes.iter().any(|v| v == id) {
            out.votes.push(id.into());
        }
        None
    }

    /// Closes a vote, or reveals its tally; once a closed vote's tally is visible to
    /// everyone, its winner is recorded on the board as the common goal.
    pub(super) fn end_vote(
        &mut self,
        id: &str,
        reveal: bool,
        by: &Author,
        out: &mut Outgoing,
    ) -> Option<ServerMessage> {
        let Some(index) = self.votes.iter().position(|v| v.id == id) else {
            return Some(ServerMessage::Error { code: ErrorCode::NoSuchVote, message: "no such vote".into() });
        };
        let kind = if reveal { ChangeKind::VoteRevealed } else { ChangeKind::VoteClosed };
        let event = self.event(by, vote_change(kind, &self.votes[index]));
        let vote = &mut self.votes[index];
        if reveal {
            vote.revealed = true;
        } else {
            vote.open = false;
        }
        info!(vote = %id, open = vote.open, revealed = vote.revealed, "vote changed");
        out.writes.push(vote_write(&self.id, vote));
        out.writes.push(event);
        out.votes.push(id.into());
        let decided = !vote.open && (vote.revealed || !vote.settings.hidden);
        if let Some(winner) = vote.winner().filter(|_| decided) {
            let spot = self.goal_spot(&winner);
            // The goal, and the winning note moved into its area (a position and a frame id).
            let weight = goal_weight(&winner)
                + spot.as_ref().map_or(0, |(frame, _, _, layout)| 64 + frame.len() + layout.weight());
            if let Err(reason) = self.server_write_fits("the vote's result", weight, weight) {
                let message = format!("the vote is closed, but its result is not on the board: {reason}");
                return Some(ServerMessage::Error { code: ErrorCode::LimitReached, message });
            }
            self.server_change(out, |board, txn| {
                board.set_common_goal(txn, &winner);
                if let Some((frame, x, y, layout)) = &spot {
                    apply_layout(board, txn, layout);
                    board.move_note(txn, &winner, *x, *y);
                    board.set_note_field(txn, &winner, schema::note::FRAME, yrs::Any::from(frame.as_str()));
                }
            });
        }
        None
    }

    /// Where the chosen goal goes: free space in the board's "chosen" area (the template's
    /// "Our common goal"), unless it is there already or the board has no such area.
    /// Returns the frame, the place, and what moved to make room when the area was full.
    pub(super) fn goal_spot(&self, winner: &str) -> Option<(String, f64, f64, placement::Layout)> {
        let snapshot = self.roots().snapshot(&self.doc.transact());
        let frame = snapshot.frames.iter().find(|f| f.area.as_deref() == Some(GOAL_AREA))?;
        let note = snapshot.notes.iter().find(|n| n.id == winner)?;
        if note.frame.as_deref() == Some(frame.id.as_str()) {
            return None;
        }
        let mut placed = [schema::Note { frame: Some(frame.id.clone()), ..note.clone() }];
        let layout = placement::place_notes(&snapshot, &mut placed);
        Some((frame.id.clone(), placed[0].x, placed[0].y, layout))
    }

    /// When the next vote timer runs out, if one is running.
    pub(super) fn next_vote_deadline(&self) -> Option<tokio::time::Instant> {
        let at = self.votes.iter().filter(|v| v.open).filter_map(|v| v.closes_at_ms).min()?;
        let wait = u64::try_from(at - now_ms()).unwrap_or(0);
        Some(tokio::time::Instant::now() + Duration::from_millis(wait))
    }

    /// Closes the votes whose timer ran out.
    pub(super) fn close_due_votes(&mut self) -> Outgoing {
        let now = now_ms();
        let due: Vec<String> = self
            .votes
            .iter()
            .filter(|v| v.open && v.closes_at_ms.is_some_and(|at| at <= now))
            .map(|v| v.id.clone())
            .collect();
        let mut out = Outgoing::default();
        for id in due {
            self.end_vote(&id, false, &Author::server(), &mut out);
        }
        out
    }
}
