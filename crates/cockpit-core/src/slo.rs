//! The service-level objective language, in the k6 style:
//! `metric:aggregate<value`, e.g. `ttft:p(95)<800ms` or `errors<0.1%`.
//!
//! This module holds the grammar only: a metric name, an optional
//! aggregate, a comparison operator and a threshold with its unit. Which
//! metrics exist, which aggregates apply to each and what a bare number
//! means is the vocabulary of whoever evaluates the objective (the load
//! engine for `agentops-cockpit load`, the gate for `certify`); each
//! refuses what it cannot check with [`SloError::Unsupported`], never a
//! silent pass.
//!
//! The evaluation of an aggregate is shared too: [`Aggregate::of`] reduces
//! any [`Aggregated`] source — the load engine's histograms
//! ([`crate::Distribution`]) and the summaries a report keeps
//! ([`crate::LatencySummary`]) — and [`Op::holds_on`] never passes an
//! objective on a value that was not measured.
//!
//! Grammar:
//!
//! - `metric:aggregate OP value`, `metric OP value` (no aggregate) or
//!   `aggregate OP value` (no metric: the evaluator's default metric);
//! - metric: letters, digits and `_`, case-insensitive (kept lower-case);
//! - aggregate: `p(N)` with N in 0–100, `avg` (or `mean`), `med`, `min`,
//!   `max`, `rate`, `count`;
//! - OP: `<`, `<=`, `>`, `>=`, `==` (exactly: for counts, `collisions==0`);
//! - value: a non-negative number, optionally followed by a unit: `us`
//!   (or `µs`), `ms`, `s`, `m` (minutes) or `%`.
//!
//! ```
//! use cockpit_core::slo::{Aggregate, Op, Slo, ThresholdUnit};
//!
//! let s: Slo = "ttft:p(95)<800ms".parse().unwrap();
//! assert_eq!(s.metric.as_deref(), Some("ttft"));
//! assert_eq!(s.aggregate, Some(Aggregate::Percentile(95.0)));
//! assert_eq!(s.op, Op::Lt);
//! assert_eq!(s.threshold.unit, ThresholdUnit::Milliseconds);
//! assert_eq!(s.threshold.millis(), Some(800.0));
//! assert_eq!(s.to_string(), "ttft:p(95)<800ms");
//!
//! let e: Slo = "errors<0.1%".parse().unwrap();
//! assert_eq!((e.metric.as_deref(), e.aggregate), (Some("errors"), None));
//! assert!((e.threshold.fraction().unwrap() - 0.001).abs() < 1e-12);
//!
//! let err = "ttft:p(95)=800ms".parse::<Slo>().unwrap_err();
//! assert!(err.to_string().contains("expected metric:aggregate<value"));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an objective was refused. Every message names the objective as given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SloError {
    /// No comparison operator, or nothing on one side of it.
    #[error("{text:?}: expected metric:aggregate<value (or >, <=, >=)")]
    Syntax { text: String },
    /// The metric is not a name (letters, digits, `_`).
    #[error("{text:?}: {metric:?} is not a metric name (letters, digits and _)")]
    MetricName { text: String, metric: String },
    /// The aggregate is none of `p(N)`, `avg`, `med`, `min`, `max`, `rate`, `count`.
    #[error(
        "{text:?}: unknown aggregate {aggregate:?} (known: p(N) with N in 0–100, avg, med, min, max, rate, count)"
    )]
    UnknownAggregate { text: String, aggregate: String },
    /// The threshold is not a non-negative number with an optional unit.
    #[error(
        "{text:?}: {value:?} is not a non-negative number with an optional unit (us, ms, s, m, %)"
    )]
    Value { text: String, value: String },
    /// Well-formed, but the evaluator cannot check it: an unknown metric, an
    /// aggregate the evidence cannot give, a threshold in the wrong unit.
    #[error("{text:?}: {reason}")]
    Unsupported { text: String, reason: String },
}

impl SloError {
    /// An objective the evaluator's vocabulary refuses.
    pub fn unsupported(slo: &Slo, reason: impl Into<String>) -> Self {
        SloError::Unsupported {
            text: slo.text.clone(),
            reason: reason.into(),
        }
    }
}

