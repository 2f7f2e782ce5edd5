//! `GET /api/boards/{id}/minutes.md` and `GET /api/boards/{id}/actions.ics`: the
//! workshop's minutes and its actions' due dates, made from the board as it is now.
//! Any link of the board may download them.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use commonboard_protocol::app::Role;
use commonboard_protocol::schema::{self, BoardSnapshot};
use yrs::Transact;

use super::{read_board, reader_role, AppState};
use crate::board::{now_ms, restore_vote};
use crate::error::AppError;
use crate::history::{self, HistoryError};
use crate::minutes::{self, Workshop};
use crate::store::BoardRecord;

/// The board now, its votes and who took part.
struct Made {
    record: BoardRecord,
    board: BoardSnapshot,
    votes: Vec<commonboard_protocol::app::VoteView>,
    participants: Vec<String>,
}

async fn read(state: &AppState, id: &str, headers: &HeaderMap) -> Result<Made, AppError> {
    let record = read_board(state, id).await?;
    let facilitator = reader_role(state, &record, headers)? == Some(Role::Facilitator);
    let store = state.registry.store().clone();
    let id = id.to_owned();
    let (board, votes, participants) = tokio::task::spawn_blocking(move || -> Result<_, HistoryError> {
        let last = store.last_seq(&id)?;
        let now = history::board_at(store.as_ref(), &id, last)?;
        let board = schema::Board::new(&now.doc).snapshot(&now.doc.transact());
        let votes = store.votes(&id)?.iter().filter_map(restore_vote).map(|v| v.view(facilitator)).collect();
        // Who changed the board, then who spoke in the turn order (people in the room
        // without a device among them).
        let mut participants: Vec<String> = store.authors(&id)?.into_iter().map(|a| a.name).collect();
        let flow = crate::workshop::Workshop::restore(store.workshop(&id)?.as_deref(), Vec::new());
        for person in flow.view().turns.map(|t| t.people).unwrap_or_default() {
            if !participants.contains(&person.name) {
                participants.push(person.name);
            }
        }
        Ok((board, votes, participants))
    })
    .await
    .expect("minutes read panicked")?;
    Ok(Made { record, board, votes, participants })
}

fn url(headers: &HeaderMap, state: &AppState, id: &str) -> String {
    format!("{}/b/{id}", super::join::base_url(state, headers))
}

/// `GET /api/boards/{id}/minutes.md`.
pub(super) async fn minutes_md(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let made = read(&state, &id, &headers).await?;
    let url = url(&headers, &state, &id);
    let generated_at = history::rfc3339(now_ms());
    let text = minutes::minutes(&Workshop {
        board: &made.board,
        votes: &made.votes,
        participants: &made.participants,
        url: &url,
        generated_at: &generated_at,
    });
    Ok(download(text, "text/markdown; charset=utf-8", &format!("{}-minutes.md", file_stem(&made.record.title))))
}

/// `GET /api/boards/{id}/actions.ics`.
pub(super) async fn actions_ics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let made = read(&state, &id, &headers).await?;
    let stamp = history::rfc3339(now_ms());
    // RFC 3339 `2026-11-23T22:00:00.000Z` as iCalendar's `20261123T220000Z`.
    let stamp: String = stamp.chars().filter(|c| c.is_ascii_digit() || *c == 'T').take(15).collect::<String>() + "Z";
    let text = minutes::actions_ics(&id, &made.record.title, &made.board.actions, &stamp, &url(&headers, &state, &id));
    Ok(download(text, "text/calendar; charset=utf-8", &format!("{}-actions.ics", file_stem(&made.record.title))))
}

fn download(body: String, content_type: &'static str, file: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// A file name from a board's title: letters and digits, words joined by `-`.
pub(super) fn file_stem(title: &str) -> String {
    let words: Vec<String> = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .take(8)
        .collect();
    if words.is_empty() {
        "board".into()
    } else {
        words.join("-")
    }
}
