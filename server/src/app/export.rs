//! `GET /api/boards/{id}/export.svg`, `export.png`, `actions.csv`, `actions.json` and
//! `board.json`: the board as a picture, its actions as a table, and the whole board as
//! a file; and the import of such a file by `POST /api/boards`.
//!
//! Any link of the board may download the picture and the actions (as the minutes);
//! the board file, which holds every ballot (voters' names included), only the
//! facilitator's.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commonboard_protocol::app::Role;
use commonboard_protocol::schema::{self, BoardSnapshot};
use yrs::Transact;

use super::openapi::{Binary, BoardId, FacilitatorErrors, ReadErrors};
use super::{authorize_facilitator, heavy_reads, read_board, reader_role, AppState};
use crate::error::AppError;
use crate::export::actions::ActionRow;
use crate::export::file::BoardFile;
use crate::export::{self, file};
use crate::history::{self, HistoryError};
use crate::store::{committed, BoardRecord};

/// The board as it is now.
async fn now(state: &AppState, id: &str, headers: &HeaderMap) -> Result<(BoardRecord, BoardSnapshot), AppError> {
    let record = read_board(state, id).await?;
    reader_role(state, &record, headers)?;
    let id = id.to_owned();
    let board = heavy_reads::run(state, move |store| -> Result<_, HistoryError> {
        let now = history::board_at(store, &id, store.last_seq(&id)?)?;
        let board = schema::Board::new(&now.doc).snapshot(&now.doc.transact());
        Ok(board)
    })
    .await?;
    Ok((record, board))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/export.svg",
    tag = "exports",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The board as a picture.", body = String, content_type = "image/svg+xml"), ReadErrors)
)]
/// `GET /api/boards/{id}/export.svg`: the board as an SVG picture.
pub(super) async fn svg(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (record, board) = now(&state, &id, &headers).await?;
    let picture = export::svg::render(&board);
    Ok(download(picture.svg.into_bytes(), "image/svg+xml; charset=utf-8", &record, "svg"))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/export.png",
    tag = "exports",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The board as a picture.", body = Binary, content_type = "image/png"), ReadErrors)
)]
/// `GET /api/boards/{id}/export.png`: the board as a PNG picture.
pub(super) async fn png(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (record, board) = now(&state, &id, &headers).await?;
    let picture = export::svg::render(&board);
    // Drawing a large board takes a while: off the async runtime, in a heavy read's turn.
    let turn = state.heavy_reads.turn().await?;
    let render = move || {
        let _turn = turn;
        export::png::render(&picture)
    };
    let png = tokio::task::spawn_blocking(render).await.expect("PNG render panicked");
    let png = png.map_err(|error| {
        tracing::error!(board = %id, %error, "PNG export failed");
        AppError::BadRequest(error.to_string())
    })?;
    Ok(download(png, "image/png", &record, "png"))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/actions.csv",
    tag = "exports",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The actions, oldest first, with a header row.", body = String, content_type = "text/csv"), ReadErrors)
)]
/// `GET /api/boards/{id}/actions.csv`: the actions as a table.
pub(super) async fn actions_csv(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (record, board) = now(&state, &id, &headers).await?;
    let csv = export::actions::csv(&board.actions);
    Ok(download(csv.into_bytes(), "text/csv; charset=utf-8; header=present", &record, "actions.csv"))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/actions.json",
    tag = "exports",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The actions, oldest first.", body = Vec<ActionRow>), ReadErrors)
)]
/// `GET /api/boards/{id}/actions.json`: the actions as JSON rows.
pub(super) async fn actions_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (_, board) = now(&state, &id, &headers).await?;
    Ok(Json(export::actions::rows(&board.actions)).into_response())
}

#[utoipa::path(
    get,
    path = "/boards/{id}/board.json",
    tag = "exports",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The whole board as a file, for `POST /api/boards` or `commonboard import`.", body = BoardFile), FacilitatorErrors)
)]
/// `GET /api/boards/{id}/board.json` (facilitator): the whole board as a file.
pub(super) async fn board_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let record = read_board(&state, &id).await?;
    authorize_facilitator(&state, &record, &headers)?;
    let exported = heavy_reads::run(&state, move |store| {
        let made = file::export(store, &record);
        made.map(|file| (record, file))
    })
    .await?;
    let (record, file) = exported;
    let body = serde_json::to_vec_pretty(&file).expect("a board file serializes");
    Ok(download(body, "application/json", &record, "board.json"))
}

/// `POST /api/boards` with a board file: a new board made of it; answers as a
/// creation does (201, the new board's facilitator links).
pub(super) async fn import(state: &AppState, body: serde_json::Value) -> Result<Response, AppError> {
    let imported = file::import(body).map_err(|error| {
        tracing::warn!(%error, "board file refused");
        AppError::BadRequest(error.to_string())
    })?;
    committed(state.registry.store().submit(imported.writes)).await?;
    let record = imported.record;
    tracing::info!(board = %record.id, "board imported");
    let links = super::links(state, &record);
    Ok((StatusCode::CREATED, Json(super::info(record, Some(Role::Facilitator), Some(links)))).into_response())
}

fn download(body: Vec<u8>, content_type: &'static str, record: &BoardRecord, suffix: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let file = format!("{}.{suffix}", super::minutes::file_stem(&record.title));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
