//! A token bucket per connection: a burst is fine, a faster stream is slowed down, and a
//! stream that stays too fast for too long (a flood) is cut.
//!
//! Each protocol message takes a token (and a large frame one per 64 KiB, see
//! `connection`); tokens come back at the configured rate, up to the burst.
//! With no token left the connection's reader waits until one is due instead of reading
//! on, so the client is slowed to the rate by TCP's own backpressure and loses nothing.
//! A connection that has had to wait for every message since some moment, for longer
//! than the flood cutoff, never paused: it is flooding, and is closed.

use std::time::Duration;

use tokio::time::Instant;

/// A connection's rate limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Messages per second, sustained; 0 (or less) turns the limit off.
    pub per_second: f64,
    /// Messages accepted at once before the rate applies.
    pub burst: u32,
    /// How long a connection may be slowed down without a pause before it is cut.
    pub flood_cutoff: Duration,
}

/// What to do with the message that just arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admit {
    /// Go on.
    Now,
    /// Wait this long before handling it. `started` is true for the first wait after a
    /// pause (the start of a throttled stretch).
    Wait { wait: Duration, started: bool },
    /// The connection has been slowed down for longer than the cutoff: close it.
    Flood,
}

/// The bucket of one connection.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    /// Tokens available; negative while a wait is owed.
    tokens: f64,
    refilled: Instant,
    /// Since when every message had to wait, if the last one did.
    throttled_since: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        TokenBucket { limit, tokens: f64::from(limit.burst.max(1)), refilled: now, throttled_since: None }
    }

    /// Takes a token for a message arriving at `now`.
    pub fn take(&mut self, now: Instant) -> Admit {
        self.take_n(now, 1)
    }

    /// Takes `cost` tokens for what arrived at `now` (a frame's messages and bytes). A
    /// full bucket admits even a cost over the burst, and is then owed the difference.
    pub fn take_n(&mut self, now: Instant, cost: usize) -> Admit {
        let cost = cost.max(1) as f64;
        let rate = self.limit.per_second;
        if !(rate > 0.0 && rate.is_finite()) {
            return Admit::Now;
        }
        let burst = f64::from(self.limit.burst.max(1));
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.refilled = now;
        if self.tokens >= cost.min(burst) {
            self.tokens -= cost;
            self.throttled_since = None;
            return Admit::Now;
        }
        let started = self.throttled_since.is_none();
        let since = *self.throttled_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.limit.flood_cutoff {
            return Admit::Flood;
        }
        let wait = Duration::from_secs_f64((cost.min(burst) - self.tokens) / rate);
        self.tokens -= cost;
        Admit::Wait { wait, started }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit { per_second: 10.0, burst: 5, flood_cutoff: Duration::from_secs(2) };

    /// Sends `count` messages as fast as the bucket lets them through (waiting when told
    /// to); returns how many waits there were, or `None` if the stream was cut.
    async fn send(bucket: &mut TokenBucket, count: usize) -> Option<usize> {
        let mut waits = 0;
        for _ in 0..count {
            match bucket.take(Instant::now()) {
                Admit::Now => {}
                Admit::Wait { wait, .. } => {
                    waits += 1;
                    tokio::time::advance(wait).await;
                }
                Admit::Flood => return None,
            }
        }
        Some(waits)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_within_the_bucket_is_not_slowed() {
        let mut bucket = TokenBucket::new(LIMIT, Instant::now());
        assert_eq!(send(&mut bucket, 5).await, Some(0));
        // After a pause the bucket is full again.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(send(&mut bucket, 5).await, Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_burst_the_stream_is_slowed_to_the_rate() {
        let mut bucket = TokenBucket::new(LIMIT, Instant::now());
        let start = Instant::now();
        // 5 at once, then 10 more at 10 per second: about one second.
        assert_eq!(send(&mut bucket, 15).await, Some(10));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(990) && took <= Duration::from_millis(1010), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sustained_flood_is_cut_and_a_pause_resets_the_count() {
        let mut bucket = TokenBucket::new(LIMIT, Instant::now());
        // 1.5 s of being slowed, then a pause: not a flood.
        assert_eq!(send(&mut bucket, 5 + 15).await, Some(15));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(send(&mut bucket, 15).await.is_some());
        // Slowed for more than the cutoff without a pause: cut.
        assert_eq!(send(&mut bucket, 100).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_wait_of_a_stretch_is_marked() {
        let mut bucket = TokenBucket::new(LIMIT, Instant::now());
        send(&mut bucket, 5).await;
        assert!(matches!(bucket.take(Instant::now()), Admit::Wait { started: true, .. }));
        assert!(matches!(bucket.take(Instant::now()), Admit::Wait { started: false, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn the_defaults_never_slow_the_web_client_or_the_workshop_preset() {
        let config = crate::config::Config::with_data_dir(".");
        let defaults = RateLimit {
            per_second: config.message_rate,
            burst: config.message_burst,
            flood_cutoff: config.flood_cutoff,
        };
        // A minute-long drag on a 144 Hz screen: an update per frame, plus the web
        // client's cursor (at most one per 50 ms). The load tool's workshop preset (2
        // edits and 5 cursor moves a second) sends far less.
        let mut bucket = TokenBucket::new(defaults, Instant::now());
        let (frame, cursor) = (Duration::from_secs(1) / 144, Duration::from_millis(50));
        let (mut next_frame, mut next_cursor) = (Instant::now(), Instant::now());
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            let next = next_frame.min(next_cursor);
            tokio::time::advance(next - Instant::now()).await;
            if next == next_frame {
                next_frame += frame;
            } else {
                next_cursor += cursor;
            }
            assert_eq!(bucket.take(Instant::now()), Admit::Now);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_costs_its_messages_and_a_full_bucket_admits_one_over_the_burst() {
        let mut bucket = TokenBucket::new(LIMIT, Instant::now());
        // Five messages in one frame take the whole burst.
        assert_eq!(bucket.take_n(Instant::now(), 5), Admit::Now);
        assert!(matches!(bucket.take_n(Instant::now(), 1), Admit::Wait { .. }));
        // Refilled, a frame costing 20 (over the burst of 5) passes, and is owed: the
        // next message waits for 16 tokens at 10 a second.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(bucket.take_n(Instant::now(), 20), Admit::Now);
        match bucket.take_n(Instant::now(), 1) {
            Admit::Wait { wait, .. } => assert_eq!(wait, Duration::from_millis(1600)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_of_zero_is_no_limit() {
        let mut bucket = TokenBucket::new(RateLimit { per_second: 0.0, ..LIMIT }, Instant::now());
        assert_eq!(send(&mut bucket, 10_000).await, Some(0));
    }
}
