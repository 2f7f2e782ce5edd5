//! A validating reader for what clients send, run before yrs sees a byte of it.
//!
//! yrs trusts its input: it reserves room for whatever count a message declares before
//! reading the entries (a 238-byte sync step 1 declaring billions of state-vector
//! entries made the server reserve gigabytes), and it reads `Any` values recursively
//! (an array nested 100,000 deep overflowed a worker's stack and aborted the process).
//! This module walks the same grammar yrs 0.28 reads, in one linear pass that allocates
//! nothing, and refuses:
//!
//! - every declared count or length larger than the bytes left to hold it (each entry
//!   takes at least one byte, most at least two), so whatever yrs then reserves is at
//!   most a small constant times the input's size;
//! - nesting deeper than [`WireLimits::max_depth`]: `Any` arrays and maps, and JSON (in
//!   embeds, formats, awareness states and application messages);
//! - keys (map keys, root type names, format keys, XML tag names, subdocument guids)
//!   longer than [`WireLimits::max_key_bytes`];
//! - client ids over 53 bits (yrs asserts they fit, as Yjs does), clocks that overflow
//!   32 bits (yrs adds them unchecked), varints longer than yrs reads, invalid UTF-8,
//!   unknown content kinds and type references, and bytes left over after a state
//!   vector, an update or an awareness update;
//! - more than [`WireLimits::max_messages`] protocol messages in one WebSocket message,
//!   and a message cut off at the end of its frame (yrs would silently drop it).
//!
//! Only the v1 update encoding is read: it is the only one the sync protocol carries.
//! Everything Yjs and yrs write passes (`tests/it/validate.rs` checks updates written by
//! yrs and by Yjs, and the golden vectors); `tests/alloc_bound.rs` measures what yrs
//! allocates for what passes.

/// Yjs client ids are at most 53 bits (JavaScript's safe integers); yrs asserts it.
const CLIENT_ID_BITS: u32 = 53;

/// What one client's frame may hold; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Protocol messages in one WebSocket message. A Yjs provider sends one or two at a
    /// time (a sync step 2 and a step 1, say); each one can make the server build a
    /// reply, so a frame packed with thousands of them multiplies the work.
    pub max_messages: usize,
    /// Nesting of `Any` values and JSON. Board content is shallow (a note's position is
    /// an array in a map); a small bound keeps every recursive reader, yrs's and
    /// serde_json's, far from the end of its stack.
    pub max_depth: usize,
    /// Longest key, in bytes: map keys, root names, format keys, XML tag names,
    /// subdocument guids.
    pub max_key_bytes: usize,
}

/// The shape of anything the server ever took and stored: no bound on keys, nesting far
/// from the end of any stack. Bytes that did not just pass a client's reader (a stored
/// update, say) are read against it before yrs decodes them, so that a damaged row
/// cannot make yrs reserve what it declares.
pub const STORED: WireLimits = WireLimits { max_messages: 1, max_depth: 1024, max_key_bytes: usize::MAX };

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits { max_messages: 32, max_depth: 32, max_key_bytes: 4096 }
    }
}

