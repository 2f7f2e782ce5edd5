//! What each logged update changed, in the board's own terms (a note added, moved,
//! edited...), found by replaying updates on a document and observing its events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use commonboard_protocol::history::{Change, ChangeKind};
use commonboard_protocol::schema::{self, action, frame, note};
use commonboard_protocol::stitch::Stitch;
use commonboard_protocol::validate::STORED;
use yrs::types::{EntryChange, Event, PathSegment};
use yrs::{DeepObservable, Doc, GetString, Map, MapRef, Out, ReadTxn, Transact};

use crate::store::Checkpoint;

/// Longest label kept for an item, in characters.
const LABEL_CHARS: usize = 48;

/// The three kinds of item a board holds, by root map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Item {
    Note,
    Frame,
    Action,
}

impl Item {
    const ALL: [(Item, &'static str); 3] =
        [(Item::Note, schema::NOTES), (Item::Frame, schema::FRAMES), (Item::Action, schema::ACTIONS)];

    fn kinds(self) -> (ChangeKind, ChangeKind, ChangeKind) {
        match self {
            Item::Note => (ChangeKind::NoteAdded, ChangeKind::NoteChanged, ChangeKind::NoteDeleted),
            Item::Frame => (ChangeKind::FrameAdded, ChangeKind::FrameChanged, ChangeKind::FrameDeleted),
            Item::Action => (ChangeKind::ActionAdded, ChangeKind::ActionChanged, ChangeKind::ActionDeleted),
        }
    }

    /// The field that names an item in a list.
    fn label_field(self) -> &'static str {
        match self {
            Item::Note => note::TEXT,
            Item::Frame => frame::TITLE,
            Item::Action => action::TEXT,
        }
    }
}

/// Raw observations of one transaction: per item, the fields touched.
#[derive(Default)]
struct Observed {
    added: BTreeSet<(Item, String)>,
    removed: BTreeSet<(Item, String)>,
    fields: BTreeMap<(Item, String), BTreeSet<String>>,
    meta: BTreeSet<String>,
    /// Board fields the update removed (a restore that cleared the common goal).
    meta_removed: BTreeSet<String>,
    /// Roots outside the board schema that changed.
    foreign: BTreeSet<String>,
}

/// Replays updates on a document and says what each one changed.
pub struct Summarizer {
    doc: Doc,
    roots: Vec<(Item, MapRef)>,
    observed: Arc<Mutex<Observed>>,
    /// Last known label of each item, so a deleted item can still be named.
    labels: HashMap<(Item, String), String>,
    /// Roots outside the board schema being observed, by name.
    foreign: BTreeSet<String>,
    /// yrs panicked on an update (a damaged row): the document must not be read again,
    /// and nothing more is described.
    broken: bool,
}

impl Drop for Summarizer {
    fn drop(&mut self) {
        if self.broken {
            crate::doc::discard(std::mem::replace(&mut self.doc, Doc::new()));
        }
    }
}

impl Summarizer {
    /// Starts from a checkpoint, or an empty document.
    pub fn new(checkpoint: Option<&Checkpoint>) -> Self {
        let mut doc = Doc::new();
        if let Some(checkpoint) = checkpoint {
            // A checkpoint yrs panics on leaves a document that must not be read: start empty.
            let mut txn = doc.transact_mut();
            if crate::doc::apply_checkpoint(&mut txn, checkpoint).is_err() {
                std::mem::forget(txn);
                crate::doc::discard(std::mem::replace(&mut doc, Doc::new()));
            } else {
                drop(txn);
            }
        }
        let observed = Arc::new(Mutex::new(Observed::default()));
        let mut roots = Vec::new();
        for (item, name) in Item::ALL {
            let root = doc.get_or_insert_map(name);
            let sink = observed.clone();
            root.observe_deep("summary", move |txn, events| {
                let mut observed = sink.lock().expect("summary observations");
                for event in events.iter() {
                    observe(item, txn, event, &mut observed);
                }
            });
            roots.push((item, root));
        }
        let meta = doc.get_or_insert_map(schema::META);
        let sink = observed.clone();
        meta.observe_deep("summary", move |txn, events| {
            let mut observed = sink.lock().expect("summary observations");
            for event in events.iter() {
                if let Event::Map(event) = event {
                    for (key, change) in event.keys(txn) {
                        observed.meta.insert(key.to_string());
                        if matches!(change, EntryChange::Removed(_)) {
                            observed.meta_removed.insert(key.to_string());
                        }
                    }
                }
            }
        });
        let mut summarizer =
            Summarizer { doc, roots, observed, labels: HashMap::new(), foreign: BTreeSet::new(), broken: false };
        summarizer.watch_foreign_roots();
        summarizer.learn_all_labels();
        summarizer
    }