/// How a metric's samples are reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Aggregate {
    /// The percentile `p(N)`, N in 0..=100.
    Percentile(f64),
    Avg,
    Med,
    Min,
    Max,
    Rate,
    Count,
}

impl Aggregate {
    /// `p(95)`, `avg` (or `mean`), `med`, `min`, `max`, `rate`, `count`.
    pub fn parse(s: &str) -> Option<Aggregate> {
        Some(match s {
            "avg" | "mean" => Aggregate::Avg,
            "med" => Aggregate::Med,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "rate" => Aggregate::Rate,
            "count" => Aggregate::Count,
            _ => {
                let n = s.strip_prefix("p(")?.strip_suffix(')')?;
                let v: f64 = n.trim().parse().ok()?;
                if !(0.0..=100.0).contains(&v) {
                    return None;
                }
                Aggregate::Percentile(v)
            }
        })
    }
}

/// A distribution an [`Aggregate`] reduces to one number, in the source's
/// unit (milliseconds for latencies). Each method is `None` when the source
/// holds no sample, or does not keep that figure (a report keeps five
/// percentiles, not every one).
pub trait Aggregated {
    /// The value at percentile `p`, 0–100.
    fn percentile(&self, p: f64) -> Option<f64>;
    fn mean(&self) -> Option<f64>;
    fn min(&self) -> Option<f64>;
    fn max(&self) -> Option<f64>;
}

impl Aggregate {
    /// Whether it reduces a distribution: `p(N)`, `avg`, `med`, `min`,
    /// `max` (not `rate` or `count`, which count events).
    pub fn reduces_distribution(self) -> bool {
        !matches!(self, Aggregate::Rate | Aggregate::Count)
    }

    /// This aggregate of `source`; `None` for `rate` and `count`, an empty
    /// source, or a figure the source does not keep.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cockpit_core::Distribution;
    /// use cockpit_core::slo::Aggregate;
    /// let mut d = Distribution::new();
    /// for ms in 1..=100 {
    ///     d.record(Duration::from_millis(ms));
    /// }
    /// let p99 = Aggregate::Percentile(99.0).of(&d).unwrap();
    /// assert!((p99 - 99.0).abs() < 0.1);
    /// // The summary a report keeps gives the same figure.
    /// assert_eq!(Aggregate::Percentile(99.0).of(&d.summary()), Some(d.summary().p99_ms));
    /// assert_eq!(Aggregate::Percentile(97.0).of(&d.summary()), None);
    /// assert_eq!(Aggregate::Rate.of(&d), None);
    /// ```
    pub fn of(self, source: &impl Aggregated) -> Option<f64> {
        match self {
            Aggregate::Percentile(p) => source.percentile(p),
            Aggregate::Avg => source.mean(),
            Aggregate::Med => source.percentile(50.0),
            Aggregate::Min => source.min(),
            Aggregate::Max => source.max(),
            Aggregate::Rate | Aggregate::Count => None,
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Percentile(p) => write!(f, "p({p})"),
            Aggregate::Avg => f.write_str("avg"),
            Aggregate::Med => f.write_str("med"),
            Aggregate::Min => f.write_str("min"),
            Aggregate::Max => f.write_str("max"),
            Aggregate::Rate => f.write_str("rate"),
            Aggregate::Count => f.write_str("count"),
        }
    }
}

/// Comparison operator: the objective holds when `observed OP threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    /// Exactly equal: meant for counts (`collisions==0`).
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    /// Whether `observed OP threshold` holds.
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => observed < threshold,
            Op::Le => observed <= threshold,
            Op::Gt => observed > threshold,
            Op::Ge => observed >= threshold,
            Op::Eq => observed == threshold,
        }
    }

    /// Whether a measured value holds; nothing measured never holds.
    pub fn holds_on(self, observed: Option<f64>, threshold: f64) -> bool {
        observed.is_some_and(|o| self.holds(o, threshold))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit a threshold was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ThresholdUnit {
    /// A bare number: its meaning is the metric's (milliseconds for a
    /// duration, a fraction for a rate, a plain count or rate otherwise).
    None,
    /// `us` or `µs`.
    Microseconds,
    /// `ms`.
    Milliseconds,
    /// `s`.
    Seconds,
    /// `m`.
    Minutes,
    /// `%`.
    Percent,
}

impl ThresholdUnit {
    /// The suffix as written (`""` for a bare number).
    pub fn suffix(self) -> &'static str {
        match self {
            ThresholdUnit::None => "",
            ThresholdUnit::Microseconds => "us",
            ThresholdUnit::Milliseconds => "ms",
            ThresholdUnit::Seconds => "s",
            ThresholdUnit::Minutes => "m",
            ThresholdUnit::Percent => "%",
        }
    }
}

