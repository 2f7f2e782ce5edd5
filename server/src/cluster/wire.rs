//! What the nodes say to each other over NATS: subjects, and one typed message enum.
//!
//! Subjects, under the `--broker-prefix` `p`:
//! - `p.board.<board>.in`: to a board's owner, from the nodes its remote clients are on:
//!   [`NodeMessage::Join`], [`NodeMessage::Frame`], [`NodeMessage::Leave`].
//! - `p.board.<board>.out`: from the owner, captured by the JetStream stream:
//!   [`NodeMessage::Update`] (a committed sync update frame and its board seq range),
//!   [`NodeMessage::Awareness`] (a presence frame) and [`NodeMessage::Seq`] (the
//!   owner's last committed seq, each second).
//! - `p.node.<node>.out`: from an owner to one node: [`NodeMessage::ToConn`] (a frame
//!   for one connection) and [`NodeMessage::Close`] (close one connection).
//! - `p.board.<board>.command`: [`NodeMessage::Command`], a board command asked of
//!   another node, to the owner, which hands it to the board's actor and answers with
//!   [`NodeMessage::Answer`].
//! - `p.alive`: [`NodeMessage::Alive`], each node, each second; `p.rotate`:
//!   [`NodeMessage::LinksRotated`], a board's links were rotated.
//!
//! Every message is one [`NodeMessage`], encoded here ([`encode`]) as CBOR in the NATS
//! payload, and decoded here ([`decode`], [`receive`]): nothing else reads or writes
//! the bytes. Frames travel inside as CBOR byte strings, exactly as they go to clients.
//!
//! **Compatibility**: the encoding is only promised to be understood by nodes of the
//! same build. Nodes of one deployment must all run the same version (stop them all,
//! or drain them all, before starting another version): an older or newer node's
//! message may not decode, and is then dropped with a warning naming its subject.

use bytes::Bytes;
use commonboard_protocol::close::CloseCode;
use commonboard_protocol::history::RestoreResult;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::auth::Claims;
use crate::board::Member;
use crate::outbox::ConnId;
use crate::store::{Author, StoreError};

/// Messages from other nodes dropped because they did not decode, or came on a subject
/// where their kind does not belong (counter).
pub const UNDECODED: &str = "commonboard_broker_undecoded_total";

/// The subjects of one deployment (one `--broker-prefix`).
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Subjects { prefix: prefix.to_owned() }
    }

    pub fn board_in(&self, board: &str) -> String {
        format!("{}.board.{}.in", self.prefix, token(board))
    }

    pub fn board_out(&self, board: &str) -> String {
        format!("{}.board.{}.out", self.prefix, token(board))
    }

    /// Every board's `out` subject: what the stream keeps.
    pub fn every_board_out(&self) -> String {
        format!("{}.board.*.out", self.prefix)
    }

    /// Board commands asked of another node, to the board's owner (request and reply).
    pub fn board_command(&self, board: &str) -> String {
        format!("{}.board.{}.command", self.prefix, token(board))
    }

    pub fn node_out(&self, node: &str) -> String {
        format!("{}.node.{node}.out", self.prefix)
    }

    pub fn alive(&self) -> String {
        format!("{}.alive", self.prefix)
    }

    pub fn rotate(&self) -> String {
        format!("{}.rotate", self.prefix)
    }

    /// The JetStream stream's name.
    pub fn stream(&self) -> String {
        format!("{}_boards", self.prefix)
    }
}

/// A board id as one subject token: ids may hold `.`, which separates tokens, and
/// never `~`.
fn token(board: &str) -> String {
    board.replace('.', "~2e")
}

/// A member as it travels to the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMember {
    author_id: String,
    author_name: String,
    role: commonboard_protocol::app::Role,
    claims: Option<Claims>,
}

impl From<&Member> for WireMember {
    fn from(member: &Member) -> Self {
        WireMember {
            author_id: member.author.id.clone(),
            author_name: member.author.name.clone(),
            role: member.role,
            claims: member.claims.clone(),
        }
    }
}

impl From<WireMember> for Member {
    fn from(wire: WireMember) -> Self {
        Member { author: Author { id: wire.author_id, name: wire.author_name }, role: wire.role, claims: wire.claims }
    }
}

/// Who asked for a change, as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAuthor {
    pub id: String,
    pub name: String,
}

impl From<Author> for WireAuthor {
    fn from(author: Author) -> Self {
        WireAuthor { id: author.id, name: author.name }
    }
}

impl From<WireAuthor> for Author {
    fn from(wire: WireAuthor) -> Self {
        Author { id: wire.id, name: wire.name }
    }
}

