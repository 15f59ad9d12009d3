//! The gate's policy: threshold, pillar weights, fail-closed, waivers,
//! pillars declared out of scope, regression bounds. This is the `[gate]`
//! table of `cockpit.toml`; unknown keys are errors.

use std::collections::BTreeMap;

use cockpit_core::{CheckId, Finding, Pillar, Severity, Status};
use serde::{Deserialize, Serialize};

use crate::regression::{RegressionBound, RegressionKey};
use crate::{Date, GateSlo, ScoreError};

/// The default threshold: a score below it fails the gate.
pub const DEFAULT_THRESHOLD: f64 = 90.0;

/// The fewest samples each run needs, by default, before a regression
/// can fail the gate (`[gate] regression_min_samples`).
pub const DEFAULT_REGRESSION_MIN_SAMPLES: u64 = 30;

/// Where runs are stored by default, relative to the working directory.
pub const DEFAULT_EVIDENCE_DIR: &str = ".cockpit/evidence";

/// The weight of one finding in its pillar's score, by the severity of its
/// check: info 0 (listed, not scored), low 1, medium 2, high 4, critical 8.
pub fn severity_weight(s: Severity) -> f64 {
    match s {
        Severity::Info => 0.0,
        Severity::Low => 1.0,
        Severity::Medium => 2.0,
        Severity::High => 4.0,
        Severity::Critical => 8.0,
        _ => 2.0,
    }
}

/// The `[gate]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatePolicy {
    /// The score (0–100) at or above which the gate passes.
    pub threshold: f64,
    /// Each pillar's weight in the overall score.
    pub weights: PillarWeights,
    /// A configured subject that could not be measured fails the gate
    /// (`true`, the default); `false` lists it apart, unscored.
    pub fail_closed: bool,
    /// The evidence lake: every run's report is stored under it.
    pub evidence_dir: String,
    /// `--compare` calls out a measurement that got this much worse (%).
    pub regression_percent: f64,
    /// `[gate.regressions]`: with `--compare`, a measurement that got worse
    /// beyond its bound (`"ttft.p95" = "+20%"`), with enough samples to
    /// tell it from noise, fails the gate. Empty: comparisons only inform.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub regressions: BTreeMap<RegressionKey, RegressionBound>,
    /// The fewest samples each run needs before a regression can fail the gate.
    pub regression_min_samples: u64,
    /// CIC-GATE: a pipeline's `certify --threshold` below this is no gate.
    pub min_pipeline_threshold: f64,
    /// Accepted risks, each with an owner and an expiry date.
    pub waivers: Vec<Waiver>,
    /// Pillars declared out of scope (`[[gate.out_of_scope]]`): while in
    /// force, an unmeasured pillar so declared does not fail the gate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub out_of_scope: Vec<OutOfScope>,
    /// Service-level objectives held against the evidence
    /// (`ttft:p(95)<800ms`); a broken one fails the gate. Each is checked
    /// when parsed (see [`GateSlo`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slos: Vec<GateSlo>,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            threshold: DEFAULT_THRESHOLD,
            weights: PillarWeights::default(),
            fail_closed: true,
            evidence_dir: DEFAULT_EVIDENCE_DIR.to_string(),
            regression_percent: 10.0,
            regressions: BTreeMap::new(),
            regression_min_samples: DEFAULT_REGRESSION_MIN_SAMPLES,
            min_pipeline_threshold: DEFAULT_THRESHOLD,
            waivers: Vec::new(),
            out_of_scope: Vec::new(),
            slos: Vec::new(),
        }
    }
}

/// The weight of each pillar in the overall score (all 1 by default; 0
/// leaves a pillar out of the overall score, still shown in the matrix).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PillarWeights {
    pub network: f64,
    pub compute: f64,
    pub state: f64,
    pub cicd: f64,
    pub observability: f64,
}

impl Default for PillarWeights {
    fn default() -> Self {
        PillarWeights {
            network: 1.0,
            compute: 1.0,
            state: 1.0,
            cicd: 1.0,
            observability: 1.0,
        }
    }
}

impl PillarWeights {
    /// The weight of a pillar.
    pub fn get(&self, p: Pillar) -> f64 {
        match p {
            Pillar::Network => self.network,
            Pillar::Compute => self.compute,
            Pillar::State => self.state,
            Pillar::Cicd => self.cicd,
            Pillar::Observability => self.observability,
            _ => 1.0,
        }
    }
}

/// An accepted risk: while in force, the findings it matches are listed
/// as waived and left out of the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The check id (`NET-TTFT`).
    pub check: CheckId,
    /// The subject (agent or backend name) or location (`ns/Kind/name`,
    /// `file:line`) it applies to; every subject of the check when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub reason: String,
    pub owner: String,
    /// The last day the waiver is in force (UTC).
    pub expires: Date,
}

