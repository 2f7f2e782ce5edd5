//! `GET /api/boards/{id}/diff`: the notes, frames and actions added, changed (which
//! fields) and removed between two points, compared in the board schema. Items are
//! compared as their JSON forms: a moved note differs in `x` and/or `y`, whether its
//! document keeps the position in `pos` or, on a board written before it, in `x` and `y`.

use std::collections::BTreeMap;

use commonboard_protocol::history::{BoardDiff, ChangedItem, ItemDiff};
use commonboard_protocol::schema::BoardSnapshot;
use serde::Serialize;
use serde_json::Value;

/// Compares the board at two points.
pub fn diff(from: u64, before: &BoardSnapshot, to: u64, after: &BoardSnapshot) -> BoardDiff {
    BoardDiff {
        from,
        to,
        notes: items(&before.notes, &after.notes, |n| &n.id),
        frames: items(&before.frames, &after.frames, |f| &f.id),
        actions: items(&before.actions, &after.actions, |a| &a.id),
        meta: changed_fields(&before.meta, &after.meta),
    }
}

fn items<T: Clone + Serialize>(before: &[T], after: &[T], id: impl Fn(&T) -> &String) -> ItemDiff<T> {
    let old: BTreeMap<&String, &T> = before.iter().map(|item| (id(item), item)).collect();
    let new: BTreeMap<&String, &T> = after.iter().map(|item| (id(item), item)).collect();
    let added = after.iter().filter(|item| !old.contains_key(id(item))).cloned().collect();
    let removed = before.iter().filter(|item| !new.contains_key(id(item))).cloned().collect();
    let changed = after
        .iter()
        .filter_map(|item| {
            let fields = changed_fields(*old.get(id(item))?, item);
            (!fields.is_empty()).then(|| ChangedItem { id: id(item).clone(), fields })
        })
        .collect();
    ItemDiff { added, removed, changed }
}

/// Names of the fields (as the JSON schema spells them) whose values differ.
fn changed_fields<T: Serialize>(before: &T, after: &T) -> Vec<String> {
    let (Ok(Value::Object(before)), Ok(Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    after.iter().filter(|(key, value)| before.get(*key) != Some(value)).map(|(key, _)| key.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::schema::Note;

    fn note(id: &str, text: &str, x: f64) -> Note {
        Note { id: id.into(), text: text.into(), x, ..Note::default() }
    }

    #[test]
    fn finds_added_removed_and_changed_fields() {
        let before = BoardSnapshot { notes: vec![note("a", "A", 0.0), note("b", "B", 0.0)], ..Default::default() };
        let after = BoardSnapshot { notes: vec![note("a", "A!", 5.0), note("c", "C", 0.0)], ..Default::default() };
        let diff = diff(1, &before, 2, &after);
        assert_eq!(diff.notes.added, vec![note("c", "C", 0.0)]);
        assert_eq!(diff.notes.removed, vec![note("b", "B", 0.0)]);
        assert_eq!(diff.notes.changed, vec![ChangedItem { id: "a".into(), fields: vec!["text".into(), "x".into()] }]);
        assert!(diff.meta.is_empty() && diff.frames.changed.is_empty());
    }
}
