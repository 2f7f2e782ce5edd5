//! Presence (Yjs awareness) on the board: refusals told to their sender, held and stale states relayed.

use commonboard_protocol::app::{ErrorCode, ServerMessage};
use commonboard_protocol::frame::{self, Message};
use tracing::{debug, warn};

use crate::awareness;
use crate::outbox::ConnId;
use crate::telemetry::{self, Limit};

use super::fanout::Outgoing;
use super::Board;

impl Board {
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
