//! Regressions that fail the gate: `[gate.regressions]` bounds held
//! against a baseline run (`certify --compare`). The comparison itself
//! ([`crate::compare`]) only informs; a bound makes a regression beyond
//! it a gate failure — when it can be told from noise.
//!
//! A key names a latency metric's percentile, `metric.pN`: the metric is
//! one the gate reads distributions of (`ttft`, `retrieval`,
//! `connect_rtt`, `store_ping`, see [`crate::GateMetric`]) and the
//! percentile one a report keeps (`p50`, `p90`, `p95`, `p99`, `p99.9`).
//! A bound is the increase allowed, in percent: `"+20%"`.
//!
//! For each subject (agent, backend, store) in both runs, the figure
//! regressed — and fails the gate — when all three hold:
//!
//! 1. **enough samples**: both distributions hold at least
//!    `[gate] regression_min_samples` samples (30 by default);
//! 2. **beyond the bound**: after > before × (1 + bound / 100);
//! 3. **beyond the baseline's spread**: after is above the baseline's
//!    *noise ceiling* — the first figure the baseline keeps (p50, p90, p95,
//!    p99, p99.9, max) at or above the upper 95 % confidence bound of its
//!    own percentile, q + 1.96 × √(q (1 − q) / n) for percentile q and n
//!    samples (the rank bound of a sample quantile). A baseline that
//!    already showed such values that often cannot call them a regression.
//!
//! With too few samples, or within the spread, the change is listed and
//! informs only.
//!
//! ```
//! use cockpit_score::{RegressionBound, RegressionKey};
//! let k: RegressionKey = "ttft.p95".parse().unwrap();
//! assert_eq!(k.to_string(), "ttft.p95");
//! let b: RegressionBound = "+20%".parse().unwrap();
//! assert_eq!(b.percent(), 20.0);
//! assert!("cold_start.p95".parse::<RegressionKey>().is_err());
//! assert!("ttft.p97".parse::<RegressionKey>().is_err());
//! assert!("20".parse::<RegressionBound>().is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cockpit_core::{CheckId, Finding, LatencySummary, Report, Status};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Certification, GateMetric, GatePolicy, ScoreError};

/// z for a two-sided 95 % confidence interval.
const Z95: f64 = 1.96;

/// A percentile a report keeps of every latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kept {
    P50,
    P90,
    P95,
    P99,
    P999,
}

impl Kept {
    const ALL: [Kept; 5] = [Kept::P50, Kept::P90, Kept::P95, Kept::P99, Kept::P999];

    fn name(self) -> &'static str {
        match self {
            Kept::P50 => "p50",
            Kept::P90 => "p90",
            Kept::P95 => "p95",
            Kept::P99 => "p99",
            Kept::P999 => "p99.9",
        }
    }

    /// The quantile, 0–1.
    fn q(self) -> f64 {
        match self {
            Kept::P50 => 0.50,
            Kept::P90 => 0.90,
            Kept::P95 => 0.95,
            Kept::P99 => 0.99,
            Kept::P999 => 0.999,
        }
    }

    fn of(self, d: &LatencySummary) -> f64 {
        match self {
            Kept::P50 => d.p50_ms,
            Kept::P90 => d.p90_ms,
            Kept::P95 => d.p95_ms,
            Kept::P99 => d.p99_ms,
            Kept::P999 => d.p999_ms,
        }
    }
}

/// What a regression bound is held against: `ttft.p95`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegressionKey {
    metric: GateMetric,
    kept: Kept,
}

impl RegressionKey {
    pub fn metric(&self) -> GateMetric {
        self.metric
    }

    fn sort_key(&self) -> (&'static str, Kept) {
        (self.metric.as_str(), self.kept)
    }
}

impl PartialOrd for RegressionKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RegressionKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl fmt::Display for RegressionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.metric.as_str(), self.kept.name())
    }
}

