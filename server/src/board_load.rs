//! A board just read from the store answers before its document is integrated.
//!
//! Integrating a big board's checkpoint into a `yrs::Doc` costs about a microsecond per
//! CRDT item (a tenth of a second and more). A joining client does not need the
//! server's document: its sync step 2 is made from the stored checkpoint and the log
//! after it, merged on their encoded form ([`EncodedBoard`]), and diffed against the
//! client's state vector. The document integrates right after the merge, in the
//! background on the blocking pool ([`start`]). What needs the document (an update, an
//! application message, a restore) is held in arrival order ([`Warming::admit`]) and
//! goes through the board's ordinary path once the document is ready: every check an
//! update gets, then commit, then relay, as on a warm board.

mod held;

use std::time::{Duration, Instant};

use bytes::Bytes;
use commonboard_protocol::frame::{self, Incoming, Message, SyncMessage};
use commonboard_protocol::stitch::{self, Stitch};
use commonboard_protocol::validate;
use tokio::sync::oneshot;
use tracing::{debug, error, info_span, warn};
use yrs::updates::encoder::Encode;
use yrs::{Doc, StateVector, Update};

pub use self::held::HeldLimits;
use self::held::{Held, Holding};
use crate::board::command::BoardCmd;
use crate::doc::{self, ACCEPTED};
use crate::outbox::ConnId;
use crate::store::{Checkpoint, StateEncoding, StoredBoard, WholeClocks};
use crate::telemetry;

/// A board's whole state as one Yjs v1 update, merged from its checkpoint and the log
/// after it without a document.
pub(crate) struct EncodedBoard {
    /// The sync step 2 frame holding the whole state, built once and shared by every
    /// client that holds nothing: the state is its last `whole_len` bytes.
    whole_step2: Bytes,
    whole_len: usize,
    /// What the state holds, per Yjs client (`None` when yrs's merge does not give it:
    /// the server's own sync step 1 then waits for the document).
    state_vector: Option<StateVector>,
}

/// Why the stored form could not be merged (the board then waits for its document,
/// as before: a damaged row is the document rebuild's to skip).
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("a stored row does not decode: {0}")]
    Decode(String),
    #[error("yrs panicked merging the stored rows")]
    Panicked,
}

impl EncodedBoard {
    /// The whole state as stored (a v1 checkpoint with nothing logged after it: a board
    /// unloads with one), not decoded; its clocks as [`stored_clocks`] read them.
    fn as_stored(state: Vec<u8>, state_vector: StateVector) -> Self {
        let whole_len = state.len();
        let whole_step2 = Bytes::from(frame::sync_step2(state));
        EncodedBoard { whole_step2, whole_len, state_vector: Some(state_vector) }
    }

    /// Stitches a v1 checkpoint (or none) and the updates logged after it on their
    /// encoded form (`None` when they do not stitch: see [`crate::history::stitched`]).
    fn stitch(checkpoint: Option<&Checkpoint>, tail: &[Vec<u8>]) -> Option<Self> {
        let _span = info_span!("stitch_stored", updates = tail.len()).entered();
        let mut stitch = Stitch::new(ACCEPTED);
        if let Some(checkpoint) = checkpoint {
            if checkpoint.encoding != StateEncoding::V1 {
                return None;
            }
            stitch.push(&checkpoint.state).ok()?;
        }
        for update in tail {
            stitch.push(update).ok()?;
        }
        let state_vector = clocks(&stitch)?;
        let whole = stitch.finish();
        let whole_len = whole.len();
        let whole_step2 = Bytes::from(frame::sync_step2(whole));
        Some(EncodedBoard { whole_step2, whole_len, state_vector: Some(state_vector) })
    }

