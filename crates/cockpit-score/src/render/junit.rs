//! JUnit XML (quick-junit): one test suite per pillar, one test case per
//! finding. Failures carry the evidence: the finding, every measurement
//! with its method and sample count, the location and the move.

use cockpit_core::{Finding, Status};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::{
    Certification, PillarScore, RegressionOutcome, RegressionStatus, ScoreError, ScoredFinding,
    SloOutcome, SloStatus, Treatment, Verdict,
};

fn evidence(f: &Finding) -> String {
    let mut lines = vec![f.summary.clone()];
    for m in &f.measurements {
        lines.push(format!(
            "{}: {} — {} (n={})",
            m.name,
            m.display_value(),
            m.method,
            m.samples
        ));
    }
    if let Some(l) = &f.location {
        lines.push(format!("location: {l}"));
    }
    if let Some(r) = &f.recommendation {
        lines.push(format!("move: {r}"));
    }
    lines.push(format!("doc: {}", f.doc));
    lines.join("\n")
}

fn case(cert: &Certification, s: &ScoredFinding) -> TestCase {
    let f = &cert.report.findings[s.index];
    let failure = |kind: NonSuccessKind, ty: &str| {
        let mut st = TestCaseStatus::non_success(kind);
        st.set_message(f.summary.clone())
            .set_type(ty)
            .set_description(evidence(f));
        st
    };
    let status = match (s.treatment, f.status) {
        (Treatment::Waived, _) => {
            let w = s.waiver.map(|i| &cert.waivers[i].waiver);
            let mut st = TestCaseStatus::skipped();
            st.set_message(match w {
                Some(w) => format!(
                    "waived until {} (owner {}): {}",
                    w.expires, w.owner, w.reason
                ),
                None => "waived".into(),
            })
            .set_description(evidence(f));
            st
        }
        (Treatment::Skipped, _) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(f.summary.clone());
            st
        }
        (Treatment::Unscored, _) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(format!(
                "not measured (gate.fail_closed = false): {}",
                f.summary
            ))
            .set_description(evidence(f));
            st
        }
        (_, Status::Fail) => failure(NonSuccessKind::Failure, "fail"),
        (_, Status::NotMeasured) => failure(NonSuccessKind::Failure, "not-measured"),
        (_, Status::Error) => failure(NonSuccessKind::Error, "error"),
        _ => TestCaseStatus::success(),
    };
    let name = match (&f.subject, &f.location) {
        (Some(s), _) => format!("{} {s}", f.check_id),
        (None, Some(l)) => format!("{} {l}", f.check_id),
        (None, None) => f.check_id.to_string(),
    };
    let mut tc = TestCase::new(name, status);
    tc.set_classname(format!("agentops-cockpit.{}", f.pillar.as_str()));
    tc.add_property(Property::new("severity", f.severity.as_str()));
    tc.add_property(Property::new("status", f.status.as_str()));
    if f.status == Status::Warn {
        tc.set_system_out(format!("WARN: {}", evidence(f)));
    }
    tc
}

/// One test case per SLO; a failure carries every subject's figure.
fn slo_case(o: &SloOutcome, fail_closed: bool) -> TestCase {
    let evidence = o
        .subjects
        .iter()
        .map(|s| format!("{}: {}", s.status.as_str(), s.figure))
        .collect::<Vec<_>>()
        .join("\n");
    let status = match o.status {
        SloStatus::Pass => TestCaseStatus::success(),
        SloStatus::NotMeasured if !fail_closed => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(format!("{} (gate.fail_closed = false)", o.summary))
                .set_description(evidence);
            st
        }
        s => {
            let kind = if s == SloStatus::Invalid {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut st = TestCaseStatus::non_success(kind);
            st.set_message(o.summary.clone())
                .set_type(s.as_str())
                .set_description(evidence);
            st
        }
    };
    let mut tc = TestCase::new(o.slo.clone(), status);
    tc.set_classname("agentops-cockpit.slo");
    tc.add_property(Property::new("status", o.status.as_str()));
    tc
}

/// A pillar that was not measured: a failing test case when that fails
/// the gate, a skipped one when it is out of scope; `None` when measured.
fn coverage_case(p: &PillarScore) -> Option<TestCase> {
    let note = p.note.clone().unwrap_or_default();
    let status = match p.verdict {
        Verdict::NotMeasured => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("{} NOT MEASURED: {note}", p.pillar.display_name()))
                .set_type("not-measured")
                .set_description(format!("{note}\nmove: {}", crate::coverage_move(p.pillar)));
            st
        }
        Verdict::OutOfScope => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(note);
            st
        }
        _ => return None,
    };
    let mut tc = TestCase::new(format!("{} measured", p.pillar.display_name()), status);
    tc.set_classname(format!("agentops-cockpit.{}", p.pillar.as_str()));
    Some(tc)
}

/// One test case per regression bound and subject; a regression fails.
fn regression_case(r: &RegressionOutcome) -> TestCase {
    let status = if r.status == RegressionStatus::Regressed {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        st.set_message(r.summary.clone()).set_type("regression");
        st
    } else {
        TestCaseStatus::success()
    };
    let mut tc = TestCase::new(
        format!("{} {}", r.key, r.subject.as_deref().unwrap_or("")),
        status,
    );
    tc.set_classname("agentops-cockpit.regression");
    tc.set_system_out(r.summary.clone());
    tc
}

/// The certification as JUnit XML.
pub fn junit(cert: &Certification) -> Result<String, ScoreError> {
    let mut report = Report::new("agentops-cockpit certify");
    for p in &cert.pillars {
        let mut suite = TestSuite::new(p.pillar.display_name());
        suite.add_property(Property::new("verdict", p.verdict.label()));
        if let Some(score) = p.score {
            suite.add_property(Property::new("score", format!("{score:.1}")));
        }
        for s in cert.findings.iter().filter(|s| s.pillar == p.pillar) {
            suite.add_test_case(case(cert, s));
        }
        if let Some(tc) = coverage_case(p) {
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    if !cert.regressions.is_empty() {
        let mut suite = TestSuite::new("Regressions");
        for r in &cert.regressions {
            suite.add_test_case(regression_case(r));
        }
        report.add_test_suite(suite);
    }
    if !cert.slos.is_empty() {
        let mut suite = TestSuite::new("SLOs");
        for o in &cert.slos {
            suite.add_test_case(slo_case(o, cert.fail_closed));
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| ScoreError::Render {
        format: "junit",
        message: e.to_string(),
    })
}
