//! What a tick sends (`Outgoing`) and sending it: each broadcast encoded and framed once,
//! shared by every recipient, and a tick's frames written to a connection in one system call.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use commonboard_protocol::app::{Role, ServerMessage};
use commonboard_protocol::frame::{self, AwarenessUpdate};
use commonboard_protocol::history::RestoreResult;
use tokio::sync::oneshot;

use crate::outbox::ConnId;
use crate::store::{LogEntry, StoreError, Write};
use crate::telemetry;
use crate::ws_frame::Frame;

use super::Board;

/// What a tick decided: the writes to commit, then, once they are durable, the frames
/// to send and the requests to answer. [`Board::tick`] makes it without IO; the actor
/// (`actor.rs`) commits it and [`Board::flush`] sends it.
#[derive(Default)]
pub(super) struct Outgoing {
    /// Updates applied this tick, merged into one broadcast.
    pub(super) updates: Vec<Vec<u8>>,
    /// Awareness changes this tick, latest per client.
    pub(super) awareness: HashMap<yrs::ClientID, frame::AwarenessUpdateEntry>,
    /// Frames for one connection each, in order.
    pub(super) direct: Vec<(ConnId, Bytes)>,
    /// Log entries to commit.
    pub(super) log: Vec<LogEntry>,
    /// Connections whose updates are in `log`: told if the commit fails.
    pub(super) writers: Vec<ConnId>,
    /// Other writes the tick's decisions need (a lock change, say).
    pub(super) writes: Vec<Write>,
    /// Application messages for every client that said hello.
    pub(super) app: Vec<ServerMessage>,
    /// Votes that changed: each is sent to every client that said hello, as its role
    /// may see it.
    pub(super) votes: Vec<String>,
    /// Restores to answer once the tick is durable.
    pub(super) restores: Vec<(oneshot::Sender<Result<RestoreResult, StoreError>>, RestoreResult)>,
    /// Removals of people to answer once the tick is durable, with the connections closed.
    pub(super) removals: Vec<(oneshot::Sender<Result<u32, StoreError>>, u32)>,
    /// Rotations of the links to answer once the tick is durable, with the new generation
    /// (connections holding older tokens are closed then).
    pub(super) rotations: Vec<(oneshot::Sender<Result<u64, StoreError>>, u64)>,
    /// Whether who is present changed: the facilitator gets open votes' turnout again.
    pub(super) turnout: bool,
    /// Whether the workshop flow changed: it is then saved and sent to everyone.
    pub(super) workshop: bool,
    /// Connections whose sync step 1 was answered this tick: a repeat gets nothing
    /// more (the first answer and the tick's broadcast hold all it lacks).
    pub(super) answered_step1: HashSet<ConnId>,
    /// Connections sent the whole presence this tick, answering a query.
    pub(super) answered_query: HashSet<ConnId>,
}

impl Board {
    /// Sends the tick's frames: each broadcast encoded and framed once, shared by every
    /// recipient. A tick's frames are queued on each connection, then written at once,
    /// one vectored write per connection, from this task (see [`crate::socket`]).
    pub(super) fn flush(&mut self, mut out: Outgoing) {
        let fanout = std::time::Instant::now();
        self.pace_updates(&mut out);
        self.coalesce_presence(&mut out);
        let mut broadcast = Vec::with_capacity(2);
        let updates = out.updates.len() as u64;
        let mut payload_bytes = 0;
        let mut update_payload = None;
        if !out.updates.is_empty() {
            let merged = if out.updates.len() == 1 {
                out.updates.into_iter().next().expect("one update")
            } else {
                yrs::merge_updates_v1(&out.updates).expect("updates encoded by yrs merge")
            };
            let payload = Bytes::from(frame::sync_update(merged));
            payload_bytes += payload.len();
            broadcast.push(Frame::binary(&payload));
            update_payload = Some(payload);
        }
        let presence = (!out.awareness.is_empty())
            .then(|| Bytes::from(frame::awareness(AwarenessUpdate { clients: out.awareness })));
        if let Some(link) = &self.cluster {
            // Committed: the other nodes relay these to their own clients, in seq order.
            let update = update_payload.map(|payload| (self.seq + 1 - updates, self.seq, payload));
            link.publish(update, presence.clone());
        }
        if let Some(presence) = presence {
            payload_bytes += presence.len();
            broadcast.push(Frame::binary(&presence));
        }
        // Connections whose queue overflowed: closed by `Outbox::queue`, dropped here.
        let mut dropped = Vec::new();
        for id in &out.votes {
            let Some(vote) = self.votes.iter().find(|v| &v.id == id) else { continue };
            let public = Frame::binary(&frame::server_app(&ServerMessage::Vote { vote: vote.view(false) }));
            let full = Frame::binary(&frame::server_app(&ServerMessage::Vote { vote: self.facilitator_view(vote) }));
            for (id, c) in self.conns.iter().filter(|(_, c)| c.app) {
                let view = if c.member.role == Role::Facilitator { &full } else { &public };
                if !c.outbox.queue([view]) {
                    dropped.push(*id);
                }
            }
        }
        if out.turnout {
            // Who is present changed: the facilitator sees each open vote's turnout live.
            for vote in self.votes.iter().filter(|v| v.open && !out.votes.contains(&v.id)) {
                let full =
                    Frame::binary(&frame::server_app(&ServerMessage::Vote { vote: self.facilitator_view(vote) }));
                for (id, c) in self.conns.iter().filter(|(_, c)| c.app && c.member.role == Role::Facilitator) {
                    if !c.outbox.queue([&full]) {
                        dropped.push(*id);
                    }
                }
            }
        }
        if !out.app.is_empty() {
            let frames: Vec<Frame> = out.app.iter().map(|m| Frame::binary(&frame::server_app(m))).collect();
            for (id, c) in self.conns.iter().filter(|(_, c)| c.app) {
                if !c.outbox.queue(&frames) {
                    dropped.push(*id);
                }
            }
        }
        for (conn, bytes) in out.direct {
            if let Some(c) = self.conns.get(&conn) {
                if !c.outbox.queue([&Frame::binary(&bytes)]) {
                    dropped.push(conn);
                }
            }
        }
        let mut deepest = 0;
        for (id, c) in &self.conns {
            if !broadcast.is_empty() && !self.cluster.as_ref().is_some_and(|link| link.is_remote(*id)) {
                deepest = deepest.max(c.outbox.depth());
                if !c.outbox.queue(&broadcast) {
                    dropped.push(*id);
                    continue;
                }
            }
            // The tick's frames for this connection, in one write (nothing when none).
            if !c.outbox.flush() {
                dropped.push(*id);
            }
        }
        if !broadcast.is_empty() {
            let recipients = self.conns.len() as u64;
            metrics::counter!(telemetry::FRAMES_SENT).increment(recipients * broadcast.len() as u64);
            metrics::counter!(telemetry::BYTES_SENT).increment(recipients * payload_bytes as u64);
            metrics::histogram!(telemetry::QUEUE_DEPTH).record(deepest as f64);
            metrics::histogram!(telemetry::FANOUT_SECONDS).record(fanout.elapsed().as_secs_f64());
        }
        for id in dropped {
            self.conns.remove(&id);
        }
        self.note_usage();
        for (reply, result) in out.restores {
            let _ = reply.send(Ok(result));
        }
        for (reply, closed) in out.removals {
            let _ = reply.send(Ok(closed));
        }
    }
}
