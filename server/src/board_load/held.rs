//! What a warming board holds for its document, bounded in bytes and in commands.
//!
//! While a board's document integrates, the commands that need it wait in arrival
//! order ([`Held`]). Nothing held is accepted yet: it is neither applied, committed nor
//! relayed, and its sender still holds its changes. So a connection whose frame would
//! take the board past its bounds ([`HeldLimits`]) is closed (4533, reconnect), and
//! what it held is dropped at once: its client sends the changes again when it
//! reconnects, as after any close. One connection may take a quarter of the bounds
//! (one frame always fits when it holds nothing): a single flooding client is closed
//! before it fills the board's room, and the others keep theirs.
//!
//! Commands that come from no connection (a restore, a removal, a link rotation, each
//! an HTTP request of the facilitator waiting for its answer) and a connection's end
//! are always held, and counted, so that they are never lost.

use std::collections::{HashMap, HashSet};

use commonboard_protocol::frame::{Decoded, Incoming, Message, SyncMessage};

use crate::board::command::BoardCmd;
use crate::outbox::ConnId;

/// How much a warming board holds for its document (`--max-held-bytes`,
/// `--max-held-frames`).
#[derive(Debug, Clone, Copy)]
pub struct HeldLimits {
    /// Bytes of held messages, counted as [`command_bytes`] counts them.
    pub max_bytes: usize,
    /// Held commands (a frame of a client is one).
    pub max_commands: usize,
}

impl Default for HeldLimits {
    /// No bounds (for embedders and tests that set none).
    fn default() -> Self {
        HeldLimits { max_bytes: usize::MAX, max_commands: usize::MAX }
    }
}

/// One connection may hold this fraction of the bounds: a flood from one client is cut
/// while three quarters of the room stay for everyone else.
const CONN_SHARE: usize = 4;

/// What a message is counted as besides its payload: the decoded form's own size,
/// rounded up (a frame of many empty messages is not free).
const MESSAGE_OVERHEAD: usize = 64;

/// What [`Held::hold`] did with a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Holding {
    /// Held until the document is ready.
    Held,
    /// Past the bounds: `conn` is to be closed; what it held was dropped.
    Refuse(ConnId),
    /// From a connection refused before: dropped.
    Dropped,
}

/// Bytes and commands one connection holds.
#[derive(Debug, Default, Clone, Copy)]
struct Share {
    bytes: usize,
    commands: usize,
}

/// The commands waiting for the document, in arrival order, and what they take.
pub(crate) struct Held {
    limits: HeldLimits,
    commands: Vec<(BoardCmd, usize)>,
    total: Share,
    /// Connections with held commands: their later messages are held too, so that
    /// each connection's messages keep their order.
    holding: HashMap<ConnId, Share>,
    /// Connections closed for the bounds, until their end comes (their messages
    /// still queued are dropped).
    refused: HashSet<ConnId>,
}

impl Held {
    pub(crate) fn new(limits: HeldLimits) -> Self {
        Held { limits, commands: Vec::new(), total: Share::default(), holding: HashMap::new(), refused: HashSet::new() }
    }

    /// Whether `conn` has commands held (its later ones must wait behind them).
    pub(crate) fn is_holding(&self, conn: ConnId) -> bool {
        self.holding.contains_key(&conn)
    }

    /// Whether `conn` was refused and its messages are dropped until it ends.
    pub(crate) fn is_refused(&self, conn: ConnId) -> bool {
        self.refused.contains(&conn)
    }

    /// A refused connection ended: nothing of it is held.
    pub(crate) fn ended(&mut self, conn: ConnId) {
        self.refused.remove(&conn);
    }

    /// Holds `cmd`, unless it is a connection's frame past the bounds.
    pub(crate) fn hold(&mut self, cmd: BoardCmd) -> Holding {
        let bytes = command_bytes(&cmd);
        if let BoardCmd::Messages { conn, .. } = &cmd {
            let conn = *conn;
            if self.refused.contains(&conn) {
                return Holding::Dropped;
            }
            let share = self.holding.get(&conn).copied().unwrap_or_default();
            if !self.fits(share, bytes) {
                self.refuse(conn);
                return Holding::Refuse(conn);
            }
            let share = self.holding.entry(conn).or_default();
            share.bytes += bytes;
            share.commands += 1;
        }
        self.total.bytes += bytes;
        self.total.commands += 1;
        self.commands.push((cmd, bytes));
        metrics::gauge!(crate::telemetry::HELD_BYTES).increment(bytes as f64);
        Holding::Held
    }

    /// Whether a frame of `bytes` fits the board's bounds and its connection's share
    /// (`share`, what the connection holds already; one frame always fits the share).
    fn fits(&self, share: Share, bytes: usize) -> bool {
        let HeldLimits { max_bytes, max_commands } = self.limits;
        let board = self.total.bytes.saturating_add(bytes) <= max_bytes && self.total.commands < max_commands;
        let conn = share.commands == 0
            || (share.bytes.saturating_add(bytes) <= max_bytes / CONN_SHARE
                && share.commands < max_commands / CONN_SHARE);
        board && conn
    }

