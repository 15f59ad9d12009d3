//! Prometheus counters and the server-side TTFT histogram, written as text
//! exposition format by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the TTFT histogram buckets; `+Inf` is implied.
pub(crate) const TTFT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The testbed's metrics.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// `(route, code)` → requests.
    requests: Mutex<BTreeMap<(String, String), u64>>,
    ttft: Histogram,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    buckets: [AtomicU64; TTFT_BUCKETS.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Metrics {
    /// Counts one request answered on `route` with `code`.
    pub fn count_request(&self, route: &str, code: &str) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = requests.get_mut(&(route.to_owned(), code.to_owned())) {
            *n += 1;
        } else {
            requests.insert((route.to_owned(), code.to_owned()), 1);
        }
    }

    /// Records one server-side time to first token.
    pub fn observe_ttft(&self, ttft: Duration) {
        let secs = ttft.as_secs_f64();
        let idx = TTFT_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(TTFT_BUCKETS.len());
        let h = &self.ttft;
        h.buckets[idx].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(ttft.as_nanos()).unwrap_or(u64::MAX);
        h.sum_ns.fetch_add(ns, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self, with_ttft_histogram: bool) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP testbed_requests_total Requests answered, by route and status code.\n",
        );
        out.push_str("# TYPE testbed_requests_total counter\n");
        {
            let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            for ((route, code), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "testbed_requests_total{{route=\"{}\",code=\"{}\"}} {n}",
                    escape_label(route),
                    escape_label(code)
                );
            }
        }
        if with_ttft_histogram {
            let h = &self.ttft;
            out.push_str(
                "# HELP testbed_time_to_first_token_seconds Server-side time from request receipt to the first content token.\n",
            );
            out.push_str("# TYPE testbed_time_to_first_token_seconds histogram\n");
            let mut cumulative = 0u64;
            for (i, le) in TTFT_BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "testbed_time_to_first_token_seconds_bucket{{le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += h.buckets[TTFT_BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "testbed_time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
            );
            let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "testbed_time_to_first_token_seconds_sum {sum}");
            // `_count` must equal the `+Inf` bucket even while observations race.
            let _ = writeln!(
                out,
                "testbed_time_to_first_token_seconds_count {cumulative}"
            );
        }
        out
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.count_request("/healthz", "200");
        m.count_request("/healthz", "200");
        m.count_request("/v1/chat/completions", "500");
        m.observe_ttft(Duration::from_millis(3));
        m.observe_ttft(Duration::from_millis(60));
        m.observe_ttft(Duration::from_secs(100));
        let text = m.render(true);
        assert!(text.contains("testbed_requests_total{route=\"/healthz\",code=\"200\"} 2\n"));
        assert!(
            text.contains(
                "testbed_requests_total{route=\"/v1/chat/completions\",code=\"500\"} 1\n"
            )
        );
        assert!(text.contains("# TYPE testbed_time_to_first_token_seconds histogram\n"));
        assert!(text.contains("testbed_time_to_first_token_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("testbed_time_to_first_token_seconds_bucket{le=\"0.075\"} 2\n"));
        assert!(text.contains("testbed_time_to_first_token_seconds_bucket{le=\"30\"} 2\n"));
        assert!(text.contains("testbed_time_to_first_token_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("testbed_time_to_first_token_seconds_count 3\n"));
        assert!(text.contains("testbed_time_to_first_token_seconds_sum 100.063\n"));
    }

    #[test]
    fn histogram_can_be_left_out() {
        let m = Metrics::default();
        m.observe_ttft(Duration::from_millis(3));
        let text = m.render(false);
        assert!(!text.contains("testbed_time_to_first_token_seconds"));
        assert!(text.contains("# TYPE testbed_requests_total counter"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
