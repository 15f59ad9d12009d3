//! Service-level objectives in the k6 style: `metric:aggregate<value`.
//!
//! | metric | aggregates | value |
//! | --- | --- | --- |
//! | `latency` (default; alias `http_req_duration`), `service`, `dispatch_lag`, `ttft`, `itl`, `tpot` | `p(N)`, `avg`, `med`, `min`, `max` | a duration: `250ms`, `1.5s`, `800us`, a bare number is milliseconds |
//! | `errors` (alias `http_req_failed`), `http_5xx` | `rate` (default), `count` | a rate: `0.1%` or `0.001`; a count: `10` |
//! | `rps`, `goodput` | `rate` (default) | requests per second |
//! | `tokens_per_s` | `p(N)`, `avg`, `med`, `min`, `max` | output tokens per second, per request |
//!
//! The grammar (`metric:aggregate<value`, the aggregates, the operators,
//! the units) and the reduction of a distribution by an aggregate are
//! [`cockpit_core::slo`]'s, shared with the gate's objectives
//! (`certify --slo`, `cockpit_score::GateSlo`); this module adds the load
//! engine's metrics ([`LoadSlo`]) and evaluates them on a run. A refused
//! objective is a [`SloError`] naming it, as the gate's are.
//!
//! Operators: `<`, `<=`, `>`, `>=`. Everything is checked when parsed, so an
//! unknown metric or aggregate is an error before any request is sent,
//! never a silent pass; a metric that took no sample fails its SLO.

use std::str::FromStr;
use std::time::Duration;

use cockpit_core::Distribution;
pub use cockpit_core::slo::{Aggregate, Op};
use cockpit_core::slo::{Aggregated, Measure, Slo, SloError, Threshold};
use serde::Serialize;

use crate::{ProbeError, Protocol, RateDistribution};

/// What an SLO is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SloMetric {
    Latency,
    Service,
    DispatchLag,
    Ttft,
    Itl,
    Tpot,
    Errors,
    Http5xx,
    Rps,
    Goodput,
    TokensPerS,
}

impl SloMetric {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "latency" | "http_req_duration" => SloMetric::Latency,
            "service" => SloMetric::Service,
            "dispatch_lag" => SloMetric::DispatchLag,
            "ttft" => SloMetric::Ttft,
            "itl" => SloMetric::Itl,
            "tpot" => SloMetric::Tpot,
            "errors" | "http_req_failed" => SloMetric::Errors,
            "http_5xx" => SloMetric::Http5xx,
            "rps" => SloMetric::Rps,
            "goodput" => SloMetric::Goodput,
            "tokens_per_s" => SloMetric::TokensPerS,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SloMetric::Latency => "latency",
            SloMetric::Service => "service",
            SloMetric::DispatchLag => "dispatch_lag",
            SloMetric::Ttft => "ttft",
            SloMetric::Itl => "itl",
            SloMetric::Tpot => "tpot",
            SloMetric::Errors => "errors",
            SloMetric::Http5xx => "http_5xx",
            SloMetric::Rps => "rps",
            SloMetric::Goodput => "goodput",
            SloMetric::TokensPerS => "tokens_per_s",
        }
    }

    fn is_duration(self) -> bool {
        matches!(
            self,
            SloMetric::Latency
                | SloMetric::Service
                | SloMetric::DispatchLag
                | SloMetric::Ttft
                | SloMetric::Itl
                | SloMetric::Tpot
        )
    }

    /// Measured only on streaming protocols.
    fn streaming_only(self) -> bool {
        matches!(
            self,
            SloMetric::Ttft | SloMetric::Itl | SloMetric::Tpot | SloMetric::TokensPerS
        )
    }
}

