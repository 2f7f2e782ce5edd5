//! A board's workshop flow, decided by the server: the current step, the shared
//! countdown, the turn order for going round the room, and notes written privately
//! until the facilitator reveals them. Private notes live here, never in the board's
//! document, so no other client can receive them before the reveal.

use std::collections::BTreeMap;

use commonboard_protocol::app::ErrorCode;
use commonboard_protocol::schema::{FieldError, Note};
use commonboard_protocol::workshop::{StepInfo, Timer, TurnAction, TurnPerson, Turns, WorkshopState, Writing};
use serde::{Deserialize, Serialize};

use crate::store::{Author, StoredBoard};

/// Most private notes one person may hold before the reveal.
pub const MAX_PRIVATE_NOTES: usize = 100;
/// Most private notes a board holds before the reveal, everyone's together: a room of
/// a few hundred writing a handful each.
pub const MAX_BOARD_PRIVATE_NOTES: usize = 2000;
/// What one person's private notes may weigh together (see [`weight`]): their reveal is
/// one change of theirs, well within `--max-update-bytes`, and what each of their
/// devices is sent on every change stays small.
pub const MAX_PRIVATE_BYTES: usize = 64 << 10;
/// What a board's private notes may weigh together: the reveal writes them all at once.
pub const MAX_BOARD_PRIVATE_BYTES: usize = 4 << 20;
/// Longest id of someone in a turn order (an identity, or any text for someone added
/// by name).
pub const MAX_TURN_ID: usize = 64;
/// Longest countdown, in seconds (a whole workshop day).
pub const MAX_TIMER_SECONDS: u32 = 12 * 3600;
/// Most people in a turn order.
pub const MAX_TURN_PEOPLE: usize = 500;

/// Why a workshop request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkshopError {
    #[error("this board has no step {0}")]
    NoSuchStep(u32),
    #[error("private writing is off: write on the board, or ask the facilitator to turn it on")]
    NotPrivate,
    #[error("a private note needs an id of 1 to 64 letters, digits, '-' or '_'")]
    BadNoteId,
    #[error("a private note's {} field holds at most {} characters", .0.field, .0.max)]
    Field(FieldError),
    #[error("you hold {MAX_PRIVATE_NOTES} private notes already; the facilitator can reveal them")]
    TooMany,
    #[error("your private notes may hold {MAX_PRIVATE_BYTES} bytes together; shorten or delete one")]
    TooHeavy,
    #[error("this board holds {MAX_BOARD_PRIVATE_NOTES} private notes already; the facilitator can reveal them")]
    BoardFull,
    #[error("this board's private notes reached {MAX_BOARD_PRIVATE_BYTES} bytes; the facilitator can reveal them")]
    BoardTooHeavy,
    #[error("that note belongs to someone else")]
    NotYours,
    #[error("a countdown lasts from 1 second to 12 hours")]
    BadTimer,
    #[error(
        "going round the room needs 1 to {MAX_TURN_PEOPLE} people, each with an id of at most {MAX_TURN_ID} \
         characters and a name of at most 64 bytes"
    )]
    BadTurnOrder,
    #[error("nobody is going round the room now")]
    NoTurns,
    #[error("only the person whose turn it is, or the facilitator, can pass")]
    NotYourTurn,
}

impl WorkshopError {
    /// Whether the request was refused for a size: a field over its bound, or a total
    /// of private notes reached (what a hostile client would try).
    pub fn is_over_a_bound(&self) -> bool {
        matches!(
            self,
            WorkshopError::Field(_)
                | WorkshopError::TooMany
                | WorkshopError::TooHeavy
                | WorkshopError::BoardFull
                | WorkshopError::BoardTooHeavy
        )
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            WorkshopError::NotYours | WorkshopError::NotYourTurn => ErrorCode::Forbidden,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

/// A note written privately, with who wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateNote {
    pub author: Author,
    pub note: Note,
}

/// What is persisted of the flow (private notes are stored one by one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Persisted {
    steps: Vec<StepInfo>,
    step: Option<u32>,
    timer: Option<Timer>,
    private: bool,
    turns: Option<Turns>,
    /// Everyone who was ever in a turn order (people added by name among them), for
    /// the minutes' participants once the turns ended.
    #[serde(default)]
    roster: Vec<TurnPerson>,
}

