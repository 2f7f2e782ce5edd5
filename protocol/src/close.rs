//! WebSocket close codes and reasons the server sends when it ends a connection.
//!
//! Standard codes (RFC 6455) where one fits; 4000-4999 (reserved for applications)
//! otherwise, numbered after the HTTP status of the same meaning: 44xx when trying again
//! is pointless (no access, no such board), 45xx when the client should reconnect,
//! possibly after a while. The y-websocket provider relies on this split: it stops
//! reconnecting after any code from 4400 to 4499. The reason text is short (a close
//! frame's reason is at most 123 bytes) and says what was wrong, so a user or operator
//! reading it can act on it.

/// A close code with its meaning (the bare number on any wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CloseCode(pub u16);

/// The server is shutting down; reconnect later.
pub const GOING_AWAY: CloseCode = CloseCode(1001);
/// A frame did not decode as the Yjs protocol, or held an update that CRDT rejected.
pub const INVALID_DATA: CloseCode = CloseCode(1007);
/// The client broke a rule (for example a text frame where binary was expected).
pub const POLICY: CloseCode = CloseCode(1008);
/// A frame was larger than the server's limit.
pub const TOO_BIG: CloseCode = CloseCode(1009);
/// The server failed; the board is intact, reconnect and resync.
pub const INTERNAL: CloseCode = CloseCode(1011);
/// The board moved (to another node of a cluster, or this node lost the others for a
/// moment): reconnect at once, through any node, and resync. RFC 6455's "service restart".
pub const RESTART: CloseCode = CloseCode(1012);
/// No access token was given; open the board with the link you were given.
pub const UNAUTHORIZED: CloseCode = CloseCode(4401);
/// The access token is invalid, expired, for another board, or revoked.
pub const FORBIDDEN: CloseCode = CloseCode(4403);
/// The board does not exist.
pub const BOARD_NOT_FOUND: CloseCode = CloseCode(4404);
/// A change could not be saved; it was not applied for anyone. Reconnect and resync:
/// the client still holds the change and will send it again.
pub const NOT_SAVED: CloseCode = CloseCode(4503);
/// The client could not keep up with the board; reconnect and resync.
pub const TOO_SLOW: CloseCode = CloseCode(4508);

/// The client sent messages faster than the server's rate limit for too long (it was
/// slowed down first); it may reconnect, and its provider backs off.
pub const TOO_FAST: CloseCode = CloseCode(4529);
/// The board has as many connections as the server allows on one board. Try again
/// when someone leaves.
pub const BOARD_FULL: CloseCode = CloseCode(4530);
/// The server has as many connections as it allows in all. Try again later.
pub const SERVER_FULL: CloseCode = CloseCode(4531);
/// The server has as many boards loaded as it allows, and every one of them has people
/// on it, so this board cannot be loaded now. Try again later.
pub const TOO_MANY_BOARDS: CloseCode = CloseCode(4532);
/// The board is still loading and holds as many changes for it as it may: reconnect
/// shortly. Nothing of the client's was accepted since it joined or since the board
/// began loading; it still holds its changes and sends them again.
pub const BOARD_LOADING: CloseCode = CloseCode(4533);

/// Longest reason a close frame can carry, in bytes.
pub const MAX_REASON_BYTES: usize = 123;

/// Cuts `reason` to fit a close frame, on a character boundary.
pub fn fit_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_on_char_boundaries() {
        assert_eq!(fit_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = fit_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES);
        assert_eq!(cut.len() % 2, 0);
    }

    /// The y-websocket provider gives up after 4400-4499: only refusals that a retry
    /// cannot fix may be there.
    #[test]
    fn only_final_refusals_stop_a_y_websocket_provider() {
        let gives_up = |code: CloseCode| (4400..4500).contains(&code.0);
        for code in [UNAUTHORIZED, FORBIDDEN, BOARD_NOT_FOUND] {
            assert!(gives_up(code), "{code:?}");
        }
        for code in [RESTART, NOT_SAVED, TOO_SLOW, TOO_FAST, BOARD_FULL, SERVER_FULL, TOO_MANY_BOARDS, BOARD_LOADING] {
            assert!(!gives_up(code), "{code:?}");
        }
    }
}