/// A threshold as written: the number and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    /// The number as written, ≥ 0.
    pub value: f64,
    pub unit: ThresholdUnit,
}

impl Threshold {
    /// In milliseconds when the unit is a duration; a bare number is taken
    /// as milliseconds. `None` for a percentage.
    pub fn millis(&self) -> Option<f64> {
        let scale = match self.unit {
            ThresholdUnit::None | ThresholdUnit::Milliseconds => 1.0,
            ThresholdUnit::Microseconds => 0.001,
            ThresholdUnit::Seconds => 1000.0,
            ThresholdUnit::Minutes => 60_000.0,
            ThresholdUnit::Percent => return None,
        };
        Some(self.value * scale)
    }

    /// As a fraction: `0.1%` is 0.001, a bare number is itself. `None`
    /// for a duration.
    pub fn fraction(&self) -> Option<f64> {
        match self.unit {
            ThresholdUnit::Percent => Some(self.value * 0.01),
            ThresholdUnit::None => Some(self.value),
            _ => None,
        }
    }

    /// The bare number; `None` when a unit was written.
    pub fn plain(&self) -> Option<f64> {
        (self.unit == ThresholdUnit::None).then_some(self.value)
    }

    fn parse(s: &str) -> Option<Threshold> {
        const SUFFIXES: [(&str, ThresholdUnit); 6] = [
            ("ms", ThresholdUnit::Milliseconds),
            ("us", ThresholdUnit::Microseconds),
            ("µs", ThresholdUnit::Microseconds),
            ("%", ThresholdUnit::Percent),
            ("s", ThresholdUnit::Seconds),
            ("m", ThresholdUnit::Minutes),
        ];
        let (num, unit) = SUFFIXES
            .iter()
            .find_map(|(suf, u)| s.strip_suffix(suf).map(|n| (n, *u)))
            .unwrap_or((s, ThresholdUnit::None));
        let value: f64 = num.trim().parse().ok()?;
        (value.is_finite() && value >= 0.0).then_some(Threshold { value, unit })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.unit.suffix())
    }
}

/// What an evaluator's observed value is held in, so that
/// [`Threshold::observed`] can show it in the unit its threshold was
/// written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Measure {
    /// A duration in milliseconds.
    Millis,
    /// A share of requests: 0.01 is 1 %.
    Fraction,
    /// A number of events.
    Count,
    /// A rate; the label names what is counted per second (`req/s`, `tokens/s`).
    PerSecond(&'static str),
}

