//! Browser-facing protections: the Origin check on WebSockets and state-changing API
//! calls, the security headers on every response, request logs without tokens, and
//! panics turned into a generic 500.
//!
//! # Why this is enough against cross-site requests
//!
//! Commonboard has no cookies and no ambient credentials: every API call that changes
//! a board carries its token in `Authorization: Bearer …`, which a browser never adds
//! by itself, and a page of another site cannot read this server's pages or responses
//! (no CORS headers are sent) to learn a token. A forged cross-site request therefore
//! arrives without credentials, and the only state-changing call open to anyone,
//! `POST /api/boards`, takes a JSON body, which a cross-site HTML form cannot send
//! (axum's `Json` extractor refuses any content type but `application/json`; the
//! handlers answer 400), while `fetch` with a JSON content type or an `Authorization`
//! header needs a CORS preflight that this server never grants. The
//! Origin check below is defence in depth on top: a browser always sends `Origin` on
//! WebSockets and on POST/PUT/DELETE, so a page of another site is refused before any
//! handler runs, even if it got hold of a token (a leaked link) or the server runs
//! `--open` (boards reachable without a token). Clients outside a browser (the
//! y-websocket provider in Node, the load tool) send no `Origin` and are not checked.
//!
//! A page's own origin is `scheme://Host`, the scheme being `X-Forwarded-Proto` when a
//! proxy sets it, else `http` or `https`; `--public-url` and `--allowed-origins` add more.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::redact;

/// Browser features no page of Commonboard uses are turned off; the presentation view
/// may go full screen.
const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), fullscreen=(self)";

/// Web origins whose pages may use the WebSocket and change boards.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// `--public-url`'s origin and `--allowed-origins`, normalized.
    allowed: Vec<String>,
}

/// A configured origin that is not `scheme://host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a web origin: expected scheme://host[:port], e.g. https://boards.example.org")]
pub struct BadOrigin(String);

impl Origins {
    /// The origins of `--public-url` and of `--allowed-origins`.
    pub fn new(public_url: Option<&str>, allowed: &[String]) -> Result<Self, BadOrigin> {
        let mut origins = Vec::new();
        if let Some(url) = public_url.map(str::trim).filter(|u| !u.is_empty()) {
            // The public URL may have a path (a proxy's prefix); its origin is what counts.
            let uri: Uri = url.parse().map_err(|_| BadOrigin(url.to_owned()))?;
            let origin = match (uri.scheme_str(), uri.authority()) {
                (Some(scheme), Some(authority)) => normalize(&format!("{scheme}://{authority}")),
                _ => None,
            };
            origins.push(origin.ok_or_else(|| BadOrigin(url.to_owned()))?);
        }
        for origin in allowed.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            origins.push(normalize(origin).ok_or_else(|| BadOrigin(origin.to_owned()))?);
        }
        Ok(Origins { allowed: origins })
    }

    /// Whether a browser request with these headers may go on: no `Origin` (not a
    /// browser, or a same-origin GET), an allowed origin, or this server's own origin
    /// unless the browser says the request is cross-site.
    pub fn permits(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let cross_site =
            headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let Some(origin) = headers.get(header::ORIGIN) else {
            return if cross_site { Err(Refused { origin: None }) } else { Ok(()) };
        };
        let origin_text = origin.to_str().unwrap_or("");
        let normalized = normalize(origin_text);
        let refused = || Err(Refused { origin: Some(origin_text.chars().take(200).collect()) });
        let Some(normalized) = normalized else { return refused() };
        if self.allowed.contains(&normalized) {
            return Ok(());
        }
        if !cross_site && own_origins(headers).contains(&normalized) {
            return Ok(());
        }
        refused()
    }
}

/// Why a request was refused: the origin it came from, for the log.
#[derive(Debug)]
pub struct Refused {
    origin: Option<String>,
}

/// `scheme://host[:port]` in lower case without a default port, or `None` if `text`
/// is not a web origin (`null` included).
fn normalize(text: &str) -> Option<String> {
    let uri: Uri = text.trim_end_matches('/').parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return None;
    }
    let authority = uri.authority()?;
    Some(with_scheme(&scheme, authority.as_str()))
}

fn with_scheme(scheme: &str, authority: &str) -> String {
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    format!("{scheme}://{authority}")
}

/// The origins of this server's own pages, as this request reached it: its `Host`
/// with the scheme a proxy in front reports (`X-Forwarded-Proto`), or, when none does,
/// with either scheme (the server speaks plain HTTP itself, so an `https` page of the
/// same host means a TLS proxy in front that does not say so).
fn own_origins(headers: &HeaderMap) -> Vec<String> {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Vec::new();
    };
    if host.is_empty() || !host.bytes().all(is_host_char) {
        return Vec::new();
    }
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    match proto.and_then(|p| p.split(',').next()).map(|p| p.trim().to_ascii_lowercase()) {
        Some(scheme) if scheme == "http" || scheme == "https" => vec![with_scheme(&scheme, host)],
        _ => vec![with_scheme("http", host), with_scheme("https", host)],
    }
}

fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
}

/// Whether a request is checked: WebSocket upgrades and API calls that change state.
fn guarded(method: &Method, path: &str) -> bool {
    path.starts_with("/ws/") || (path.starts_with("/api/") && !matches!(*method, Method::GET | Method::HEAD))
}

/// Refuses browser requests of other sites' pages with 403 before any handler runs.
async fn check_origin(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    if guarded(request.method(), request.uri().path()) {
        if let Err(refused) = origins.permits(request.headers()) {
            tracing::warn!(
                origin = refused.origin.as_deref().unwrap_or("(none; Sec-Fetch-Site: cross-site)"),
                method = %request.method(),
                path = request.uri().path(),
                "cross-site request refused; list the origin in --allowed-origins to allow it"
            );
            return axum::response::IntoResponse::into_response(AppError::CrossSite);
        }
    }
    next.run(request).await
}

/// The Content-Security-Policy of every response. The web client runs with it: no
/// inline script or style, no eval; it talks to this host only (fetch and WebSocket);
/// images are its own, `data:` (the favicon) and `blob:` (the QR code, fetched from
/// the API with the token, and downloads); nobody may frame it.
fn content_security_policy(headers: &HeaderMap) -> HeaderValue {
    // 'self' covers ws: and wss: of this host in CSP 3; the explicit sources are for
    // browsers that do not implement that yet.
    let sockets = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(is_host_char))
        .map(|host| format!(" ws://{host} wss://{host}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self'{sockets}; font-src 'self'; object-src 'none'; worker-src 'none'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    HeaderValue::from_str(&policy).expect("host characters were checked")
}

/// Adds the headers that depend on the request: the CSP (it names this host) and
/// `Cache-Control: no-store` on the API, whose answers may carry tokens.
async fn request_headers(request: Request, next: Next) -> Response {
    let csp = content_security_policy(request.headers());
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A panicking handler answers a generic 500; the panic is logged with an error id.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    crate::error::internal("a request handler panicked", &redact::redact(detail))
}

/// Wraps the whole application in the protections above.
pub fn protect(app: Router, origins: Arc<Origins>, hosts: Arc<super::hosts::Hosts>) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    app.layer(middleware::from_fn_with_state(origins, check_origin))
        .layer(middleware::from_fn_with_state(hosts, super::hosts::check_host))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::debug_span!("request", method = %request.method(), uri = %redact::uri(request.uri()))
        }))
        .layer(middleware::from_fn(request_headers))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn own_allowed_and_missing_origins_pass_others_do_not() {
        let origins = Origins::new(Some("http://192.168.1.20:8080/"), &["https://Boards.Example.org".into()]).unwrap();
        let pass = |pairs: &[(&'static str, &str)]| origins.permits(&headers(pairs)).is_ok();
        assert!(pass(&[("host", "localhost:8080")]));
        assert!(pass(&[("host", "localhost:8080"), ("origin", "http://localhost:8080")]));
        assert!(pass(&[("host", "x"), ("origin", "https://boards.example.org:443")]));
        assert!(pass(&[("host", "x"), ("origin", "http://192.168.1.20:8080")]));
        assert!(pass(&[("host", "b.org"), ("origin", "https://b.org"), ("x-forwarded-proto", "https")]));
        assert!(pass(&[("host", "b.org"), ("origin", "https://b.org")]), "a TLS proxy that does not say so");
        assert!(!pass(&[("host", "b.org"), ("origin", "https://b.org"), ("x-forwarded-proto", "http")]));
        assert!(!pass(&[("host", "b.org"), ("origin", "http://b.org"), ("x-forwarded-proto", "https")]));
        assert!(!pass(&[("host", "localhost:8080"), ("origin", "http://evil.example")]));
        assert!(!pass(&[("host", "localhost:8080"), ("origin", "null")]));
        assert!(!pass(&[("host", "localhost:8080"), ("sec-fetch-site", "cross-site")]));
        let same_host_cross_site = [("host", "h"), ("origin", "http://h"), ("sec-fetch-site", "cross-site")];
        assert!(!pass(&same_host_cross_site));
    }

    #[test]
    fn a_configured_origin_must_be_an_origin() {
        assert!(Origins::new(None, &["boards.example.org".into()]).is_err());
        assert!(Origins::new(None, &["https://b.org/path".into()]).is_err());
        assert!(Origins::new(Some("ftp://b.org"), &[]).is_err());
        assert!(Origins::new(Some("https://b.org/whiteboard/"), &[]).is_ok());
    }
}
