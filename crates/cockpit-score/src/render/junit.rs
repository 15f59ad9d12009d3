//! JUnit XML (quick-junit): first the "Sovereign Gate" suite, whose one
//! case fails exactly when `certify` exits 1 (a warnings-only run below the
//! threshold is a red test, not green tests on a red job); then one test
//! suite per pillar, one test case per finding; then regressions and SLOs.
//! Failures carry the evidence: the finding, every measurement with its
//! method and sample count, the location and the move. Valid against the
//! strict Jenkins xUnit `junit-10.xsd` (vendored under `tests/data/`): no
//! properties on a test case (severity and status go to its output), no
//! `skipped` count on `<testsuites>`; `time` from the audit's duration,
//! `file` the configuration the suite was measured with.

use std::time::Duration;

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
            match &f.suppressed {
                Some(reason) => st
                    .set_message(format!("suppressed where the object lives: {reason}"))
                    .set_description(evidence(f)),
                None => st.set_message(f.summary.clone()),
            };
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
    let mut out = format!(
        "status: {}, severity: {}",
        f.status.as_str(),
        f.severity.as_str()
    );
    if f.status == Status::Warn {
        out.push_str(&format!("\nWARN: {}", evidence(f)));
    }
    tc.set_system_out(out);
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
    tc.set_system_out(format!("status: {}", o.status.as_str()));
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

/// The gate's verdict as a test case: a failure, with every reason, when
/// the certification did not pass (certify exits 1).
fn gate_case(cert: &Certification) -> TestCase {
    let score = cert
        .score
        .map_or_else(|| "no score".to_string(), |s| format!("score {s:.1}"));
    let verdict = format!("{score}, threshold {:.1}", cert.threshold);
    let status = if cert.passed {
        TestCaseStatus::success()
    } else {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        st.set_message(format!("Sovereign Gate FAILED: {verdict}"))
            .set_type("gate")
            .set_description(cert.reasons.join("\n"));
        st
    };
    let mut tc = TestCase::new("Sovereign Gate", status);
    tc.set_classname("agentops-cockpit.gate");
    tc.set_system_out(format!(
        "{}: {verdict}",
        if cert.passed { "passed" } else { "FAILED" }
    ));
    if let Some(ms) = cert.report.duration_ms {
        tc.set_time(duration(ms));
    }
    tc
}

fn duration(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or_default()
}

/// A suite with the configuration it was measured with as its `file`.
fn suite(name: &str, cert: &Certification) -> TestSuite {
    let mut suite = TestSuite::new(name);
    if let Some(path) = cert
        .report
        .provenance
        .as_ref()
        .and_then(|p| p.config_path.as_deref())
    {
        suite.extra.insert("file".into(), path.into());
    }
    suite
}

/// The certification as JUnit XML.
pub fn junit(cert: &Certification) -> Result<String, ScoreError> {
    let mut report = Report::new("agentops-cockpit certify");
    if let Some(ms) = cert.report.duration_ms {
        report.set_time(duration(ms));
    }
    let mut gate = suite("Sovereign Gate", cert);
    gate.add_property(Property::new("threshold", format!("{:.1}", cert.threshold)));
    if let Some(score) = cert.score {
        gate.add_property(Property::new("score", format!("{score:.1}")));
    }
    gate.add_test_case(gate_case(cert));
    if let Some(ms) = cert.report.duration_ms {
        gate.set_time(duration(ms));
    }
    report.add_test_suite(gate);
    for p in &cert.pillars {
        let mut suite = suite(p.pillar.display_name(), cert);
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
        let mut suite = suite("Regressions", cert);
        for r in &cert.regressions {
            suite.add_test_case(regression_case(r));
        }
        report.add_test_suite(suite);
    }
    if !cert.slos.is_empty() {
        let mut suite = suite("SLOs", cert);
        for o in &cert.slos {
            suite.add_test_case(slo_case(o, cert.fail_closed));
        }
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(|e| ScoreError::Render {
        format: "junit",
        message: e.to_string(),
    })?;
    Ok(strict_root(xml))
}

/// The root `<testsuites>` without its `skipped` count, which the strict
/// Jenkins xUnit schema does not allow there (each suite keeps its own).
fn strict_root(xml: String) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml;
    };
    let end = xml[start..].find('>').map_or(xml.len(), |i| start + i);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml;
    };
    let close = tag[at + 10..]
        .find('"')
        .map_or(tag.len(), |i| at + 10 + i + 1);
    format!("{}{}{}", &xml[..start + at], &tag[close..], &xml[end..])
}