    /// Merges a checkpoint (v1 or v2) and the updates logged after it.
    pub(crate) fn merge(checkpoint: Option<&Checkpoint>, tail: &[Vec<u8>]) -> Result<Self, MergeError> {
        if let Some(stitched) = EncodedBoard::stitch(checkpoint, tail) {
            return Ok(stitched);
        }
        let _span = info_span!("merge_stored", updates = tail.len()).entered();
        let mut updates = Vec::with_capacity(tail.len() + 1);
        if let Some(checkpoint) = checkpoint {
            updates.push(checkpoint.decode().map_err(|e| MergeError::Decode(e.to_string()))?);
        }
        for update in tail {
            updates.push(frame::decode_update(update).map_err(|e| MergeError::Decode(e.to_string()))?);
        }
        doc::contain_panic(|| {
            let merged = if updates.len() == 1 { updates.pop().expect("one") } else { Update::merge_updates(updates) };
            let whole = merged.encode_v1();
            let whole_len = whole.len();
            let whole_step2 = Bytes::from(frame::sync_step2(whole));
            EncodedBoard { whole_step2, whole_len, state_vector: Some(merged.state_vector()) }
        })
        .map_err(|_| MergeError::Panicked)
    }

    /// The board's state vector, for the server's own sync step 1, if it was read.
    pub(crate) fn state_vector(&self) -> Option<&StateVector> {
        self.state_vector.as_ref()
    }

    /// The size of the whole state in Yjs v1: the document's size, for its limit.
    pub(crate) fn len(&self) -> usize {
        self.whole_len
    }

    /// The whole state, Yjs v1.
    fn whole(&self) -> &[u8] {
        &self.whole_step2[self.whole_step2.len() - self.whole_len..]
    }

    /// What a client holding `state_vector` lacks, as a sync step 2 frame, as
    /// [`doc::sync_answer`] answers it from a document: the diff, or the whole state
    /// when the diff does not read back (and for a client that holds nothing).
    pub(crate) fn step2(&self, state_vector: &StateVector) -> Bytes {
        if state_vector.is_empty() {
            return self.whole_step2.clone();
        }
        // The state vector is the client's (read by the validating reader); yrs slices
        // the stored state by it, contained as everywhere yrs reads bytes from outside.
        let diff = frame::contain_yrs(|| yrs::diff_updates_v1(self.whole(), &state_vector.encode_v1()));
        match diff {
            Ok(Ok(diff)) if validate::check_update_v1(&diff, &ACCEPTED).is_ok() => frame::sync_step2(diff).into(),
            outcome => {
                warn!(
                    ok = matches!(outcome, Ok(Ok(_))),
                    "a diff of the stored state does not read back; sending the whole state"
                );
                self.whole_step2.clone()
            }
        }
    }
}

/// The clocks of what `stitch` took, as a state vector.
fn clocks(stitch: &Stitch<'_>) -> Option<StateVector> {
    state_vector(stitch.clocks())
}

/// A whole v1 state's clocks, read by the validating reader in one pass without
/// decoding a struct or keeping anything per struct (`None`: it does not read, or is
/// not whole). The state's document then decodes it without walking it again
/// ([`doc::integrate_whole`]).
fn stored_clocks(state: &[u8]) -> Option<StateVector> {
    let _span = info_span!("stored_clocks", bytes = state.len()).entered();
    state_vector(stitch::whole_clocks_v1(state, &ACCEPTED).ok()??)
}

/// Clocks (client, clock) as a state vector (`None`: a clock past yrs's 32 bits).
fn state_vector(clocks: impl IntoIterator<Item = (u64, u64)>) -> Option<StateVector> {
    let mut state_vector = StateVector::default();
    for (client, clock) in clocks {
        state_vector.set_max(yrs::ClientID::new(client), u32::try_from(clock).ok()?);
    }
    Some(state_vector)
}

/// What the board does with a command while its document integrates.
pub(crate) enum Admit {
    /// Handle it now.
    Now(BoardCmd),
    /// Held for the document (or dropped: from a connection refused before).
    Waits,
    /// Close this connection (`close::BOARD_LOADING`): its frame would pass what the
    /// board holds; what it held was dropped, unaccepted.
    Refuse(ConnId),
}

