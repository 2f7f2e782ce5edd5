//! `POST /api/boards/{id}/webhooks` (register), `GET` (the hooks and their recent
//! deliveries), `DELETE /api/boards/{id}/webhooks/{hook}`: a board's webhooks, for its
//! facilitator only. The secret is shown once, in the answer to the registration.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commonboard_protocol::app::Role;
use serde::Deserialize;

use super::{authorize, read_board, AppState};
use crate::auth::AuthError;
use crate::error::AppError;
use crate::webhook::{Event, Hook};

/// The body of a registration.
#[derive(Debug, Deserialize)]
pub(super) struct RegisterRequest {
    url: String,
    /// Event names (`vote.closed`...); absent or empty: every event.
    #[serde(default)]
    events: Vec<String>,
}

async fn facilitator(state: &AppState, id: &str, headers: &HeaderMap) -> Result<(), AppError> {
    let record = read_board(state, id).await?;
    if authorize(state, &record, headers)?.role != Role::Facilitator {
        return Err(AuthError::Forbidden.into());
    }
    Ok(())
}

fn describe(hook: &Hook) -> serde_json::Value {
    let events: Vec<&str> = if hook.events.is_empty() {
        Event::ALL.iter().map(|e| e.name()).collect()
    } else {
        hook.events.iter().map(|e| e.name()).collect()
    };
    serde_json::json!({
        "id": hook.id,
        "url": hook.url.as_str(),
        "events": events,
        "scope": if hook.server_wide { "server" } else { "board" },
    })
}

/// `POST /api/boards/{id}/webhooks`.
pub(super) async fn register(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(request) = body.map_err(AppError::from)?;
    facilitator(&state, &id, &headers).await?;
    let hook = state.webhooks.register(&id, &request.url, &request.events).map_err(|error| {
        tracing::warn!(board = %id, %error, "webhook refused");
        AppError::BadRequest(error.to_string())
    })?;
    tracing::info!(board = %id, hook = %hook.id, "webhook registered");
    let mut answer = describe(&hook);
    answer["secret"] = serde_json::Value::String(hook.secret.clone());
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /api/boards/{id}/webhooks`.
pub(super) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, AppError> {
    facilitator(&state, &id, &headers).await?;
    let hooks: Vec<serde_json::Value> = state.webhooks.hooks_of(&id).iter().map(describe).collect();
    Ok(Json(serde_json::json!({ "hooks": hooks, "deliveries": state.webhooks.deliveries(&id) })))
}

/// `DELETE /api/boards/{id}/webhooks/{hook}`.
pub(super) async fn remove(
    State(state): State<AppState>,
    Path((id, hook)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    facilitator(&state, &id, &headers).await?;
    if state.webhooks.remove(&id, &hook) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("no such webhook on this board"))
    }
}