/// A board command asked of the board's owner by another node (see
/// [`crate::board::BoardCmd`], whose variants of the same names these carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// The facilitator removes a person.
    RemovePerson { person: String, by: WireAuthor },
    /// The facilitator rotates links: the links generation rises by `step`.
    RotateLinks { step: u64 },
    /// Restore the board to seq `to_seq`, for `by`: the owner rebuilds the point from
    /// the store.
    Restore { to_seq: u64, by: WireAuthor },
}

/// What the owner answers to a [`Command`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// A person was removed; their connections closed, on every node.
    Removed { closed: u32 },
    /// The links were rotated; the links generation is now `generation`.
    Rotated { generation: u64 },
    /// A restore was done.
    Restored { result: RestoreResult },
}

/// Why the owner did not do what another node asked, kept apart as the HTTP layer
/// tells them apart: a refusal by the board's rules (409 on a single node too) or a
/// failure (500).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum Failure {
    /// The board refused it (too big for the board's limits, a closed vote, ...).
    Refused { reason: String },
    /// It could not be done (the board stopped, the store failed).
    Failed { message: String },
}

impl Failure {
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure::Failed { message: message.into() }
    }

    /// The store error as it crosses to another node.
    pub fn from_store(error: &StoreError) -> Failure {
        match error {
            StoreError::Refused { reason, .. } => Failure::Refused { reason: reason.clone() },
            other => Failure::failed(other.to_string()),
        }
    }

    /// The store error it stands for, on the node that asked.
    pub fn into_store_error(self, board: &str) -> StoreError {
        match self {
            Failure::Refused { reason } => StoreError::Refused { board: board.to_owned(), reason },
            Failure::Failed { message } => StoreError::Commit(message),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused { reason } => write!(f, "refused: {reason}"),
            Failure::Failed { message } => f.write_str(message),
        }
    }
}

/// Every message one node sends another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeMessage {
    /// A client of `node` joins the board (to the owner).
    Join { node: String, conn: ConnId, member: WireMember },
    /// A client's messages, re-encoded as one frame (to the owner).
    Frame { node: String, conn: ConnId, frame: Bytes },
    /// A client left (to the owner).
    Leave { node: String, conn: ConnId },
    /// A committed sync update frame holding board seqs `first..=last` (the stream).
    Update { first: u64, last: u64, frame: Bytes },
    /// A presence frame (the stream).
    Awareness { frame: Bytes },
    /// The owner's beat: its name and last committed seq (the stream).
    Seq { node: String, last: u64 },
    /// A frame for one connection of the receiving node (from the owner).
    ToConn { conn: ConnId, frame: Bytes },
    /// Close one connection of the receiving node (from the owner).
    Close { conn: ConnId, code: CloseCode, reason: String },
    /// A node is alive.
    Alive { node: String },
    /// A board's links were rotated, by its owner `node`: tokens of older generations
    /// are refused, and connections holding them closed, on every node.
    LinksRotated { node: String, board: String, generation: u64 },
    /// A board command (a request to the owner).
    Command { command: Command },
    /// The owner's answer to a request: the result or why it failed.
    Answer { result: Result<Answer, Failure> },
}

impl NodeMessage {
    /// The message's kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeMessage::Join { .. } => "join",
            NodeMessage::Frame { .. } => "frame",
            NodeMessage::Leave { .. } => "leave",
            NodeMessage::Update { .. } => "update",
            NodeMessage::Awareness { .. } => "awareness",
            NodeMessage::Seq { .. } => "seq",
            NodeMessage::ToConn { .. } => "to_conn",
            NodeMessage::Close { .. } => "close",
            NodeMessage::Alive { .. } => "alive",
            NodeMessage::LinksRotated { .. } => "links_rotated",
            NodeMessage::Command { .. } => "command",
            NodeMessage::Answer { .. } => "answer",
        }
    }
}

/// Why a message from another node was not taken.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The payload is not a [`NodeMessage`] of this build.
    #[error("does not decode as a node message (another version of the server?): {0}")]
    Decode(String),
    /// A message that decodes but does not belong on the subject it came on.
    #[error("a {kind} message where {expected} was expected")]
    Unexpected { kind: &'static str, expected: &'static str },
}

/// The payload of `message`.
pub fn encode(message: &NodeMessage) -> Bytes {
    let mut bytes = Vec::with_capacity(64 + frame_len(message));
    ciborium::into_writer(message, &mut bytes).expect("node messages encode into memory");
    bytes.into()
}

