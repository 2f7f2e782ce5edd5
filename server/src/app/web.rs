//! The web client: the files of `web/dist`, embedded in the binary when it is compiled,
//! so that `commonboard serve` started from any directory serves the pages; or, with
//! `--web-dir`, read from a directory (for working on the client without rebuilding
//! the server).
//!
//! Caching: esbuild names the shared chunks by their content (`chunks/name-HASH.js`),
//! so they are `immutable` for a year; the pages and the entry files (`index.html`,
//! `app.js`, `app.css`) keep their names from build to build and are revalidated on
//! every load (`no-cache` with an `ETag`, answered 304 when unchanged).
//!
//! Any path without a file extension is a page of the client's router (`/`, `/b/{id}`,
//! `/b/{id}/capture`) and gets `index.html`; a missing asset is a 404.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

/// The built client, embedded at compile time. `allow_missing`: a checkout where
/// `web/dist` was never built still compiles (and serves [`NOT_BUILT`]); `build.rs`
/// makes cargo recompile once it appears.
#[derive(rust_embed::RustEmbed)]
#[folder = "../web/dist"]
#[allow_missing = true]
struct Client;

/// Served for every page when the binary was compiled before the client was built.
const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Commonboard</title></head>\n<body><h1>Commonboard</h1>\n<p>The web client was not built into this binary: run <code>./scripts/start</code>, or build <code>web/</code> first (<code>npm --prefix web install &amp;&amp; npm --prefix web run build</code>) and then the server, or start it with <code>--web-dir</code> naming a built client.</p>\n<p>The API (<code>/api/</code>) and the WebSocket (<code>/ws/</code>) work without it.</p></body></html>\n";

/// For hashed chunks: a year, never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For pages and entry files: always revalidated (cheap with the ETag).
const REVALIDATE: &str = "no-cache";

/// Whether this binary carries a built client.
pub fn embedded() -> bool {
    Client::get("index.html").is_some()
}

/// The service answering every path the other routes do not: the embedded client, or
/// the directory `--web-dir` names.
pub fn service<S: Clone + Send + Sync + 'static>(web_dir: Option<&std::path::Path>) -> Router<S> {
    match web_dir {
        Some(dir) => {
            Router::new().fallback_service(ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html"))))
        }
        None => Router::new().fallback(embedded_file),
    }
}

async fn embedded_file(request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    let last = path.rsplit('/').next().unwrap_or_default();
    let name = if path.is_empty() || !last.contains('.') { "index.html" } else { path };
    let Some(file) = Client::get(name) else {
        if name == "index.html" {
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            return response;
        }
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!("\"{}\"", hex(&hash[..16]));
    let cache = if name.starts_with("chunks/") { IMMUTABLE } else { REVALIDATE };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex digits"));
    if matches(request.headers(), &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" || mime == "text/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    (StatusCode::OK, headers, file.data).into_response()
}

/// Whether `If-None-Match` names this ETag (or is `*`).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
