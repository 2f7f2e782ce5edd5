//! Stitching v1 updates together on their encoded form, without a document and without
//! decoding their structs: a board's state at a point is its checkpoint's state followed
//! by the updates logged after it, and, because each logged update continues every
//! client's clock exactly where the board had it, each client's structs of the result
//! are that client's structs of the checkpoint followed by its structs of each update,
//! byte for byte. Only the delete sets are read and merged.
//!
//! Every part is walked once by the validating reader ([`crate::validate`]), which
//! reports where each client's structs lie; nothing is allocated per struct. A part
//! that does not continue a client's clock where the previous parts left it (a gap, an
//! overlap, a skip) is refused with [`StitchError::NotContiguous`], and the caller takes
//! the slow road (a document). yrs's own `merge_updates_v1` gives the same state, but
//! decodes every struct and sorts its inputs once per struct written, which makes
//! merging a thousand small updates into a large state slower than integrating them.

use std::collections::{BTreeMap, HashMap};

use crate::validate::{self, ClientRun, Invalid, WireLimits};

/// Why parts cannot be stitched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StitchError {
    /// A part does not read (see [`crate::validate`]).
    #[error("part {part} does not read: {error}")]
    Invalid { part: usize, error: Invalid },
    /// A part's structs for a client do not start where the parts before left it.
    #[error("part {part}: client {client} continues at clock {found}, not {expected}")]
    NotContiguous { part: usize, client: u64, expected: u64, found: u64 },
    /// A part holds a skip (a gap in a client's clocks, as a merge of pending updates).
    #[error("part {part}: client {client} has a gap (a skip struct)")]
    Skip { part: usize, client: u64 },
}

/// One client's structs gathered so far: the clock they start at, where they end, how
/// many there are, and their bytes in order.
struct ClientStructs<'a> {
    first: u64,
    end: u64,
    structs: u64,
    runs: Vec<&'a [u8]>,
}

/// v1 updates stitched in order; see the module docs.
pub struct Stitch<'a> {
    limits: WireLimits,
    clients: BTreeMap<u64, ClientStructs<'a>>,
    /// Where each client's clock starts when it is not in any part yet (a state vector
    /// the first part continues; empty: every client starts at 0).
    start: HashMap<u64, u64>,
    deletes: HashMap<u64, Vec<(u32, u32)>>,
    parts: usize,
    bytes: usize,
}

impl<'a> Stitch<'a> {
    /// Stitches parts of which the first starts every client at clock 0 (a whole state,
    /// or the board's first update). `limits` bound what each part may hold.
    pub fn new(limits: WireLimits) -> Self {
        Stitch::after(limits, std::iter::empty())
    }

    /// Stitches parts that continue a state whose clocks are `state` (client, clock): the
    /// result is what was added since.
    pub fn after(limits: WireLimits, state: impl IntoIterator<Item = (u64, u32)>) -> Self {
        Stitch {
            limits,
            clients: BTreeMap::new(),
            start: state.into_iter().map(|(client, clock)| (client, u64::from(clock))).collect(),
            deletes: HashMap::new(),
            parts: 0,
            bytes: 0,
        }
    }

    /// Adds the next part. On an error nothing of `update` was taken, and the parts
    /// before it still stitch.
    pub fn push(&mut self, update: &'a [u8]) -> Result<(), StitchError> {
        let part = self.parts;
        let mut runs: Vec<ClientRun> = Vec::new();
        let delete_set = validate::walk_runs_v1(update, &self.limits, &mut |run| runs.push(run))
            .map_err(|error| StitchError::Invalid { part, error })?;
        for run in runs.iter().filter(|run| run.structs > 0) {
            if run.skips {
                return Err(StitchError::Skip { part, client: run.client });
            }
            let expected = match self.clients.get(&run.client) {
                Some(known) => known.end,
                None => self.start.get(&run.client).copied().unwrap_or(0),
            };
            if u64::from(run.clock) != expected {
                return Err(StitchError::NotContiguous { part, client: run.client, expected, found: run.clock.into() });
            }
        }
        // Checked whole: now taken.
        let mut ranges: Vec<(u64, u32, u32)> = Vec::new();
        validate::read_delete_set_v1(update, delete_set, &mut |client, clock, len| ranges.push((client, clock, len)))
            .map_err(|error| StitchError::Invalid { part, error })?;
        for run in runs {
            if run.structs == 0 {
                continue;
            }
            let known = self.clients.entry(run.client).or_insert_with(|| ClientStructs {
                first: run.clock.into(),
                end: run.clock.into(),
                structs: 0,
                runs: Vec::new(),
            });
            known.end = run.end;
            known.structs += u64::from(run.structs);
            known.runs.push(&update[run.bytes]);
        }
        for (client, clock, len) in ranges {
            if len > 0 {
                self.deletes.entry(client).or_default().push((clock, len));
            }
        }
        self.parts += 1;
        self.bytes += update.len();
        Ok(())
    }

