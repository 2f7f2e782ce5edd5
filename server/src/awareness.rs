//! A board's awareness table: who is here, their cursor, their name; not persisted.
//!
//! Follows the rules of `y-protocols/awareness`: a state replaces the one held for its
//! client id only if its clock is newer (or equal, when it removes the state). The
//! table remembers which connection sent each client id, so that when a connection
//! ends its states are removed for everyone, as its client would have done. yrs does
//! not expire states; this table does: Yjs clients renew theirs every 15 seconds, so a
//! state older than [`STATE_TTL`] belongs to a client that is gone.

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

struct State {
    clock: u32,
    json: Arc<str>,
    conn: ConnId,
    updated: Instant,
}

/// Awareness states of one board, by Yjs client id.
#[derive(Default)]
pub struct Awareness {
    states: HashMap<ClientID, State>,
}

impl Awareness {
    /// Applies an update sent by `conn`; returns the entries that changed, to relay.
    pub fn apply(&mut self, conn: ConnId, update: AwarenessUpdate) -> Vec<(ClientID, AwarenessUpdateEntry)> {
        let updated = Instant::now();
        let mut changed = Vec::with_capacity(update.clients.len());
        for (client, entry) in update.clients {
            let removing = &*entry.json == NULL;
            let accept = match self.states.get(&client) {
                None => true,
                Some(current) => current.clock < entry.clock || (current.clock == entry.clock && removing),
            };
            if !accept {
                continue;
            }
            self.states.insert(client, State { clock: entry.clock, json: entry.json.clone(), conn, updated });
            changed.push((client, entry));
        }
        changed
    }

    /// Removes every state `conn` set; returns the removals to relay.
    pub fn remove_connection(&mut self, conn: ConnId) -> Vec<(ClientID, AwarenessUpdateEntry)> {
        let mut removed = Vec::new();
        self.states.retain(|client, state| {
            if state.conn != conn {
                return true;
            }
            if &*state.json != NULL {
                removed.push((*client, AwarenessUpdateEntry { clock: state.clock + 1, json: NULL.into() }));
            }
            false
        });
        removed
    }

    /// Removes states not renewed within `ttl` of `now`; returns the removals to relay.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<(ClientID, AwarenessUpdateEntry)> {
        let mut removed = Vec::new();
        self.states.retain(|client, state| {
            if &*state.json == NULL || now.duration_since(state.updated) < ttl {
                return true;
            }
            removed.push((*client, AwarenessUpdateEntry { clock: state.clock + 1, json: NULL.into() }));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn update(client: u64, clock: u32, json: &str) -> AwarenessUpdate {
        AwarenessUpdate { clients: [(ClientID::new(client), AwarenessUpdateEntry { clock, json: json.into() })].into() }
    }

    #[test]
    fn newer_clocks_win_and_older_ones_are_ignored() {
        let mut table = Awareness::default();
        assert_eq!(table.apply(1, update(7, 2, "{\"a\":1}")).len(), 1);
        assert_eq!(table.apply(1, update(7, 1, "{\"a\":0}")).len(), 0);
        assert_eq!(table.apply(1, update(7, 3, "{\"a\":2}")).len(), 1);
        assert_eq!(&*table.full().clients[&ClientID::new(7)].json, "{\"a\":2}");
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

    #[test]
    fn removal_at_the_same_clock_is_accepted() {
        let mut table = Awareness::default();
        table.apply(1, update(7, 2, "{}"));
        assert_eq!(table.apply(1, update(7, 2, NULL)).len(), 1);
        assert_eq!(table.len(), 0);
    }
}
