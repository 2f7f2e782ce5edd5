//! The API's request body limit (`--max-body-bytes`): a bigger body gets 413 with the
//! API's JSON error, before the handler reads it when its length is announced.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tracing::warn;
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
use crate::telemetry::{self, Limit};

/// Limits every request body of `router` to `limit` bytes.
pub fn layer<S: Clone + Send + Sync + 'static>(router: OpenApiRouter<S>, limit: usize) -> OpenApiRouter<S> {
    router.layer(middleware::from_fn_with_state(limit, refuse_large)).layer(DefaultBodyLimit::max(limit))
}

/// Refuses a body announced as too large; turns the extractors' refusal of a body found
/// too large while reading (no length announced) into the same answer.
async fn refuse_large(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let announced =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let path = request.uri().path().to_owned();
    if announced.is_some_and(|length| length > limit as u64) {
        return refused(&path, limit);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return refused(&path, limit);
    }
    response
}

fn refused(path: &str, limit: usize) -> Response {
    telemetry::refused(Limit::BodySize);
    warn!(path, limit, "request body over the limit; refused with 413");
    AppError::BodyTooLarge { limit }.into_response()
}
