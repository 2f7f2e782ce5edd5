//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`.
//!
//! Nothing here is written by hand but the words: each handler's `#[utoipa::path]`
//! gives its method, path, parameters and answers, and the same annotation registers
//! the route (`utoipa_axum::routes!` in [`super::routes`]), so a route and its
//! description come from one place; the bodies' schemas come from their types
//! (`ToSchema`, the protocol crate's behind its `openapi` feature). A test walks the
//! router's route table and fails on a route the document does not describe.

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use commonboard_protocol::api::ApiError;
use serde::Deserialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi};

/// The document's frame: title, authentication, shared schemas; [`super::routes`] adds
/// the paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Commonboard",
        description = "The HTTP API of a Commonboard server: boards, their access links, votes, \
        history, exports and webhooks. Board endpoints take the board's access token as \
        `Authorization: Bearer <token>` (the token is the `token` parameter of the link the \
        facilitator shares); the WebSocket `/ws/{board}` takes it as `?token=`. On a server \
        started with `--open`, boards may also be read without a token. Errors answer \
        `{\"error\": \"...\"}`.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later")
    ),
    modifiers(&Security),
    components(schemas(ApiError)),
    tags(
        (name = "boards", description = "Creating boards and managing their links and people."),
        (name = "votes", description = "Votes and their tallies."),
        (name = "history", description = "The board at any past point, what changed, and restores."),
        (name = "exports", description = "Minutes, pictures, tables and the whole board as a file."),
        (name = "webhooks", description = "URLs told about a board's events."),
        (name = "server", description = "Health, metrics, the WebSocket and this document.")
    )
)]
pub struct ApiDoc;

/// The two ways a token is sent: a bearer header over HTTP, `?token=` on the WebSocket.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A board's access token: the `token` parameter of its link."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A board's access token as a query parameter (the WebSocket only).",
            ))),
        );
    }
}

/// Adds what the layers around every route may answer (see `security::protect`): 421
/// for a request naming another host. Run on the finished document, paths and all.
pub fn finish(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let refused = ResponseBuilder::new()
        .description("The request's `Host` is not a name this server answers to (`--public-url`, `--allowed-hosts`).")
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build())
        .build();
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation.responses.responses.entry("421".to_owned()).or_insert_with(|| refused.clone().into());
        }
    }
}

/// The `{id}` of a board path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BoardId {
    /// The board's id (32 hex digits).
    #[allow(dead_code)]
    pub id: String,
}

/// Errors of a board endpoint any link of the board may call.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// A parameter is malformed or out of range.
    #[response(status = 400)]
    BadRequest(ApiError),
    /// No token, on a server that is not `--open`.
    #[response(status = 401)]
    Unauthorized(ApiError),
    /// The token is invalid, expired, revoked, for another board, or its person was removed.
    #[response(status = 403)]
    Forbidden(ApiError),
    /// No such board.
    #[response(status = 404)]
    NotFound(ApiError),
    /// The server failed; the message holds an error id for its log.
    #[response(status = 500)]
    Internal(ApiError),
    /// The server is rebuilding as many boards as it can at once (`--max-heavy-reads`);
    /// `Retry-After` says when to try again.
    #[response(status = 503)]
    Busy(ApiError),
}

/// Errors of a board endpoint only the facilitator's link may call.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum FacilitatorErrors {
    /// The body or a parameter is malformed.
    #[response(status = 400)]
    BadRequest(ApiError),
    /// No token.
    #[response(status = 401)]
    Unauthorized(ApiError),
    /// Not the facilitator's link, or the token is invalid, expired or revoked; or a
    /// page of another website made the request.
    #[response(status = 403)]
    Forbidden(ApiError),
    /// No such board.
    #[response(status = 404)]
    NotFound(ApiError),
    /// The body is over the server's limit (`--max-body-bytes`).
    #[response(status = 413)]
    TooLarge(ApiError),
    /// The server failed; the message holds an error id for its log.
    #[response(status = 500)]
    Internal(ApiError),
    /// The board is restarting, the server is full, or it is rebuilding as many boards
    /// as it can at once; try again shortly (`Retry-After`, when given).
    #[response(status = 503)]
    Unavailable(ApiError),
    /// The server's disk is full.
    #[response(status = 507)]
    DiskFull(ApiError),
}

/// A body of bytes (a PNG picture, a Yjs update): a string of binary content.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct Binary(Vec<u8>);

