//! Boards of a run: their names (or ids from the server's API) and their URLs.
//!
//! A y-websocket server creates any document on first connection, and so does
//! Commonboard with `--open`: the tool then names boards itself (`<prefix>-<run>-<n>`).
//! Without `--open`, Commonboard only serves boards made with `POST /api/boards`, which
//! `--create-boards` calls on the host of the URL.

use anyhow::Context;
use serde::Serialize;
use tokio::task::JoinSet;

/// How boards come to exist on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoardCreation {
    /// The tool names them; the server creates a board on first connection
    /// (y-websocket, Hocuspocus, Commonboard with `--open`).
    Named,
    /// `POST /api/boards` with a title; the server answers the id (Commonboard).
    CommonboardApi,
    /// `POST /doc/new` with the tool's name as `docId` (y-sweet).
    YSweetApi,
}

/// Board creations in flight at once.
const CREATE_CONCURRENCY: usize = 16;

/// One board of a run.
#[derive(Debug, Clone)]
pub struct BoardTarget {
    /// The board id (the document name for Hocuspocus).
    pub name: String,
    /// The WebSocket URL of the board.
    pub url: String,
    /// The facilitator's access token, when the board was made with Commonboard's API
    /// (the history API and the replay mode need one).
    pub facilitator_token: Option<String>,
}

/// A board the server made: its id and the tokens of its access links.
#[derive(Debug, Clone, Default)]
struct Created {
    id: String,
    /// The participant link's token, which the WebSocket takes as `?token=`.
    participant: Option<String>,
    facilitator: Option<String>,
}

/// Refuses any URL whose host is not this machine: the tool only loads local servers.
pub fn check_loopback(url: &str) -> anyhow::Result<()> {
    let host = host_of(url).with_context(|| format!("cannot read the host of {url:?}"))?;
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback,
        "{url:?} is not on this machine; the load tool only targets loopback addresses (127.0.0.1, ::1, localhost)"
    );
    Ok(())
}

/// The host part of a `ws://host:port/path` URL, without brackets or port.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split_once(']').map(|(host, _)| host);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

/// `ws://host:port/...` becomes `http://host:port`.
pub fn http_base(url: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").with_context(|| format!("{url:?} has no scheme"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let scheme = match scheme {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        other => anyhow::bail!("unsupported scheme {other:?}"),
    };
    Ok(format!("{scheme}://{authority}"))
}

/// Names or creates `count` boards for run `run`.
pub async fn prepare(
    url_pattern: &str,
    prefix: &str,
    run: u32,
    count: usize,
    creation: BoardCreation,
) -> anyhow::Result<Vec<BoardTarget>> {
    let named = || -> Vec<String> { (0..count).map(|i| format!("{prefix}-{run:08x}-{i}")).collect() };
    let named_only = |names: Vec<String>| -> Vec<Created> {
        names.into_iter().map(|id| Created { id, ..Created::default() }).collect()
    };
    let boards: Vec<Created> = match creation {
        BoardCreation::Named => named_only(named()),
        BoardCreation::CommonboardApi => create_boards(url_pattern, prefix, count).await?,
        BoardCreation::YSweetApi => {
            let names = named();
            create_y_sweet_docs(url_pattern, &names).await?;
            named_only(names)
        }
    };
    Ok(boards
        .into_iter()
        .map(|created| {
            let mut url = url_pattern.replace("{board}", &created.id);
            if let Some(token) = created.participant {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("token=");
                url.push_str(&token);
            }
            BoardTarget { url, name: created.id, facilitator_token: created.facilitator }
        })
        .collect())
}

/// Creates boards through Commonboard's API; returns their ids and tokens.
async fn create_boards(url_pattern: &str, prefix: &str, count: usize) -> anyhow::Result<Vec<Created>> {
    let endpoint = format!("{}/api/boards", http_base(url_pattern)?);
    let client = reqwest::Client::new();
    let mut ids = vec![Created::default(); count];
    let mut tasks = JoinSet::new();
    let mut next = 0;
    while next < count || !tasks.is_empty() {
        while next < count && tasks.len() < CREATE_CONCURRENCY {
            let (client, endpoint) = (client.clone(), endpoint.clone());
            let title = format!("{prefix} {next}");
            let index = next;
            tasks.spawn(async move { (index, create_one(&client, &endpoint, &title).await) });
            next += 1;
        }
        if let Some(joined) = tasks.join_next().await {
            let (index, id) = joined.context("board creation task failed")?;
            ids[index] = id?;
        }
    }
    Ok(ids)
}

/// Creates y-sweet documents with the given ids (`POST /doc/new {"docId": ...}`).
async fn create_y_sweet_docs(url_pattern: &str, names: &[String]) -> anyhow::Result<()> {
    let endpoint = format!("{}/doc/new", http_base(url_pattern)?);
    let client = reqwest::Client::new();
    for name in names {
        let response = client
            .post(&endpoint)
            .json(&serde_json::json!({ "docId": name }))
            .send()
            .await
            .with_context(|| format!("POST {endpoint} failed"))?;
        anyhow::ensure!(response.status().is_success(), "POST {endpoint} answered {}", response.status());
    }
    Ok(())
}

/// Creates one board; returns its id and, when the server issues access links, the
/// participant's and the facilitator's tokens.
async fn create_one(client: &reqwest::Client, endpoint: &str, title: &str) -> anyhow::Result<Created> {
    let response = client
        .post(endpoint)
        .json(&serde_json::json!({ "title": title }))
        .send()
        .await
        .with_context(|| format!("POST {endpoint} failed"))?;
    let status = response.status();
    anyhow::ensure!(
        status.as_u16() != 429,
        "POST {endpoint} answered 429: the server paces board creation; start it with \
         --board-creation-rate 0 --board-creation-global-rate 0 for a load run"
    );
    anyhow::ensure!(status.as_u16() == 201, "POST {endpoint} answered {status}, not 201 Created");
    let body: serde_json::Value =
        response.json().await.context("board creation answered something that is not JSON")?;
    let id = body["id"].as_str().map(str::to_owned).context("board creation answered no \"id\"")?;
    let token = |role: &str| body["links"][role].as_str().and_then(token_of);
    Ok(Created { id, participant: token("participant"), facilitator: token("facilitator") })
}

/// The `token` query parameter of an access link (`/b/{id}?token=…`).
pub fn token_of(link: &str) -> Option<String> {
    let query = link.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix("token=")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_accepted() {
        for ok in ["ws://127.0.0.1:8080/ws/{board}", "ws://localhost:1/{board}", "ws://[::1]:9/x", "ws://127.1.2.3/x"] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in ["ws://10.0.0.1:8080/ws/{board}", "ws://example.org/x", "ws://192.168.1.2:80", "nonsense"] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_token_is_read_from_an_access_link() {
        assert_eq!(token_of("/b/abc?token=v1.x.y").as_deref(), Some("v1.x.y"));
        assert_eq!(token_of("/b/abc?name=a&token=v1.x.y&z=1").as_deref(), Some("v1.x.y"));
        assert_eq!(token_of("/b/abc"), None);
    }

    #[test]
    fn http_base_keeps_host_and_port() {
        assert_eq!(http_base("ws://127.0.0.1:8080/ws/{board}").unwrap(), "http://127.0.0.1:8080");
    }
}
