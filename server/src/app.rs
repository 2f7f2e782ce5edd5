//! HTTP routes: the board API, the WebSocket endpoint, health, and the web client.
//!
//! Every board endpoint but creation takes the board's access token, as
//! `Authorization: Bearer …` over HTTP and as `?token=…` on the WebSocket (which is how
//! the y-websocket provider's `params` option sends it). In `--open` mode a board may
//! also be reached without a token, as a participant.
//!
//! Who a connection is comes from its token only: a personal token names its person;
//! a shared participant link (or an open board reached without a token) gets a person
//! id the server chooses for that connection, and the board hands the client a
//! personal token for it. `?name=` is a display name, a label, never a key.

mod body_limit;
pub mod creation_limit;
mod export;
pub mod heavy_reads;
mod history;
pub mod hosts;
mod join;
mod links;
mod minutes;
pub mod openapi;
pub mod security;
pub mod web;
mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use commonboard_protocol::api::{ApiError, BoardInfo, BoardLinks, CreateBoardRequest, TemplateInfo};
use commonboard_protocol::app::{Role, VoteView};
use commonboard_protocol::close;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, AuthError, Claims, Signer};
use crate::board::{now_ms, Member};
use crate::connection::{self, ConnLimits};
use crate::error::AppError;
use crate::listener::Peer;
use crate::registry::{is_valid_board_id, new_board, new_board_id, Registry};
use crate::store::{committed, Author, BoardRecord};
use crate::templates;
use crate::vote::Vote;
use openapi::{BoardId, ReadErrors};

/// Longest board title accepted, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Longest display name taken from a WebSocket URL, in characters.
const MAX_NAME_CHARS: usize = crate::board::MAX_NAME_CHARS;
/// Read buffer of each WebSocket. tungstenite allocates it per connection and
/// zero-fills it before every read, so all of it stays resident: its default (128 KiB)
/// took 1.4 GiB at 10,000 connections, 16 KiB still 160 MiB of the 300 MiB those may
/// take. A client's frames are mostly an update or a cursor move of tens to hundreds
/// of bytes; larger messages still arrive whole (the buffer grows to hold one), they
/// just take more than one read.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The body of `POST /api/boards`: a new board, or a board file to import.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum NewBoard {
    Create(CreateBoardRequest),
    Import(Box<crate::export::file::BoardFile>),
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub limits: ConnLimits,
    pub max_message_bytes: usize,
    pub shutdown: CancellationToken,
    pub signer: Signer,
    /// Boards may be reached without a token (`--open`).
    pub open: bool,
    /// How long issued links stay valid.
    pub link_ttl: Duration,
    /// The address phones reach the server at, for join links (`--public-url`).
    pub public_url: Option<String>,
    /// Past documents kept for history reads (`--history-cache-mb`).
    pub history: Arc<crate::history::cache::HistoryCache>,
    /// Turns for the reads that rebuild a board (`--max-heavy-reads`).
    pub heavy_reads: Arc<heavy_reads::HeavyReads>,
    /// Largest API request body (`--max-body-bytes`).
    pub max_body_bytes: usize,
    /// Web origins allowed besides this server's own (`--public-url`, `--allowed-origins`).
    pub origins: Arc<security::Origins>,
    /// How fast boards may be created (`--board-creation-rate` and the like).
    pub creation: Arc<creation_limit::CreationLimiter>,
    /// Host names this server answers to (the bound address, `--public-url`, `--allowed-hosts`).
    pub hosts: Arc<hosts::Hosts>,
    /// Registered webhooks and their deliveries.
    pub webhooks: Arc<crate::webhook::Webhooks>,
}

/// The whole application; tests build it without `main`.
pub fn router(state: AppState, web_dir: Option<&std::path::Path>) -> Router {
    let (app, _) = routes(state.creation.clone(), state.max_body_bytes);
    let web = web::service::<()>(web_dir);
    let (origins, hosts) = (state.origins.clone(), state.hosts.clone());
    let app = app.fallback_service(web).with_state(state);
    security::protect(app, origins, hosts)
}