impl Waiver {
    /// Whether the waiver names this finding (regardless of expiry).
    pub fn matches(&self, f: &Finding) -> bool {
        if f.check_id != self.check {
            return false;
        }
        match &self.target {
            None => true,
            Some(t) => {
                f.subject.as_deref() == Some(t.as_str())
                    || f.location.as_ref().is_some_and(|l| l.to_string() == *t)
            }
        }
    }

    /// In force on `today` (the expiry day included).
    pub fn in_force(&self, today: Date) -> bool {
        today <= self.expires
    }

    /// Whether it would waive this finding: only what did not pass can be waived.
    pub fn waivable(f: &Finding) -> bool {
        matches!(
            f.status,
            Status::Fail | Status::Warn | Status::NotMeasured | Status::Error
        )
    }
}

/// A pillar declared out of scope: what this deployment does not have
/// (no cluster, no pipeline, no shared session store), with why, who
/// answers for it and until when. Judged like a waiver: after `expires` it
/// no longer counts, and the unmeasured pillar fails the gate again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutOfScope {
    /// `network`, `compute`, `state`, `cicd` or `observability`.
    pub pillar: Pillar,
    pub reason: String,
    pub owner: String,
    /// The last day the declaration counts (UTC).
    pub expires: Date,
}

impl OutOfScope {
    /// In force on `today` (the expiry day included).
    pub fn in_force(&self, today: Date) -> bool {
        today <= self.expires
    }
}

impl GatePolicy {
    /// Check the policy: threshold in 0–100, weights finite and not
    /// negative (not all zero), every waiver naming a check in `known`
    /// with a reason and an owner, every out-of-scope declaration with a
    /// reason and an owner and at most one per pillar, at least one sample
    /// asked of a regression. (SLOs and regression bounds are checked when
    /// parsed.)
    pub fn validate(&self, known: &[CheckId]) -> Result<(), ScoreError> {
        validate_threshold(self.threshold)?;
        let w = &self.weights;
        let all = [
            ("network", w.network),
            ("compute", w.compute),
            ("state", w.state),
            ("cicd", w.cicd),
            ("observability", w.observability),
        ];
        for (pillar, v) in all {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ScoreError::Weight {
                    pillar: pillar.into(),
                    message: format!("must be a number ≥ 0, got {v}"),
                });
            }
        }
        if all.iter().all(|(_, v)| *v == 0.0) {
            return Err(ScoreError::Weight {
                pillar: "*".into(),
                message: "at least one pillar weight must be above 0".into(),
            });
        }
        if !(self.regression_percent.is_finite() && self.regression_percent > 0.0) {
            return Err(ScoreError::RegressionPercent(self.regression_percent));
        }
        let m = self.min_pipeline_threshold;
        if !(m.is_finite() && (0.0..=100.0).contains(&m)) {
            return Err(ScoreError::MinPipelineThreshold(m));
        }
        if self.regression_min_samples == 0 {
            return Err(ScoreError::RegressionMinSamples);
        }
        self.validate_out_of_scope()?;
        for (index, wv) in self.waivers.iter().enumerate() {
            if !known.contains(&wv.check) {
                return Err(ScoreError::UnknownCheck {
                    index,
                    check: wv.check.to_string(),
                    known: id_list(known),
                });
            }
            for (field, v) in [("reason", &wv.reason), ("owner", &wv.owner)] {
                if v.trim().is_empty() {
                    return Err(ScoreError::WaiverField {
                        index,
                        check: wv.check.to_string(),
                        field,
                    });
                }
            }
        }
        Ok(())
    }
}

impl GatePolicy {
    /// Each `[[gate.out_of_scope]]`: a reason, an owner, one per pillar.
    fn validate_out_of_scope(&self) -> Result<(), ScoreError> {
        for (index, d) in self.out_of_scope.iter().enumerate() {
            for (field, v) in [("reason", &d.reason), ("owner", &d.owner)] {
                if v.trim().is_empty() {
                    return Err(ScoreError::OutOfScopeField {
                        index,
                        pillar: d.pillar.as_str(),
                        field,
                    });
                }
            }
            if let Some(first) = self.out_of_scope[..index]
                .iter()
                .position(|e| e.pillar == d.pillar)
            {
                return Err(ScoreError::OutOfScopeTwice {
                    index,
                    first,
                    pillar: d.pillar.as_str(),
                });
            }
        }
        Ok(())
    }

    /// The pillars declared out of scope and in force on `today`.
    pub fn out_of_scope_on(&self, today: Date) -> Vec<Pillar> {
        self.out_of_scope
            .iter()
            .filter(|d| d.in_force(today))
            .map(|d| d.pillar)
            .collect()
    }

