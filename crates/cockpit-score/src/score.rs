//! Scoring: findings in, a [`Certification`] out. Pure: no clock (the day
//! waivers are judged on is an argument), no I/O.

use std::collections::BTreeMap;

use cockpit_core::{CheckId, Finding, Pillar, Report, Severity, Status};
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::policy::{GatePolicy, Waiver, severity_weight};
use crate::slo::{SloOutcome, SloStatus, evaluate_slo};

/// The version of the certification JSON (`--format json`).
pub const CERTIFICATION_VERSION: &str = "1.0";

/// How one finding counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Treatment {
    /// Counted in its pillar's score.
    Scored,
    /// The subject is not configured: listed, not scored.
    Skipped,
    /// Left out of the score by a waiver in force.
    Waived,
    /// Not measured, and the policy lets it pass unscored (`fail_closed = false`).
    Unscored,
    /// An info-severity check: evidence, weight 0.
    Info,
}

/// One finding as the gate saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredFinding {
    /// Index into `report.findings`.
    pub index: usize,
    pub check_id: CheckId,
    pub pillar: Pillar,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub status: Status,
    pub severity: Severity,
    pub treatment: Treatment,
    /// Severity weight (0 when not scored).
    pub weight: f64,
    /// 1 pass, 0.5 warn, 0 otherwise; absent when not scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<f64>,
    /// Index into `waivers` of the waiver that waived it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<usize>,
    /// Set when an expired waiver names it: it is scored again, and says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_waiver: Option<usize>,
}

/// Where a waiver stands on the day of evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WaiverState {
    /// In force and waiving at least one finding.
    InForce,
    /// In force, but no finding of this run needed it.
    Unused,
    /// Past its expiry: it waives nothing.
    Expired,
}

/// A waiver of the policy and what it did in this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaiverOutcome {
    pub waiver: Waiver,
    pub state: WaiverState,
    /// Findings (indices into `report.findings`) it waived, or would have.
    pub findings: Vec<usize>,
    /// One sentence for people.
    pub note: String,
}

/// The approval matrix verdict of one pillar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    /// No finding of the pillar was scored (nothing configured for it).
    NotScored,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::NotScored => "NOT SCORED",
        }
    }
}

/// The finding that drives a pillar's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub check_id: CheckId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub status: Status,
    /// The finding's sentence, with its deciding figure.
    pub summary: String,
    /// The first measurement: `ttft_p95 912 ms (n=200)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figure: Option<String>,
}

/// One row of the approval matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PillarScore {
    pub pillar: Pillar,
    pub verdict: Verdict,
    /// 0–100, one decimal; absent when nothing was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The pillar's weight in the overall score.
    pub weight: f64,
    /// Findings by status spelling.
    pub counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_risk: Option<Risk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_move: Option<String>,
}

/// The gate's decision on one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certification {
    pub certification_version: String,
    /// Overall score 0–100 (one decimal) after caps; absent when nothing was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The weighted score before the critical-failure cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncapped_score: Option<f64>,
    pub threshold: f64,
    pub passed: bool,
    /// Why the gate failed (empty when it passed).
    pub reasons: Vec<String>,
    /// Critical failures, each capping the score below the threshold.
    pub critical_failures: Vec<usize>,
    /// Findings not measured (or errored) and not waived.
    pub not_measured: Vec<usize>,
    /// At least one finding was measured (pass, warn or fail).
    pub measured: bool,
    pub fail_closed: bool,
    /// The day waivers were judged on (UTC).
    pub evaluated_on: Date,
    /// The approval matrix: one row per pillar.
    pub pillars: Vec<PillarScore>,
    pub findings: Vec<ScoredFinding>,
    pub waivers: Vec<WaiverOutcome>,
    /// The policy's SLOs, each held against every subject with its evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slos: Vec<SloOutcome>,
    /// The evidence that was scored.
    pub report: Report,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn credit(s: Status) -> f64 {
    match s {
        Status::Pass => 1.0,
        Status::Warn => 0.5,
        _ => 0.0,
    }
}

/// Worst first: fail, error, not-measured, warn, pass, skipped.
pub(crate) fn status_rank(s: Status) -> u8 {
    match s {
        Status::Fail => 0,
        Status::Error => 1,
        Status::NotMeasured => 2,
        Status::Warn => 3,
        Status::Pass => 4,
        _ => 5,
    }
}

/// `ttft_p95 912 ms (n=200)` for a finding's first measurement.
pub fn figure(f: &Finding) -> Option<String> {
    f.measurements
        .first()
        .map(|m| format!("{} {} (n={})", m.name, m.display_value(), m.samples))
}

