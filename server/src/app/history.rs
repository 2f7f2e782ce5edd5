//! The history API: `GET /api/boards/{id}/history`, `/state`, `/diff`, `/timeline`,
//! `/updates`, and `POST /api/boards/{id}/restore` (facilitator). Any link of the board
//! may read its history; only the facilitator may restore.

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use commonboard_protocol::api::ApiError;
use commonboard_protocol::app::Role;
use commonboard_protocol::history::{
    BoardDiff, BoardStateAt, HistoryAuthor, HistoryPage, LoggedUpdate, RestoreRequest, RestoreResult, Timeline,
    UpdatePage,
};
use commonboard_protocol::schema;
use serde::Deserialize;
use utoipa::IntoParams;
use yrs::{StateVector, Transact};

use super::openapi::{Binary, BoardId, FacilitatorErrors, ReadErrors};
use super::{authorize_facilitator, clip, heavy_reads, read_board, reader_role, AppState};
use crate::board::{BoardCmd, BoardError};
use crate::error::AppError;
use crate::history::{self, page::PageQuery, parse_time, HistoryError, Point};
use crate::store::{Author, Store};

/// Most updates one `/updates` page returns.
const MAX_UPDATES_PAGE: u32 = 5000;
/// Most update bytes one `/updates` page returns (before base64): the page ends at the
/// update that reaches it, and `next_from` says where to go on. A page always holds at
/// least one update, however large (at most `--max-update-bytes`).
const MAX_UPDATES_PAGE_BYTES: usize = 4 << 20;
/// Updates read from the store at a time while filling a page, so that a page of
/// large updates never holds more than its budget plus one batch in memory.
const UPDATES_BATCH: u64 = 64;
/// Restores tried again when the board was unloading at that moment.
const RESTORE_ATTEMPTS: usize = 3;

/// Checks that the caller may read the board; returns its role (none on an open server
/// reached without a token).
async fn reader(state: &AppState, id: &str, headers: &HeaderMap) -> Result<Option<Role>, AppError> {
    let record = read_board(state, id).await?;
    Ok(reader_role(state, &record, headers)?)
}

/// Runs a history read on the blocking pool, in a heavy read's turn.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&dyn Store) -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, AppError> {
    heavy_reads::run(state, read).await
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, AppError> {
    query.map(|Query(q)| q).map_err(|rejection| AppError::BadRequest(rejection.body_text()))
}

/// A point from `at` (sequence number) or `time` (RFC 3339); the newest when neither.
fn point(at: Option<u64>, time: Option<&str>) -> Result<Option<Point>, AppError> {
    match (at, time) {
        (Some(_), Some(_)) => Err(AppError::BadRequest("give either `at` or `time`, not both".into())),
        (Some(seq), None) => Ok(Some(Point::Seq(seq))),
        (None, Some(time)) => Ok(Some(Point::Time(parse_time(time)?))),
        (None, None) => Ok(None),
    }
}

