//! One WebSocket connection to a board: a reader loop and a writer task.
//!
//! The reader decodes each frame (off the board's task) and forwards the messages to
//! the board; a frame that does not decode, is too big or is text closes this
//! connection only, with a close code and a reason. Frames are written to the socket
//! by whoever sends them while the kernel takes them (the board writes its broadcasts
//! itself, see [`Socket`]); the writer task drains the connection's bounded queue only
//! when the kernel would block, and sends the pings and the close frame. When the
//! queue overflows the board closes the connection instead of waiting for it, so one
//! slow client never slows the board. Either side ending ends the other, through the
//! connection's [`Closer`].
//!
//! Limits a connection meets here: the server's connection count (refused with 4531),
//! the board's (4530, decided by the board), the boards loaded (4532, decided by the
//! registry), and the message rate: the reader takes a token per protocol message (and
//! per 64 KiB of a frame) and, with none left, waits before reading on, so a fast client is slowed down; one slowed down for
//! longer than the flood cutoff is closed with 4529.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use commonboard_protocol::close::{self, CloseCode};
use commonboard_protocol::frame::decode_frame_within;
use commonboard_protocol::validate::WireLimits;
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument, warn};

use crate::board::{BoardCmd, BoardError, BoardHandle, Member};
use crate::outbox::{next_conn_id, Closer, ConnId, Outbox, Released};
use crate::rate::{Admit, RateLimit, TokenBucket};
use crate::registry::Registry;
use crate::socket::{Cap, Socket};
use crate::telemetry::{self, Limit};
use crate::ws_frame::Frame;

/// How often the server pings an idle client, so proxies keep the connection open.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How many times a join is retried when it races with the board unloading.
const JOIN_ATTEMPTS: usize = 3;

/// Settings of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Frames queued before the client counts as too slow.
    pub send_queue: usize,
    /// Largest message accepted, for the close reason.
    pub max_message_bytes: usize,
    /// Messages per second, burst, and how long a flood may last.
    pub rate: RateLimit,
    /// What one frame may hold (messages, nesting, keys), checked before yrs reads it.
    pub wire: WireLimits,
}

/// Bytes of a frame that count as one message for the rate limit: a client sending a
/// few large frames is paced like one sending many small ones. A 1 MB paste costs 16
/// messages, well within the burst.
const BYTES_PER_TOKEN: usize = 64 << 10;

/// Serves one client on `board` until either side closes: `socket` is read through
/// `ws` (tungstenite) and written by the board and the writer task directly.
#[instrument(skip_all, fields(board = %board, conn))]
pub async fn serve(
    ws: WebSocket,
    socket: Arc<Socket>,
    board: String,
    member: Member,
    registry: Arc<Registry>,
    limits: ConnLimits,
    shutdown: CancellationToken,
) {
    let conn = next_conn_id();
    tracing::Span::current().record("conn", conn);
    let Some(_slot) = registry.admit_connection() else {
        let limit = registry.max_connections();
        warn!(limit, "server full; refusing a connection");
        telemetry::refused(Limit::ServerConnections);
        let reason = format!("server full: {limit} connections; try again later");
        return refuse(ws, close::SERVER_FULL, &reason).await;
    };
    // From here on tungstenite's own writes (a pong, the answer to a close) queue
    // behind the frames.
    socket.upgrade();
    let closer = Closer::new();
    let (outbox, released) = Outbox::new(socket.clone(), closer.clone(), limits.send_queue);
    let writer = tokio::spawn(write_loop(socket, released, closer.clone()));
    // Held until the join is answered: a refused join drops the board's copy of the
    // outbox, and the writer must see the refusal's reason, not a board that let go.
    let joining = outbox.clone();

    let joined = join(&registry, &board, conn, member, outbox).await;
    if let Err(error) = &joined {
        error.refuse(&closer);
    }
    drop(joining);
    if let Ok(handle) = joined {
        metrics::gauge!(telemetry::CONNECTIONS).increment(1.0);
        read_loop(ws, conn, &handle, &closer, limits, &shutdown).await;
        // Before the board lets go of the outbox: the writer closes with 1000, not as
        // if the board had stopped.
        closer.close(CloseCode(1000), "");
        let _ = handle.tx.send(BoardCmd::Leave { conn }).await;
        metrics::gauge!(telemetry::CONNECTIONS).decrement(1.0);
    }
    closer.close(CloseCode(1000), "");
    let _ = writer.await;
    if let Some((code, reason)) = closer.reason() {
        debug!(code = code.0, reason, "closed");
        if !matches!(code.0, 1000 | 1001 | 1006) {
            metrics::counter!(telemetry::CONNECTIONS_DROPPED, "code" => code.0.to_string()).increment(1);
        }
    }
}

/// Closes a socket straight away with a code and reason.
pub async fn refuse(mut socket: WebSocket, code: CloseCode, reason: &str) {
    let frame = CloseFrame { code: code.0, reason: reason.into() };
    let _ = socket.send(WsMessage::Close(Some(frame))).await;
}

