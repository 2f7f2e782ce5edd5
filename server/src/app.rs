//! HTTP routes: the board API, the WebSocket endpoint, health, and the web client.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use commonboard_protocol::api::{BoardInfo, CreateBoardRequest};
use commonboard_protocol::close;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};

use crate::connection::{self, ConnLimits};
use crate::error::AppError;
use crate::registry::{is_valid_board_id, new_board, new_board_id, Registry};
use crate::store::{committed, Author, BoardRecord, Write};

/// Longest board title accepted, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Longest participant name or id taken from a WebSocket URL, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Templates a board can start from (more arrive as data files with the workshop flow).
const TEMPLATES: &[&str] = &["blank"];

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub limits: ConnLimits,
    pub max_message_bytes: usize,
    pub shutdown: CancellationToken,
}

/// The whole application; tests build it without `main`.
pub fn router(state: AppState, web_dir: &std::path::Path) -> Router {
    let api = Router::new()
        .route("/boards", post(create_board))
        .route("/boards/{id}", get(board_info))
        .fallback(|| async { AppError::NotFound("no such API endpoint") });
    let web = ServeDir::new(web_dir).fallback(ServeFile::new(web_dir.join("index.html")));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws/{board}", get(websocket))
        .nest("/api", api)
        .fallback_service(web)
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "boards_loaded": state.registry.loaded() }))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics() -> impl IntoResponse {
    let body = crate::telemetry::prometheus().render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn create_board(
    State(state): State<AppState>,
    body: Result<Json<CreateBoardRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(request) = body.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    let title = request.title.trim();
    let title = if title.is_empty() { "Untitled board" } else { title };
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::BadRequest(format!("title longer than {MAX_TITLE_CHARS} characters")));
    }
    let template = request.template.as_deref().unwrap_or("blank");
    if !TEMPLATES.contains(&template) {
        return Err(AppError::BadRequest(format!("unknown template {template:?}; known: {}", TEMPLATES.join(", "))));
    }
    let (record, entry) = new_board(new_board_id(), title.to_owned(), template.to_owned());
    let writes =
        vec![Write::CreateBoard(record.clone()), Write::Append { board: record.id.clone(), entries: vec![entry] }];
    committed(state.registry.store().submit(writes)).await?;
    tracing::info!(board = %record.id, "board created");
    Ok((StatusCode::CREATED, Json(info(record))).into_response())
}

async fn board_info(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<BoardInfo>, AppError> {
    if !is_valid_board_id(&id) {
        return Err(AppError::NotFound("board not found"));
    }
    let store = state.registry.store().clone();
    let record = tokio::task::spawn_blocking(move || store.board(&id)).await.expect("store read panicked")?;
    record.map(|r| Json(info(r))).ok_or(AppError::NotFound("board not found"))
}

fn info(record: BoardRecord) -> BoardInfo {
    let created_at = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(record.created_at_ms.max(0) as u64),
    );
    BoardInfo {
        url: format!("/b/{}", record.id),
        id: record.id,
        title: record.title,
        template: record.template,
        created_at: created_at.to_string(),
    }
}

/// `GET /ws/{board}`: the Yjs sync endpoint. Optional query parameters `user` (a stable
/// id) and `name` (a display name) label the connection's changes in the board's log.
async fn websocket(
    State(state): State<AppState>,
    Path(board): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let name = params.get("name").map(|n| clip(n)).filter(|n| !n.is_empty()).unwrap_or_else(|| "Anonymous".into());
    let id = params.get("user").map(|u| clip(u)).filter(|u| !u.is_empty()).unwrap_or_else(|| format!("guest:{name}"));
    let author = Author { id, name };
    let valid = is_valid_board_id(&board);
    upgrade.max_message_size(state.max_message_bytes).max_frame_size(state.max_message_bytes).on_upgrade(
        move |socket| async move {
            if !valid {
                return connection::refuse(socket, close::BOARD_NOT_FOUND, "board not found").await;
            }
            connection::serve(socket, board, author, state.registry, state.limits, state.shutdown).await
        },
    )
}

fn clip(value: &str) -> String {
    value.trim().chars().take(MAX_NAME_CHARS).collect()
}
