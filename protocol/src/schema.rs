//! The board schema: the shared types inside a board's `Y.Doc`, their names and shapes.
//!
//! A board's document has four root maps:
//!
//! | root | type | holds |
//! | --- | --- | --- |
//! | `meta` | `Y.Map` | [`BoardMeta`]: title, template, creation time |
//! | `notes` | `Y.Map<id, Y.Map>` | [`Note`]s: text (a `Y.Text`, so concurrent typing merges), position, size, colour, author, frame |
//! | `frames` | `Y.Map<id, Y.Map>` | [`Frame`]s: titled areas that group notes |
//! | `actions` | `Y.Map<id, Y.Map>` | [`Action`]s: next steps with an owner and a due date |
//!
//! Each note, frame and action is its own nested `Y.Map`, so that two people changing
//! different fields of one note (one moves it, one recolours it) both keep their change.
//! Field names are the constants of [`note`], [`frame`], [`action`] and [`meta`]; the
//! web client reads the same names from the generated TypeScript. Readers are lenient:
//! a missing or mistyped field reads as its default, because any Yjs client may write.
//!
//! A note's position is one entry, [`note::POS`]: the array `[x, y]` (in JavaScript,
//! `note.set("pos", [x, y])`), so that a move writes one map entry, not two. Boards
//! written before it hold `x` and `y` entries ([`note::X`], [`note::Y`]); readers take
//! `pos` when it is an array of two finite numbers, else those, else 0. A move of such
//! a note writes `pos` and leaves `x` and `y` as they were (no longer read). Frames
//! keep their `x` and `y` entries. The JSON forms ([`Note`], [`BoardSnapshot`]) keep
//! `x` and `y` fields either way.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use yrs::types::ToJson;
use yrs::{Any, GetString, Map, MapPrelim, MapRef, Out, ReadTxn, Text, TextPrelim, TransactionMut};

/// Root map with the board's metadata.
pub const META: &str = "meta";
/// Root map of notes by id.
pub const NOTES: &str = "notes";
/// Root map of frames by id.
pub const FRAMES: &str = "frames";
/// Root map of actions by id.
pub const ACTIONS: &str = "actions";

/// Field names of the `meta` map.
pub mod meta {
    /// The board's title (string).
    pub const TITLE: &str = "title";
    /// The template the board was created from (string).
    pub const TEMPLATE: &str = "template";
    /// Creation time, milliseconds since the Unix epoch (number).
    pub const CREATED_AT: &str = "createdAt";
    /// Id of the note the group chose as its common goal (string), written by the
    /// server when a vote's result is revealed.
    pub const COMMON_GOAL: &str = "commonGoal";
}

/// Field names of a note's map.
pub mod note {
    /// The note's text (`Y.Text`).
    pub const TEXT: &str = "text";
    /// Position on the canvas, in canvas pixels: the array `[x, y]` of the left and
    /// top edges (two numbers, one value). One entry rather than two because a map
    /// keeps each overwritten entry as a deleted item for good: a move that set `x`
    /// and `y` left two items behind, one that sets `pos` leaves one, and loading a
    /// board costs about the same per item. Written by every writer; read when it is
    /// an array of two finite numbers, else [`X`] and [`Y`] are read.
    pub const POS: &str = "pos";
    /// Left edge on the canvas (number), as boards written before [`POS`] hold it;
    /// read only, when a note has no valid `pos`. Nothing writes it any more.
    pub const X: &str = "x";
    /// Top edge on the canvas (number), as boards written before [`POS`] hold it;
    /// read only, like [`X`].
    pub const Y: &str = "y";
    /// Width (number).
    pub const W: &str = "w";
    /// Height (number).
    pub const H: &str = "h";
    /// Colour, one of [`super::NOTE_COLORS`] (string).
    pub const COLOR: &str = "color";
    /// Display name of who wrote it (string).
    pub const AUTHOR: &str = "author";
    /// Id of the frame it belongs to (string), absent or null when none.
    pub const FRAME: &str = "frame";
    /// Creation time, milliseconds since the Unix epoch (number).
    pub const CREATED_AT: &str = "createdAt";
    /// What the note is in the workshop method, one of [`super::note_kind`] (string);
    /// absent for a plain note.
    pub const KIND: &str = "kind";
    /// Stable identity of who wrote it (string).
    pub const AUTHOR_ID: &str = "authorId";
    /// For an obstacle, the id of its "how we manage it" note, and back (string).
    pub const PAIR: &str = "pair";
    /// For a team: what they expect of us (string).
    pub const EXPECTS_OF_US: &str = "expectsOfUs";
    /// For a team: what we expect of them (string).
    pub const WE_EXPECT: &str = "weExpect";
    /// For a team: how often we interact, 0 (never) to 4 (daily) (number).
    pub const INTERACTION: &str = "interaction";
    /// For a team: how often our purposes conflict, 0 (never) to 4 (daily) (number).
    pub const CONFLICT: &str = "conflict";
    /// For a team: the one the group chose to approach first (boolean).
    pub const CHOSEN: &str = "chosen";
}