/// Why bytes from a client were refused before yrs read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The input ended in the middle of something.
    #[error("{0} cut short")]
    Truncated(&'static str),
    /// A count that the bytes left could not hold.
    #[error("{what} declares {count} entries, more than the {left} bytes left could hold")]
    CountTooLarge { what: &'static str, count: u64, left: usize },
    /// Nesting deeper than [`WireLimits::max_depth`].
    #[error("{what} nested deeper than {max} levels")]
    TooDeep { what: &'static str, max: usize },
    /// A key longer than [`WireLimits::max_key_bytes`].
    #[error("a key of {len} bytes, over the limit of {max}")]
    KeyTooLong { len: usize, max: usize },
    /// A Yjs client id of more than 53 bits.
    #[error("client id {0} is over 53 bits")]
    ClientId(u64),
    /// A client listed again, or after a lower one, in an update's structs.
    #[error("client {0} listed out of order in an update")]
    ClientOrder(u64),
    /// A number over the width its field has.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// Bytes that are not valid UTF-8 where text is expected.
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    /// A kind of content the server does not take, although Yjs can encode it.
    #[error("unsupported {what} {value}")]
    Unsupported { what: &'static str, value: u64 },
    /// A byte that means nothing at its place.
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: u64 },
    /// Bytes after the end of a state vector, update or awareness update.
    #[error("{0} followed by {1} stray bytes")]
    Trailing(&'static str, usize),
    /// More than [`WireLimits::max_messages`] messages in one frame.
    #[error("more than {0} messages in one frame")]
    TooManyMessages(usize),
    /// A frame with no message in it.
    #[error("empty frame")]
    Empty,
}

/// What a frame that passed holds, for the connection's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameShape {
    /// Protocol messages in the frame.
    pub messages: usize,
}

/// Checks one frame from a client: every message in it, and every payload inside those.
pub fn check_frame(bytes: &[u8], limits: &WireLimits) -> Result<FrameShape, Invalid> {
    let mut r = Reader::new(bytes);
    let mut messages = 0;
    while !r.done() {
        messages += 1;
        if messages > limits.max_messages {
            return Err(Invalid::TooManyMessages(limits.max_messages));
        }
        check_message(&mut r, limits)?;
    }
    if messages == 0 {
        return Err(Invalid::Empty);
    }
    Ok(FrameShape { messages })
}

fn check_message(r: &mut Reader<'_>, limits: &WireLimits) -> Result<(), Invalid> {
    match r.var_u32("message type")? {
        0 => match r.var_u32("sync message type")? {
            0 => check_state_vector(r.buf("state vector")?),
            1 | 2 => check_update_v1(r.buf("update")?, limits),
            other => Err(Invalid::Unknown { what: "sync message type", value: other.into() }),
        },
        1 => check_awareness(r.buf("awareness update")?, limits),
        2 => {
            if r.var_u32("auth message type")? == 0 {
                r.str("auth reason")?;
            }
            Ok(())
        }
        3 => Ok(()),
        100 => check_json(r.buf("application message")?, limits, "application message"),
        other => Err(Invalid::Unknown { what: "message type", value: other.into() }),
    }
}

/// Checks a state vector (the body of a sync step 1).
pub fn check_state_vector(bytes: &[u8]) -> Result<(), Invalid> {
    let mut r = Reader::new(bytes);
    // Each entry: a client id and a clock, a byte each at least.
    let count = r.count("state vector", 2)?;
    for _ in 0..count {
        r.client()?;
        r.var_u32("state vector clock")?;
    }
    r.end("state vector")
}

/// Checks an awareness update: entries of client id, clock and JSON state.
pub fn check_awareness(bytes: &[u8], limits: &WireLimits) -> Result<(), Invalid> {
    let mut r = Reader::new(bytes);
    let count = r.count("awareness update", 3)?;
    for _ in 0..count {
        r.client()?;
        r.var_u32("awareness clock")?;
        let state = r.buf("awareness state")?;
        std::str::from_utf8(state).map_err(|_| Invalid::Utf8("awareness state"))?;
        check_json(state, limits, "awareness state")?;
    }
    r.end("awareness update")
}

/// Checks a Yjs update in the v1 encoding: its structs, then its delete set.
pub fn check_update_v1(bytes: &[u8], limits: &WireLimits) -> Result<(), Invalid> {
    walk_update_v1(bytes, limits, &mut |_| {}, &mut |_| {}, &mut |_| {}).map(|_| ())
}

/// What the board needs to know of an update before yrs integrates it. The ids are
/// `(client, clock)` of every left and right origin and every parent named by an item's
/// id, in the order they appear (at most two per struct, so fewer than the update's
/// bytes). The board applies an update only when each is in its document or in the
/// update itself: yrs keeps an item whose reference is missing waiting inside the
/// document (see the server's `intake` module).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpdateSummary {
    /// The id `(client, clock)` of every shared type (nested array, map, text, XML node)
    /// the update creates.
    pub types: Vec<(u64, u32)>,
    /// The ids the update's structs refer to.
    pub references: Vec<(u64, u32)>,
}

/// [`check_update_v1`], and the update's [`UpdateSummary`]: the board checks how deeply
/// types nest only after an update that creates some, and takes no update that refers
/// to what it lacks.
pub fn summarize_update_v1(bytes: &[u8], limits: &WireLimits) -> Result<UpdateSummary, Invalid> {
    let mut summary = UpdateSummary::default();
    walk_update_v1(
        bytes,
        limits,
        &mut |id| summary.references.push(id),
        &mut |id| summary.types.push(id),
        &mut |_| {},
    )?;
    Ok(summary)
}

/// One client's structs in a v1 update, as [`crate::layout`] reports them: where their
/// bytes lie and which clocks they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRun {
    pub client: u64,
    /// The clock of the first struct.
    pub clock: u32,
    /// The clock just after the last struct.
    pub end: u64,
    pub structs: u32,
    /// The structs' bytes (after the run's header: struct count, client, clock).
    pub bytes: std::ops::Range<usize>,
    /// Whether a struct is a skip (a gap in the client's clocks).
    pub skips: bool,
}

