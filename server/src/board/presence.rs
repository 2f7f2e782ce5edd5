//! Presence (Yjs awareness) on the board: refusals told to their sender, held and stale
//! states relayed, and presence coalescing that follows the board's load.

use std::collections::HashMap;
use std::time::Duration;

use commonboard_protocol::app::{ErrorCode, ServerMessage};
use commonboard_protocol::frame::{self, AwarenessUpdateEntry, Message};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::awareness;
use crate::outbox::ConnId;
use crate::telemetry::{self, Limit};

use super::fanout::Outgoing;
use super::Board;

/// A busy board sends a frame of presence alone at most this often; presence changes
/// meanwhile wait (merged, latest per client) and go with the next update's frames, or
/// when this much time passed since the last presence frame. Every presence frame is
/// one write per connection: forty editors' cursors, each sent alone, cost several
/// writes per delivered update; held 20 ms, about one. Updates never wait for it.
pub(super) const PRESENCE_BUDGET: Duration = Duration::from_millis(20);

/// While people are editing (an update was broadcast less than [`EDITING`] ago), a
/// presence change also waits this long after it came for the next update's frame,
/// so that it costs no write of its own: ten editors making two edits and five cursor
/// moves a second had two presence frames alone for each update frame (three writes
/// per delivered update; about one and a half held). Within one relay interval of a
/// client's cursor (`awareness::MIN_RELAY_INTERVAL`), so a cursor still moves as often.
/// A board where nobody edits sends presence as before.
pub(super) const PRESENCE_WAIT: Duration = Duration::from_millis(30);

/// How recent the last update broadcast must be for [`PRESENCE_WAIT`] to apply.
pub(super) const EDITING: Duration = Duration::from_millis(250);

/// Presence changes held back while the board is busy (see [`PRESENCE_BUDGET`]).
#[derive(Default)]
pub(super) struct HeldPresence {
    changes: HashMap<yrs::ClientID, AwarenessUpdateEntry>,
    /// When the last presence frame went.
    last_sent: Option<Instant>,
    /// When the oldest change held came (none held: `None`).
    since: Option<Instant>,
    /// When the held changes go, if nothing sends them before.
    pub(super) due: Option<Instant>,
}

impl Board {
    /// Holds the tick's presence changes while the board is busy or people are editing
    /// and no update goes now; otherwise adds the held ones to the tick's, to go in its
    /// frames.
    pub(super) fn coalesce_presence(&mut self, out: &mut Outgoing) {
        let editing_since = self.held_updates.last_sent();
        let held = &mut self.held_presence;
        if out.awareness.is_empty() && held.changes.is_empty() {
            return;
        }
        let now = Instant::now();
        if out.updates.is_empty() {
            let mut until = held.last_sent.map(|sent| sent + PRESENCE_BUDGET);
            if editing_since.is_some_and(|sent| now < sent + EDITING) {
                let since = *held.since.get_or_insert(now);
                until = until.max(Some(since + PRESENCE_WAIT));
            }
            if until.is_some_and(|until| now < until) {
                held.changes.extend(out.awareness.drain());
                held.since.get_or_insert(now);
                held.due = until;
                return;
            }
        }
        // Held first: this tick's changes are newer.
        let mut changes = std::mem::take(&mut held.changes);
        changes.extend(out.awareness.drain());
        out.awareness = changes;
        held.due = None;
        held.since = None;
        held.last_sent = Some(now);
    }

    /// Sends the presence changes held back, now due.
    pub(super) fn relay_held_presence(&mut self) {
        self.held_presence.due = None;
        self.flush(Outgoing::default());
    }

    /// Tells `conn`, once per kind of refusal, that an awareness state it sent was
    /// dropped. A state for another connection's client id is a forgery: logged, and
    /// told as an application `error` to a client that said hello (a stock Yjs client
    /// has no way to show it, and is not sent anything). A state over a size limit is
    /// told to every client (stock ones with the Yjs permission-denied message).
    pub(super) fn presence_refused(&mut self, conn: ConnId, refused: awareness::Refused, out: &mut Outgoing) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        let forged = refused == awareness::Refused::NotYours;
        let told = if forged { &mut state.told_forged_presence } else { &mut state.told_awareness };
        if std::mem::replace(told, true) {
            return;
        }
        let reason = refused.to_string();
        if forged {
            warn!(conn, "refused a presence state for a client id another connection owns; not relayed");
            telemetry::refused(Limit::PresenceOwner);
        } else {
            warn!(conn, %reason, "dropped a presence state over a limit; its sender is told once");
            telemetry::refused(Limit::AwarenessSize);
        }
        let code = if forged { ErrorCode::Forbidden } else { ErrorCode::LimitReached };
        let message = if state.app {
            frame::server_app(&ServerMessage::Error { code, message: reason })
        } else if forged {
            return;
        } else {
            frame::encode_frame([&Message::Auth(Some(reason))])
        };
        out.direct.push((conn, message.into()));
    }

    /// Relays the awareness states held back by the per-client throttle, now due.
    pub(super) fn relay_held_awareness(&mut self) {
        let due = self.awareness.take_due(tokio::time::Instant::now());
        if !due.is_empty() {
            self.flush(Outgoing { awareness: due.into_iter().collect(), ..Outgoing::default() });
        }
    }

    /// Relays the removal of states whose clients stopped renewing them.
    pub(super) fn expire_awareness(&mut self) {
        let removed = self.awareness.expire(tokio::time::Instant::now(), awareness::STATE_TTL);
        if !removed.is_empty() {
            debug!(count = removed.len(), "expired stale awareness states");
            self.flush(Outgoing { awareness: removed.into_iter().collect(), ..Outgoing::default() });
        }
    }
}
