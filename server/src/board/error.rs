//! Why a board refuses a connection.

use crate::auth::AuthError;
use crate::store::StoreError;

/// Why a board refused a connection.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("board not found")]
    NotFound,
    #[error("board could not be loaded: {0}")]
    Load(#[from] StoreError),
    #[error("board is unloading")]
    Unloading,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("board full: {limit} people connected; try again when someone leaves")]
    Full { limit: usize },
    #[error("server busy: {limit} boards open, all in use; try again later")]
    TooManyBoards { limit: usize },
}
