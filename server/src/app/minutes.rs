//! `GET /api/boards/{id}/minutes.md` and `GET /api/boards/{id}/actions.ics`: the
//! workshop's minutes and its actions' due dates, made from the board as it is now.
//! Any link of the board may download them.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use commonboard_protocol::app::Role;
use commonboard_protocol::schema::{self, BoardSnapshot};
use serde::Deserialize;
use yrs::Transact;

use super::openapi::{BoardId, ReadErrors};
use super::{heavy_reads, read_board, reader_role, AppState};
use crate::board::now_ms;
use crate::error::AppError;
use crate::history::{self, HistoryError};
use crate::minutes::{self, Workshop};
use crate::store::BoardRecord;
use crate::vote::Vote;

/// The reader's time zone, from the web client: minutes give times in it.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LocalTime {
    /// Minutes east of UTC (the opposite of JavaScript's `getTimezoneOffset()`).
    offset: Option<i32>,
    /// The zone's name, e.g. `Europe/Paris`, shown beside the time.
    zone: Option<String>,
}

/// Most minutes a time zone is away from UTC (UTC+14:00).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

impl LocalTime {
    /// `at_ms` as `2026-12-07 10:15 UTC+01:00 (Europe/Paris)`, in UTC without an offset.
    fn format(&self, at_ms: i64) -> String {
        let offset = self.offset.filter(|o| o.abs() <= MAX_OFFSET_MINUTES).unwrap_or(0);
        let local = history::rfc3339(at_ms + i64::from(offset) * 60_000);
        let (date, time) = (&local[..10], &local[11..16]);
        let sign = if offset < 0 { '-' } else { '+' };
        let zone = self.zone.as_deref().filter(|z| {
            (1..=64).contains(&z.len()) && z.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        });
        let name = zone.map(|z| format!(" ({z})")).unwrap_or_default();
        format!("{date} {time} UTC{sign}{:02}:{:02}{name}", offset.abs() / 60, offset.abs() % 60)
    }
}

/// The board now, its votes and who took part.
struct Made {
    record: BoardRecord,
    /// The reader's role (none on an open server without a token).
    role: Option<Role>,
    board: BoardSnapshot,
    votes: Vec<commonboard_protocol::app::VoteView>,
    participants: Vec<String>,
}

async fn read(state: &AppState, id: &str, headers: &HeaderMap) -> Result<Made, AppError> {
    let record = read_board(state, id).await?;
    let role = reader_role(state, &record, headers)?;
    let facilitator = role == Some(Role::Facilitator);
    let id = id.to_owned();
    let (board, votes, participants) = heavy_reads::run(state, move |store| -> Result<_, HistoryError> {
        let last = store.last_seq(&id)?;
        let now = history::board_at(store, &id, last)?;
        let board = schema::Board::new(&now.doc).snapshot(&now.doc.transact());
        let votes: Vec<_> =
            store.votes(&id)?.iter().filter_map(Vote::from_stored).map(|v| v.view(facilitator)).collect();
        // Who changed the board, then who spoke in the turn order (people in the room
        // without a device among them).
        let mut participants: Vec<String> = store.authors(&id)?.into_iter().map(|a| a.name).collect();
        let flow = crate::workshop::Workshop::from_stored_state(store.workshop(&id)?.as_deref(), Vec::new());
        let in_turns = flow.view().turns.map(|t| t.people).unwrap_or_default();
        for person in flow.roster().iter().chain(&in_turns) {
            if !participants.contains(&person.name) {
                participants.push(person.name.clone());
            }
        }
        // And who voted without changing the board (named in tallies that name voters).
        for vote in &votes {
            for tally in vote.tally.iter().flatten() {
                for (name, _) in tally.voters.iter().flatten() {
                    if !participants.contains(name) {
                        participants.push(name.clone());
                    }
                }
            }
        }
        Ok((board, votes, participants))
    })
    .await?;
    Ok(Made { record, role, board, votes, participants })
}

fn url(headers: &HeaderMap, state: &AppState, id: &str) -> String {
    format!("{}/b/{id}", super::join::base_url(state, headers))
}

/// Links into the board for the minutes' readers: the participants' link for a reader
/// who may edit, the read-only link for everyone (none on an open server, whose plain
/// address opens the board).
fn ways_in(headers: &HeaderMap, state: &AppState, made: &Made) -> (Option<String>, Option<String>) {
    let Some(role) = made.role else { return (None, None) };
    let links = super::links(state, &made.record);
    let base = super::join::base_url(state, headers);
    let edit = (role != Role::Viewer).then(|| format!("{base}{}", links.participant));
    (edit, Some(format!("{base}{}", links.viewer)))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/minutes.md",
    tag = "exports",
    params(BoardId, LocalTime),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The minutes, as a Markdown file.", body = String, content_type = "text/markdown"), ReadErrors)
)]
/// `GET /api/boards/{id}/minutes.md`: the workshop's minutes.
pub(super) async fn minutes_md(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(local): Query<LocalTime>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let made = read(&state, &id, &headers).await?;
    let url = url(&headers, &state, &id);
    let generated_at = local.format(now_ms());
    let (edit_url, view_url) = ways_in(&headers, &state, &made);
    let text = minutes::minutes(&Workshop {
        board: &made.board,
        votes: &made.votes,
        participants: &made.participants,
        url: &url,
        edit_url: edit_url.as_deref(),
        view_url: view_url.as_deref(),
        generated_at: &generated_at,
    });
    Ok(download(text, "text/markdown; charset=utf-8", &format!("{}-minutes.md", file_stem(&made.record.title))))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/actions.ics",
    tag = "exports",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The actions with a due date, as an iCalendar file.", body = String, content_type = "text/calendar"), ReadErrors)
)]
/// `GET /api/boards/{id}/actions.ics`: the actions' due dates as calendar entries.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_times_are_local_with_their_zone() {
        let at = 1_796_636_100_000; // 2026-12-07T09:35:00Z
        let paris = LocalTime { offset: Some(60), zone: Some("Europe/Paris".into()) };
        assert_eq!(paris.format(at), "2026-12-07 10:35 UTC+01:00 (Europe/Paris)");
        let far = LocalTime { offset: Some(-570), zone: Some("<script>".into()) };
        assert_eq!(far.format(at), "2026-12-07 00:05 UTC-09:30", "an odd zone name is left out");
        assert_eq!(LocalTime::default().format(at), "2026-12-07 09:35 UTC+00:00");
    }
}