    /// Observes every root outside the board schema not observed yet (declaring its
    /// type, which an update does not carry); returns the names newly observed.
    fn watch_foreign_roots(&mut self) -> Vec<String> {
        if self.broken {
            return Vec::new();
        }
        let found = super::generic::foreign_roots(&self.doc.transact());
        let mut new = Vec::new();
        for (name, kind) in found {
            if !self.foreign.insert(name.clone()) {
                continue;
            }
            let mut branch = super::generic::typed(&self.doc, &name, kind);
            let sink = self.observed.clone();
            let root = name.clone();
            branch.observe_deep("summary".into(), move |_, _| {
                sink.lock().expect("summary observations").foreign.insert(root.clone());
            });
            new.push(name);
        }
        new
    }

    /// Applies an update; false once yrs panicked on one: the transaction is then
    /// never committed (its observers would read freed memory: found by the
    /// `store_load` fuzz target) and the document never read again.
    fn apply(&mut self, update: &[u8]) -> bool {
        if self.broken {
            return false;
        }
        let mut txn = self.doc.transact_mut();
        if super::apply(&mut txn, update).is_err() {
            std::mem::forget(txn);
            self.broken = true;
            return false;
        }
        drop(txn);
        true
    }

    /// Applies an update without describing it (catching up to a point).
    pub fn skip(&mut self, update: &[u8]) {
        self.apply(update);
        self.watch_foreign_roots();
        *self.observed.lock().expect("summary observations") = Observed::default();
    }

    /// Applies updates without describing them, stitched into one when they continue
    /// the document (one transaction, one round of observers, instead of one each).
    pub fn skip_all(&mut self, updates: &[&[u8]]) {
        if self.broken {
            return;
        }
        let state_vector = self.doc.transact().state_vector();
        let mut since = Stitch::after(STORED, state_vector.iter().map(|(client, &clock)| (client.get(), clock)));
        if updates.iter().all(|update| since.push(update).is_ok()) {
            self.skip(&since.finish());
            return;
        }
        for update in updates {
            self.skip(update);
        }
    }

    /// Applies an update and describes what it changed.
    pub fn describe(&mut self, update: &[u8]) -> Vec<Change> {
        if !self.apply(update) {
            *self.observed.lock().expect("summary observations") = Observed::default();
            return Vec::new();
        }
        let appeared = self.watch_foreign_roots();
        let mut observed = std::mem::take(&mut *self.observed.lock().expect("summary observations"));
        observed.foreign.extend(appeared);
        let txn = self.doc.transact();
        let mut changes = Vec::new();
        for (item, id) in &observed.added {
            let label = refresh_label(&self.roots, &mut self.labels, &txn, *item, id);
            changes.push(change(item.kinds().0, id, Vec::new(), label));
        }
        for ((item, id), fields) in &observed.fields {
            if observed.added.contains(&(*item, id.clone())) || observed.removed.contains(&(*item, id.clone())) {
                continue;
            }
            let label = refresh_label(&self.roots, &mut self.labels, &txn, *item, id);
            let mut rest: Vec<String> = fields.iter().cloned().collect();
            if *item == Item::Note {
                if rest.iter().any(|f| f == note::TEXT) {
                    changes.push(change(ChangeKind::NoteEdited, id, Vec::new(), label.clone()));
                }
                // `pos` is where notes keep their position; `x` and `y`, where boards
                // written before it did (and where an older client may still write).
                let position = [note::POS, note::X, note::Y];
                if rest.iter().any(|f| position.contains(&f.as_str())) {
                    changes.push(change(ChangeKind::NoteMoved, id, Vec::new(), label.clone()));
                }
                rest.retain(|f| f != note::TEXT && !position.contains(&f.as_str()));
            }
            if !rest.is_empty() {
                changes.push(change(item.kinds().1, id, rest, label));
            }
        }
        for (item, id) in &observed.removed {
            if observed.added.contains(&(*item, id.clone())) {
                continue;
            }
            let label = self.labels.remove(&(*item, id.clone()));
            changes.push(change(item.kinds().2, id, Vec::new(), label));
        }
        if !observed.meta.is_empty() {
            // Every field removed, none set: the change is named a clearing.
            let cleared = observed.meta == observed.meta_removed;
            let label = cleared.then(|| CLEARED.to_owned());
            let fields = observed.meta.into_iter().collect();
            changes.push(Change { kind: ChangeKind::BoardChanged, id: None, fields, label, to_seq: None });
        }
        for root in observed.foreign {
            changes.push(Change {
                kind: ChangeKind::RootChanged,
                id: Some(root),
                fields: Vec::new(),
                label: None,
                to_seq: None,
            });
        }
        changes
    }