/// [`check_update_v1`], reporting each client's run of structs to `run`; returns where
/// the delete set starts.
pub(crate) fn walk_runs_v1(
    bytes: &[u8],
    limits: &WireLimits,
    run: &mut dyn FnMut(ClientRun),
) -> Result<usize, Invalid> {
    walk_update_v1(bytes, limits, &mut |_| {}, &mut |_| {}, run)
}

/// Reads a v1 delete set that starts at `at` and runs to the end of `bytes`, calling
/// `range` with each `(client, clock, length)`.
pub(crate) fn read_delete_set_v1(bytes: &[u8], at: usize, range: &mut dyn FnMut(u64, u32, u32)) -> Result<(), Invalid> {
    let mut r = Reader { bytes, at };
    check_delete_set(&mut r, range)?;
    r.end("update")
}

/// Walks a v1 update, checking every byte of it; calls `reference` with every id a
/// struct refers to, `creates` with the id of every shared type it creates, and `run`
/// with each client's run of structs. Returns where the delete set starts.
fn walk_update_v1(
    bytes: &[u8],
    limits: &WireLimits,
    reference: &mut dyn FnMut((u64, u32)),
    creates: &mut dyn FnMut((u64, u32)),
    run: &mut dyn FnMut(ClientRun),
) -> Result<usize, Invalid> {
    let mut r = Reader::new(bytes);
    // Each client's entry: a struct count, a client id and a clock.
    let clients = r.count("update", 3)?;
    // Yjs and yrs write each client once, highest id first. yrs 0.28 appends a repeated
    // client's structs to the first ones, clocks overlapping, and then frees a block it
    // still uses while integrating them (AddressSanitizer: heap-use-after-free in
    // `BlockStore::push`, `fuzz/regressions/validated_update-use-after-free`).
    let mut previous = None;
    for _ in 0..clients {
        // Each struct takes at least its info byte.
        let structs = r.count("client's structs", 1)?;
        let client = r.client()?;
        if previous.is_some_and(|previous| client >= previous) {
            return Err(Invalid::ClientOrder(client));
        }
        previous = Some(client);
        let first = r.var_u32("clock")?;
        let (start, mut clock, mut skips) = (r.at, u64::from(first), false);
        for _ in 0..structs {
            let (ticks, kind) = check_struct(&mut r, limits, reference)?;
            if kind == TYPE {
                // The clock is below 2^32 here: checked after the previous struct.
                creates((client, clock as u32));
            }
            skips |= kind == SKIP;
            clock += ticks;
            if clock > u64::from(u32::MAX) {
                return Err(Invalid::OutOfRange("a client's clock"));
            }
        }
        run(ClientRun { client, clock: first, end: clock, structs, bytes: start..r.at, skips });
    }
    let delete_set = r.at;
    check_delete_set(&mut r, &mut |_, _, _| {})?;
    r.end("update")?;
    Ok(delete_set)
}

/// Most bytes one deleted range can add to a document's encoded state (Yjs v1): a
/// range that starts or ends inside an item splits it, at most twice, and each new
/// struct carries two ids (a 53-bit client and a clock: 13 bytes each), an info byte and
/// a length; the range itself adds a clock and a length to the delete set. A delete
/// does free the content it removes, but deleting every other character of a text
/// grows the encoded state by about 27 bytes per range, eight times the update's size
/// (`a_fragmenting_delete_grows_the_state_within_its_bound`).
pub const DELETED_RANGE_GROWTH: usize = 80;