/// The flow of one board.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workshop {
    state: Persisted,
    /// Private notes by note id.
    private_notes: BTreeMap<String, PrivateNote>,
}

impl Workshop {
    /// A new board's flow over its template's steps.
    pub fn new(steps: Vec<StepInfo>) -> Self {
        Workshop { state: Persisted { steps, ..Persisted::default() }, private_notes: BTreeMap::new() }
    }

    /// The flow as the store kept it, private notes included (a note that no longer
    /// parses is skipped, and logged).
    pub fn from_stored(stored: &StoredBoard) -> Self {
        let private = stored
            .private_notes
            .iter()
            .filter_map(|p| match serde_json::from_str::<Note>(&p.note_json) {
                Ok(note) => Some(PrivateNote { author: p.author.clone(), note }),
                Err(error) => {
                    tracing::error!(note = %p.id, %error, "a stored private note does not parse; skipping it");
                    None
                }
            })
            .collect();
        Workshop::from_stored_state(stored.workshop.as_deref(), private)
    }

    /// The flow from its stored state (`None` for a board that never had one).
    pub fn from_stored_state(state_json: Option<&str>, private_notes: Vec<PrivateNote>) -> Self {
        let state = match state_json.map(serde_json::from_str::<Persisted>) {
            Some(Ok(state)) => state,
            Some(Err(error)) => {
                tracing::error!(%error, "the stored workshop state does not parse; starting afresh");
                Persisted::default()
            }
            None => Persisted::default(),
        };
        let private_notes = private_notes.into_iter().map(|p| (p.note.id.clone(), p)).collect();
        Workshop { state, private_notes }
    }

    /// The persisted part, as JSON.
    pub fn state_json(&self) -> String {
        serde_json::to_string(&self.state).expect("workshop state serializes")
    }

    /// What every client sees.
    pub fn view(&self) -> WorkshopState {
        let mut writing: BTreeMap<&str, (String, u32)> = BTreeMap::new();
        for private in self.private_notes.values() {
            writing.entry(&private.author.id).or_insert_with(|| (private.author.name.clone(), 0)).1 += 1;
        }
        WorkshopState {
            steps: self.state.steps.clone(),
            step: self.state.step,
            timer: self.state.timer.clone(),
            private: self.state.private,
            writing: writing.into_values().map(|(name, notes)| Writing { name, notes }).collect(),
            turns: self.state.turns.clone(),
        }
    }

    /// Whether there is nothing to tell: no steps, no timer, no turns, no private writing.
    pub fn is_idle(&self) -> bool {
        *self == Workshop::default()
    }

    /// The current step, if the workshop started.
    pub fn current_step(&self) -> Option<&StepInfo> {
        self.state.step.and_then(|i| self.state.steps.get(i as usize))
    }

    /// Moves to a step (forward or back). Private writing is what the template says of
    /// the step: on for a private step, off for any other, so notes of a public step
    /// never silently become private. Notes already written privately stay private until
    /// the facilitator reveals them. A running countdown goes on: only the facilitator
    /// stops it ([`Workshop::set_timer`]).
    pub fn set_step(&mut self, step: Option<u32>) -> Result<(), WorkshopError> {
        let private = match step {
            Some(index) => self.state.steps.get(index as usize).ok_or(WorkshopError::NoSuchStep(index))?.private,
            None => false,
        };
        self.state.private = private;
        self.state.step = step;
        Ok(())
    }