/// Every route with its description, in one list: each handler's `#[utoipa::path]`
/// gives its method and path both to the router and to the OpenAPI document (served at
/// `/api/openapi.json`, and returned here too). Add a route here only with `routes!`:
/// a test fails on a route the document does not describe.
pub fn routes(
    creation: Arc<creation_limit::CreationLimiter>,
    max_body_bytes: usize,
) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (schemas, paths, create) = routes!(create_board);
    let create = create.route_layer(axum::middleware::from_fn_with_state(creation, creation_limit::limit));
    let api = OpenApiRouter::new()
        .routes(routes!(list_templates))
        .routes((schemas, paths, create))
        .routes(routes!(board_info))
        .routes(routes!(links::rotate_links))
        .routes(routes!(links::rotate_facilitator))
        .routes(routes!(links::mint_identity))
        .routes(routes!(links::presenter_link))
        .routes(routes!(links::remove_person))
        .routes(routes!(list_votes))
        .routes(routes!(history::list))
        .routes(routes!(history::state))
        .routes(routes!(history::diff))
        .routes(routes!(history::timeline))
        .routes(routes!(history::updates))
        .routes(routes!(history::restore))
        .routes(routes!(join::join_qr))
        .routes(routes!(join::my_qr))
        .routes(routes!(minutes::minutes_md))
        .routes(routes!(minutes::actions_ics))
        .routes(routes!(export::svg))
        .routes(routes!(export::png))
        .routes(routes!(export::actions_csv))
        .routes(routes!(export::actions_json))
        .routes(routes!(export::board_json))
        .routes(routes!(webhooks::list, webhooks::register))
        .routes(routes!(webhooks::remove))
        .routes(routes!(openapi::document))
        .fallback(|| async { AppError::NotFound("no such API endpoint") });
    let api = body_limit::layer(api, max_body_bytes);
    let (app, mut document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(websocket))
        .nest("/api", api)
        .split_for_parts();
    openapi::finish(&mut document);
    let json = serde_json::to_string(&document).expect("the OpenAPI document serializes");
    (app.layer(Extension(openapi::Document(json.into()))), document)
}

/// What `GET /healthz` answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the store (or the broker) does not answer.
    pub status: String,
    /// Boards loaded in memory now.
    pub boards_loaded: usize,
    pub store: HealthPart,
    /// The message broker, on a server in a cluster (`--broker`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<HealthPart>,
}

/// A part of the server the health check asks.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HealthPart {
    /// `sqlite`, `postgres`, `nats`.
    pub kind: String,
    pub ok: bool,
    /// This server's node id (the broker only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    responses(
        (status = 200, description = "The store (and the broker) answer.", body = Health),
        (status = 503, description = "The store or the broker does not answer.", body = Health),
    )
)]
/// `GET /healthz`: 200 if the store answers within two seconds, 503 if not (a load
/// balancer then sends people to another server).
async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.registry.store();
    let kind = store.kind();
    let answers = match tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(%error, "health check: the store does not answer");
            false
        }
        _ => false,
    };
    let broker = state.registry.cluster().map(|cluster| cluster.broker_ok());
    let ok = answers && broker != Some(false);
    let body = Health {
        status: if ok { "ok" } else { "unavailable" }.to_owned(),
        boards_loaded: state.registry.loaded(),
        store: HealthPart { kind: kind.to_string(), ok: answers, node: None },
        broker: state.registry.cluster().zip(broker).map(|(cluster, broker)| HealthPart {
            kind: "nats".to_owned(),
            ok: broker,
            node: Some(cluster.node().to_string()),
        }),
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    responses((status = 200, description = "The server's metrics.", body = String, content_type = "text/plain"))
)]
/// `GET /metrics`: Prometheus text format.
async fn metrics() -> impl IntoResponse {
    let body = crate::telemetry::prometheus().render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

#[utoipa::path(
    get,
    path = "/templates",
    tag = "boards",
    responses((status = 200, description = "The templates.", body = Vec<TemplateInfo>))
)]
/// `GET /api/templates`: the templates a board can start from.
async fn list_templates() -> Json<Vec<TemplateInfo>> {
    Json(templates::all().iter().map(|t| t.info()).collect())
}

