//! One delivery: the address checked against `--webhook-allow` (the host when a hook
//! is registered, every resolved IP before each attempt, and the connection pinned to
//! the IP checked, so a DNS answer cannot change in between), the body signed, posted
//! without following redirects, retried with doubling delays.
//!
//! Headers of every delivery:
//! - `Commonboard-Event`: the event's name (`vote.closed`...);
//! - `Commonboard-Delivery`: the delivery's id (the same on every attempt);
//! - `Commonboard-Timestamp`: seconds since the Unix epoch when it was signed;
//! - `Commonboard-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the hook's
//!   secret, of `{timestamp}.{body}`. A receiver recomputes it and rejects old
//!   timestamps (replays).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

use super::WebhookError;

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// `--webhook-allow`: networks any address in which may receive deliveries, and host
/// names (or `*`, any) whose public addresses may.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl Allow {
    /// Parses the comma-separated list the flag gives: CIDRs (`10.0.0.0/8`,
    /// `127.0.0.1/32`), bare IPs, host names, `*`.
    pub fn parse(items: &[String]) -> Result<Allow, WebhookError> {
        let mut allow = Allow::default();
        for item in items.iter().flat_map(|i| i.split(',')).map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(net) = IpNet::from_str(item) {
                allow.nets.push(net);
            } else if let Ok(ip) = IpAddr::from_str(item) {
                allow.nets.push(IpNet::from(ip));
            } else if item == "*" || item.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                allow.hosts.push(item.to_ascii_lowercase());
            } else {
                return Err(WebhookError::BadAllow(format!("{item:?} is neither a CIDR, an IP nor a host name")));
            }
        }
        Ok(allow)
    }

    fn host_listed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.iter().any(|h| h == "*" || *h == host)
    }

    /// At registration: the URL's host may be delivered to at all.
    pub fn check_host(&self, url: &reqwest::Url) -> Result<(), WebhookError> {
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        match IpAddr::from_str(host) {
            Ok(ip) if self.ip_allowed(host, ip) => Ok(()),
            Err(_) if self.host_listed(host) || !self.nets.is_empty() => Ok(()),
            _ => Err(WebhookError::NotAllowed(host.to_owned())),
        }
    }

    /// Before each attempt: this resolved address may receive it. A listed network
    /// allows any of its addresses; a listed host only its public ones.
    pub fn ip_allowed(&self, host: &str, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip)) || (self.host_listed(host) && is_public(ip))
    }
}

/// Not loopback, private, link-local, shared (CGNAT), unspecified, multicast or
/// documentation space: an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// An http or https URL without credentials.
pub fn parse_url(text: &str) -> Result<reqwest::Url, WebhookError> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| WebhookError::BadUrl(format!("{text}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(WebhookError::BadUrl(text.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::BadUrl("credentials in a webhook URL are not accepted".into()));
    }
    Ok(url)
}

/// The `Commonboard-Signature` value of a body.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("v1={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// How one attempt ended.
pub enum Attempt {
    Delivered(u16),
    /// Worth retrying: a connection error or a 5xx/429 answer.
    Failed(Option<u16>, String),
    /// Not worth retrying: refused by `--webhook-allow`, or a 4xx answer.
    Refused(Option<u16>, String),
}

/// Resolves the host, checks every address, and posts once to the first, pinned.
pub async fn attempt(allow: &Allow, url: &reqwest::Url, headers: &[(&'static str, String)], body: &[u8]) -> Attempt {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let resolved = tokio::net::lookup_host((host.as_str(), port)).await.map(|addrs| addrs.collect::<Vec<_>>());
    let addrs: Vec<SocketAddr> = match resolved {
        Ok(addrs) => addrs,
        Err(error) => return Attempt::Failed(None, format!("{}: {error}", WebhookError::Unresolved(host.clone()))),
    };
    if addrs.is_empty() {
        return Attempt::Failed(None, WebhookError::Unresolved(host).to_string());
    }
    if let Some(refused) = addrs.iter().find(|a| !allow.ip_allowed(&host, a.ip())) {
        return Attempt::Refused(None, WebhookError::NotAllowed(format!("{host} ({})", refused.ip())).to_string());
    }
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .resolve(&host, addrs[0])
        .build()
    {
        Ok(client) => client,
        Err(error) => return Attempt::Failed(None, error.to_string()),
    };
    let mut request = client.post(url.clone()).header("content-type", "application/json").body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Attempt::Delivered(response.status().as_u16()),
        Ok(response) => {
            let status = response.status();
            let message = format!("the receiver answered {status}");
            if status.is_server_error() || status.as_u16() == 429 || status.is_redirection() {
                Attempt::Failed(Some(status.as_u16()), message)
            } else {
                Attempt::Refused(Some(status.as_u16()), message)
            }
        }
        Err(error) => Attempt::Failed(None, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_need_a_listed_network() {
        let hosts = Allow::parse(&["hooks.example.com,*".into()]).unwrap();
        assert!(hosts.ip_allowed("hooks.example.com", "93.184.216.34".parse().unwrap()));
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!hosts.ip_allowed("hooks.example.com", private.parse().unwrap()), "{private}");
        }
        let loopback = Allow::parse(&["127.0.0.1/32".into()]).unwrap();
        assert!(loopback.ip_allowed("localhost", "127.0.0.1".parse().unwrap()));
        assert!(!loopback.ip_allowed("localhost", "127.0.0.2".parse().unwrap()));
        assert!(!Allow::default().ip_allowed("x", "93.184.216.34".parse().unwrap()), "nothing by default");
        assert!(Allow::parse(&["not a host!".into()]).is_err());
    }

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = sign("secret", 1700000000, b"{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, sign("secret", 1700000001, b"{}"));
        assert_ne!(a, sign("other", 1700000000, b"{}"));
    }
}
