use std::time::Duration;

use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::slo::Aggregated;

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

    /// The histogram in HdrHistogram's V2 binary encoding (the same bytes
    /// every HdrHistogram implementation reads), so that distributions
    /// measured by separate workers can be shipped and merged exactly.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cockpit_core::Distribution;
    /// let mut worker_a = Distribution::new();
    /// worker_a.record(Duration::from_millis(3));
    /// let mut total = Distribution::from_v2_bytes(&worker_a.to_v2_bytes()).unwrap();
    /// let mut worker_b = Distribution::new();
    /// worker_b.record(Duration::from_millis(9));
    /// total.merge(&Distribution::from_v2_bytes(&worker_b.to_v2_bytes()).unwrap());
    /// assert_eq!(total.count(), 2);
    /// ```
    pub fn to_v2_bytes(&self) -> Vec<u8> {
        use hdrhistogram::serialization::{Serializer as _, V2Serializer};
        let mut out = Vec::new();
        // Writing into a Vec cannot fail, and a u64 histogram always encodes.
        let _ = V2Serializer::new().serialize(&self.hist, &mut out);
        out
    }

    /// Read a histogram written by [`Distribution::to_v2_bytes`] (or by any
    /// HdrHistogram implementation, V2 or V2-deflate encoded). Its samples
    /// are re-recorded into this type's bounds (1 µs to one hour, three
    /// significant digits), so the result merges exactly with any other
    /// `Distribution`; a histogram with coarser precision is refused.
    pub fn from_v2_bytes(bytes: &[u8]) -> Result<Distribution, DistributionError> {
        use hdrhistogram::serialization::Deserializer;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| DistributionError::Decode(format!("{e:?}")))?;
        if h.sigfig() < 3 {
            return Err(DistributionError::Precision(h.sigfig()));
        }
        let mut d = Distribution::new();
        d.hist
            .add(&h)
            .map_err(|e| DistributionError::Decode(format!("{e:?}")))?;
        Ok(d)
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

/// Why bytes could not be read as a [`Distribution`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// Not an HdrHistogram V2 (or V2-deflate) encoding, or values beyond an hour.
    #[error("not a readable HdrHistogram V2 histogram: {0}")]
    Decode(String),
    /// The histogram keeps fewer than three significant digits.
    #[error("histogram precision is {0} significant digits; at least 3 are needed")]
    Precision(u8),
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

impl LatencySummary {
    /// The percentiles a summary keeps: p(50), p(90), p(95), p(99), p(99.9).
    pub const KEPT_PERCENTILES: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];
}

/// Milliseconds, read from the histogram.
impl Aggregated for Distribution {
    fn percentile(&self, p: f64) -> Option<f64> {
        // Rounded so that p(99.9) reads the quantile 0.999 itself, as
        // `summary` does (99.9 / 100 is one ulp above it).
        let q = (p * 1e4).round() / 1e6;
        (!self.is_empty()).then(|| self.hist.value_at_quantile(q) as f64 / 1000.0)
    }
    fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.mean() / 1000.0)
    }
    fn min(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.min() as f64 / 1000.0)
    }
    fn max(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.max() as f64 / 1000.0)
    }
}

