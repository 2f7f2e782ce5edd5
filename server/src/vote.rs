//! Live votes, decided by the server: a vote's settings, its ballots and its rules.
//!
//! Every cast is checked against the vote: it must be open (and its timer not run
//! out), the note must be one of its candidates, and the voter must have votes left in
//! the budget and on that candidate. Voters are identities, not connections, so a
//! reconnect or a second device does not give anyone more votes. The board actor owns
//! the votes of its board (so casts are serialized without locks) and commits every
//! accepted cast before acknowledging it.

use std::collections::{BTreeMap, HashMap};

use commonboard_protocol::app::{ErrorCode, Tally, VoteSettings, VoteView};

use crate::store::{StoredVote, VoteRecord};

/// Most candidates one vote may have.
pub const MAX_CANDIDATES: usize = 100;
/// Largest budget a voter may be given.
pub const MAX_BUDGET: u32 = 100;
/// Most votes one board keeps (each is kept for the history): a workshop opens a few.
pub const MAX_VOTES_PER_BOARD: usize = 200;
/// Longest title of a vote, in characters (longer ones are cut).
pub const MAX_TITLE: usize = 200;

/// One person's votes in a vote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ballot {
    /// Display name, for named tallies.
    pub name: String,
    /// Votes by candidate.
    pub votes: BTreeMap<String, u32>,
}

impl Ballot {
    fn total(&self) -> u32 {
        self.votes.values().sum()
    }
}

/// A vote on a board.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub id: String,
    pub settings: VoteSettings,
    pub opened_at_ms: i64,
    pub closes_at_ms: Option<i64>,
    pub open: bool,
    pub revealed: bool,
    /// Ballots by voter identity.
    pub ballots: HashMap<String, Ballot>,
}

/// Why a vote command was refused; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    #[error("{0}")]
    Invalid(String),
    #[error("the vote is closed")]
    Closed,
    #[error("that note is not a candidate of this vote")]
    NotACandidate,
    #[error("you have placed all {0} of your votes")]
    OverBudget(u32),
    #[error("you have placed the most votes allowed on this candidate ({0})")]
    OverCandidateLimit(u32),
    #[error("you have no vote on this candidate to take back")]
    NothingToRetract,
}

impl VoteError {
    pub fn code(&self) -> ErrorCode {
        match self {
            VoteError::Invalid(_) => ErrorCode::InvalidVote,
            VoteError::Closed => ErrorCode::VoteClosed,
            VoteError::NotACandidate => ErrorCode::NotACandidate,
            VoteError::OverBudget(_) => ErrorCode::OverBudget,
            VoteError::OverCandidateLimit(_) => ErrorCode::OverCandidateLimit,
            VoteError::NothingToRetract => ErrorCode::NothingToRetract,
        }
    }
}

impl Vote {
    /// Opens a vote; `note_exists` says whether a candidate is a note on the board.
    pub fn open(
        id: String,
        mut settings: VoteSettings,
        now_ms: i64,
        note_exists: impl Fn(&str) -> bool,
    ) -> Result<Vote, VoteError> {
        let mut seen = std::collections::HashSet::new();
        settings.candidates.retain(|c| seen.insert(c.clone()));
        settings.title = settings.title.trim().chars().take(MAX_TITLE).collect();
        if settings.candidates.is_empty() || settings.candidates.len() > MAX_CANDIDATES {
            return Err(VoteError::Invalid(format!("a vote needs 1 to {MAX_CANDIDATES} candidate notes")));
        }
        let max_id = commonboard_protocol::schema::bounds::ID;
        if settings.candidates.iter().any(|c| c.chars().count() > max_id) {
            return Err(VoteError::Invalid(format!("a candidate is a note id of at most {max_id} characters")));
        }
        if let Some(missing) = settings.candidates.iter().find(|c| !note_exists(c)) {
            return Err(VoteError::Invalid(format!("candidate {missing:?} is not a note on this board")));
        }
        if settings.budget == 0 || settings.budget > MAX_BUDGET || settings.max_per_candidate == 0 {
            return Err(VoteError::Invalid(format!(
                "each person needs 1 to {MAX_BUDGET} votes, and at least 1 per candidate"
            )));
        }
        if settings.duration_s == Some(0) {
            return Err(VoteError::Invalid("a timer must last at least one second".into()));
        }
        let closes_at_ms = settings.duration_s.map(|s| now_ms + i64::from(s) * 1000);
        Ok(Vote {
            id,
            settings,
            opened_at_ms: now_ms,
            closes_at_ms,
            open: true,
            revealed: false,
            ballots: HashMap::new(),
        })
    }

    /// Whether votes are still taken at `now_ms`.
    pub fn is_open(&self, now_ms: i64) -> bool {
        self.open && self.closes_at_ms.is_none_or(|at| now_ms < at)
    }

