//! What the nodes say to each other over NATS: subjects, headers and payloads.
//!
//! Subjects, under the `--broker-prefix` `p`:
//! - `p.board.<board>.in`: to a board's owner, from the nodes its remote clients are on
//!   (`join` with the member as JSON, `frame` with the client's messages, `leave`).
//! - `p.board.<board>.out`: from the owner, captured by the JetStream stream: `update`
//!   (a committed sync update frame and its board seq range), `awareness` (a presence
//!   frame) and `seq` (the owner's last committed seq, each second).
//! - `p.node.<node>.out`: from an owner to one node: `frame` (for one connection) and
//!   `close` (close one connection with a code and reason).
//! - `p.board.<board>.restore`: a restore asked of another node, to the owner, which
//!   rebuilds the past point from the store and answers with the result.
//! - `p.board.<board>.command`: a board command asked of another node, to the owner,
//!   which hands it to the board's actor and answers with the result (`remove_person`,
//!   with the person in `cb-person`; answered with the connections closed in `cb-count`).
//! - `p.alive`: each node, each second; `p.rotate`: a board's links were rotated.
//!
//! Metadata travels in headers; payloads are the Yjs frames as they go to clients.

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::auth::Claims;
use crate::board::{ConnId, Member};
use crate::store::Author;

pub const KIND: &str = "cb-kind";
pub const NODE: &str = "cb-node";
pub const CONN: &str = "cb-conn";
pub const FIRST: &str = "cb-first";
pub const LAST: &str = "cb-last";
pub const CODE: &str = "cb-code";
pub const BOARD: &str = "cb-board";
pub const GENERATION: &str = "cb-generation";
pub const SEQ: &str = "cb-seq";
pub const AUTHOR_ID: &str = "cb-author-id";
pub const AUTHOR_NAME: &str = "cb-author-name";
pub const ERROR: &str = "cb-error";
pub const PERSON: &str = "cb-person";
pub const COUNT: &str = "cb-count";

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

    /// Requests to a board's owner to restore a past point (request and reply).
    pub fn board_restore(&self, board: &str) -> String {
        format!("{}.board.{}.restore", self.prefix, token(board))
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
#[derive(Debug, Serialize, Deserialize)]
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

/// Headers naming a message's kind and what it is about.
pub fn headers(kind: &str, fields: &[(&str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(KIND, kind);
    for (name, value) in fields {
        headers.insert(*name, value.as_str());
    }
    headers
}

/// A header's text.
pub fn text<'a>(headers: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    headers?.get(name).map(|value| value.as_str())
}

/// A header's number.
pub fn number(headers: Option<&HeaderMap>, name: &str) -> Option<u64> {
    text(headers, name)?.parse().ok()
}

/// A connection id from a header.
pub fn conn(headers: Option<&HeaderMap>) -> Option<ConnId> {
    number(headers, CONN)
}

/// An empty payload.
pub fn empty() -> Bytes {
    Bytes::new()
}