/// How many deleted ranges a v1 update holds, if it only deletes what a document
/// already has: no structs, only a delete set whose every range ends at or before
/// `known(client)`, the document's clock for that client (its state vector). `None` for
/// any other update, or one that does not read. Such an update adds no content: the
/// document grows by at most [`DELETED_RANGE_GROWTH`] bytes per range, whatever it
/// deletes. (A range past what the document holds would be kept pending, in memory.)
/// `known` is called only once the update is seen to hold no structs.
pub fn deletes_only_v1(bytes: &[u8], mut known: impl FnMut(u64) -> u32) -> Option<usize> {
    let mut r = Reader::new(bytes);
    let clients = r.count("update", 3).ok()?;
    for _ in 0..clients {
        // A client's entry without structs adds nothing; one with structs adds content.
        if r.var_u32("client's structs").ok()? != 0 {
            return None;
        }
        r.id().ok()?;
    }
    let mut total = 0usize;
    let clients = r.count("delete set", 2).ok()?;
    for _ in 0..clients {
        let client = r.client().ok()?;
        let ranges = r.count("delete set ranges", 2).ok()?;
        let known = known(client);
        for _ in 0..ranges {
            let clock = r.var_u32("deleted clock").ok()?;
            let len = r.var_u32("deleted length").ok()?;
            if clock.checked_add(len)? > known {
                return None;
            }
        }
        total += ranges as usize;
    }
    r.done().then_some(total)
}

/// Struct kinds (the low 5 bits of the info byte) and flags (the high 3 bits).
const GC: u8 = 0;
const SKIP: u8 = 10;
/// An item whose content is a shared type.
const TYPE: u8 = 7;
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;

/// Checks one struct; returns how many clock ticks it takes, and its kind. The ids it
/// refers to go to `reference`.
fn check_struct(
    r: &mut Reader<'_>,
    limits: &WireLimits,
    reference: &mut dyn FnMut((u64, u32)),
) -> Result<(u64, u8), Invalid> {
    let info = r.u8("struct")?;
    match info {
        SKIP | GC => {
            let len = r.var_u32("struct length")?;
            if len == 0 {
                return Err(Invalid::OutOfRange("an empty struct"));
            }
            return Ok((len.into(), info));
        }
        _ => {}
    }
    if info & HAS_ORIGIN != 0 {
        reference(r.id()?);
    }
    if info & HAS_RIGHT_ORIGIN != 0 {
        reference(r.id()?);
    }
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        // yrs: a parent info of 1 names a root type, anything else is an item's id.
        if r.var_u32("parent info")? == 1 {
            r.key(limits)?;
        } else {
            reference(r.id()?);
        }
        if info & HAS_PARENT_SUB != 0 {
            r.key(limits)?;
        }
    }
    let kind = info & 0b1111;
    Ok((check_content(r, kind, limits)?, kind))
}

/// Checks an item's content; returns its length in clock ticks (0: yrs drops the item).
fn check_content(r: &mut Reader<'_>, kind: u8, limits: &WireLimits) -> Result<u64, Invalid> {
    Ok(match kind {
        // Deleted
        1 => r.var_u32("deleted length")?.into(),
        // JSON (legacy): refused. Yjs has written `Any` content instead since version 13,
        // and yrs 0.28 cannot read back what it writes here: it writes a count and that
        // many strings, and reads one string more than the count. A document holding such
        // an item encodes a whole state that neither yrs nor this reader can read (the
        // reader mirrors yrs), so every client joining the board would fail to sync
        // (found by `protocol_frame`, `fuzz/regressions/protocol_frame-unreadable-whole-state`).
        2 => return Err(Invalid::Unsupported { what: "content kind (legacy JSON)", value: 2 }),
        // Binary
        3 => {
            r.buf("binary content")?;
            1
        }
        // String: its length is counted in UTF-16 code units, as in Yjs.
        4 => r.str("string content")?.encode_utf16().count() as u64,
        // Embed
        5 => {
            check_json(r.str("embed")?.as_bytes(), limits, "embed")?;
            1
        }
        // Format
        6 => {
            r.key(limits)?;
            check_json(r.str("format value")?.as_bytes(), limits, "format value")?;
            1
        }
        TYPE => {
            match r.u8("type reference")? {
                // Array, map, text, XML fragment, XML text, subdocument.
                0 | 1 | 2 | 4 | 6 | 9 => {}
                // An XML hook, and yrs's "undefined": yrs reports no change made inside
                // them, so the server could not bound how deeply types nest there (see
                // its `nesting` module). Yjs applications do not send them.
                kind @ (5 | 15) => return Err(Invalid::Unsupported { what: "type", value: kind.into() }),
                // XML element: its tag name.
                3 => {
                    r.key(limits)?;
                }
                other => return Err(Invalid::Unknown { what: "type reference", value: other.into() }),
            }
            1
        }
        // Any
        8 => {
            let count = r.var_u32("any content")?;
            r.fits("any content", count.into(), 1)?;
            for _ in 0..count {
                check_any(r, limits, 1)?;
            }
            count.into()
        }
        // Doc: a guid and the options, an `Any`.
        9 => {
            r.key(limits)?;
            check_any(r, limits, 1)?;
            1
        }
        other => return Err(Invalid::Unknown { what: "content kind", value: other.into() }),
    })
}

