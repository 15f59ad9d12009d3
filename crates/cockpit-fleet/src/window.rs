//! One target's rolling window: a ring of intervals, each holding the
//! histograms of what its probes measured (TTFT, ITL, e2e: [`Compact`],
//! sparse, two significant digits), request and failure counts and output
//! tokens; the window's figures are the exact merge of its intervals. Also
//! the target's counters since the start ([`Totals`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use cockpit_probe::ProbeReport;

use crate::compact::Compact;

use crate::snapshot::{
    CumulativeHistogram, LatencyWindow, RateWindow, RequestCounts, SeriesPoint, Totals,
};

/// The `le` bounds of the cumulative histograms, in seconds.
pub const BUCKET_BOUNDS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The latency metrics a window keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    Ttft = 0,
    Itl = 1,
    E2e = 2,
}

impl Metric {
    const ALL: [Metric; 3] = [Metric::Ttft, Metric::Itl, Metric::E2e];

    fn name(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Itl => "itl",
            Metric::E2e => "e2e",
        }
    }
}

/// One interval of one target.
#[derive(Debug, Clone, Default)]
struct Interval {
    round: u64,
    hists: [Compact; 3],
    /// p95 and count of the series metric, kept for sparklines.
    series: (Option<f64>, u64),
    attempted: u64,
    succeeded: u64,
    errors: BTreeMap<String, u64>,
    output_tokens: u64,
    stream_seconds: f64,
    streams: u64,
}

/// The window of one target, and its totals.
#[derive(Debug)]
pub(crate) struct Window {
    intervals: VecDeque<Interval>,
    len: usize,
    interval: Duration,
    /// The metric of the sparkline and the alert rules (TTFT, or e2e for a
    /// retrieval backend).
    series_metric: Metric,
    /// The series metric's samples over the first `first_rounds`
    /// intervals (the baseline's first period).
    first: Compact,
    first_rounds: u64,
    pub totals: Totals,
}

/// The window's figures, merged.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    pub latency: [LatencyWindow; 3],
    /// The series metric's histogram over the window.
    pub series: Compact,
    pub requests: RequestCounts,
    pub tokens: RateWindow,
}

pub(crate) fn cumulative() -> CumulativeHistogram {
    CumulativeHistogram {
        bounds: BUCKET_BOUNDS_S.to_vec(),
        counts: vec![0; BUCKET_BOUNDS_S.len()],
        count: 0,
        sum: 0.0,
    }
}

/// Add every (value, count) to a cumulative histogram in seconds.
pub(crate) fn accumulate(
    h: &mut CumulativeHistogram,
    samples: impl Iterator<Item = (Duration, u64)>,
) {
    for (d, n) in samples {
        let s = d.as_secs_f64();
        h.count += n;
        h.sum += s * n as f64;
        for (bound, c) in h.bounds.iter().zip(h.counts.iter_mut()) {
            if s <= *bound {
                *c += n;
            }
        }
    }
}

impl Window {
    /// A window of `len` intervals of `interval`; `e2e_series` for a target
    /// without TTFT (retrieval).
    pub fn new(len: usize, interval: Duration, e2e_series: bool, first_rounds: u64) -> Self {
        Window {
            intervals: VecDeque::with_capacity(len.max(1) + 1),
            len: len.max(1),
            interval,
            series_metric: if e2e_series {
                Metric::E2e
            } else {
                Metric::Ttft
            },
            first: Compact::default(),
            first_rounds,
            totals: Totals {
                ttft_seconds: cumulative(),
                itl_seconds: cumulative(),
                e2e_seconds: cumulative(),
                probe_seconds: cumulative(),
                ..Totals::default()
            },
        }
    }

    /// Start interval `round`; the oldest leaves the window when it is full.
    pub fn open(&mut self, round: u64) {
        self.intervals.push_back(Interval {
            round,
            ..Interval::default()
        });
        while self.intervals.len() > self.len {
            self.intervals.pop_front();
        }
    }

    /// Whether the window spans all its intervals.
    #[cfg(test)]
    pub fn is_full(&self) -> bool {
        self.intervals.len() >= self.len
    }

    /// The time the window's intervals cover.
    pub fn span(&self) -> Duration {
        self.interval * u32::try_from(self.intervals.len()).unwrap_or(u32::MAX)
    }

