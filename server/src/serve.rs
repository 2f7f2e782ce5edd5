//! The accept loop: hyper serves each connection, with a deadline for every request's
//! head, WebSocket upgrades, and a graceful end.
//!
//! `axum::serve` gives hyper no timer, and without one hyper has no deadline for a
//! request's head: a client that opens connections and sends nothing, or a header line
//! now and then (slowloris), held each one open for good (measured: still open after
//! 45 s); enough of them would use up the process's file descriptors, and then nobody
//! could join a board.
//! Here hyper has tokio's timer, and a connection whose request head (the first, or the
//! next on a kept-alive connection) is not complete within [`HEAD_TIMEOUT`] is closed.
//! A WebSocket, once upgraded, is the connection's own: its pings and the slow-reader
//! cut look after it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::debug;

use crate::listener::SocketListener;

/// How long a client has to send a whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`, then waits for the requests in flight
/// (upgraded WebSockets are not waited for here: their boards close them).
pub async fn serve(mut listener: SocketListener, app: Router, shutdown: CancellationToken) {
    // HTTP/1.1 only, as before (browsers speak HTTP/2 only over TLS, which a proxy in
    // front ends); a server guessing the version would wait for a first byte before
    // any deadline started.
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT);
    let connections = TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept_peer() => accepted,
            _ = shutdown.cancelled() => break,
        };
        // Every request carries its connection's info: the client's address (board
        // creation is paced by it) and the socket a WebSocket keeps.
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer.clone()));
            let app = app.clone();
            async move {
                let Ok(response) = app.oneshot(request.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                // The request in flight is answered, then the connection closes.
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}
