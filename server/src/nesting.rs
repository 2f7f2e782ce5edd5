//! How deeply the shared types of a board's document nest: bounded, because yrs deletes
//! (and garbage-collects) a nested type by recursion. A chain of arrays built one level
//! per update, each small and valid, and then deleted at its top would overflow a
//! worker thread's stack, and a stack overflow aborts the whole process. Yjs clients
//! recurse the same way and would crash on such a document too.
//!
//! Checked on a committed transaction: yrs lists, for each type the transaction changed,
//! that type and its ancestors up to its root, which gives the changed type's depth;
//! below it only the types this transaction created are walked. Most updates are checked
//! by a bound that reads only what they created (the ids the validating reader listed);
//! an update near the limit is then checked exactly, which walks the changed types'
//! entries to find the created ones among them.

use std::collections::HashMap;

use yrs::branch::{Branch, BranchID, BranchPtr};
use yrs::types::text::YChange;
use yrs::types::TypeRef;
use yrs::{Map, MapRef, Out, ReadTxn, Text, TextRef, TransactionMut, ID};

/// Deepest nesting a change may create: a root type is at depth 1, a note's map in the
/// board's notes at 2. Rich-text editors nest a few dozen levels at most.
pub const MAX_NESTING: u32 = 128;

/// An update would nest shared types deeper than [`MAX_NESTING`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shared types nested {depth} deep (at most {max})")]
pub struct TooDeep {
    pub depth: u32,
    pub max: u32,
}

/// Checks the types a committed transaction created: none may sit deeper than
/// [`MAX_NESTING`]. `created` lists the ids of the types its update creates (the
/// validating reader's summary), when that is all the transaction integrated; `None`
/// (the document held updates waiting for this one, which may bring in more types)
/// checks exactly.
pub fn check(txn: &TransactionMut, created: Option<&[(u64, u32)]>) -> Result<(), TooDeep> {
    match created.map(|created| bound(txn, created)) {
        Some(Some(deepest)) if deepest <= MAX_NESTING => Ok(()),
        _ => exact(txn),
    }
}

/// How deep a type the transaction created may sit, at most: one below the deepest type
/// it changed (a created type's parent either existed before, and is then listed as
/// changed, or was created too), plus the height of the tallest created type. `None`
/// when a created type alone is taller than the limit.
fn bound(txn: &TransactionMut, created: &[(u64, u32)]) -> Option<u32> {
    let before = txn.before_state();
    let mut changed = 1;
    let mut run = 0;
    for ptr in txn.changed_parent_types() {
        run += 1;
        if matches!(ptr.id(), BranchID::Root(_)) {
            changed = changed.max(run);
            run = 0;
        }
    }
    let mut heights = HashMap::new();
    let mut tallest = 0;
    for &(client, clock) in created {
        let id = ID::new(yrs::block::ClientID::new(client), clock);
        // Trimmed off as already known, or not integrated: nothing this update created.
        if clock < before.get(&id.client) {
            continue;
        }
        if let Some(ptr) = BranchID::get_nested(txn, &id) {
            tallest = tallest.max(height(txn, ptr, &mut heights)?);
        }
    }
    Some(changed + tallest)
}

/// How many levels of types `top` holds, itself included (1 for a type holding none),
/// remembered in `heights` for each type met, so that a type listed after one of its
/// ancestors is not walked twice. `None` past [`MAX_NESTING`]. Iterative: the types are
/// the client's, and may nest deeply.
fn height(txn: &TransactionMut, top: BranchPtr, heights: &mut HashMap<BranchPtr, u32>) -> Option<u32> {
    let mut stack = vec![(top, false)];
    while let Some((ptr, walked)) = stack.pop() {
        if heights.contains_key(&ptr) {
            continue;
        }
        if walked {
            let mut tallest = 0;
            for_each_child(txn, ptr, |child| tallest = tallest.max(heights.get(&child).copied().unwrap_or(0)));
            let height = tallest + 1;
            if height > MAX_NESTING {
                return None;
            }
            heights.insert(ptr, height);
        } else {
            stack.push((ptr, true));
            for_each_child(txn, ptr, |child| {
                if !heights.contains_key(&child) {
                    stack.push((child, false));
                }
            });
        }
    }
    heights.get(&top).copied()
}