    /// Record a probe into the open interval (and the totals).
    pub fn record(&mut self, r: &ProbeReport, took: Duration) {
        if self.intervals.is_empty() {
            self.open(0);
        }
        let series_metric = self.series_metric;
        let t = &mut self.totals;
        t.probes += 1;
        accumulate(&mut t.probe_seconds, std::iter::once((took, 1)));
        let Some(cur) = self.intervals.back_mut() else {
            return;
        };
        for m in Metric::ALL {
            cur.hists[m as usize].extend(r.recorded(m.name()));
            let h = match m {
                Metric::Ttft => &mut t.ttft_seconds,
                Metric::Itl => &mut t.itl_seconds,
                Metric::E2e => &mut t.e2e_seconds,
            };
            accumulate(h, r.recorded(m.name()));
        }
        if cur.round <= self.first_rounds {
            self.first.extend(r.recorded(series_metric.name()));
        }
        let s = &cur.hists[series_metric as usize];
        cur.series = (s.quantile(0.95).map(ms), s.count());
        let failed = r.total_errors();
        cur.attempted += r.samples + failed;
        cur.succeeded += r.samples;
        t.attempted += r.samples + failed;
        t.succeeded += r.samples;
        for (k, n) in &r.errors {
            *cur.errors.entry(k.as_str().to_string()).or_default() += n;
            *t.errors.entry(k.as_str().to_string()).or_default() += n;
        }
        if let Some(tp) = r.throughput() {
            cur.output_tokens += tp.output_tokens;
            cur.stream_seconds += tp.window_s;
            cur.streams += tp.requests;
        }
    }

    /// The series metric over the first period, once interval `round`
    /// has closed it (`None` before).
    pub fn first_period(&self, round: u64) -> Option<&Compact> {
        (round >= self.first_rounds).then_some(&self.first)
    }

    /// Every interval's p95 of the series metric, oldest first.
    pub fn series(&self) -> Vec<SeriesPoint> {
        self.intervals
            .iter()
            .map(|i| SeriesPoint {
                round: i.round,
                p95_ms: i.series.0,
                count: i.series.1,
            })
            .collect()
    }

    /// The window's figures: the exact merge of its intervals.
    pub fn merged(&self) -> Merged {
        let span = self.span();
        let dists: [Compact; 3] =
            [0, 1, 2].map(|m| Compact::merge(self.intervals.iter().map(|i| &i.hists[m])));
        let mut requests = RequestCounts {
            window: span,
            ..RequestCounts::default()
        };
        let (mut tokens, mut seconds, mut streams) = (0u64, 0f64, 0u64);
        for i in &self.intervals {
            requests.attempted += i.attempted;
            requests.succeeded += i.succeeded;
            for (k, n) in &i.errors {
                *requests.errors.entry(k.clone()).or_default() += n;
            }
            tokens += i.output_tokens;
            seconds += i.stream_seconds;
            streams += i.streams;
        }
        requests.failed = requests.attempted - requests.succeeded;
        requests.error_rate =
            (requests.attempted > 0).then(|| requests.failed as f64 / requests.attempted as f64);
        let latency = [0, 1, 2].map(|i| latency_window(&dists[i], span));
        Merged {
            latency,
            series: dists[self.series_metric as usize].clone(),
            requests,
            tokens: RateWindow {
                count: streams,
                window: span,
                output_tokens: tokens,
                tokens_per_s: (seconds > 0.0).then(|| tokens as f64 / seconds),
            },
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A histogram's percentiles over `window`.
pub(crate) fn latency_window(d: &Compact, window: Duration) -> LatencyWindow {
    LatencyWindow {
        count: d.count(),
        window,
        p50_ms: d.quantile(0.50).map(ms),
        p95_ms: d.quantile(0.95).map(ms),
        p99_ms: d.quantile(0.99).map(ms),
        max_ms: d.max().map(ms),
        mean_ms: d.mean().map(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_count_every_sample_once_per_bound() {
        let mut h = cumulative();
        let samples = [3u64, 40, 700, 900, 2000].map(|ms| (Duration::from_millis(ms), 1));
        accumulate(&mut h, samples.into_iter());
        assert_eq!(h.count, 5);
        let at = |b: f64| h.counts[h.bounds.iter().position(|x| *x == b).unwrap()];
        assert_eq!(
            (at(0.005), at(0.05), at(0.8), at(1.0), at(60.0)),
            (1, 2, 3, 4, 5)
        );
        assert!((h.sum - 3.643).abs() < 0.01, "{}", h.sum);
    }

    #[test]
    fn the_window_keeps_its_last_intervals() {
        let mut w = Window::new(3, Duration::from_secs(1), false, 2);
        for round in 1..=5 {
            w.open(round);
        }
        let rounds: Vec<u64> = w.series().iter().map(|p| p.round).collect();
        assert_eq!(rounds, [3, 4, 5]);
        assert!(w.is_full());
        assert_eq!(w.span(), Duration::from_secs(3));
        let m = w.merged();
        assert_eq!(m.latency[0].count, 0);
        assert_eq!(m.requests.error_rate, None);
    }
}