/// Resolves an optional point, the newest when absent.
fn resolve(store: &dyn Store, id: &str, point: Option<Point>) -> Result<u64, HistoryError> {
    match point {
        Some(point) => history::resolve(store, id, point),
        None => Ok(store.last_seq(id)?),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HistoryQuery {
    /// Entries older than this point (the previous page's `next_before`).
    before: Option<u64>,
    /// Most entries in the page (50 when absent).
    limit: Option<u32>,
    /// Changes at or after this time, RFC 3339.
    since: Option<String>,
    /// Changes at or before this time, RFC 3339.
    until: Option<String>,
    /// Changes by this author id only.
    author: Option<String>,
}

#[utoipa::path(
    get,
    path = "/boards/{id}/history",
    tag = "history",
    params(BoardId, HistoryQuery),
    security(("bearer" = []), ()),
    responses((status = 200, description = "A page of the board's history, newest first.", body = HistoryPage), ReadErrors)
)]
/// `GET /api/boards/{id}/history?before=&limit=&since=&until=&author=`.
pub(super) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, AppError> {
    let params = query(params)?;
    reader(&state, &id, &headers).await?;
    let page_query = PageQuery {
        before: params.before.unwrap_or(u64::MAX),
        limit: params.limit.unwrap_or(50),
        since_ms: params.since.as_deref().map(parse_time).transpose()?,
        until_ms: params.until.as_deref().map(parse_time).transpose()?,
        author: params.author,
    };
    Ok(Json(blocking(&state, move |store| history::page::page(store, &id, &page_query)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct StateQuery {
    /// The point, by sequence number (the newest when neither `at` nor `time` is given).
    at: Option<u64>,
    /// The point, by server time (RFC 3339).
    time: Option<String>,
    /// `json` (the default), or `yjs` for the document's state as a Yjs update.
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/boards/{id}/state",
    tag = "history",
    params(BoardId, StateQuery),
    security(("bearer" = []), ()),
    responses(
        (status = 200, description = "The board at the point: as JSON, or with `format=yjs` as a Yjs update \
            (v1), whose `x-commonboard-seq` header says the point shown and `x-commonboard-exact` whether it is \
            the one asked for.",
            content((BoardStateAt = "application/json"), (Binary = "application/octet-stream"))),
        ReadErrors,
    )
)]
/// `GET /api/boards/{id}/state?at=SEQ|time=RFC3339[&format=yjs]`.
pub(super) async fn state(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<StateQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let params = query(params)?;
    let yjs = match params.format.as_deref() {
        None | Some("json") => false,
        Some("yjs") => true,
        Some(other) => return Err(AppError::BadRequest(format!("unknown format {other:?}; use json or yjs"))),
    };
    let point = point(params.at, params.time.as_deref())?;
    reader(&state, &id, &headers).await?;
    // Encoded on the blocking pool too, then the document goes back to the pool.
    let cache = state.history.clone();
    let (answer, shown, at_ms, asked) = blocking(&state, move |store| {
        let seq = resolve(store, &id, point)?;
        // The Yjs view needs no document: the stored forms stitched.
        if yjs {
            if let Some(past) = history::stitched::state_at(store, &id, seq)? {
                return Ok((Answer::Yjs(past.update), past.seq, past.at_ms, seq));
            }
        }
        let past = cache.board_at(store, &id, seq)?;
        let answer = if yjs {
            Answer::Yjs(crate::doc::sync_reply(&past.doc, &StateVector::default()))
        } else {
            Answer::Json(schema::Board::new(&past.doc).snapshot(&past.doc.transact()))
        };
        let (shown, at_ms) = (past.seq, past.at_ms);
        cache.keep(&id, past);
        Ok((answer, shown, at_ms, seq))
    })
    .await?;
    let exact = shown == asked;
    match answer {
        Answer::Yjs(update) => {
            let mut response = Body::from(update).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            headers.insert("x-commonboard-seq", HeaderValue::from(shown));
            headers.insert("x-commonboard-exact", HeaderValue::from_static(if exact { "true" } else { "false" }));
            Ok(response)
        }
        Answer::Json(board) => {
            Ok(Json(BoardStateAt { seq: shown, at: history::rfc3339(at_ms), exact, board }).into_response())
        }
    }
}

/// The board at a point in the format asked for.
enum Answer {
    Yjs(Vec<u8>),
    Json(schema::BoardSnapshot),
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DiffQuery {
    /// The earlier point.
    from: u64,
    /// The later point (the newest when absent).
    to: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/boards/{id}/diff",
    tag = "history",
    params(BoardId, DiffQuery),
    security(("bearer" = []), ()),
    responses((status = 200, description = "How the board differs between the two points.", body = BoardDiff), ReadErrors)
)]
/// `GET /api/boards/{id}/diff?from=A&to=B` (`to` defaults to the newest point).
pub(super) async fn diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<BoardDiff>, AppError> {
    let params = query(params)?;
    reader(&state, &id, &headers).await?;
    let cache = state.history.clone();
    let diff = blocking(&state, move |store| {
        let to = resolve(store, &id, params.to.map(Point::Seq))?;
        let from = history::resolve(store, &id, Point::Seq(params.from))?;
        let read = |seq| -> Result<_, HistoryError> {
            let past = cache.board_at(store, &id, seq)?;
            let snapshot = schema::Board::new(&past.doc).snapshot(&past.doc.transact());
            let shown = past.seq;
            cache.keep(&id, past);
            Ok((shown, snapshot))
        };
        let ((from, before), (to, after)) = (read(from)?, read(to)?);
        Ok(history::diff::diff(from, &before, to, &after))
    })
    .await?;
    Ok(Json(diff))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TimelineQuery {
    /// Stretches of time (120 when absent).
    buckets: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/boards/{id}/timeline",
    tag = "history",
    params(BoardId, TimelineQuery),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The session at a glance.", body = Timeline), ReadErrors)
)]
/// `GET /api/boards/{id}/timeline?buckets=N`.
pub(super) async fn timeline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Timeline>, AppError> {
    let buckets = query(params)?.buckets.unwrap_or(120);
    reader(&state, &id, &headers).await?;
    Ok(Json(blocking(&state, move |store| history::timeline::timeline(store, &id, buckets)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UpdatesQuery {
    /// The first point (1 when absent).
    from: Option<u64>,
    /// Most updates (1,000 when absent, at most 5,000).
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/boards/{id}/updates",
    tag = "history",
    params(BoardId, UpdatesQuery),
    security(("bearer" = []), ()),
    responses((status = 200, description = "Logged updates, oldest first.", body = UpdatePage), ReadErrors)
)]
/// `GET /api/boards/{id}/updates?from=SEQ&limit=N`: logged updates for playback, at most
/// `N` (up to 5,000) and at most [`MAX_UPDATES_PAGE_BYTES`] of them; `next_from` says
/// where the next page starts.
pub(super) async fn updates(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<UpdatesQuery>, QueryRejection>,
) -> Result<Json<UpdatePage>, AppError> {
    let params = query(params)?;
    reader(&state, &id, &headers).await?;
    let from = params.from.unwrap_or(1).max(1);
    let limit = params.limit.unwrap_or(1000).clamp(1, MAX_UPDATES_PAGE) as u64;
    let page = blocking(&state, move |store| {
        let last = store.last_seq(&id)?;
        let end = from.saturating_add(limit - 1).min(last);
        let engine = base64::engine::general_purpose::STANDARD;
        let (mut updates, mut bytes, mut next_from) = (Vec::new(), 0usize, from.saturating_add(limit));
        let mut at = from;
        'read: while at <= end {
            let batch_end = at.saturating_add(UPDATES_BATCH - 1).min(end);
            let entries = store.log(&id, at, batch_end)?;
            for e in entries {
                if !updates.is_empty() && bytes + e.update.len() > MAX_UPDATES_PAGE_BYTES {
                    next_from = e.seq;
                    break 'read;
                }
                bytes += e.update.len();
                next_from = e.seq + 1;
                updates.push(LoggedUpdate {
                    seq: e.seq,
                    at_ms: e.at_ms as f64,
                    author: HistoryAuthor { id: e.author.id, name: e.author.name },
                    update: engine.encode(&e.update),
                });
            }
            at = batch_end + 1;
        }
        Ok(UpdatePage { updates, next_from: (next_from <= last).then_some(next_from) })
    })
    .await?;
    Ok(Json(page))
}

#[utoipa::path(
    post,
    path = "/boards/{id}/restore",
    tag = "history",
    params(BoardId),
    request_body = RestoreRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the restore did.", body = RestoreResult),
        (status = 409, description = "The board refused the change (over its size limit, say).", body = ApiError),
        FacilitatorErrors,
    )
)]
/// `POST /api/boards/{id}/restore` (facilitator): returns the board to a past point as
/// a new forward change that every connected client receives.
pub(super) async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RestoreRequest>, JsonRejection>,
) -> Result<Json<RestoreResult>, AppError> {
    let Json(request) = body.map_err(AppError::from)?;
    let record = read_board(&state, &id).await?;
    let claims = authorize_facilitator(&state, &record, &headers)?;
    let point = point(request.at, request.time.as_deref())?
        .ok_or_else(|| AppError::BadRequest("say which point to restore: `at` or `time`".into()))?;
    let name = request.name.as_deref().map(clip).filter(|n| !n.is_empty()).unwrap_or_else(|| "Facilitator".into());
    let author_id = claims.identity.clone().unwrap_or_else(|| crate::auth::FACILITATOR_ID.to_owned());
    let by = Author { id: author_id, name };
    let (to_seq, past_state) = {
        let (id, cache) = (id.clone(), state.history.clone());
        blocking(&state, move |store| {
            let seq = history::resolve(store, &id, point)?;
            if let Some(past) = history::stitched::state_at(store, &id, seq)? {
                return Ok((past.seq, past.update));
            }
            let past = cache.board_at(store, &id, seq)?;
            let state = crate::doc::sync_reply(&past.doc, &StateVector::default());
            let shown = past.seq;
            cache.keep(&id, past);
            Ok((shown, state))
        })
        .await?
    };
    for _ in 0..RESTORE_ATTEMPTS {
        let (board, _pending) = match state.registry.load(&id).await {
            Ok(loaded) => loaded,
            Err(BoardError::TooManyBoards { .. }) => {
                return Err(AppError::Unavailable("the server has too many boards in use; try again later"))
            }
            Err(_) => continue,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let cmd = BoardCmd::Restore { to_seq, state: past_state.clone(), by: by.clone(), reply };
        if board.tx.send(cmd).await.is_err() {
            continue;
        }
        // A dropped reply means the board unloaded meanwhile: try its next load.
        if let Ok(result) = answer.await {
            let result = result?;
            tracing::info!(board = %id, to_seq, seq = result.seq, changed = result.changed, "restore done");
            return Ok(Json(result));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(AppError::Unavailable("the board is restarting; try again in a moment"))
}
