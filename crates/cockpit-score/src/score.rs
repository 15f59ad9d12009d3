//! Scoring: findings in, a [`Certification`] out. Pure: no clock (the day
//! waivers are judged on is an argument), no I/O.

use std::collections::BTreeMap;

use cockpit_core::{CheckId, Finding, Pillar, Report, Severity, Status};
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::policy::{GatePolicy, OutOfScope, Waiver, severity_weight};
use crate::regression::RegressionOutcome;
use crate::slo::{SloOutcome, SloStatus, evaluate_slo};

/// The version of the certification JSON (`--format json`). 1.1: every
/// pillar has a row (`measured`, `out_of_scope`, verdicts `not-measured`
/// and `out-of-scope`), and `regressions` held against a baseline.
pub const CERTIFICATION_VERSION: &str = "1.1";

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
    /// Measured, but nothing of it counts in the score (every reading
    /// waived).
    NotScored,
    /// Nothing of the pillar was measured, and no declaration in force puts
    /// it out of scope: the gate fails.
    NotMeasured,
    /// Nothing of the pillar was measured, and a declaration in force puts
    /// it out of scope.
    OutOfScope,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::NotScored => "NOT SCORED",
            Verdict::NotMeasured => "NOT MEASURED",
            Verdict::OutOfScope => "OUT OF SCOPE",
        }
    }
}

/// A pillar's out-of-scope declaration and what it did in this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeOutcome {
    pub declaration: OutOfScope,
    /// In force (the pillar was not measured and the declaration covers
    /// it), unused (in force, but the pillar was measured: its findings
    /// count) or expired (it covers nothing).
    pub state: WaiverState,
    /// One sentence for people.
    pub note: String,
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
    /// At least one finding of the pillar is a reading (see [`is_reading`]).
    #[serde(default)]
    pub measured: bool,
    /// Why the pillar has no reading, when it has none: nothing configured
    /// measures it, or its out-of-scope declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The policy's declaration of the pillar as out of scope, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_scope: Option<ScopeOutcome>,
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
    /// `[gate.regressions]` held against a baseline run (`--compare`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<RegressionOutcome>,
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
/// fails the gate; so does any not-measured finding when fail-closed, and
/// any pillar that was not measured ([`is_reading`]) unless a declaration
/// in force (`[[gate.out_of_scope]]`) puts it out of scope.
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
        .map(|p| pillar_score(p, report, &findings, policy, today))
        .collect();
    let capped = Capped::new(&pillars, &findings, policy);
    let slos: Vec<SloOutcome> = policy
        .slos
        .iter()
        .map(|s| evaluate_slo(report, s))
        .collect();
    let reasons = reasons(report, policy, &capped, &pillars, &slos);
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
        regressions: Vec::new(),
        report: report.clone(),
    }
}

/// Whether a finding is a reading of its pillar: its check measured
/// something (pass, warn or fail — not skipped, not-measured or error) and
/// the gate weighs it (not an info finding, which is evidence only). A
/// waived reading counts: it was measured, and the risk accepted. A pillar
/// is **measured** when at least one of its findings is a reading.
pub fn is_reading(f: &Finding) -> bool {
    matches!(f.status, Status::Pass | Status::Warn | Status::Fail)
        && severity_weight(f.severity) > 0.0
}

/// The pillars of which no finding of the report is a reading
/// ([`is_reading`]), in report order.
pub fn unmeasured_pillars(report: &Report) -> Vec<Pillar> {
    Pillar::ALL
        .into_iter()
        .filter(|p| {
            !report
                .findings
                .iter()
                .any(|f| f.pillar == *p && is_reading(f))
        })
        .collect()
}