/// Kinds of note the workshop template uses (the `kind` field).
pub mod note_kind {
    /// On-board guidance for a step.
    pub const GUIDE: &str = "guide";
    /// A team we could collaborate with (step 1), with its table fields.
    pub const TEAM: &str = "team";
    /// What a team does and needs, or why (value, outcomes, costs, risks) (step 2).
    pub const NEED: &str = "need";
    /// A candidate common goal (step 2).
    pub const GOAL: &str = "goal";
    /// A reason the goal may be hard to reach (step 3).
    pub const OBSTACLE: &str = "obstacle";
    /// How an obstacle is managed, paired with it (step 3).
    pub const REMEDY: &str = "remedy";
    /// How and when the group checks its actions (step 5).
    pub const FOLLOW_UP: &str = "followup";
}

/// Field names of a frame's map. A frame keeps separate `x` and `y` entries (unlike a
/// note's [`super::note::POS`]): frames rarely move, so their overwrites cost little.
pub mod frame {
    /// The frame's title (string).
    pub const TITLE: &str = "title";
    /// Left edge (number).
    pub const X: &str = "x";
    /// Top edge (number).
    pub const Y: &str = "y";
    /// Width (number).
    pub const W: &str = "w";
    /// Height (number).
    pub const H: &str = "h";
    /// Creation time, milliseconds since the Unix epoch (number).
    pub const CREATED_AT: &str = "createdAt";
    /// The workshop step the frame holds (string), for frames made from a template.
    pub const STEP: &str = "step";
    /// Short guidance shown in the frame (string).
    pub const GUIDE: &str = "guide";
    /// What notes inside the frame are in the workshop method (string): `teams`,
    /// `plot`, `needs`, `value`, `outcomes`, `costs`, `risks`, `candidates`, `chosen`,
    /// `obstacles`, `remedies`, `actions` or `followup`.
    pub const AREA: &str = "area";
}

/// Field names of an action's map.
pub mod action {
    /// What is to be done (string).
    pub const TEXT: &str = "text";
    /// Who does it: a participant's name or free text (string).
    pub const OWNER: &str = "owner";
    /// Due date, `YYYY-MM-DD`, or empty (string).
    pub const DUE: &str = "due";
    /// Whether it is done (boolean).
    pub const DONE: &str = "done";
    /// Creation time, milliseconds since the Unix epoch (number).
    pub const CREATED_AT: &str = "createdAt";
}

/// The longest each client-writable field may be, in characters. Every value the server
/// itself writes into a board (a revealed private note, a template, a vote's result) is
/// checked against them with [`Note::check_bounds`], [`Frame::check_bounds`] and
/// [`Action::check_bounds`], so that no field of one participant can weigh enough to
/// fill a board's size limit (a 700,000-character colour once did).
pub mod bounds {
    /// An id: a note's, a frame's, the frame a note is in, an obstacle's pair, an
    /// author's identity.
    pub const ID: usize = 64;
    /// A note's text (what a sticky note holds; a longer text belongs in a document).
    pub const NOTE_TEXT: usize = 2000;
    /// A note's colour name (one of [`super::NOTE_COLORS`] for the web client).
    pub const COLOR: usize = 32;
    /// A note's kind (one of [`super::note_kind`]).
    pub const KIND: usize = 32;
    /// A display name: a note's author, an action's owner.
    pub const NAME: usize = 64;
    /// One of a team's table fields (what they expect of us, what we expect of them).
    pub const TEAM_FIELD: usize = 1000;
    /// A title: a board's, a frame's.
    pub const TITLE: usize = 200;
    /// A frame's guidance text.
    pub const GUIDE: usize = 2000;
    /// A frame's step or area name.
    pub const TAG: usize = 64;
    /// An action's text.
    pub const ACTION_TEXT: usize = 1000;
    /// An action's owner.
    pub const OWNER: usize = 100;
    /// An action's due date (`YYYY-MM-DD`, with room for a time).
    pub const DUE: usize = 32;
}

/// A field longer than its bound (see [`bounds`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {field} field holds at most {max} characters")]
pub struct FieldError {
    /// The field's name, as the document spells it.
    pub field: &'static str,
    /// Its bound, in characters.
    pub max: usize,
}

/// Checks one field against its bound.
fn bounded(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    // Bytes bound characters from above: count them only when the bytes could be over.
    if value.len() > max && value.chars().count() > max {
        return Err(FieldError { field, max });
    }
    Ok(())
}

/// Checks an optional field against its bound.
fn bounded_opt(field: &'static str, value: &Option<String>, max: usize) -> Result<(), FieldError> {
    value.as_deref().map_or(Ok(()), |v| bounded(field, v, max))
}