async fn join(
    registry: &Registry,
    board: &str,
    conn: ConnId,
    member: Member,
    outbox: Outbox,
) -> Result<BoardHandle, BoardError> {
    for _ in 0..JOIN_ATTEMPTS {
        let (handle, _pending) = registry.load(board).await?;
        let (reply, joined) = oneshot::channel();
        let cmd = BoardCmd::Join { conn, member: member.clone(), outbox: outbox.clone(), reply };
        if handle.tx.send(cmd).await.is_err() {
            continue;
        }
        match joined.await {
            Ok(Ok(())) => return Ok(handle),
            Ok(Err(BoardError::Unloading)) | Err(_) => continue,
            Ok(Err(error)) => return Err(error),
        }
    }
    Err(BoardError::Unloading)
}

async fn read_loop(
    mut stream: WebSocket,
    conn: ConnId,
    board: &BoardHandle,
    closer: &Closer,
    limits: ConnLimits,
    shutdown: &CancellationToken,
) {
    let mut bucket = TokenBucket::new(limits.rate, tokio::time::Instant::now());
    loop {
        let message = tokio::select! {
            _ = closer.closed() => return,
            _ = shutdown.cancelled() => {
                closer.close(close::GOING_AWAY, "server shutting down");
                return;
            }
            message = stream.next() => message,
        };
        match message {
            Some(Ok(WsMessage::Binary(bytes))) => match decode_frame_within(&bytes, &limits.wire) {
                Ok(messages) => {
                    // Each protocol message is paced, and so is each slice of bytes.
                    let cost = messages.len() + bytes.len() / BYTES_PER_TOKEN;
                    if !take_tokens(&mut bucket, cost, limits.rate, closer).await {
                        return;
                    }
                    if board.tx.send(BoardCmd::Messages { conn, messages }).await.is_err() {
                        closer.close(close::INTERNAL, "board restarted; reconnect");
                        return;
                    }
                }
                Err(error) => {
                    warn!(%error, "malformed frame, closing connection");
                    closer.close(close::INVALID_DATA, close::fit_reason(&format!("malformed frame: {error}")));
                    return;
                }
            },
            Some(Ok(WsMessage::Text(_))) => {
                warn!("text frame, closing connection");
                closer.close(close::POLICY, "binary frames only (Yjs protocol)");
                return;
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Ok(WsMessage::Close(_))) | None => return,
            Some(Err(error)) => {
                if is_too_big(error) {
                    warn!(limit = limits.max_message_bytes, "oversize message, closing connection");
                    let reason = format!("message larger than the limit of {} bytes", limits.max_message_bytes);
                    closer.close(close::TOO_BIG, reason);
                } else {
                    debug!("socket error");
                }
                return;
            }
        }
    }
}

/// Takes a frame's tokens (`cost`: its messages and bytes), waiting for them if the
/// client is too fast; false when the connection is to end (a flood, or closed
/// meanwhile).
async fn take_tokens(bucket: &mut TokenBucket, cost: usize, rate: RateLimit, closer: &Closer) -> bool {
    match bucket.take_n(tokio::time::Instant::now(), cost) {
        Admit::Now => true,
        Admit::Wait { wait, started } => {
            if started {
                debug!(rate = rate.per_second, burst = rate.burst, "client over the message rate; slowing it down");
                metrics::counter!(telemetry::THROTTLED).increment(1);
            }
            tokio::select! {
                _ = closer.closed() => false,
                _ = tokio::time::sleep(wait) => true,
            }
        }
        Admit::Flood => {
            let cutoff = rate.flood_cutoff.as_secs_f64();
            warn!(
                rate = rate.per_second,
                cutoff_s = cutoff,
                "client flooding: over the message rate too long; closing it"
            );
            telemetry::refused(Limit::Flood);
            let reason = format!("sending too fast: over {} messages/s for {cutoff}s", rate.per_second);
            closer.close(close::TOO_FAST, close::fit_reason(&reason));
            false
        }
    }
}

fn is_too_big(error: axum::Error) -> bool {
    let inner = error.into_inner();
    matches!(inner.downcast_ref::<WsError>(), Some(WsError::Capacity(CapacityError::MessageTooLong { .. })))
}

/// The connection's writer: drains the queue when the kernel would not take the
/// frames at once, pings an idle client, and ends the stream with the close frame.
async fn write_loop(socket: Arc<Socket>, released: Released, closer: Arc<Closer>) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let written = tokio::select! {
            biased;
            _ = closer.closed() => break,
            // Closing stops the wait: the close frame then finishes the stream.
            () = socket.handed_over() => tokio::select! {
                biased;
                _ = closer.closed() => break,
                drained = socket.drain() => drained,
            },
            () = released.released() => {
                closer.close(close::INTERNAL, "board stopped; reconnect");
                break;
            }
            _ = ping.tick() => socket.send([&Frame::ping()], Cap::NONE, true).map_err(std::io::Error::other),
        };
        if written.is_err() {
            closer.close(CloseCode(1006), "");
            return;
        }
    }
    if let Some((code, reason)) = closer.reason() {
        if code.0 != 1006 {
            socket.close(&Frame::close(*code, reason)).await;
        }
    }
}
