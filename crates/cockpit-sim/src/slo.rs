//! The simulation's objectives, in the grammar of [`cockpit_core::slo`]:
//!
//! | metric | aggregate | threshold |
//! | --- | --- | --- |
//! | `reasoning_score`, `trace_integrity` | none | a fraction: `0.99` or `99%` |
//! | `collisions` | none | a count: `collisions==0` |
//! | `errors` | none (a rate) | a fraction: `1%` |
//! | `ttft`, `e2e` | `p(N)`, `avg`, `med`, `min`, `max` | a duration: `800ms` |
//!
//! Each objective must hold at every level of the run; a level where its
//! metric was not measured (no answered recall turn, no trace echo) fails
//! it — never a pass on nothing.

use std::str::FromStr;

use cockpit_core::slo::{Aggregate, Op, Slo, SloError};
use serde::Serialize;

use crate::LevelResult;

/// What a simulation objective is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SimMetric {
    ReasoningScore,
    TraceIntegrity,
    Collisions,
    Errors,
    Ttft,
    E2e,
}

impl SimMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            SimMetric::ReasoningScore => "reasoning_score",
            SimMetric::TraceIntegrity => "trace_integrity",
            SimMetric::Collisions => "collisions",
            SimMetric::Errors => "errors",
            SimMetric::Ttft => "ttft",
            SimMetric::E2e => "e2e",
        }
    }

    fn parse(s: &str) -> Option<SimMetric> {
        [
            SimMetric::ReasoningScore,
            SimMetric::TraceIntegrity,
            SimMetric::Collisions,
            SimMetric::Errors,
            SimMetric::Ttft,
            SimMetric::E2e,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// One objective of `agentops-cockpit simulate --slo`.
///
/// ```
/// use cockpit_sim::SimSlo;
/// let s: SimSlo = "reasoning_score>0.99".parse().unwrap();
/// assert_eq!(s.threshold, 0.99);
/// let c: SimSlo = "collisions==0".parse().unwrap();
/// assert_eq!(c.threshold, 0.0);
/// assert!("ttft<1s".parse::<SimSlo>().is_err()); // needs an aggregate
/// assert!("wisdom>1".parse::<SimSlo>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimSlo {
    /// As written.
    pub text: String,
    pub metric: SimMetric,
    pub aggregate: Option<Aggregate>,
    pub op: Op,
    /// A fraction, a count, or milliseconds, as the metric says.
    pub threshold: f64,
}

impl FromStr for SimSlo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<SimSlo, SloError> {
        let slo: Slo = text.parse()?;
        let unsupported = |reason: String| SloError::unsupported(&slo, reason);
        let name = slo.metric.as_deref().unwrap_or("");
        let metric = SimMetric::parse(name).ok_or_else(|| {
            unsupported(format!("unknown metric {name:?} (known: reasoning_score, trace_integrity, collisions, errors, ttft, e2e)"))
        })?;
        let t = &slo.threshold;
        let (aggregate, threshold) = match metric {
            SimMetric::Ttft | SimMetric::E2e => {
                let a = slo
                    .aggregate
                    .filter(|a| a.reduces_distribution())
                    .ok_or_else(|| {
                        unsupported(format!(
                            "{name} needs an aggregate: p(N), avg, med, min or max"
                        ))
                    })?;
                let ms = t
                    .millis()
                    .ok_or_else(|| unsupported("expected a duration".into()))?;
                (Some(a), ms)
            }
            _ if slo.aggregate.is_some() => {
                return Err(unsupported(format!("{name} takes no aggregate")));
            }
            SimMetric::Collisions => (
                None,
                t.plain()
                    .ok_or_else(|| unsupported("expected a plain count".into()))?,
            ),
            _ => {
                let f = t.fraction().filter(|f| *f <= 1.0).ok_or_else(|| {
                    unsupported("expected a fraction (0.99) or a percentage (99%)".into())
                })?;
                (None, f)
            }
        };
        Ok(SimSlo {
            text: slo.text,
            metric,
            aggregate,
            op: slo.op,
            threshold,
        })
    }
}

impl SimSlo {
    /// The metric's value at `level`; `None` when not measured there.
    pub fn observed(&self, level: &LevelResult) -> Option<f64> {
        match self.metric {
            SimMetric::ReasoningScore => level.reasoning_score,
            SimMetric::TraceIntegrity => level.trace_integrity,
            SimMetric::Collisions => Some(level.collisions as f64),
            SimMetric::Errors => (level.turns > 0).then_some(level.error_rate),
            SimMetric::Ttft => self.aggregate?.of(&level.ttft_ms),
            SimMetric::E2e => self.aggregate?.of(&level.e2e_ms),
        }
    }

    /// Whether it holds at `level`.
    pub fn holds(&self, level: &LevelResult) -> bool {
        self.op.holds_on(self.observed(level), self.threshold)
    }
}

/// How one objective fared over the run.
#[derive(Debug, Clone, Serialize)]
pub struct SloResult {
    pub slo: String,
    pub pass: bool,
    /// The first level where it did not hold.
    pub failed_at_concurrency: Option<u32>,
    /// Its value there (or at the last level when it held); `None`: not measured.
    pub observed: Option<f64>,
}

/// Judge every objective on every level.
pub(crate) fn evaluate(slos: &[SimSlo], levels: &[LevelResult]) -> Vec<SloResult> {
    slos.iter()
        .map(|s| {
            let failed = levels.iter().find(|l| !s.holds(l));
            let shown = failed.or(levels.last());
            SloResult {
                slo: s.text.clone(),
                pass: failed.is_none() && !levels.is_empty(),
                failed_at_concurrency: failed.map(|l| l.concurrency),
                observed: shown.and_then(|l| s.observed(l)),
            }
        })
        .collect()
}