/// The reason a connection refused by [`Admit::Refuse`] reads.
pub(crate) const LOADING_REASON: &str =
    "the board is still loading and cannot hold more changes; reconnect shortly, your changes are sent again";

/// A board whose document is still integrating.
pub(crate) struct Warming {
    /// `None` when the stored form could not be merged: everything waits.
    encoded: Option<EncodedBoard>,
    /// Commands that need the document, in arrival order, bounded.
    held: Held,
    /// Frames answered from the stored form (for the log line when it ends).
    answered: usize,
    /// Connections that joined without the server's sync step 1 (the stored form's
    /// state vector was not read): asked once the document is ready.
    ask: Vec<ConnId>,
}

impl Warming {
    /// The encoded form, if the stored form merged.
    pub(crate) fn encoded(&self) -> Option<&EncodedBoard> {
        self.encoded.as_ref()
    }

    /// Returns `cmd` when the board can handle it before its document is ready (a join,
    /// a sync step 1, presence, a leave of a connection with nothing held); holds it
    /// otherwise, with every later command of its connection, within the bounds (see
    /// [`held`]).
    pub(crate) fn admit(&mut self, cmd: BoardCmd) -> Admit {
        let now = match &cmd {
            BoardCmd::Messages { conn, .. } if self.held.is_refused(*conn) => return Admit::Waits,
            BoardCmd::Leave { conn } if self.held.is_refused(*conn) => {
                self.held.ended(*conn);
                true
            }
            _ if self.encoded.is_none() => false,
            BoardCmd::Join { .. } | BoardCmd::Unload { .. } => true,
            BoardCmd::Leave { conn } => !self.held.is_holding(*conn),
            BoardCmd::Messages { conn, messages } => {
                !self.held.is_holding(*conn) && messages.iter().all(needs_no_document)
            }
            BoardCmd::LinksRotated { .. }
            | BoardCmd::Restore { .. }
            | BoardCmd::RemovePerson { .. }
            | BoardCmd::RotateLinks { .. } => false,
        };
        if now {
            if matches!(cmd, BoardCmd::Messages { .. }) {
                self.answered += 1;
            }
            return Admit::Now(cmd);
        }
        match self.held.hold(cmd) {
            Holding::Held | Holding::Dropped => Admit::Waits,
            Holding::Refuse(conn) => {
                let (bytes, commands) = self.held.size();
                warn!(
                    conn,
                    held_bytes = bytes,
                    held_commands = commands,
                    "a client's changes would pass what a loading board holds; closing it"
                );
                Admit::Refuse(conn)
            }
        }
    }

    /// Asks `conn` for what it holds (the server's sync step 1) once the document is ready.
    pub(crate) fn ask_later(&mut self, conn: ConnId) {
        self.ask.push(conn);
    }

    /// The held commands, in arrival order, and the connections to ask for what they
    /// hold, once the document is ready.
    pub(crate) fn into_held(self) -> (Vec<BoardCmd>, Vec<ConnId>) {
        let (bytes, commands) = self.held.size();
        debug!(
            held = commands,
            held_bytes = bytes,
            answered = self.answered,
            "document ready; handling what waited for it"
        );
        (self.held.into_commands(), self.ask)
    }
}

/// Whether a client's message is answered without the document.
fn needs_no_document(message: &Incoming) -> bool {
    matches!(
        message,
        Incoming::Yjs(
            Message::Sync(SyncMessage::SyncStep1(_))
                | Message::Awareness(_)
                | Message::AwarenessQuery
                | Message::Auth(_)
                | Message::Custom(..)
        )
    )
}

/// Stored boards smaller than this (checkpoint and log tail, as stored) are integrated
/// at once, before anyone is answered: a few milliseconds, less than merging their
/// stored form first would add.
const WARM_FROM_BYTES: usize = 32 << 10;

/// Whether `stored` is big enough to answer from its stored form while it integrates.
pub(crate) fn worth_warming(stored: &StoredBoard) -> bool {
    let checkpoint = stored.checkpoint.as_ref().map_or(0, |c| c.state.len());
    let tail: usize = stored.tail.iter().map(|e| e.update.len()).sum();
    checkpoint + tail >= WARM_FROM_BYTES
}

