//! Application messages: what the server, not the CRDT, decides.
//!
//! They travel as JSON inside message type [`crate::frame::MSG_APP`]. A client opts in
//! by sending [`ClientMessage::Hello`]; until it does, the server sends it nothing but
//! standard Yjs messages, so a plain Yjs client (the `y-websocket` provider, say) never
//! sees a message type it does not know. Later features (roles, votes, timers) add
//! variants here; each variant is one JSON object tagged by `"type"`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Version of the application protocol spoken by this build.
pub const APP_PROTOCOL_VERSION: u32 = 1;

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Opts in to application messages; the server answers [`ServerMessage::Welcome`].
    Hello {
        /// The application protocol version the client speaks.
        version: u32,
    },
    /// Facilitator only: lock the board (only the facilitator may change it) or unlock it.
    Lock { locked: bool },
    /// Facilitator only: opens a vote on candidate notes.
    OpenVote { settings: VoteSettings },
    /// Puts one of the voter's votes on a candidate.
    CastVote { vote: String, candidate: String },
    /// Takes one of the voter's votes back from a candidate.
    RetractVote { vote: String, candidate: String },
    /// Facilitator only: closes a vote; its result is recorded (and marked on the board
    /// unless results are hidden).
    CloseVote { vote: String },
    /// Facilitator only: shows a hidden vote's tally to everyone (and, once closed,
    /// marks the winner on the board).
    RevealVote { vote: String },
    /// Facilitator only: moves the workshop to a step (an index into its steps), or
    /// back to before the first.
    SetStep {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        step: Option<u32>,
    },
    /// Facilitator only: starts a shared countdown of `seconds`, or stops it (absent).
    SetTimer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        seconds: Option<u32>,
    },
    /// Facilitator only: turns private writing on, or off, which reveals every private
    /// note at once.
    SetPrivate { private: bool },
    /// Writes (or rewrites) one of the sender's private notes. Its author is the
    /// sender, whatever the note says. Only while private writing is on.
    PutPrivateNote { note: Box<crate::schema::Note> },
    /// Deletes one of the sender's private notes.
    DeletePrivateNote { id: String },
    /// Facilitator only: starts going round the room over these people, in order.
    StartTurns { people: Vec<crate::workshop::TurnPerson> },
    /// Moves the turn order on (see [`crate::workshop::TurnAction`] for who may).
    Turn { action: crate::workshop::TurnAction },
    /// Facilitator only: shows this part of the canvas on the presentation view, and
    /// with `bring`, moves every participant's view there too.
    ShowViewport { viewport: crate::workshop::Viewport, bring: bool },
    /// Changes the sender's display name (a label: the person's id stays the same).
    SetName { name: String },
}

/// How a vote runs, as the facilitator opens it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct VoteSettings {
    /// What the vote decides, e.g. "Our common goal".
    pub title: String,
    /// Ids of the candidate notes.
    pub candidates: Vec<String>,
    /// Votes each person may place in all.
    pub budget: u32,
    /// Votes each person may place on one candidate.
    pub max_per_candidate: u32,
    /// Whether tallies leave out who voted.
    pub anonymous: bool,
    /// Whether tallies stay hidden from participants until the facilitator reveals them.
    pub hidden: bool,
    /// Closes the vote by itself after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub duration_s: Option<u32>,
    /// Only people holding a personal link the facilitator handed out may vote (a
    /// shared participant link cannot stop one person from opening it twice).
    #[serde(default)]
    pub roster: bool,
}

/// How many people voted against how many could (the facilitator's view only).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Turnout {
    /// People who placed at least one vote.
    pub voted: u32,
    /// People connected now who may vote (on the roster, for a roster vote).
    pub present: u32,
}

/// A vote as a client may see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct VoteView {
    pub id: String,
    pub settings: VoteSettings,
    pub open: bool,
    /// Whether the tally is shown to everyone.
    pub revealed: bool,
    /// Server time the vote opened, milliseconds since the Unix epoch.
    pub opened_at_ms: f64,
    /// Server time the vote closes (or closed) by itself, if it has a timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub closes_at_ms: Option<f64>,
    /// Candidates ranked by votes (absent while hidden from this client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub tally: Option<Vec<Tally>>,
    /// How many people voted and how many are present (the facilitator's view only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub turnout: Option<Turnout>,
}