    /// Each client's clock after the parts taken so far (the stitched state's state
    /// vector, when the first part started every client at 0).
    pub fn clocks(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.clients.iter().map(|(&client, structs)| (client, structs.end))
    }

    /// Parts taken so far.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The stitched update, v1: clients highest first, as yrs and Yjs write them, and
    /// one delete set with each client's ranges sorted and joined.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes + 16);
        write_var(&mut out, self.clients.len() as u64);
        for (&client, structs) in self.clients.iter().rev() {
            write_var(&mut out, structs.structs);
            write_var(&mut out, client);
            write_var(&mut out, structs.first);
            for run in &structs.runs {
                out.extend_from_slice(run);
            }
        }
        let mut deletes: Vec<(u64, Vec<(u32, u32)>)> = self.deletes.into_iter().collect();
        deletes.sort_unstable_by_key(|(client, _)| std::cmp::Reverse(*client));
        write_var(&mut out, deletes.len() as u64);
        for (client, mut ranges) in deletes {
            ranges.sort_unstable();
            let mut joined: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
            for (clock, len) in ranges {
                let (start, end) = (u64::from(clock), u64::from(clock) + u64::from(len));
                match joined.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => joined.push((start, end)),
                }
            }
            write_var(&mut out, client);
            write_var(&mut out, joined.len() as u64);
            for (start, end) in joined {
                write_var(&mut out, start);
                write_var(&mut out, end - start);
            }
        }
        out
    }
}

/// Stitches `parts` (the first starting every client at clock 0) into one v1 update.
pub fn stitch_v1(parts: &[&[u8]], limits: WireLimits) -> Result<Vec<u8>, StitchError> {
    let mut stitch = Stitch::new(limits);
    for part in parts {
        stitch.push(part)?;
    }
    Ok(stitch.finish())
}

/// The clocks (client, clock after its last struct) of a whole v1 state, as
/// [`Stitch::clocks`] gives them after pushing `state` alone into [`Stitch::new`]:
/// `Ok(None)` when it reads but is not whole (a client's structs start past clock 0, or
/// skip), as that push refuses it. One walk of the validating reader, the whole of
/// [`validate::check_update_v1`], with nothing kept per struct or per deleted range: a
/// board loaded from a whole checkpoint reads its clocks this way, and its document
/// then decodes those same bytes without walking them again.
pub fn whole_clocks_v1(state: &[u8], limits: &WireLimits) -> Result<Option<Vec<(u64, u64)>>, Invalid> {
    let mut clocks = Some(Vec::new());
    validate::walk_runs_v1(state, limits, &mut |run| {
        if run.structs == 0 {
            return;
        }
        let whole = !run.skips && run.clock == 0;
        match &mut clocks {
            Some(clocks) if whole => clocks.push((run.client, run.end)),
            _ => clocks = None,
        }
    })?;
    Ok(clocks)
}