/// One objective of `agentops-cockpit load --slo`. Thresholds are held in the metric's unit:
/// milliseconds for durations, a fraction for rates, per second for
/// throughputs, a plain number for counts.
///
/// ```
/// use cockpit_probe::load::LoadSlo;
/// let s: LoadSlo = "ttft:p(95)<800ms".parse().unwrap();
/// assert_eq!(s.threshold, 800.0);
/// let e: LoadSlo = "errors<0.1%".parse().unwrap();
/// assert!((e.threshold - 0.001).abs() < 1e-12);
/// assert!("latency:p(99)<fast".parse::<LoadSlo>().is_err());
/// let err = "latncy:p(99)<1s".parse::<LoadSlo>().unwrap_err();
/// assert!(err.to_string().starts_with("\"latncy:p(99)<1s\": unknown metric"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadSlo {
    /// The text as given.
    pub text: String,
    pub metric: SloMetric,
    pub aggregate: Aggregate,
    pub op: Op,
    pub threshold: f64,
    /// The threshold as written (number and unit): observed values are
    /// shown in its unit.
    #[serde(skip)]
    pub written: Threshold,
}

/// The grammar is [`cockpit_core::slo`]'s; this adds the load engine's
/// vocabulary: which metrics exist, the aggregates each takes, and what
/// its threshold's unit is.
impl FromStr for LoadSlo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<Self, SloError> {
        let slo: Slo = text.parse()?;
        let (metric, aggregate) = metric_and_aggregate(&slo)?;
        let allowed = match metric {
            m if m.is_duration() || m == SloMetric::TokensPerS => aggregate.reduces_distribution(),
            SloMetric::Errors | SloMetric::Http5xx => {
                matches!(aggregate, Aggregate::Rate | Aggregate::Count)
            }
            _ => aggregate == Aggregate::Rate,
        };
        if !allowed {
            return Err(SloError::unsupported(
                &slo,
                format!(
                    "aggregate {aggregate:?} does not apply to {}",
                    metric.as_str()
                ),
            ));
        }
        let threshold = threshold_in_unit(&slo, metric, aggregate)?;
        Ok(LoadSlo {
            text: slo.text,
            metric,
            aggregate,
            op: slo.op,
            threshold,
            written: slo.threshold,
        })
    }
}

/// The metric (latency when none is named) and the aggregate (rate for a
/// count-like metric written without one).
fn metric_and_aggregate(slo: &Slo) -> Result<(SloMetric, Aggregate), SloError> {
    let Some(m) = slo.metric.as_deref() else {
        return match slo.aggregate {
            Some(a) => Ok((SloMetric::Latency, a)),
            None => Err(SloError::unsupported(
                slo,
                "expected metric:aggregate<value",
            )),
        };
    };
    let metric = SloMetric::parse(m).ok_or_else(|| {
        SloError::unsupported(slo, format!("unknown metric {m:?} (known: latency, service, dispatch_lag, ttft, itl, tpot, errors, http_5xx, rps, goodput, tokens_per_s)"))
    })?;
    match slo.aggregate {
        Some(a) => Ok((metric, a)),
        None if metric.is_duration() || metric == SloMetric::TokensPerS => {
            let name = metric.as_str();
            Err(SloError::unsupported(
                slo,
                format!("{name} needs an aggregate, e.g. {name}:p(99)"),
            ))
        }
        None => Ok((metric, Aggregate::Rate)),
    }
}

/// The threshold in the metric's unit: milliseconds for a duration, a
/// fraction (at most 1) for an error rate, a plain number otherwise.
fn threshold_in_unit(slo: &Slo, metric: SloMetric, aggregate: Aggregate) -> Result<f64, SloError> {
    let value = &slo.threshold;
    if metric.is_duration() {
        return value.millis().ok_or_else(|| {
            SloError::unsupported(
                slo,
                format!("\"{value}\" is not a duration (e.g. 250ms, 1.5s)"),
            )
        });
    }
    if aggregate == Aggregate::Rate && matches!(metric, SloMetric::Errors | SloMetric::Http5xx) {
        let v = value.fraction().ok_or_else(|| {
            SloError::unsupported(
                slo,
                format!("\"{value}\" is not a rate (e.g. 0.1% or 0.001)"),
            )
        })?;
        if v > 1.0 {
            return Err(SloError::unsupported(slo, "a rate is at most 100%"));
        }
        return Ok(v);
    }
    value.plain().ok_or_else(|| {
        SloError::unsupported(slo, format!("\"{value}\" is not a non-negative number"))
    })
}

/// Per second, read from the histogram of rates.
impl Aggregated for RateDistribution {
    fn percentile(&self, p: f64) -> Option<f64> {
        self.quantile(p / 100.0)
    }
    fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.summary().mean)
    }
    fn min(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.summary().min)
    }
    fn max(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.summary().max)
    }
}

