//! A board's awareness table: who is here, their cursor, their name; not persisted.
//!
//! Follows the rules of `y-protocols/awareness`: a state replaces the one held for its
//! client id only if its clock is newer (or equal, when it removes the state). The
//! table remembers which connection sent each client id, so that when a connection
//! ends its states are removed for everyone, as its client would have done.

use std::collections::HashMap;
use std::sync::Arc;

use commonboard_protocol::frame::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::ClientID;

use crate::board::ConnId;

const NULL: &str = "null";

struct State {
    clock: u32,
    json: Arc<str>,
    conn: ConnId,
}

/// Awareness states of one board, by Yjs client id.
#[derive(Default)]
pub struct Awareness {
    states: HashMap<ClientID, State>,
}

impl Awareness {
    /// Applies an update sent by `conn`; returns the entries that changed, to relay.
    pub fn apply(
        &mut self,
        conn: ConnId,
        update: AwarenessUpdate,
    ) -> Vec<(ClientID, AwarenessUpdateEntry)> {
        let mut changed = Vec::with_capacity(update.clients.len());
        for (client, entry) in update.clients {
            let removing = &*entry.json == NULL;
            let accept = match self.states.get(&client) {
                None => true,
                Some(current) => {
                    current.clock < entry.clock || (current.clock == entry.clock && removing)
                }
            };
            if !accept {
                continue;
            }
            self.states.insert(
                client,
                State {
                    clock: entry.clock,
                    json: entry.json.clone(),
                    conn,
                },
            );
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
                removed.push((
                    *client,
                    AwarenessUpdateEntry {
                        clock: state.clock + 1,
                        json: NULL.into(),
                    },
                ));
            }
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
            .map(|(client, s)| {
                (
                    *client,
                    AwarenessUpdateEntry {
                        clock: s.clock,
                        json: s.json.clone(),
                    },
                )
            })
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
        AwarenessUpdate {
            clients: [(
                ClientID::new(client),
                AwarenessUpdateEntry {
                    clock,
                    json: json.into(),
                },
            )]
            .into(),
        }
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

    #[test]
    fn removal_at_the_same_clock_is_accepted() {
        let mut table = Awareness::default();
        table.apply(1, update(7, 2, "{}"));
        assert_eq!(table.apply(1, update(7, 2, NULL)).len(), 1);
        assert_eq!(table.len(), 0);
    }
}