impl Note {
    /// Whether every field is within its bound (see [`bounds`]).
    pub fn check_bounds(&self) -> Result<(), FieldError> {
        bounded("id", &self.id, bounds::ID)?;
        bounded(note::TEXT, &self.text, bounds::NOTE_TEXT)?;
        bounded(note::COLOR, &self.color, bounds::COLOR)?;
        bounded(note::AUTHOR, &self.author, bounds::NAME)?;
        bounded_opt(note::FRAME, &self.frame, bounds::ID)?;
        bounded_opt(note::KIND, &self.kind, bounds::KIND)?;
        bounded_opt(note::AUTHOR_ID, &self.author_id, bounds::ID)?;
        bounded_opt(note::PAIR, &self.pair, bounds::ID)?;
        if let Some(team) = &self.team {
            bounded(note::EXPECTS_OF_US, &team.expects_of_us, bounds::TEAM_FIELD)?;
            bounded(note::WE_EXPECT, &team.we_expect, bounds::TEAM_FIELD)?;
        }
        Ok(())
    }
}

impl Frame {
    /// Whether every field is within its bound (see [`bounds`]).
    pub fn check_bounds(&self) -> Result<(), FieldError> {
        bounded("id", &self.id, bounds::ID)?;
        bounded(frame::TITLE, &self.title, bounds::TITLE)?;
        bounded_opt(frame::STEP, &self.step, bounds::TAG)?;
        bounded_opt(frame::GUIDE, &self.guide, bounds::GUIDE)?;
        bounded_opt(frame::AREA, &self.area, bounds::TAG)
    }
}

impl Action {
    /// Whether every field is within its bound (see [`bounds`]).
    pub fn check_bounds(&self) -> Result<(), FieldError> {
        bounded("id", &self.id, bounds::ID)?;
        bounded(action::TEXT, &self.text, bounds::ACTION_TEXT)?;
        bounded(action::OWNER, &self.owner, bounds::OWNER)?;
        bounded(action::DUE, &self.due, bounds::DUE)
    }
}

/// Colours a note may take, by name; the client maps them to its palette.
pub const NOTE_COLORS: [&str; 6] = ["yellow", "pink", "green", "blue", "orange", "purple"];
/// Size of a new note, in canvas pixels.
pub const NOTE_SIZE: (f64, f64) = (160.0, 120.0);

/// The board's metadata.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BoardMeta {
    pub title: String,
    pub template: String,
    pub created_at: f64,
    /// The note chosen as the common goal, if a vote chose one.
    pub common_goal: Option<String>,
}

/// A sticky note.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    pub text: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub color: String,
    pub author: String,
    pub frame: Option<String>,
    pub created_at: f64,
    /// One of [`note_kind`]; absent for a plain note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub author_id: Option<String>,
    /// An obstacle's remedy note, or a remedy's obstacle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pair: Option<String>,
    /// A team's row of the collaborators table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub team: Option<TeamFields>,
}

/// What the collaborators table records about a team.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TeamFields {
    pub expects_of_us: String,
    pub we_expect: String,
    /// 0 (never) to 4 (daily).
    pub interaction: f64,
    /// 0 (never) to 4 (daily).
    pub conflict: f64,
    /// The team the group chose to approach first.
    pub chosen: bool,
}

/// A titled area grouping notes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    pub id: String,
    pub title: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub created_at: f64,
    /// The workshop step it holds, for frames made from a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub guide: Option<String>,
    /// What notes inside it are in the workshop method (see [`frame::AREA`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub area: Option<String>,
}

/// A next step with an owner and a due date.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub id: String,
    pub text: String,
    pub owner: String,
    pub due: String,
    pub done: bool,
    pub created_at: f64,
}

/// The whole board read out of its document, in a stable order (by creation time, then id).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct BoardSnapshot {
    pub meta: BoardMeta,
    pub notes: Vec<Note>,
    pub frames: Vec<Frame>,
    pub actions: Vec<Action>,
}

/// Typed access to a board's document.
pub struct Board {
    meta: MapRef,
    notes: MapRef,
    frames: MapRef,
    actions: MapRef,
}

impl Board {
    /// Binds the root maps of `doc` (creating them if the document is new).
    pub fn new(doc: &yrs::Doc) -> Self {
        Board {
            meta: doc.get_or_insert_map(META),
            notes: doc.get_or_insert_map(NOTES),
            frames: doc.get_or_insert_map(FRAMES),
            actions: doc.get_or_insert_map(ACTIONS),
        }
    }