/// lib0's unsigned varint.
fn write_var(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::STORED;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update, WriteTxn};

    /// Two clients typing into one text and overwriting a map key, deleting as they go;
    /// each change logged as the update its transaction made.
    fn history(changes: usize) -> (Doc, Vec<Vec<u8>>) {
        let doc = Doc::with_client_id(1);
        let other = Doc::with_client_id(2);
        let mut log = Vec::new();
        for i in 0..changes {
            let author = if i % 3 == 0 { &other } else { &doc };
            // Bring the author up to date, then change it.
            let behind = author.transact().state_vector();
            let missing = doc.transact().encode_diff_v1(&behind);
            author.transact_mut().apply_update(Update::decode_v1(&missing).unwrap()).unwrap();
            let update = {
                let mut txn = author.transact_mut();
                let text = txn.get_or_insert_text("text");
                let map = txn.get_or_insert_map("map");
                let len = text.len(&txn);
                if i % 4 == 3 && len > 2 {
                    text.remove_range(&mut txn, len / 2, 2);
                } else {
                    text.insert(&mut txn, len / 3, &format!("<{i}>"));
                }
                map.insert(&mut txn, format!("k{}", i % 5), i as i64);
                txn.encode_update_v1()
            };
            if !std::ptr::eq(author, &doc) {
                doc.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
            }
            log.push(update);
        }
        (doc, log)
    }

    fn applied(update: &[u8]) -> Doc {
        let doc = Doc::new();
        doc.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
        doc
    }

    fn same_state(a: &Doc, b: &Doc) {
        let (ta, tb) = (a.transact(), b.transact());
        assert_eq!(ta.state_vector(), tb.state_vector());
        let text = |t: &yrs::Transaction| t.get_text("text").map(|text| text.get_string(t));
        assert_eq!(text(&ta), text(&tb));
        assert_eq!(
            ta.encode_state_as_update_v1(&StateVector::default()),
            tb.encode_state_as_update_v1(&StateVector::default())
        );
    }

    #[test]
    fn a_state_and_the_updates_after_it_stitch_to_the_later_state() {
        let (_, log) = history(60);
        let at = |n: usize| {
            let doc = Doc::new();
            for update in &log[..n] {
                doc.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
            }
            doc
        };
        let checkpoint = at(25).transact().encode_state_as_update_v1(&StateVector::default());
        for end in [25, 26, 40, 60] {
            let mut parts: Vec<&[u8]> = vec![&checkpoint];
            parts.extend(log[25..end].iter().map(Vec::as_slice));
            let stitched = stitch_v1(&parts, STORED).unwrap();
            same_state(&applied(&stitched), &at(end));
        }
        // From the first update on, without a checkpoint.
        let all: Vec<&[u8]> = log.iter().map(Vec::as_slice).collect();
        same_state(&applied(&stitch_v1(&all, STORED).unwrap()), &at(60));
    }

    #[test]
    fn what_was_added_after_a_state_stitches_from_its_state_vector() {
        let (doc, log) = history(30);
        let base = Doc::new();
        for update in &log[..10] {
            base.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
        }
        let sv = base.transact().state_vector();
        let mut stitch = Stitch::after(STORED, sv.iter().map(|(c, &k)| (c.get(), k)));
        for update in &log[10..] {
            stitch.push(update).unwrap();
        }
        base.transact_mut().apply_update(Update::decode_v1(&stitch.finish()).unwrap()).unwrap();
        same_state(&base, &doc);
    }

    /// A whole state's clocks read in one walk are what a stitch of it alone reads, and
    /// what is not a whole state (a later update) or does not read (a cut state) is
    /// refused as a stitch refuses it.
    #[test]
    fn a_whole_states_clocks_are_read_as_a_stitch_reads_them() {
        let (doc, log) = history(40);
        let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
        let mut stitch = Stitch::new(STORED);
        stitch.push(&state).unwrap();
        let mut clocks = whole_clocks_v1(&state, &STORED).unwrap().unwrap();
        clocks.sort_unstable();
        assert_eq!(clocks, stitch.clocks().collect::<Vec<_>>());
        let mut expected: Vec<(u64, u64)> =
            doc.transact().state_vector().iter().map(|(c, &k)| (c.get(), u64::from(k))).collect();
        expected.sort_unstable();
        assert_eq!(clocks, expected);

        // A later update reads, but is not whole.
        let later = &log[30];
        assert_eq!(whole_clocks_v1(later, &STORED), Ok(None));
        assert!(matches!(Stitch::new(STORED).push(later), Err(StitchError::NotContiguous { expected: 0, .. })));
        let cut = &state[..state.len() - 1];
        assert!(whole_clocks_v1(cut, &STORED).is_err());
        assert!(validate::check_update_v1(cut, &STORED).is_err());
    }

    #[test]
    fn a_gap_an_overlap_and_damage_are_refused() {
        let (_, log) = history(10);
        let mut stitch = Stitch::new(STORED);
        stitch.push(&log[0]).unwrap();
        // Update 2 skipped: the client's clock jumps.
        let gap = stitch.push(&log[2]).unwrap_err();
        assert!(matches!(gap, StitchError::NotContiguous { part: 1, .. }), "{gap}");
        // Update 1 again after itself: an overlap.
        stitch.push(&log[1]).unwrap();
        assert!(matches!(stitch.push(&log[1]), Err(StitchError::NotContiguous { .. })));
        let cut = &log[2][..log[2].len() - 1];
        assert!(matches!(stitch.push(cut), Err(StitchError::Invalid { part: 2, .. })));
        // What was taken still stitches.
        assert_eq!(stitch.parts(), 2);
        let doc = applied(&stitch.finish());
        assert!(!doc.transact().has_missing_updates());
    }

    #[test]
    fn a_merge_with_a_skip_is_refused() {
        let (_, log) = history(6);
        // Updates 1 and 3 of one client merged by yrs: a skip over update 2.
        let merged = yrs::merge_updates_v1([&log[1], &log[4]]).unwrap();
        let mut stitch = Stitch::new(STORED);
        stitch.push(&log[0]).unwrap();
        let refused = stitch.push(&merged).unwrap_err();
        assert!(matches!(refused, StitchError::Skip { .. } | StitchError::NotContiguous { .. }), "{refused}");
    }

    #[test]
    fn nothing_stitches_to_an_empty_update() {
        let empty = stitch_v1(&[], STORED).unwrap();
        assert_eq!(empty, vec![0, 0]);
        let doc = applied(&empty);
        assert!(doc.transact().state_vector().is_empty());
        let map = doc.get_or_insert_map("map");
        assert_eq!(map.len(&doc.transact()), 0);
    }
}