/// The exact check: finds the created types by walking the entries of every type the
/// transaction changed, then everything below them.
fn exact(txn: &TransactionMut) -> Result<(), TooDeep> {
    let before = txn.before_state();
    let created = |ptr: BranchPtr| match ptr.id() {
        BranchID::Nested(id) => id.clock >= before.get(&id.client),
        BranchID::Root(_) => false,
    };
    let mut stack: Vec<(BranchPtr, u32)> = Vec::new();
    let below = |parent: BranchPtr, depth: u32, stack: &mut Vec<(BranchPtr, u32)>| {
        for_each_child(txn, parent, |child| {
            if created(child) {
                stack.push((child, depth + 1));
            }
        })
    };
    // After a commit, `changed_parent_types` holds, for each changed type, the type and
    // then each of its ancestors up to a root: one run per changed type, as long as its
    // depth. (A run that ends elsewhere, under a collected parent, only makes the next
    // one look deeper.)
    let mut run: Option<(BranchPtr, u32)> = None;
    for &ptr in txn.changed_parent_types() {
        let (changed, depth) = run.get_or_insert((ptr, 0));
        *depth += 1;
        if matches!(ptr.id(), BranchID::Root(_)) {
            below(*changed, *depth, &mut stack);
            run = None;
        }
    }
    // yrs lists no change made directly in a root it has no type for (a root this server
    // never declared: any root of a generic Yjs document).
    for (_, root) in txn.root_refs() {
        if let Out::UndefinedRef(ptr) = root {
            below(ptr, 1, &mut stack);
        }
    }
    while let Some((ptr, depth)) = stack.pop() {
        if depth > MAX_NESTING {
            return Err(TooDeep { depth, max: MAX_NESTING });
        }
        // Everything inside a created type was created with it.
        for_each_child(txn, ptr, |child| stack.push((child, depth + 1)));
    }
    Ok(())
}

/// Calls `f` with each visible type directly inside `ptr`: in its sequence (an array's
/// elements, a text's embeds, an XML node's children) and in its entries (a map's
/// values, an XML node's attributes). The sequence is read as a text's delta, which
/// lists every visible item holding a type whatever the branch is declared as (a root
/// this server never declared is "undefined").
fn for_each_child<T: ReadTxn>(txn: &T, ptr: BranchPtr, mut f: impl FnMut(BranchPtr)) {
    let this: &Branch = ptr.as_ref();
    if !matches!(this.type_ref(), TypeRef::Map | TypeRef::XmlHook) {
        for op in TextRef::from(ptr).diff(txn, YChange::identity) {
            if let Some(child) = branch(&op.insert) {
                f(child);
            }
        }
    }
    for (_, value) in MapRef::from(ptr).iter(txn) {
        if let Some(child) = branch(&value) {
            f(child);
        }
    }
}