    /// Drops every command `conn` holds and its later messages.
    fn refuse(&mut self, conn: ConnId) {
        self.refused.insert(conn);
        if self.holding.remove(&conn).is_none() {
            return;
        }
        let mut freed = 0;
        self.commands.retain(|(cmd, bytes)| {
            let theirs = matches!(cmd, BoardCmd::Messages { conn: c, .. } if *c == conn);
            if theirs {
                freed += bytes;
                self.total.commands -= 1;
            }
            !theirs
        });
        self.total.bytes -= freed;
        metrics::gauge!(crate::telemetry::HELD_BYTES).decrement(freed as f64);
    }

    /// Bytes and commands held now.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.total.bytes, self.total.commands)
    }

    /// The held commands, in arrival order.
    pub(crate) fn into_commands(self) -> Vec<BoardCmd> {
        metrics::gauge!(crate::telemetry::HELD_BYTES).decrement(self.total.bytes as f64);
        self.commands.into_iter().map(|(cmd, _)| cmd).collect()
    }
}

/// What holding `cmd` takes, roughly its payload: the bytes of the updates, presence
/// states and application messages of a frame; a restore's state.
pub(crate) fn command_bytes(cmd: &BoardCmd) -> usize {
    match cmd {
        BoardCmd::Messages { messages, .. } => messages.iter().map(|m| MESSAGE_OVERHEAD + message_bytes(m)).sum(),
        BoardCmd::Restore { state, .. } => MESSAGE_OVERHEAD + state.len(),
        _ => MESSAGE_OVERHEAD,
    }
}

fn message_bytes(message: &Incoming) -> usize {
    match message {
        Decoded::Yjs(Message::Sync(SyncMessage::Update(u) | SyncMessage::SyncStep2(u))) => u.len(),
        Decoded::Yjs(Message::Sync(SyncMessage::SyncStep1(sv))) => sv.len() * 16,
        Decoded::Yjs(Message::Awareness(update)) => update.clients.values().map(|e| 16 + e.json.len()).sum(),
        Decoded::Yjs(Message::Custom(_, bytes)) => bytes.len(),
        Decoded::Yjs(Message::Auth(reason)) => reason.as_ref().map_or(0, String::len),
        Decoded::Yjs(Message::AwarenessQuery) => 0,
        // Application messages are small JSON bodies, bounded by the frame's size;
        // counted as written.
        Decoded::App(app) => serde_json::to_vec(app).map_or(0, |json| json.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(conn: ConnId, len: usize) -> BoardCmd {
        let messages = vec![Decoded::Yjs(Message::Sync(SyncMessage::Update(vec![0; len])))];
        BoardCmd::Messages { conn, messages }
    }

    const FRAME: usize = 1000;

    fn limits(frames: usize) -> HeldLimits {
        HeldLimits { max_bytes: frames * (FRAME + MESSAGE_OVERHEAD), max_commands: 1000 }
    }

    #[test]
    fn one_connection_takes_a_quarter_then_is_refused_and_dropped() {
        let mut held = Held::new(limits(8));
        assert_eq!(held.hold(update(1, FRAME)), Holding::Held);
        assert_eq!(held.hold(update(2, FRAME)), Holding::Held);
        assert_eq!(held.hold(update(1, FRAME)), Holding::Held);
        // A third frame is past its quarter (two frames of eight).
        assert_eq!(held.hold(update(1, FRAME)), Holding::Refuse(1));
        assert_eq!(held.hold(update(1, FRAME)), Holding::Dropped);
        assert!(held.is_refused(1) && !held.is_holding(1));
        // What it held is gone; the other connection's frame stays.
        assert_eq!(held.size(), (FRAME + MESSAGE_OVERHEAD, 1));
        held.ended(1);
        assert!(!held.is_refused(1));
        let kept = held.into_commands();
        assert!(matches!(kept.as_slice(), [BoardCmd::Messages { conn: 2, .. }]));
    }

    #[test]
    fn the_board_bound_holds_for_many_connections() {
        let mut held = Held::new(limits(8));
        for conn in 1..=8 {
            assert_eq!(held.hold(update(conn, FRAME)), Holding::Held);
        }
        assert_eq!(held.hold(update(9, FRAME)), Holding::Refuse(9));
        assert_eq!(held.size().1, 8);
    }

    #[test]
    fn one_frame_always_fits_an_empty_share_and_the_count_is_bounded() {
        let mut held = Held::new(HeldLimits { max_bytes: 10 * FRAME, max_commands: 8 });
        // Bigger than a quarter of the bytes, but the connection holds nothing.
        assert_eq!(held.hold(update(1, 4 * FRAME)), Holding::Held);
        assert_eq!(held.hold(update(2, 0)), Holding::Held);
        assert_eq!(held.hold(update(2, 0)), Holding::Held);
        assert_eq!(held.hold(update(2, 0)), Holding::Refuse(2));
        // Commands from no connection are always held.
        for _ in 0..20 {
            assert_eq!(held.hold(BoardCmd::Leave { conn: 3 }), Holding::Held);
        }
        assert_eq!(held.hold(update(4, 0)), Holding::Refuse(4));
    }
}