/// Milliseconds, read from the kept figures: only the
/// [`LatencySummary::KEPT_PERCENTILES`].
impl Aggregated for LatencySummary {
    fn percentile(&self, p: f64) -> Option<f64> {
        let kept = [
            self.p50_ms,
            self.p90_ms,
            self.p95_ms,
            self.p99_ms,
            self.p999_ms,
        ];
        let i = Self::KEPT_PERCENTILES.iter().position(|k| *k == p)?;
        (self.count > 0).then_some(kept[i])
    }
    fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean_ms)
    }
    fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min_ms)
    }
    fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max_ms)
    }
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
    fn v2_bytes_round_trip_and_merge_exactly() {
        let mut a = Distribution::new();
        let mut b = Distribution::new();
        let mut all = Distribution::new();
        for i in 0..5000u64 {
            let d = Duration::from_micros(1 + i * i % 2_000_000);
            if i % 2 == 0 {
                a.record(d)
            } else {
                b.record(d)
            }
            all.record(d);
        }
        let mut merged = Distribution::from_v2_bytes(&a.to_v2_bytes()).unwrap();
        merged.merge(&Distribution::from_v2_bytes(&b.to_v2_bytes()).unwrap());
        assert_eq!(merged.histogram(), all.histogram());
        assert!(Distribution::from_v2_bytes(b"not a histogram").is_err());
        let coarse = Histogram::<u64>::new_with_bounds(1, 1000, 1).unwrap();
        let mut bytes = Vec::new();
        use hdrhistogram::serialization::{Serializer as _, V2Serializer};
        V2Serializer::new().serialize(&coarse, &mut bytes).unwrap();
        assert_eq!(
            Distribution::from_v2_bytes(&bytes).unwrap_err(),
            DistributionError::Precision(1)
        );
    }

    #[test]
    fn empty_summary_is_zero_count() {
        let d = Distribution::new();
        assert_eq!(d.summary().count, 0);
        assert!(d.quantile(0.5).is_none());
    }

    #[test]
    fn histogram_and_summary_aggregate_alike() {
        use crate::slo::Aggregate;
        let mut d = Distribution::new();
        for us in (1..=5000u64).map(|i| i * 97) {
            d.record(Duration::from_micros(us));
        }
        let s = d.summary();
        for a in [
            Aggregate::Percentile(50.0),
            Aggregate::Percentile(90.0),
            Aggregate::Percentile(95.0),
            Aggregate::Percentile(99.0),
            Aggregate::Percentile(99.9),
            Aggregate::Avg,
            Aggregate::Med,
            Aggregate::Min,
            Aggregate::Max,
        ] {
            assert_eq!(a.of(&d), a.of(&s), "{a}");
            assert!(a.of(&d).is_some(), "{a}");
        }
        assert_eq!(Aggregate::Percentile(75.0).of(&s), None);
        assert!(Aggregate::Percentile(75.0).of(&d).is_some());
        let empty = Distribution::new();
        assert_eq!(Aggregate::Max.of(&empty), None);
        assert_eq!(Aggregate::Max.of(&empty.summary()), None);
    }

    #[test]
    fn counts_and_quantiles_of_what_was_recorded() {
        let mut d = Distribution::new();
        assert!(d.is_empty());
        for ms in [10, 20, 30] {
            d.record(Duration::from_millis(ms));
        }
        assert_eq!((d.count(), d.is_empty()), (3, false));
        let q = d.quantile(0.5).unwrap();
        assert!(
            q >= Duration::from_millis(19) && q <= Duration::from_millis(21),
            "{q:?}"
        );
    }

    #[test]
    fn nothing_recorded_aggregates_to_nothing() {
        use crate::slo::Aggregate;
        let empty = Distribution::new();
        for a in [
            Aggregate::Percentile(50.0),
            Aggregate::Avg,
            Aggregate::Min,
            Aggregate::Max,
        ] {
            assert_eq!(a.of(&empty), None, "{a}");
            assert_eq!(a.of(&empty.summary()), None, "{a}");
        }
        let mut one = Distribution::new();
        one.record(Duration::from_millis(2));
        let s = one.summary();
        for a in [
            Aggregate::Percentile(50.0),
            Aggregate::Avg,
            Aggregate::Min,
            Aggregate::Max,
        ] {
            let v = a.of(&s).unwrap();
            assert!((v - 2.0).abs() < 0.01, "{a}: {v}");
            assert_eq!(a.of(&one), Some(v), "{a}");
        }
    }

    #[test]
    fn precision_is_three_digits() {
        let mut d = Distribution::new();
        d.record(Duration::from_micros(312_345));
        let p = d.summary().p50_ms;
        assert!((p - 312.345).abs() / 312.345 < 0.001, "{p}");
    }
}