/// The document being integrated: resolves once it is ready.
pub(crate) type Integrating = oneshot::Receiver<Doc>;

/// What a board's document integrates from.
enum Rows {
    /// The whole state in v1, the last `.1` bytes of the shared answer frame.
    Whole(Bytes, usize),
    /// A checkpoint and the updates logged after it.
    Stored(Option<Checkpoint>, Vec<Vec<u8>>),
    /// Those stitched into one state (the last `.1` bytes of the shared answer frame),
    /// integrated at once; the rows, should it not integrate whole.
    Stitched(Bytes, usize, Option<Checkpoint>, Vec<Vec<u8>>),
}

/// The stored form a board answers from, and what its document integrates from: a v1
/// checkpoint with nothing after it is used as stored (one copy, into the answer
/// frame, which the integration then reads too); anything else is merged.
fn prepare(
    checkpoint: Option<Checkpoint>,
    read: Option<WholeClocks>,
    tail: Vec<Vec<u8>>,
) -> (Option<EncodedBoard>, Rows) {
    match checkpoint {
        // Sent to clients as stored, so first read whole by the validating reader (one
        // pass, no allocation, which reads the board's clocks on the way: the server
        // asks joining clients for what they hold at once), unless the store read it so
        // as it loaded it (`read`): a damaged row takes the merge, which refuses it, and
        // the board then answers from its document, which skips it.
        Some(checkpoint) if checkpoint.encoding == StateEncoding::V1 && tail.is_empty() => {
            let state_vector = match read {
                Some(read) => state_vector(read.clocks().iter().copied()),
                None => stored_clocks(&checkpoint.state),
            };
            match state_vector {
                Some(state_vector) => {
                    let encoded = EncodedBoard::as_stored(checkpoint.state, state_vector);
                    let rows = Rows::Whole(encoded.whole_step2.clone(), encoded.whole_len);
                    (Some(encoded), rows)
                }
                None => {
                    let encoded = EncodedBoard::merge(Some(&checkpoint), &tail).ok();
                    error!("the stored board does not read; answering once its document is ready");
                    (encoded, Rows::Stored(Some(checkpoint), tail))
                }
            }
        }
        checkpoint => {
            // Stitched: the document integrates the stitched whole, in one update.
            if let Some(encoded) = EncodedBoard::stitch(checkpoint.as_ref(), &tail) {
                let rows = Rows::Stitched(encoded.whole_step2.clone(), encoded.whole_len, checkpoint, tail);
                return (Some(encoded), rows);
            }
            let encoded = match EncodedBoard::merge(checkpoint.as_ref(), &tail) {
                Ok(encoded) => Some(encoded),
                Err(error) => {
                    error!(%error, "the stored board does not merge; answering once its document is ready");
                    None
                }
            };
            (encoded, Rows::Stored(checkpoint, tail))
        }
    }
}

