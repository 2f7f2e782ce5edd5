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

use crate::outbox::ConnId;

const NULL: &str = "null";

/// How long a state lives without renewal (y-protocols uses the same 30 seconds).
pub const STATE_TTL: Duration = Duration::from_secs(30);
/// Shortest time between two relayed states of one client: 20 cursor moves a second
/// look smooth, and more only cost every other participant bandwidth.
pub const MIN_RELAY_INTERVAL: Duration = Duration::from_millis(50);
/// Most awareness client ids one connection may introduce. A Yjs provider uses one
/// (its document's client id); a client that changes its id, or a page with a second
/// document, may use a few more.
pub const MAX_IDS_PER_CONNECTION: usize = 4;
/// What one connection's live states may weigh together, as a multiple of the largest
/// state allowed (`--max-awareness-bytes`): one full state and change to spare, not
/// `MAX_IDS_PER_CONNECTION` full ones for every joining client to download.
pub const CONNECTION_BYTES_FACTOR: usize = 2;

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

impl State {
    /// Bytes this state counts against its connection's total (a removal: none).
    fn weight(&self) -> usize {
        if &*self.json == NULL {
            0
        } else {
            self.json.len()
        }
    }
}

/// Which connection owns an awareness client id, and on whose behalf.
struct Owner {
    conn: ConnId,
    /// The person behind the connection (an id the server issued): their other
    /// connections may take the id over (a provider reconnecting before the server
    /// noticed its old socket died).
    person: Option<Arc<str>>,
}

/// An id whose owner left: see [`Awareness::departed`].
struct Departed {
    /// The clock of the removal relayed for it.
    clock: u32,
    person: Option<Arc<str>>,
    at: Instant,
}

/// What one connection holds in the table.
#[derive(Default)]
struct Usage {
    /// Client ids it owns.
    ids: usize,
    /// Bytes of its live states.
    bytes: usize,
}

/// What presence one connection may keep (see `config` for the flag).
#[derive(Debug, Clone, Copy)]
pub struct PresenceLimits {
    /// Largest state of one client id, in bytes of JSON (`--max-awareness-bytes`).
    pub max_state_bytes: usize,
    /// Most client ids one connection may introduce.
    pub max_ids: usize,
    /// Largest total of one connection's live states, in bytes of JSON.
    pub max_bytes: usize,
}

impl PresenceLimits {
    /// The limits that follow from the largest state allowed.
    pub fn from_state_limit(max_state_bytes: usize) -> Self {
        PresenceLimits {
            max_state_bytes,
            max_ids: MAX_IDS_PER_CONNECTION,
            max_bytes: max_state_bytes.saturating_mul(CONNECTION_BYTES_FACTOR),
        }
    }
}

impl Default for PresenceLimits {
    /// No limits (for tests of the table's other rules).
    fn default() -> Self {
        PresenceLimits { max_state_bytes: usize::MAX, max_ids: usize::MAX, max_bytes: usize::MAX }
    }
}

/// Why a state a connection sent was dropped (not kept, not relayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("presence not shared: a state larger than the limit of {max} bytes is dropped")]
    TooLarge { max: usize },
    #[error("presence refused: that awareness client id belongs to another connection")]
    NotYours,
    #[error("presence not shared: one connection may set at most {max} awareness client ids")]
    TooManyIds { max: usize },
    #[error("presence not shared: one connection's states may hold at most {max} bytes together")]
    TooManyBytes { max: usize },
}

/// What applying a connection's awareness update did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Entries to relay now.
    pub relay: Vec<Change>,
    /// Entries dropped, with why (at most one per client id of the update).
    pub refused: Vec<Refused>,
}