/// What would measure a pillar: the cockpit.toml it needs.
pub fn coverage_move(pillar: Pillar) -> &'static str {
    match pillar {
        Pillar::Network => {
            "add [[agents]] endpoints (and [[retrieval]] backends) to probe, or declare the pillar in [[gate.out_of_scope]]"
        }
        Pillar::Compute => {
            "add [[agents]] endpoints (cold start, CMP-TTR) or [kubernetes] manifests, cloud_run or a live context, or declare the pillar in [[gate.out_of_scope]]"
        }
        Pillar::State => {
            "add an [stm] section (the Redis behind the agents' sessions) or declare each agent's stm, or declare the pillar in [[gate.out_of_scope]]"
        }
        Pillar::Cicd => {
            "add [kubernetes] pipelines (the CI files that deploy, for CIC-GATE), or declare the pillar in [[gate.out_of_scope]]"
        }
        Pillar::Observability => {
            "give an agent a metrics_url (its Prometheus endpoint, OBS-TTFT), or declare the pillar in [[gate.out_of_scope]]"
        }
        _ => "declare the pillar in [[gate.out_of_scope]]",
    }
}

/// The pillar's declaration judged on `today`, given whether it was measured.
fn scope_outcome(d: &OutOfScope, measured: bool, today: Date) -> ScopeOutcome {
    let pillar = d.pillar.display_name();
    let (state, note) = if !d.in_force(today) {
        (
            WaiverState::Expired,
            format!(
                "{pillar} out-of-scope declaration EXPIRED on {} (owner {}) and no longer counts: {}",
                d.expires, d.owner, d.reason
            ),
        )
    } else if measured {
        (
            WaiverState::Unused,
            format!(
                "{pillar} declared out of scope until {} (owner {}), but measured: its findings count",
                d.expires, d.owner
            ),
        )
    } else {
        (
            WaiverState::InForce,
            format!(
                "{pillar} out of scope until {} (owner {}): {}",
                d.expires, d.owner, d.reason
            ),
        )
    };
    ScopeOutcome {
        declaration: d.clone(),
        state,
        note,
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

/// One row of the approval matrix: every pillar has one, measured or not.
fn pillar_score(
    pillar: Pillar,
    report: &Report,
    scored: &[ScoredFinding],
    policy: &GatePolicy,
    today: Date,
) -> PillarScore {
    let of_pillar: Vec<&ScoredFinding> = scored.iter().filter(|s| s.pillar == pillar).collect();
    let mut counts = BTreeMap::new();
    for s in &of_pillar {
        *counts.entry(s.status.as_str().to_string()).or_insert(0) += 1;
    }
    let measured = of_pillar
        .iter()
        .any(|s| is_reading(&report.findings[s.index]));
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
    let out_of_scope = policy
        .out_of_scope_of(pillar)
        .map(|d| scope_outcome(d, measured, today));
    let covered = out_of_scope
        .as_ref()
        .is_some_and(|o| o.state == WaiverState::InForce);
    let (verdict, note) = match (measured, covered) {
        (true, _) => (pillar_verdict(score, &counted), None),
        (false, true) => (
            Verdict::OutOfScope,
            out_of_scope.as_ref().map(|o| o.note.clone()),
        ),
        (false, false) => (Verdict::NotMeasured, Some(unmeasured_note(&out_of_scope))),
    };
    PillarScore {
        pillar,
        verdict,
        score,
        weight: policy.weights.get(pillar),
        counts,
        recommended_move: match verdict {
            Verdict::NotMeasured => recommended_move.or_else(|| Some(coverage_move(pillar).into())),
            _ => recommended_move,
        },
        primary_risk,
        measured,
        note,
        out_of_scope,
    }
}

/// Why an unmeasured pillar that nothing puts out of scope fails the gate.
fn unmeasured_note(scope: &Option<ScopeOutcome>) -> String {
    match scope {
        Some(o) => format!("nothing measured (no finding of it passed, warned or failed); {}", o.note),
        None => "nothing measured (no finding of it passed, warned or failed), and not declared out of scope".to_string(),
    }
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
/// measured (failing closed), each pillar not measured nor out of scope,
/// each broken or unmeasured SLO, an interrupted run. Empty when it passes.
fn reasons(
    report: &Report,
    policy: &GatePolicy,
    capped: &Capped,
    pillars: &[PillarScore],
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
    for p in pillars.iter().filter(|p| p.verdict == Verdict::NotMeasured) {
        reasons.push(format!(
            "pillar {} NOT MEASURED: {}; to measure it, {}",
            p.pillar.display_name(),
            p.note.as_deref().unwrap_or("nothing measured"),
            coverage_move(p.pillar)
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

#[cfg(test)]
mod tests {
    use cockpit_core::CheckSpec;

    use super::*;
    use crate::policy::out_of_scope_except;

    const TTFT: CheckSpec = CheckSpec {
        id: CheckId::new("NET-TTFT"),
        pillar: Pillar::Network,
        severity: Severity::High,
        title: "Time to first token",
    };
    const PERSIST: CheckSpec = CheckSpec {
        id: CheckId::new("STA-PERSIST"),
        pillar: Pillar::State,
        severity: Severity::Critical,
        title: "Session memory persistence",
    };

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    /// One agent, nothing else: a perfect Network pillar and nothing more.
    fn network_only() -> Report {
        Report::new(
            "agentops-cockpit",
            "0.1.0",
            vec![
                TTFT.finding(Status::Pass, "p95 TTFT 212 ms is within 800 ms")
                    .with_subject("chat"),
                PERSIST
                    .finding(Status::Skipped, "no Redis configured")
                    .with_subject("chat"),
            ],
        )
    }

    fn row(c: &Certification, p: Pillar) -> &PillarScore {
        c.pillars.iter().find(|r| r.pillar == p).unwrap()
    }

    #[test]
    fn unmeasured_pillars_fail_the_gate_by_name() {
        let c = certify(&network_only(), &GatePolicy::default(), day("2026-03-01"));
        assert_eq!(c.score, Some(100.0));
        assert!(!c.passed);
        // Every pillar has its row, in every output.
        assert_eq!(c.pillars.len(), 5);
        assert_eq!(row(&c, Pillar::Network).verdict, Verdict::Pass);
        for p in [
            Pillar::Compute,
            Pillar::State,
            Pillar::Cicd,
            Pillar::Observability,
        ] {
            let r = row(&c, p);
            assert_eq!(r.verdict, Verdict::NotMeasured, "{p}");
            assert!(!r.measured);
            assert_eq!(r.recommended_move.as_deref(), Some(coverage_move(p)));
            let reason = format!("pillar {} NOT MEASURED", p.display_name());
            assert!(
                c.reasons.iter().any(|r| r.starts_with(&reason)),
                "{reason}: {:?}",
                c.reasons
            );
        }
        assert!(
            c.reasons.iter().any(|r| r.contains("add an [stm] section")),
            "{:?}",
            c.reasons
        );
        assert!(
            c.reasons
                .iter()
                .any(|r| r.contains("add [kubernetes] pipelines")),
            "{:?}",
            c.reasons
        );
    }

    #[test]
    fn each_pillar_is_told_what_would_measure_it() {
        let says = [
            (
                Pillar::Network,
                "add [[agents]] endpoints (and [[retrieval]] backends)",
            ),
            (Pillar::Compute, "cold start, CMP-TTR"),
            (Pillar::State, "add an [stm] section"),
            (Pillar::Cicd, "add [kubernetes] pipelines"),
            (Pillar::Observability, "metrics_url"),
        ];
        for (p, text) in says {
            assert!(coverage_move(p).contains(text), "{p}: {}", coverage_move(p));
            assert!(coverage_move(p).ends_with("[[gate.out_of_scope]]"), "{p}");
        }
        let labels = [
            Verdict::Pass,
            Verdict::Warn,
            Verdict::Fail,
            Verdict::NotScored,
            Verdict::NotMeasured,
            Verdict::OutOfScope,
        ]
        .map(Verdict::label);
        assert_eq!(
            labels,
            [
                "PASS",
                "WARN",
                "FAIL",
                "NOT SCORED",
                "NOT MEASURED",
                "OUT OF SCOPE"
            ]
        );
    }

    #[test]
    fn out_of_scope_declarations_count_until_they_expire() {
        let policy = GatePolicy {
            out_of_scope: out_of_scope_except(Pillar::Network),
            ..GatePolicy::default()
        };
        let c = certify(&network_only(), &policy, day("2026-03-01"));
        assert!(c.passed, "{:?}", c.reasons);
        let state = row(&c, Pillar::State);
        assert_eq!(state.verdict, Verdict::OutOfScope);
        assert_eq!(
            state.out_of_scope.as_ref().unwrap().state,
            WaiverState::InForce
        );
        assert!(state.note.as_deref().unwrap().contains("owner tests"));

        // The expiry day included; the day after, State fails again.
        let mut policy = policy;
        for d in &mut policy.out_of_scope {
            if d.pillar == Pillar::State {
                d.expires = day("2026-03-01");
            }
        }
        assert!(certify(&network_only(), &policy, day("2026-03-01")).passed);
        let c = certify(&network_only(), &policy, day("2026-03-02"));
        assert!(!c.passed);
        let state = row(&c, Pillar::State);
        assert_eq!(state.verdict, Verdict::NotMeasured);
        assert_eq!(
            state.out_of_scope.as_ref().unwrap().state,
            WaiverState::Expired
        );
        assert_eq!(c.reasons.len(), 1, "{:?}", c.reasons);
        assert!(
            c.reasons[0].contains("EXPIRED on 2026-03-01"),
            "{:?}",
            c.reasons
        );
    }

    #[test]
    fn a_measured_pillar_declared_out_of_scope_still_counts() {
        let mut report = network_only();
        report.findings.push(
            PERSIST
                .finding(Status::Fail, "no persistence")
                .with_subject("sessions"),
        );
        let policy = GatePolicy {
            out_of_scope: out_of_scope_except(Pillar::Network),
            ..GatePolicy::default()
        };
        let c = certify(&report, &policy, day("2026-03-01"));
        let state = row(&c, Pillar::State);
        assert_eq!(state.verdict, Verdict::Fail);
        assert_eq!(
            state.out_of_scope.as_ref().unwrap().state,
            WaiverState::Unused
        );
        assert!(!c.passed);
    }

    #[test]
    fn an_unscored_unmeasured_finding_warns_beside_a_waived_reading() {
        // State: its one reading waived (no score), and a second store not
        // measured, which fails open: the pillar has nothing scored, but
        // something counted, so it warns rather than going unscored.
        let mut report = network_only();
        report.findings.push(
            PERSIST
                .finding(Status::Fail, "no persistence")
                .with_subject("sessions"),
        );
        report.findings.push(
            PERSIST
                .finding(Status::NotMeasured, "connection refused")
                .with_subject("cache"),
        );
        let policy = GatePolicy {
            fail_closed: false,
            waivers: vec![Waiver {
                check: PERSIST.id.clone(),
                target: Some("sessions".into()),
                reason: "accepted".into(),
                owner: "sre".into(),
                expires: day("2026-12-31"),
            }],
            ..GatePolicy::default()
        };
        let c = certify(&report, &policy, day("2026-03-01"));
        let state = row(&c, Pillar::State);
        assert_eq!((state.score, state.measured), (None, true));
        assert_eq!(state.verdict, Verdict::Warn);
    }

    #[test]
    fn nothing_scored_is_a_reason_of_its_own() {
        let report = Report::new(
            "agentops-cockpit",
            "0.1.0",
            vec![PERSIST.finding(Status::Skipped, "no Redis configured")],
        );
        let c = certify(&report, &GatePolicy::default(), day("2026-03-01"));
        assert_eq!((c.score, c.passed), (None, false));
        assert_eq!(
            c.reasons[0],
            "no finding was scored: nothing configured was measured"
        );
        assert_eq!(c.score_label(), "n/a");
    }

    #[test]
    fn could_not_measure_only_when_nothing_answered() {
        let unreachable = Report::new(
            "agentops-cockpit",
            "0.1.0",
            vec![TTFT.finding(Status::NotMeasured, "connection refused")],
        );
        let today = day("2026-03-01");
        assert!(certify(&unreachable, &GatePolicy::default(), today).could_not_measure());
        // One subject answered: the evidence is partial, not absent.
        let mut partial = unreachable.clone();
        partial.findings.push(TTFT.finding(Status::Pass, "ok"));
        assert!(!certify(&partial, &GatePolicy::default(), today).could_not_measure());
        // Nothing measured and nothing failing to be: not this case either.
        let skipped = Report::new(
            "agentops-cockpit",
            "0.1.0",
            vec![PERSIST.finding(Status::Skipped, "no Redis configured")],
        );
        assert!(!certify(&skipped, &GatePolicy::default(), today).could_not_measure());
    }

    #[test]
    fn waived_lists_each_waived_finding_with_its_waiver() {
        let mut report = network_only();
        report.findings.push(
            PERSIST
                .finding(Status::Fail, "no persistence")
                .with_subject("sessions"),
        );
        let waiver = |target: &str| Waiver {
            check: PERSIST.id.clone(),
            target: Some(target.into()),
            reason: "accepted".into(),
            owner: "sre".into(),
            expires: day("2026-12-31"),
        };
        let policy = GatePolicy {
            waivers: vec![waiver("elsewhere"), waiver("sessions")],
            ..GatePolicy::default()
        };
        let c = certify(&report, &policy, day("2026-03-01"));
        let waived: Vec<(&str, Option<&str>)> = c
            .waived()
            .map(|(f, w)| (f.summary.as_str(), w.waiver.target.as_deref()))
            .collect();
        assert_eq!(waived, [("no persistence", Some("sessions"))]);
    }

    #[test]
    fn an_info_finding_is_evidence_not_a_reading() {
        const INFO: CheckSpec = CheckSpec {
            id: CheckId::new("OBS-INFO"),
            pillar: Pillar::Observability,
            severity: Severity::Info,
            title: "Evidence only",
        };
        let f = INFO.finding(Status::Pass, "seen");
        assert!(!is_reading(&f));
        assert!(is_reading(&TTFT.finding(Status::Warn, "slow")));
        let mut report = network_only();
        report.findings.push(f);
        assert!(unmeasured_pillars(&report).contains(&Pillar::Observability));
        let c = certify(&report, &GatePolicy::default(), day("2026-03-01"));
        assert_eq!(row(&c, Pillar::Observability).verdict, Verdict::NotMeasured);
    }

    #[test]
    fn an_invalid_slo_read_back_is_a_reason() {
        // The gate no longer produces `invalid` (objectives are checked when
        // parsed), but one kept in an older certification still fails it.
        let report = network_only();
        let policy = GatePolicy::default();
        let c = certify(&report, &policy, day("2026-03-01"));
        let capped = Capped::new(&c.pillars, &c.findings, &policy);
        let invalid = SloOutcome {
            slo: "ttft:p(97)<1s".into(),
            metric: None,
            status: SloStatus::Invalid,
            subjects: Vec::new(),
            summary: "a report keeps p(95), not p(97)".into(),
        };
        let r = reasons(&report, &policy, &capped, &[], &[invalid]);
        assert!(
            r.contains(&"SLO ttft:p(97)<1s: a report keeps p(95), not p(97)".to_string()),
            "{r:?}"
        );
    }

    #[test]
    fn unreachable_subjects_are_not_a_measurement() {
        // A configured Redis that could not be read: the pillar is not
        // measured, whatever fail_closed says of the finding itself.
        let mut report = network_only();
        report.findings.push(
            PERSIST
                .finding(Status::NotMeasured, "connection refused")
                .with_subject("sessions"),
        );
        let mut policy = GatePolicy {
            out_of_scope: out_of_scope_except(Pillar::Network)
                .into_iter()
                .filter(|d| d.pillar != Pillar::State)
                .collect(),
            fail_closed: false,
            ..GatePolicy::default()
        };
        let c = certify(&report, &policy, day("2026-03-01"));
        assert_eq!(row(&c, Pillar::State).verdict, Verdict::NotMeasured);
        assert!(!c.passed);
        policy.out_of_scope = out_of_scope_except(Pillar::Network);
        assert!(certify(&report, &policy, day("2026-03-01")).passed);
        assert_eq!(unmeasured_pillars(&report).len(), 4);
    }
}
