//! WebSocket frames: one or more protocol messages, back to back.
//!
//! The Yjs sync protocol (as `y-protocols` speaks it) opens with a handshake: each side
//! sends *sync step 1* (its state vector), and answers the other's step 1 with *sync
//! step 2* (the update holding everything the other side lacks). From then on each local
//! change travels as a *sync update*. Every message starts with a varuint type:
//!
//! | type | message | body |
//! | --- | --- | --- |
//! | 0 | sync | varuint sub-type (0 step 1, 1 step 2, 2 update), then a var-length buffer |
//! | 1 | awareness | a var-length buffer holding an awareness update |
//! | 2 | auth | varuint (0 = permission denied), then a var-length string reason |
//! | 3 | query awareness | nothing |
//! | 100 | Commonboard application message | a var-length buffer holding JSON |
//!
//! Messages are self-delimiting, so several may share one frame; [`decode_frame`]
//! reads them all. Clients that do not know type 100 never receive it unless they
//! first sent one themselves (see [`crate::app`]).

use yrs::encoding::read::Cursor;
use yrs::encoding::write::Write;
use yrs::sync::protocol::MessageReader;
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::Update;

pub use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
pub use yrs::sync::protocol::{Message, SyncMessage};

use serde::de::DeserializeOwned;

use crate::app::{ClientMessage, ServerMessage};
use crate::validate::{self, Invalid, WireLimits};