fn frame_len(message: &NodeMessage) -> usize {
    match message {
        NodeMessage::Frame { frame, .. }
        | NodeMessage::Update { frame, .. }
        | NodeMessage::Awareness { frame }
        | NodeMessage::ToConn { frame, .. } => frame.len(),
        _ => 0,
    }
}

/// Decodes a payload.
pub fn decode(payload: &[u8]) -> Result<NodeMessage, WireError> {
    ciborium::from_reader(payload).map_err(|error| WireError::Decode(error.to_string()))
}

/// Decodes a message received on `subject`; one that does not decode is counted,
/// logged with its subject and dropped (`None`).
pub fn receive(subject: &str, payload: &[u8]) -> Option<NodeMessage> {
    match decode(payload) {
        Ok(message) => Some(message),
        Err(error) => {
            dropped(subject, &error);
            None
        }
    }
}

/// Logs and counts a message that was not taken.
pub fn dropped(subject: &str, error: &WireError) {
    metrics::counter!(UNDECODED).increment(1);
    warn!(subject, %error, "dropped a message from another node");
}

/// An `Unexpected` error for `message`.
pub fn unexpected(message: &NodeMessage, expected: &'static str) -> WireError {
    WireError::Unexpected { kind: message.kind(), expected }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::close;

    fn every_kind() -> Vec<NodeMessage> {
        let member = WireMember {
            author_id: "person:1".into(),
            author_name: "Ann".into(),
            role: commonboard_protocol::app::Role::Participant,
            claims: None,
        };
        let by = WireAuthor { id: "facilitator".into(), name: "Facilitator".into() };
        let frame = Bytes::from_static(&[0, 2, 3, 1, 2, 255]);
        vec![
            NodeMessage::Join { node: "n1-abc".into(), conn: 7, member },
            NodeMessage::Frame { node: "n1-abc".into(), conn: 7, frame: frame.clone() },
            NodeMessage::Leave { node: "n1-abc".into(), conn: 7 },
            NodeMessage::Update { first: 3, last: 5, frame: frame.clone() },
            NodeMessage::Awareness { frame: frame.clone() },
            NodeMessage::Seq { node: "n0-def".into(), last: 5 },
            NodeMessage::ToConn { conn: 7, frame },
            NodeMessage::Close { conn: 7, code: close::RESTART, reason: "board moved".into() },
            NodeMessage::Alive { node: "n2".into() },
            NodeMessage::LinksRotated { node: "n0".into(), board: "b.1".into(), generation: 4 },
            NodeMessage::Command { command: Command::Restore { to_seq: 9, by: by.clone() } },
            NodeMessage::Command { command: Command::RemovePerson { person: "person:2".into(), by } },
            NodeMessage::Command { command: Command::RotateLinks { step: 1 } },
            NodeMessage::Answer { result: Ok(Answer::Removed { closed: 2 }) },
            NodeMessage::Answer { result: Ok(Answer::Rotated { generation: 12 }) },
            NodeMessage::Answer {
                result: Ok(Answer::Restored { result: RestoreResult { restored_to: 3, seq: 10, changed: true } }),
            },
            NodeMessage::Answer { result: Err(Failure::failed("the board stopped")) },
            NodeMessage::Answer { result: Err(Failure::Refused { reason: "too big".into() }) },
        ]
    }

    #[test]
    fn every_message_survives_the_wire() {
        for message in every_kind() {
            let decoded = decode(&encode(&message)).unwrap_or_else(|e| panic!("{}: {e}", message.kind()));
            assert_eq!(decoded, message);
        }
    }

    #[test]
    fn frames_travel_as_byte_strings_not_number_lists() {
        let frame = Bytes::from(vec![0xAB; 1000]);
        let encoded = encode(&NodeMessage::Awareness { frame });
        assert!(encoded.len() < 1100, "{} bytes for a 1000-byte frame", encoded.len());
    }

    #[test]
    fn garbage_is_a_typed_error_and_never_a_panic() {
        let valid = encode(&every_kind()[0]);
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), b"{}".to_vec(), vec![0xFF; 16], b"cb-kind: frame".to_vec()];
        for cut in 0..valid.len() {
            inputs.push(valid[..cut].to_vec());
        }
        for input in inputs {
            assert!(matches!(decode(&input), Err(WireError::Decode(_))), "{input:?}");
        }
        assert!(receive("t.board.x.in", &[0xFF]).is_none());
    }

    #[test]
    fn an_unknown_kind_does_not_decode() {
        let mut bytes = Vec::new();
        ciborium::into_writer(&serde_json::json!({"kind": "teleport", "node": "n"}), &mut bytes).unwrap();
        assert!(matches!(decode(&bytes), Err(WireError::Decode(_))));
    }
}
