//! A client's TCP socket and the frames waiting for it, shared by the HTTP server (up to
//! the WebSocket upgrade), the connection's reader and writer, and the board.
//!
//! Frames leave in the order they were queued. Whoever queues a frame while nothing
//! waits writes it at once, from its own task (for a broadcast, the board's): the
//! kernel takes it and no task is woken. Only when the kernel would block does the
//! connection's writer task take over (the socket's `handover`), waiting until the
//! socket is writable and draining the queue; meanwhile frames queue behind, bounded
//! by the caller's [`Cap`]. A frame the kernel took in part is always finished before
//! anything else goes, so the stream of frames stays whole.
//!
//! A socket without a TCP stream (`detached`) only queues: a remote member's frames
//! are taken from it and published to its node (`cluster::owner`), and board tests
//! use one.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::ws_frame::Frame;

/// Most frames handed to the kernel in one vectored write.
const MAX_IOV: usize = 64;

/// A client's socket: the TCP stream (none when detached) and its queue.
pub struct Socket {
    tcp: Option<TcpStream>,
    pending: Mutex<Pending>,
    /// Wakes the connection's writer task once the queue is its to drain.
    handover: Notify,
    /// Set at the WebSocket upgrade: from then on, bytes written through the HTTP
    /// stream (tungstenite's replies to a ping or a close) queue behind the frames.
    upgraded: std::sync::atomic::AtomicBool,
}

/// The queue of one socket, behind its mutex.
#[derive(Default)]
struct Pending {
    frames: VecDeque<Bytes>,
    /// Bytes of the first frame already written.
    head: usize,
    /// Bytes queued and not yet written.
    bytes: usize,
    /// The writer task drains the queue (the kernel would block): nobody else writes.
    writer: bool,
    /// Nothing more is queued: the socket failed, or it is closing.
    shut: bool,
    /// A close frame is queued or written: no second one goes.
    close_queued: bool,
}

/// How much may wait in a socket's queue: a frame beyond it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub frames: usize,
    /// Bytes; one frame alone always fits.
    pub bytes: usize,
}

impl Cap {
    /// No bound, for the few control frames of the connection itself.
    pub const NONE: Cap = Cap { frames: usize::MAX, bytes: usize::MAX };
}

/// Why a frame was not queued.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0} frames queued")]
    Frames(usize),
    #[error("{0} bytes queued")]
    Bytes(usize),
    #[error("the socket is closing")]
    Shut,
    #[error("the socket failed: {0}")]
    Failed(#[from] io::Error),
}

impl Socket {
    /// A socket for an accepted TCP stream.
    pub fn new(tcp: TcpStream) -> Socket {
        Socket::with(Some(tcp))
    }

    /// A socket with no TCP stream: frames only queue, for whoever takes them.
    pub fn detached() -> Socket {
        Socket::with(None)
    }

