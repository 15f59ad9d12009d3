//! Comparing two runs: which measurements and statuses got worse.

use std::collections::BTreeMap;

use cockpit_core::{CheckId, Report, Status, Unit};
use serde::{Deserialize, Serialize};

/// Which way a measurement moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Direction {
    Better,
    Worse,
    /// The unit does not say which way is better (ratios, counts, bytes).
    Changed,
}

/// One measurement present in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementChange {
    pub check_id: CheckId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub name: String,
    pub unit: Unit,
    pub before: f64,
    pub after: f64,
    /// (after − before) / before × 100; absent when before is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<f64>,
    pub direction: Direction,
    /// Worse by at least the policy's `regression_percent`, whatever the threshold says.
    pub regression: bool,
}

/// A finding whose status changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub check_id: CheckId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub before: Status,
    pub after: Status,
    pub regression: bool,
}

/// What changed between a baseline run and the current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline_generated_at: String,
    pub current_generated_at: String,
    pub regression_percent: f64,
    /// Measurements that moved by at least `regression_percent`, worst first.
    pub changes: Vec<MeasurementChange>,
    pub status_changes: Vec<StatusChange>,
    /// Findings in the current run and not in the baseline.
    pub new_findings: Vec<(CheckId, Option<String>)>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.changes.iter().filter(|c| c.regression).count()
            + self.status_changes.iter().filter(|c| c.regression).count()
    }
}

fn higher_is_worse(u: Unit) -> Option<bool> {
    match u {
        Unit::Milliseconds | Unit::Seconds => Some(true),
        Unit::TokensPerSecond | Unit::RequestsPerSecond => Some(false),
        _ => None,
    }
}

type Key = (CheckId, Option<String>);

/// Compare `current` with `baseline`: measurements matched by check id,
/// subject and name; a latency up (or a throughput down) by at least
/// `regression_percent` is a regression even when its check still passes.
pub fn compare(baseline: &Report, current: &Report, regression_percent: f64) -> Comparison {
    let mut before: BTreeMap<Key, &cockpit_core::Finding> = BTreeMap::new();
    for f in &baseline.findings {
        before
            .entry((f.check_id.clone(), f.subject.clone()))
            .or_insert(f);
    }
    let mut changes = Vec::new();
    let mut status_changes = Vec::new();
    let mut new_findings = Vec::new();
    for f in &current.findings {
        let key = (f.check_id.clone(), f.subject.clone());
        let Some(b) = before.get(&key) else {
            new_findings.push(key);
            continue;
        };
        if b.status != f.status {
            status_changes.push(StatusChange {
                check_id: f.check_id.clone(),
                subject: f.subject.clone(),
                before: b.status,
                after: f.status,
                regression: f.status.rank() < b.status.rank(),
            });
        }
        for m in &f.measurements {
            let Some(bm) = b.measurement(&m.name).filter(|bm| bm.unit == m.unit) else {
                continue;
            };
            let pct = (bm.value != 0.0).then(|| (m.value - bm.value) / bm.value.abs() * 100.0);
            let Some(p) = pct.filter(|p| p.abs() >= regression_percent) else {
                continue;
            };
            let direction = match higher_is_worse(m.unit) {
                Some(true) if p > 0.0 => Direction::Worse,
                Some(false) if p < 0.0 => Direction::Worse,
                Some(_) => Direction::Better,
                None => Direction::Changed,
            };
            changes.push(MeasurementChange {
                check_id: f.check_id.clone(),
                subject: f.subject.clone(),
                name: m.name.clone(),
                unit: m.unit,
                before: bm.value,
                after: m.value,
                change_percent: Some((p * 10.0).round() / 10.0),
                direction,
                regression: direction == Direction::Worse,
            });
        }
    }
    changes.sort_by(|a, b| {
        (!a.regression, -a.change_percent.unwrap_or(0.0).abs())
            .partial_cmp(&(!b.regression, -b.change_percent.unwrap_or(0.0).abs()))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Comparison {
        baseline_generated_at: baseline.generated_at.clone(),
        current_generated_at: current.generated_at.clone(),
        regression_percent,
        changes,
        status_changes,
        new_findings,
    }
}
