//! JSON bodies of the HTTP API, shared by the server and the web client.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// `POST /api/boards`: creates a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct CreateBoardRequest {
    /// Shown at the top of the board and in lists.
    pub title: String,
    /// Name of the template to start from; blank when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub template: Option<String>,
}

/// A board's metadata, as `POST /api/boards` and `GET /api/boards/{id}` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BoardInfo {
    /// Unguessable identifier (128 random bits, hex).
    pub id: String,
    /// The board's title.
    pub title: String,
    /// Template the board was created from (`blank` when none).
    pub template: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Path of the board's page in the web client.
    pub url: String,
}

/// Body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ApiError {
    /// What went wrong, safe to show to the user.
    pub error: String,
}