impl LoadSlo {
    /// Refuse SLOs the protocol cannot measure (e.g. `ttft` on plain HTTP).
    pub fn check_protocol(&self, protocol: Protocol) -> Result<(), ProbeError> {
        if self.metric.streaming_only() && protocol == Protocol::Http {
            return Err(ProbeError::InvalidOption {
                name: "slo",
                reason: format!(
                    "{:?}: {} is measured only with --protocol openai or grpc",
                    self.text,
                    self.metric.as_str()
                ),
            });
        }
        Ok(())
    }

    /// The per-request bound this SLO implies, for goodput: a latency-like
    /// percentile or max SLO with `<`/`<=` (a request is good when its own
    /// value is within the threshold).
    pub(crate) fn per_request_bound(&self) -> Option<(SloMetric, Duration)> {
        let per_request = matches!(
            self.aggregate,
            Aggregate::Percentile(_) | Aggregate::Max | Aggregate::Med
        );
        (per_request
            && matches!(self.op, Op::Lt | Op::Le)
            && matches!(
                self.metric,
                SloMetric::Latency | SloMetric::Service | SloMetric::Ttft
            ))
        .then(|| {
            (
                self.metric,
                Duration::from_secs_f64(self.threshold / 1000.0),
            )
        })
    }

    /// Evaluate against what a run (or one sweep step) measured.
    pub fn evaluate(&self, m: &SloInputs<'_>) -> SloResult {
        let agg = self.aggregate;
        let dist = |d: Option<&Distribution>| d.and_then(|d| agg.of(d));
        let completed = m.ok + m.errors;
        let secs = m.elapsed.as_secs_f64();
        let count_or_rate = |n: u64| match self.aggregate {
            Aggregate::Count => Some(n as f64),
            _ => (completed > 0).then(|| n as f64 / completed as f64),
        };
        let observed = match self.metric {
            SloMetric::Latency => dist(Some(m.latency)),
            SloMetric::Service => dist(Some(m.service)),
            SloMetric::DispatchLag => dist(m.dispatch_lag),
            SloMetric::Ttft => dist(m.ttft),
            SloMetric::Itl => dist(m.itl),
            SloMetric::Tpot => dist(m.tpot),
            SloMetric::TokensPerS => m.tokens_per_s.and_then(|d| agg.of(d)),
            SloMetric::Errors => count_or_rate(m.errors),
            SloMetric::Http5xx => count_or_rate(m.http_5xx),
            SloMetric::Rps => (secs > 0.0).then(|| m.ok as f64 / secs),
            SloMetric::Goodput => (secs > 0.0).then(|| m.good as f64 / secs),
        };
        SloResult {
            slo: self.text.clone(),
            observed,
            observed_text: observed.map(|v| self.written.observed(v, self.measure())),
            pass: self.op.holds_on(observed, self.threshold),
        }
    }

    /// What the observed value is held in: milliseconds for a duration, a
    /// fraction for an error rate, a count, requests or tokens per second.
    pub fn measure(&self) -> Measure {
        match self.metric {
            m if m.is_duration() => Measure::Millis,
            SloMetric::Errors | SloMetric::Http5xx => match self.aggregate {
                Aggregate::Count => Measure::Count,
                _ => Measure::Fraction,
            },
            SloMetric::TokensPerS => Measure::PerSecond("tokens/s"),
            _ => Measure::PerSecond("req/s"),
        }
    }
}

/// What an SLO is evaluated on.
#[derive(Debug, Clone, Copy)]
pub struct SloInputs<'a> {
    pub latency: &'a Distribution,
    pub service: &'a Distribution,
    pub dispatch_lag: Option<&'a Distribution>,
    pub ttft: Option<&'a Distribution>,
    pub itl: Option<&'a Distribution>,
    pub tpot: Option<&'a Distribution>,
    pub tokens_per_s: Option<&'a RateDistribution>,
    pub ok: u64,
    pub errors: u64,
    pub http_5xx: u64,
    pub good: u64,
    pub elapsed: Duration,
}

