//! Server WebSocket frames, framed once: a server's frames are never masked, so the
//! bytes of one frame are the same for every receiver, and a broadcast is framed once
//! per tick and shared (a `Bytes`) by every connection it goes to.

use bytes::{BufMut, Bytes, BytesMut};
use commonboard_protocol::close::{self, CloseCode};

/// The WebSocket opcodes a server sends (RFC 6455, section 5.2).
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
/// The FIN bit: every frame the server sends is a whole message.
const FIN: u8 = 0x80;

/// One whole server frame, header included, ready for the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// A binary message holding `payload` (one copy, into the framed bytes).
    pub fn binary(payload: &[u8]) -> Frame {
        Frame::new(BINARY, payload)
    }

    /// A ping with no payload.
    pub fn ping() -> Frame {
        Frame::new(PING, &[])
    }

    /// A close frame with a code and a reason (cut to what a control frame may hold).
    pub fn close(code: CloseCode, reason: &str) -> Frame {
        let reason = close::fit_reason(reason);
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.0.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
        Frame::new(CLOSE, &payload)
    }

    fn new(opcode: u8, payload: &[u8]) -> Frame {
        let mut bytes = BytesMut::with_capacity(10 + payload.len());
        bytes.put_u8(FIN | opcode);
        match payload.len() {
            len @ 0..=125 => bytes.put_u8(len as u8),
            len @ 126..=0xFFFF => {
                bytes.put_u8(126);
                bytes.put_u16(len as u16);
            }
            len => {
                bytes.put_u8(127);
                bytes.put_u64(len as u64);
            }
        }
        bytes.put_slice(payload);
        Frame(bytes.freeze())
    }

    /// The frame's bytes, header included.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The frame's length on the wire.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never, for a framed message).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether these bytes start with a close frame.
    pub(crate) fn is_close(bytes: &[u8]) -> bool {
        bytes.first().is_some_and(|b| b & 0x0F == CLOSE)
    }
}

/// The payload of one whole server frame (`Frame::bytes`): its header skipped, no copy.
pub fn payload(frame: Bytes) -> Bytes {
    let header = match frame.get(1).map(|len| len & 0x7F) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => return Bytes::new(),
    };
    frame.slice(header.min(frame.len())..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_payload_length() {
        assert_eq!(Frame::binary(b"hi").bytes().as_ref(), &[0x82, 2, b'h', b'i']);
        let mid = Frame::binary(&[7; 300]);
        assert_eq!(&mid.bytes()[..4], &[0x82, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let big = Frame::binary(&vec![0; 70_000]);
        assert_eq!(&big.bytes()[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(Frame::ping().bytes().as_ref(), &[0x89, 0]);
        let payloads: [&[u8]; 3] = [b"hi", &[7; 300], &vec![0; 70_000]];
        for (frame, want) in [Frame::binary(b"hi"), mid, big].iter().zip(payloads) {
            assert_eq!(payload(frame.bytes().clone()).as_ref(), want);
        }
    }

    #[test]
    fn a_close_frame_holds_its_code_and_a_fitting_reason() {
        let frame = Frame::close(CloseCode(4530), "full");
        assert_eq!(frame.bytes().as_ref(), &[0x88, 6, 0x11, 0xB2, b'f', b'u', b'l', b'l']);
        assert!(Frame::is_close(frame.bytes()));
        let long = Frame::close(CloseCode(1000), &"x".repeat(500));
        assert!(long.len() <= 2 + 125);
    }
}