/// The shared type a value is, if it is one (a subdocument is a document of its own).
fn branch(value: &Out) -> Option<BranchPtr> {
    let branch: &Branch = match value {
        Out::YText(t) => t.as_ref(),
        Out::YArray(a) => a.as_ref(),
        Out::YMap(m) => m.as_ref(),
        Out::YXmlElement(x) => x.as_ref(),
        Out::YXmlFragment(x) => x.as_ref(),
        Out::YXmlText(x) => x.as_ref(),
        Out::UndefinedRef(ptr) => return Some(*ptr),
        Out::Any(_) | Out::YDoc(_) => return None,
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    Some(BranchPtr::from(branch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::validate::{summarize_update_v1, WireLimits};
    use yrs::updates::decoder::Decode;
    use yrs::{Array, ArrayPrelim, ArrayRef, Doc, MapPrelim, Transact, Update};

    /// Applies a client's update to the server's document as the board does: committed,
    /// then checked.
    /// The exact walk's answer, which the bound agrees with.
    fn apply(server: &Doc, update: &[u8]) -> Result<(), TooDeep> {
        let created = summarize_update_v1(update, &WireLimits::default()).unwrap().types;
        let mut txn = server.transact_mut();
        txn.apply_update(Update::decode_v1(update).unwrap()).unwrap();
        txn.commit();
        let exact = check(&txn, None);
        assert_eq!(check(&txn, Some(&created)), exact, "the bound and the exact walk disagree");
        exact
    }

    /// Nests one more array in `innermost` on the client; returns it and the update.
    fn deepen(client: &Doc, innermost: &ArrayRef) -> (ArrayRef, Vec<u8>) {
        let mut txn = client.transact_mut();
        let inner = innermost.push_back(&mut txn, ArrayPrelim::default());
        (inner, txn.encode_update_v1())
    }

    /// A chain of arrays under `root`, one level per update, each checked by `server`.
    fn build_chain(server: &Doc, client: &Doc, root: ArrayRef, levels: u32) -> Result<(), TooDeep> {
        let mut innermost = root;
        for _ in 0..levels {
            let (inner, update) = deepen(client, &innermost);
            apply(server, &update)?;
            innermost = inner;
        }
        Ok(())
    }

    const TOO_DEEP: Result<(), TooDeep> = Err(TooDeep { depth: MAX_NESTING + 1, max: MAX_NESTING });

    #[test]
    fn a_chain_built_one_level_per_update_is_refused_past_the_bound() {
        let (server, client) = (Doc::new(), Doc::new());
        server.get_or_insert_array("chain");
        let root = client.get_or_insert_array("chain");
        // The root is at depth 1.
        assert_eq!(build_chain(&server, &client, root.clone(), MAX_NESTING - 1), Ok(()));
        let mut innermost = root;
        for _ in 0..MAX_NESTING - 1 {
            innermost = innermost.get(&client.transact(), 0).unwrap().cast().unwrap();
        }
        assert_eq!(apply(&server, &deepen(&client, &innermost).1), TOO_DEEP);
    }

    #[test]
    fn a_root_the_server_never_declared_is_counted_too() {
        let (server, client) = (Doc::new(), Doc::new());
        let root = client.get_or_insert_array("any");
        assert_eq!(build_chain(&server, &client, root, MAX_NESTING), TOO_DEEP);
    }

    #[test]
    fn a_deep_chain_in_one_update_is_refused() {
        let (server, client) = (Doc::new(), Doc::new());
        server.get_or_insert_map("notes");
        let notes = client.get_or_insert_map("notes");
        let note = {
            let mut txn = client.transact_mut();
            notes.insert(&mut txn, "n1", MapPrelim::default())
        };
        apply(&server, &client.transact().encode_state_as_update_v1(&Default::default())).unwrap();
        let mut txn = client.transact_mut();
        // The note is at depth 2, its list at 3, then MAX_NESTING - 2 more: one too many.
        let mut inner = note.insert(&mut txn, "list", ArrayPrelim::default());
        for _ in 0..MAX_NESTING - 2 {
            inner = inner.push_back(&mut txn, ArrayPrelim::default());
        }
        assert_eq!(apply(&server, &txn.encode_update_v1()), TOO_DEEP);
    }

    #[test]
    fn types_embedded_in_text_after_wide_characters_are_counted() {
        let (server, client) = (Doc::new(), Doc::new());
        let text = client.get_or_insert_text("t");
        let chain = {
            let mut txn = client.transact_mut();
            text.insert(&mut txn, 0, "😀 emoji first, ");
            let end = text.len(&txn);
            // The text is at depth 1, its embedded array at 2.
            text.insert_embed(&mut txn, end, ArrayPrelim::default())
        };
        let update = client.transact().encode_state_as_update_v1(&Default::default());
        assert_eq!(apply(&server, &update), Ok(()));
        assert_eq!(build_chain(&server, &client, chain, MAX_NESTING - 1), TOO_DEEP);
    }

    #[test]
    fn a_new_note_is_bounded_without_walking_the_others() {
        let (server, client) = (Doc::new(), Doc::new());
        server.get_or_insert_map("notes");
        let notes = client.get_or_insert_map("notes");
        {
            let mut txn = client.transact_mut();
            for i in 0..500 {
                notes.insert(&mut txn, format!("n{i}"), MapPrelim::default());
            }
        }
        apply(&server, &client.transact().encode_state_as_update_v1(&Default::default())).unwrap();
        let update = {
            let mut txn = client.transact_mut();
            let note = notes.insert(&mut txn, "new", MapPrelim::default());
            note.insert(&mut txn, "tags", ArrayPrelim::default());
            txn.encode_update_v1()
        };
        let created = summarize_update_v1(&update, &WireLimits::default()).unwrap().types;
        assert_eq!(created.len(), 2);
        let mut txn = server.transact_mut();
        txn.apply_update(Update::decode_v1(&update).unwrap()).unwrap();
        txn.commit();
        // The notes root changed (depth 1); the new note holds one level more (height 2).
        assert_eq!(bound(&txn, &created), Some(3));
    }
}
