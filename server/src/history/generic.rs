//! Any Yjs document's roots, not only the board's: what kind of shared type a root is,
//! and a restore of roots outside the board schema by comparing content (maps key by
//! key, arrays element by element, texts by their changed part, nested shared types
//! recursively).
//!
//! A document rebuilt from updates does not know the types of its roots (an update
//! names a root but not its type; a client declares it with `getMap`, `getArray`...):
//! [`kind_of`] infers it from the content as yrs does, and [`typed`] declares it.

use commonboard_protocol::schema;
use yrs::branch::Branch;
use yrs::branch::BranchPtr;
use yrs::types::{AsPrelim, ToJson};
use yrs::{
    Any, Array, ArrayRef, Doc, GetString, In, Map, MapRef, Out, ReadTxn, TextRef, Transact, TransactionMut,
    XmlFragmentRef,
};

/// The roots the board schema owns (restored field by field by `reconcile`).
pub const BOARD_ROOTS: [&str; 4] = [schema::META, schema::NOTES, schema::FRAMES, schema::ACTIONS];

/// The kind of shared type at a document's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Map,
    Array,
    Text,
    /// An XML fragment (y-prosemirror, y-tiptap): restored as a sequence of elements.
    Xml,
}

/// The names of every root of `doc` outside the board schema that holds something.
pub fn foreign_roots<T: ReadTxn>(txn: &T) -> Vec<(String, Kind)> {
    let mut roots: Vec<(String, Kind)> = txn
        .root_refs()
        .filter(|(name, _)| !BOARD_ROOTS.contains(name))
        .filter_map(|(name, out)| Some((name.to_owned(), kind_of(txn, &out)?)))
        .collect();
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    roots
}

/// What kind a root is: its declared type, or, when undeclared, what its content shows.
/// `None` for an empty undeclared root (nothing to compare).
pub fn kind_of<T: ReadTxn>(txn: &T, root: &Out) -> Option<Kind> {
    match root {
        Out::YMap(_) => Some(Kind::Map),
        Out::YArray(_) => Some(Kind::Array),
        Out::YText(_) | Out::YXmlText(_) => Some(Kind::Text),
        Out::YXmlFragment(_) | Out::YXmlElement(_) => Some(Kind::Xml),
        Out::UndefinedRef(branch) => {
            if branch.len() == 0 && MapRef::from(*branch).len(txn) == 0 {
                return None;
            }
            Some(match root.as_prelim(txn) {
                In::Map(_) => Kind::Map,
                In::Text(_) | In::XmlText(_) => Kind::Text,
                In::XmlElement(_) | In::XmlFragment(_) => Kind::Xml,
                _ => Kind::Array,
            })
        }
        _ => None,
    }
}

/// The root `name` of `doc` declared as `kind`, as a branch to read or change.
pub fn typed(doc: &Doc, name: &str, kind: Kind) -> BranchPtr {
    match kind {
        Kind::Map => BranchPtr::from(AsRef::<Branch>::as_ref(&doc.get_or_insert_map(name))),
        Kind::Array => BranchPtr::from(AsRef::<Branch>::as_ref(&doc.get_or_insert_array(name))),
        Kind::Text => BranchPtr::from(AsRef::<Branch>::as_ref(&doc.get_or_insert_text(name))),
        Kind::Xml => BranchPtr::from(AsRef::<Branch>::as_ref(&doc.get_or_insert_xml_fragment(name))),
    }
}

/// The roots to restore generically: every foreign root of either document, with the
/// kind the past shows (or the live one, for a root the past did not have).
pub fn roots_to_restore(live: &Doc, past: &Doc) -> Vec<(String, Kind)> {
    let mut roots = {
        let read = past.transact();
        foreign_roots(&read)
    };
    let live_roots = {
        let read = live.transact();
        foreign_roots(&read)
    };
    for (name, kind) in live_roots {
        if !roots.iter().any(|(n, _)| *n == name) {
            roots.push((name, kind));
        }
    }
    roots
}

/// Declares each root in both documents, before any transaction reads them.
pub fn declare(live: &Doc, past: &Doc, roots: &[(String, Kind)]) -> Vec<(BranchPtr, BranchPtr)> {
    roots.iter().map(|(name, kind)| (typed(live, name, *kind), typed(past, name, *kind))).collect()
}

/// Makes the live root read as the past one.
pub fn restore_root<T: ReadTxn>(txn: &mut TransactionMut, kind: Kind, live: BranchPtr, read: &T, past: BranchPtr) {
    match kind {
        Kind::Map => map(txn, &MapRef::from(live), read, &MapRef::from(past)),
        Kind::Array => array(txn, &ArrayRef::from(live), read, &ArrayRef::from(past)),
        Kind::Text => {
            let wanted = TextRef::from(past).get_string(read);
            super::retype::retype(txn, &TextRef::from(live), &wanted);
        }
        Kind::Xml => xml(txn, &XmlFragmentRef::from(live), read, &XmlFragmentRef::from(past)),
    }
}

