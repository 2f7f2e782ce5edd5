//! A board's awareness table: who is here, their cursor, their name; not persisted.
//!
//! Follows the rules of `y-protocols/awareness`: a state replaces the one held for its
//! client id only if its clock is newer (or equal, when it removes the state). The
//! table remembers which connection sent each client id, so that when a connection
//! ends its states are removed for everyone, as its client would have done. yrs does
//! not expire states; this table does: Yjs clients renew theirs every 15 seconds, so a
//! state older than [`STATE_TTL`] belongs to a client that is gone.
//!
//! It also throttles: a client's new state is relayed at most once per
//! [`MIN_RELAY_INTERVAL`]. A state arriving sooner is held, replaced by any newer one,
//! and relayed when its time comes ([`Awareness::take_due`]), so a cursor moving fast
//! costs the board a bounded number of broadcasts and still ends where it stopped.
//! Removals are never held.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use commonboard_protocol::frame::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::ClientID;

use tokio::time::Instant;

use crate::board::ConnId;

const NULL: &str = "null";

/// How long a state lives without renewal (y-protocols uses the same 30 seconds).
pub const STATE_TTL: Duration = Duration::from_secs(30);
/// Shortest time between two relayed states of one client: 20 cursor moves a second
/// look smooth, and more only cost every other participant bandwidth.
pub const MIN_RELAY_INTERVAL: Duration = Duration::from_millis(50);

type Change = (ClientID, AwarenessUpdateEntry);

struct State {
    clock: u32,
    json: Arc<str>,
    conn: ConnId,
    updated: Instant,
    /// When this client's state was last relayed.
    relayed: Instant,
    /// Whether the current state is newer than the one relayed.
    held: bool,
}

/// Awareness states of one board, by Yjs client id.
#[derive(Default)]
pub struct Awareness {
    states: HashMap<ClientID, State>,
    /// Earliest time a held state is due, if any is held.
    next_due: Option<Instant>,
}

impl Awareness {
    /// Applies an update sent by `conn`; returns the entries to relay now. Entries
    /// that came too soon after their client's last relay are held (see [`Self::take_due`]).
    pub fn apply(&mut self, conn: ConnId, update: AwarenessUpdate) -> Vec<Change> {
        let now = Instant::now();
        let mut relay = Vec::with_capacity(update.clients.len());
        for (client, entry) in update.clients {
            let removing = &*entry.json == NULL;
            let last_relay = match self.states.get(&client) {
                None => None,
                Some(current) if current.clock < entry.clock || (current.clock == entry.clock && removing) => {
                    Some(current.relayed)
                }
                Some(_) => continue,
            };
            let due = last_relay.map(|at| at + MIN_RELAY_INTERVAL).filter(|due| !removing && *due > now);
            let state = State {
                clock: entry.clock,
                json: entry.json.clone(),
                conn,
                updated: now,
                relayed: last_relay.unwrap_or(now),
                held: due.is_some(),
            };
            self.states.insert(client, state);
            match due {
                Some(due) => self.next_due = Some(self.next_due.map_or(due, |d| d.min(due))),
                None => {
                    self.states.get_mut(&client).expect("just inserted").relayed = now;
                    relay.push((client, entry));
                }
            }
        }
        relay
    }