/// Score a report under a policy, judging waivers on `today`.
///
/// Per finding: weight by severity ([`severity_weight`]), credit 1 for a
/// pass, ½ for a warn, 0 for a fail, an error or (fail-closed) a
/// not-measured. A pillar's score is 100 × Σ weight·credit / Σ weight;
/// the overall score is the pillar-weighted mean of the pillars that have
/// one. Any critical failure caps the overall score at threshold − 1 and
/// fails the gate; so does any not-measured finding when fail-closed.
/// See `docs/scoring.md` for a worked example.
pub fn certify(report: &Report, policy: &GatePolicy, today: Date) -> Certification {
    let mut waivers: Vec<WaiverOutcome> = policy
        .waivers
        .iter()
        .map(|w| WaiverOutcome {
            waiver: w.clone(),
            state: if w.in_force(today) {
                WaiverState::Unused
            } else {
                WaiverState::Expired
            },
            findings: Vec::new(),
            note: String::new(),
        })
        .collect();

    let mut scored = Vec::with_capacity(report.findings.len());
    for (index, f) in report.findings.iter().enumerate() {
        let mut waiver = None;
        let mut expired_waiver = None;
        if Waiver::waivable(f) {
            for (wi, w) in waivers.iter_mut().enumerate() {
                if !w.waiver.matches(f) {
                    continue;
                }
                w.findings.push(index);
                if w.state == WaiverState::Expired {
                    expired_waiver.get_or_insert(wi);
                } else {
                    w.state = WaiverState::InForce;
                    waiver.get_or_insert(wi);
                }
            }
        }
        let treatment = if f.status == Status::Skipped {
            Treatment::Skipped
        } else if waiver.is_some() {
            Treatment::Waived
        } else if severity_weight(f.severity) == 0.0 {
            Treatment::Info
        } else if matches!(f.status, Status::NotMeasured | Status::Error) && !policy.fail_closed {
            Treatment::Unscored
        } else {
            Treatment::Scored
        };
        let is_scored = treatment == Treatment::Scored;
        scored.push(ScoredFinding {
            index,
            check_id: f.check_id.clone(),
            pillar: f.pillar,
            subject: f.subject.clone(),
            status: f.status,
            severity: f.severity,
            treatment,
            weight: if is_scored {
                severity_weight(f.severity)
            } else {
                0.0
            },
            credit: is_scored.then(|| credit(f.status)),
            waiver: if treatment == Treatment::Waived {
                waiver
            } else {
                None
            },
            expired_waiver: if waiver.is_none() {
                expired_waiver
            } else {
                None
            },
        });
    }
    for w in &mut waivers {
        let wv = &w.waiver;
        let target = wv.target.as_deref().unwrap_or("every subject");
        w.note = match w.state {
            WaiverState::InForce => format!(
                "{} on {target} waived until {} (owner {}): {}",
                wv.check, wv.expires, wv.owner, wv.reason
            ),
            WaiverState::Unused => format!(
                "{} on {target}: in force until {} (owner {}), nothing to waive in this run",
                wv.check, wv.expires, wv.owner
            ),
            WaiverState::Expired => format!(
                "{} on {target}: waiver EXPIRED on {} (owner {}) and no longer waives{}",
                wv.check,
                wv.expires,
                wv.owner,
                if w.findings.is_empty() {
                    String::new()
                } else {
                    format!("; {} finding(s) scored again", w.findings.len())
                }
            ),
        };
    }

    // Pillar scores and the approval matrix.
    let mut pillars = Vec::new();
    for pillar in Pillar::ALL {
        let of_pillar: Vec<&ScoredFinding> = scored.iter().filter(|s| s.pillar == pillar).collect();
        let mut counts = BTreeMap::new();
        for s in &of_pillar {
            *counts.entry(s.status.as_str().to_string()).or_insert(0) += 1;
        }
        let (num, den) = of_pillar
            .iter()
            .filter_map(|s| s.credit.map(|c| (s.weight * c, s.weight)))
            .fold((0.0, 0.0), |(n, d), (a, b)| (n + a, d + b));
        let score = (den > 0.0).then(|| round1(100.0 * num / den));
        let counted: Vec<&&ScoredFinding> = of_pillar
            .iter()
            .filter(|s| matches!(s.treatment, Treatment::Scored | Treatment::Unscored))
            .collect();
        let verdict = if score.is_none() && counted.is_empty() {
            Verdict::NotScored
        } else if counted.iter().any(|s| {
            matches!(s.status, Status::Fail | Status::Error)
                || (s.status == Status::NotMeasured && s.treatment == Treatment::Scored)
        }) {
            Verdict::Fail
        } else if counted
            .iter()
            .any(|s| matches!(s.status, Status::Warn | Status::NotMeasured))
        {
            Verdict::Warn
        } else {
            Verdict::Pass
        };
        let worst = counted
            .iter()
            .filter(|s| s.status != Status::Pass)
            .min_by(|a, b| {
                (
                    status_rank(a.status),
                    std::cmp::Reverse(a.severity),
                    a.check_id.as_str(),
                    &a.subject,
                )
                    .cmp(&(
                        status_rank(b.status),
                        std::cmp::Reverse(b.severity),
                        b.check_id.as_str(),
                        &b.subject,
                    ))
            });
        let (primary_risk, recommended_move) = match worst {
            Some(s) => {
                let f = &report.findings[s.index];
                (
                    Some(Risk {
                        check_id: f.check_id.clone(),
                        subject: f.subject.clone(),
                        status: f.status,
                        summary: f.summary.clone(),
                        figure: figure(f),
                    }),
                    f.recommendation.clone(),
                )
            }
            None => (None, None),
        };
        if of_pillar.is_empty() {
            continue;
        }
        pillars.push(PillarScore {
            pillar,
            verdict,
            score,
            weight: policy.weights.get(pillar),
            counts,
            primary_risk,
            recommended_move,
        });
    }

    let (num, den) = pillars
        .iter()
        .filter_map(|p| p.score.map(|s| (p.weight * s, p.weight)))
        .fold((0.0, 0.0), |(n, d), (a, b)| (n + a, d + b));
    let uncapped = (den > 0.0).then(|| round1(num / den));

    let critical_failures: Vec<usize> = scored
        .iter()
        .filter(|s| {
            s.treatment == Treatment::Scored
                && s.severity == Severity::Critical
                && matches!(s.status, Status::Fail | Status::Error)
        })
        .map(|s| s.index)
        .collect();
    let not_measured: Vec<usize> = scored
        .iter()
        .filter(|s| {
            matches!(s.status, Status::NotMeasured | Status::Error)
                && matches!(s.treatment, Treatment::Scored | Treatment::Unscored)
        })
        .map(|s| s.index)
        .collect();
    let cap = (policy.threshold - 1.0).max(0.0);
    let score = uncapped.map(|s| {
        if critical_failures.is_empty() {
            s
        } else {
            s.min(cap)
        }
    });

    let mut reasons = Vec::new();
    match score {
        None => reasons.push("no finding was scored: nothing configured was measured".to_string()),
        Some(s) if s < policy.threshold => reasons.push(format!(
            "score {s:.1} is below the threshold {:.1}",
            policy.threshold
        )),
        _ => {}
    }
    for &i in &critical_failures {
        let f = &report.findings[i];
        reasons.push(format!(
            "critical failure {}{}: {} (caps the score at {cap:.1})",
            f.check_id,
            f.subject
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            f.summary
        ));
    }
    if policy.fail_closed && !not_measured.is_empty() {
        reasons.push(format!(
            "{} finding(s) could not be measured and the gate fails closed (gate.fail_closed = true)",
            not_measured.len()
        ));
    }
    let slos: Vec<SloOutcome> = policy
        .slos
        .iter()
        .map(|s| evaluate_slo(report, s))
        .collect();
    for o in &slos {
        match o.status {
            SloStatus::Fail => reasons.push(format!("SLO {} failed: {}", o.slo, o.summary)),
            SloStatus::Invalid => reasons.push(format!("SLO {}: {}", o.slo, o.summary)),
            SloStatus::NotMeasured if policy.fail_closed => reasons.push(format!(
                "SLO {} {} and the gate fails closed (gate.fail_closed = true)",
                o.slo, o.summary
            )),
            _ => {}
        }
    }
    if report.interrupted {
        reasons.push("the run was interrupted: the evidence is partial".to_string());
    }
    let measured = report
        .findings
        .iter()
        .any(|f| matches!(f.status, Status::Pass | Status::Warn | Status::Fail));

    Certification {
        certification_version: CERTIFICATION_VERSION.to_string(),
        score,
        uncapped_score: uncapped,
        threshold: policy.threshold,
        passed: reasons.is_empty(),
        reasons,
        critical_failures,
        not_measured,
        measured,
        fail_closed: policy.fail_closed,
        evaluated_on: today,
        pillars,
        findings: scored,
        waivers,
        slos,
        report: report.clone(),
    }
}

impl Certification {
    /// Parse a certification written by `--format json`.
    pub fn from_json(s: &str) -> Result<Certification, serde_json::Error> {
        serde_json::from_str(s)
    }

    /// The findings that no measurement backs and nothing waived: every
    /// configured subject was unreachable.
    pub fn could_not_measure(&self) -> bool {
        !self.measured && !self.not_measured.is_empty()
    }

    /// The score as shown to people: `87.5`, or `n/a`.
    pub fn score_label(&self) -> String {
        self.score
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "n/a".into())
    }

    /// The waived findings and the waiver that waived each.
    pub fn waived(&self) -> impl Iterator<Item = (&Finding, &WaiverOutcome)> {
        self.findings.iter().filter_map(|s| {
            s.waiver
                .map(|w| (&self.report.findings[s.index], &self.waivers[w]))
        })
    }
}