    /// Starts a countdown ending `seconds` from `now_ms`, or stops it.
    pub fn set_timer(&mut self, seconds: Option<u32>, now_ms: i64) -> Result<(), WorkshopError> {
        self.state.timer = match seconds {
            Some(seconds) if seconds == 0 || seconds > MAX_TIMER_SECONDS => return Err(WorkshopError::BadTimer),
            Some(seconds) => Some(Timer { ends_at_ms: (now_ms + i64::from(seconds) * 1000) as f64, seconds }),
            None => None,
        };
        Ok(())
    }

    pub fn private(&self) -> bool {
        self.state.private
    }

    /// Turns private writing on, or off: then every private note is handed back, to be
    /// put on the board.
    pub fn set_private(&mut self, private: bool) -> Vec<PrivateNote> {
        self.state.private = private;
        if private {
            return Vec::new();
        }
        std::mem::take(&mut self.private_notes).into_values().collect()
    }

    /// Writes or rewrites one of `author`'s private notes. `exists` says whether the
    /// board already holds a note with that id.
    pub fn put_private(&mut self, author: &Author, mut note: Note, exists: bool) -> Result<(), WorkshopError> {
        if !self.state.private {
            return Err(WorkshopError::NotPrivate);
        }
        let id_ok = (1..=64).contains(&note.id.len())
            && note.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(WorkshopError::BadNoteId);
        }
        // Who wrote it is the sender, whatever the note says: checked without it.
        note.author.clear();
        note.author_id = None;
        note.check_bounds().map_err(WorkshopError::Field)?;
        let existing = match self.private_notes.get(&note.id) {
            Some(existing) if existing.author.id != author.id => return Err(WorkshopError::NotYours),
            Some(existing) => Some(existing),
            None if exists => return Err(WorkshopError::NotYours),
            None if self.notes_of(&author.id).len() >= MAX_PRIVATE_NOTES => return Err(WorkshopError::TooMany),
            None if self.private_notes.len() >= MAX_BOARD_PRIVATE_NOTES => return Err(WorkshopError::BoardFull),
            None => None,
        };
        note.author = author.name.clone();
        note.author_id = Some(author.id.clone());
        let added = weight(&note).saturating_sub(existing.map_or(0, |e| weight(&e.note)));
        let mine: usize =
            self.private_notes.values().filter(|p| p.author.id == author.id).map(|p| weight(&p.note)).sum();
        if mine + added > MAX_PRIVATE_BYTES {
            return Err(WorkshopError::TooHeavy);
        }
        let all: usize = self.private_notes.values().map(|p| weight(&p.note)).sum();
        if all + added > MAX_BOARD_PRIVATE_BYTES {
            return Err(WorkshopError::BoardTooHeavy);
        }
        self.private_notes.insert(note.id.clone(), PrivateNote { author: author.clone(), note });
        Ok(())
    }

    /// What each author's private notes weigh together (see [`weight`]), by identity:
    /// what revealing them would write, one change per author.
    pub fn reveal_weights(&self) -> BTreeMap<&str, usize> {
        let mut weights = BTreeMap::new();
        for private in self.private_notes.values() {
            *weights.entry(private.author.id.as_str()).or_default() += weight(&private.note);
        }
        weights
    }

    /// One of `author`'s private notes, by id.
    pub fn note_of(&self, author_id: &str, id: &str) -> Option<&Note> {
        self.private_notes.get(id).filter(|p| p.author.id == author_id).map(|p| &p.note)
    }

    /// Deletes one of `author`'s private notes.
    pub fn delete_private(&mut self, author: &Author, id: &str) -> Result<(), WorkshopError> {
        match self.private_notes.get(id) {
            Some(existing) if existing.author.id == author.id => {
                self.private_notes.remove(id);
                Ok(())
            }
            Some(_) => Err(WorkshopError::NotYours),
            None => Ok(()),
        }
    }

    /// `author`'s private notes, oldest id first.
    pub fn notes_of(&self, author_id: &str) -> Vec<Note> {
        self.private_notes.values().filter(|p| p.author.id == author_id).map(|p| p.note.clone()).collect()
    }

    /// Whether a private note with this id exists.
    pub fn holds_private(&self, id: &str) -> bool {
        self.private_notes.contains_key(id)
    }

    /// Everyone who was ever in a turn order, in the order they were first added.
    pub fn roster(&self) -> &[TurnPerson] {
        &self.state.roster
    }

    /// Starts going round the room, the first person speaking.
    pub fn start_turns(&mut self, people: Vec<TurnPerson>) -> Result<(), WorkshopError> {
        let valid = (1..=MAX_TURN_PEOPLE).contains(&people.len())
            && people.iter().all(|p| {
                !p.id.trim().is_empty()
                    && p.id.chars().count() <= MAX_TURN_ID
                    && !p.name.trim().is_empty()
                    && p.name.len() <= 64
            });
        if !valid {
            return Err(WorkshopError::BadTurnOrder);
        }
        for person in &people {
            if !self.state.roster.iter().any(|p| p.id == person.id) {
                self.state.roster.push(person.clone());
            }
        }
        self.state.turns = Some(Turns { people, current: Some(0), round: 0, passed: Vec::new() });
        Ok(())
    }

    /// Moves the turn order on. `by` is who asks; only the facilitator may do anything
    /// but pass for themselves.
    pub fn turn(&mut self, action: TurnAction, by: &Author, facilitator: bool) -> Result<(), WorkshopError> {
        let turns = self.state.turns.as_mut().ok_or(WorkshopError::NoTurns)?;
        if action == TurnAction::End {
            self.state.turns = None;
            return Ok(());
        }
        let count = turns.people.len() as u32;
        let Some(current) = turns.current else {
            return Err(WorkshopError::NoTurns);
        };
        match action {
            TurnAction::Pass => {
                let speaker = &turns.people[current as usize];
                if !facilitator && speaker.id != by.id {
                    return Err(WorkshopError::NotYourTurn);
                }
                if !turns.passed.contains(&speaker.id) {
                    turns.passed.push(speaker.id.clone());
                }
                advance(turns, count);
            }
            TurnAction::Next | TurnAction::Skip => advance(turns, count),
            TurnAction::Back => turns.current = Some((current + count - 1) % count),
            TurnAction::End => unreachable!("handled above"),
        }
        Ok(())
    }
}

