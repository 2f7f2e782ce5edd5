//! Answers to clients' sync step 1: the whole state's answer shared between two changes,
//! and every connection's answers paced by what they weigh.
//!
//! Answering a sync step 1 from the document encodes what the client lacks: for a
//! client that holds nothing, the whole board. A Yjs client asks once when it connects;
//! a hostile one can ask hundreds of times a second (measured: one connection asking
//! 200 times a second for a 1 MiB board took 3.8 s of CPU in 6 s and was sent 950 MB).
//! So:
//! - the whole state's answer of a board of 64 KiB or more is encoded once per change
//!   and shared by everyone who asks between two changes (a room joining at once
//!   included);
//! - each connection may be sent [`ANSWER_BURST`] plus twice the board's size of
//!   answers at once, then [`ANSWER_RATE`] bytes a second. A question past that is held
//!   (a later one replaces it: its state vector is the client's newest) and answered
//!   when the connection's allowance has come back. The client gets its answer, later;
//!   the board encodes at most one a refill for it. A query for everyone's presence
//!   (up to 8 KiB per client) takes from the same allowance, and past it is dropped.

use std::collections::HashMap;

use bytes::Bytes;
use commonboard_protocol::frame;
use tokio::time::{Duration, Instant};
use tracing::debug;
use yrs::StateVector;

use super::fanout::Outgoing;
use super::Board;
use crate::board_load::Warming;
use crate::doc::sync_answer;
use crate::outbox::ConnId;

/// Bytes of answers a connection may be sent at once, besides twice the board's size.
const ANSWER_BURST: f64 = (1 << 20) as f64;
/// Bytes of answers a second a connection may be sent once past its burst.
pub(crate) const ANSWER_RATE: f64 = (1 << 20) as f64;
/// A whole state at least this big is kept to be shared (until the board changes);
/// a smaller one encodes in tens of microseconds and is not worth its memory on every
/// loaded board (10,000 connections on 1,000 small boards peaked 9 MiB higher with
/// every board's kept).
const SHARE_FROM_BYTES: usize = 64 << 10;

/// What a connection may be sent at once on a board whose whole state is `whole_len`
/// bytes: [`ANSWER_BURST`] and twice the board.
pub(crate) fn answer_burst(whole_len: usize) -> f64 {
    ANSWER_BURST + 2.0 * whole_len as f64
}

/// What a connection was sent of answers, less what the rate gave back since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerAllowance {
    spent: f64,
    at: Instant,
}

impl AnswerAllowance {
    pub(crate) fn new() -> Self {
        AnswerAllowance { spent: 0.0, at: Instant::now() }
    }

    /// `None` when an answer may go now; otherwise how long until one may.
    pub(crate) fn wait(&mut self, now: Instant, burst: f64) -> Option<Duration> {
        let given_back = now.saturating_duration_since(self.at).as_secs_f64() * ANSWER_RATE;
        self.spent = (self.spent - given_back).max(0.0);
        self.at = now;
        (self.spent >= burst).then(|| Duration::from_secs_f64((self.spent - burst) / ANSWER_RATE + 0.001))
    }

    pub(crate) fn spend(&mut self, bytes: usize) {
        self.spent += bytes as f64;
    }
}

/// Questions held until their connection's allowance comes back, and the whole
/// state's shared answer.
#[derive(Default)]
pub(super) struct Answers {
    held: HashMap<ConnId, (StateVector, Instant)>,
    /// When the earliest held question may be answered.
    pub(super) due: Option<Instant>,
    /// The whole state's answer frame and the board's point it holds.
    whole: Option<(u64, Bytes)>,
    /// The size of the last whole state answered: the board's size, for the burst.
    whole_len: usize,
}

impl Answers {
    /// Forgets the shared answer (the document changed or was replaced).
    pub(super) fn forget_whole(&mut self) {
        self.whole = None;
    }

    /// Forgets what `conn` asked (it left).
    pub(super) fn left(&mut self, conn: ConnId) {
        self.held.remove(&conn);
    }

    fn hold(&mut self, conn: ConnId, state_vector: StateVector, at: Instant) {
        self.held.insert(conn, (state_vector, at));
        self.due = Some(self.due.map_or(at, |due| due.min(at)));
    }
}