    /// The board's root types, if the document has them all: read in `txn`, where
    /// [`Board::new`] creates any missing (a write transaction per root).
    pub fn existing<T: ReadTxn>(txn: &T) -> Option<Self> {
        // One pass over the few roots, naming none (a name given to yrs is allocated).
        let [mut meta, mut notes, mut frames, mut actions] = [None, None, None, None];
        for (name, root) in txn.root_refs() {
            let slot = match name {
                META => &mut meta,
                NOTES => &mut notes,
                FRAMES => &mut frames,
                ACTIONS => &mut actions,
                _ => continue,
            };
            if let Out::YMap(map) = root {
                *slot = Some(map);
            }
        }
        Some(Board { meta: meta?, notes: notes?, frames: frames?, actions: actions? })
    }

    /// Whether a committed transaction changed the board's metadata (title, template,
    /// common goal), directly or inside one of its values.
    pub fn meta_changed(&self, txn: &TransactionMut) -> bool {
        let meta = yrs::branch::BranchPtr::from(self.meta.as_ref());
        txn.changed_parent_types().contains(&meta)
    }

    /// Writes the board's metadata.
    pub fn set_meta(&self, txn: &mut TransactionMut, value: &BoardMeta) {
        self.meta.insert(txn, meta::TITLE, value.title.as_str());
        self.meta.insert(txn, meta::TEMPLATE, value.template.as_str());
        self.meta.insert(txn, meta::CREATED_AT, js_number(value.created_at));
    }

    /// Records the note chosen as the common goal.
    pub fn set_common_goal(&self, txn: &mut TransactionMut, note_id: &str) {
        self.meta.insert(txn, meta::COMMON_GOAL, note_id);
    }

    /// The note chosen as the common goal, if any.
    pub fn common_goal<T: ReadTxn>(&self, txn: &T) -> Option<String> {
        Some(string(txn, &self.meta, meta::COMMON_GOAL)).filter(|g| !g.is_empty())
    }

    /// Puts the common goal back to `goal` (none: no goal chosen).
    pub fn reset_common_goal(&self, txn: &mut TransactionMut, goal: Option<&str>) {
        match goal {
            Some(id) => self.set_common_goal(txn, id),
            None => {
                self.meta.remove(txn, meta::COMMON_GOAL);
            }
        }
    }

    /// Whether a note with this id exists.
    pub fn has_note<T: ReadTxn>(&self, txn: &T, id: &str) -> bool {
        self.notes.contains_key(txn, id)
    }

    /// Adds a note, or replaces the note with the same id.
    pub fn insert_note(&self, txn: &mut TransactionMut, value: &Note) {
        let map = self.notes.insert(txn, value.id.as_str(), MapPrelim::default());
        map.insert(txn, note::POS, note_pos(value.x, value.y));
        map.insert(txn, note::W, js_number(value.w));
        map.insert(txn, note::H, js_number(value.h));
        map.insert(txn, note::COLOR, value.color.as_str());
        map.insert(txn, note::AUTHOR, value.author.as_str());
        map.insert(txn, note::CREATED_AT, js_number(value.created_at));
        if let Some(frame) = &value.frame {
            map.insert(txn, note::FRAME, frame.as_str());
        }
        for (field, text) in [(note::KIND, &value.kind), (note::AUTHOR_ID, &value.author_id), (note::PAIR, &value.pair)]
        {
            if let Some(text) = text {
                map.insert(txn, field, text.as_str());
            }
        }
        if let Some(team) = &value.team {
            map.insert(txn, note::EXPECTS_OF_US, team.expects_of_us.as_str());
            map.insert(txn, note::WE_EXPECT, team.we_expect.as_str());
            map.insert(txn, note::INTERACTION, js_number(team.interaction));
            map.insert(txn, note::CONFLICT, js_number(team.conflict));
            map.insert(txn, note::CHOSEN, team.chosen);
        }
        map.insert(txn, note::TEXT, TextPrelim::new(value.text.as_str()));
    }

    /// Moves a note (one `pos` entry; a note of an older board keeps its unread `x` and
    /// `y`); returns false if there is no such note.
    pub fn move_note(&self, txn: &mut TransactionMut, id: &str, x: f64, y: f64) -> bool {
        let Some(Out::YMap(map)) = self.notes.get(txn, id) else {
            return false;
        };
        map.insert(txn, note::POS, note_pos(x, y));
        true
    }

    /// Replaces a note's text; returns false if there is no such note.
    pub fn set_note_text(&self, txn: &mut TransactionMut, id: &str, text: &str) -> bool {
        let Some(Out::YMap(map)) = self.notes.get(txn, id) else {
            return false;
        };
        match map.get(txn, note::TEXT) {
            Some(Out::YText(current)) => {
                let len = current.len(txn);
                current.remove_range(txn, 0, len);
                current.insert(txn, 0, text);
            }
            _ => {
                map.insert(txn, note::TEXT, TextPrelim::new(text));
            }
        }
        true
    }

    /// Sets one field of a note to a plain value; returns false if there is no such note.
    pub fn set_note_field(&self, txn: &mut TransactionMut, id: &str, field: &str, value: Any) -> bool {
        let Some(Out::YMap(map)) = self.notes.get(txn, id) else {
            return false;
        };
        map.insert(txn, field, value);
        true
    }