/// Votes on one candidate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Tally {
    pub candidate: String,
    pub votes: u32,
    /// Who voted (display names) and how many votes each; absent for anonymous votes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub voters: Option<Vec<(String, u32)>>,
}

/// A message from the server to a client that said [`ClientMessage::Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answers `Hello`: who the server takes this connection to be.
    Welcome {
        /// The application protocol version the server speaks.
        version: u32,
        /// The server's identifier for this connection, unique while the board is loaded.
        connection: u64,
        /// The role this connection holds on the board.
        role: Role,
        /// The person id this connection's changes, notes and votes are recorded under:
        /// issued by the server, never chosen by the client.
        identity: String,
        /// For a participant who came with a shared link: a personal token for the
        /// person the server just issued. The client keeps it (per board) and opens the
        /// board with it from then on, on this device or another, to stay that person.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        token: Option<String>,
        /// The display name the server has for this connection.
        #[serde(default)]
        name: String,
        /// Whether the board is locked (only the facilitator may change it).
        locked: bool,
        /// Server time in milliseconds since the Unix epoch, so clients can show
        /// server-driven countdowns without trusting their own clock.
        server_time_ms: f64,
    },
    /// A vote opened, changed or closed; sent to every client that said hello, with the
    /// tally only where it may be seen.
    Vote { vote: VoteView },
    /// The voter's own votes in a vote, after each cast or retract.
    Ballot {
        vote: String,
        /// Votes placed, by candidate.
        mine: Vec<(String, u32)>,
        /// Votes left to place.
        remaining: u32,
    },
    /// The board's server-decided state changed; sent to every client that said hello.
    BoardState {
        /// Whether only the facilitator may change the board.
        locked: bool,
    },
    /// The facilitator returned the board to an earlier point; the change itself
    /// arrives as an ordinary document update.
    Restored {
        /// The point the board returned to.
        to_seq: u64,
        /// The new point holding the restore.
        seq: u64,
        /// Display name of who restored it.
        by: String,
    },
    /// The workshop flow (step, timer, private writing, turns); sent on hello (unless
    /// the board has no steps and nothing of the flow was used yet) and whenever it
    /// changes.
    Workshop { state: crate::workshop::WorkshopState },
    /// The receiver's own private notes, all of them, whenever they change (only
    /// their author's connections receive them).
    PrivateNotes { notes: Vec<crate::schema::Note> },
    /// Where the facilitator's view is; with `bring`, every participant moves there.
    Viewport {
        viewport: crate::workshop::Viewport,
        bring: bool,
        /// Display name of the facilitator whose view it is (for "Following Fran").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        by: Option<String>,
    },
    /// Something the client asked for was refused or failed; nothing else changed.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation, safe to show to the user.
        message: String,
    },
}

/// What a connection may do on a board.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the workshop: everything a participant may do, plus the board's controls.
    Facilitator,
    /// Edits the board.
    Participant,
    /// Sees the board live, changes nothing.
    Viewer,
}

/// Why the server refused an application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client speaks an application protocol version the server does not.
    UnsupportedVersion,
    /// The connection's role does not allow this.
    Forbidden,
    /// The vote's settings make no sense (no candidates, a budget of zero, unknown notes).
    InvalidVote,
    /// No vote with that id on this board.
    NoSuchVote,
    /// The vote is closed.
    VoteClosed,
    /// The note is not a candidate of this vote.
    NotACandidate,
    /// The voter has placed all their votes.
    OverBudget,
    /// The voter has placed the most votes allowed on this candidate.
    OverCandidateLimit,
    /// The voter has no vote on this candidate to take back.
    NothingToRetract,
    /// The workshop request makes no sense now (no such step, no turn order, private
    /// writing off, a note too long or too many).
    InvalidRequest,
    /// A server limit refused it (the board's document size, an update's size, an
    /// awareness state's size); the message names the limit. Nothing else changed.
    LimitReached,
}
