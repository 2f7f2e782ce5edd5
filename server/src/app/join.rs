//! `GET /api/boards/{id}/join.svg`: a QR code, drawn by the server (no outside
//! service), that opens the phone capture page with the board's participant link. The
//! presentation view shows it on the big screen so people in the room can join.
//!
//! It hands out a participant token, so only the facilitator and the big screen's
//! presenter link (which the facilitator creates) may draw it: a viewer, a participant
//! or a personal link gets 403.
//!
//! `GET /api/boards/{id}/me.svg` is a person's own QR code: asked with a personal
//! token, it holds that same token (nothing more), so the laptop's screen takes the
//! same person to their phone.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use commonboard_protocol::app::Role;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::openapi::{BoardId, ReadErrors};
use super::{authorize, claims, read_board, AppState};
use crate::auth::AuthError;
use crate::error::AppError;

#[utoipa::path(
    get,
    path = "/boards/{id}/join.svg",
    tag = "boards",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The QR code, its link in `x-commonboard-join-url`.", body = String, content_type = "image/svg+xml"), ReadErrors)
)]
/// The room's join code: a QR code of a participant link. The facilitator's link or
/// the presenter link may draw it.
pub(super) async fn join_qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let record = read_board(&state, &id).await?;
    let caller = authorize(&state, &record, &headers)?;
    if !(caller.role == Role::Facilitator || caller.role == Role::Viewer && caller.presenter) {
        tracing::warn!(board = %id, role = ?caller.role, "join code asked without the facilitator's or presenter's link");
        return Err(AuthError::Forbidden.into());
    }
    let token = state.signer.sign(&claims(&state, &record, Role::Participant));
    let url = format!("{}/b/{id}/capture?token={token}", base_url(&state, &headers));
    qr_response(&url)
}

#[utoipa::path(
    get,
    path = "/boards/{id}/me.svg",
    tag = "boards",
    params(BoardId),
    security(("bearer" = [])),
    responses((status = 200, description = "The QR code, its link in `x-commonboard-join-url`.", body = String, content_type = "image/svg+xml"), ReadErrors)
)]
/// The caller's own personal link as a QR code: only for a personal token, which it
/// holds unchanged.
pub(super) async fn my_qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let record = read_board(&state, &id).await?;
    let caller = authorize(&state, &record, &headers)?;
    if caller.role != Role::Participant || caller.identity.is_none() {
        return Err(AppError::BadRequest("only a person's own personal link has a QR code here".into()));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let url = format!("{}/b/{id}/capture?token={token}", base_url(&state, &headers));
    qr_response(&url)
}

/// An SVG QR code of `url`, with the URL in `x-commonboard-join-url`.
fn qr_response(url: &str) -> Result<Response, AppError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| AppError::BadRequest(format!("the join link does not fit in a QR code: {e}")))?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .dark_color(svg::Color("#111111"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let mut response = image.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(url) {
        headers.insert("x-commonboard-join-url", value);
    }
    Ok(response)
}

/// Where phones reach this server: `--public-url` when set, else the address the
/// request came to (which is what the big screen's browser used).
pub(super) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(public) = &state.public_url {
        return public.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{scheme}://{host}")
}
