//! Where a board's committed frames go besides its own connections: the other nodes.

use bytes::Bytes;

use crate::outbox::ConnId;

/// What a board's owner tells the other nodes when there are several (implemented by
/// `cluster::OwnerLink`); a board on a single node has none. The board decides alone;
/// this only carries what it committed.
pub trait Peers: Send + Sync {
    /// Whether member `conn` is on another node (served there by a replica): the
    /// board's broadcasts reach it through [`Peers::publish`], not its own queue.
    fn is_remote(&self, conn: ConnId) -> bool;

    /// Publishes a tick's broadcasts once they are committed: the merged update frame
    /// with the seq range it holds (first, last), and the presence frame.
    fn publish(&self, update: Option<(u64, u64, Bytes)>, presence: Option<Bytes>);

    /// Tells the other nodes that the board's links were rotated to `generation`.
    fn links_rotated(&self, generation: u64);
}