    /// Deletes a note; returns false if there was no such note.
    pub fn remove_note(&self, txn: &mut TransactionMut, id: &str) -> bool {
        self.notes.remove(txn, id).is_some()
    }

    /// Adds a frame, or replaces the frame with the same id.
    pub fn insert_frame(&self, txn: &mut TransactionMut, value: &Frame) {
        let map = self.frames.insert(txn, value.id.as_str(), MapPrelim::default());
        map.insert(txn, frame::TITLE, value.title.as_str());
        map.insert(txn, frame::X, js_number(value.x));
        map.insert(txn, frame::Y, js_number(value.y));
        map.insert(txn, frame::W, js_number(value.w));
        map.insert(txn, frame::H, js_number(value.h));
        map.insert(txn, frame::CREATED_AT, js_number(value.created_at));
        for (field, text) in [(frame::STEP, &value.step), (frame::GUIDE, &value.guide), (frame::AREA, &value.area)] {
            if let Some(text) = text {
                map.insert(txn, field, text.as_str());
            }
        }
    }

    /// Moves and resizes a frame; returns false if there is no such frame.
    pub fn set_frame_rect(&self, txn: &mut TransactionMut, id: &str, x: f64, y: f64, w: f64, h: f64) -> bool {
        let Some(Out::YMap(map)) = self.frames.get(txn, id) else {
            return false;
        };
        for (field, value) in [(frame::X, x), (frame::Y, y), (frame::W, w), (frame::H, h)] {
            if number(txn, &map, field) != value {
                map.insert(txn, field, js_number(value));
            }
        }
        true
    }

    /// Adds an action, or replaces the action with the same id.
    pub fn insert_action(&self, txn: &mut TransactionMut, value: &Action) {
        let map = self.actions.insert(txn, value.id.as_str(), MapPrelim::default());
        map.insert(txn, action::TEXT, value.text.as_str());
        map.insert(txn, action::OWNER, value.owner.as_str());
        map.insert(txn, action::DUE, value.due.as_str());
        map.insert(txn, action::DONE, value.done);
        map.insert(txn, action::CREATED_AT, js_number(value.created_at));
    }

    /// Reads one note.
    pub fn note<T: ReadTxn>(&self, txn: &T, id: &str) -> Option<Note> {
        match self.notes.get(txn, id)? {
            Out::YMap(map) => Some(read_note(txn, id, &map)),
            _ => None,
        }
    }

    /// Ids of all notes, in no particular order.
    pub fn note_ids<T: ReadTxn>(&self, txn: &T) -> Vec<String> {
        self.notes.keys(txn).map(str::to_owned).collect()
    }

    /// Number of notes.
    pub fn note_count<T: ReadTxn>(&self, txn: &T) -> u32 {
        self.notes.len(txn)
    }

    /// Reads the whole board.
    pub fn snapshot<T: ReadTxn>(&self, txn: &T) -> BoardSnapshot {
        let meta = BoardMeta {
            title: string(txn, &self.meta, meta::TITLE),
            template: string(txn, &self.meta, meta::TEMPLATE),
            created_at: number(txn, &self.meta, meta::CREATED_AT),
            common_goal: self.common_goal(txn),
        };
        let mut notes = children(txn, &self.notes, read_note);
        notes.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let mut frames = children(txn, &self.frames, |txn, id, map| Frame {
            id: id.to_owned(),
            title: string(txn, map, frame::TITLE),
            x: number(txn, map, frame::X),
            y: number(txn, map, frame::Y),
            w: number(txn, map, frame::W),
            h: number(txn, map, frame::H),
            created_at: number(txn, map, frame::CREATED_AT),
            step: optional(txn, map, frame::STEP),
            guide: optional(txn, map, frame::GUIDE),
            area: optional(txn, map, frame::AREA),
        });
        frames.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let mut actions = children(txn, &self.actions, |txn, id, map| Action {
            id: id.to_owned(),
            text: string(txn, map, action::TEXT),
            owner: string(txn, map, action::OWNER),
            due: string(txn, map, action::DUE),
            done: matches!(map.get(txn, action::DONE), Some(Out::Any(Any::Bool(true)))),
            created_at: number(txn, map, action::CREATED_AT),
        });
        actions.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.id.cmp(&b.id)));
        BoardSnapshot { meta, notes, frames, actions }
    }
}

/// A number as JavaScript's Yjs stores it: integers that fit in 31 bits as integers,
/// other values as floats. yrs would store `10.0` as a float; Yjs stores `10` as an
/// integer. Both read back equal, but matching Yjs keeps updates byte-identical.
pub fn js_number(value: f64) -> Any {
    const MAX_SMALL_INT: f64 = ((1u32 << 31) - 1) as f64;
    if value.fract() == 0.0 && value.abs() <= MAX_SMALL_INT {
        Any::from(value as i64)
    } else {
        Any::from(value)
    }
}

