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
    let mut waivers = waiver_outcomes(policy, today);
    let findings: Vec<ScoredFinding> = report
        .findings
        .iter()
        .enumerate()
        .map(|(index, f)| score_finding(index, f, &mut waivers, policy))
        .collect();
    for w in &mut waivers {
        w.note = waiver_note(w);
    }
    let pillars: Vec<PillarScore> = Pillar::ALL
        .into_iter()
        .filter_map(|p| pillar_score(p, report, &findings, policy))
        .collect();
    let capped = Capped::new(&pillars, &findings, policy);
    let slos: Vec<SloOutcome> = policy
        .slos
        .iter()
        .map(|s| evaluate_slo(report, s))
        .collect();
    let reasons = reasons(report, policy, &capped, &slos);
    let measured = report
        .findings
        .iter()
        .any(|f| matches!(f.status, Status::Pass | Status::Warn | Status::Fail));

    Certification {
        certification_version: CERTIFICATION_VERSION.to_string(),
        score: capped.score,
        uncapped_score: capped.uncapped,
        threshold: policy.threshold,
        passed: reasons.is_empty(),
        reasons,
        critical_failures: capped.critical_failures,
        not_measured: capped.not_measured,
        measured,
        fail_closed: policy.fail_closed,
        evaluated_on: today,
        pillars,
        findings,
        waivers,
        slos,
        report: report.clone(),
    }
}

/// Every waiver of the policy, in force or expired on `today`, waiving
/// nothing yet.
fn waiver_outcomes(policy: &GatePolicy, today: Date) -> Vec<WaiverOutcome> {
    policy
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
        .collect()
}

/// The waivers naming finding `index`: the first in force that waives it,
/// and the first expired one (which no longer does). Each records the
/// finding; a waiver in force that names one is in use.
fn match_waivers(
    index: usize,
    f: &Finding,
    waivers: &mut [WaiverOutcome],
) -> (Option<usize>, Option<usize>) {
    let (mut waiver, mut expired) = (None, None);
    if !Waiver::waivable(f) {
        return (waiver, expired);
    }
    for (wi, w) in waivers.iter_mut().enumerate() {
        if !w.waiver.matches(f) {
            continue;
        }
        w.findings.push(index);
        if w.state == WaiverState::Expired {
            expired.get_or_insert(wi);
        } else {
            w.state = WaiverState::InForce;
            waiver.get_or_insert(wi);
        }
    }
    (waiver, expired)
}

/// How a finding counts: skipped, waived, info, unscored (not measured
/// and the policy fails open) or scored.
fn treatment(f: &Finding, waived: bool, policy: &GatePolicy) -> Treatment {
    if f.status == Status::Skipped {
        Treatment::Skipped
    } else if waived {
        Treatment::Waived
    } else if severity_weight(f.severity) == 0.0 {
        Treatment::Info
    } else if matches!(f.status, Status::NotMeasured | Status::Error) && !policy.fail_closed {
        Treatment::Unscored
    } else {
        Treatment::Scored
    }
}

/// One finding as the gate counts it; records it in the waivers naming it.
fn score_finding(
    index: usize,
    f: &Finding,
    waivers: &mut [WaiverOutcome],
    policy: &GatePolicy,
) -> ScoredFinding {
    let (waiver, expired_waiver) = match_waivers(index, f, waivers);
    let treatment = treatment(f, waiver.is_some(), policy);
    let is_scored = treatment == Treatment::Scored;
    ScoredFinding {
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
        waiver: waiver.filter(|_| treatment == Treatment::Waived),
        expired_waiver: expired_waiver.filter(|_| waiver.is_none()),
    }
}

/// The waiver's sentence for people, once every finding was matched.
fn waiver_note(w: &WaiverOutcome) -> String {
    let wv = &w.waiver;
    let target = wv.target.as_deref().unwrap_or("every subject");
    match w.state {
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
    }
}

/// `scale × Σ weight·value / Σ weight` over the (weight, value) pairs;
/// `None` when no weight.
fn weighted_mean(scale: f64, pairs: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    let (num, den) = pairs.fold((0.0, 0.0), |(n, d), (w, v)| (n + w * v, d + w));
    (den > 0.0).then(|| scale * num / den)
}

