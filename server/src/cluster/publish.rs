//! The bounded queue of messages this node publishes to the broker, and what is refused.
//!
//! Everything a node publishes (committed updates and presence for the stream, frames
//! and closes for remote connections, forwarded client frames, beats, answers) is
//! queued here by synchronous code (the board actor's flush among others) and published
//! in order by one task. The queue holds at most [`PUBLISH_QUEUE`] messages. A message
//! is refused, never queued, when the queue is full (the broker is slow) or when the
//! broker connection is down; the caller is told ([`PublishRefused`]) and decides, and
//! the refusal is counted in [`PUBLISH_REFUSED`] by reason. What each caller does keeps
//! every accepted change, because the owner commits to the store before it publishes:
//!
//! - a committed update or presence frame for the stream is dropped: it is in the
//!   store's log already, and replicas see the gap in the board seq (at the next update
//!   or owner's beat) and read it from there; presence is renewed by its clients;
//! - a frame for a remote member is not sent: that member is closed with
//!   [`close::RESTART`], so its client reconnects and resyncs (the standard Yjs
//!   handshake sends back whatever it holds that the board lacks);
//! - a client's frame a replica forwards to the owner is not sent: the client is closed
//!   with [`close::RESTART`] at once, nothing it sent was accepted, and its provider
//!   sends it again on reconnect;
//! - beats and answers are dropped: a beat comes each second, and the asking node's
//!   request times out with an error its caller sees.
//!
//! [`close::RESTART`]: commonboard_protocol::close::RESTART

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::warn;

/// Most messages waiting to be published.
pub const PUBLISH_QUEUE: usize = 4096;

/// Messages waiting to be published to the broker, last seen (gauge).
pub const PUBLISH_QUEUE_DEPTH: &str = "commonboard_broker_publish_queue_messages";
/// Messages not published, by `reason`: `full` (the queue was full), `disconnected`
/// (the broker connection was down) or `failed` (the client library refused it) (counter).
pub const PUBLISH_REFUSED: &str = "commonboard_broker_publish_refused_total";

/// Why a message was not queued for the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefused {
    #[error("the broker connection is down")]
    Disconnected,
    #[error("{0} messages already wait for the broker")]
    Full(usize),
}

impl PublishRefused {
    fn label(self) -> &'static str {
        match self {
            PublishRefused::Disconnected => "disconnected",
            PublishRefused::Full(_) => "full",
        }
    }
}

/// The sending side of the queue.
pub(crate) struct PublishQueue {
    tx: mpsc::Sender<(String, Bytes)>,
    connected: Arc<AtomicBool>,
}

/// The receiving side, for [`run`].
pub(crate) type Queued = mpsc::Receiver<(String, Bytes)>;

impl PublishQueue {
    /// A queue of `capacity` messages, refusing while `connected` is false.
    pub(crate) fn new(capacity: usize, connected: Arc<AtomicBool>) -> (Self, Queued) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (PublishQueue { tx, connected }, rx)
    }

    /// Queues `payload` for `subject`, or says why not (and counts it).
    pub(crate) fn push(&self, subject: String, payload: Bytes) -> Result<(), PublishRefused> {
        let result = if !self.connected.load(Ordering::SeqCst) {
            Err(PublishRefused::Disconnected)
        } else {
            self.tx.try_send((subject, payload)).map_err(|_| PublishRefused::Full(self.tx.max_capacity()))
        };
        match result {
            Ok(()) => metrics::gauge!(PUBLISH_QUEUE_DEPTH).set(self.depth() as f64),
            Err(refused) => metrics::counter!(PUBLISH_REFUSED, "reason" => refused.label()).increment(1),
        }
        result
    }

    /// Messages waiting now.
    pub(crate) fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Publishes queued messages in order until every sender is gone.
pub(crate) async fn run(client: async_nats::Client, mut queue: Queued) {
    while let Some((subject, payload)) = queue.recv().await {
        metrics::gauge!(PUBLISH_QUEUE_DEPTH).set(queue.len() as f64);
        if let Err(error) = client.publish(subject, payload).await {
            metrics::counter!(PUBLISH_REFUSED, "reason" => "failed").increment(1);
            warn!(%error, "could not publish to the broker");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_and_keeps_what_it_holds_in_order() {
        let (queue, mut rx) = PublishQueue::new(3, Arc::new(AtomicBool::new(true)));
        for i in 0..3 {
            queue.push(format!("s{i}"), Bytes::new()).unwrap();
        }
        assert_eq!(queue.depth(), 3);
        assert_eq!(queue.push("s3".into(), Bytes::new()), Err(PublishRefused::Full(3)));
        let held: Vec<String> = (0..3).map(|_| rx.try_recv().unwrap().0).collect();
        assert_eq!(held, ["s0", "s1", "s2"]);
        assert_eq!(queue.depth(), 0);
        queue.push("s4".into(), Bytes::new()).unwrap();
        assert_eq!(rx.try_recv().unwrap().0, "s4");
    }

    #[test]
    fn nothing_is_queued_while_the_broker_is_away() {
        let connected = Arc::new(AtomicBool::new(false));
        let (queue, mut rx) = PublishQueue::new(3, connected.clone());
        assert_eq!(queue.push("s".into(), Bytes::new()), Err(PublishRefused::Disconnected));
        assert!(rx.try_recv().is_err());
        connected.store(true, Ordering::SeqCst);
        queue.push("s".into(), Bytes::new()).unwrap();
        assert!(rx.try_recv().is_ok());
    }
}