    /// Places one vote of `voter` on `candidate`; returns the voter's new count on it.
    pub fn cast(&mut self, voter: &str, name: &str, candidate: &str, now_ms: i64) -> Result<u32, VoteError> {
        self.check(candidate, now_ms)?;
        let ballot = self.ballots.entry(voter.to_owned()).or_default();
        if ballot.total() >= self.settings.budget {
            return Err(VoteError::OverBudget(self.settings.budget));
        }
        let count = ballot.votes.entry(candidate.to_owned()).or_default();
        if *count >= self.settings.max_per_candidate {
            return Err(VoteError::OverCandidateLimit(self.settings.max_per_candidate));
        }
        *count += 1;
        ballot.name = name.to_owned();
        Ok(*count)
    }

    /// Takes one vote of `voter` back from `candidate`; returns the voter's new count on it.
    pub fn retract(&mut self, voter: &str, candidate: &str, now_ms: i64) -> Result<u32, VoteError> {
        self.check(candidate, now_ms)?;
        let count = self
            .ballots
            .get_mut(voter)
            .and_then(|b| b.votes.get_mut(candidate))
            .filter(|c| **c > 0)
            .ok_or(VoteError::NothingToRetract)?;
        *count -= 1;
        Ok(*count)
    }

    fn check(&self, candidate: &str, now_ms: i64) -> Result<(), VoteError> {
        if !self.is_open(now_ms) {
            return Err(VoteError::Closed);
        }
        if !self.settings.candidates.iter().any(|c| c == candidate) {
            return Err(VoteError::NotACandidate);
        }
        Ok(())
    }

    /// The voter's votes by candidate, and how many are left.
    pub fn ballot(&self, voter: &str) -> (Vec<(String, u32)>, u32) {
        let ballot = self.ballots.get(voter);
        let mine = ballot.map(|b| b.votes.iter().filter(|(_, n)| **n > 0).map(|(c, n)| (c.clone(), *n)).collect());
        let used = ballot.map_or(0, Ballot::total);
        (mine.unwrap_or_default(), self.settings.budget.saturating_sub(used))
    }

    /// Candidates ranked by votes (ties keep the candidates' order).
    pub fn tally(&self) -> Vec<Tally> {
        let mut tally: Vec<Tally> = self
            .settings
            .candidates
            .iter()
            .map(|candidate| {
                let mut voters: Vec<(String, u32)> = self
                    .ballots
                    .values()
                    .filter_map(|b| b.votes.get(candidate).filter(|n| **n > 0).map(|n| (b.name.clone(), *n)))
                    .collect();
                voters.sort();
                let votes = voters.iter().map(|(_, n)| n).sum();
                Tally { candidate: candidate.clone(), votes, voters: (!self.settings.anonymous).then_some(voters) }
            })
            .collect();
        tally.sort_by_key(|t| std::cmp::Reverse(t.votes));
        tally
    }

    /// The winning candidate, once the vote is closed and has votes.
    pub fn winner(&self) -> Option<String> {
        let tally = self.tally();
        tally.first().filter(|t| t.votes > 0).map(|t| t.candidate.clone())
    }

    /// The vote as `viewer_may_see_tally` allows: participants see the tally only when
    /// results are live or revealed; the facilitator always does.
    pub fn view(&self, facilitator: bool) -> VoteView {
        let visible = facilitator || !self.settings.hidden || self.revealed;
        VoteView {
            id: self.id.clone(),
            settings: self.settings.clone(),
            open: self.open,
            revealed: self.revealed || !self.settings.hidden,
            opened_at_ms: self.opened_at_ms as f64,
            closes_at_ms: self.closes_at_ms.map(|at| at as f64),
            tally: visible.then(|| self.tally()),
            turnout: None,
        }
    }

    /// How many people placed at least one vote.
    pub fn voters(&self) -> u32 {
        self.ballots.values().filter(|b| b.total() > 0).count() as u32
    }
}

/// The store's rows of a vote.
impl Vote {
    /// A vote as the store kept it, ballots included; `None` (logged) when its
    /// settings no longer parse.
    pub fn from_stored((record, ballots): &StoredVote) -> Option<Vote> {
        let settings = match serde_json::from_str(&record.settings_json) {
            Ok(settings) => settings,
            Err(error) => {
                tracing::error!(vote = %record.id, %error, "a stored vote's settings do not parse; skipping it");
                return None;
            }
        };
        let mut vote = Vote {
            id: record.id.clone(),
            settings,
            opened_at_ms: record.opened_at_ms,
            closes_at_ms: record.closes_at_ms,
            open: record.open,
            revealed: record.revealed,
            ballots: HashMap::new(),
        };
        for b in ballots {
            let ballot = vote.ballots.entry(b.voter.clone()).or_default();
            ballot.name = b.name.clone();
            ballot.votes.insert(b.candidate.clone(), b.count);
        }
        Some(vote)
    }