fn distribution_metrics() -> String {
    GateMetric::ALL
        .iter()
        .filter(|m| m.is_distribution())
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for RegressionKey {
    type Err = ScoreError;

    fn from_str(s: &str) -> Result<RegressionKey, ScoreError> {
        let bad = |why: String| ScoreError::Regression(format!("key \"{s}\": {why}"));
        let (name, pct) = s
            .split_once('.')
            .ok_or_else(|| bad("expected metric.percentile, e.g. \"ttft.p95\"".to_string()))?;
        let metric = GateMetric::parse(name).ok_or_else(|| {
            bad(format!(
                "unknown metric {name:?} (known: {})",
                distribution_metrics()
            ))
        })?;
        if !metric.is_distribution() {
            return Err(bad(format!(
                "{name} is one sample per run: a regression of it cannot be told from noise (use a distribution: {})",
                distribution_metrics()
            )));
        }
        let kept = Kept::ALL
            .into_iter()
            .find(|k| k.name() == pct)
            .ok_or_else(|| {
                bad(format!(
                    "a report keeps p50, p90, p95, p99 and p99.9 of {name}, not {pct:?}"
                ))
            })?;
        Ok(RegressionKey { metric, kept })
    }
}

impl Serialize for RegressionKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RegressionKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RegressionKey, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The increase a figure may take before it is a regression: `+20%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionBound(f64);

impl RegressionBound {
    /// The increase allowed, in percent.
    pub fn percent(self) -> f64 {
        self.0
    }
}

impl FromStr for RegressionBound {
    type Err = ScoreError;

    fn from_str(s: &str) -> Result<RegressionBound, ScoreError> {
        let bad = || {
            ScoreError::Regression(format!(
                "bound \"{s}\": expected the increase allowed in percent, e.g. \"+20%\" (a number above 0)"
            ))
        };
        let t = s.trim();
        let n = t.strip_prefix('+').unwrap_or(t);
        let n = n.strip_suffix('%').ok_or_else(bad)?;
        let v: f64 = n.trim().parse().map_err(|_| bad())?;
        if v.is_finite() && v > 0.0 {
            Ok(RegressionBound(v))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for RegressionBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}%", self.0)
    }
}

impl Serialize for RegressionBound {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RegressionBound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RegressionBound, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a bound made of one subject's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RegressionStatus {
    /// Beyond the bound and the baseline's spread, with enough samples: fails the gate.
    Regressed,
    /// Within the bound.
    Within,
    /// Beyond the bound, but within what the baseline's own spread allows.
    Noise,
    /// One of the runs holds too few samples to tell: informs only.
    TooFewSamples,
}

/// One bound held against one subject present in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionOutcome {
    /// The bound's key, `ttft.p95`.
    pub key: String,
    /// The increase allowed, in percent.
    pub bound_percent: f64,
    pub check_id: CheckId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub before_ms: f64,
    pub after_ms: f64,
    /// (after − before) / before × 100, one decimal; absent when before is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<f64>,
    pub before_samples: u64,
    pub after_samples: u64,
    /// The baseline's noise ceiling: its kept figure at or above the upper
    /// 95 % confidence bound of its percentile.
    pub noise_ceiling_ms: f64,
    /// Which figure that is: `p99`, `max`.
    pub noise_ceiling: String,
    pub status: RegressionStatus,
    /// One sentence with both figures.
    pub summary: String,
}

/// The baseline's noise ceiling for percentile `kept` over `n` samples:
/// (its name, its value).
fn noise_ceiling(kept: Kept, d: &LatencySummary) -> (&'static str, f64) {
    let q = kept.q();
    let n = d.count.max(1) as f64;
    let upper = q + Z95 * (q * (1.0 - q) / n).sqrt();
    Kept::ALL
        .into_iter()
        .filter(|k| *k > kept && k.q() >= upper)
        .map(|k| (k.name(), k.of(d)))
        .next()
        .unwrap_or(("max", d.max_ms))
}

/// The first distribution of the metric a finding carries.
fn distribution(f: &Finding, metric: GateMetric) -> Option<&LatencySummary> {
    f.measurements
        .iter()
        .filter(|m| m.name.starts_with(metric.measurement_prefix()))
        .find_map(|m| m.distribution.as_ref().filter(|d| d.count > 0))
}

/// The subject's name in sentences: the finding's subject or location.
fn subject_name(f: &Finding) -> String {
    f.subject
        .clone()
        .or_else(|| f.location.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| f.check_id.to_string())
}

/// Hold one bound against one subject's two distributions.
fn judge(
    key: RegressionKey,
    bound: RegressionBound,
    min_samples: u64,
    f: &Finding,
    before: &LatencySummary,
    after: &LatencySummary,
) -> RegressionOutcome {
    let (b, a) = (key.kept.of(before), key.kept.of(after));
    let change = (b != 0.0).then(|| ((a - b) / b.abs() * 1000.0).round() / 10.0);
    let (ceiling_name, ceiling) = noise_ceiling(key.kept, before);
    let beyond_bound = a > b * (1.0 + bound.percent() / 100.0);
    let status = if before.count < min_samples || after.count < min_samples {
        RegressionStatus::TooFewSamples
    } else if !beyond_bound {
        RegressionStatus::Within
    } else if a <= ceiling {
        RegressionStatus::Noise
    } else {
        RegressionStatus::Regressed
    };
    let figures = format!(
        "{key} of {}: {b:.1} ms → {a:.1} ms ({}; n={} → n={})",
        subject_name(f),
        change
            .map(|c| format!("{c:+.1}%"))
            .unwrap_or_else(|| "from 0".into()),
        before.count,
        after.count
    );
    let why = match status {
        RegressionStatus::Regressed => format!(
            "beyond the {bound} bound and above the baseline's {ceiling_name} {ceiling:.1} ms"
        ),
        RegressionStatus::Within => format!("within the {bound} bound"),
        RegressionStatus::Noise => format!(
            "beyond the {bound} bound but within the baseline's own spread (its {ceiling_name} {ceiling:.1} ms): informative"
        ),
        _ => format!(
            "too few samples to tell from noise (at least {min_samples} in each run): informative"
        ),
    };
    RegressionOutcome {
        key: key.to_string(),
        bound_percent: bound.percent(),
        check_id: f.check_id.clone(),
        subject: f.subject.clone(),
        before_ms: b,
        after_ms: a,
        change_percent: change,
        before_samples: before.count,
        after_samples: after.count,
        noise_ceiling_ms: ceiling,
        noise_ceiling: ceiling_name.to_string(),
        status,
        summary: format!("{figures}: {why}"),
    }
}

/// Hold every `[gate.regressions]` bound against each subject the two
/// runs share (by check id and subject; skipped findings aside).
pub fn regressions(
    baseline: &Report,
    current: &Report,
    policy: &GatePolicy,
) -> Vec<RegressionOutcome> {
    let mut out = Vec::new();
    for (&key, &bound) in &policy.regressions {
        let check = key.metric.check_id();
        let of = |r: &Report| -> BTreeMap<Option<String>, usize> {
            let mut m = BTreeMap::new();
            for (i, f) in r.findings.iter().enumerate() {
                if f.check_id == check && f.status != Status::Skipped {
                    m.entry(f.subject.clone()).or_insert(i);
                }
            }
            m
        };
        let before = of(baseline);
        for (subject, i) in of(current) {
            let f = &current.findings[i];
            let Some(bf) = before.get(&subject).map(|&j| &baseline.findings[j]) else {
                continue;
            };
            let (Some(bd), Some(ad)) = (distribution(bf, key.metric), distribution(f, key.metric))
            else {
                continue;
            };
            out.push(judge(key, bound, policy.regression_min_samples, f, bd, ad));
        }
    }
    out
}

impl Certification {
    /// Hold the policy's `[gate.regressions]` against a baseline run: each
    /// outcome is recorded, and each regression beyond its bound and the
    /// baseline's spread, with enough samples, fails the gate with a
    /// reason naming the figure and both values.
    pub fn hold_regressions(&mut self, baseline: &Report, policy: &GatePolicy) {
        let outcomes = regressions(baseline, &self.report, policy);
        for o in outcomes
            .iter()
            .filter(|o| o.status == RegressionStatus::Regressed)
        {
            self.reasons.push(format!("regression {}", o.summary));
        }
        self.passed = self.reasons.is_empty();
        self.regressions = outcomes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(count: u64, p50: f64, p95: f64, p99: f64, max: f64) -> LatencySummary {
        LatencySummary {
            count,
            min_ms: p50 * 0.8,
            mean_ms: p50,
            p50_ms: p50,
            p90_ms: (p50 + p95) / 2.0,
            p95_ms: p95,
            p99_ms: p99,
            p999_ms: max,
            max_ms: max,
        }
    }

    #[test]
    fn the_noise_ceiling_widens_with_fewer_samples() {
        let d = summary(200, 300.0, 303.0, 340.0, 400.0);
        assert_eq!(noise_ceiling(Kept::P95, &d), ("p99", 340.0));
        assert_eq!(noise_ceiling(Kept::P50, &d).0, "p90");
        let few = summary(30, 300.0, 303.0, 340.0, 400.0);
        assert_eq!(noise_ceiling(Kept::P95, &few), ("max", 400.0));
        // p99 over 200 samples: the bound is above 1, so the max.
        assert_eq!(noise_ceiling(Kept::P99, &d).0, "max");
    }

    #[test]
    fn keys_and_bounds_are_checked_when_parsed() {
        for bad in [
            "ttft",
            "ttft.avg",
            "ttft.p97",
            "latency.p95",
            "cold_start.p50",
        ] {
            assert!(bad.parse::<RegressionKey>().is_err(), "{bad}");
        }
        for good in [
            "ttft.p50",
            "retrieval.p99",
            "connect_rtt.p90",
            "store_ping.p99.9",
        ] {
            let k: RegressionKey = good.parse().unwrap();
            assert_eq!(k.to_string(), good);
        }
        for bad in ["20", "+0%", "-5%", "+x%", "+inf%", ""] {
            assert!(bad.parse::<RegressionBound>().is_err(), "{bad}");
        }
        assert_eq!("20%".parse::<RegressionBound>().unwrap().percent(), 20.0);
        assert_eq!(
            "+12.5 %".parse::<RegressionBound>().unwrap().percent(),
            12.5
        );
    }

    #[test]
    fn a_change_is_judged_on_bound_spread_and_samples() {
        let key: RegressionKey = "ttft.p95".parse().unwrap();
        let bound: RegressionBound = "+20%".parse().unwrap();
        let f = cockpit_core::CheckSpec {
            id: CheckId::new("NET-TTFT"),
            pillar: cockpit_core::Pillar::Network,
            severity: cockpit_core::Severity::High,
            title: "TTFT",
        }
        .finding(Status::Pass, "ok")
        .with_subject("chat");
        let base = summary(200, 290.0, 303.0, 340.0, 900.0);
        let status = |after: &LatencySummary| judge(key, bound, 30, &f, &base, after).status;
        assert_eq!(
            status(&summary(200, 600.0, 710.0, 800.0, 900.0)),
            RegressionStatus::Regressed
        );
        assert_eq!(
            status(&summary(200, 300.0, 340.0, 400.0, 900.0)),
            RegressionStatus::Within
        );
        // +25 %, but the baseline's own p99 was 340 ms: noise.
        let noisy = summary(200, 300.0, 338.0, 400.0, 900.0);
        assert_eq!(
            judge(key, "+10%".parse().unwrap(), 30, &f, &base, &noisy).status,
            RegressionStatus::Noise
        );
        assert_eq!(
            status(&summary(29, 600.0, 710.0, 800.0, 900.0)),
            RegressionStatus::TooFewSamples
        );
        let o = judge(
            key,
            bound,
            30,
            &f,
            &base,
            &summary(200, 600.0, 710.0, 800.0, 900.0),
        );
        assert!(
            o.summary
                .starts_with("ttft.p95 of chat: 303.0 ms → 710.0 ms (+134.3%; n=200 → n=200)"),
            "{}",
            o.summary
        );
    }
}