impl Board {
    /// Answers `conn`'s sync step 1 now, or holds it until its allowance comes back.
    pub(super) fn answer_step1(&mut self, conn: ConnId, state_vector: StateVector, out: &mut Outgoing) {
        let now = Instant::now();
        let burst = answer_burst(self.answers.whole_len);
        let Some(state) = self.conns.get_mut(&conn) else { return };
        if let Some(wait) = state.answers.wait(now, burst) {
            debug!(conn, wait_ms = wait.as_millis() as u64, "a client asks for the board faster than it is sent; held");
            self.answers.hold(conn, state_vector, now + wait);
            return;
        }
        let answer = self.step2(&state_vector);
        if let Some(state) = self.conns.get_mut(&conn) {
            state.answers.spend(answer.len());
        }
        out.direct.push((conn, answer));
    }

    /// Answers `conn`'s query for everyone's presence, within the same allowance; past
    /// it the query is dropped (a client's presence states reach it anyway as they
    /// change and are renewed).
    pub(super) fn answer_presence_query(&mut self, conn: ConnId, out: &mut Outgoing) {
        let burst = answer_burst(self.answers.whole_len);
        let Some(state) = self.conns.get_mut(&conn) else { return };
        if state.answers.wait(Instant::now(), burst).is_some() {
            debug!(conn, "a client asks for everyone's presence faster than it is sent; dropped");
            return;
        }
        let answer: Bytes = frame::awareness(self.awareness.full()).into();
        state.answers.spend(answer.len());
        out.direct.push((conn, answer));
    }

    /// Answers the held questions now due.
    pub(super) fn answer_held(&mut self) {
        let now = Instant::now();
        let due: Vec<(ConnId, StateVector)> = {
            let held = &mut self.answers.held;
            let ready: Vec<ConnId> = held.iter().filter(|(_, (_, at))| *at <= now).map(|(conn, _)| *conn).collect();
            ready.into_iter().filter_map(|conn| held.remove(&conn).map(|(sv, _)| (conn, sv))).collect()
        };
        self.answers.due = self.answers.held.values().map(|(_, at)| *at).min();
        let mut out = Outgoing::default();
        for (conn, state_vector) in due {
            self.answer_step1(conn, state_vector, &mut out);
        }
        self.flush(out);
    }

    /// The sync step 2 frame for a client holding `state_vector`: from the stored form
    /// while the document integrates, the shared whole state for a client holding
    /// nothing, else a diff of the document.
    fn step2(&mut self, state_vector: &StateVector) -> Bytes {
        if let Some(encoded) = self.warming.as_ref().and_then(Warming::encoded) {
            self.answers.whole_len = encoded.len();
            return encoded.step2(state_vector);
        }
        if !state_vector.is_empty() {
            return frame::sync_step2(sync_answer(&self.doc, state_vector)).into();
        }
        if let Some((seq, whole)) = &self.answers.whole {
            if *seq == self.seq {
                return whole.clone();
            }
        }
        let state = sync_answer(&self.doc, state_vector);
        self.answers.whole_len = state.len();
        let whole = Bytes::from(frame::sync_step2(state));
        if whole.len() >= SHARE_FROM_BYTES {
            self.answers.whole = Some((self.seq, whole.clone()));
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_passes_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut allowance = AnswerAllowance { spent: 0.0, at: start };
        let burst = 3.0 * ANSWER_RATE;
        for _ in 0..3 {
            assert_eq!(allowance.wait(start, burst), None);
            allowance.spend(ANSWER_RATE as usize);
        }
        let wait = allowance.wait(start, burst).expect("past the burst");
        assert!(wait <= Duration::from_millis(2), "{wait:?}");
        allowance.spend(ANSWER_RATE as usize);
        // A second later, one more second's worth has come back.
        let wait = allowance.wait(start + Duration::from_secs(1), burst).expect("still past it");
        assert!(wait <= Duration::from_millis(2), "{wait:?}");
        assert_eq!(allowance.wait(start + Duration::from_millis(1_010), burst), None);
    }
}
