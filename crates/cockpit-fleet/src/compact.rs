//! The window's histogram: small, exact to merge, and cheap to read.
//!
//! A monitor keeps, per target, one histogram per metric per interval of
//! its window (3 metrics × 20 intervals for a 5 min window at 15 s), a
//! thousand targets deep. A full HDR histogram (1 µs – 1 h, three
//! significant digits) is a ~180 KB counts array: 60 of them per target
//! would be ~11 MB a target. So a window histogram is *sparse*: only the
//! buckets that took a sample, as sorted `(bucket, count)` pairs of 8
//! bytes, plus the exact sum of the samples (for the mean).
//!
//! The buckets are HDR's log-linear buckets at **two significant
//! digits**: values below 256 µs are exact; above, every power of two is
//! cut into 128 buckets, so a bucket is at most 1/128 (0.8 %) of its value
//! wide (at 800 ms: 4 ms). A value is reported as its bucket's highest
//! value (as HDR does), so a percentile is never below the truth and at
//! most 0.8 % above it. Values are whole microseconds from 1 µs to an hour
//! (`u32`). Two significant digits because the window's figures are read
//! in milliseconds against bounds like 800 ms; the third digit of the
//! probe's own histograms bought nothing the alert could use and cost
//! eight times the buckets.
//!
//! The window's figures are the exact merge of its intervals (the same
//! buckets on both sides): the merged histogram has the same pairs as one
//! that had taken every sample. A few samples per probe cost a few pairs,
//! and however many samples an interval takes it never holds more than
//! the number of buckets between 1 µs and an hour (3,200).

use std::time::Duration;

/// Sub-buckets per power of two above [`EXACT_BELOW`]: 2^7.
const SUB_BITS: u32 = 7;
/// Values below this many microseconds have a bucket of their own.
const EXACT_BELOW: u32 = 1 << (SUB_BITS + 1);
/// The highest value kept: an hour, in microseconds.
const MAX_US: u32 = 3_600_000_000;

/// The highest value of `us`'s bucket.
pub(crate) fn bucket(us: u32) -> u32 {
    let us = us.clamp(1, MAX_US);
    if us < EXACT_BELOW {
        return us;
    }
    let shift = (31 - us.leading_zeros()) - SUB_BITS;
    ((us >> shift) << shift).saturating_add((1 << shift) - 1)
}

/// A duration as whole microseconds (1 µs – 1 h).
pub(crate) fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros())
        .unwrap_or(MAX_US)
        .clamp(1, MAX_US)
}

/// A sparse histogram at two significant digits: sorted (bucket's highest
/// value in µs, count) pairs, and the exact sum of the samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Compact {
    pairs: Vec<(u32, u32)>,
    count: u64,
    sum_us: u64,
}

impl Compact {
    /// Add `n` samples of `d`.
    pub fn record_n(&mut self, d: Duration, n: u64) {
        if n == 0 {
            return;
        }
        let us = micros(d);
        let b = bucket(us);
        let n32 = u32::try_from(n).unwrap_or(u32::MAX);
        match self.pairs.binary_search_by_key(&b, |p| p.0) {
            Ok(i) => self.pairs[i].1 = self.pairs[i].1.saturating_add(n32),
            Err(i) => self.pairs.insert(i, (b, n32)),
        }
        self.count += n;
        self.sum_us = self.sum_us.saturating_add(u64::from(us).saturating_mul(n));
    }

    /// Add every (value, count) of a probe's metric.
    pub fn extend(&mut self, samples: impl Iterator<Item = (Duration, u64)>) {
        for (d, n) in samples {
            self.record_n(d, n);
        }
    }

    /// The merge of `parts`: the histogram that took all their samples.
    pub fn merge<'a>(parts: impl Iterator<Item = &'a Compact>) -> Compact {
        let mut all = Compact::default();
        for p in parts {
            all.pairs.extend_from_slice(&p.pairs);
            all.count += p.count;
            all.sum_us = all.sum_us.saturating_add(p.sum_us);
        }
        all.pairs.sort_unstable_by_key(|p| p.0);
        all.pairs.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 = a.1.saturating_add(b.1);
                true
            } else {
                false
            }
        });
        all
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Pairs held (what the histogram costs: 8 bytes each).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The value at quantile `q` (nearest rank: the smallest bucket whose
    /// cumulative count reaches ⌈q·n⌉), reported at the bucket's highest
    /// value; `None` without a sample.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for &(b, n) in &self.pairs {
            seen += u64::from(n);
            if seen >= rank {
                return Some(Duration::from_micros(u64::from(b)));
            }
        }
        self.max()
    }

    /// The highest bucket's highest value.
    pub fn max(&self) -> Option<Duration> {
        self.pairs
            .last()
            .map(|p| Duration::from_micros(u64::from(p.0)))
    }

    /// The exact mean of the samples.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros(self.sum_us / self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_within_one_part_in_128_and_never_below_the_value() {
        for us in [1u32, 255, 256, 257, 1000, 12_345, 800_000, 899_999, MAX_US] {
            let b = bucket(us);
            assert!(b >= us, "{us} -> {b}");
            assert!(
                f64::from(b - us) <= f64::from(us) / 128.0,
                "{us} -> {b}: more than 0.8 % wide"
            );
            assert_eq!(bucket(b), b, "a bucket's highest value is in its bucket");
        }
        assert_eq!(bucket(0), 1);
        assert_eq!(bucket(u32::MAX), bucket(MAX_US));
    }

    #[test]
    fn merge_is_the_histogram_of_all_the_samples() {
        let mut all = Compact::default();
        let mut parts = vec![Compact::default(); 3];
        for (i, part) in parts.iter_mut().enumerate() {
            for k in 0..200u64 {
                let d = Duration::from_micros(100 + k * 977 + i as u64 * 13);
                part.record_n(d, 1);
                all.record_n(d, 1);
            }
        }
        let merged = Compact::merge(parts.iter());
        assert_eq!(merged, all);
        assert_eq!(merged.count(), 600);
    }

    #[test]
    fn quantiles_are_nearest_rank_at_the_bucket_top() {
        let mut h = Compact::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record_n(Duration::from_millis(ms), 1);
        }
        let p = |q| h.quantile(q).unwrap().as_secs_f64() * 1000.0;
        assert!((95.0..=95.0 * 1.008).contains(&p(0.95)), "{}", p(0.95));
        assert!((50.0..=50.0 * 1.008).contains(&p(0.50)), "{}", p(0.50));
        assert!((100.0..=100.8).contains(&p(1.0)));
        assert_eq!(h.mean(), Some(Duration::from_micros(50_500)));
        assert_eq!(h.len(), 100, "one pair per distinct bucket");
        // Many samples of one value: one pair.
        let mut one = Compact::default();
        one.record_n(Duration::from_millis(900), 1_000);
        assert_eq!((one.len(), one.count()), (1, 1_000));
    }
}