/// Awareness states of one board, by Yjs client id.
#[derive(Default)]
pub struct Awareness {
    states: HashMap<ClientID, State>,
    /// Who introduced each client id; kept until that connection leaves, even when the
    /// state itself expires, so that nobody else can take the id meanwhile.
    owners: HashMap<ClientID, Owner>,
    /// Ids whose owner left, with the clock of the removal relayed and who owned them,
    /// kept for [`STATE_TTL`]: a stock provider sends back every change it receives,
    /// the removal and the last state of someone who just left included, and such an
    /// echo must not make its sender the owner of the id (the person coming back with
    /// the same id would then be refused).
    departed: HashMap<ClientID, Departed>,
    /// What each connection holds, kept as states come and go.
    usage: HashMap<ConnId, Usage>,
    limits: PresenceLimits,
    /// Earliest time a held state is due, if any is held.
    next_due: Option<Instant>,
}

impl Awareness {
    /// An empty table that enforces `limits` on every connection.
    pub fn new(limits: PresenceLimits) -> Self {
        Awareness { limits, ..Awareness::default() }
    }

    /// Applies an update sent by `conn`, a connection of `person` (an identity the
    /// server issued, if any); returns the entries to relay now and those refused. A
    /// connection may set only the client ids it introduced (the first connection to
    /// use an id owns it until it leaves; another connection of the same issued identity
    /// may take it over), at most `max_ids` of them,
    /// each state within `max_state_bytes` and all of them within `max_bytes`. Entries
    /// that came too soon after their client's last relay are held (see
    /// [`Self::take_due`]).
    pub fn apply_from(&mut self, conn: ConnId, person: Option<&str>, update: AwarenessUpdate) -> Applied {
        let now = Instant::now();
        let mut applied = Applied { relay: Vec::with_capacity(update.clients.len()), refused: Vec::new() };
        for (client, entry) in update.clients {
            let removing = &*entry.json == NULL;
            if entry.json.len() > self.limits.max_state_bytes {
                applied.refused.push(Refused::TooLarge { max: self.limits.max_state_bytes });
                continue;
            }
            // Who owns the id now: nobody (it is claimed), this connection, or another
            // connection of the same issued identity (it moves here).
            let previous_owner = match self.owners.get(&client) {
                // Removing an id nobody holds changes nothing: an echo of a removal.
                None if removing => continue,
                // The last state of someone who left, sent back by another person's
                // client: not a claim. The person who left may come back with it.
                None if self.departed.get(&client).is_some_and(|gone| {
                    entry.clock <= gone.clock && (person.is_none() || gone.person.as_deref() != person)
                }) =>
                {
                    continue
                }
                None => None,
                Some(owner) if owner.conn == conn => Some(conn),
                Some(owner) if person.is_some() && owner.person.as_deref() == person => Some(owner.conn),
                // A stock provider sends back every state it receives (y-websocket
                // broadcasts each awareness change, remote ones included): an echo, no
                // newer than what is held, is ignored, not taken for a forgery.
                Some(_) if self.states.get(&client).is_some_and(|held| entry.clock <= held.clock) => continue,
                Some(_) => {
                    applied.refused.push(Refused::NotYours);
                    continue;
                }
            };
            let held = self.usage.get(&conn).map_or((0, 0), |u| (u.ids, u.bytes));
            if previous_owner != Some(conn) && held.0 >= self.limits.max_ids {
                applied.refused.push(Refused::TooManyIds { max: self.limits.max_ids });
                continue;
            }
            let last_relay = match self.states.get(&client) {
                None => None,
                Some(current) if current.clock < entry.clock || (current.clock == entry.clock && removing) => {
                    Some(current.relayed)
                }
                Some(_) => continue,
            };
            let replaced = self.states.get(&client).filter(|s| s.conn == conn).map_or(0, State::weight);
            let weight = if removing { 0 } else { entry.json.len() };
            if held.1 - replaced + weight > self.limits.max_bytes {
                applied.refused.push(Refused::TooManyBytes { max: self.limits.max_bytes });
                continue;
            }
            if previous_owner != Some(conn) {
                self.take_ownership(client, conn, person);
            }
            // The id is this connection's now, and so is any state it had.
            let replaced = self.states.get(&client).map_or(0, State::weight);
            let due = last_relay.map(|at| at + MIN_RELAY_INTERVAL).filter(|due| !removing && *due > now);
            let state = State {
                clock: entry.clock,
                json: entry.json.clone(),
                conn,
                updated: now,
                relayed: last_relay.unwrap_or(now),
                held: due.is_some(),
            };
            let usage = self.usage.entry(conn).or_default();
            usage.bytes = usage.bytes - replaced + weight;
            self.states.insert(client, state);
            match due {
                Some(due) => self.next_due = Some(self.next_due.map_or(due, |d| d.min(due))),
                None => {
                    self.states.get_mut(&client).expect("just inserted").relayed = now;
                    applied.relay.push((client, entry));
                }
            }
        }
        applied
    }

