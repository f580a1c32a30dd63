//! In-process figures the store cannot give: how long ingest takes, as a histogram
//! for `/metrics`. Lock-free counters, shared by the ingest loop and the HTTP server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the ingest latency buckets.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Shared by the service's tasks.
pub struct Telemetry {
    pub started: Instant,
    /// Per message: from the start of its batch's fetch to the commit that stored it.
    pub ingest_latency: Histogram,
    pub batches: AtomicU64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            started: Instant::now(),
            ingest_latency: Histogram::new(LATENCY_BOUNDS),
            batches: AtomicU64::new(0),
        }
    }
}

impl Telemetry {
    /// A batch of `messages` committed `latency` after its fetch began.
    pub fn batch_stored(&self, messages: usize, latency: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.ingest_latency
            .observe_many(latency.as_secs_f64(), messages as u64);
    }
}

/// A Prometheus-style histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus +Inf; not cumulative (summed when written out).
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// `n` observations of `seconds`.
    pub fn observe_many(&self, seconds: f64, n: u64) {
        if n == 0 {
            return;
        }
        let index = self
            .bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(n, Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64 * n, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (the last is +Inf), the count and the sum (s).
    pub fn snapshot(&self) -> (Vec<(Option<f64>, u64)>, u64, f64) {
        let mut running = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            running += b.load(Ordering::Relaxed);
            out.push((self.bounds.get(i).copied(), running));
        }
        (
            out,
            self.count.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe_many(0.05, 2);
        h.observe_many(0.5, 1);
        h.observe_many(7.0, 1);
        let (buckets, count, sum) = h.snapshot();
        assert_eq!(buckets, vec![(Some(0.1), 2), (Some(1.0), 3), (None, 4)]);
        assert_eq!(count, 4);
        assert!((sum - 7.6).abs() < 1e-6);
    }
}
