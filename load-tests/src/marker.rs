//! Latency markers: an edit id and its send time, written into the edit itself.
//!
//! Every edit an editor makes also sets one entry of the root map [`MARKER_ROOT`] (key:
//! the editor, value: a marker string), in the same transaction, so the marker travels
//! inside the very update it times: through the server, its batching and merging, to
//! every receiver. Cursor moves carry the same string in their awareness JSON.
//!
//! A marker reads `LT|<run>|<editor>|<seq>|<sent µs>#`. The Yjs v1 encoding writes a
//! string value as its length and its UTF-8 bytes, so the marker appears verbatim in
//! any update that holds it, merged or not. Receivers therefore find markers with a
//! substring search over the received bytes ([`MarkerCodec::scan`]) instead of decoding
//! the update or keeping a document: light receivers cost the tool almost nothing. The
//! run id makes a false match practically impossible and ignores markers left on the
//! board by earlier runs. Times are microseconds since the tool's own start
//! ([`Clock`]), a monotonic clock every simulated peer shares because they all live in
//! this one process.

use std::time::Instant;

use memchr::memmem;

/// Root map holding each editor's latest marker.
pub const MARKER_ROOT: &str = "loadtest";

/// One edit (or cursor move) as its sender stamped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Global index of the sending editor.
    pub editor: u32,
    /// The sender's edit counter.
    pub seq: u64,
    /// Send time, microseconds on the run's [`Clock`].
    pub sent_us: u64,
}

/// The clock every marker's time is read from.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock { start: Instant::now() }
    }

    /// Microseconds since the clock started.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Writes and finds the markers of one run.
#[derive(Debug, Clone)]
pub struct MarkerCodec {
    run: u32,
    finder: memmem::Finder<'static>,
    needle_len: usize,
}

impl MarkerCodec {
    /// Markers of run `run` (a random id per run).
    pub fn new(run: u32) -> Self {
        let needle = format!("LT|{run:08x}|");
        MarkerCodec { run, needle_len: needle.len(), finder: memmem::Finder::new(needle.as_bytes()).into_owned() }
    }

    pub fn run(&self) -> u32 {
        self.run
    }

    /// The marker string for `marker`.
    pub fn encode(&self, marker: Marker) -> String {
        format!("LT|{:08x}|{}|{}|{}#", self.run, marker.editor, marker.seq, marker.sent_us)
    }

    /// Calls `found` for every marker of this run in `bytes`, in order.
    pub fn scan(&self, bytes: &[u8], mut found: impl FnMut(Marker)) {
        let mut from = 0;
        while let Some(at) = self.finder.find(&bytes[from..]) {
            let body = from + at + self.needle_len;
            match parse_body(&bytes[body..]) {
                Some((marker, used)) => {
                    found(marker);
                    from = body + used;
                }
                None => from = body,
            }
        }
    }
}

/// Parses `<editor>|<seq>|<sent>#`; returns the marker and the bytes it used.
fn parse_body(bytes: &[u8]) -> Option<(Marker, usize)> {
    let mut fields = [0u64; 3];
    let mut pos = 0;
    for (i, field) in fields.iter_mut().enumerate() {
        let end = if i == 2 { b'#' } else { b'|' };
        let start = pos;
        while let Some(&b) = bytes.get(pos) {
            if b.is_ascii_digit() && pos - start < 20 {
                *field = field.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                pos += 1;
            } else {
                break;
            }
        }
        if pos == start || bytes.get(pos) != Some(&end) {
            return None;
        }
        pos += 1;
    }
    let editor = u32::try_from(fields[0]).ok()?;
    Some((Marker { editor, seq: fields[1], sent_us: fields[2] }, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, Map, Transact, Update};

    fn stamp(doc: &Doc, codec: &MarkerCodec, marker: Marker) -> Vec<u8> {
        let map = doc.get_or_insert_map(MARKER_ROOT);
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, format!("e{}", marker.editor), codec.encode(marker));
        txn.encode_update_v1()
    }

    fn found(codec: &MarkerCodec, bytes: &[u8]) -> Vec<Marker> {
        let mut out = Vec::new();
        codec.scan(bytes, |m| out.push(m));
        out
    }

    #[test]
    fn a_marker_survives_encoding_into_an_update() {
        let codec = MarkerCodec::new(0xdead_beef);
        let marker = Marker { editor: 42, seq: 7, sent_us: 123_456_789 };
        let update = stamp(&Doc::new(), &codec, marker);
        assert_eq!(found(&codec, &update), vec![marker]);
    }

    #[test]
    fn merged_updates_keep_every_marker() {
        let codec = MarkerCodec::new(1);
        let (a, b) = (Doc::new(), Doc::new());
        let m1 = Marker { editor: 1, seq: 1, sent_us: 10 };
        let m2 = Marker { editor: 1, seq: 2, sent_us: 20 };
        let m3 = Marker { editor: 2, seq: 1, sent_us: 30 };
        let u1 = stamp(&a, &codec, m1);
        let u2 = stamp(&a, &codec, m2);
        let u3 = stamp(&b, &codec, m3);
        let merged = yrs::merge_updates_v1([&u1, &u2, &u3]).unwrap();
        let mut got = found(&codec, &merged);
        got.sort_by_key(|m| m.sent_us);
        assert_eq!(got, vec![m1, m2, m3]);

        // And a document that applied them all reads the latest marker per editor.
        let c = Doc::new();
        let map = c.get_or_insert_map(MARKER_ROOT);
        c.transact_mut().apply_update(Update::decode_v1(&merged).unwrap()).unwrap();
        assert_eq!(map.len(&c.transact()), 2);
    }

    #[test]
    fn other_runs_and_garbage_are_ignored() {
        let codec = MarkerCodec::new(5);
        let other = MarkerCodec::new(6);
        let marker = Marker { editor: 3, seq: 4, sent_us: 5 };
        assert!(found(&codec, other.encode(marker).as_bytes()).is_empty());
        let mut bytes = b"LT|00000005|x|1|2#".to_vec();
        bytes.extend(b"LT|00000005|1|2|");
        bytes.extend(codec.encode(marker).as_bytes());
        bytes.extend(b"LT|00000005|99999999999|1|1#");
        assert_eq!(found(&codec, &bytes), vec![marker]);
    }

    #[test]
    fn markers_in_awareness_json_are_found() {
        let codec = MarkerCodec::new(9);
        let marker = Marker { editor: 0, seq: 1, sent_us: 99 };
        let json = format!("{{\"cursor\":{{\"x\":1}},\"lt\":\"{}\"}}", codec.encode(marker));
        assert_eq!(found(&codec, json.as_bytes()), vec![marker]);
    }
}