    /// [`Self::apply_from`] for a connection of no issued identity (no other connection
    /// may take its ids over); returns the entries to relay now.
    pub fn apply(&mut self, conn: ConnId, update: AwarenessUpdate) -> Vec<Change> {
        self.apply_from(conn, None, update).relay
    }

    /// Makes `conn` the owner of `client`, taking it (and its state's weight) from the
    /// connection that held it, if any.
    fn take_ownership(&mut self, client: ClientID, conn: ConnId, person: Option<&str>) {
        let owner = Owner { conn, person: person.map(Arc::from) };
        if let Some(previous) = self.owners.insert(client, owner) {
            let weight = self.states.get(&client).map_or(0, State::weight);
            if let Some(usage) = self.usage.get_mut(&previous.conn) {
                usage.ids -= 1;
                usage.bytes -= weight;
            }
            if let Some(state) = self.states.get_mut(&client) {
                state.conn = conn;
            }
            let usage = self.usage.entry(conn).or_default();
            usage.bytes += weight;
        }
        self.usage.entry(conn).or_default().ids += 1;
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

    /// Removes every state `conn` set, and frees the ids it owned; returns the removals
    /// to relay.
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
        if self.usage.remove(&conn).is_some() {
            let now = Instant::now();
            let departed = &mut self.departed;
            self.owners.retain(|client, owner| {
                if owner.conn != conn {
                    return true;
                }
                let clock = removed.iter().find(|(c, _)| c == client).map_or(0, |(_, entry)| entry.clock);
                departed.insert(*client, Departed { clock, person: owner.person.clone(), at: now });
                false
            });
        }
        removed
    }

