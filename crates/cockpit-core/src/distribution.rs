use std::time::Duration;

use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Highest value a [`Distribution`] records: one hour, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency distribution: an HDR histogram in microseconds with three
/// significant digits (a relative error of at most 0.1 %), so memory stays
/// fixed however many samples it takes.
///
/// ```
/// use std::time::Duration;
/// use cockpit_core::Distribution;
/// let mut d = Distribution::new();
/// for ms in 1..=100 {
///     d.record(Duration::from_millis(ms));
/// }
/// let s = d.summary();
/// assert_eq!(s.count, 100);
/// assert!((s.p50_ms - 50.0).abs() < 0.1);
/// assert!((s.max_ms - 100.0).abs() < 0.1);
/// ```
#[derive(Debug, Clone)]
pub struct Distribution {
    hist: Histogram<u64>,
}

impl Default for Distribution {
    fn default() -> Self {
        Self::new()
    }
}

impl Distribution {
    pub fn new() -> Self {
        Distribution {
            hist: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    /// Record one sample; values beyond an hour are clamped to an hour.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        // Cannot fail: the value is clamped into the histogram's range.
        let _ = self.hist.record(us);
    }

    /// Add every sample of `other` (exact: both use the same bounds).
    pub fn merge(&mut self, other: &Distribution) {
        // Same bounds and precision on both sides: add cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The value at quantile `q` (0.0..=1.0), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        (!self.is_empty()).then(|| Duration::from_micros(self.hist.value_at_quantile(q)))
    }

    /// The underlying histogram, for serialisation and exact merging.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Percentiles in milliseconds; all zero with `count == 0` when empty.
    pub fn summary(&self) -> LatencySummary {
        if self.is_empty() {
            return LatencySummary::default();
        }
        let h = &self.hist;
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// The percentiles of a [`Distribution`], in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_exact() {
        let mut a = Distribution::new();
        let mut b = Distribution::new();
        let mut all = Distribution::new();
        for i in 0..1000u64 {
            let d = Duration::from_micros(100 + i * 37);
            if i % 3 == 0 {
                a.record(d)
            } else {
                b.record(d)
            }
            all.record(d);
        }
        a.merge(&b);
        assert_eq!(a.summary(), all.summary());
    }

    #[test]
    fn empty_summary_is_zero_count() {
        let d = Distribution::new();
        assert_eq!(d.summary().count, 0);
        assert!(d.quantile(0.5).is_none());
    }

    #[test]
    fn precision_is_three_digits() {
        let mut d = Distribution::new();
        d.record(Duration::from_micros(312_345));
        let p = d.summary().p50_ms;
        assert!((p - 312.345).abs() / 312.345 < 0.001, "{p}");
    }
}
