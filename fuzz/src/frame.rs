//! One client frame: decoded as the connection's reader does, then each message
//! sub-decoded as the board would.

use commonboard_protocol::frame::{self, decode_frame, Decoded, Message, SyncMessage};
use commonboard_protocol::validate::{self, WireLimits};
use commonboard_server::awareness::Awareness;
use commonboard_server::intake;
use yrs::{Doc, ReadTxn, Transact};

/// Runs one frame through the decoder and the sub-decoders; panics on a bug.
pub fn check(data: &[u8]) {
    let Ok(messages) = decode_frame(data) else { return };
    assert!(!messages.is_empty(), "a frame that decodes holds at least one message");
    let mut doc = Doc::new();
    let mut awareness = Awareness::default();
    for message in &messages {
        match message {
            Decoded::Yjs(yjs) => {
                round_trip(yjs);
                sub_decode(&mut doc, &mut awareness, yjs.clone());
            }
            Decoded::App(app) => {
                // What the client could have sent instead: it must decode as one message.
                let again = decode_frame(&frame::client_app(app)).expect("an encoded application message decodes");
                assert_eq!(again.len(), 1);
            }
        }
    }
}

/// A Yjs message encodes back to bytes that decode to the same message.
fn round_trip(message: &Message) {
    let bytes = frame::encode_frame([message]);
    let again = decode_frame(&bytes).expect("an encoded Yjs message decodes");
    assert_eq!(again, vec![Decoded::Yjs(message.clone())], "Yjs message changed through encode and decode");
}

/// What the board does with each kind of message, on a document and presence table of
/// its own.
fn sub_decode(doc: &mut Doc, awareness: &mut Awareness, message: Message) {
    match message {
        Message::Sync(SyncMessage::SyncStep1(state_vector)) => {
            // As the board answers (`doc::sync_answer`): what it sends must decode.
            let answer = commonboard_server::doc::sync_answer(doc, &state_vector);
            frame::decode_update(&answer).expect("the board's sync answer decodes");
        }
        Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
            // As the board takes an update (`intake::prepare`): not at all if it builds on
            // what the document lacks, trimmed if it overlaps what the document has.
            let Ok(summary) = validate::summarize_update_v1(&update, &WireLimits::default()) else { return };
            let state = doc.transact().state_vector();
            if let Ok(update) = intake::prepare(&update, &summary.references, &state) {
                let _ = update.is_empty();
                // As the board does: yrs' panics here are contained (see `contain_yrs`),
                // and a document yrs panicked in is never used again.
                let applied = frame::contain_yrs(|| {
                    let mut txn = std::mem::ManuallyDrop::new(doc.transact_mut());
                    if txn.apply_update(update).is_ok() {
                        let _ = txn.encode_update_v1();
                    }
                    drop(std::mem::ManuallyDrop::into_inner(txn));
                });
                if applied.is_err() {
                    commonboard_server::doc::discard(std::mem::replace(doc, Doc::new()));
                }
            }
        }
        Message::Awareness(update) => {
            let _ = awareness.apply(1, update);
            let _ = awareness.full();
        }
        Message::AwarenessQuery | Message::Auth(_) | Message::Custom(..) => {}
    }
}
