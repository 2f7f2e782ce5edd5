//! What every board is set up with: settings, limits, and who signs personal tokens.

use std::time::Duration;

use crate::auth::Signer;
pub use crate::board_load::HeldLimits;

/// Settings every board shares.
#[derive(Debug, Clone)]
pub struct BoardConfig {
    /// Create boards on first connection instead of refusing unknown ids.
    pub open: bool,
    /// How long a board with no connections stays loaded.
    pub idle_unload: Duration,
    /// Logged updates between checkpoints.
    pub checkpoint_every: u64,
    /// For tests: how long a loaded board's document waits before it integrates (see
    /// `board_load`); zero otherwise.
    pub integrate_delay: Duration,
    /// What one board and one client may take.
    pub limits: BoardLimits,
    /// Signs the personal tokens of people the board issues ids to (none: a
    /// participant who came with a shared link gets no token to keep).
    pub issuer: Option<Issuer>,
}

/// Signs personal tokens: the server's key and how long a link stays valid.
#[derive(Clone)]
pub struct Issuer {
    pub signer: Signer,
    pub link_ttl: Duration,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("link_ttl", &self.link_ttl).finish_non_exhaustive()
    }
}

/// What one board and each of its clients may take (see `config` for each flag).
#[derive(Debug, Clone, Copy)]
pub struct BoardLimits {
    /// Most connections on the board.
    pub max_connections: usize,
    /// Largest encoded state (Yjs v1) the document may grow to, in bytes.
    pub max_document_bytes: usize,
    /// Most bytes of accepted updates one person (the facilitator excepted) may write.
    pub max_person_bytes: usize,
    /// Largest update accepted, in bytes.
    pub max_update_bytes: usize,
    /// Largest awareness state of one client, in bytes of JSON.
    pub max_awareness_bytes: usize,
    /// Bytes queued for one client, not yet written to its socket, before it counts as
    /// too slow: a reply (sync step 2, the whole presence) is not even built for a
    /// client this far behind, and a frame that would queue past it closes the client.
    pub max_queued_bytes: usize,
    /// What the board holds for its document while it integrates after a load, in
    /// bytes and frames (see `board_load`).
    pub held: HeldLimits,
}

impl Default for BoardLimits {
    /// No limits (for embedders and tests that set none).
    fn default() -> Self {
        BoardLimits {
            max_connections: usize::MAX,
            max_document_bytes: usize::MAX,
            max_person_bytes: usize::MAX,
            max_update_bytes: usize::MAX,
            max_awareness_bytes: usize::MAX,
            max_queued_bytes: usize::MAX,
            held: HeldLimits::default(),
        }
    }
}
