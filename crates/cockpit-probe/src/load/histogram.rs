//! A latency histogram to print (as oha and hey do): equal-width buckets
//! from the fastest to the slowest sample, each with its exact count read
//! from the run's HDR histogram (every recorded value falls in exactly one
//! bucket, so the counts add up to the samples).
//!
//! ```
//! use std::time::Duration;
//! use cockpit_core::Distribution;
//! use cockpit_probe::load::latency_buckets;
//! let mut d = Distribution::new();
//! for ms in 1..=100 {
//!     d.record(Duration::from_millis(ms));
//! }
//! let b = latency_buckets(&d, 10);
//! assert_eq!(b.len(), 10);
//! assert_eq!(b.iter().map(|x| x.count).sum::<u64>(), 100);
//! assert!((b[9].upper_ms - 100.0).abs() < 0.1);
//! ```

use cockpit_core::Distribution;

/// One bucket: the samples above the previous bucket's bound up to this
/// one's (the first starts at the fastest sample).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyBucket {
    /// The bucket's upper bound, milliseconds (the last one is the slowest
    /// sample, at the histogram's 0.1 % precision).
    pub upper_ms: f64,
    pub count: u64,
}

/// `buckets` equal-width buckets between the smallest and the largest
/// sample of `d` (one bucket when they are equal at the histogram's
/// precision, fewer when they are fewer microseconds apart, none when `d`
/// is empty).
pub fn latency_buckets(d: &Distribution, buckets: usize) -> Vec<LatencyBucket> {
    let h = d.histogram();
    if h.is_empty() || buckets == 0 {
        return Vec::new();
    }
    let (min, max) = (h.min(), h.max());
    // One bucket when every sample is one value (at the histogram's
    // precision); never buckets narrower than a microsecond.
    let n = if h.equivalent(min, max) {
        1
    } else {
        buckets.min(usize::try_from(max - min).unwrap_or(usize::MAX))
    };
    let width = (max - min) as f64 / n as f64;
    // Upper bounds in microseconds; the last is exactly the maximum so
    // that every value is at or below some bound.
    let uppers: Vec<u64> = (1..=n)
        .map(|i| {
            if i == n {
                max
            } else {
                min + (width * i as f64).floor() as u64
            }
        })
        .collect();
    let mut counts = vec![0u64; n];
    for v in h.iter_recorded() {
        let value = v.value_iterated_to().min(max);
        let i = uppers.partition_point(|u| *u < value).min(n - 1);
        counts[i] += v.count_at_value();
    }
    uppers
        .into_iter()
        .zip(counts)
        .map(|(u, count)| LatencyBucket {
            upper_ms: u as f64 / 1000.0,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn buckets_count_every_sample_once() {
        let mut d = Distribution::new();
        assert!(latency_buckets(&d, 10).is_empty());
        for _ in 0..7 {
            d.record(Duration::from_millis(5));
        }
        let one = latency_buckets(&d, 10);
        assert_eq!(one.len(), 1, "{one:?}");
        assert_eq!(one[0].count, 7);
        // A skewed run: most fast, a long tail.
        for i in 0..1000u64 {
            d.record(Duration::from_micros(200 + i * 3));
        }
        d.record(Duration::from_millis(250));
        let b = latency_buckets(&d, 11);
        assert_eq!(b.len(), 11);
        assert_eq!(b.iter().map(|x| x.count).sum::<u64>(), d.count());
        assert_eq!(b[10].count, 1, "the slowest alone in the last bucket");
        assert!(b.windows(2).all(|w| w[0].upper_ms < w[1].upper_ms));
        assert!((b[10].upper_ms - 250.0).abs() < 0.25, "{:?}", b[10]);
    }
}
