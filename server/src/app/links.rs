//! A board's links and people (facilitator only): rotating the links, minting a
//! personal link, the big screen's presenter link, removing a person.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use commonboard_protocol::api::{BoardInfo, IdentityLink, MintIdentityRequest, PersonRemoved, PresenterLink};
use commonboard_protocol::app::Role;

use super::openapi::{BoardId, FacilitatorErrors};
use super::{authorize_facilitator, claims, clip, info, links, read_board, AppState};
use crate::auth::{self, Claims};
use crate::board::BoardCmd;
use crate::error::AppError;
use crate::store::Author;

#[utoipa::path(
    post,
    path = "/boards/{id}/links/rotate",
    tag = "boards",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The board with its new links.", body = BoardInfo), FacilitatorErrors)
)]
/// `POST /api/boards/{id}/links/rotate` (facilitator): new participant and viewer links;
/// the old ones (personal and presenter links included) are refused from now on, and
/// their connections closed. The facilitator's own link stays.
pub(super) async fn rotate_links(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<BoardInfo>, AppError> {
    rotate(state, id, headers, 1).await
}

#[utoipa::path(
    post,
    path = "/boards/{id}/links/rotate-facilitator",
    tag = "boards",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The board with its new links.", body = BoardInfo), FacilitatorErrors)
)]
/// `POST /api/boards/{id}/links/rotate-facilitator` (facilitator): a new facilitator
/// link, returned to the caller only; every older facilitator link is refused from now
/// on and its connections closed. The other links stay.
pub(super) async fn rotate_facilitator(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<BoardInfo>, AppError> {
    rotate(state, id, headers, auth::FACILITATOR_STEP).await
}

/// Raises the board's links generation by `step` (see `auth` for its two counters).
async fn rotate(state: AppState, id: String, headers: HeaderMap, step: u64) -> Result<Json<BoardInfo>, AppError> {
    let mut record = read_board(&state, &id).await?;
    authorize_facilitator(&state, &record, &headers)?;
    // The board's actor reads, raises and saves the generation (the owner's, with several
    // nodes), so that concurrent rotations each get their own; it is loaded if it is not.
    for _ in 0..3 {
        let (board, _pending) = state.registry.load(&id).await.map_err(|error| match error {
            crate::board::BoardError::NotFound => AppError::NotFound("board not found"),
            _ => AppError::Unavailable("the board is restarting; try again in a moment"),
        })?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        if board.tx.send(BoardCmd::RotateLinks { step, reply }).await.is_err() {
            continue;
        }
        // A dropped reply means the board unloaded meanwhile: try its next load.
        if let Ok(result) = answer.await {
            record.links_generation = result?;
            tracing::info!(board = %id, generation = record.links_generation, facilitator = step != 1, "links rotated");
            let links = links(&state, &record);
            return Ok(Json(info(record, Some(Role::Facilitator), Some(links))));
        }
    }
    Err(AppError::Unavailable("the board is restarting; try again in a moment"))
}

#[utoipa::path(
    post,
    path = "/boards/{id}/identities",
    tag = "boards",
    params(BoardId),
    request_body = MintIdentityRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "The person's personal link.", body = IdentityLink), FacilitatorErrors)
)]
/// `POST /api/boards/{id}/identities` (facilitator): a personal participant link for a
/// new person, who is on the board's roster (votes restricted to it). The name is a
/// note for the facilitator, not the person's identity.
pub(super) async fn mint_identity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<MintIdentityRequest>, JsonRejection>,
) -> Result<Json<IdentityLink>, AppError> {
    let record = read_board(&state, &id).await?;
    authorize_facilitator(&state, &record, &headers)?;
    let Json(request) = body.map_err(AppError::from)?;
    if clip(&request.name).is_empty() {
        return Err(AppError::BadRequest("a name is required".into()));
    }
    let identity = auth::new_person_id();
    let claims =
        Claims { identity: Some(identity.clone()), minted: true, ..claims(&state, &record, Role::Participant) };
    let token = state.signer.sign(&claims);
    let url = format!("/b/{id}?token={token}");
    Ok(Json(IdentityLink { identity, token, url }))
}

#[utoipa::path(
    post,
    path = "/boards/{id}/presenter",
    tag = "boards",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The presenter link.", body = PresenterLink), FacilitatorErrors)
)]
/// `POST /api/boards/{id}/presenter` (facilitator): the big screen's link. It watches
/// the board like a viewer and may draw the room's join code; it cannot change
/// anything, and nothing it can call returns a token of a higher role but that code.
pub(super) async fn presenter_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PresenterLink>, AppError> {
    let record = read_board(&state, &id).await?;
    authorize_facilitator(&state, &record, &headers)?;
    let claims = Claims { presenter: true, ..claims(&state, &record, Role::Viewer) };
    let token = state.signer.sign(&claims);
    let url = format!("/b/{id}/present?token={token}");
    Ok(Json(PresenterLink { token, url }))
}

#[utoipa::path(
    delete,
    path = "/boards/{id}/people/{person}",
    tag = "boards",
    params(BoardId, ("person" = String, Path, description = "The person id (`person:` and 32 hex digits).")),
    security(("bearer" = [])),
    responses((status = 200, description = "The person was removed.", body = PersonRemoved), FacilitatorErrors)
)]
/// `DELETE /api/boards/{id}/people/{person}` (facilitator): removes a person. Their
/// connections close, their person id and personal links are refused from now on, and
/// what they wrote stays. The board's actor does it (the owner's, with several nodes).
pub(super) async fn remove_person(
    State(state): State<AppState>,
    Path((id, person)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<PersonRemoved>, AppError> {
    let record = read_board(&state, &id).await?;
    authorize_facilitator(&state, &record, &headers)?;
    if !auth::is_person_id(&person) {
        return Err(AppError::BadRequest(format!("{person:?} is not a person id (person:<32 hex digits>)")));
    }
    let by = Author { id: auth::FACILITATOR_ID.into(), name: "Facilitator".into() };
    for _ in 0..3 {
        let (board, _pending) = state.registry.load(&id).await.map_err(|error| match error {
            crate::board::BoardError::NotFound => AppError::NotFound("board not found"),
            _ => AppError::Unavailable("the board is restarting; try again in a moment"),
        })?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = BoardCmd::RemovePerson { person: person.clone(), by: by.clone(), reply };
        if board.tx.send(command).await.is_err() {
            continue;
        }
        // A dropped reply means the board unloaded meanwhile: try its next load.
        if let Ok(result) = answer.await {
            let closed = result?;
            tracing::info!(board = %id, closed, "person removed");
            return Ok(Json(PersonRemoved { person, connections_closed: closed }));
        }
    }
    Err(AppError::Unavailable("the board is restarting; try again in a moment"))
}