    /// The vote's row (its ballots are rows of their own, written cast by cast).
    pub fn to_record(&self) -> VoteRecord {
        VoteRecord {
            id: self.id.clone(),
            settings_json: serde_json::to_string(&self.settings).expect("settings serialize"),
            opened_at_ms: self.opened_at_ms,
            closes_at_ms: self.closes_at_ms,
            open: self.open,
            revealed: self.revealed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(budget: u32, max: u32) -> VoteSettings {
        VoteSettings {
            title: "Common goal".into(),
            candidates: vec!["a".into(), "b".into(), "c".into()],
            budget,
            max_per_candidate: max,
            anonymous: false,
            hidden: false,
            duration_s: Some(60),
            roster: false,
        }
    }

    fn vote(budget: u32, max: u32) -> Vote {
        Vote::open("v".into(), settings(budget, max), 0, |_| true).unwrap()
    }

    #[test]
    fn every_rule_refuses_with_its_reason() {
        let mut v = vote(3, 2);
        assert_eq!(v.cast("ana", "Ana", "a", 1), Ok(1));
        assert_eq!(v.cast("ana", "Ana", "a", 1), Ok(2));
        assert_eq!(v.cast("ana", "Ana", "a", 1), Err(VoteError::OverCandidateLimit(2)));
        assert_eq!(v.cast("ana", "Ana", "z", 1), Err(VoteError::NotACandidate));
        assert_eq!(v.cast("ana", "Ana", "b", 1), Ok(1));
        assert_eq!(v.cast("ana", "Ana", "c", 1), Err(VoteError::OverBudget(3)));
        assert_eq!(v.retract("ana", "c", 1), Err(VoteError::NothingToRetract));
        assert_eq!(v.retract("ana", "a", 1), Ok(1));
        assert_eq!(v.ballot("ana"), (vec![("a".into(), 1), ("b".into(), 1)], 1));
        assert_eq!(v.cast("bo", "Bo", "a", 60_000), Err(VoteError::Closed), "the timer ran out");
        v.open = false;
        assert_eq!(v.cast("bo", "Bo", "a", 1), Err(VoteError::Closed));
    }

    #[test]
    fn settings_are_checked_when_opening() {
        let missing = Vote::open("v".into(), settings(3, 1), 0, |c| c != "b");
        assert!(matches!(missing, Err(VoteError::Invalid(m)) if m.contains("\"b\"")));
        assert!(Vote::open("v".into(), settings(0, 1), 0, |_| true).is_err());
        let none = VoteSettings { candidates: vec![], ..settings(3, 1) };
        assert!(Vote::open("v".into(), none, 0, |_| true).is_err());
    }

    #[test]
    fn hidden_tallies_are_for_the_facilitator_until_revealed() {
        let mut v = Vote::open("v".into(), VoteSettings { hidden: true, ..settings(3, 3) }, 0, |_| true).unwrap();
        v.cast("ana", "Ana", "b", 1).unwrap();
        assert!(v.view(false).tally.is_none());
        assert_eq!(v.view(true).tally.unwrap()[0].candidate, "b");
        v.revealed = true;
        assert_eq!(v.view(false).tally.unwrap()[0].voters, Some(vec![("Ana".into(), 1)]));
        assert_eq!(v.winner().as_deref(), Some("b"));
    }

    proptest! {
        /// Whatever the interleaving, the tally equals the accepted casts minus the
        /// accepted retracts, and nobody exceeds the budget or a candidate's limit.
        #[test]
        fn tallies_match_accepted_commands(
            budget in 1u32..5,
            max in 1u32..4,
            commands in proptest::collection::vec((0usize..6, 0usize..4, any::<bool>(), 0u8..20), 0..200),
        ) {
            let mut v = vote(budget, max);
            let mut expected: HashMap<String, i64> = HashMap::new();
            for (voter, candidate, cast, close) in commands {
                if close == 0 {
                    v.open = false;
                }
                let (voter, candidate) = (format!("p{voter}"), ["a", "b", "c", "zz"][candidate]);
                let accepted = if cast { v.cast(&voter, &voter, candidate, 1).is_ok() } else { v.retract(&voter, candidate, 1).is_ok() };
                if accepted {
                    *expected.entry(candidate.to_owned()).or_default() += if cast { 1 } else { -1 };
                }
            }
            for t in v.tally() {
                prop_assert_eq!(i64::from(t.votes), expected.get(&t.candidate).copied().unwrap_or(0));
            }
            for ballot in v.ballots.values() {
                prop_assert!(ballot.total() <= budget);
                prop_assert!(ballot.votes.values().all(|n| *n <= max));
            }
        }
    }
}
