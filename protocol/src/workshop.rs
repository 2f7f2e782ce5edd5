//! The workshop flow's shared state, decided by the server and sent to every client
//! that said hello: the step the board is on, the shared countdown, private writing,
//! and the turn order for going round the room.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A step of the workshop, from the board's template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StepInfo {
    /// Stable name, e.g. `obstacles`; the step's frame carries it as `step`.
    pub id: String,
    pub title: String,
    /// Whether private writing starts on when the facilitator moves to this step.
    #[serde(default)]
    pub private: bool,
    /// Suggested length of the step, in minutes (the facilitator's timer default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub minutes: Option<u32>,
}

/// A shared countdown, in server time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Timer {
    /// When it reaches zero, milliseconds since the Unix epoch (server clock: clients
    /// correct it with the offset the welcome's `server_time_ms` gives them).
    pub ends_at_ms: f64,
    /// Its length as started, in seconds.
    pub seconds: u32,
}

/// Someone in the turn order: a connected person (their identity) or someone in the
/// room without a device (added by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TurnPerson {
    /// The person's identity, or any unique text for someone added by name.
    pub id: String,
    pub name: String,
}

/// Going round the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Turns {
    pub people: Vec<TurnPerson>,
    /// Index of who speaks now in `people`; absent once everyone passed in a round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub current: Option<u32>,
    /// Rounds completed so far (a new round starts after the last person).
    pub round: u32,
    /// Ids of the people who passed in this round.
    pub passed: Vec<String>,
}

/// What moves a turn order on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum TurnAction {
    /// Facilitator: the next person speaks.
    Next,
    /// Facilitator: skip who speaks now (they keep their place in later rounds).
    Skip,
    /// Facilitator: back to the previous person.
    Back,
    /// The person whose turn it is (or the facilitator for them): nothing more to add
    /// this round. When everyone passed in a round, the turns are over.
    Pass,
    /// Facilitator: stop going round.
    End,
}

/// The part of the canvas someone is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct Viewport {
    /// Canvas coordinates of the view's centre.
    pub x: f64,
    pub y: f64,
    /// Scale (1 = 100 %).
    pub zoom: f64,
}

/// How many private notes one person holds, for the blurred placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Writing {
    pub name: String,
    pub notes: u32,
}

/// The workshop flow as everyone sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct WorkshopState {
    /// The template's steps, in order (empty for a blank board).
    pub steps: Vec<StepInfo>,
    /// Index of the current step in `steps`; absent before the workshop starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub step: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub timer: Option<Timer>,
    /// Whether new notes are private to their author until the reveal.
    pub private: bool,
    /// Who is writing privately, and how many notes each holds.
    pub writing: Vec<Writing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub turns: Option<Turns>,
}
