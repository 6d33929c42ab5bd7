//! A Prometheus histogram on atomics: fixed bucket bounds, one relaxed add per observation.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds of request and backend call durations, in seconds.
pub(crate) const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds of message sizes, in bytes.
pub(crate) const BYTES: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
];

/// The most bounds a histogram has.
const MAX_BOUNDS: usize = 14;

/// A histogram of values recorded in integer units (nanoseconds or bytes) against bounds given
/// in the unit Prometheus shows (seconds or bytes).
#[derive(Debug)]
pub(crate) struct Histogram {
    /// The bounds in recording units, ascending.
    bounds: [u64; MAX_BOUNDS],
    len: usize,
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    counts: [AtomicU64; MAX_BOUNDS + 1],
    /// The sum of observations, in recording units.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram over `bounds` (shown units) recorded in units `scale` times smaller
    /// (1e9 for seconds recorded in nanoseconds; 1 for bytes).
    pub(crate) fn new(bounds: &[f64], scale: f64) -> Self {
        assert!(bounds.len() <= MAX_BOUNDS, "too many histogram bounds");
        let mut scaled = [u64::MAX; MAX_BOUNDS];
        for (slot, bound) in scaled.iter_mut().zip(bounds) {
            *slot = (bound * scale) as u64;
        }
        Self {
            bounds: scaled,
            len: bounds.len(),
            counts: Default::default(),
            sum: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    #[inline]
    pub(crate) fn observe(&self, value: u64) {
        let bucket = self.bounds[..self.len]
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.len);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// How many observations there were.
    pub(crate) fn count(&self) -> u64 {
        self.counts[..=self.len]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines of `name` with `labels` (already
    /// rendered, without braces), the sum and bounds divided by `scale`.
    pub(crate) fn render(
        &self,
        out: &mut String,
        name: &str,
        labels: &str,
        bounds: &[f64],
        scale: f64,
    ) {
        let mut cumulative = 0;
        for (i, bound) in bounds.iter().enumerate().take(self.len) {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.len].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let sum = self.sum.load(Ordering::Relaxed) as f64 / scale;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_their_sum() {
        let histogram = Histogram::new(&[1.0, 2.0], 10.0);
        histogram.observe(5);
        histogram.observe(10);
        histogram.observe(15);
        histogram.observe(25);
        let mut out = String::new();
        histogram.render(&mut out, "x", "a=\"b\"", &[1.0, 2.0], 10.0);
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"1\"} 2\nx_bucket{a=\"b\",le=\"2\"} 3\nx_bucket{a=\"b\",le=\"+Inf\"} 4\nx_sum{a=\"b\"} 5.5\nx_count{a=\"b\"} 4\n"
        );
    }
}