    /// Removes states not renewed within `ttl` of `now`; returns the removals to relay.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<Change> {
        self.departed.retain(|_, gone| now.duration_since(gone.at) < ttl);
        let mut removed = Vec::new();
        let usage = &mut self.usage;
        self.states.retain(|client, state| {
            if &*state.json == NULL || now.duration_since(state.updated) < ttl {
                return true;
            }
            removed.push((*client, AwarenessUpdateEntry { clock: removal_clock(state.clock), json: NULL.into() }));
            if let Some(usage) = usage.get_mut(&state.conn) {
                usage.bytes -= state.weight();
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
        assert_eq!(table.apply_from(1, Some("p1"), update(7, 2, "{\"a\":1}")).relay.len(), 1);
        assert_eq!(table.apply_from(1, Some("p1"), update(7, 1, "{\"a\":0}")).relay.len(), 0);
        tokio::time::advance(MIN_RELAY_INTERVAL).await;
        assert_eq!(table.apply_from(1, Some("p1"), update(7, 3, "{\"a\":2}")).relay.len(), 1);
        assert_eq!(&*table.full().clients[&ClientID::new(7)].json, "{\"a\":2}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_client_is_throttled_and_its_latest_state_still_arrives() {
        let mut table = Awareness::default();
        assert_eq!(table.apply_from(1, Some("p1"), update(7, 1, "{\"x\":1}")).relay.len(), 1);
        for clock in 2..=5 {
            tokio::time::advance(Duration::from_millis(5)).await;
            assert!(table.apply_from(1, Some("p1"), update(7, clock, &format!("{{\"x\":{clock}}}"))).relay.is_empty());
        }
        let due = table.next_due().expect("a state is held");
        assert!(table.take_due(Instant::now()).is_empty(), "not due yet");
        tokio::time::advance(due - Instant::now()).await;
        let relayed = table.take_due(Instant::now());
        assert_eq!(relayed.len(), 1);
        assert_eq!((relayed[0].1.clock, &*relayed[0].1.json), (5, "{\"x\":5}"));
        assert!(table.next_due().is_none());
        // A removal is never held.
        assert_eq!(table.apply_from(1, Some("p1"), update(7, 6, NULL)).relay.len(), 1);
    }

    #[test]
    fn a_closed_connection_takes_its_states_with_it() {
        let mut table = Awareness::default();
        table.apply_from(1, Some("p1"), update(7, 2, "{}"));
        table.apply_from(2, Some("p2"), update(8, 5, "{}"));
        let removed = table.remove_connection(1);
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].1.clock, &*removed[0].1.json), (3, NULL));
        assert_eq!(table.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn states_not_renewed_expire() {
        let mut table = Awareness::default();
        table.apply_from(1, Some("p1"), update(7, 1, "{}"));
        tokio::time::advance(Duration::from_secs(20)).await;
        table.apply_from(1, Some("p1"), update(8, 1, "{}"));
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
        table.apply_from(1, Some("p1"), update(7, u32::MAX, "{}"));
        let removed = table.remove_connection(1);
        assert_eq!((removed[0].1.clock, &*removed[0].1.json), (u32::MAX, NULL));
        table.apply_from(2, Some("p2"), update(8, u32::MAX, "{}"));
        tokio::time::advance(STATE_TTL * 2).await;
        let expired = table.expire(Instant::now(), STATE_TTL);
        assert_eq!((expired[0].1.clock, &*expired[0].1.json), (u32::MAX, NULL));
    }

    #[test]
    fn removal_at_the_same_clock_is_accepted() {
        let mut table = Awareness::default();
        table.apply_from(1, Some("p1"), update(7, 2, "{}"));
        assert_eq!(table.apply_from(1, Some("p1"), update(7, 2, NULL)).relay.len(), 1);
        assert_eq!(table.len(), 0);
    }

    fn limited() -> Awareness {
        Awareness::new(PresenceLimits { max_state_bytes: 100, max_ids: 2, max_bytes: 150 })
    }

    #[test]
    fn a_connection_sets_only_the_ids_it_introduced() {
        let mut table = limited();
        assert_eq!(table.apply_from(1, Some("ana"), update(7, 1, "{\"n\":\"ana\"}")).relay.len(), 1);
        // Another person's connection cannot write or remove ana's id.
        let forged = table.apply_from(2, Some("eve"), update(7, 9, "{\"n\":\"eve\"}"));
        assert!(forged.relay.is_empty());
        assert_eq!(forged.refused, [Refused::NotYours]);
        assert_eq!(table.apply_from(2, Some("eve"), update(7, 10, NULL)).refused, [Refused::NotYours]);
        assert_eq!(&*table.full().clients[&ClientID::new(7)].json, "{\"n\":\"ana\"}");
        // Once ana's connection leaves, the id is free again.
        table.remove_connection(1);
        assert_eq!(table.apply_from(2, Some("eve"), update(7, 11, "{}")).relay.len(), 1);
    }

    #[test]
    fn a_state_sent_back_unchanged_is_an_echo_not_a_forgery() {
        let mut table = limited();
        table.apply_from(1, Some("ana"), update(7, 3, "{\"n\":\"ana\"}"));
        // y-websocket sends back every awareness change it receives, remote ones too.
        let echo = table.apply_from(2, Some("ben"), update(7, 3, "{\"n\":\"ana\"}"));
        assert!(echo.relay.is_empty() && echo.refused.is_empty(), "{echo:?}");
        assert!(table.apply_from(2, Some("ben"), update(7, 2, "{}")).refused.is_empty(), "an older state is stale");
        assert_eq!(table.apply_from(2, Some("ben"), update(7, 4, "{}")).refused, [Refused::NotYours]);
    }

    #[test]
    fn echoes_of_someone_who_left_claim_nothing_and_they_come_back() {
        let mut table = limited();
        table.apply_from(1, Some("ana"), update(7, 3, "{\"n\":\"ana\"}"));
        let removal = table.remove_connection(1);
        assert_eq!(removal[0].1.clock, 4);
        // Ben's provider sends back the removal, and Ana's last state, racing it.
        let echoes = table.apply_from(2, Some("ben"), update(7, 4, NULL));
        assert!(echoes.relay.is_empty() && echoes.refused.is_empty());
        let stale = table.apply_from(2, Some("ben"), update(7, 3, "{\"n\":\"ana\"}"));
        assert!(stale.relay.is_empty() && stale.refused.is_empty());
        assert_eq!(table.len(), 0);
        // Ana's provider reconnects with the same id and its unchanged clock.
        assert_eq!(table.apply_from(3, Some("ana"), update(7, 3, "{\"n\":\"ana\"}")).relay.len(), 1);
    }

    #[test]
    fn the_same_person_takes_an_id_over_on_a_new_connection() {
        let mut table = limited();
        table.apply_from(1, Some("ana"), update(7, 1, "{\"a\":1}"));
        // The provider reconnected before the server saw the old socket end.
        let moved = table.apply_from(2, Some("ana"), update(7, 2, "{\"a\":2}"));
        assert!(moved.refused.is_empty());
        assert_eq!(table.full().clients[&ClientID::new(7)].clock, 2);
        // The old connection ending no longer removes the state.
        assert!(table.remove_connection(1).is_empty());
        assert_eq!(table.len(), 1);
        assert_eq!(table.apply_from(3, Some("eve"), update(7, 3, "{}")).refused, [Refused::NotYours]);
    }

    #[test]
    fn without_an_issued_identity_nobody_takes_an_id_over() {
        let mut table = limited();
        table.apply_from(1, None, update(7, 1, "{}"));
        assert_eq!(table.apply_from(2, None, update(7, 2, "{}")).refused, [Refused::NotYours]);
        assert_eq!(table.apply_from(3, Some("ana"), update(7, 3, "{}")).refused, [Refused::NotYours]);
    }

    #[test]
    fn ids_and_bytes_per_connection_are_capped() {
        let mut table = limited();
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(90));
        assert_eq!(table.apply_from(1, Some("ana"), update(1, 1, &big)).refused, []);
        // A second state that would take the connection past 150 bytes is dropped.
        assert_eq!(table.apply_from(1, Some("ana"), update(2, 1, &big)).refused, [Refused::TooManyBytes { max: 150 }]);
        assert_eq!(table.apply_from(1, Some("ana"), update(2, 1, "{}")).refused, []);
        // A third id is one too many, whatever its size.
        assert_eq!(table.apply_from(1, Some("ana"), update(3, 1, "{}")).refused, [Refused::TooManyIds { max: 2 }]);
        // Replacing its own state counts the new size, not both.
        assert_eq!(table.apply_from(1, Some("ana"), update(1, 2, &big)).refused, []);
        let huge = "x".repeat(101);
        assert_eq!(table.apply_from(1, Some("ana"), update(1, 3, &huge)).refused, [Refused::TooLarge { max: 100 }]);
        assert_eq!(table.len(), 2);
        // Another connection has its own allowance.
        assert_eq!(table.apply_from(2, Some("ben"), update(4, 1, &big)).refused, []);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_state_frees_its_bytes_but_keeps_its_owner() {
        let mut table = limited();
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(90));
        table.apply_from(1, Some("ana"), update(1, 1, &big));
        tokio::time::advance(STATE_TTL * 2).await;
        assert_eq!(table.expire(Instant::now(), STATE_TTL).len(), 1);
        assert_eq!(table.apply_from(2, Some("eve"), update(1, 5, "{}")).refused, [Refused::NotYours]);
        assert_eq!(
            table.apply_from(1, Some("ana"), update(2, 1, &big)).refused,
            [],
            "the expired state's bytes were freed"
        );
    }
}