/// Prepares the stored form a board answers from (a checkpoint and the updates logged
/// after it), then starts integrating its document on the blocking pool (after
/// `delay`, a test setting that widens the window in which the board answers from its
/// stored form). Returns the board's warming state and the document to come.
///
/// One after the other, not side by side: on two cores shared with the connections'
/// tasks (and, measured, with other processes), integrating beside the merge slowed the
/// first answer, which is what a person waits for (`docs/BENCHMARKS.md`).
pub(crate) async fn start(
    checkpoint: Option<Checkpoint>,
    read: Option<WholeClocks>,
    tail: Vec<Vec<u8>>,
    delay: Duration,
    limits: HeldLimits,
) -> (Warming, Integrating) {
    let (ready, integrating) = oneshot::channel();
    let warming = |encoded| Warming { encoded, held: Held::new(limits), answered: 0, ask: Vec::new() };
    let (encoded, rows) = match tokio::task::spawn_blocking(move || prepare(checkpoint, read, tail)).await {
        Ok(prepared) => prepared,
        Err(join) => {
            // Nothing to integrate from: the board closes its connections and unloads
            // (the dropped sender), without writing anything.
            error!(%join, "preparing the stored board failed");
            return (warming(None), integrating);
        }
    };
    let parent = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _span = info_span!(parent: &parent, "integrate").entered();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let started = Instant::now();
        let doc = match &rows {
            // Read whole by the validating reader as its clocks were read (by the store
            // as it loaded it, or [`stored_clocks`]): decoded without another walk, and
            // rebuilt as a row (which skips it if yrs refuses it) should it not
            // integrate whole.
            Rows::Whole(frame, len) => {
                let whole = &frame[frame.len() - len..];
                doc::integrate_whole(whole).unwrap_or_else(|| doc::rebuild(None, &[whole]))
            }
            Rows::Stored(checkpoint, tail) => {
                let updates: Vec<&[u8]> = tail.iter().map(Vec::as_slice).collect();
                doc::rebuild(checkpoint.as_ref(), &updates)
            }
            Rows::Stitched(frame, len, checkpoint, tail) => doc::integrate_whole(&frame[frame.len() - len..])
                .unwrap_or_else(|| {
                    let updates: Vec<&[u8]> = tail.iter().map(Vec::as_slice).collect();
                    doc::rebuild(checkpoint.as_ref(), &updates)
                }),
        };
        metrics::histogram!(telemetry::BOARD_INTEGRATE_SECONDS).record(started.elapsed().as_secs_f64());
        // The board may have stopped meanwhile: then nobody waits for it.
        let _ = ready.send(doc);
    });
    (warming(encoded), integrating)
}