/// A map, key by key: stale keys removed, changed values set, nested types recursed.
pub fn map<T: ReadTxn>(txn: &mut TransactionMut, live: &MapRef, read: &T, past: &MapRef) {
    let stale: Vec<String> = live.keys(txn).filter(|key| !past.contains_key(read, key)).map(str::to_owned).collect();
    for key in stale {
        live.remove(txn, &key);
    }
    for (key, value) in past.iter(read) {
        let current = live.get(txn, key);
        let same = same_kind(&value, &current);
        match (&value, current) {
            (Out::Any(any), Some(Out::Any(now))) if *any == now => {}
            (Out::YMap(nested), Some(Out::YMap(now))) => map(txn, &now, read, nested),
            (Out::YArray(nested), Some(Out::YArray(now))) => array(txn, &now, read, nested),
            (Out::YText(text), Some(Out::YText(now))) => super::retype::retype(txn, &now, &text.get_string(read)),
            (value, current) => {
                if current.map(|now| now.to_json(txn)) != Some(value.to_json(read)) || !same {
                    live.insert(txn, key, prelim(read, value));
                }
            }
        }
    }
}

/// An array by content: the common start and end are kept, elements in between that
/// are the same kind of shared type are reconciled in place, the rest replaced.
pub fn array<T: ReadTxn>(txn: &mut TransactionMut, live: &ArrayRef, read: &T, past: &ArrayRef) {
    let now: Vec<Out> = live.iter(txn).collect();
    let wanted: Vec<Out> = past.iter(read).collect();
    let now_json: Vec<Any> = now.iter().map(|v| v.to_json(txn)).collect();
    let wanted_json: Vec<Any> = wanted.iter().map(|v| v.to_json(read)).collect();
    let prefix = now_json.iter().zip(&wanted_json).take_while(|(a, b)| a == b).count();
    let suffix =
        now_json[prefix..].iter().rev().zip(wanted_json[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let (now_mid, wanted_mid) = (now.len() - prefix - suffix, wanted.len() - prefix - suffix);
    let paired = now_mid.min(wanted_mid);
    for i in prefix..prefix + paired {
        match (&now[i], &wanted[i]) {
            (Out::YMap(a), Out::YMap(b)) => map(txn, a, read, b),
            (Out::YArray(a), Out::YArray(b)) => array(txn, a, read, b),
            (Out::YText(a), Out::YText(b)) => super::retype::retype(txn, a, &b.get_string(read)),
            (_, value) => {
                live.remove(txn, i as u32);
                live.insert(txn, i as u32, prelim(read, value));
            }
        }
    }
    let at = (prefix + paired) as u32;
    if now_mid > paired {
        live.remove_range(txn, at, (now_mid - paired) as u32);
    }
    for (offset, value) in wanted[prefix + paired..prefix + wanted_mid].iter().enumerate() {
        live.insert(txn, at + offset as u32, prelim(read, value));
    }
}

/// An XML fragment: when its content differs, its children are replaced by the past's.
fn xml<T: ReadTxn>(txn: &mut TransactionMut, live: &XmlFragmentRef, read: &T, past: &XmlFragmentRef) {
    use yrs::XmlFragment;
    if live.get_string(txn) == past.get_string(read) {
        return;
    }
    let length = live.len(txn);
    if length > 0 {
        live.remove_range(txn, 0, length);
    }
    for (index, child) in past.children(read).enumerate() {
        match child {
            yrs::XmlOut::Element(element) => {
                live.insert(txn, index as u32, element.as_prelim(read));
            }
            yrs::XmlOut::Text(text) => {
                live.insert(txn, index as u32, yrs::types::xml::XmlIn::Text(text.as_prelim(read)));
            }
            // A fragment never holds a fragment: yrs does not make one.
            yrs::XmlOut::Fragment(_) => {}
        }
    }
}

fn same_kind(a: &Out, b: &Option<Out>) -> bool {
    matches!(
        (a, b),
        (Out::Any(_), Some(Out::Any(_)))
            | (Out::YMap(_), Some(Out::YMap(_)))
            | (Out::YArray(_), Some(Out::YArray(_)))
            | (Out::YText(_), Some(Out::YText(_)))
            | (Out::YXmlElement(_), Some(Out::YXmlElement(_)))
            | (Out::YXmlFragment(_), Some(Out::YXmlFragment(_)))
            | (Out::YXmlText(_), Some(Out::YXmlText(_)))
            | (Out::YDoc(_), Some(Out::YDoc(_)))
    )
}

/// A value to insert with the same shape as `value` (shared types copied deeply).
fn prelim<T: ReadTxn>(read: &T, value: &Out) -> In {
    value.as_prelim(read)
}
