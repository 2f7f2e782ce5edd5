//! The bytes on the wire: y-websocket framing and Hocuspocus framing, read without copying.
//!
//! Both servers speak the `y-protocols` messages (sync step 1, step 2, update, awareness),
//! each a varuint type followed by its body. They differ in framing:
//!
//! - **y-websocket** (Commonboard, the reference server, y-sweet): a WebSocket frame holds
//!   one or more messages back to back, and the document is named by the URL.
//! - **Hocuspocus**: every frame starts with the document name as a var-string, holds
//!   exactly one message, and the server ignores everything on a document until the
//!   client sent an auth message (type 2, sub-type 0 "token", then a var-string token).
//!   It also uses type 4 (sync reply, read like sync) and type 8 (sync status, an
//!   acknowledgement of an update).
//!
//! Light receivers only need to know which bytes are an update and which an awareness
//! message, so [`messages`] walks the lengths and hands out slices of the frame.

use commonboard_protocol::frame;
use yrs::sync::awareness::AwarenessUpdate;

/// Message types of `y-protocols` and Hocuspocus.
const MSG_SYNC: u64 = 0;
const MSG_AWARENESS: u64 = 1;
const MSG_AUTH: u64 = 2;
const MSG_QUERY_AWARENESS: u64 = 3;
const MSG_SYNC_REPLY: u64 = 4;
const MSG_SYNC_STATUS: u64 = 8;
/// Commonboard's application messages (JSON in a var-length buffer).
const MSG_APP: u64 = frame::MSG_APP as u64;

/// Which framing a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// Plain `y-protocols` messages; the document is named by the URL.
    YWebsocket,
    /// Hocuspocus: a document-name prefix on every frame and an auth message first.
    Hocuspocus,
}