/// A number with as many decimals as its size needs.
fn figure(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

impl Threshold {
    /// An observed value (held as `measure` says) in this threshold's unit:
    /// a duration in the threshold's `us`/`ms`/`s`/`m` (milliseconds for a
    /// bare number), a fraction in `%` when the threshold was a percentage
    /// (as a fraction and a percentage when it was a bare number), a count,
    /// or a rate with its label.
    ///
    /// ```
    /// use cockpit_core::slo::{Measure, Slo};
    /// let t = |s: &str| s.parse::<Slo>().unwrap().threshold;
    /// assert_eq!(t("errors<0.1%").observed(1.0, Measure::Fraction), "100.0 %");
    /// assert_eq!(t("errors<0.001").observed(0.5, Measure::Fraction), "0.5000 (50.00 %)");
    /// assert_eq!(t("p(99)<1.5s").observed(12.103, Measure::Millis), "0.0121 s");
    /// assert_eq!(t("p(99)<250").observed(12.103, Measure::Millis), "12.10 ms");
    /// assert_eq!(t("rps>100").observed(98.25, Measure::PerSecond("req/s")), "98.25 req/s");
    /// assert_eq!(t("errors:count<3").observed(4.0, Measure::Count), "4");
    /// ```
    pub fn observed(&self, v: f64, measure: Measure) -> String {
        match measure {
            Measure::Millis => {
                let (scale, unit) = match self.unit {
                    ThresholdUnit::Microseconds => (1000.0, "us"),
                    ThresholdUnit::Seconds => (0.001, "s"),
                    ThresholdUnit::Minutes => (1.0 / 60_000.0, "m"),
                    _ => (1.0, "ms"),
                };
                format!("{} {unit}", figure(v * scale))
            }
            Measure::Fraction => match self.unit {
                ThresholdUnit::Percent => format!("{} %", figure(v * 100.0)),
                _ => format!("{v:.4} ({:.2} %)", v * 100.0),
            },
            Measure::Count => format!("{v:.0}"),
            Measure::PerSecond(label) => format!("{} {label}", figure(v)),
        }
    }
}

/// One parsed objective. Which metrics and aggregates exist is up to the
/// evaluator; the parser guarantees a metric or an aggregate (or both).
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The text as given (trimmed); messages and results name it.
    pub text: String,
    /// Lower-case; `None` in the `aggregate<value` form.
    pub metric: Option<String>,
    /// `None` in the `metric<value` form.
    pub aggregate: Option<Aggregate>,
    pub op: Op,
    pub threshold: Threshold,
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<Slo, SloError> {
        let t = text.trim();
        let syntax = || SloError::Syntax {
            text: t.to_string(),
        };
        let op_at = t.find(['<', '>', '=']).ok_or_else(syntax)?;
        let (lhs, rest) = t.split_at(op_at);
        let (op, value) = if let Some(v) = rest.strip_prefix("==") {
            (Op::Eq, v)
        } else if rest.starts_with('=') {
            return Err(syntax());
        } else if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Gt, &rest[1..])
        };
        let lhs = lhs.trim().to_ascii_lowercase();
        let value = value.trim();
        if lhs.is_empty() || value.is_empty() {
            return Err(syntax());
        }
        let metric_name = |m: &str| -> Result<String, SloError> {
            if !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Ok(m.to_string())
            } else {
                Err(SloError::MetricName {
                    text: t.to_string(),
                    metric: m.to_string(),
                })
            }
        };
        let unknown_aggregate = |a: &str| SloError::UnknownAggregate {
            text: t.to_string(),
            aggregate: a.to_string(),
        };
        let (metric, aggregate) = match lhs.split_once(':') {
            Some((m, a)) => {
                let metric = metric_name(m.trim())?;
                let a = a.trim();
                let agg = Aggregate::parse(a).ok_or_else(|| unknown_aggregate(a))?;
                (Some(metric), Some(agg))
            }
            None => match Aggregate::parse(&lhs) {
                Some(a) => (None, Some(a)),
                None => (Some(metric_name(&lhs)?), None),
            },
        };
        let threshold = Threshold::parse(value).ok_or_else(|| SloError::Value {
            text: t.to_string(),
            value: value.to_string(),
        })?;
        Ok(Slo {
            text: t.to_string(),
            metric,
            aggregate,
            op,
            threshold,
        })
    }
}

/// The canonical form: `ttft:p(95)<800ms`, `errors<0.1%`, `p(99)<250ms`.
impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.metric, &self.aggregate) {
            (Some(m), Some(a)) => write!(f, "{m}:{a}")?,
            (Some(m), None) => f.write_str(m)?,
            (None, Some(a)) => write!(f, "{a}")?,
            (None, None) => {}
        }
        write!(f, "{}{}", self.op, self.threshold)
    }
}

