//! The kernel's floor for fan-out: what it costs to write one pre-framed WebSocket
//! message to one loopback socket, with nothing else in the way. A server's CPU per
//! delivered update divided by this is how far it is from the floor (issue 19).
//!
//! One writer thread holds the server ends of `connections` loopback TCP connections
//! and, `rate` times a second, writes the same server frame (unmasked, so identical
//! for every receiver) of `frame_bytes` to each of them, one `write` per socket, as a
//! board fans out one update. Reader tasks drain the client ends. Only the writer's
//! CPU time is counted: on loopback the receiving side's TCP work (and waking its
//! reader) runs inside the writer's `write`, as it does inside a server's.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::io::AsyncReadExt;

/// What to write, to how many sockets, how often and for how long.
#[derive(Debug, Clone, Copy)]
pub struct FloorConfig {
    pub connections: usize,
    /// Payload bytes of each message (the frame adds its 2 to 10 header bytes).
    pub frame_bytes: usize,
    /// Updates a second, each written to every connection.
    pub rate: f64,
    pub duration: Duration,
}

/// The writer's cost, measured.
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    pub connections: usize,
    pub frame_bytes: usize,
    pub updates: u64,
    pub deliveries: u64,
    /// CPU time of the writer thread (user and system), seconds.
    pub writer_cpu_s: f64,
    /// The floor: writer CPU per delivered message, microseconds.
    pub cpu_us_per_delivery: f64,
    /// `write` calls per delivery (one: no batching across sockets is possible).
    pub writes_per_delivery: f64,
}

/// A server's WebSocket frame: FIN, binary, unmasked, with the payload length in the
/// shortest form the protocol allows.
pub fn server_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x82];
    match payload.len() {
        len @ 0..=125 => frame.push(len as u8),
        len @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// Runs the measurement: connects, writes for `config.duration`, and reports.
pub async fn measure(config: FloorConfig) -> anyhow::Result<FloorReport> {
    anyhow::ensure!(config.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(config.rate > 0.0, "--rate must be above 0");
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on loopback")?;
    let addr = listener.local_addr()?;
    let mut server_ends = Vec::with_capacity(config.connections);
    let mut readers = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let client = TcpStream::connect(addr).context("cannot connect on loopback")?;
        let (server, _) = listener.accept()?;
        server.set_nodelay(true)?;
        client.set_nonblocking(true)?;
        let mut client = tokio::net::TcpStream::from_std(client)?;
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            while matches!(client.read(&mut buffer).await, Ok(n) if n > 0) {}
        }));
        server_ends.push(server);
    }
    let frame = server_frame(&vec![0x2a; config.frame_bytes]);
    let writer = std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || write_for(server_ends, &frame, config))
        .context("cannot start the writer thread")?;
    let (updates, writer_cpu_s) = tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))??;
    for reader in readers {
        let _ = reader.await;
    }
    let deliveries = updates * config.connections as u64;
    Ok(FloorReport {
        connections: config.connections,
        frame_bytes: config.frame_bytes,
        updates,
        deliveries,
        writer_cpu_s,
        cpu_us_per_delivery: writer_cpu_s * 1e6 / deliveries.max(1) as f64,
        writes_per_delivery: 1.0,
    })
}

/// The writer: every tick, the frame to each socket; then the sockets close, which
/// ends the readers. Returns the updates written and the thread's CPU seconds.
fn write_for(mut sockets: Vec<TcpStream>, frame: &[u8], config: FloorConfig) -> anyhow::Result<(u64, f64)> {
    let interval = Duration::from_secs_f64(1.0 / config.rate);
    let start = Instant::now();
    let cpu_start = thread_cpu_s();
    let mut updates = 0u64;
    let mut next = start;
    while start.elapsed() < config.duration {
        for socket in &mut sockets {
            socket.write_all(frame).context("a loopback write failed")?;
        }
        updates += 1;
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let cpu = thread_cpu_s() - cpu_start;
    drop(sockets);
    Ok((updates, cpu))
}

/// CPU time of the calling thread, seconds (exact, not in clock ticks).
fn thread_cpu_s() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_shortest_length() {
        assert_eq!(server_frame(&[1, 2]), vec![0x82, 2, 1, 2]);
        let medium = server_frame(&[0; 300]);
        assert_eq!(&medium[..4], &[0x82, 126, 0x01, 0x2c]);
        assert_eq!(medium.len(), 304);
        let large = server_frame(&vec![0; 70_000]);
        assert_eq!(&large[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(large[2..10].try_into().unwrap()), 70_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_floor_writes_every_delivery_and_counts_its_cpu() {
        let config = FloorConfig { connections: 8, frame_bytes: 64, rate: 200.0, duration: Duration::from_millis(300) };
        let report = measure(config).await.unwrap();
        assert!(report.updates >= 10, "{report:?}");
        assert_eq!(report.deliveries, report.updates * 8);
        assert!(report.writer_cpu_s > 0.0 && report.cpu_us_per_delivery > 0.0, "{report:?}");
    }
}
