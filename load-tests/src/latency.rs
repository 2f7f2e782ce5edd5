//! Latency accounting: sharded HDR histograms and the percentiles a report shows.
//!
//! Thousands of peer tasks record a sample for every (update, receiver) pair. Each peer
//! writes into one of a few [`Shard`]s, chosen by its index, under a short-lived mutex,
//! once per received frame; the coordinator merges the shards when it reports. Values
//! are microseconds, kept with three significant digits from 1 µs to two minutes.

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency kept exactly; slower deliveries count as this value.
const MAX_US: u64 = 120_000_000;

/// A new histogram with the bounds every latency uses.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// What one shard accumulates.
pub struct Shard {
    /// Fan-out latency of every measured (edit, receiver) pair.
    pub edits: Histogram<u64>,
    /// Same, since the progress line last read it.
    pub window: Histogram<u64>,
    /// Latency of cursor moves (awareness), measured the same way.
    pub cursors: Histogram<u64>,
    /// Edits of other editors received, in every phase.
    pub delivered: u64,
    /// Edits sent during the measurement window and received (the histogram's count).
    pub delivered_measured: u64,
    /// Cursor moves of other editors received.
    pub cursors_delivered: u64,
    /// WebSocket frames received.
    pub frames: u64,
    /// Payload bytes received.
    pub bytes: u64,
}

impl Shard {
    fn new() -> Self {
        Shard {
            edits: histogram(),
            window: histogram(),
            cursors: histogram(),
            delivered: 0,
            delivered_measured: 0,
            cursors_delivered: 0,
            frames: 0,
            bytes: 0,
        }
    }

    /// Records one measured edit delivery.
    pub fn edit(&mut self, latency_us: u64) {
        self.edits.saturating_record(latency_us.max(1));
        self.window.saturating_record(latency_us.max(1));
        self.delivered_measured += 1;
    }

    /// Records one measured cursor delivery.
    pub fn cursor(&mut self, latency_us: u64) {
        self.cursors.saturating_record(latency_us.max(1));
    }
}

/// Totals merged from every shard.
pub struct Totals {
    pub edits: Histogram<u64>,
    pub cursors: Histogram<u64>,
    pub delivered: u64,
    pub delivered_measured: u64,
    pub cursors_delivered: u64,
    pub frames: u64,
    pub bytes: u64,
}

/// Sharded recorder shared by every peer of a run.
pub struct Recorder {
    shards: Vec<Mutex<Shard>>,
}

impl Recorder {
    pub fn new(shards: usize) -> Self {
        Recorder { shards: (0..shards.max(1)).map(|_| Mutex::new(Shard::new())).collect() }
    }

    /// Runs `record` on the shard of peer `peer`.
    pub fn with<R>(&self, peer: usize, record: impl FnOnce(&mut Shard) -> R) -> R {
        let shard = &self.shards[peer % self.shards.len()];
        let mut guard = shard.lock().unwrap_or_else(|p| p.into_inner());
        record(&mut guard)
    }

    /// The window histogram of every shard merged, and reset; plus deliveries so far.
    pub fn take_window(&self) -> (Histogram<u64>, u64) {
        let mut merged = histogram();
        let mut delivered = 0;
        for shard in &self.shards {
            let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
            merged.add(&s.window).expect("same bounds");
            s.window.reset();
            delivered += s.delivered;
        }
        (merged, delivered)
    }

    /// Edits delivered so far, in every phase.
    pub fn delivered(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).delivered).sum()
    }

    /// Everything merged.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            edits: histogram(),
            cursors: histogram(),
            delivered: 0,
            delivered_measured: 0,
            cursors_delivered: 0,
            frames: 0,
            bytes: 0,
        };
        for shard in &self.shards {
            let s = shard.lock().unwrap_or_else(|p| p.into_inner());
            totals.edits.add(&s.edits).expect("same bounds");
            totals.cursors.add(&s.cursors).expect("same bounds");
            totals.delivered += s.delivered;
            totals.delivered_measured += s.delivered_measured;
            totals.cursors_delivered += s.cursors_delivered;
            totals.frames += s.frames;
            totals.bytes += s.bytes;
        }
        totals
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if histogram.is_empty() {
            return Percentiles {
                count: 0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                p999_ms: 0.0,
                max_ms: 0.0,
                mean_ms: 0.0,
            };
        }
        Percentiles {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let recorder = Recorder::new(4);
        // 1..=1000 ms, spread over shards as peers would.
        for ms in 1..=1000u64 {
            recorder.with(ms as usize, |s| s.edit(ms * 1000));
        }
        let totals = recorder.totals();
        assert_eq!(totals.delivered_measured, 1000);
        let p = Percentiles::of(&totals.edits);
        assert_eq!(p.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(p.p50_ms, 500.0), "p50 {}", p.p50_ms);
        assert!(close(p.p90_ms, 900.0), "p90 {}", p.p90_ms);
        assert!(close(p.p99_ms, 990.0), "p99 {}", p.p99_ms);
        assert!(close(p.p999_ms, 999.0), "p99.9 {}", p.p999_ms);
        assert!(close(p.max_ms, 1000.0), "max {}", p.max_ms);
        assert!(close(p.mean_ms, 500.5), "mean {}", p.mean_ms);
    }

    #[test]
    fn the_window_resets_but_the_totals_do_not() {
        let recorder = Recorder::new(2);
        recorder.with(0, |s| {
            s.edit(2_000);
            s.delivered += 1;
        });
        let (window, delivered) = recorder.take_window();
        assert_eq!((window.len(), delivered), (1, 1));
        assert_eq!(recorder.take_window().0.len(), 0);
        assert_eq!(recorder.totals().edits.len(), 1);
    }

    #[test]
    fn empty_and_out_of_range_samples() {
        assert_eq!(Percentiles::of(&histogram()).count, 0);
        let recorder = Recorder::new(1);
        recorder.with(0, |s| {
            s.edit(0);
            s.edit(u64::MAX);
        });
        let p = Percentiles::of(&recorder.totals().edits);
        assert_eq!(p.count, 2);
        assert!(p.max_ms >= 119_000.0);
    }
}