/// A note's [`note::POS`] value: the array `[x, y]`, numbers as [`js_number`] writes
/// them (what `note.set("pos", [x, y])` stores in Yjs).
pub fn note_pos(x: f64, y: f64) -> Any {
    Any::Array([js_number(x), js_number(y)].into())
}

/// A note's position: its `pos` when that is an array of two finite numbers, else its
/// `x` and `y` entries (boards written before `pos`), else 0.
fn read_position<T: ReadTxn>(txn: &T, map: &MapRef) -> (f64, f64) {
    if let Some(Out::Any(Any::Array(pos))) = map.get(txn, note::POS) {
        if let [x, y] = &*pos {
            if let (Some(x), Some(y)) = (finite(x), finite(y)) {
                return (x, y);
            }
        }
    }
    (number(txn, map, note::X), number(txn, map, note::Y))
}

/// A finite number value, else `None`.
fn finite(value: &Any) -> Option<f64> {
    let n = match value {
        Any::Number(yrs::any::Number::Int(i)) => *i as f64,
        Any::Number(yrs::any::Number::Float(f)) => *f,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn read_note<T: ReadTxn>(txn: &T, id: &str, map: &MapRef) -> Note {
    let frame = match map.get(txn, note::FRAME) {
        Some(Out::Any(Any::String(s))) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    };
    let (x, y) = read_position(txn, map);
    Note {
        id: id.to_owned(),
        text: string(txn, map, note::TEXT),
        x,
        y,
        w: number(txn, map, note::W),
        h: number(txn, map, note::H),
        color: string(txn, map, note::COLOR),
        author: string(txn, map, note::AUTHOR),
        frame,
        created_at: number(txn, map, note::CREATED_AT),
        kind: optional(txn, map, note::KIND),
        author_id: optional(txn, map, note::AUTHOR_ID),
        pair: optional(txn, map, note::PAIR),
        team: (map
            .get(txn, note::KIND)
            .is_some_and(|k| matches!(k, Out::Any(Any::String(s)) if &*s == note_kind::TEAM)))
        .then(|| TeamFields {
            expects_of_us: string(txn, map, note::EXPECTS_OF_US),
            we_expect: string(txn, map, note::WE_EXPECT),
            interaction: number(txn, map, note::INTERACTION),
            conflict: number(txn, map, note::CONFLICT),
            chosen: matches!(map.get(txn, note::CHOSEN), Some(Out::Any(Any::Bool(true)))),
        }),
    }
}

/// A string field that may be absent (absent or empty reads as `None`).
fn optional<T: ReadTxn>(txn: &T, map: &MapRef, key: &str) -> Option<String> {
    Some(string(txn, map, key)).filter(|s| !s.is_empty())
}

fn children<T: ReadTxn, V>(txn: &T, root: &MapRef, read: impl Fn(&T, &str, &MapRef) -> V) -> Vec<V> {
    root.iter(txn)
        .filter_map(|(id, value)| match value {
            Out::YMap(map) => Some(read(txn, id, &map)),
            _ => None,
        })
        .collect()
}

fn string<T: ReadTxn>(txn: &T, map: &MapRef, key: &str) -> String {
    match map.get(txn, key) {
        Some(Out::Any(Any::String(s))) => s.to_string(),
        Some(Out::YText(text)) => text.get_string(txn),
        Some(Out::Any(other)) if !matches!(other, Any::Null | Any::Undefined) => other.to_string(),
        Some(other) if !matches!(other, Out::Any(_)) => other.to_json(txn).to_string(),
        _ => String::new(),
    }
}

fn number<T: ReadTxn>(txn: &T, map: &MapRef, key: &str) -> f64 {
    match map.get(txn, key) {
        Some(Out::Any(Any::Number(n))) => match n {
            yrs::any::Number::Int(i) => i as f64,
            yrs::any::Number::Float(f) => f,
        },
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, Transact};

    fn sample_note(id: &str) -> Note {
        Note {
            id: id.into(),
            text: "Ship the pilot".into(),
            x: 10.0,
            y: 20.5,
            w: NOTE_SIZE.0,
            h: NOTE_SIZE.1,
            color: "yellow".into(),
            author: "Ana".into(),
            frame: Some("f1".into()),
            created_at: 1_700_000_000_000.0,
            ..Note::default()
        }
    }

    #[test]
    fn existing_roots_are_read_without_a_write() {
        let doc = Doc::new();
        assert!(Board::existing(&doc.transact()).is_none(), "an empty document has no roots");
        Board::new(&doc).insert_note(&mut doc.transact_mut(), &sample_note("n1"));
        let board = Board::existing(&doc.transact()).expect("the roots Board::new made");
        assert!(board.has_note(&doc.transact(), "n1"));
    }

    #[test]
    fn workshop_fields_round_trip() {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let team = Note {
            kind: Some(note_kind::TEAM.into()),
            author_id: Some("person:1".into()),
            team: Some(TeamFields {
                expects_of_us: "Fast answers".into(),
                we_expect: "Early warning".into(),
                interaction: 4.0,
                conflict: 3.0,
                chosen: true,
            }),
            ..sample_note("t1")
        };
        let obstacle = Note { kind: Some(note_kind::OBSTACLE.into()), pair: Some("r1".into()), ..sample_note("o1") };
        let mut txn = doc.transact_mut();
        board.insert_note(&mut txn, &team);
        board.insert_note(&mut txn, &obstacle);
        assert_eq!(board.note(&txn, "t1"), Some(team));
        assert_eq!(board.note(&txn, "o1"), Some(obstacle));
        assert_eq!(board.note(&txn, "o1").unwrap().team, None, "only teams have table fields");
    }

    #[test]
    fn notes_round_trip_through_the_document() {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let mut txn = doc.transact_mut();
        board.insert_note(&mut txn, &sample_note("n1"));
        assert!(board.move_note(&mut txn, "n1", 1.0, 2.0));
        assert!(board.set_note_text(&mut txn, "n1", "Ship it"));
        let note = board.note(&txn, "n1").expect("note exists");
        assert_eq!((note.x, note.y, note.text.as_str()), (1.0, 2.0, "Ship it"));
        assert_eq!(note.frame.as_deref(), Some("f1"));
        assert!(board.remove_note(&mut txn, "n1"));
        assert!(board.note(&txn, "n1").is_none());
    }

    /// Writes a note the way boards before `pos` held it: `x` and `y` entries.
    fn insert_old_note(board: &Board, txn: &mut TransactionMut, id: &str, x: f64, y: f64) -> MapRef {
        let map = board.notes.insert(txn, id, MapPrelim::default());
        map.insert(txn, note::X, js_number(x));
        map.insert(txn, note::Y, js_number(y));
        map.insert(txn, note::TEXT, TextPrelim::new("old"));
        map
    }

    fn keys<T: ReadTxn>(txn: &T, map: &MapRef) -> Vec<String> {
        let mut keys: Vec<String> = map.keys(txn).map(str::to_owned).collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_note_keeps_its_position_in_one_pos_entry() {
        let doc = Doc::with_client_id(7);
        let board = Board::new(&doc);
        let mut txn = doc.transact_mut();
        board.insert_note(&mut txn, &sample_note("n1"));
        let Some(Out::YMap(map)) = board.notes.get(&txn, "n1") else { panic!("no note") };
        assert_eq!(map.get(&txn, note::POS), Some(Out::Any(note_pos(10.0, 20.5))));
        assert!(!map.contains_key(&txn, note::X) && !map.contains_key(&txn, note::Y), "{:?}", keys(&txn, &map));

        assert!(board.move_note(&mut txn, "n1", 30.0, -4.5));
        assert_eq!(keys(&txn, &map).iter().filter(|k| k.as_str() == note::POS).count(), 1);
        assert!(!map.contains_key(&txn, note::X) && !map.contains_key(&txn, note::Y));
        let moved = board.note(&txn, "n1").unwrap();
        assert_eq!((moved.x, moved.y), (30.0, -4.5));
        // As Yjs writes `note.set("pos", [30, -4.5])`: integers as integers.
        assert_eq!(map.get(&txn, note::POS), Some(Out::Any(Any::Array([Any::from(30i64), Any::from(-4.5)].into()))));
    }

    #[test]
    fn a_move_adds_one_item() {
        let doc = Doc::with_client_id(7);
        let board = Board::new(&doc);
        board.insert_note(&mut doc.transact_mut(), &sample_note("n1"));
        let clock = || doc.transact().state_vector().get(&yrs::ClientID::new(7));
        let before = clock();
        assert!(board.move_note(&mut doc.transact_mut(), "n1", 1.0, 2.0));
        assert_eq!(clock() - before, 1, "one pos entry per move, not an x and a y");
        let before = clock();
        assert!(board.move_note(&mut doc.transact_mut(), "n1", 3.0, 4.0));
        assert_eq!(clock() - before, 1);
    }

    #[test]
    fn notes_of_older_boards_read_from_x_and_y_until_moved() {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let mut txn = doc.transact_mut();
        let map = insert_old_note(&board, &mut txn, "old", 12.0, 34.5);
        let old = board.note(&txn, "old").unwrap();
        assert_eq!((old.x, old.y, old.text.as_str()), (12.0, 34.5, "old"));
        assert_eq!(board.snapshot(&txn).notes[0].x, 12.0);

        assert!(board.move_note(&mut txn, "old", 100.0, 200.0));
        assert_eq!(map.get(&txn, note::POS), Some(Out::Any(note_pos(100.0, 200.0))));
        let moved = board.note(&txn, "old").unwrap();
        assert_eq!((moved.x, moved.y), (100.0, 200.0), "pos wins over the stale x and y");
        assert_eq!(keys(&txn, &map), ["pos", "text", "x", "y"]);
    }

    #[test]
    fn a_malformed_pos_falls_back_to_x_and_y_or_zero() {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let mut txn = doc.transact_mut();
        let map = insert_old_note(&board, &mut txn, "n", 5.0, 6.0);
        let bad = [
            Any::Array([Any::from(1i64)].into()),
            Any::Array([Any::from(1i64), Any::from(2i64), Any::from(3i64)].into()),
            Any::Array([Any::from(1i64), Any::from("2")].into()),
            Any::Array([Any::from(f64::NAN), Any::from(2.0)].into()),
            Any::Array([Any::from(1.0), Any::from(f64::INFINITY)].into()),
            Any::from("1,2"),
            Any::Null,
        ];
        for value in bad {
            map.insert(&mut txn, note::POS, value.clone());
            let n = board.note(&txn, "n").unwrap();
            assert_eq!((n.x, n.y), (5.0, 6.0), "{value:?}");
        }
        map.remove(&mut txn, note::X);
        map.remove(&mut txn, note::Y);
        let n = board.note(&txn, "n").unwrap();
        assert_eq!((n.x, n.y), (0.0, 0.0));
        map.insert(&mut txn, note::POS, Any::Array([Any::from(7.25), Any::from(-8i64)].into()));
        let n = board.note(&txn, "n").unwrap();
        assert_eq!((n.x, n.y), (7.25, -8.0));
    }

    #[test]
    fn snapshot_reads_every_root() {
        let doc = Doc::new();
        let board = Board::new(&doc);
        let mut txn = doc.transact_mut();
        board.set_meta(
            &mut txn,
            &BoardMeta { title: "Goals".into(), template: "blank".into(), created_at: 5.0, common_goal: None },
        );
        board.insert_note(&mut txn, &sample_note("n1"));
        board.insert_frame(
            &mut txn,
            &Frame { id: "f1".into(), title: "Step 1".into(), w: 800.0, h: 600.0, ..Frame::default() },
        );
        board.insert_action(
            &mut txn,
            &Action {
                id: "a1".into(),
                text: "Book a room".into(),
                owner: "Li".into(),
                due: "2026-12-01".into(),
                done: true,
                created_at: 1.0,
            },
        );
        let snapshot = board.snapshot(&txn);
        assert_eq!(snapshot.meta.title, "Goals");
        assert_eq!(snapshot.notes, vec![sample_note("n1")]);
        assert_eq!(snapshot.frames[0].title, "Step 1");
        assert!(snapshot.actions[0].done);
    }

    #[test]
    fn every_note_field_is_bounded() {
        assert_eq!(sample_note("n1").check_bounds(), Ok(()));
        let long = |n: usize| "x".repeat(n + 1);
        let cases: Vec<(Note, &str)> = vec![
            (Note { color: long(bounds::COLOR), ..sample_note("n") }, note::COLOR),
            (Note { kind: Some(long(bounds::KIND)), ..sample_note("n") }, note::KIND),
            (Note { text: long(bounds::NOTE_TEXT), ..sample_note("n") }, note::TEXT),
            (Note { author: long(bounds::NAME), ..sample_note("n") }, note::AUTHOR),
            (Note { frame: Some(long(bounds::ID)), ..sample_note("n") }, note::FRAME),
            (Note { pair: Some(long(bounds::ID)), ..sample_note("n") }, note::PAIR),
            (Note { author_id: Some(long(bounds::ID)), ..sample_note("n") }, note::AUTHOR_ID),
            (sample_note(&long(bounds::ID)), "id"),
            (
                Note {
                    team: Some(TeamFields { we_expect: long(bounds::TEAM_FIELD), ..TeamFields::default() }),
                    ..sample_note("n")
                },
                note::WE_EXPECT,
            ),
        ];
        for (note, field) in cases {
            assert_eq!(note.check_bounds().unwrap_err().field, field);
        }
        // Characters, not bytes: 2,000 accented letters fit.
        assert_eq!(Note { text: "é".repeat(bounds::NOTE_TEXT), ..sample_note("n") }.check_bounds(), Ok(()));
    }

    #[test]
    fn frame_and_action_fields_are_bounded() {
        let frame = Frame { id: "f".into(), title: "x".repeat(bounds::TITLE + 1), ..Frame::default() };
        assert_eq!(frame.check_bounds().unwrap_err().field, frame::TITLE);
        let action = Action { id: "a".into(), owner: "x".repeat(bounds::OWNER + 1), ..Action::default() };
        assert_eq!(action.check_bounds().unwrap_err().field, action::OWNER);
        assert_eq!(Action { id: "a".into(), ..Action::default() }.check_bounds(), Ok(()));
    }
}