/// Waits for the document being integrated, if any; never resolves otherwise.
pub(crate) async fn ready(integrating: &mut Option<Integrating>) -> Option<Doc> {
    match integrating {
        Some(receiver) => {
            let doc = receiver.await.ok();
            *integrating = None;
            doc
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use yrs::updates::decoder::Decode;
    use yrs::{GetString, ReadTxn, Text, Transact};

    use super::*;

    fn text(doc: &Doc) -> String {
        doc.get_or_insert_text("t").get_string(&doc.transact())
    }

    /// The update a sync step 2 frame carries.
    fn answer(encoded: &EncodedBoard, state_vector: &StateVector) -> Vec<u8> {
        let frame = encoded.step2(state_vector);
        match frame::decode_server_frame(&frame).unwrap().pop() {
            Some(frame::Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(update)))) => update,
            _ => panic!("a sync step 2"),
        }
    }

    /// The merged stored form gives a client what a document built from the same rows
    /// gives it: whole, and as a diff against part of it.
    #[test]
    fn the_stored_form_answers_as_the_document_does() {
        let source = Doc::with_client_id(1);
        let t = source.get_or_insert_text("t");
        t.insert(&mut source.transact_mut(), 0, "hello");
        let (encoding, state) = doc::checkpoint_state_v2(&source);
        assert_eq!(encoding, StateEncoding::V2Sealed);
        let checkpoint = Checkpoint { seq: 1, at_ms: 0, encoding, state };
        let half = source.transact().state_vector();
        let mut tail = Vec::new();
        for word in [", wide", " world"] {
            let mut txn = source.transact_mut();
            let len = t.len(&txn);
            t.insert(&mut txn, len, word);
            tail.push(txn.encode_update_v1());
        }
        let encoded = EncodedBoard::merge(Some(&checkpoint), &tail).unwrap();
        assert_eq!(encoded.state_vector(), Some(&source.transact().state_vector()));

        let fresh = Doc::with_client_id(2);
        fresh
            .transact_mut()
            .apply_update(Update::decode_v1(&answer(&encoded, &StateVector::default())).unwrap())
            .unwrap();
        assert_eq!(text(&fresh), "hello, wide world");

        let partial = Doc::with_client_id(3);
        let rebuilt = doc::rebuild(Some(&checkpoint), &[]);
        let upto_half = rebuilt.transact().encode_state_as_update_v1(&StateVector::default());
        partial.transact_mut().apply_update(Update::decode_v1(&upto_half).unwrap()).unwrap();
        assert_eq!(partial.transact().state_vector(), half);
        let diff = answer(&encoded, &half);
        assert!(diff.len() < encoded.len());
        partial.transact_mut().apply_update(Update::decode_v1(&diff).unwrap()).unwrap();
        assert_eq!(text(&partial), "hello, wide world");
    }

    /// A board unloads with a v1 checkpoint: the next load answers with it as stored.
    #[test]
    fn a_whole_v1_checkpoint_is_answered_as_stored() {
        let source = Doc::with_client_id(1);
        let t = source.get_or_insert_text("t");
        t.insert(&mut source.transact_mut(), 0, "hello");
        let half = source.transact().state_vector();
        t.insert(&mut source.transact_mut(), 5, ", world");
        let (encoding, state) = doc::checkpoint_state(&source);
        let checkpoint = Checkpoint { seq: 2, at_ms: 0, encoding, state: state.clone() };
        let (encoded, rows) = prepare(Some(checkpoint), None, Vec::new());
        let encoded = encoded.unwrap();
        assert!(matches!(rows, Rows::Whole(_, len) if len == state.len()));
        // Its clocks were read on the way: the server asks its clients at once.
        assert_eq!(encoded.state_vector(), Some(&source.transact().state_vector()));
        assert_eq!(answer(&encoded, &StateVector::default()), state);
        // A client holding "hello" gets only the rest.
        let diff = answer(&encoded, &half);
        assert!(diff.len() < state.len());
        let client = Doc::with_client_id(1);
        client.get_or_insert_text("t").insert(&mut client.transact_mut(), 0, "hello");
        assert_eq!(client.transact().state_vector(), half);
        client.transact_mut().apply_update(Update::decode_v1(&diff).unwrap()).unwrap();
        assert_eq!(text(&client), "hello, world");
    }

    /// The clocks the store read as it loaded a whole v1 checkpoint are the board's:
    /// it answers with the checkpoint as stored without reading them again, and its
    /// document holds what the checkpoint holds.
    #[test]
    fn a_whole_v1_checkpoint_read_by_the_store_is_answered_as_stored() {
        let source = Doc::with_client_id(1);
        source.get_or_insert_text("t").insert(&mut source.transact_mut(), 0, "hello, world");
        let (encoding, state) = doc::checkpoint_state(&source);
        let row = Checkpoint { seq: 2, at_ms: 0, encoding, state: state.clone() };
        let read = crate::store::newest_intact_read(u64::MAX, |_| Ok(Some(row.clone()))).unwrap().unwrap().1;
        assert!(read.is_some());
        let (encoded, rows) = prepare(Some(row), read, Vec::new());
        let encoded = encoded.unwrap();
        assert_eq!(encoded.state_vector(), Some(&source.transact().state_vector()));
        assert_eq!(answer(&encoded, &StateVector::default()), state);
        let Rows::Whole(frame, len) = rows else { panic!("answered as stored") };
        let doc = doc::integrate_whole(&frame[frame.len() - len..]).unwrap();
        assert_eq!(text(&doc), "hello, world");
    }

    /// A damaged v1 checkpoint is never sent as stored.
    #[test]
    fn a_damaged_v1_checkpoint_is_not_sent_as_stored() {
        let checkpoint = Checkpoint { seq: 2, at_ms: 0, encoding: StateEncoding::V1, state: vec![1, 200, 3] };
        let (encoded, rows) = prepare(Some(checkpoint), None, Vec::new());
        assert!(encoded.is_none());
        assert!(matches!(rows, Rows::Stored(Some(_), _)));
    }

    #[test]
    fn a_row_that_does_not_decode_is_reported() {
        let damaged = vec![vec![1, 200, 3]];
        assert!(EncodedBoard::merge(None, &damaged).is_err());
    }
}