/// Serialised as its text, so configuration files and reports hold what a
/// person wrote.
impl Serialize for Slo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Slo, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Slo {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_every_form() {
        let s = p("ttft:p(99.9)<=1.5s");
        assert_eq!(s.metric.as_deref(), Some("ttft"));
        assert_eq!(s.aggregate, Some(Aggregate::Percentile(99.9)));
        assert_eq!(s.op, Op::Le);
        assert_eq!(s.threshold.millis(), Some(1500.0));
        let s = p("p(99)<250ms");
        assert_eq!(
            (s.metric, s.aggregate),
            (None, Some(Aggregate::Percentile(99.0)))
        );
        let s = p("errors<0.1%");
        assert_eq!((s.metric.as_deref(), s.aggregate), (Some("errors"), None));
        assert_eq!(s.threshold.unit, ThresholdUnit::Percent);
        assert_eq!(s.threshold.millis(), None);
        let s = p(" RPS >= 1000 ");
        assert_eq!((s.metric.as_deref(), s.op), (Some("rps"), Op::Ge));
        assert_eq!(s.threshold.plain(), Some(1000.0));
        assert_eq!(s.text, "RPS >= 1000");
        let s = p("cold_start:mean>800us");
        assert_eq!(s.aggregate, Some(Aggregate::Avg));
        assert_eq!(s.threshold.millis(), Some(0.8));
        assert_eq!(p("x:max<2m").threshold.millis(), Some(120_000.0));
        assert_eq!(p("x:min>5µs").threshold.unit, ThresholdUnit::Microseconds);
        assert_eq!(p("count<3").aggregate, Some(Aggregate::Count));
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        for (given, shown) in [
            ("ttft:p(95)<800ms", "ttft:p(95)<800ms"),
            ("TTFT : p(95) < 800ms", "ttft:p(95)<800ms"),
            ("errors<0.1%", "errors<0.1%"),
            ("p(99.9)>=2s", "p(99.9)>=2s"),
            ("cold_start:mean<=1.25s", "cold_start:avg<=1.25s"),
            ("rps>1000", "rps>1000"),
        ] {
            let s = p(given);
            assert_eq!(s.to_string(), shown);
            let back = p(&s.to_string());
            assert_eq!(
                (back.metric, back.aggregate, back.op, back.threshold),
                (s.metric, s.aggregate, s.op, s.threshold)
            );
        }
    }

    #[test]
    fn refuses_malformed_objectives_naming_them() {
        let err = |s: &str| s.parse::<Slo>().unwrap_err();
        assert!(matches!(err("ttft:p(95)=800ms"), SloError::Syntax { .. }));
        assert!(matches!(err(""), SloError::Syntax { .. }));
        assert!(matches!(err("<800ms"), SloError::Syntax { .. }));
        assert!(matches!(err("ttft:p(95)<"), SloError::Syntax { .. }));
        assert!(matches!(err("tt-ft:p(95)<1s"), SloError::MetricName { .. }));
        assert!(matches!(err(":p(95)<1s"), SloError::MetricName { .. }));
        for agg in ["p99", "p(101)", "p(-1)", "p()", "median", ""] {
            let e = err(&format!("ttft:{agg}<1s"));
            assert!(matches!(e, SloError::UnknownAggregate { .. }), "{agg}: {e}");
        }
        for v in ["fast", "-1ms", "inf", "NaN", "ms", "1.2.3s", "10h"] {
            let e = err(&format!("ttft:p(95)<{v}"));
            assert!(matches!(e, SloError::Value { .. }), "{v}: {e}");
        }
        let e = err("ttft:p99<1s").to_string();
        assert!(
            e.starts_with("\"ttft:p99<1s\": unknown aggregate \"p99\""),
            "{e}"
        );
        let s = p("wat:p(95)<1s");
        let e = SloError::unsupported(&s, "unknown metric \"wat\"").to_string();
        assert_eq!(e, "\"wat:p(95)<1s\": unknown metric \"wat\"");
    }

    #[test]
    fn thresholds_convert_by_unit() {
        let t = |s: &str| p(&format!("x<{s}")).threshold;
        assert_eq!(t("250").millis(), Some(250.0));
        assert_eq!(t("250").fraction(), Some(250.0));
        assert_eq!(t("1%").fraction(), Some(0.01));
        assert_eq!(t("1s").fraction(), None);
        assert_eq!(t("1s").plain(), None);
        assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
        assert!(Op::Le.holds(2.0, 2.0) && Op::Ge.holds(2.0, 2.0));
        assert!(Op::Gt.holds(3.0, 2.0) && !Op::Gt.holds(2.0, 2.0));
        assert!(Op::Lt.holds_on(Some(1.0), 2.0) && !Op::Lt.holds_on(None, 2.0));
        assert!(!Op::Ge.holds_on(None, 0.0));
        let eq = p("collisions==0");
        assert_eq!((eq.op, eq.threshold.plain()), (Op::Eq, Some(0.0)));
        assert_eq!(eq.to_string(), "collisions==0");
        assert!(Op::Eq.holds(0.0, 0.0) && !Op::Eq.holds(1.0, 0.0));
        assert!(matches!("x=0".parse::<Slo>(), Err(SloError::Syntax { .. })));
        assert!(matches!(
            "x=<0".parse::<Slo>(),
            Err(SloError::Syntax { .. })
        ));
    }

