//! Keeps access tokens out of logs: scrubs `token=` values, `Bearer` credentials and
//! anything shaped like a Commonboard token from text, and a log writer that does so
//! to every line it writes.
//!
//! Tokens travel in URLs (`/b/{id}?token=…`, `/ws/{id}?token=…`), so any log line
//! holding a URI, a query or an error that quotes one could hand out a board. Code that
//! logs a request logs [`uri`] instead of the raw URI, and the binary's log goes through
//! [`RedactingStderr`], so a line that slips through (a dependency's event, a panic
//! message) is scrubbed anyway.

use std::borrow::Cow;
use std::io::Write;

use axum::http::Uri;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `text` with every `token=…` value, `Bearer …` credential and token-shaped string
/// (`v1.<payload>.<signature>`) replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    if !needs_redaction(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let skip = secret_at(text, i);
        if let Some((keep, end)) = skip {
            out.push_str(&text[copied..i + keep]);
            out.push_str(REDACTED);
            i = end;
            copied = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// A URI for a log line: its path and query with secrets redacted.
pub fn uri(uri: &Uri) -> String {
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    redact(path_and_query).into_owned()
}

/// Cheap pre-check, so lines without secrets are not copied.
fn needs_redaction(text: &str) -> bool {
    let lower = text.as_bytes();
    lower.windows(6).any(|w| w.eq_ignore_ascii_case(b"token="))
        || lower.windows(7).any(|w| w.eq_ignore_ascii_case(b"bearer "))
        || text.contains("v1.")
}

/// Whether a secret starts at byte `i`: how many bytes of its prefix to keep (the
/// `token=` or `Bearer ` label) and where the secret ends.
fn secret_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let rest = &bytes[i..];
    let at_word_start = i == 0 || !is_token_char(bytes[i - 1]);
    for label in [&b"token="[..], &b"bearer "[..]] {
        if rest.len() > label.len() && rest[..label.len()].eq_ignore_ascii_case(label) {
            let value = label.len() + rest[label.len()..].iter().take_while(|&&b| !ends_value(b)).count();
            if value > label.len() {
                return Some((label.len(), i + value));
            }
        }
    }
    if at_word_start && rest.starts_with(b"v1.") {
        let payload = rest[3..].iter().take_while(|&&b| is_token_char(b)).count();
        let after = 3 + payload;
        if payload >= 8 && rest.get(after) == Some(&b'.') {
            let signature = rest[after + 1..].iter().take_while(|&&b| is_token_char(b)).count();
            if signature >= 16 {
                return Some((0, i + after + 1 + signature));
            }
        }
    }
    None
}

/// Characters of base64url, which tokens are made of.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Where a `token=` or `Bearer` value stops: the next query parameter, fragment,
/// whitespace or quoting.
fn ends_value(b: u8) -> bool {
    matches!(b, b'&' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b')' | b']' | b',' | b';') || b.is_ascii_whitespace()
}

/// A log writer for `tracing_subscriber::fmt`: standard error, with every line
/// redacted. The formatter hands over one whole event per write.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "v1.eyJiIjoiYWJjIiwiciI6InZpZXdlciJ9.0123456789abcdefABCDEF-_0123456789abcdefghi";

    #[test]
    fn query_tokens_are_redacted_and_the_rest_kept() {
        let uri: Uri = format!("/ws/abc?name=Ana&token={TOKEN}&user=u1").parse().unwrap();
        assert_eq!(super::uri(&uri), "/ws/abc?name=Ana&token=[redacted]&user=u1");
        assert_eq!(redact("GET /b/x?TOKEN=not-even-valid HTTP/1.1"), "GET /b/x?TOKEN=[redacted] HTTP/1.1");
    }

    #[test]
    fn bearer_credentials_and_bare_tokens_are_redacted() {
        assert_eq!(redact("authorization: Bearer abc.def"), "authorization: Bearer [redacted]");
        assert_eq!(redact(&format!("panicked on {TOKEN}!")), "panicked on [redacted]!");
        assert_eq!(redact(&format!("\"{TOKEN}\"")), "\"[redacted]\"");
    }

    #[test]
    fn text_without_secrets_is_untouched() {
        for text in ["board created board=abc", "v1.2 released", "tokens= none", "token=", "a v1.x.y"] {
            assert_eq!(redact(text), text);
        }
    }
}