/// The document, as served.
#[derive(Clone)]
pub struct Document(pub Arc<str>);

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "server",
    responses((status = 200, description = "This document (OpenAPI 3.1).", body = serde_json::Value))
)]
/// This API's OpenAPI 3.1 document. Needs no token: it describes no secrets.
pub(super) async fn document(Extension(document): Extension<Document>) -> Response {
    let mut response = document.0.to_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::super::creation_limit::{CreationLimiter, CreationRate};
    use super::super::{routes, AppState};

    /// Methods as `axum`'s `MethodRouter` names its fields.
    const METHODS: [&str; 9] = ["get", "head", "delete", "options", "patch", "post", "put", "trace", "connect"];

    /// `(method, path)` pairs.
    type Table = BTreeSet<(String, String)>;

    fn app() -> (axum::Router<AppState>, serde_json::Value) {
        let rate = CreationRate { per_minute: 0.0, burst: 1, global_per_minute: 0.0 };
        let (router, document) = routes(Arc::new(CreationLimiter::new(rate)), 1 << 20);
        (router, serde_json::to_value(&document).expect("the document serializes"))
    }

    /// What the router answers, read from its `Debug` form (axum has no other way to
    /// list a router's routes): the paths by route id, and the methods each route id
    /// has a handler for. A route added as a whole service (no methods known) shows as
    /// method `*`, which no document describes.
    fn route_table(router: &axum::Router<AppState>) -> Table {
        let text = format!("{router:?}");
        let start = text.find("path_router: PathRouter").expect("axum's Router Debug names its path_router");
        let end = text[start..].find("fallback_router:").map_or(text.len(), |i| start + i);
        let text = &text[start..end];
        let paths_at = text.find("paths: {").expect("axum's Node Debug names its paths");
        let (routes, paths) = text.split_at(paths_at);
        let mut path_of = std::collections::HashMap::new();
        for entry in paths["paths: {".len()..].split("RouteId(").skip(1) {
            let (id, rest) = entry.split_once("): \"").expect("RouteId(n): \"path\"");
            let path = rest.split('"').next().expect("a quoted path");
            path_of.insert(id.to_owned(), path.to_owned());
        }
        let mut table = Table::new();
        for entry in routes.split("RouteId(").skip(1) {
            let (id, rest) = entry.split_once("): ").expect("RouteId(n): endpoint");
            let path = path_of.get(id).unwrap_or_else(|| panic!("route id {id} has no path")).clone();
            if !rest.starts_with("MethodRouter(") {
                table.insert(("*".to_owned(), path));
                continue;
            }
            let fields = rest.split(", fallback:").next().expect("a MethodRouter");
            for method in METHODS {
                let value = fields
                    .split_once(&format!(" {method}: "))
                    .map(|(_, value)| value)
                    .unwrap_or_else(|| panic!("MethodRouter Debug lacks {method}"));
                if !value.starts_with("None") {
                    table.insert((method.to_owned(), path.clone()));
                }
            }
        }
        table
    }

    fn documented(document: &serde_json::Value) -> Table {
        let paths = document["paths"].as_object().expect("the document has paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("a path item");
                METHODS.iter().filter(|m| item.contains_key(**m)).map(move |m| ((*m).to_owned(), path.clone()))
            })
            .collect()
    }

    /// Every route the router answers is in the document, and the document describes
    /// nothing the router does not answer.
    #[test]
    fn the_document_describes_every_route() {
        let (router, document) = app();
        let table = route_table(&router);
        assert!(table.len() >= 30, "the route table looks too short to be right: {table:?}");
        let described = documented(&document);
        let undescribed: Vec<_> = table.difference(&described).collect();
        assert!(undescribed.is_empty(), "routes without a description (register them with `routes!`): {undescribed:?}");
        let unrouted: Vec<_> = described.difference(&table).collect();
        assert!(unrouted.is_empty(), "described but not routed: {unrouted:?}");
    }

    /// Each operation says what it does, declares its path parameters, and documents
    /// its answers; each answer has a description.
    #[test]
    fn every_operation_is_described() {
        let (_, document) = app();
        assert_eq!(document["openapi"], "3.1.0");
        for (method, path) in documented(&document) {
            let operation = &document["paths"][&path][&method];
            let words = operation["description"].as_str().or(operation["summary"].as_str()).unwrap_or("");
            assert!(!words.trim().is_empty(), "{method} {path} has no description (a doc comment on its handler)");
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let in_path: BTreeSet<&str> =
                path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name).collect();
            assert_eq!(declared, in_path, "{method} {path}: path parameters");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} documents no response");
            for (status, response) in responses {
                let words = response["description"].as_str().unwrap_or("");
                assert!(!words.trim().is_empty(), "{method} {path} {status} has no description");
            }
        }
    }

    /// The check above is real: a route added without its description is seen.
    #[test]
    fn a_route_added_without_a_description_is_seen() {
        let (router, document) = app();
        let router = router
            .route("/api/undescribed", axum::routing::get(|| async {}))
            .route_service("/api/service", axum::routing::get(|| async {}).with_state(()));
        let table = route_table(&router);
        let described = documented(&document);
        let undescribed: Table = table.difference(&described).cloned().collect();
        let expected: Table =
            [("get", "/api/undescribed"), ("*", "/api/service")].map(|(m, p)| (m.to_owned(), p.to_owned())).into();
        assert_eq!(undescribed, expected);
    }
}
