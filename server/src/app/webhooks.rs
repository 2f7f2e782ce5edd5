//! `POST /api/boards/{id}/webhooks` (register), `GET` (the hooks and their recent
//! deliveries), `DELETE /api/boards/{id}/webhooks/{hook}`: a board's webhooks, for its
//! facilitator only. The secret is shown once, in the answer to the registration.
//! Registrations and deletions are committed to the store before they are answered, so
//! a restart keeps them.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::openapi::{BoardId, FacilitatorErrors};
use super::{authorize_facilitator, read_board, AppState};
use crate::error::AppError;
use crate::store::{self, StoreError, Write};
use crate::webhook::{Delivery, Event, Hook};

/// The body of a registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RegisterRequest {
    /// Where deliveries go (an address `--webhook-allow` allows).
    url: String,
    /// Event names (`vote.closed`...); absent or empty: every event.
    #[serde(default)]
    events: Vec<String>,
}

/// Who the facilitator calling is (their person id, or `facilitator` for a link
/// without one); any other caller is refused.
async fn facilitator(state: &AppState, id: &str, headers: &HeaderMap) -> Result<String, AppError> {
    let record = read_board(state, id).await?;
    let claims = authorize_facilitator(state, &record, headers)?;
    Ok(claims.identity.unwrap_or_else(|| "facilitator".to_owned()))
}

/// Commits writes of a board's hooks, waiting until they are durable.
async fn persist(state: &AppState, writes: Vec<Write>) -> Result<(), StoreError> {
    store::committed(state.registry.store().submit(writes)).await
}

/// A webhook as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct HookView {
    id: String,
    url: String,
    /// The events it follows.
    events: Vec<String>,
    /// `board` (registered on this board) or `server` (by the operator, `--webhook`).
    scope: String,
    /// Who registered it: the facilitator's person id, `facilitator` (a link without
    /// one) or `operator` (`--webhook`).
    registered_by: String,
    /// When it was registered (the server's start, for the operator's), RFC 3339.
    created_at: String,
    /// The signing secret: in the answer to the registration only.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// `GET /api/boards/{id}/webhooks`: the hooks and their recent deliveries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct HookList {
    hooks: Vec<HookView>,
    /// Newest first.
    deliveries: Vec<Delivery>,
}

fn describe(hook: &Hook) -> HookView {
    let events = if hook.events.is_empty() { Event::ALL.as_slice() } else { hook.events.as_slice() };
    HookView {
        id: hook.id.clone(),
        url: hook.url.as_str().to_owned(),
        events: events.iter().map(|e| e.name().to_owned()).collect(),
        scope: if hook.server_wide { "server" } else { "board" }.to_owned(),
        registered_by: hook.registered_by.clone(),
        created_at: crate::history::rfc3339(hook.created_at_ms),
        secret: None,
    }
}

#[utoipa::path(
    post,
    path = "/boards/{id}/webhooks",
    tag = "webhooks",
    params(BoardId),
    request_body = RegisterRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "The hook, with its secret (shown this once).", body = HookView), FacilitatorErrors)
)]
/// `POST /api/boards/{id}/webhooks`: registers a URL for the board's events.
pub(super) async fn register(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(request) = body.map_err(AppError::from)?;
    let by = facilitator(&state, &id, &headers).await?;
    let hook = state.webhooks.register(&id, &request.url, &request.events, &by).map_err(|error| {
        tracing::warn!(board = %id, %error, "webhook refused");
        AppError::BadRequest(error.to_string())
    })?;
    if let Err(error) = persist(&state, vec![Write::Webhook(hook.stored(&id))]).await {
        state.webhooks.remove(&id, &hook.id);
        tracing::error!(board = %id, %error, "a webhook could not be saved: not registered");
        return Err(error.into());
    }
    tracing::info!(board = %id, hook = %hook.id, "webhook registered");
    let answer = HookView { secret: Some(hook.secret.clone()), ..describe(&hook) };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(
    get,
    path = "/boards/{id}/webhooks",
    tag = "webhooks",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The board's hooks and their recent deliveries.", body = HookList), FacilitatorErrors)
)]
/// `GET /api/boards/{id}/webhooks`: the board's hooks and their recent deliveries.
pub(super) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<HookList>, AppError> {
    facilitator(&state, &id, &headers).await?;
    let hooks = state.webhooks.hooks_of(&id).iter().map(describe).collect();
    Ok(Json(HookList { hooks, deliveries: state.webhooks.deliveries(&id) }))
}

#[utoipa::path(
    delete,
    path = "/boards/{id}/webhooks/{hook}",
    tag = "webhooks",
    params(BoardId, ("hook" = String, Path, description = "The hook's id.")),
    security(("bearer" = [])),
    responses((status = 204, description = "The hook is removed."), FacilitatorErrors)
)]
/// `DELETE /api/boards/{id}/webhooks/{hook}`: removes a hook.
pub(super) async fn remove(
    State(state): State<AppState>,
    Path((id, hook)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    facilitator(&state, &id, &headers).await?;
    if !state.webhooks.has(&id, &hook) {
        return Err(AppError::NotFound("no such webhook on this board"));
    }
    persist(&state, vec![Write::DeleteWebhook { board: id.clone(), id: hook.clone() }]).await?;
    state.webhooks.remove(&id, &hook);
    tracing::info!(board = %id, %hook, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}