    fn with(tcp: Option<TcpStream>) -> Socket {
        Socket {
            tcp,
            pending: Mutex::default(),
            handover: Notify::new(),
            upgraded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        self.tcp.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frames` (each within `cap`) and, when `now` and the writer task is not
    /// draining, writes what the kernel takes at once; the rest is handed to the writer.
    pub fn send<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>, cap: Cap, now: bool) -> Result<(), Refused> {
        let mut pending = self.lock();
        if pending.shut {
            return Err(Refused::Shut);
        }
        for frame in frames {
            let len = frame.len();
            // Bounded is the backlog the kernel refused; a tick's frames queued for one
            // write (`now` false) are on their way.
            if pending.writer && pending.frames.len() >= cap.frames {
                return Err(Refused::Frames(cap.frames));
            }
            if pending.writer && pending.bytes > 0 && pending.bytes.saturating_add(len) > cap.bytes {
                return Err(Refused::Bytes(cap.bytes));
            }
            pending.bytes += len;
            pending.frames.push_back(frame.bytes().clone());
        }
        if now {
            self.write_or_hand_over(&mut pending)?;
        }
        Ok(())
    }

    /// Writes what was queued without writing (`send` with `now` false).
    pub fn flush(&self) -> Result<(), Refused> {
        let mut pending = self.lock();
        if pending.shut {
            return Err(Refused::Shut);
        }
        self.write_or_hand_over(&mut pending)
    }

    /// Bytes written through the HTTP stream after the upgrade (tungstenite's answers
    /// to a ping or a close, whole frames): queued behind the frames. A second close
    /// frame is dropped.
    pub(crate) fn send_raw(&self, bytes: &[u8]) -> io::Result<()> {
        let mut pending = self.lock();
        if pending.shut {
            // Closing: its close frame is queued already, and nothing goes after it.
            return if Frame::is_close(bytes) { Ok(()) } else { Err(io::ErrorKind::BrokenPipe.into()) };
        }
        if Frame::is_close(bytes) {
            if pending.close_queued {
                return Ok(());
            }
            pending.close_queued = true;
        }
        pending.bytes += bytes.len();
        pending.frames.push_back(Bytes::copy_from_slice(bytes));
        self.write_or_hand_over(&mut pending).map_err(|refused| match refused {
            Refused::Failed(error) => error,
            other => io::Error::other(other),
        })
    }

    fn write_or_hand_over(&self, pending: &mut Pending) -> Result<(), Refused> {
        if pending.writer || pending.frames.is_empty() {
            return Ok(());
        }
        match self.write_some(pending) {
            Ok(true) => Ok(()),
            Ok(false) => {
                pending.writer = true;
                self.handover.notify_one();
                Ok(())
            }
            Err(error) => {
                pending.shut = true;
                pending.frames.clear();
                pending.bytes = 0;
                Err(Refused::Failed(error))
            }
        }
    }

    /// Writes queued frames until the queue is empty (true) or the kernel would block
    /// (false). Never blocks.
    fn write_some(&self, pending: &mut Pending) -> io::Result<bool> {
        let Some(tcp) = &self.tcp else { return Ok(false) };
        while !pending.frames.is_empty() {
            let written = {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let mut count = 0;
                for (slot, frame) in iov.iter_mut().zip(&pending.frames) {
                    *slot = IoSlice::new(if count == 0 { &frame[pending.head..] } else { frame });
                    count += 1;
                }
                match tcp.try_write_vectored(&iov[..count]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(written) => written,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(error) => return Err(error),
                }
            };
            pending.advance(written);
        }
        Ok(true)
    }

    /// Resolves when the queue was handed to the writer task.
    pub async fn handed_over(&self) {
        self.handover.notified().await
    }

    /// The writer task's part: writes the queue out as the socket becomes writable,
    /// then gives writing back to whoever queues next.
    pub async fn drain(&self) -> io::Result<()> {
        let Some(tcp) = &self.tcp else { return Ok(()) };
        loop {
            {
                let mut pending = self.lock();
                match self.write_some(&mut pending) {
                    Ok(true) => {
                        pending.writer = false;
                        return Ok(());
                    }
                    Ok(false) => {}
                    Err(error) => {
                        pending.shut = true;
                        return Err(error);
                    }
                }
            }
            tcp.writable().await?;
        }
    }

    /// Ends the stream with `close`: frames not yet begun are dropped (a frame begun is
    /// finished), unless a close frame is already queued (the answer to the client's),
    /// which then goes with everything before it. Waits until it is written, then
    /// shuts the sending side.
    pub async fn close(&self, close: &Frame) {
        {
            let mut pending = self.lock();
            if pending.shut && !pending.writer {
                return;
            }
            if !pending.close_queued {
                let keep = usize::from(pending.head > 0);
                pending.frames.truncate(keep);
                pending.bytes = pending.frames.front().map_or(0, |f| f.len() - pending.head);
                pending.frames.push_back(close.bytes().clone());
                pending.bytes += close.len();
                pending.close_queued = true;
            }
            pending.shut = true;
            // Only this task writes from now on.
            pending.writer = true;
        }
        if self.drain().await.is_ok() {
            if let Some(tcp) = &self.tcp {
                let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write);
            }
        }
    }

    /// Takes every queued frame (a detached socket's reader), giving writing back.
    pub fn take_all(&self) -> Vec<Bytes> {
        let mut pending = self.lock();
        pending.bytes = 0;
        pending.head = 0;
        pending.writer = false;
        pending.frames.drain(..).collect()
    }

    /// Frames waiting.
    pub fn depth(&self) -> usize {
        self.lock().frames.len()
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// From now on bytes written through the HTTP stream queue behind the frames.
    pub(crate) fn upgrade(&self) {
        self.upgraded.store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn is_upgraded(&self) -> bool {
        self.upgraded.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Pending {
    /// `written` bytes from the front of the queue went to the kernel.
    fn advance(&mut self, mut written: usize) {
        self.bytes -= written;
        while written > 0 {
            let Some(front) = self.frames.front() else { break };
            let left = front.len() - self.head;
            if written < left {
                self.head += written;
                return;
            }
            written -= left;
            self.head = 0;
            self.frames.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (Socket, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Socket::new(server), client)
    }

    #[tokio::test]
    async fn frames_written_at_once_and_after_a_handover_arrive_whole_and_in_order() {
        let (socket, mut client) = pair().await;
        let small = Frame::binary(b"one");
        socket.send([&small], Cap::NONE, true).unwrap();
        assert_eq!(socket.depth(), 0, "the kernel took it at once");
        // More than the kernel buffers: the rest waits for the writer.
        let big = Frame::binary(&vec![7u8; 8 << 20]);
        socket.send([&big, &small], Cap::NONE, true).unwrap();
        assert!(socket.depth() > 0);
        let cap = Cap { frames: 100, bytes: 1 };
        assert!(matches!(socket.send([&small], cap, true), Err(Refused::Bytes(1))));
        let reading = tokio::spawn(async move {
            let mut all = Vec::new();
            let want = small.len() * 2 + big.len();
            let mut buf = vec![0; 1 << 16];
            while all.len() < want {
                let n = client.read(&mut buf).await.unwrap();
                assert!(n > 0);
                all.extend_from_slice(&buf[..n]);
            }
            all
        });
        socket.handed_over().await;
        socket.drain().await.unwrap();
        let all = reading.await.unwrap();
        assert_eq!(&all[..5], Frame::binary(b"one").bytes().as_ref());
        assert_eq!(&all[5..5 + (8 << 20) + 10], Frame::binary(&vec![7u8; 8 << 20]).bytes().as_ref());
        assert_eq!(&all[all.len() - 5..], Frame::binary(b"one").bytes().as_ref());
        assert_eq!(socket.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn closing_drops_what_was_not_begun_and_sends_one_close_frame() {
        let socket = Socket::detached();
        socket.send([&Frame::binary(b"x")], Cap::NONE, false).unwrap();
        socket.send_raw(Frame::close(commonboard_protocol::close::CloseCode(1000), "").bytes()).unwrap();
        socket.send_raw(Frame::close(commonboard_protocol::close::CloseCode(1001), "").bytes()).unwrap();
        assert_eq!(socket.depth(), 2);
        assert_eq!(socket.take_all().len(), 2);
        assert!(matches!(socket.flush(), Ok(())));
    }
}
