//! Errors at the HTTP edge: a status and a message safe to show; causes go to the log.
//!
//! No internal error text reaches a client: a store failure or a panic answers 500 with
//! a generic message and a short error id, and the same id is logged with the detail,
//! so an operator can find what a user saw.

use std::fmt::Display;

use axum::extract::rejection::JsonRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commonboard_protocol::api::ApiError;

use crate::auth::AuthError;
use crate::history::HistoryError;
use crate::store::StoreError;

/// What an HTTP handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Try again shortly (a board restarting, say).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Too many reads that rebuild a board are running and waiting: 503 with `Retry-After`.
    #[error(transparent)]
    Busy(#[from] crate::app::heavy_reads::Busy),
    /// A browser page of another site tried a WebSocket or a state-changing API call.
    #[error("requests from other websites are refused: open the board from this server's own address")]
    CrossSite,
    /// The request's body is over the server's limit (`--max-body-bytes`).
    #[error("request body larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The request's body is over a limit the handler does not know the value of (the
    /// body limit layer says which).
    #[error("request body too large")]
    TooLarge,
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge
        } else {
            AppError::BadRequest(rejection.body_text())
        }
    }
}

impl From<HistoryError> for AppError {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::NotFound => AppError::NotFound("board not found"),
            HistoryError::BadPoint(why) => AppError::BadRequest(why),
            HistoryError::Store(error) => AppError::Store(error),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Busy(busy) = &self {
            let body = Json(ApiError { error: busy.to_string() });
            return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, RETRY_BUSY_SECONDS)], body)
                .into_response();
        }
        let (status, message) = match &self {
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, what.to_string()),
            AppError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            AppError::Auth(AuthError::Missing) => (StatusCode::UNAUTHORIZED, AuthError::Missing.to_string()),
            AppError::Auth(error) => (StatusCode::FORBIDDEN, error.to_string()),
            AppError::Unavailable(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()),
            AppError::Busy(busy) => (StatusCode::SERVICE_UNAVAILABLE, busy.to_string()),
            AppError::CrossSite => (StatusCode::FORBIDDEN, self.to_string()),
            AppError::Store(StoreError::DiskFull) => {
                tracing::error!("the disk holding the store is full; refusing a change");
                (StatusCode::INSUFFICIENT_STORAGE, "the server's disk is full; try again once space is freed".into())
            }
            // The board (or the store's own rules) refused the change, with a reason for
            // the person who asked: a restore past the board's size limit, say.
            AppError::Store(StoreError::Refused { reason, .. }) => (StatusCode::CONFLICT, reason.clone()),
            AppError::Store(error) => return internal("store failed while serving a request", error),
            AppError::BodyTooLarge { .. } | AppError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string()),
        };
        (status, Json(ApiError { error: message })).into_response()
    }
}

/// When a client refused for [`AppError::Busy`] may try again, in seconds.
const RETRY_BUSY_SECONDS: &str = "1";

/// A 500 that tells the client only an error id; the id and `detail` are logged.
pub fn internal(what: &str, detail: &dyn Display) -> Response {
    let id = format!("{:08x}", rand::random::<u32>());
    tracing::error!(error_id = %id, error = %detail, "{what}");
    let message = format!("internal error (id {id}); the server log has the details");
    (StatusCode::INTERNAL_SERVER_ERROR, Json(ApiError { error: message })).into_response()
}