#[utoipa::path(
    post,
    path = "/boards",
    tag = "boards",
    request_body(content = NewBoard, description = "A new board, or a board file (`board.json`) to import."),
    responses(
        (status = 201, description = "The board, with its links (the facilitator's among them).", body = BoardInfo),
        (status = 400, description = "The request or the board file is not valid.", body = ApiError),
        (status = 403, description = "A page of another website made the request.", body = ApiError),
        (status = 413, description = "The body is over the server's limit (`--max-body-bytes`).", body = ApiError),
        (status = 429, description = "Too many boards created from this address or on this server; \
            `Retry-After` says when to try again.", body = ApiError),
        (status = 500, description = "The server failed.", body = ApiError),
        (status = 507, description = "The server's disk is full.", body = ApiError),
    )
)]
/// `POST /api/boards`: anyone may create a board, and gets its facilitator link. The
/// body is a [`CreateBoardRequest`], or a board file (`board.json`) to import.
async fn create_board(
    State(state): State<AppState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(AppError::from)?;
    if crate::export::file::is_board_file(&body) {
        return export::import(&state, body).await;
    }
    let request: CreateBoardRequest =
        serde_json::from_value(body).map_err(|e| AppError::BadRequest(format!("invalid board request: {e}")))?;
    let title = request.title.trim();
    let title = if title.is_empty() { "Untitled board" } else { title };
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::BadRequest(format!("title longer than {MAX_TITLE_CHARS} characters")));
    }
    let name = request.template.as_deref().unwrap_or("blank");
    let Some(template) = templates::get(name) else {
        let known: Vec<&str> = templates::all().iter().map(|t| t.name.as_str()).collect();
        return Err(AppError::BadRequest(format!("unknown template {name:?}; known: {}", known.join(", "))));
    };
    let new = new_board(new_board_id(), title.to_owned(), template);
    // The template's content is a change the server writes: within the limits of one.
    let limits = state.registry.limits();
    let size = new.entry.update.len();
    if size > limits.max_update_bytes.min(limits.max_document_bytes) {
        tracing::warn!(template = %name, size, "a template is larger than this server's size limits");
        let max = limits.max_update_bytes.min(limits.max_document_bytes);
        return Err(AppError::BadRequest(format!(
            "template {name:?} writes {size} bytes, over this server's limit of {max} bytes for one change"
        )));
    }
    committed(state.registry.store().submit(new.writes())).await?;
    let record = new.record;
    tracing::info!(board = %record.id, "board created");
    let links = links(&state, &record);
    Ok((StatusCode::CREATED, Json(info(record, Some(Role::Facilitator), Some(links)))).into_response())
}

#[utoipa::path(
    get,
    path = "/boards/{id}",
    tag = "boards",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The board; its links for the facilitator only.", body = BoardInfo), ReadErrors)
)]
/// `GET /api/boards/{id}`: the board's metadata, and its links for the facilitator.
async fn board_info(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<BoardInfo>, AppError> {
    let record = read_board(&state, &id).await?;
    let role = reader_role(&state, &record, &headers)?;
    let links = (role == Some(Role::Facilitator)).then(|| links(&state, &record));
    Ok(Json(info(record, role, links)))
}

#[utoipa::path(
    get,
    path = "/boards/{id}/votes",
    tag = "votes",
    params(BoardId),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The votes, as the caller's role may see them.", body = Vec<VoteView>), ReadErrors)
)]
/// `GET /api/boards/{id}/votes`: every vote with its tally, as the caller's role may
/// see it (hidden tallies for the facilitator only, no names in anonymous votes).
async fn list_votes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<VoteView>>, AppError> {
    let record = read_board(&state, &id).await?;
    let facilitator = reader_role(&state, &record, &headers)? == Some(Role::Facilitator);
    let votes = state.registry.store().votes(&id).await?;
    Ok(Json(votes.iter().filter_map(Vote::from_stored).map(|v| v.view(facilitator)).collect()))
}

async fn read_board(state: &AppState, id: &str) -> Result<BoardRecord, AppError> {
    if !is_valid_board_id(id) {
        return Err(AppError::NotFound("board not found"));
    }
    let record = state.registry.store().board(id).await?;
    record.ok_or(AppError::NotFound("board not found"))
}

/// [`authorize`], for what only the facilitator may do.
fn authorize_facilitator(state: &AppState, record: &BoardRecord, headers: &HeaderMap) -> Result<Claims, AppError> {
    let claims = authorize(state, record, headers)?;
    if claims.role != Role::Facilitator {
        return Err(AuthError::Forbidden.into());
    }
    Ok(claims)
}

/// Checks the request's bearer token against the board.
fn authorize(state: &AppState, record: &BoardRecord, headers: &HeaderMap) -> Result<Claims, AuthError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AuthError::Missing)?;
    let claims = state.signer.verify(token.trim(), &record.id, now_ms() / 1000)?;
    auth::check_generation(&claims, record.links_generation)?;
    if claims.identity.as_ref().is_some_and(|person| record.removed.contains(person)) {
        return Err(AuthError::Removed);
    }
    Ok(claims)
}

