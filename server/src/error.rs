//! Errors at the HTTP edge: a status and a message safe to show; causes go to the log.

use axum::http::StatusCode;
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
        let (status, message) = match &self {
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, what.to_string()),
            AppError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            AppError::Auth(AuthError::Missing) => (StatusCode::UNAUTHORIZED, AuthError::Missing.to_string()),
            AppError::Auth(error) => (StatusCode::FORBIDDEN, error.to_string()),
            AppError::Unavailable(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()),
            AppError::Store(StoreError::DiskFull) => {
                tracing::error!("the disk holding the store is full; refusing a change");
                (StatusCode::INSUFFICIENT_STORAGE, "the server's disk is full; try again once space is freed".into())
            }
            AppError::Store(error) => {
                tracing::error!(%error, "store failed while serving a request");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has the details".into())
            }
        };
        (status, Json(ApiError { error: message })).into_response()
    }
}
