//! Application messages: what the server, not the CRDT, decides.
//!
//! They travel as JSON inside message type [`crate::frame::MSG_APP`]. A client opts in
//! by sending [`ClientMessage::Hello`]; until it does, the server sends it nothing but
//! standard Yjs messages, so a plain Yjs client (the `y-websocket` provider, say) never
//! sees a message type it does not know. Later features (roles, votes, timers) add
//! variants here; each variant is one JSON object tagged by `"type"`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Version of the application protocol spoken by this build.
pub const APP_PROTOCOL_VERSION: u32 = 1;

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Opts in to application messages; the server answers [`ServerMessage::Welcome`].
    Hello {
        /// The application protocol version the client speaks.
        version: u32,
    },
    /// Facilitator only: lock the board (only the facilitator may change it) or unlock it.
    Lock { locked: bool },
}

/// A message from the server to a client that said [`ClientMessage::Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answers `Hello`: who the server takes this connection to be.
    Welcome {
        /// The application protocol version the server speaks.
        version: u32,
        /// The server's identifier for this connection, unique while the board is loaded.
        connection: u64,
        /// The role this connection holds on the board.
        role: Role,
        /// The stable identity this connection's changes are recorded under.
        identity: String,
        /// Whether the board is locked (only the facilitator may change it).
        locked: bool,
        /// Server time in milliseconds since the Unix epoch, so clients can show
        /// server-driven countdowns without trusting their own clock.
        server_time_ms: f64,
    },
    /// The board's server-decided state changed; sent to every client that said hello.
    BoardState {
        /// Whether only the facilitator may change the board.
        locked: bool,
    },
    /// Something the client asked for was refused or failed; nothing else changed.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation, safe to show to the user.
        message: String,
    },
}

/// What a connection may do on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the workshop: everything a participant may do, plus the board's controls.
    Facilitator,
    /// Edits the board.
    Participant,
    /// Sees the board live, changes nothing.
    Viewer,
}

/// Why the server refused an application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client speaks an application protocol version the server does not.
    UnsupportedVersion,
    /// The connection's role does not allow this.
    Forbidden,
}