/// One SLO's verdict. `observed` is in the metric's unit (milliseconds for
/// durations, a fraction for rates, requests or tokens per second, a
/// count), `None` when nothing was measured — a failure, never a pass.
/// `observed_text` is the same value in the unit the threshold was written
/// in (`errors<0.1%` → `"100.0 %"`, `p(99)<1.5s` → `"0.0121 s"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloResult {
    pub slo: String,
    pub observed: Option<f64>,
    pub observed_text: Option<String>,
    pub pass: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_k6_forms() {
        let s: LoadSlo = "p(99)<250ms".parse().unwrap();
        assert_eq!(
            (s.metric, s.aggregate, s.op),
            (SloMetric::Latency, Aggregate::Percentile(99.0), Op::Lt)
        );
        assert_eq!(s.threshold, 250.0);
        let s: LoadSlo = "http_req_duration:p(95)<200".parse().unwrap();
        assert_eq!((s.metric, s.threshold), (SloMetric::Latency, 200.0));
        let s: LoadSlo = "errors:count<=3".parse().unwrap();
        assert_eq!(
            (s.aggregate, s.op, s.threshold),
            (Aggregate::Count, Op::Le, 3.0)
        );
        let s: LoadSlo = "rps>=1000".parse().unwrap();
        assert_eq!((s.metric, s.op), (SloMetric::Rps, Op::Ge));
        let s: LoadSlo = "service:max<1.5s".parse().unwrap();
        assert_eq!(s.threshold, 1500.0);
        let s: LoadSlo = "http_5xx<1%".parse().unwrap();
        assert!((s.threshold - 0.01).abs() < 1e-12);
    }

    #[test]
    fn rejects_what_it_cannot_check() {
        for bad in [
            "latncy:p(99)<1s",
            "latency:p99<1s",
            "latency:p(101)<1s",
            "latency:rate<1s",
            "errors:p(99)<1%",
            "errors<150%",
            "ttft<800ms",
            "p(99)=250ms",
            "p(99)<soon",
            "",
        ] {
            assert!(bad.parse::<LoadSlo>().is_err(), "{bad} was accepted");
        }
        let e = "wat:p(99)<1s".parse::<LoadSlo>().unwrap_err().to_string();
        assert!(e.contains("unknown metric"), "{e}");
        let e = "latency:p50x<1s"
            .parse::<LoadSlo>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown aggregate"), "{e}");
        let t: LoadSlo = "ttft:p(95)<800ms".parse().unwrap();
        assert!(t.check_protocol(Protocol::Http).is_err());
        assert!(t.check_protocol(Protocol::OpenAi).is_ok());
    }

    #[test]
    fn evaluates_and_never_passes_without_samples() {
        let mut lat = Distribution::new();
        for ms in 1..=100 {
            lat.record(Duration::from_millis(ms));
        }
        let empty = Distribution::new();
        let m = SloInputs {
            latency: &lat,
            service: &lat,
            dispatch_lag: None,
            ttft: Some(&empty),
            itl: None,
            tpot: None,
            tokens_per_s: None,
            ok: 99,
            errors: 1,
            http_5xx: 1,
            good: 50,
            elapsed: Duration::from_secs(10),
        };
        let r = |s: &str| s.parse::<LoadSlo>().unwrap().evaluate(&m);
        assert!(r("p(99)<100ms").pass);
        assert!(!r("p(99)<90ms").pass);
        assert!(r("errors<2%").pass);
        assert!(!r("errors<0.5%").pass);
        assert!(r("errors:count<2").pass);
        assert!(r("rps>9").pass);
        assert!((r("goodput>1").observed.unwrap() - 5.0).abs() < 1e-9);
        let t = r("ttft:p(95)<800ms");
        assert!(!t.pass && t.observed.is_none() && t.observed_text.is_none());
        // Each observed value in its threshold's unit.
        assert_eq!(r("errors<0.5%").observed_text.as_deref(), Some("1.00 %"));
        assert_eq!(r("errors:count<2").observed_text.as_deref(), Some("1"));
        assert_eq!(r("p(50)<1s").observed_text.as_deref(), Some("0.0500 s"));
        assert!(r("p(50)<100").observed_text.unwrap().ends_with(" ms"));
        assert_eq!(r("rps>9").observed_text.as_deref(), Some("9.90 req/s"));
    }
}