/// The role of a caller who may read the board: its token's, or none on an open server
/// reached without a token.
fn reader_role(state: &AppState, record: &BoardRecord, headers: &HeaderMap) -> Result<Option<Role>, AuthError> {
    match authorize(state, record, headers) {
        Ok(claims) => Ok(Some(claims.role)),
        Err(AuthError::Missing) if state.open => Ok(None),
        Err(error) => Err(error),
    }
}

fn claims(state: &AppState, record: &BoardRecord, role: Role) -> Claims {
    Claims {
        board: record.id.clone(),
        role,
        identity: None,
        generation: record.links_generation,
        expires: now_ms() / 1000 + state.link_ttl.as_secs() as i64,
        minted: false,
        presenter: false,
    }
}

fn links(state: &AppState, record: &BoardRecord) -> BoardLinks {
    let link = |role| format!("/b/{}?token={}", record.id, state.signer.sign(&claims(state, record, role)));
    BoardLinks {
        facilitator: link(Role::Facilitator),
        participant: link(Role::Participant),
        viewer: link(Role::Viewer),
    }
}

fn info(record: BoardRecord, role: Option<Role>, links: Option<BoardLinks>) -> BoardInfo {
    let created_at = crate::history::rfc3339(record.created_at_ms);
    BoardInfo {
        url: format!("/b/{}", record.id),
        id: record.id,
        title: record.title,
        template: record.template,
        created_at,
        role,
        links,
    }
}

#[utoipa::path(
    get,
    path = "/ws/{board}",
    tag = "server",
    params(
        ("board" = String, Path, description = "The board's id."),
        ("name" = Option<String>, Query, description = "A display name (a label, never an identity)."),
    ),
    security(("token" = []), ()),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol: Yjs sync and awareness, and the \
            application's messages. A token that is refused closes the socket with a close code saying why."),
        (status = 400, description = "Not a WebSocket upgrade request.", content_type = "text/plain"),
        (status = 403, description = "A page of another website opened it.", body = ApiError),
        (status = 426, description = "The request asked for another protocol version.", content_type = "text/plain"),
    )
)]
/// `GET /ws/{board}`: the Yjs sync endpoint. Query parameters: `token` (the access
/// link's token) and `name` (a display name for the board's history and presence; a
/// label, never an identity).
async fn websocket(
    State(state): State<AppState>,
    Path(board): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let name = params.get("name").map(|n| clip(n)).filter(|n| !n.is_empty()).unwrap_or_else(|| "Anonymous".into());
    let member = if !is_valid_board_id(&board) {
        Err((close::BOARD_NOT_FOUND, "board not found".to_owned()))
    } else {
        member(&state, &board, &params, name)
    };
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(state.max_message_bytes)
        .max_frame_size(state.max_message_bytes)
        .on_upgrade(move |socket| async move {
            match member {
                Ok(member) => {
                    let limits = state.limits;
                    connection::serve(socket, peer.socket, board, member, state.registry, limits, state.shutdown).await
                }
                Err((code, reason)) => connection::refuse(socket, code, &reason).await,
            }
        })
}

/// Who the WebSocket's client is, from its token only: the person its personal token
/// names; the facilitator; or, for a shared participant link (or an open board reached
/// without a token), a new person the server chooses for this connection. Viewers get
/// an id per connection too (they cannot vote or write).
fn member(
    state: &AppState,
    board: &str,
    params: &HashMap<String, String>,
    name: String,
) -> Result<Member, (close::CloseCode, String)> {
    let claims = match params.get("token") {
        Some(token) => Some(
            state
                .signer
                .verify(token, board, now_ms() / 1000)
                .map_err(|error| (close::FORBIDDEN, error.to_string()))?,
        ),
        None if state.open => None,
        None => return Err((close::UNAUTHORIZED, AuthError::Missing.to_string())),
    };
    let role = claims.as_ref().map_or(Role::Participant, |c| c.role);
    let id = match (claims.as_ref().and_then(|c| c.identity.clone()), role) {
        (Some(person), _) => person,
        (None, Role::Facilitator) => auth::FACILITATOR_ID.to_owned(),
        (None, Role::Participant) => auth::new_person_id(),
        (None, Role::Viewer) => format!("viewer:{:032x}", rand::random::<u128>()),
    };
    Ok(Member { author: Author { id, name }, role, claims })
}

fn clip(value: &str) -> String {
    value.trim().chars().take(MAX_NAME_CHARS).collect()
}