    #[test]
    fn aggregates_reduce_what_they_name() {
        struct Fixed;
        impl Aggregated for Fixed {
            fn percentile(&self, p: f64) -> Option<f64> {
                Some(1000.0 + p)
            }
            fn mean(&self) -> Option<f64> {
                Some(1.0)
            }
            fn min(&self) -> Option<f64> {
                Some(2.0)
            }
            fn max(&self) -> Option<f64> {
                Some(3.0)
            }
        }
        let of = |a: &str| Aggregate::parse(a).unwrap().of(&Fixed);
        assert_eq!(of("p(95)"), Some(1095.0));
        assert_eq!(of("med"), Some(1050.0));
        assert_eq!((of("avg"), of("mean")), (Some(1.0), Some(1.0)));
        assert_eq!((of("min"), of("max")), (Some(2.0), Some(3.0)));
        assert_eq!((of("rate"), of("count")), (None, None));
        for a in ["p(0)", "p(100)", "avg", "med", "min", "max"] {
            assert!(Aggregate::parse(a).unwrap().reduces_distribution(), "{a}");
        }
        for a in ["rate", "count"] {
            assert!(!Aggregate::parse(a).unwrap().reduces_distribution(), "{a}");
        }
        let shown: Vec<String> = ["med", "min", "max", "rate", "count", "p(99.9)"]
            .map(|a| Aggregate::parse(a).unwrap().to_string())
            .to_vec();
        assert_eq!(shown, ["med", "min", "max", "rate", "count", "p(99.9)"]);
    }

    #[test]
    fn observed_values_are_shown_in_the_threshold_unit() {
        let t = |s: &str| p(&format!("x<{s}")).threshold;
        assert_eq!(t("5us").observed(1.5, Measure::Millis), "1500.0 us");
        assert_eq!(t("1m").observed(90_000.0, Measure::Millis), "1.50 m");
        assert_eq!(t("1ms").observed(0.0, Measure::Millis), "0.0 ms");
        assert_eq!(t("1ms").observed(100.0, Measure::Millis), "100.0 ms");
        assert_eq!(t("1ms").observed(99.99, Measure::Millis), "99.99 ms");
        assert_eq!(t("1ms").observed(1.0, Measure::Millis), "1.00 ms");
        assert_eq!(t("1ms").observed(0.5, Measure::Millis), "0.5000 ms");
        assert_eq!(t("1ms").observed(-2.0, Measure::Millis), "-2.00 ms");
        assert_eq!(t("1%").observed(0.0123, Measure::Fraction), "1.23 %");
        assert_eq!(t("3").observed(2.6, Measure::Count), "3");
        assert_eq!(t("2%").fraction(), Some(0.02));
        assert_eq!(t("0").plain(), Some(0.0));
        assert_eq!(t("5us").millis(), Some(0.005));
        assert_eq!(t("3s").millis(), Some(3000.0));
        assert_eq!(t("3m").millis(), Some(180_000.0));
        assert_eq!(t("3ms").millis(), Some(3.0));
        assert_eq!(t("3ms").fraction(), None);
    }

    #[test]
    fn operators_read_and_print_as_written() {
        for (text, op) in [
            ("x<1", Op::Lt),
            ("x<=1", Op::Le),
            ("x>1", Op::Gt),
            ("x>=1", Op::Ge),
        ] {
            let s = p(text);
            assert_eq!(s.op, op, "{text}");
            assert_eq!(s.to_string(), text);
        }
        assert!(!Op::Le.holds(2.1, 2.0) && !Op::Ge.holds(1.9, 2.0));
        assert!(Op::Ge.holds(2.1, 2.0) && Op::Le.holds(1.9, 2.0));
    }

    #[test]
    fn serde_uses_the_text() {
        let s = p("ttft:p(95)<800ms");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"ttft:p(95)<800ms\"");
        let back: Slo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let e = serde_json::from_str::<Slo>("\"ttft:p(95)\"").unwrap_err();
        assert!(
            e.to_string().contains("expected metric:aggregate<value"),
            "{e}"
        );
    }
}
