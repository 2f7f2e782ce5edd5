//! Fuzz target: any bytes as one WebSocket frame from a client.
//!
//! Runs what the server does with an incoming binary frame: the protocol crate's
//! `decode_frame` (Yjs messages and the JSON of application messages), then the
//! sub-decoding of each message (an update's v1 bytes applied to a document, a state
//! vector answered with a diff, an awareness update into the presence table). It also
//! checks that what decodes encodes back to the same messages.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| commonboard_fuzz::guarded(|| commonboard_fuzz::frame::check(data)));