/// Checks one `Any` value (lib0's encoding) at nesting `depth` (1 for a top value).
fn check_any(r: &mut Reader<'_>, limits: &WireLimits, depth: usize) -> Result<(), Invalid> {
    if depth > limits.max_depth {
        return Err(Invalid::TooDeep { what: "a value", max: limits.max_depth });
    }
    match r.u8("value")? {
        // undefined, null, false, true
        127 | 126 | 121 | 120 => {}
        // integer: yrs reads it as a signed varint
        125 => r.var_i64()?,
        // float32, float64, bigint
        124 => r.skip(4, "float")?,
        123 | 122 => r.skip(8, "number")?,
        119 => {
            r.str("string value")?;
        }
        118 => {
            // Each entry: a key and a value, a byte each at least.
            let count = r.var_u64("map")?;
            r.fits("map", count, 2)?;
            for _ in 0..count {
                r.key(limits)?;
                check_any(r, limits, depth + 1)?;
            }
        }
        117 => {
            let count = r.var_u64("array")?;
            r.fits("array", count, 1)?;
            for _ in 0..count {
                check_any(r, limits, depth + 1)?;
            }
        }
        116 => {
            r.buf("buffer value")?;
        }
        other => return Err(Invalid::Unknown { what: "value type", value: other.into() }),
    }
    Ok(())
}

/// Reads a delete set, calling `range` with each `(client, clock, length)`.
fn check_delete_set(r: &mut Reader<'_>, range: &mut dyn FnMut(u64, u32, u32)) -> Result<(), Invalid> {
    // Each client: an id and a range count; each range: a clock and a length.
    let clients = r.count("delete set", 2)?;
    for _ in 0..clients {
        let client = r.client()?;
        let ranges = r.count("delete set ranges", 2)?;
        for _ in 0..ranges {
            let clock = r.var_u32("deleted clock")?;
            let len = r.var_u32("deleted length")?;
            if clock.checked_add(len).is_none() {
                return Err(Invalid::OutOfRange("a deleted range"));
            }
            range(client, clock, len);
        }
    }
    Ok(())
}