/// What a note weighs against the private-note budgets and the reveal's size checks: the
/// bytes of its text fields plus an allowance for its numbers, field names and item
/// headers. At least what inserting it adds to a Yjs update (the board's tests check
/// this against yrs), so a reveal checked by weight never writes past a limit.
pub fn weight(note: &Note) -> usize {
    const FIXED: usize = 320;
    let optional = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let team = note.team.as_ref().map_or(0, |t| t.expects_of_us.len() + t.we_expect.len() + 160);
    FIXED
        + note.id.len()
        + note.text.len()
        + note.color.len()
        + note.author.len()
        + optional(&note.frame)
        + optional(&note.kind)
        + optional(&note.author_id)
        + optional(&note.pair)
        + team
}

/// Moves to the next person who has not passed this round; a new round starts after
/// the last person. When everyone passed in a round, nobody speaks: the turns are over.
fn advance(turns: &mut Turns, count: u32) {
    let Some(mut at) = turns.current else { return };
    for _ in 0..count {
        at += 1;
        if at == count {
            at = 0;
            turns.round += 1;
            if turns.passed.len() as u32 >= count {
                turns.current = None;
                return;
            }
            turns.passed.clear();
        }
        if !turns.passed.contains(&turns.people[at as usize].id) {
            turns.current = Some(at);
            return;
        }
    }
    turns.current = None;
}

#[cfg(test)]
mod tests;