/// Message type of Commonboard's application messages. `y-protocols` uses 0 to 3 and
/// Hocuspocus 0 to 8; 100 leaves room for both to grow.
pub const MSG_APP: u8 = 100;

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame held no message at all.
    #[error("empty frame")]
    Empty,
    /// The bytes are not a sequence of Yjs protocol messages.
    #[error("malformed message: {0}")]
    Malformed(#[from] yrs::encoding::read::Error),
    /// A message type this protocol does not define.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// An application message whose JSON does not match [`ClientMessage`].
    #[error("malformed application message: {0}")]
    App(#[from] serde_json::Error),
    /// The validating reader refused the bytes before yrs read them (see [`validate`]).
    #[error("refused: {0}")]
    Invalid(#[from] Invalid),
    /// yrs panicked reading the bytes (see [`contain_yrs`]).
    #[error("malformed message: {0}")]
    Rejected(#[from] YrsPanicked),
}

/// yrs panicked on bytes from outside; see [`contain_yrs`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("yrs could not process it")]
pub struct YrsPanicked;

thread_local! {
    static CONTAINING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs a call into yrs on bytes from outside (a client's, or a stored row that may be
/// damaged), turning a panic into [`YrsPanicked`]. Every call into yrs on outside bytes
/// goes through here, each call site saying which (the board's actor also keeps an
/// outer net around applying an update, for a panic anywhere on that path):
///
/// - yrs 0.28 `debug_assert!`s that every client id it decodes fits in 53 bits (as in
///   Yjs), and any client may send a bigger one: in a build with debug assertions
///   (tests, `cargo run`, the fuzzers) decoding such a state vector or update panicked.
///   Release builds keep the id's low bits instead.
/// - Applying some crafted updates panics inside yrs (y-crdt#490 and #639; the
///   `store_load` fuzz target found one in `BlockStore::push`).
///
/// The fuzz targets under `fuzz/` let a panic unwind only while [`containing_yrs`].
pub fn contain_yrs<T>(call: impl FnOnce() -> T) -> Result<T, YrsPanicked> {
    CONTAINING.with(|depth| depth.set(depth.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    CONTAINING.with(|depth| depth.set(depth.get() - 1));
    result.map_err(|_| YrsPanicked)
}

/// Whether this thread is inside [`contain_yrs`] (for the fuzzers' panic hook).
pub fn containing_yrs() -> bool {
    CONTAINING.with(|depth| depth.get() > 0)
}

/// Decodes a Yjs update (v1 encoding) from bytes that come from outside: read by the
/// validating reader first ([`validate::STORED`]), as yrs reserves room for the counts
/// an update declares before reading a byte of it (a stored row damaged on disk asked
/// for 96 GiB: `fuzz/regressions/store_load-declared-count`).
pub fn decode_update(bytes: &[u8]) -> Result<Update, DecodeError> {
    validate::check_update_v1(bytes, &validate::STORED)?;
    decode_read_update(bytes)
}

/// Decodes a Yjs update (v1 encoding) that the validating reader has just read: a
/// client's update, which its connection's reader checked (an update's path reads it
/// once, not twice).
pub fn decode_read_update(bytes: &[u8]) -> Result<Update, DecodeError> {
    Ok(contain_yrs(|| Update::decode_v1(bytes))??)
}

/// Decodes a Yjs update in the v2 encoding from bytes that come from outside.
pub fn decode_update_v2(bytes: &[u8]) -> Result<Update, DecodeError> {
    Ok(contain_yrs(|| Update::decode_v2(bytes))??)
}

/// One decoded message: a standard Yjs message, or an application message of type `A`.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<A> {
    /// A standard Yjs protocol message (sync, awareness, auth, query awareness).
    Yjs(Message),
    /// A Commonboard application message.
    App(A),
}

/// A message a client sent to the server.
pub type Incoming = Decoded<ClientMessage>;
/// A message the server sent to a client.
pub type FromServer = Decoded<ServerMessage>;

/// Decodes every message of one WebSocket frame sent by a client, within the default
/// [`WireLimits`].
pub fn decode_frame(bytes: &[u8]) -> Result<Vec<Incoming>, DecodeError> {
    decode_frame_within(bytes, &WireLimits::default())
}

/// Decodes every message of one WebSocket frame sent by a client. The bytes are first
/// walked by [`validate::check_frame`], so yrs never reads a frame that declares more
/// than it holds or nests too deep; [`contain_yrs`] stays as the second line.
pub fn decode_frame_within(bytes: &[u8], limits: &WireLimits) -> Result<Vec<Incoming>, DecodeError> {
    validate::check_frame(bytes, limits)?;
    decode_messages(bytes)
}

/// Decodes every message of one frame sent by the server (used by clients and tests).
pub fn decode_server_frame(bytes: &[u8]) -> Result<Vec<FromServer>, DecodeError> {
    decode_messages(bytes)
}

fn decode_messages<A: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<Decoded<A>>, DecodeError> {
    contain_yrs(|| read_messages(bytes))?
}

fn read_messages<A: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<Decoded<A>>, DecodeError> {
    let mut decoder = DecoderV1::new(Cursor::new(bytes));
    let mut messages = Vec::with_capacity(1);
    for message in MessageReader::new(&mut decoder) {
        messages.push(match message? {
            Message::Custom(MSG_APP, json) => Decoded::App(serde_json::from_slice(&json)?),
            Message::Custom(other, _) => return Err(DecodeError::UnknownType(other)),
            yjs => Decoded::Yjs(yjs),
        });
    }
    if messages.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(messages)
}

/// Encodes messages back to back into one frame.
pub fn encode_frame<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Vec<u8> {
    let mut encoder = EncoderV1::new();
    for message in messages {
        message.encode(&mut encoder);
    }
    encoder.to_vec()
}

/// A frame holding one sync step 1 message with the given state vector.
pub fn sync_step1(state_vector: &yrs::StateVector) -> Vec<u8> {
    encode_frame([&Message::Sync(SyncMessage::SyncStep1(state_vector.clone()))])
}

/// A frame holding one sync step 2 message (an update answering a step 1).
pub fn sync_step2(update: Vec<u8>) -> Vec<u8> {
    encode_frame([&Message::Sync(SyncMessage::SyncStep2(update))])
}

/// A frame holding one sync update message.
pub fn sync_update(update: Vec<u8>) -> Vec<u8> {
    encode_frame([&Message::Sync(SyncMessage::Update(update))])
}

/// A frame holding one awareness message.
pub fn awareness(update: AwarenessUpdate) -> Vec<u8> {
    encode_frame([&Message::Awareness(update)])
}

/// A frame holding one application message from the server.
pub fn server_app(message: &ServerMessage) -> Vec<u8> {
    app_frame(serde_json::to_vec(message).expect("server messages always serialize"))
}

/// A frame holding one application message from a client.
pub fn client_app(message: &ClientMessage) -> Vec<u8> {
    app_frame(serde_json::to_vec(message).expect("client messages always serialize"))
}

fn app_frame(json: Vec<u8>) -> Vec<u8> {
    let mut encoder = EncoderV1::new();
    encoder.write_var(MSG_APP);
    encoder.write_buf(&json);
    encoder.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `store_load` fuzz target: a damaged stored row declaring 2^28
    /// structs for a client made yrs reserve gigabytes before reading them.
    #[test]
    fn an_update_declaring_more_than_it_holds_is_refused_before_yrs_reads_it() {
        let bytes = [1, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 0];
        assert!(matches!(decode_update(&bytes), Err(DecodeError::Invalid(Invalid::CountTooLarge { .. }))));
    }

    /// Found by the `protocol_frame` fuzz target: a sync step 1 whose state vector names
    /// a client id over 53 bits tripped a debug assertion inside yrs' decoder, which
    /// panicked the connection's reader in builds with debug assertions. The validating
    /// reader now refuses it in every build, before yrs reads it.
    #[test]
    fn a_client_id_over_53_bits_is_an_error_not_a_panic() {
        // The fuzzer's frame declared 14 entries in 13 bytes: refused for that now.
        let frame = [0, 0, 14, 14, 255, 255, 249, 255, 255, 255, 255, 247, 255, 254, 2, 0, 2, 2];
        let decoded = decode_frame(&frame);
        assert!(matches!(decoded, Err(DecodeError::Invalid(Invalid::CountTooLarge { .. }))), "{decoded:?}");
        // One entry whose client id is 2^60.
        let mut state_vector = vec![1];
        state_vector.write_var(1u64 << 60);
        state_vector.push(0);
        let mut frame = vec![0, 0];
        frame.write_buf(&state_vector);
        let decoded = decode_frame(&frame);
        assert!(matches!(decoded, Err(DecodeError::Invalid(Invalid::ClientId(_)))), "{decoded:?}");
    }

    #[test]
    fn an_update_that_makes_yrs_panic_is_rejected() {
        let mut update = vec![1, 1];
        yrs::encoding::write::Write::write_var(&mut update, u64::MAX >> 1);
        update.extend_from_slice(&[0, 0, 0]);
        // Any answer but a panic will do.
        let _ = decode_update(&update);
        let _ = decode_update_v2(&update);
    }
}
