//! The comparison of two deployments' answers (pure): per metric the two
//! sides' p50 / p95, the bootstrap intervals of their differences and a
//! Mann–Whitney test; the error counts with Fisher's exact test; the
//! answers' agreement. This is the snapshot a dashboard panel reads and
//! what the SHD-* checks judge.

use std::collections::BTreeMap;

use cockpit_probe::ErrorKind;
use serde::Serialize;

use crate::measure::{Answer, Exchanges};
use crate::stats::{self, Interval, MannWhitney};
use crate::{MIN_SAMPLES, ShadowSettings};

/// One side's figures of one metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SideSummary {
    pub n: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

impl SideSummary {
    fn of(values: &[f64]) -> Self {
        let mut s = values.to_vec();
        s.sort_by(f64::total_cmp);
        SideSummary {
            n: s.len(),
            p50: stats::quantile(&s, 0.5),
            p95: stats::quantile(&s, 0.95),
        }
    }
}

/// What the test says about a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// Fewer than [`MIN_SAMPLES`] values on a side.
    TooFewSamples,
    /// No difference detected at this n: noise is not called a change.
    NoDifference,
    /// v2's values are higher: the Mann–Whitney p is below alpha and the
    /// p50 difference's interval lies above zero.
    V2Higher,
    /// v2's values are lower, likewise.
    V2Lower,
}

impl Verdict {
    /// As in JSON: `too-few-samples`, `no-difference`, `v2-higher`, `v2-lower`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TooFewSamples => "too-few-samples",
            Verdict::NoDifference => "no-difference",
            Verdict::V2Higher => "v2-higher",
            Verdict::V2Lower => "v2-lower",
        }
    }
}

/// v1 and v2 side by side for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricComparison {
    /// `ttft`, `itl`, `e2e`, `tokens_per_s`, `output_tokens`.
    pub metric: &'static str,
    /// `ms`, `tokens/s`, `tokens`.
    pub unit: &'static str,
    pub v1: SideSummary,
    pub v2: SideSummary,
    /// v2 − v1 of the p50 and the p95, with bootstrap intervals.
    pub p50_diff: Option<Interval>,
    pub p95_diff: Option<Interval>,
    pub mann_whitney: Option<MannWhitney>,
    pub verdict: Verdict,
}

impl MetricComparison {
    /// Compare `a` (v1) with `b` (v2).
    pub fn new(
        metric: &'static str,
        unit: &'static str,
        a: &[f64],
        b: &[f64],
        s: &ShadowSettings,
    ) -> Self {
        let level = 1.0 - s.alpha;
        let p50_diff = stats::bootstrap_diff(a, b, 0.5, s.resamples, level, s.seed);
        let p95_diff = stats::bootstrap_diff(a, b, 0.95, s.resamples, level, s.seed);
        let mann_whitney = stats::mann_whitney(a, b);
        let verdict = if a.len() < MIN_SAMPLES || b.len() < MIN_SAMPLES {
            Verdict::TooFewSamples
        } else {
            match (mann_whitney, p50_diff) {
                (Some(t), Some(ci)) if t.p_value < s.alpha && t.z > 0.0 && ci.above_zero() => {
                    Verdict::V2Higher
                }
                (Some(t), Some(ci)) if t.p_value < s.alpha && t.z < 0.0 && ci.below_zero() => {
                    Verdict::V2Lower
                }
                _ => Verdict::NoDifference,
            }
        };
        MetricComparison {
            metric,
            unit,
            v1: SideSummary::of(a),
            v2: SideSummary::of(b),
            p50_diff,
            p95_diff,
            mann_whitney,
            verdict,
        }
    }

    /// One line: "no difference detected at n = 30 / 30 (p = 0.41)", or the
    /// difference with its interval and p.
    pub fn describe(&self) -> String {
        let n = format!("n = {} / {}", self.v1.n, self.v2.n);
        let p = self
            .mann_whitney
            .map_or("p = -".to_string(), |t| p_is(t.p_value));
        match (self.verdict, self.p50_diff) {
            (Verdict::TooFewSamples, _) => {
                format!("too few answers to compare at {n} (at least {MIN_SAMPLES} a side)")
            }
            (Verdict::NoDifference, _) | (_, None) => {
                format!("no difference detected at {n} ({p})")
            }
            (v, Some(ci)) => format!(
                "v2 {} than v1: p50 {:+.1} {u} [{:.0}% CI {:+.1}, {:+.1}], {p}, {n}",
                if v == Verdict::V2Higher {
                    "higher"
                } else {
                    "lower"
                },
                ci.estimate,
                ci.level * 100.0,
                ci.low,
                ci.high,
                u = self.unit,
            ),
        }
    }
}

/// "p = 0.41", "p = 3.0e-3", "p < 1e-6".
pub fn p_is(p: f64) -> String {
    if p < 1e-6 {
        "p < 1e-6".to_string()
    } else {
        format!("p = {}", format_p(p))
    }
}

/// "0.41", "3.0e-3", "< 1e-6".
pub fn format_p(p: f64) -> String {
    if p < 1e-6 {
        "< 1e-6".to_string()
    } else if p < 0.01 {
        format!("{p:.1e}")
    } else {
        format!("{p:.2}")
    }
}