    /// When the earliest held state is due, if any is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.next_due
    }

    /// Takes the held states that are due at `now`, to relay.
    pub fn take_due(&mut self, now: Instant) -> Vec<Change> {
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (client, state) in self.states.iter_mut().filter(|(_, s)| s.held) {
            let at = state.relayed + MIN_RELAY_INTERVAL;
            if at <= now {
                state.held = false;
                state.relayed = now;
                due.push((*client, AwarenessUpdateEntry { clock: state.clock, json: state.json.clone() }));
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        self.next_due = next;
        due
    }

    /// Removes every state `conn` set; returns the removals to relay.
    pub fn remove_connection(&mut self, conn: ConnId) -> Vec<Change> {
        let mut removed = Vec::new();
        self.states.retain(|client, state| {
            if state.conn != conn {
                return true;
            }
            if &*state.json != NULL {
                removed.push((*client, AwarenessUpdateEntry { clock: removal_clock(state.clock), json: NULL.into() }));
            }
            false
        });
        removed
    }

    /// Removes states not renewed within `ttl` of `now`; returns the removals to relay.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<Change> {
        let mut removed = Vec::new();
        self.states.retain(|client, state| {
            if &*state.json == NULL || now.duration_since(state.updated) < ttl {
                return true;
            }
            removed.push((*client, AwarenessUpdateEntry { clock: removal_clock(state.clock), json: NULL.into() }));
            false
        });
        removed
    }

    /// Every live state, for a client that just joined or asked.
    pub fn full(&self) -> AwarenessUpdate {
        let clients = self
            .states
            .iter()
            .filter(|(_, s)| &*s.json != NULL)
            .map(|(client, s)| (*client, AwarenessUpdateEntry { clock: s.clock, json: s.json.clone() }))
            .collect();
        AwarenessUpdate { clients }
    }

    /// Number of live states.
    pub fn len(&self) -> usize {
        self.states.values().filter(|s| &*s.json != NULL).count()
    }

    /// Whether nobody has a live state.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The clock of a removal: one past the state's, or, for a client that sent the
/// largest clock there is, the same clock (a removal at the same clock is accepted).
/// `clock + 1` overflowed there (found by the `board_messages` fuzz target).
fn removal_clock(clock: u32) -> u32 {
    clock.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(client: u64, clock: u32, json: &str) -> AwarenessUpdate {
        AwarenessUpdate { clients: [(ClientID::new(client), AwarenessUpdateEntry { clock, json: json.into() })].into() }
    }

    #[tokio::test(start_paused = true)]
    async fn newer_clocks_win_and_older_ones_are_ignored() {
        let mut table = Awareness::default();
        assert_eq!(table.apply(1, update(7, 2, "{\"a\":1}")).len(), 1);
        assert_eq!(table.apply(1, update(7, 1, "{\"a\":0}")).len(), 0);
        tokio::time::advance(MIN_RELAY_INTERVAL).await;
        assert_eq!(table.apply(1, update(7, 3, "{\"a\":2}")).len(), 1);
        assert_eq!(&*table.full().clients[&ClientID::new(7)].json, "{\"a\":2}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_client_is_throttled_and_its_latest_state_still_arrives() {
        let mut table = Awareness::default();
        assert_eq!(table.apply(1, update(7, 1, "{\"x\":1}")).len(), 1);
        for clock in 2..=5 {
            tokio::time::advance(Duration::from_millis(5)).await;
            assert!(table.apply(1, update(7, clock, &format!("{{\"x\":{clock}}}"))).is_empty());
        }
        let due = table.next_due().expect("a state is held");
        assert!(table.take_due(Instant::now()).is_empty(), "not due yet");
        tokio::time::advance(due - Instant::now()).await;
        let relayed = table.take_due(Instant::now());
        assert_eq!(relayed.len(), 1);
        assert_eq!((relayed[0].1.clock, &*relayed[0].1.json), (5, "{\"x\":5}"));
        assert!(table.next_due().is_none());
        // A removal is never held.
        assert_eq!(table.apply(1, update(7, 6, NULL)).len(), 1);
    }

    #[test]
    fn a_closed_connection_takes_its_states_with_it() {
        let mut table = Awareness::default();
        table.apply(1, update(7, 2, "{}"));
        table.apply(2, update(8, 5, "{}"));
        let removed = table.remove_connection(1);
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].1.clock, &*removed[0].1.json), (3, NULL));
        assert_eq!(table.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn states_not_renewed_expire() {
        let mut table = Awareness::default();
        table.apply(1, update(7, 1, "{}"));
        tokio::time::advance(Duration::from_secs(20)).await;
        table.apply(1, update(8, 1, "{}"));
        tokio::time::advance(Duration::from_secs(15)).await;
        let removed = table.expire(Instant::now(), STATE_TTL);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].0, ClientID::new(7));
        assert_eq!(table.len(), 1);
    }

    /// Found by the `board_messages` fuzz target: a client's state at the largest
    /// clock made removing it overflow when its connection closed or it expired.
    #[tokio::test(start_paused = true)]
    async fn a_state_at_the_largest_clock_is_removed() {
        let mut table = Awareness::default();
        table.apply(1, update(7, u32::MAX, "{}"));
        let removed = table.remove_connection(1);
        assert_eq!((removed[0].1.clock, &*removed[0].1.json), (u32::MAX, NULL));
        table.apply(2, update(8, u32::MAX, "{}"));
        tokio::time::advance(STATE_TTL * 2).await;
        let expired = table.expire(Instant::now(), STATE_TTL);
        assert_eq!((expired[0].1.clock, &*expired[0].1.json), (u32::MAX, NULL));
    }

    #[test]
    fn removal_at_the_same_clock_is_accepted() {
        let mut table = Awareness::default();
        table.apply(1, update(7, 2, "{}"));
        assert_eq!(table.apply(1, update(7, 2, NULL)).len(), 1);
        assert_eq!(table.len(), 0);
    }
}
