//! Why a board refuses a connection, and the close code that tells its client.

use commonboard_protocol::close;
use tracing::{info, warn};

use crate::auth::AuthError;
use crate::outbox::Closer;
use crate::store::StoreError;
use crate::telemetry::{self, Limit};

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

impl BoardError {
    /// Closes a connection whose join this refused, with the close code that says why.
    pub(crate) fn refuse(&self, closer: &Closer) {
        let error = self;
        match error {
            BoardError::NotFound => closer.close(close::BOARD_NOT_FOUND, "board not found"),
            BoardError::Auth(error) => closer.close(close::FORBIDDEN, error.to_string()),
            BoardError::Full { limit } => {
                info!(limit, "board full; refusing a connection");
                telemetry::refused(Limit::BoardConnections);
                closer.close(close::BOARD_FULL, close::fit_reason(&error.to_string()));
            }
            BoardError::TooManyBoards { .. } => {
                closer.close(close::TOO_MANY_BOARDS, close::fit_reason(&error.to_string()))
            }
            error => {
                warn!(%error, "could not join board");
                closer.close(close::INTERNAL, "board unavailable; reconnect shortly");
            }
        }
    }
}
