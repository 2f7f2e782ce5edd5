//! JSON bodies of the history API: the list of changes, the board at a point, the
//! difference between two points, the timeline, raw log pages, and restores.
//!
//! A *point* in a board's history is a sequence number of its update log: the board as
//! it was right after that update. Points can also be named by server time (RFC 3339);
//! the server resolves a time to the last update at or before it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::schema::{Action, BoardSnapshot, Frame, Note};

/// Who made a change: a participant's stable identity and display name, or the server
/// (`id` = `server`) for changes it makes itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HistoryAuthor {
    pub id: String,
    pub name: String,
}

/// What kind of change a history entry records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    NoteAdded,
    /// A note's text changed.
    NoteEdited,
    /// A note's position changed.
    NoteMoved,
    /// Another field of a note changed (colour, size, frame); see `fields`.
    NoteChanged,
    NoteDeleted,
    FrameAdded,
    FrameChanged,
    FrameDeleted,
    ActionAdded,
    ActionChanged,
    ActionDeleted,
    /// The board's metadata changed (title, common goal); see `fields`.
    BoardChanged,
    VoteOpened,
    VoteClosed,
    VoteRevealed,
    /// The board was returned to an earlier point (`to_seq`).
    Restored,
    Locked,
    Unlocked,
    /// Fine-grained history before `to_seq` was dropped by compaction (checkpoints kept).
    Compacted,
    /// The workshop moved to a step (`label` names it).
    StepChanged,
    /// Private writing ended and its notes were revealed to everyone.
    NotesRevealed,
    /// The facilitator removed a person (`id`, their person id; `label`, their name
    /// when known): refused from then on, what they wrote stays.
    PersonRemoved,
    /// A root of the document outside the board schema changed (`id` names it): a Yjs
    /// application's own data.
    RootChanged,
}

/// One change inside a history entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Change {
    pub kind: ChangeKind,
    /// The note, frame, action or vote changed, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub id: Option<String>,
    /// The fields that changed, for `*_changed` kinds (empty for others).
    #[serde(default)]
    pub fields: Vec<String>,
    /// A short excerpt of the item's text or title, to recognise it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub label: Option<String>,
    /// For `restored` and `compacted`: the point the change refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub to_seq: Option<u64>,
}

/// One line of `GET /api/boards/{id}/history`: one logged update, or several small
/// ones by the same author close together (`first_seq` to `seq`), or a board event
/// (a vote opened, a restore) at the point it happened.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct HistoryEntry {
    /// The newest point the entry covers: viewing the board here shows the change made.
    pub seq: u64,
    /// The oldest point the entry covers (equal to `seq` for a single update).
    pub first_seq: u64,
    /// Server time of the newest change, RFC 3339.
    pub at: String,
    /// Server time of the newest change, milliseconds since the Unix epoch.
    pub at_ms: f64,
    pub author: HistoryAuthor,
    /// Logged updates the entry covers (0 for an event that changed no document).
    pub updates: u32,
    /// What changed; empty when an update changed nothing the board schema knows.
    pub changes: Vec<Change>,
    /// The changes in words, e.g. `added a note “Pilot in March”; moved 2 notes`.
    pub summary: String,
}

/// Counts and sizes of a board's stored history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct LogStats {
    /// The first point whose update is still logged (1 unless compacted).
    pub first_seq: u64,
    /// The newest point.
    pub last_seq: u64,
    /// Logged updates kept.
    pub updates: u64,
    /// Bytes of those updates (payload only).
    pub update_bytes: u64,
    pub checkpoints: u64,
    /// Bytes of the checkpoints' states (payload only).
    pub checkpoint_bytes: u64,
    /// Point of the oldest checkpoint (0 when there is none): the earliest point still
    /// viewable once compaction dropped what came before.
    pub first_checkpoint: u64,
    /// Updates up to this point were dropped by compaction (0 when none were);
    /// states before it are available at checkpoints only.
    pub compacted_through: u64,
}

/// `GET /api/boards/{id}/history`: a page of entries, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Pass as `before` to read the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_before: Option<u64>,
    pub log: LogStats,
}

/// `GET /api/boards/{id}/state`: the board as it was at a point.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BoardStateAt {
    /// The point shown.
    pub seq: u64,
    /// Server time of that point, RFC 3339.
    pub at: String,
    /// False when compaction dropped the updates leading to the point asked for, so
    /// the nearest earlier checkpoint (`seq`) is shown instead.
    pub exact: bool,
    pub board: BoardSnapshot,
}

/// Which fields of one item differ between two points.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ChangedItem {
    pub id: String,
    pub fields: Vec<String>,
}

/// How one kind of item (notes, frames, actions) differs between two points: items
/// present only at the later point, only at the earlier point, and in both but changed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ItemDiff<T> {
    /// As they are at the later point.
    pub added: Vec<T>,
    /// As they were at the earlier point.
    pub removed: Vec<T>,
    pub changed: Vec<ChangedItem>,
}

/// `GET /api/boards/{id}/diff?from=A&to=B`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BoardDiff {
    pub from: u64,
    pub to: u64,
    pub notes: ItemDiff<Note>,
    pub frames: ItemDiff<Frame>,
    pub actions: ItemDiff<Action>,
    /// Metadata fields that differ (title, common goal).
    pub meta: Vec<String>,
}

/// A stretch of time on the timeline and the updates made in it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TimelineBucket {
    /// Start of the stretch, milliseconds since the Unix epoch.
    pub start_ms: f64,
    pub updates: u32,
    /// The last point in the stretch.
    pub last_seq: u64,
}

/// A moment worth marking on the timeline: a vote, a restore, a lock, a phase.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TimelineMarker {
    pub seq: u64,
    pub at_ms: f64,
    pub kind: ChangeKind,
    /// Words for the marker, e.g. `vote opened` or `restored to #120`.
    pub label: String,
}

/// `GET /api/boards/{id}/timeline?buckets=N`: the session at a glance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Timeline {
    pub first_seq: u64,
    pub last_seq: u64,
    /// Time of the first and the last logged update, milliseconds since the Unix epoch.
    pub start_ms: f64,
    pub end_ms: f64,
    /// Equal stretches of time from `start_ms` to `end_ms`, oldest first.
    pub buckets: Vec<TimelineBucket>,
    pub markers: Vec<TimelineMarker>,
    pub log: LogStats,
}

/// One logged update as `GET /api/boards/{id}/updates` returns it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct LoggedUpdate {
    pub seq: u64,
    pub at_ms: f64,
    pub author: HistoryAuthor,
    /// The Yjs update (v1), base64.
    pub update: String,
}

/// `GET /api/boards/{id}/updates?from=A&limit=N`: consecutive logged updates, oldest
/// first, for playing the history back on top of the state at `from - 1`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct UpdatePage {
    pub updates: Vec<LoggedUpdate>,
    /// Where the next page starts; absent when the log ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_from: Option<u64>,
}

/// `POST /api/boards/{id}/restore` (facilitator): the point to return to, by sequence
/// number (`at`) or by server time (`time`, RFC 3339).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RestoreRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub time: Option<String>,
    /// Display name of who restores, for the history (the link's role when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
}

/// What a restore did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RestoreResult {
    /// The point the board returned to.
    pub restored_to: u64,
    /// The new point holding the restore (the board's newest); equal to the previous
    /// newest point when the board already was in that state.
    pub seq: u64,
    /// Whether anything changed.
    pub changed: bool,
}
