//! Board creation paced per client address, and for the whole server: `POST
//! /api/boards` is open to anyone, and each board is a row and a log entry kept for good.
//!
//! Each address has a bucket of `burst` creations that refills at `per_minute`; the
//! server has one bucket of a minute's worth of `global_per_minute`, which bounds what
//! many addresses together can create. An empty bucket answers 429 with `Retry-After`
//! (whole seconds until a creation is allowed again) and creates nothing. Behind a
//! reverse proxy every request comes from the proxy's address: then the global cap is
//! what holds, and per-address pacing belongs in the proxy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use commonboard_protocol::api::ApiError;
use tokio::time::Instant;

use crate::listener::Peer;
use crate::telemetry::{self, Limit};

/// Addresses remembered at most; past it, addresses whose bucket is full again are
/// forgotten (they would start full anyway), so a flood of addresses cannot grow the
/// table without bound.
const MAX_ADDRESSES: usize = 10_000;

/// How fast boards may be created (see `config` for each flag).
#[derive(Debug, Clone, Copy)]
pub struct CreationRate {
    /// Creations per minute one address may sustain; 0 turns the per-address limit off.
    pub per_minute: f64,
    /// Creations one address may make at once.
    pub burst: u32,
    /// Creations per minute on the whole server, all addresses together (also its
    /// burst); 0 turns the global limit off.
    pub global_per_minute: f64,
}

/// A token bucket: `capacity` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Self {
        Bucket { tokens: capacity, refilled: now }
    }

    fn refill(&mut self, capacity: f64, per_second: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(capacity);
        self.refilled = now;
    }

    /// How long until a token is there (zero when one is).
    fn wait(&self, per_second: f64) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / per_second)
        }
    }
}

/// The buckets: one per address, one for the server.
pub struct CreationLimiter {
    rate: CreationRate,
    state: Mutex<Buckets>,
}

struct Buckets {
    global: Bucket,
    by_address: HashMap<IpAddr, Bucket>,
}

impl CreationLimiter {
    pub fn new(rate: CreationRate) -> Self {
        let now = Instant::now();
        let global = Bucket::full(rate.global_per_minute, now);
        CreationLimiter { rate, state: Mutex::new(Buckets { global, by_address: HashMap::new() }) }
    }

    /// Takes one creation for `address` (unknown: only the global bucket counts) at
    /// `now`; `Err` holds how long to wait, and nothing is taken.
    pub fn admit(&self, address: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let rate = self.rate;
        let per_address = rate.per_minute > 0.0 && rate.per_minute.is_finite();
        let global = rate.global_per_minute > 0.0 && rate.global_per_minute.is_finite();
        let (capacity, refill) = (f64::from(rate.burst.max(1)), rate.per_minute / 60.0);
        let (global_capacity, global_refill) = (rate.global_per_minute.max(1.0), rate.global_per_minute / 60.0);
        let mut state = self.state.lock().expect("creation limiter lock");
        let mut wait = Duration::ZERO;
        if global {
            state.global.refill(global_capacity, global_refill, now);
            wait = wait.max(state.global.wait(global_refill));
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        let mut address = address.filter(|_| per_address);
        if let Some(key) = address {
            if state.by_address.len() >= MAX_ADDRESSES && !state.by_address.contains_key(&key) {
                state.by_address.retain(|_, bucket| {
                    bucket.refill(capacity, refill, now);
                    bucket.tokens < capacity
                });
            }
            // Still full: every address there created lately. This one is held by the
            // global bucket only.
            if state.by_address.len() >= MAX_ADDRESSES && !state.by_address.contains_key(&key) {
                address = None;
            }
        }
        if let Some(address) = address {
            let bucket = state.by_address.entry(address).or_insert_with(|| Bucket::full(capacity, now));
            bucket.refill(capacity, refill, now);
            wait = wait.max(bucket.wait(refill));
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if global {
            state.global.tokens -= 1.0;
        }
        if let Some(address) = address {
            state.by_address.get_mut(&address).expect("inserted above").tokens -= 1.0;
        }
        Ok(())
    }
}

/// Middleware of `POST /api/boards`: 429 with `Retry-After` once the creator's address,
/// or the server, is out of creations.
pub async fn limit(State(limiter): State<Arc<CreationLimiter>>, request: Request, next: Next) -> Response {
    let address = request.extensions().get::<ConnectInfo<Peer>>().map(|info| info.0.addr.ip());
    match limiter.admit(address, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            tracing::warn!(address = ?address, retry_after_s = seconds, "board creation refused: too many, too fast");
            telemetry::refused(Limit::CreationRate);
            let error = format!("too many boards created from here; try again in {seconds} seconds");
            let headers = [(header::RETRY_AFTER, seconds.to_string())];
            (StatusCode::TOO_MANY_REQUESTS, headers, Json(ApiError { error })).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_gets_its_burst_then_its_rate() {
        let limiter = CreationLimiter::new(CreationRate { per_minute: 6.0, burst: 3, global_per_minute: 0.0 });
        for _ in 0..3 {
            assert_eq!(limiter.admit(address(1), Instant::now()), Ok(()));
        }
        let wait = limiter.admit(address(1), Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10), "6 a minute: one every 10 seconds");
        assert_eq!(limiter.admit(address(2), Instant::now()), Ok(()), "another address has its own bucket");
        tokio::time::advance(wait).await;
        assert_eq!(limiter.admit(address(1), Instant::now()), Ok(()));
        assert!(limiter.admit(address(1), Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_cap_holds_across_addresses() {
        let limiter = CreationLimiter::new(CreationRate { per_minute: 60.0, burst: 10, global_per_minute: 4.0 });
        for last in 0..4 {
            assert_eq!(limiter.admit(address(last), Instant::now()), Ok(()));
        }
        assert_eq!(limiter.admit(address(9), Instant::now()), Err(Duration::from_secs(15)));
        assert!(limiter.admit(None, Instant::now()).is_err(), "an unknown address counts globally");
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(limiter.admit(None, Instant::now()), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_the_limits_off_and_the_table_stays_bounded() {
        let off = CreationLimiter::new(CreationRate { per_minute: 0.0, burst: 1, global_per_minute: 0.0 });
        for _ in 0..100 {
            assert_eq!(off.admit(address(1), Instant::now()), Ok(()));
        }
        let limiter = CreationLimiter::new(CreationRate { per_minute: 60.0, burst: 1, global_per_minute: 0.0 });
        for n in 0..(MAX_ADDRESSES as u32 + 10) {
            let ip = IpAddr::from(n.to_be_bytes());
            let _ = limiter.admit(Some(ip), Instant::now());
            if n == MAX_ADDRESSES as u32 {
                tokio::time::advance(Duration::from_secs(1)).await;
            }
        }
        assert!(limiter.state.lock().unwrap().by_address.len() <= MAX_ADDRESSES);
        assert_eq!(limiter.state.lock().unwrap().by_address.len(), 9, "forgotten once refilled");
    }
}
