//! Pacing a big board's broadcasts: committed updates of ticks close together are sent
//! as one frame, so the writes follow the board's size, not its message rate.
//!
//! Every broadcast is one write per connection: on a board of a thousand, a tick that
//! relays one edit costs a thousand system calls, and ticks come as fast as messages
//! do. After a broadcast, the next waits until `SPACING_PER_RECIPIENT` times the
//! recipients has passed (none below [`PACED_FROM`] connections, at most
//! [`MAX_SPACING`]); updates committed meanwhile are held, merged with the next tick's
//! and sent together, and presence goes with them (`presence.rs`). A board that was
//! quiet for that long sends at once. Nothing is relayed before it is durable: only
//! what was already committed waits. Boards of several nodes are not paced (their
//! updates go to the other nodes with their sequence numbers, in order, at once).

use std::time::Duration;

use tokio::time::Instant;

use super::fanout::Outgoing;
use super::Board;

/// Boards with fewer connections send every tick's updates at once: a workshop's
/// latency stays the kernel's.
pub(super) const PACED_FROM: usize = 100;
/// Time between two broadcasts per connection they go to: at 10 µs, writing (a few
/// microseconds per connection) takes at most about a third of the board's time.
pub(super) const SPACING_PER_RECIPIENT: Duration = Duration::from_micros(10);
/// The longest a committed update waits for the next broadcast.
pub(super) const MAX_SPACING: Duration = Duration::from_millis(10);

/// Updates committed and not yet broadcast (see the module's documentation).
#[derive(Default)]
pub(super) struct HeldUpdates {
    updates: Vec<Vec<u8>>,
    /// When the last broadcast of updates went.
    last_sent: Option<Instant>,
    /// When the held updates go, if nothing sends them before.
    pub(super) due: Option<Instant>,
}

impl HeldUpdates {
    /// When the last broadcast of updates went (none yet: `None`).
    pub(super) fn last_sent(&self) -> Option<Instant> {
        self.last_sent
    }
}

/// Time between broadcasts on a board of `recipients` connections.
pub(super) fn spacing(recipients: usize) -> Duration {
    if recipients < PACED_FROM {
        return Duration::ZERO;
    }
    (SPACING_PER_RECIPIENT * recipients as u32).min(MAX_SPACING)
}

impl Board {
    /// Holds the tick's committed updates when the last broadcast was too recent for
    /// the board's size; otherwise puts the held ones first in the tick's, to go now.
    pub(super) fn pace_updates(&mut self, out: &mut Outgoing) {
        let held = &mut self.held_updates;
        if out.updates.is_empty() && held.updates.is_empty() {
            return;
        }
        let spacing = if self.cluster.is_some() { Duration::ZERO } else { spacing(self.conns.len()) };
        let now = Instant::now();
        let next = held.last_sent.map(|sent| sent + spacing);
        if !out.updates.is_empty() && next.is_some_and(|next| now < next) {
            held.updates.append(&mut out.updates);
            held.due = next;
            return;
        }
        if !held.updates.is_empty() {
            // Held first: they were committed before this tick's.
            let mut updates = std::mem::take(&mut held.updates);
            updates.append(&mut out.updates);
            out.updates = updates;
        }
        held.due = None;
        held.last_sent = Some(now);
    }

    /// Sends the updates held back, now due (or before the board closes everyone).
    pub(super) fn relay_held_updates(&mut self) {
        self.held_updates.due = None;
        if !self.held_updates.updates.is_empty() {
            self.flush(Outgoing::default());
        }
    }

    /// Updates waiting for the next broadcast.
    #[cfg(test)]
    pub(super) fn held_update_count(&self) -> usize {
        self.held_updates.updates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_follows_the_recipients_up_to_a_bound() {
        assert_eq!(spacing(40), Duration::ZERO, "a workshop is not paced");
        assert_eq!(spacing(PACED_FROM - 1), Duration::ZERO);
        assert_eq!(spacing(200), Duration::from_millis(2));
        assert_eq!(spacing(1000), MAX_SPACING);
        assert_eq!(spacing(10_000), MAX_SPACING);
    }
}