    /// The declaration of `pillar` as out of scope, if any (in force or not).
    pub fn out_of_scope_of(&self, pillar: Pillar) -> Option<&OutOfScope> {
        self.out_of_scope.iter().find(|d| d.pillar == pillar)
    }
}

/// Every pillar but `measured` declared out of scope, for tests of a
/// report that measures one pillar.
#[cfg(test)]
pub(crate) fn out_of_scope_except(measured: Pillar) -> Vec<OutOfScope> {
    Pillar::ALL
        .into_iter()
        .filter(|p| *p != measured)
        .map(|pillar| OutOfScope {
            pillar,
            reason: "not part of this test".into(),
            owner: "tests".into(),
            expires: Date::new(2999, 12, 31).expect("a date"),
        })
        .collect()
}

/// `CMP-TTR, NET-TTFT, …`: sorted, each once.
pub(crate) fn id_list(known: &[CheckId]) -> String {
    let mut ids: Vec<&str> = known.iter().map(CheckId::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.join(", ")
}

/// A threshold must be a number in 0–100.
pub fn validate_threshold(t: f64) -> Result<(), ScoreError> {
    if t.is_finite() && (0.0..=100.0).contains(&t) {
        Ok(())
    } else {
        Err(ScoreError::Threshold(t))
    }
}

#[cfg(test)]
mod tests {
    use cockpit_core::{CheckSpec, Location};

    use super::*;

    const TTFT: CheckSpec = CheckSpec {
        id: CheckId::new("NET-TTFT"),
        pillar: Pillar::Network,
        severity: Severity::High,
        title: "Time to first token",
    };

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn waiver(target: Option<&str>) -> Waiver {
        Waiver {
            check: TTFT.id.clone(),
            target: target.map(String::from),
            reason: "known".into(),
            owner: "sre".into(),
            expires: day("2026-03-01"),
        }
    }

    fn declared(pillar: Pillar) -> OutOfScope {
        OutOfScope {
            pillar,
            reason: "none here".into(),
            owner: "sre".into(),
            expires: day("2026-03-01"),
        }
    }

    /// `validate` of the default policy changed by `edit`, knowing NET-TTFT.
    fn check(edit: impl FnOnce(&mut GatePolicy)) -> Result<(), ScoreError> {
        let mut p = GatePolicy::default();
        edit(&mut p);
        p.validate(&[TTFT.id.clone(), CheckId::new("CMP-TTR"), TTFT.id.clone()])
    }

    #[test]
    fn weights_by_severity_and_pillar() {
        let w: Vec<f64> = [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .map(severity_weight)
        .to_vec();
        assert_eq!(w, [0.0, 1.0, 2.0, 4.0, 8.0]);
        let weights = PillarWeights {
            network: 1.0,
            compute: 2.0,
            state: 3.0,
            cicd: 4.0,
            observability: 5.0,
        };
        let got: Vec<f64> = Pillar::ALL.map(|p| weights.get(p)).to_vec();
        assert_eq!(got, [1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn thresholds_and_bounds_are_checked_at_their_edges() {
        assert!(check(|_| {}).is_ok());
        for t in [0.0, 100.0] {
            assert!(check(|p| p.threshold = t).is_ok(), "{t}");
            assert!(check(|p| p.min_pipeline_threshold = t).is_ok(), "{t}");
        }
        for t in [-0.1, 100.1, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(check(|p| p.threshold = t), Err(ScoreError::Threshold(_))),
                "{t}"
            );
            assert!(
                matches!(
                    check(|p| p.min_pipeline_threshold = t),
                    Err(ScoreError::MinPipelineThreshold(_))
                ),
                "{t}"
            );
        }
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    check(|p| p.regression_percent = r),
                    Err(ScoreError::RegressionPercent(_))
                ),
                "{r}"
            );
        }
        assert!(check(|p| p.regression_percent = 0.5).is_ok());
        assert!(matches!(
            check(|p| p.regression_min_samples = 0),
            Err(ScoreError::RegressionMinSamples)
        ));
        assert!(check(|p| p.regression_min_samples = 1).is_ok());
    }

    #[test]
    fn weights_must_be_numbers_not_below_zero_and_not_all_zero() {
        let pillar_of = |r: Result<(), ScoreError>| match r {
            Err(ScoreError::Weight { pillar, .. }) => pillar,
            other => panic!("{other:?}"),
        };
        for v in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(pillar_of(check(|p| p.weights.network = v)), "network");
            assert_eq!(pillar_of(check(|p| p.weights.compute = v)), "compute");
            assert_eq!(pillar_of(check(|p| p.weights.state = v)), "state");
            assert_eq!(pillar_of(check(|p| p.weights.cicd = v)), "cicd");
            assert_eq!(
                pillar_of(check(|p| p.weights.observability = v)),
                "observability"
            );
        }
        let zero = PillarWeights {
            network: 0.0,
            compute: 0.0,
            state: 0.0,
            cicd: 0.0,
            observability: 0.0,
        };
        assert_eq!(pillar_of(check(|p| p.weights = zero)), "*");
        let one = PillarWeights {
            observability: 1.0,
            ..zero
        };
        assert!(check(|p| p.weights = one).is_ok());
    }

    #[test]
    fn waivers_name_a_known_check_a_reason_and_an_owner() {
        assert!(check(|p| p.waivers = vec![waiver(None)]).is_ok());
        let unknown = Waiver {
            check: CheckId::new("NET-NOPE"),
            ..waiver(None)
        };
        match check(|p| p.waivers = vec![waiver(None), unknown]) {
            Err(ScoreError::UnknownCheck {
                index,
                check,
                known,
            }) => {
                assert_eq!((index, check.as_str()), (1, "NET-NOPE"));
                assert_eq!(known, "CMP-TTR, NET-TTFT");
            }
            other => panic!("{other:?}"),
        }
        let field_of = |w: Waiver| match check(|p| p.waivers = vec![w]) {
            Err(ScoreError::WaiverField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let blank_reason = Waiver {
            reason: " ".into(),
            ..waiver(None)
        };
        let blank_owner = Waiver {
            owner: String::new(),
            ..waiver(None)
        };
        assert_eq!(
            (field_of(blank_reason), field_of(blank_owner)),
            ("reason", "owner")
        );
    }

    #[test]
    fn out_of_scope_needs_a_reason_an_owner_and_one_per_pillar() {
        let ok = vec![declared(Pillar::State), declared(Pillar::Cicd)];
        assert!(check(|p| p.out_of_scope = ok).is_ok());
        let twice = vec![
            declared(Pillar::State),
            declared(Pillar::Cicd),
            declared(Pillar::State),
        ];
        match check(|p| p.out_of_scope = twice) {
            Err(ScoreError::OutOfScopeTwice {
                index,
                first,
                pillar,
            }) => {
                assert_eq!((index, first, pillar), (2, 0, "state"));
            }
            other => panic!("{other:?}"),
        }
        for (field, d) in [
            (
                "reason",
                OutOfScope {
                    reason: "".into(),
                    ..declared(Pillar::Cicd)
                },
            ),
            (
                "owner",
                OutOfScope {
                    owner: "  ".into(),
                    ..declared(Pillar::Cicd)
                },
            ),
        ] {
            match check(|p| p.out_of_scope = vec![d]) {
                Err(ScoreError::OutOfScopeField {
                    index,
                    pillar,
                    field: f,
                }) => {
                    assert_eq!((index, pillar, f), (0, "cicd", field));
                }
                other => panic!("{other:?}"),
            }
        }
        let p = GatePolicy {
            out_of_scope: vec![declared(Pillar::State), declared(Pillar::Cicd)],
            ..GatePolicy::default()
        };
        assert_eq!(
            p.out_of_scope_of(Pillar::Cicd).map(|d| d.pillar),
            Some(Pillar::Cicd)
        );
        assert!(p.out_of_scope_of(Pillar::Network).is_none());
    }

    #[test]
    fn a_waiver_matches_its_check_and_target_until_its_last_day() {
        let f = TTFT
            .finding(Status::Fail, "slow")
            .with_subject("chat")
            .with_location(Location::Config {
                entry: "agents[0]".into(),
            });
        assert!(waiver(None).matches(&f));
        assert!(waiver(Some("chat")).matches(&f));
        assert!(waiver(Some("agents[0]")).matches(&f));
        assert!(!waiver(Some("search")).matches(&f));
        let other = Waiver {
            check: CheckId::new("CMP-TTR"),
            ..waiver(None)
        };
        assert!(!other.matches(&f));
        let w = waiver(None);
        assert!(w.in_force(day("2026-02-28")) && w.in_force(day("2026-03-01")));
        assert!(!w.in_force(day("2026-03-02")));
        let d = declared(Pillar::State);
        assert!(d.in_force(day("2026-03-01")) && !d.in_force(day("2026-03-02")));
        let waivable = |s: Status| Waiver::waivable(&TTFT.finding(s, "x"));
        for s in [
            Status::Fail,
            Status::Warn,
            Status::NotMeasured,
            Status::Error,
        ] {
            assert!(waivable(s), "{s}");
        }
        assert!(!waivable(Status::Pass) && !waivable(Status::Skipped));
    }
}
