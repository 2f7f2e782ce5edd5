//! Retyping a text to a wanted value by changing only the part that differs, so that
//! concurrent typing elsewhere in it survives (restores of notes and of foreign roots).

use yrs::{GetString, Text, TextRef, TransactionMut};

/// Replaces only the part of a text that differs (between the common prefix and
/// suffix), so concurrent typing elsewhere in it survives.
pub(crate) fn retype(txn: &mut TransactionMut, text: &TextRef, wanted: &str) {
    let now = text.get_string(txn);
    if now == wanted {
        return;
    }
    let prefix = common_prefix(&now, wanted);
    let (now_rest, wanted_rest) = (&now[prefix..], &wanted[prefix..]);
    let suffix = common_suffix(now_rest, wanted_rest);
    let removed = now_rest.len() - suffix;
    // The server's documents count text offsets in UTF-8 bytes (yrs' default).
    if removed > 0 {
        text.remove_range(txn, prefix as u32, removed as u32);
    }
    let inserted = &wanted_rest[..wanted_rest.len() - suffix];
    if !inserted.is_empty() {
        text.insert(txn, prefix as u32, inserted);
    }
}

/// Length in bytes of the longest common prefix, at a character boundary of both.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !(a.is_char_boundary(n) && b.is_char_boundary(n)) {
        n -= 1;
    }
    n
}

/// Length in bytes of the longest common suffix, at a character boundary of both.
fn common_suffix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().rev().zip(b.bytes().rev()).take_while(|(x, y)| x == y).count();
    while !(a.is_char_boundary(a.len() - n) && b.is_char_boundary(b.len() - n)) {
        n -= 1;
    }
    n
}
