//! A board's checkpoints: their encodings, whether a stored one is intact (and, for a
//! whole v1 state, its clocks, read in the same walk), and the newest intact one.

use super::StoreError;

/// The full state of a board at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub at_ms: i64,
    /// How `state` is encoded: Yjs update v2 (about seven times smaller than v1 for a
    /// board with a long history) since schema version 6, sealed with a checksum since
    /// the v2 checkpoints of 2026-12-07, v1 before; and v1 for the checkpoint a board
    /// writes when it unloads, which the next load sends its first visitor as is
    /// (`board_load`).
    pub encoding: StateEncoding,
    /// The state as one Yjs update.
    pub state: Vec<u8>,
}

/// The Yjs update encoding of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateEncoding {
    /// Read by the validating reader before yrs (`frame::decode_update`).
    V1 = 1,
    /// Written before the seal: trusted as the server wrote it.
    V2 = 2,
    /// v2 followed by its CRC-32 (4 bytes, little-endian). v2 has no validating reader,
    /// and yrs reserves room for the counts an update declares before reading them (a
    /// damaged v1 row asked for 96 GiB: `fuzz/README.md`); the checksum refuses a row
    /// damaged on disk before yrs reads a byte of it.
    V2Sealed = 3,
}

impl StateEncoding {
    /// The encoding a stored number names (an unknown number is read as v1, whose
    /// reader validates).
    pub fn from_stored(number: i64) -> Self {
        match number {
            2 => StateEncoding::V2,
            3 => StateEncoding::V2Sealed,
            _ => StateEncoding::V1,
        }
    }

    /// Whether the state is Yjs's v2 encoding (sealed or not).
    pub fn is_v2(self) -> bool {
        matches!(self, StateEncoding::V2 | StateEncoding::V2Sealed)
    }
}

/// Why a checkpoint's state does not read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint's checksum does not match its state: the row is damaged")]
    Damaged,
    #[error(transparent)]
    Decode(#[from] commonboard_protocol::frame::DecodeError),
}

impl Checkpoint {
    /// The state as a Yjs update (a damaged row gives an error, never a panic).
    pub fn decode(&self) -> Result<yrs::Update, CheckpointError> {
        use commonboard_protocol::frame::{decode_update, decode_update_v2};
        Ok(match self.encoding {
            StateEncoding::V1 => decode_update(&self.state)?,
            StateEncoding::V2 => decode_update_v2(&self.state)?,
            StateEncoding::V2Sealed => decode_update_v2(unseal(&self.state).ok_or(CheckpointError::Damaged)?)?,
        })
    }

    /// Whether the state reads: a v1 state passes the validating reader, a sealed v2
    /// state matches its checksum (a v2 state written before the seal is trusted). One
    /// linear pass, no allocation.
    pub fn is_intact(&self) -> bool {
        self.read_intact().is_some()
    }

    /// [`Checkpoint::is_intact`] (`None`: damaged), and, for a whole v1 state, its
    /// clocks, read in the same walk of the validating reader.
    fn read_intact(&self) -> Option<Option<WholeClocks>> {
        match self.encoding {
            StateEncoding::V1 => {
                commonboard_protocol::stitch::whole_clocks_v1(&self.state, &commonboard_protocol::validate::STORED)
                    .ok()
                    .map(|clocks| clocks.map(WholeClocks))
            }
            StateEncoding::V2 => Some(None),
            StateEncoding::V2Sealed => unseal(&self.state).map(|_| None),
        }
    }
}

/// The clocks (client, clock) of a board's checkpoint that is a whole v1 state, read
/// when the store found it intact ([`newest_intact_read`]): the checkpoint passed the
/// validating reader whole in that walk, and loading the board neither walks it again
/// to read them nor before decoding it (`board_load`). Made only by that walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeClocks(Vec<(u64, u64)>);

impl WholeClocks {
    /// Each client's clock after its last struct.
    pub fn clocks(&self) -> &[(u64, u64)] {
        &self.0
    }
}

/// The newest intact checkpoint at or before `seq`, read one row at a time by
/// `at_or_before` (the newest checkpoint at or before a point). A damaged one is passed
/// over for the one before it: the board is then rebuilt from that one and the log
/// after it, and loses nothing the log still holds.
pub(crate) fn newest_intact(
    seq: u64,
    at_or_before: impl FnMut(u64) -> Result<Option<Checkpoint>, StoreError>,
) -> Result<Option<Checkpoint>, StoreError> {
    Ok(newest_intact_read(seq, at_or_before)?.map(|(checkpoint, _)| checkpoint))
}

/// [`newest_intact`], with the checkpoint's clocks when it is a whole v1 state (read in
/// the same walk that found it intact).
pub(crate) fn newest_intact_read(
    seq: u64,
    mut at_or_before: impl FnMut(u64) -> Result<Option<Checkpoint>, StoreError>,
) -> Result<Option<(Checkpoint, Option<WholeClocks>)>, StoreError> {
    let mut bound = seq;
    while let Some(checkpoint) = at_or_before(bound)? {
        if let Some(clocks) = checkpoint.read_intact() {
            return Ok(Some((checkpoint, clocks)));
        }
        tracing::error!(seq = checkpoint.seq, "a stored checkpoint is damaged; reading the one before it");
        let Some(before) = checkpoint.seq.checked_sub(1) else { break };
        bound = before;
    }
    Ok(None)
}

/// A v2 state with its checksum appended (see [`StateEncoding::V2Sealed`]).
pub fn seal(mut state: Vec<u8>) -> Vec<u8> {
    let checksum = crc32fast::hash(&state);
    state.extend_from_slice(&checksum.to_le_bytes());
    state
}

/// The state of sealed bytes, if their checksum matches.
fn unseal(sealed: &[u8]) -> Option<&[u8]> {
    let (state, checksum) = sealed.split_at_checked(sealed.len().checked_sub(4)?)?;
    (crc32fast::hash(state).to_le_bytes() == checksum).then_some(state)
}