    fn learn_all_labels(&mut self) {
        let txn = self.doc.transact();
        for (item, root) in &self.roots {
            for (id, value) in root.iter(&txn) {
                if let Some(label) = label_of(&txn, *item, &value) {
                    self.labels.insert((*item, id.to_owned()), label);
                }
            }
        }
    }
}

/// Reads an item's label now, remembering it for when the item is deleted.
fn refresh_label<T: ReadTxn>(
    roots: &[(Item, MapRef)],
    labels: &mut HashMap<(Item, String), String>,
    txn: &T,
    item: Item,
    id: &str,
) -> Option<String> {
    let root = &roots.iter().find(|(i, _)| *i == item)?.1;
    let label = label_of(txn, item, &root.get(txn, id)?)?;
    labels.insert((item, id.to_owned()), label.clone());
    Some(label)
}

fn change(kind: ChangeKind, id: &str, fields: Vec<String>, label: Option<String>) -> Change {
    Change { kind, id: Some(id.to_owned()), fields, label, to_seq: None }
}

/// Records one event seen under an item root.
fn observe(item: Item, txn: &yrs::TransactionMut, event: &Event, observed: &mut Observed) {
    let path: Vec<String> = event
        .path()
        .into_iter()
        .map(|segment| match segment {
            PathSegment::Key(key) => key.to_string(),
            PathSegment::Index(index) => index.to_string(),
        })
        .collect();
    match (event, path.as_slice()) {
        (Event::Map(event), []) => {
            for (id, entry) in event.keys(txn) {
                let key = (item, id.to_string());
                match entry {
                    EntryChange::Inserted(_) | EntryChange::Updated(..) => {
                        observed.added.insert(key);
                    }
                    EntryChange::Removed(_) => {
                        observed.removed.insert(key);
                    }
                }
            }
        }
        (Event::Map(event), [id]) => {
            let fields = observed.fields.entry((item, id.clone())).or_default();
            fields.extend(event.keys(txn).keys().map(|k| k.to_string()));
        }
        (_, [id, field, ..]) => {
            observed.fields.entry((item, id.clone())).or_default().insert(field.clone());
        }
        _ => {}
    }
}

/// A short excerpt naming an item: a note's or action's text, a frame's title.
fn label_of<T: ReadTxn>(txn: &T, item: Item, value: &Out) -> Option<String> {
    let Out::YMap(map) = value else { return None };
    let text = match map.get(txn, item.label_field())? {
        Out::YText(text) => text.get_string(txn),
        Out::Any(yrs::Any::String(s)) => s.to_string(),
        _ => return None,
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return None;
    }
    let mut label: String = text.chars().take(LABEL_CHARS).collect();
    if text.chars().count() > LABEL_CHARS {
        label.push('…');
    }
    Some(label)
}

/// The label of a board change that only removed fields.
const CLEARED: &str = "cleared";

/// The changes of an entry in words, e.g. `added a note “Pilot”; moved 2 notes`.
pub fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "changed the board".into();
    }
    let mut by_kind: BTreeMap<ChangeKind, Vec<&Change>> = BTreeMap::new();
    for change in changes {
        by_kind.entry(change.kind).or_default().push(change);
    }
    let parts: Vec<String> = by_kind.into_iter().map(|(kind, changes)| phrase(kind, &changes)).collect();
    parts.join("; ")
}