/// One row of the approval matrix; `None` when the report holds no finding
/// of the pillar.
fn pillar_score(
    pillar: Pillar,
    report: &Report,
    scored: &[ScoredFinding],
    policy: &GatePolicy,
) -> Option<PillarScore> {
    let of_pillar: Vec<&ScoredFinding> = scored.iter().filter(|s| s.pillar == pillar).collect();
    if of_pillar.is_empty() {
        return None;
    }
    let mut counts = BTreeMap::new();
    for s in &of_pillar {
        *counts.entry(s.status.as_str().to_string()).or_insert(0) += 1;
    }
    let score = weighted_mean(
        100.0,
        of_pillar
            .iter()
            .filter_map(|s| s.credit.map(|c| (s.weight, c))),
    )
    .map(round1);
    let counted: Vec<&ScoredFinding> = of_pillar
        .into_iter()
        .filter(|s| matches!(s.treatment, Treatment::Scored | Treatment::Unscored))
        .collect();
    let (primary_risk, recommended_move) = primary_risk(report, &counted);
    Some(PillarScore {
        pillar,
        verdict: pillar_verdict(score, &counted),
        score,
        weight: policy.weights.get(pillar),
        counts,
        primary_risk,
        recommended_move,
    })
}

/// FAIL on a counted fail or error (or a scored not-measured), WARN on a
/// warn or an unscored not-measured, PASS otherwise; NOT SCORED when
/// nothing counted.
fn pillar_verdict(score: Option<f64>, counted: &[&ScoredFinding]) -> Verdict {
    if score.is_none() && counted.is_empty() {
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
    }
}

/// The counted finding that most needs attention (worst status, then
/// highest severity, then check id and subject) and its recommendation.
fn primary_risk(report: &Report, counted: &[&ScoredFinding]) -> (Option<Risk>, Option<String>) {
    let Some(worst) = counted
        .iter()
        .filter(|s| s.status != Status::Pass)
        .min_by(|a, b| risk_order(a).cmp(&risk_order(b)))
    else {
        return (None, None);
    };
    let f = &report.findings[worst.index];
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

/// Worst status first, then highest severity, then check id and subject.
fn risk_order(s: &ScoredFinding) -> (u8, std::cmp::Reverse<Severity>, &str, &Option<String>) {
    (
        s.status.rank(),
        std::cmp::Reverse(s.severity),
        s.check_id.as_str(),
        &s.subject,
    )
}

/// The overall score before and after the critical-failure cap, and the
/// findings that cap it or could not be measured.
struct Capped {
    uncapped: Option<f64>,
    score: Option<f64>,
    /// threshold − 1 (at least 0).
    cap: f64,
    critical_failures: Vec<usize>,
    not_measured: Vec<usize>,
}

impl Capped {
    fn new(pillars: &[PillarScore], scored: &[ScoredFinding], policy: &GatePolicy) -> Capped {
        let uncapped = weighted_mean(
            1.0,
            pillars
                .iter()
                .filter_map(|p| p.score.map(|s| (p.weight, s))),
        )
        .map(round1);
        let critical_failures: Vec<usize> = scored
            .iter()
            .filter(|s| {
                s.treatment == Treatment::Scored
                    && s.severity == Severity::Critical
                    && matches!(s.status, Status::Fail | Status::Error)
            })
            .map(|s| s.index)
            .collect();
        let not_measured = scored
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
        Capped {
            uncapped,
            score,
            cap,
            critical_failures,
            not_measured,
        }
    }
}

/// Why the gate fails: the score, each critical failure, what was not
/// measured (failing closed), each broken or unmeasured SLO, an
/// interrupted run. Empty when it passes.
fn reasons(
    report: &Report,
    policy: &GatePolicy,
    capped: &Capped,
    slos: &[SloOutcome],
) -> Vec<String> {
    let mut reasons = Vec::new();
    match capped.score {
        None => reasons.push("no finding was scored: nothing configured was measured".to_string()),
        Some(s) if s < policy.threshold => reasons.push(format!(
            "score {s:.1} is below the threshold {:.1}",
            policy.threshold
        )),
        _ => {}
    }
    for &i in &capped.critical_failures {
        let f = &report.findings[i];
        reasons.push(format!(
            "critical failure {}{}: {} (caps the score at {:.1})",
            f.check_id,
            f.subject
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            f.summary,
            capped.cap
        ));
    }
    if policy.fail_closed && !capped.not_measured.is_empty() {
        reasons.push(format!(
            "{} finding(s) could not be measured and the gate fails closed (gate.fail_closed = true)",
            capped.not_measured.len()
        ));
    }
    for o in slos {
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
    reasons
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
