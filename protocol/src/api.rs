//! JSON bodies of the HTTP API, shared by the server and the web client.

use serde::{Deserialize, Serialize};

use crate::app::Role;
use ts_rs::TS;

/// `POST /api/boards`: creates a board.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The caller's role on the board (absent when the board was created in open mode
    /// and reached without a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub role: Option<Role>,
    /// The board's access links: returned to its creator and to its facilitator only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub links: Option<BoardLinks>,
}

/// A board's access links: paths of the board page carrying a signed token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BoardLinks {
    /// Runs the workshop; keep it to yourself.
    pub facilitator: String,
    /// Edits the board; share it with the participants.
    pub participant: String,
    /// Sees the board live without changing it (for example on a big screen).
    pub viewer: String,
}

/// `POST /api/boards/{id}/identities`: a personal link for one participant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct MintIdentityRequest {
    /// The participant's display name.
    pub name: String,
}

/// The big screen's link (`POST /api/boards/{id}/presenter`, facilitator only): it
/// sees the board like a viewer and may draw the room's join code, nothing more.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PresenterLink {
    /// The token (for `?token=` or `Authorization: Bearer`).
    pub token: String,
    /// Path of the presentation view carrying the token.
    pub url: String,
}

/// `DELETE /api/boards/{id}/people/{person}` (facilitator): what the removal did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PersonRemoved {
    /// The person id now refused on this board.
    pub person: String,
    /// Their connections that were closed.
    pub connections_closed: u32,
}

/// A personal participant link.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct IdentityLink {
    /// The stable identity the participant's changes are recorded under.
    pub identity: String,
    /// The token (for `?token=` or `Authorization: Bearer`).
    pub token: String,
    /// Path of the board page carrying the token.
    pub url: String,
}

/// A template a board can start from (`GET /api/templates`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TemplateInfo {
    /// What `template` in `POST /api/boards` names it by.
    pub name: String,
    pub title: String,
    pub description: String,
    /// Titles of the workshop's steps, in order (empty for a free-form board).
    pub steps: Vec<String>,
}

/// Body of every HTTP error response.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ApiError {
    /// What went wrong, safe to show to the user.
    pub error: String,
}