/// One message, borrowing its body from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg<'a> {
    /// Sync step 1: the sender's encoded state vector.
    SyncStep1(&'a [u8]),
    /// Sync step 2: an update answering our step 1.
    SyncStep2(&'a [u8]),
    /// A live update.
    Update(&'a [u8]),
    /// An encoded awareness update.
    Awareness(&'a [u8]),
    /// The server refused access, with its reason.
    AuthDenied(String),
    /// Hocuspocus accepted our token.
    Authenticated,
    /// Anything else the tool does not act on (query awareness, sync status, app messages).
    Other(u64),
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for WireError {}

/// A cursor over lib0-encoded bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn var_u64(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = *self.buf.get(self.pos).ok_or(WireError("truncated varuint"))?;
            self.pos += 1;
            if shift >= 64 {
                return Err(WireError("varuint too long"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn var_buf(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.var_u64()?).map_err(|_| WireError("length too large"))?;
        let end =
            self.pos.checked_add(len).filter(|end| *end <= self.buf.len()).ok_or(WireError("truncated buffer"))?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn var_string(&mut self) -> Result<String, WireError> {
        Ok(String::from_utf8_lossy(self.var_buf()?).into_owned())
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Reads every message of one frame and hands each to `each`.
pub fn messages<'a>(flavor: Flavor, frame: &'a [u8], mut each: impl FnMut(Msg<'a>)) -> Result<(), WireError> {
    let mut reader = Reader { buf: frame, pos: 0 };
    if flavor == Flavor::Hocuspocus {
        reader.var_buf()?;
    }
    while !reader.at_end() {
        let kind = reader.var_u64()?;
        let message = match kind {
            MSG_SYNC | MSG_SYNC_REPLY => {
                let sub = reader.var_u64()?;
                let body = reader.var_buf()?;
                match sub {
                    0 => Msg::SyncStep1(body),
                    1 => Msg::SyncStep2(body),
                    2 => Msg::Update(body),
                    _ => return Err(WireError("unknown sync message")),
                }
            }
            MSG_AWARENESS => Msg::Awareness(reader.var_buf()?),
            MSG_AUTH => match (flavor, reader.var_u64()?) {
                (Flavor::Hocuspocus, 2) => {
                    let _scope = reader.var_string()?;
                    Msg::Authenticated
                }
                (Flavor::Hocuspocus, 0) => Msg::Other(MSG_AUTH),
                (_, _) => Msg::AuthDenied(reader.var_string()?),
            },
            MSG_QUERY_AWARENESS => Msg::Other(kind),
            MSG_SYNC_STATUS if flavor == Flavor::Hocuspocus => {
                reader.var_u64()?;
                Msg::Other(kind)
            }
            MSG_APP => {
                reader.var_buf()?;
                Msg::Other(kind)
            }
            // A type we cannot measure: its length is unknown, so the frame ends here.
            other => {
                each(Msg::Other(other));
                return Ok(());
            }
        };
        each(message);
        if flavor == Flavor::Hocuspocus {
            break;
        }
    }
    Ok(())
}

/// Builds outgoing frames for one document in one flavour.
#[derive(Debug, Clone)]
pub struct Wire {
    flavor: Flavor,
    /// The document name as a var-string (Hocuspocus only).
    prefix: Vec<u8>,
}

impl Wire {
    pub fn new(flavor: Flavor, document: &str) -> Self {
        let prefix = match flavor {
            Flavor::YWebsocket => Vec::new(),
            Flavor::Hocuspocus => var_string(document),
        };
        Wire { flavor, prefix }
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    fn wrap(&self, message: Vec<u8>) -> Vec<u8> {
        if self.prefix.is_empty() {
            return message;
        }
        let mut out = Vec::with_capacity(self.prefix.len() + message.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&message);
        out
    }

    /// What a client sends before anything else: Hocuspocus's auth message, if any.
    pub fn hello(&self, token: &str) -> Option<Vec<u8>> {
        (self.flavor == Flavor::Hocuspocus).then(|| {
            let mut message = vec![MSG_AUTH as u8, 0];
            message.extend_from_slice(&var_string(token));
            self.wrap(message)
        })
    }

    pub fn step1(&self, state_vector: &yrs::StateVector) -> Vec<u8> {
        self.wrap(frame::sync_step1(state_vector))
    }

    pub fn step2(&self, update: Vec<u8>) -> Vec<u8> {
        self.wrap(frame::sync_step2(update))
    }

    pub fn update(&self, update: Vec<u8>) -> Vec<u8> {
        self.wrap(frame::sync_update(update))
    }

    pub fn awareness(&self, update: AwarenessUpdate) -> Vec<u8> {
        self.wrap(frame::awareness(update))
    }
}

fn var_string(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    let mut len = value.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(value.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::sync::awareness::AwarenessUpdateEntry;
    use yrs::StateVector;

    fn collect(flavor: Flavor, frame: &[u8]) -> Vec<Msg<'_>> {
        let mut out = Vec::new();
        messages(flavor, frame, |m| out.push(m)).expect("frame reads");
        out
    }

    #[test]
    fn reads_back_what_the_protocol_crate_encodes() {
        let wire = Wire::new(Flavor::YWebsocket, "b");
        let mut frame = wire.update(vec![1, 2, 3]);
        frame.extend(wire.step2(vec![9; 300]));
        frame.extend(wire.awareness(AwarenessUpdate {
            clients: [(yrs::ClientID::new(7), AwarenessUpdateEntry { clock: 1, json: "{}".into() })].into(),
        }));
        let got = collect(Flavor::YWebsocket, &frame);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Msg::Update(&[1, 2, 3]));
        assert_eq!(got[1], Msg::SyncStep2(&[9; 300][..]));
        assert!(matches!(got[2], Msg::Awareness(_)));
    }

    #[test]
    fn hocuspocus_frames_carry_the_document_name() {
        let wire = Wire::new(Flavor::Hocuspocus, "board-1");
        let hello = wire.hello("token").expect("hocuspocus says hello");
        assert_eq!(&hello[..8], b"\x07board-1");
        assert_eq!(&hello[8..10], &[2, 0]);
        let step1 = wire.step1(&StateVector::default());
        let got = collect(Flavor::Hocuspocus, &step1);
        assert_eq!(got, vec![Msg::SyncStep1(&[0])]);
        assert!(Wire::new(Flavor::YWebsocket, "b").hello("t").is_none());
    }

    #[test]
    fn hocuspocus_sync_reply_and_status_are_understood() {
        let mut reply = var_string("d");
        reply.extend([4, 1, 2, 0, 0]);
        assert_eq!(collect(Flavor::Hocuspocus, &reply), vec![Msg::SyncStep2(&[0, 0])]);
        let mut status = var_string("d");
        status.extend([8, 1]);
        assert_eq!(collect(Flavor::Hocuspocus, &status), vec![Msg::Other(8)]);
        let mut authenticated = var_string("d");
        authenticated.extend([2, 2, 10]);
        authenticated.extend(b"read-write");
        assert_eq!(collect(Flavor::Hocuspocus, &authenticated), vec![Msg::Authenticated]);
    }

    #[test]
    fn truncated_frames_are_errors() {
        assert!(messages(Flavor::YWebsocket, &[0, 2, 5, 1], |_| {}).is_err());
        assert!(messages(Flavor::YWebsocket, &[0x80], |_| {}).is_err());
    }
}
