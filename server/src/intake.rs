//! What the board checks in a client's update before yrs integrates it, and after.
//!
//! yrs 0.28 trusts the updates it is given. Three shapes that any client can send make
//! it keep a document its own log cannot replay, or corrupt memory; the board takes
//! none of them:
//!
//! - **An update that starts past the board's clock for a client** ([`Held::Ahead`]):
//!   yrs integrates its later changes and keeps the gap as a "skip", which its own
//!   encoding of the transaction does not bring back on a replay.
//! - **An item that refers to an id the board lacks** ([`Held::Lacks`]): yrs keeps it
//!   waiting ("pending") inside the document and integrates it when the id arrives, by
//!   the path below, on a document that may have moved past it meanwhile.
//! - **An update that overlaps what the board has, one item straddling the board's
//!   clock**: yrs trims the known part off (`Update::exclude`), and its split leaves
//!   the rest pointing at the part it then frees; integrating the rest reads freed memory
//!   (AddressSanitizer: heap-use-after-free in `integrate_item`, found by the
//!   `protocol_frame` fuzz target, `fuzz/regressions/protocol_frame-exclude-use-after-free`).
//!   [`prepare`] trims such an update itself, on the encoded form, so that yrs never
//!   splits an item of it.
//!
//! A Yjs client makes the first two only when it builds on changes the board never got
//! (refused while the board was locked, lost on the way); the board then asks it for
//! them. The third is a client resending what partly reached the board.

use commonboard_protocol::frame;
use yrs::block::ClientID;
use yrs::updates::encoder::Encode;
use yrs::{StateVector, Update, ID};

/// Why an update is not applied yet: it builds on changes the board does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Its changes of this client start past the board's clock for it.
    Ahead(ClientID),
    /// One of its items refers to a change of this client that neither the board nor
    /// the update holds.
    Lacks(ClientID),
}

impl Held {
    /// What the client is told when the board will not ask it for the rest.
    pub fn reason(self) -> &'static str {
        match self {
            Held::Ahead(_) => "update refused: it skips over changes the board does not have",
            Held::Lacks(_) => "update refused: it builds on changes the board does not have",
        }
    }
}

/// Why [`prepare`] did not give an update to integrate.
#[derive(Debug)]
pub enum Unfit {
    /// yrs cannot read it (after the validating reader accepted it: a yrs limit).
    Undecodable(String),
    /// It builds on changes the board does not have.
    Held(Held),
}

/// The update in `bytes`, ready for a document whose state is `state`: refused if it
/// builds on what the document lacks (`references`: the ids its structs refer to, from
/// the validating reader's `summarize_update_v1`), and trimmed of what the document
/// already has when an item of it straddles the document's clock.
pub fn prepare(bytes: &[u8], references: &[(u64, u32)], state: &StateVector) -> Result<Update, Unfit> {
    // The connection's reader read these bytes; yrs's trimmed copy is read again below.
    let update = frame::decode_read_update(bytes).map_err(|e| Unfit::Undecodable(e.to_string()))?;
    let lower = update.state_vector_lower();
    if let Some(client) = starts_ahead(&lower, state) {
        return Err(Unfit::Held(Held::Ahead(client)));
    }
    if let Some(client) = lacks(&update, references, state) {
        return Err(Unfit::Held(Held::Lacks(client)));
    }
    if !straddles(&update, &lower, state) {
        return Ok(update);
    }
    // Rare: re-encoded without what the document has, each client's first item cut at
    // the document's clock (its origin becomes the last id the document has).
    let trimmed = yrs::diff_updates_v1(bytes, &state.encode_v1()).map_err(|e| Unfit::Undecodable(e.to_string()))?;
    decode(&trimmed)
}

fn decode(bytes: &[u8]) -> Result<Update, Unfit> {
    frame::decode_update(bytes).map_err(|e| Unfit::Undecodable(e.to_string()))
}

/// A client whose changes in an update start (`lower`) past the clock `state` has for it.
fn starts_ahead(lower: &StateVector, state: &StateVector) -> Option<ClientID> {
    lower.iter().find_map(|(client, &clock)| (clock > state.get(client)).then_some(*client))
}

/// A client one of whose ids the update refers to while neither `state` nor the update
/// holds it. Most updates refer only to what the document has, so the update's own
/// insertions are collected only when needed.
fn lacks(update: &Update, references: &[(u64, u32)], state: &StateVector) -> Option<ClientID> {
    let mut beyond = references
        .iter()
        .map(|&(client, clock)| ID::new(ClientID::new(client), clock))
        .filter(|id| id.clock >= state.get(&id.client))
        .peekable();
    beyond.peek()?;
    let inserted = update.insertions(true);
    beyond.find(|id| !inserted.contains(id)).map(|id| id.client)
}

/// Whether some client's changes in `update` begin (`lower`) below `state`'s clock for it
/// and end above it: yrs would then split one of its items at the clock (see the module's
/// documentation).
fn straddles(update: &Update, lower: &StateVector, state: &StateVector) -> bool {
    // Usually an update starts where the document is: nothing of it is known.
    if lower.iter().all(|(client, &start)| start >= state.get(client)) {
        return false;
    }
    let upper = update.state_vector();
    lower.iter().any(|(client, &start)| {
        let known = state.get(client);
        start < known && upper.get(client) > known
    })
}