/// Failed requests side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorComparison {
    /// Requests that ended (answered or failed), per side.
    pub v1_requests: u64,
    pub v2_requests: u64,
    pub v1_failed: u64,
    pub v2_failed: u64,
    pub v1_by_kind: BTreeMap<ErrorKind, u64>,
    pub v2_by_kind: BTreeMap<ErrorKind, u64>,
    /// Fisher's exact test, one-sided: v2 fails more often than v1.
    pub p_value: f64,
}

impl ErrorComparison {
    pub fn rate(failed: u64, requests: u64) -> f64 {
        if requests == 0 {
            0.0
        } else {
            failed as f64 / requests as f64
        }
    }

    fn of(e: &Exchanges) -> Self {
        let ended = |side: &[Answer]| side.iter().filter(|a| a.ok() || a.error.is_some()).count();
        let failed = |side: &[Answer]| side.iter().filter(|a| a.error.is_some()).count();
        let (n1, n2) = (ended(&e.v1) as u64, ended(&e.v2) as u64);
        let (f1, f2) = (failed(&e.v1) as u64, failed(&e.v2) as u64);
        ErrorComparison {
            v1_requests: n1,
            v2_requests: n2,
            v1_failed: f1,
            v2_failed: f2,
            v1_by_kind: Exchanges::errors(&e.v1),
            v2_by_kind: Exchanges::errors(&e.v2),
            p_value: stats::fisher_greater(f1, n1, f2, n2),
        }
    }
}

/// How alike the two sides' answers to the same prompts are: measured
/// facts, not a judgement of quality.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Agreement {
    /// Prompts both sides answered.
    pub pairs: usize,
    /// Of those, answers identical byte for byte.
    pub identical: usize,
    /// Mean and lowest Jaccard similarity of the answers' whitespace tokens.
    pub mean_similarity: Option<f64>,
    pub min_similarity: Option<f64>,
}

impl Agreement {
    fn of(e: &Exchanges) -> Self {
        let sims: Vec<(bool, f64)> =
            e.v1.iter()
                .zip(&e.v2)
                .filter(|(a, b)| a.ok() && b.ok())
                .filter_map(|(a, b)| Some((a.text.as_deref()?, b.text.as_deref()?)))
                .map(|(a, b)| (a == b, stats::jaccard(a, b)))
                .collect();
        let pairs = sims.len();
        Agreement {
            pairs,
            identical: sims.iter().filter(|s| s.0).count(),
            mean_similarity: (pairs > 0)
                .then(|| sims.iter().map(|s| s.1).sum::<f64>() / pairs as f64),
            min_similarity: sims.iter().map(|s| s.1).min_by(f64::total_cmp),
        }
    }

    /// The share of identical answers (0–1).
    pub fn identical_share(&self) -> Option<f64> {
        (self.pairs > 0).then(|| self.identical as f64 / self.pairs as f64)
    }
}

/// One agent's production (v1) and candidate (v2) side by side.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ShadowComparison {
    /// The `[[agents]]` name (or `shadow` on the command line).
    pub agent: String,
    /// The deployments, URLs redacted.
    pub v1: String,
    pub v2: String,
    pub mirror: bool,
    /// Prompts sent to each side.
    pub sent: usize,
    pub alpha: f64,
    pub resamples: u32,
    pub seed: u64,
    pub metrics: Vec<MetricComparison>,
    pub errors: ErrorComparison,
    pub agreement: Agreement,
    pub interrupted: bool,
}

impl ShadowComparison {
    /// Compare what `e` holds.
    pub fn new(agent: &str, v1: &str, v2: &str, e: &Exchanges, s: &ShadowSettings) -> Self {
        type Get = fn(&Answer) -> Option<f64>;
        let metrics: [(&'static str, &'static str, Get); 5] = [
            ("ttft", "ms", |a| a.ttft_ms),
            ("itl", "ms", |a| a.itl_ms),
            ("e2e", "ms", |a| a.e2e_ms),
            ("tokens_per_s", "tokens/s", |a| a.tokens_per_s),
            ("output_tokens", "tokens", |a| {
                a.output_tokens.map(|t| t as f64)
            }),
        ];
        let values = |side: &[Answer], get: Get| -> Vec<f64> {
            side.iter().filter(|a| a.ok()).filter_map(get).collect()
        };
        ShadowComparison {
            agent: agent.to_string(),
            v1: cockpit_core::redact_url(v1),
            v2: cockpit_core::redact_url(v2),
            mirror: s.mirror,
            sent: e.v1.len().min(e.v2.len()),
            alpha: s.alpha,
            resamples: s.resamples,
            seed: s.seed,
            metrics: metrics
                .into_iter()
                .map(|(m, u, get)| {
                    MetricComparison::new(m, u, &values(&e.v1, get), &values(&e.v2, get), s)
                })
                .collect(),
            errors: ErrorComparison::of(e),
            agreement: Agreement::of(e),
            interrupted: e.interrupted,
        }
    }

    /// The comparison of `metric`.
    pub fn metric(&self, metric: &str) -> Option<&MetricComparison> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_match_their_json() {
        for v in [
            Verdict::TooFewSamples,
            Verdict::NoDifference,
            Verdict::V2Higher,
            Verdict::V2Lower,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