/// Checks that JSON text nests no deeper than the limit. Only the nesting is looked at
/// (brackets outside strings); its syntax is left to the JSON parser that reads it
/// afterwards, whose recursion this keeps shallow.
pub fn check_json(bytes: &[u8], limits: &WireLimits, what: &'static str) -> Result<(), Invalid> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Invalid::TooDeep { what, max: limits.max_depth });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A cursor over bytes that never allocates, reading lib0's encodings as yrs does.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn end(&self, what: &'static str) -> Result<(), Invalid> {
        match self.left() {
            0 => Ok(()),
            stray => Err(Invalid::Trailing(what, stray)),
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, Invalid> {
        let byte = *self.bytes.get(self.at).ok_or(Invalid::Truncated(what))?;
        self.at += 1;
        Ok(byte)
    }

    fn skip(&mut self, len: usize, what: &'static str) -> Result<(), Invalid> {
        self.take(len, what).map(|_| ())
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Invalid> {
        if len > self.left() {
            return Err(Invalid::Truncated(what));
        }
        let slice = &self.bytes[self.at..self.at + len];
        self.at += len;
        Ok(slice)
    }

    /// An unsigned varint of at most 64 bits (10 bytes at most, the last one small).
    fn var_u64(&mut self, what: &'static str) -> Result<u64, Invalid> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(Invalid::OutOfRange(what));
            }
            value |= bits << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Invalid::OutOfRange(what))
    }

    fn var_u32(&mut self, what: &'static str) -> Result<u32, Invalid> {
        u32::try_from(self.var_u64(what)?).map_err(|_| Invalid::OutOfRange(what))
    }

    /// lib0's signed varint: 6 bits and a sign in the first byte, 7 in each next one.
    /// Nine bytes at most (62 bits), so yrs's reading of it can neither overflow its
    /// shift nor its negation.
    fn var_i64(&mut self) -> Result<(), Invalid> {
        for _ in 0..9 {
            if self.u8("integer")? < 0x80 {
                return Ok(());
            }
        }
        Err(Invalid::OutOfRange("integer"))
    }

    /// A count of entries each taking at least `min_bytes`.
    fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<u32, Invalid> {
        let count = self.var_u32(what)?;
        self.fits(what, count.into(), min_bytes)?;
        Ok(count)
    }

    /// Refuses a count of entries, each at least `min_bytes` long, that the bytes left
    /// cannot hold.
    fn fits(&self, what: &'static str, count: u64, min_bytes: usize) -> Result<(), Invalid> {
        let left = self.left();
        if count > (left / min_bytes) as u64 {
            return Err(Invalid::CountTooLarge { what, count, left });
        }
        Ok(())
    }

    fn buf(&mut self, what: &'static str) -> Result<&'a [u8], Invalid> {
        let len = self.var_u32(what)? as usize;
        self.take(len, what)
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, Invalid> {
        std::str::from_utf8(self.buf(what)?).map_err(|_| Invalid::Utf8(what))
    }

    fn key(&mut self, limits: &WireLimits) -> Result<&'a str, Invalid> {
        let key = self.str("key")?;
        if key.len() > limits.max_key_bytes {
            return Err(Invalid::KeyTooLong { len: key.len(), max: limits.max_key_bytes });
        }
        Ok(key)
    }

    fn client(&mut self) -> Result<u64, Invalid> {
        let client = self.var_u64("client id")?;
        if client >> CLIENT_ID_BITS != 0 {
            return Err(Invalid::ClientId(client));
        }
        Ok(client)
    }

    fn id(&mut self) -> Result<(u64, u32), Invalid> {
        let client = self.client()?;
        Ok((client, self.var_u32("clock")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_vector_declaring_billions_of_entries_is_refused_before_reading_them() {
        // The frame of the issue: sync, step 1, then a buffer whose state vector
        // declares a count far beyond its bytes.
        let frame = [0x00, 0x00, 0x29, 0xe8, 0xcb, 0xaf, 0x48, 1, 2, 3, 4];
        let error = check_frame(&frame, &WireLimits::default()).unwrap_err();
        // The buffer's own length (0x29 = 41) is more than the frame holds.
        assert_eq!(error, Invalid::Truncated("state vector"));
        let mut sv = vec![0xe8, 0xcb, 0xaf, 0x48];
        sv.extend([0u8; 36]);
        assert!(matches!(check_state_vector(&sv), Err(Invalid::CountTooLarge { what: "state vector", .. })));
    }

    #[test]
    fn any_content_nested_past_the_limit_is_refused() {
        let limits = WireLimits::default();
        // One client, one struct: an item in root "r" holding one `Any` array nested
        // `depth` deep.
        let update = |depth: usize| {
            let mut u = vec![1, 1, 1, 0, 8, 1, 1, b'r', 1];
            u.extend(std::iter::repeat_n([117u8, 1], depth - 1).flatten());
            u.push(126);
            u.extend([0]);
            u
        };
        assert_eq!(check_update_v1(&update(limits.max_depth), &limits), Ok(()));
        assert_eq!(
            check_update_v1(&update(limits.max_depth + 1), &limits),
            Err(Invalid::TooDeep { what: "a value", max: limits.max_depth })
        );
        assert!(check_update_v1(&update(100_000), &limits).is_err());
    }

    #[test]
    fn json_nesting_is_counted_outside_strings_only() {
        let limits = WireLimits { max_depth: 2, ..WireLimits::default() };
        assert_eq!(check_json(br#"{"a":["[[[\"{{"]}"#, &limits, "x"), Ok(()));
        assert!(check_json(br#"{"a":[{}]}"#, &limits, "x").is_err());
    }

    #[test]
    fn a_clock_that_overflows_32_bits_is_refused() {
        // One client at clock u32::MAX with a skip of 2.
        let mut u = vec![1, 1, 1];
        u.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        u.extend([10, 2, 0]);
        assert_eq!(check_update_v1(&u, &WireLimits::default()), Err(Invalid::OutOfRange("a client's clock")));
    }

    /// A document with one text, written by one client in one change.
    fn text_doc(chars: usize) -> (yrs::Doc, yrs::TextRef) {
        use yrs::{Text, Transact};
        let doc = yrs::Doc::with_client_id(0x1f_ffff_ffff_fff0);
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, &"x".repeat(chars));
        (doc, text)
    }

    fn known_in(doc: &yrs::Doc) -> impl Fn(u64) -> u32 {
        use yrs::{ReadTxn, Transact};
        let sv = doc.transact().state_vector();
        move |client| sv.get(&yrs::ClientID::new(client))
    }

    fn encoded_len(doc: &yrs::Doc) -> usize {
        use yrs::{ReadTxn, Transact};
        doc.transact().encode_state_as_update_v1(&yrs::StateVector::default()).len()
    }

    #[test]
    fn an_update_that_only_deletes_what_the_document_has_is_told_apart() {
        use yrs::{ReadTxn, Text, Transact};
        let (doc, text) = text_doc(100);
        let known = known_in(&doc);
        let delete = {
            let mut txn = doc.transact_mut();
            text.remove_range(&mut txn, 10, 20);
            txn.encode_update_v1()
        };
        assert_eq!(deletes_only_v1(&delete, &known), Some(1));
        // Deleting what another document holds and this one lacks is not.
        assert_eq!(deletes_only_v1(&delete, |_| 0), None);
        // Anything that adds content is not, nor is the whole state, nor garbage.
        let insert = {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 0, "y");
            txn.encode_update_v1()
        };
        assert_eq!(deletes_only_v1(&insert, &known), None);
        let state = doc.transact().encode_state_as_update_v1(&yrs::StateVector::default());
        assert_eq!(deletes_only_v1(&state, &known), None);
        assert_eq!(deletes_only_v1(&delete[..delete.len() - 1], &known), None);
        // An empty update deletes nothing.
        assert_eq!(deletes_only_v1(&[0, 0], &known), Some(0));
    }

    #[test]
    fn a_fragmenting_delete_grows_the_state_within_its_bound() {
        use yrs::{Text, Transact};
        let chars = 4_000;
        let (doc, text) = text_doc(chars);
        let before = encoded_len(&doc);
        let known = known_in(&doc);
        // Every other character, from the end so that indexes stay put: one change.
        let delete = {
            let mut txn = doc.transact_mut();
            for at in (0..chars as u32).rev().step_by(2) {
                text.remove_range(&mut txn, at, 1);
            }
            txn.encode_update_v1()
        };
        let ranges = deletes_only_v1(&delete, &known).expect("only deletes");
        assert_eq!(ranges, chars / 2);
        let after = encoded_len(&doc);
        assert!(after > before + 5 * delete.len(), "{before} -> {after} bytes, update {} bytes", delete.len());
        assert!(after - before <= ranges * DELETED_RANGE_GROWTH, "{before} -> {after} for {ranges} ranges");
    }

    #[test]
    fn too_many_messages_in_one_frame_are_refused() {
        let limits = WireLimits::default();
        let frame = vec![3u8; limits.max_messages];
        assert_eq!(check_frame(&frame, &limits), Ok(FrameShape { messages: limits.max_messages }));
        let frame = vec![3u8; limits.max_messages + 1];
        assert_eq!(check_frame(&frame, &limits), Err(Invalid::TooManyMessages(limits.max_messages)));
    }
}
