//! What a tick sends (`Outgoing`) and sending it: each broadcast encoded once, shared by every recipient.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use commonboard_protocol::app::{Role, ServerMessage};
use commonboard_protocol::frame::{self, AwarenessUpdate};
use commonboard_protocol::history::RestoreResult;
use tokio::sync::oneshot;

use crate::outbox::ConnId;
use crate::store::{LogEntry, StoreError, Write};
use crate::telemetry;

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
    /// Sends the tick's frames: each broadcast encoded once, shared by every recipient.
    pub(super) fn flush(&mut self, out: Outgoing) {
        let fanout = std::time::Instant::now();
        let mut broadcast = Vec::with_capacity(2);
        let updates = out.updates.len() as u64;
        if !out.updates.is_empty() {
            let merged = if out.updates.len() == 1 {
                out.updates.into_iter().next().expect("one update")
            } else {
                yrs::merge_updates_v1(&out.updates).expect("updates encoded by yrs merge")
            };
            broadcast.push(Bytes::from(frame::sync_update(merged)));
        }
        let presence = (!out.awareness.is_empty())
            .then(|| Bytes::from(frame::awareness(AwarenessUpdate { clients: out.awareness })));
        if let Some(link) = &self.cluster {
            // Committed: the other nodes relay these to their own clients, in seq order.
            let update = (updates > 0).then(|| (self.seq + 1 - updates, self.seq, broadcast[0].clone()));
            link.publish(update, presence.clone());
        }
        broadcast.extend(presence);
        // Connections whose queue overflowed: closed by `Outbox::send`, dropped here.
        let mut dropped = Vec::new();
        for id in &out.votes {
            let Some(vote) = self.votes.iter().find(|v| &v.id == id) else { continue };
            let public = Bytes::from(frame::server_app(&ServerMessage::Vote { vote: vote.view(false) }));
            let full = Bytes::from(frame::server_app(&ServerMessage::Vote { vote: self.facilitator_view(vote) }));
            for (id, c) in self.conns.iter().filter(|(_, c)| c.app) {
                let view = if c.member.role == Role::Facilitator { &full } else { &public };
                if !c.outbox.send(view.clone()) {
                    dropped.push(*id);
                }
            }
        }
        if out.turnout {
            // Who is present changed: the facilitator sees each open vote's turnout live.
            for vote in self.votes.iter().filter(|v| v.open && !out.votes.contains(&v.id)) {
                let full = Bytes::from(frame::server_app(&ServerMessage::Vote { vote: self.facilitator_view(vote) }));
                for (id, c) in self.conns.iter().filter(|(_, c)| c.app && c.member.role == Role::Facilitator) {
                    if !c.outbox.send(full.clone()) {
                        dropped.push(*id);
                    }
                }
            }
        }
        if !out.app.is_empty() {
            let frames: Vec<Bytes> = out.app.iter().map(|m| Bytes::from(frame::server_app(m))).collect();
            for (id, c) in self.conns.iter().filter(|(_, c)| c.app) {
                if !frames.iter().all(|bytes| c.outbox.send(bytes.clone())) {
                    dropped.push(*id);
                }
            }
        }
        for (conn, bytes) in out.direct {
            if let Some(c) = self.conns.get(&conn) {
                if !c.outbox.send(bytes) {
                    dropped.push(conn);
                }
            }
        }
        if !broadcast.is_empty() {
            let mut deepest = 0;
            for (id, c) in &self.conns {
                if self.cluster.as_ref().is_some_and(|link| link.is_remote(*id)) {
                    continue;
                }
                deepest = deepest.max(c.outbox.depth());
                if !broadcast.iter().all(|bytes| c.outbox.send(bytes.clone())) {
                    dropped.push(*id);
                }
            }
            let bytes: usize = broadcast.iter().map(Bytes::len).sum();
            let recipients = self.conns.len() as u64;
            metrics::counter!(telemetry::FRAMES_SENT).increment(recipients * broadcast.len() as u64);
            metrics::counter!(telemetry::BYTES_SENT).increment(recipients * bytes as u64);
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