fn phrase(kind: ChangeKind, changes: &[&Change]) -> String {
    let one = changes.len() == 1;
    let named = |noun: &str| match (one, changes[0].label.as_deref()) {
        (true, Some(label)) => format!("the {noun} “{label}”"),
        (true, None) if noun.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {noun}"),
        (true, None) => format!("a {noun}"),
        (false, _) => format!("{} {noun}s", changes.len()),
    };
    let fields = || {
        let fields: BTreeSet<&str> = changes.iter().flat_map(|c| c.fields.iter().map(String::as_str)).collect();
        fields.into_iter().collect::<Vec<_>>().join(", ")
    };
    let to = changes[0].to_seq.unwrap_or(0);
    let cleared = changes[0].label.as_deref() == Some(CLEARED);
    match kind {
        ChangeKind::NoteAdded => format!("added {}", named("note")),
        ChangeKind::NoteEdited => format!("edited the text of {}", named("note")),
        ChangeKind::NoteMoved => format!("moved {}", named("note")),
        ChangeKind::NoteChanged => format!("changed the {} of {}", fields(), named("note")),
        ChangeKind::NoteDeleted => format!("deleted {}", named("note")),
        ChangeKind::FrameAdded => format!("added {}", named("frame")),
        ChangeKind::FrameChanged => format!("changed the {} of {}", fields(), named("frame")),
        ChangeKind::FrameDeleted => format!("deleted {}", named("frame")),
        ChangeKind::ActionAdded => format!("added {}", named("action")),
        ChangeKind::ActionChanged => format!("changed the {} of {}", fields(), named("action")),
        ChangeKind::ActionDeleted => format!("deleted {}", named("action")),
        ChangeKind::BoardChanged if fields() == schema::meta::COMMON_GOAL && cleared => {
            "cleared the common goal".into()
        }
        ChangeKind::BoardChanged if fields() == schema::meta::COMMON_GOAL => "set the common goal".into(),
        ChangeKind::BoardChanged => format!("changed the board's {}", fields()),
        ChangeKind::VoteOpened => "opened a vote".into(),
        ChangeKind::VoteClosed => "closed a vote".into(),
        ChangeKind::VoteRevealed => "revealed a vote's result".into(),
        ChangeKind::Restored => format!("restored the board to point {to}"),
        ChangeKind::Locked => "locked the board".into(),
        ChangeKind::Unlocked => "unlocked the board".into(),
        ChangeKind::Compacted => format!("dropped the fine-grained history up to point {to} (checkpoints kept)"),
        ChangeKind::StepChanged => match changes[0].label.as_deref() {
            Some(step) => format!("moved the workshop to “{step}”"),
            None => "moved the workshop back to its start".into(),
        },
        ChangeKind::NotesRevealed => "revealed the private notes".into(),
        ChangeKind::PersonRemoved => match changes[0].label.as_deref() {
            Some(name) => format!("removed {name} from the board"),
            None => "removed someone from the board".into(),
        },
        ChangeKind::RootChanged => {
            let roots: BTreeSet<&str> = changes.iter().filter_map(|c| c.id.as_deref()).collect();
            format!("changed {}", roots.into_iter().collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StateEncoding;
    use commonboard_protocol::schema::{Board, Note};
    use yrs::{ReadTxn, StateVector, Transact};

    fn update(doc: &Doc, change: impl FnOnce(&Board, &mut yrs::TransactionMut)) -> Vec<u8> {
        let before = doc.transact().state_vector();
        change(&Board::new(doc), &mut doc.transact_mut());
        doc.transact().encode_state_as_update_v1(&before)
    }

    fn kinds(changes: &[Change]) -> Vec<(ChangeKind, Option<&str>)> {
        changes.iter().map(|c| (c.kind, c.label.as_deref())).collect()
    }

    #[test]
    fn names_what_each_update_changed() {
        let author = Doc::new();
        let note = Note { id: "n1".into(), text: "Pilot in March".into(), ..Note::default() };
        let added = update(&author, |b, t| b.insert_note(t, &note));
        let moved = update(&author, |b, t| {
            b.move_note(t, "n1", 5.0, 6.0);
        });
        let edited = update(&author, |b, t| {
            b.set_note_text(t, "n1", "Pilot in April");
        });
        let recoloured = update(&author, |b, t| {
            b.set_note_field(t, "n1", note::COLOR, "pink".into());
        });
        let deleted = update(&author, |b, t| {
            b.remove_note(t, "n1");
        });

        let mut summarizer = Summarizer::new(None);
        let first = summarizer.describe(&added);
        assert_eq!(kinds(&first), vec![(ChangeKind::NoteAdded, Some("Pilot in March"))]);
        assert_eq!(describe(&first), "added the note “Pilot in March”");
        assert_eq!(kinds(&summarizer.describe(&moved)), vec![(ChangeKind::NoteMoved, Some("Pilot in March"))]);
        assert_eq!(kinds(&summarizer.describe(&edited)), vec![(ChangeKind::NoteEdited, Some("Pilot in April"))]);
        let colour = summarizer.describe(&recoloured);
        assert_eq!(colour[0].fields, vec!["color".to_owned()]);
        assert_eq!(describe(&colour), "changed the color of the note “Pilot in April”");
        assert_eq!(kinds(&summarizer.describe(&deleted)), vec![(ChangeKind::NoteDeleted, Some("Pilot in April"))]);
    }

    #[test]
    fn an_action_and_a_cleared_goal_read_right() {
        let author = Doc::new();
        let note = Note { id: "goal".into(), text: "Ship together".into(), ..Note::default() };
        let added = update(&author, |b, t| b.insert_note(t, &note));
        let set = update(&author, |b, t| b.set_common_goal(t, "goal"));
        let cleared = update(&author, |b, t| b.reset_common_goal(t, None));
        let mut summarizer = Summarizer::new(None);
        summarizer.describe(&added);
        assert_eq!(describe(&summarizer.describe(&set)), "set the common goal");
        assert_eq!(describe(&summarizer.describe(&cleared)), "cleared the common goal");
        let action = Change { kind: ChangeKind::ActionAdded, id: None, fields: Vec::new(), label: None, to_seq: None };
        assert_eq!(describe(&[action]), "added an action");
    }

    #[test]
    fn a_change_of_pos_is_a_move() {
        let author = Doc::new();
        let note = Note { id: "n1".into(), text: "Pilot".into(), ..Note::default() };
        let added = update(&author, |b, t| b.insert_note(t, &note));
        // What a web client's drag writes: `note.set("pos", [x, y])`, here with a colour.
        let moved_and_recoloured = update(&author, |b, t| {
            b.set_note_field(t, "n1", note::POS, schema::note_pos(40.0, 50.0));
            b.set_note_field(t, "n1", note::COLOR, "pink".into());
        });
        // A client that still writes the fields of older boards.
        let moved_the_old_way = update(&author, |b, t| {
            b.set_note_field(t, "n1", note::X, schema::js_number(1.0));
            b.set_note_field(t, "n1", note::Y, schema::js_number(2.0));
        });

        let mut summarizer = Summarizer::new(None);
        summarizer.describe(&added);
        let changes = summarizer.describe(&moved_and_recoloured);
        assert_eq!(
            kinds(&changes),
            vec![(ChangeKind::NoteMoved, Some("Pilot")), (ChangeKind::NoteChanged, Some("Pilot"))]
        );
        assert!(changes[0].fields.is_empty());
        assert_eq!(changes[1].fields, vec!["color".to_owned()], "pos is not listed as a changed field");
        assert_eq!(describe(&changes[..1]), "moved the note “Pilot”");
        assert_eq!(kinds(&summarizer.describe(&moved_the_old_way)), vec![(ChangeKind::NoteMoved, Some("Pilot"))]);
    }

    #[test]
    fn starts_from_a_checkpoint_and_knows_its_labels() {
        let author = Doc::new();
        update(&author, |b, t| b.insert_note(t, &Note { id: "n1".into(), text: "Old".into(), ..Note::default() }));
        let state = author.transact().encode_state_as_update_v2(&StateVector::default());
        let checkpoint = Checkpoint { seq: 1, at_ms: 0, encoding: StateEncoding::V2, state };
        let deleted = update(&author, |b, t| {
            b.remove_note(t, "n1");
        });
        let mut summarizer = Summarizer::new(Some(&checkpoint));
        assert_eq!(describe(&summarizer.describe(&deleted)), "deleted the note “Old”");
    }
}