/// A client whose changes the transaction integrated past a gap: starting above the
/// clock the document had for it. yrs 0.28 does this when an update's first change of a
/// client waits for something missing and a later one of the same client does not (it
/// keeps the gap as a "skip"); Yjs keeps every change after the gap waiting, and yrs's
/// own encoding of the transaction does not bring the later change back on a replay,
/// so the board's log would lack what its document shows (found by `board_messages`,
/// `fuzz/regressions/board_messages-checkpoint-vs-log`). A Yjs client sends its changes
/// in order and never makes such an update.
pub fn skipped_ahead(txn: &yrs::TransactionMut, before: &StateVector) -> Option<ClientID> {
    txn.insert_set().iter().find_map(|(client, ranges)| {
        let start = ranges.iter().map(|range| range.start).min()?;
        (start > before.get(client)).then_some(*client)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::validate::{summarize_update_v1, WireLimits};
    use yrs::{Doc, GetString, ReadTxn, Text, Transact};

    const LIMITS: WireLimits = WireLimits { max_messages: 1, max_depth: 128, max_key_bytes: 1024 };

    fn prepared(bytes: &[u8], doc: &Doc) -> Result<Update, Unfit> {
        let summary = summarize_update_v1(bytes, &LIMITS).expect("a valid update");
        prepare(bytes, &summary.references, &doc.transact().state_vector())
    }

    fn text_doc(client: u64) -> (Doc, yrs::TextRef) {
        let doc = Doc::with_client_id(client);
        let text = doc.get_or_insert_text("t");
        (doc, text)
    }

    /// The writer's whole state as one update: a single item of ten characters, of
    /// which the board already has the first five.
    #[test]
    fn an_update_overlapping_the_board_is_trimmed_before_yrs_sees_it() {
        let (writer, text) = text_doc(7);
        text.insert(&mut writer.transact_mut(), 0, "01234");
        let first = writer.transact().encode_state_as_update_v1(&StateVector::default());
        text.insert(&mut writer.transact_mut(), 5, "56789");
        let whole = writer.transact().encode_state_as_update_v1(&StateVector::default());

        let (board, board_text) = text_doc(1);
        apply(&board, &first);
        let update = prepared(&whole, &board).unwrap_or_else(|_| panic!("taken"));
        assert_eq!(update.state_vector_lower().get(&ClientID::new(7)), 5, "trimmed to what the board lacks");
        board.transact_mut().apply_update(update).unwrap();
        assert_eq!(board_text.get_string(&board.transact()), "0123456789");
    }

    fn state(doc: &Doc) -> Vec<u8> {
        doc.transact().encode_state_as_update_v1(&StateVector::default())
    }

    fn apply(doc: &Doc, bytes: &[u8]) {
        doc.transact_mut().apply_update(decode(bytes).ok().unwrap()).unwrap();
    }

    #[test]
    fn an_update_building_on_a_change_the_board_lacks_is_held() {
        // The writer types "ab"; another client adds "X" after it; the writer, having
        // received "X", types "c" after it. The board has "ab" only.
        let (writer, text) = text_doc(7);
        text.insert(&mut writer.transact_mut(), 0, "ab");
        let ab = state(&writer);
        let (other, other_text) = text_doc(9);
        apply(&other, &ab);
        other_text.insert(&mut other.transact_mut(), 2, "X");
        apply(&writer, &state(&other));
        let before = writer.transact().state_vector();
        text.insert(&mut writer.transact_mut(), 3, "c");
        let c = writer.transact().encode_diff_v1(&before);

        let (board, board_text) = text_doc(1);
        apply(&board, &ab);
        match prepared(&c, &board) {
            Err(Unfit::Held(Held::Lacks(client))) if client == ClientID::new(9) => {}
            other => panic!("expected held for client 9, got {:?}", other.map(|_| ())),
        }
        // With "X", it is taken.
        apply(&board, &state(&other));
        let update = prepared(&c, &board).unwrap_or_else(|_| panic!("taken"));
        board.transact_mut().apply_update(update).unwrap();
        assert_eq!(board_text.get_string(&board.transact()), "abXc");
        assert!(!board.transact().has_missing_updates());
    }

    #[test]
    fn an_update_starting_past_the_board_is_held() {
        let (writer, text) = text_doc(7);
        text.insert(&mut writer.transact_mut(), 0, "ab");
        let before = writer.transact().state_vector();
        text.insert(&mut writer.transact_mut(), 2, "c");
        let next = writer.transact().encode_diff_v1(&before);
        let (board, _) = text_doc(1);
        match prepared(&next, &board) {
            Err(Unfit::Held(Held::Ahead(client))) if client == ClientID::new(7) => {}
            other => panic!("expected held, got {:?}", other.map(|_| ())),
        }
    }
}
