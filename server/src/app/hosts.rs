//! The `Host` check: a request is served only when it names this server as it is
//! reached, so that a web page of another site cannot talk to it through DNS rebinding
//! (a name of the attacker's that first resolves to the attacker and then to this
//! server: the browser then treats this server as the attacker's own origin, sends
//! `Host: attacker.example` and an Origin to match).
//!
//! Allowed, in every mode: an IP address literal that is the bound address (any of
//! the machine's addresses when bound to `0.0.0.0` or `[::]`); `localhost`,
//! `127.0.0.1` and `[::1]` with the bound port when bound to loopback (or to every
//! address); the host of `--public-url`; and each name of `--allowed-hosts` (with any
//! port, or only the one it gives). An IP literal cannot be rebound, so it is safe;
//! every other name must be listed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use commonboard_protocol::api::ApiError;

/// The host names (and addresses) this server answers to.
#[derive(Debug, Clone)]
pub struct Hosts {
    bound: SocketAddr,
    /// `(name, port)`: the public URL's host and `--allowed-hosts`, lower case; no port
    /// means any.
    names: Vec<(String, Option<u16>)>,
}

/// A configured host that is not `name[:port]`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a host name: expected a name or address with an optional port, e.g. boards.example.org")]
pub struct BadHost(String);

impl Hosts {
    /// The hosts of a server bound to `bound`, reached at `public_url`, also answering
    /// to `allowed`.
    pub fn new(bound: SocketAddr, public_url: Option<&str>, allowed: &[String]) -> Result<Self, BadHost> {
        let mut names = Vec::new();
        if let Some(url) = public_url.map(str::trim).filter(|u| !u.is_empty()) {
            let uri: axum::http::Uri = url.parse().map_err(|_| BadHost(url.to_owned()))?;
            let authority = uri.authority().ok_or_else(|| BadHost(url.to_owned()))?;
            // Behind a proxy the port the browser used may not reach the server: the
            // public URL's name counts with any port.
            names.push((normalize(authority.host()), None));
        }
        for entry in allowed.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            let (name, port) = split(entry).ok_or_else(|| BadHost(entry.to_owned()))?;
            names.push((name, port));
        }
        Ok(Hosts { bound, names })
    }

    /// Whether a request naming `host` (a `Host` header's value) is for this server.
    pub fn permits(&self, host: &str) -> bool {
        let Some((name, port)) = split(host) else { return false };
        if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            if self.bound.ip().is_unspecified() || ip == self.bound.ip() {
                return true;
            }
            if ip.is_loopback() && self.bound.ip().is_loopback() && port == Some(self.bound.port()) {
                return true;
            }
        }
        let loopback_bound = self.bound.ip().is_loopback() || self.bound.ip().is_unspecified();
        if name == "localhost" && loopback_bound && port == Some(self.bound.port()) {
            return true;
        }
        self.names
            .iter()
            .any(|(allowed, allowed_port)| *allowed == name && allowed_port.is_none_or(|p| Some(p) == port))
    }
}

/// `name[:port]` in lower case without a trailing dot, or `None` if it is not one.
fn split(text: &str) -> Option<(String, Option<u16>)> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b)) {
        return None;
    }
    let authority: axum::http::uri::Authority = text.parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    Some((normalize(authority.host()), authority.port_u16()))
}

fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Refuses, with 421 and a JSON error, every request whose `Host` is not this server's.
pub async fn check_host(State(hosts): State<Arc<Hosts>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    match host {
        Some(host) if hosts.permits(&host) => next.run(request).await,
        host => {
            let shown: String = host.as_deref().unwrap_or("(none)").chars().take(200).collect();
            tracing::warn!(host = %shown, path = request.uri().path(), "request for another host refused; list the name in --allowed-hosts to allow it");
            let error = ApiError {
                error: format!(
                    "this server does not answer to the host {shown:?}; open it at its own address (an operator can add the name to --allowed-hosts)"
                ),
            };
            (StatusCode::MISDIRECTED_REQUEST, Json(error)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_public_and_listed_hosts_pass_others_do_not() {
        let hosts = Hosts::new(
            "127.0.0.1:8080".parse().unwrap(),
            Some("https://Boards.Example.org/wb/"),
            &["lan.example:8080".into(), "other.example".into()],
        )
        .unwrap();
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "boards.example.org",
            "boards.example.org:443",
            "lan.example:8080",
            "other.example:1234",
            "127.0.0.1",
        ] {
            assert!(hosts.permits(host), "{host}");
        }
        for host in [
            "attacker.example:8080",
            "localhost:9999",
            "lan.example:9999",
            "192.168.1.2:8080",
            "",
            "a@localhost:8080",
            "evil.example\r\nx",
        ] {
            assert!(!hosts.permits(host), "{host}");
        }
        let everywhere = Hosts::new("0.0.0.0:8080".parse().unwrap(), None, &[]).unwrap();
        assert!(everywhere.permits("192.168.1.2:8080") && everywhere.permits("localhost:8080"));
        assert!(!everywhere.permits("rebind.attacker.example:8080"));
        assert!(Hosts::new("127.0.0.1:1".parse().unwrap(), None, &["a b".into()]).is_err());
    }
}
