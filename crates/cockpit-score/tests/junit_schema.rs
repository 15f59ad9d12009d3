//! The JUnit report against the strict Jenkins xUnit schema
//! (`tests/data/junit-10.xsd`, vendored with its licence), checked by
//! xmllint (Debian `libxml2-utils`, installed by `cargo xtask ci`), and
//! the "Sovereign Gate" test case: failing exactly when the gate fails, so
//! a CI test view is red when `certify` exits 1.

use std::path::Path;
use std::process::Command;

use cockpit_core::Report;
use cockpit_score::{Certification, Date, Format, GatePolicy, certify, read_report};

fn fixture(name: &str) -> Report {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.json"));
    read_report(&p).unwrap()
}

fn cert(report: &Report, policy: &GatePolicy) -> Certification {
    certify(report, policy, Date::new(2026, 3, 1).unwrap())
}

fn junit(cert: &Certification) -> String {
    Format::Junit.render(cert, false).unwrap()
}

/// xmllint's verdict on `xml` against the vendored schema: `Ok` or its
/// messages.
fn xmllint(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("xmllint (Debian libxml2-utils; `cargo xtask ci` installs it)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_report_is_valid_against_the_strict_jenkins_schema() {
    for name in [
        "pass",
        "fail",
        "not-measured",
        "unreachable",
        "waivable",
        "one-agent",
    ] {
        let mut report = fixture(name);
        report.duration_ms = Some(18_342.5);
        let xml = junit(&cert(&report, &GatePolicy::default()));
        if let Err(e) = xmllint(&xml) {
            panic!("{name}: {e}\n{xml}");
        }
    }
}

#[test]
fn the_schema_check_is_not_vacuous() {
    // What quick-junit writes by default and the strict schema refuses: a
    // test case with properties, a skipped count on <testsuites>.
    let bad = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="x" tests="1" skipped="0" failures="0" errors="0">
  <testsuite name="s" tests="1" failures="0" errors="0">
    <testcase name="c"><properties><property name="a" value="b"/></properties></testcase>
  </testsuite>
</testsuites>
"#;
    let e = xmllint(bad).unwrap_err();
    assert!(e.contains("skipped") && e.contains("properties"), "{e}");
}

/// The gate suite's counts and its one case, from the XML.
fn gate_suite(xml: &str) -> &str {
    let start = xml
        .find("<testsuite name=\"Sovereign Gate\"")
        .expect("the gate suite");
    let end = xml[start..].find("</testsuite>").unwrap() + start;
    &xml[start..end]
}

#[test]
fn a_gate_that_fails_on_warnings_alone_is_a_failing_test_case() {
    // Every reading warns, none fails: the score is below the threshold,
    // certify exits 1, so the report must show a failure.
    let mut report = fixture("pass");
    for f in &mut report.findings {
        if f.status == cockpit_core::Status::Pass {
            f.status = cockpit_core::Status::Warn;
        }
    }
    report.recount();
    let failed = cert(&report, &GatePolicy::default());
    assert!(!failed.passed);
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.status == cockpit_core::Status::Fail)
    );
    let xml = junit(&failed);
    let gate = gate_suite(&xml);
    assert!(gate.contains(r#"failures="1""#), "{gate}");
    assert!(
        gate.contains(r#"<testcase name="Sovereign Gate""#),
        "{gate}"
    );
    assert!(gate.contains("Sovereign Gate FAILED: score"), "{gate}");
    for reason in &failed.reasons {
        let escaped = reason
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            gate.contains(&escaped),
            "reason {reason:?} missing:\n{gate}"
        );
    }

    // The same evidence under a gate it passes: the case passes.
    let lenient = GatePolicy {
        threshold: 0.0,
        fail_closed: false,
        out_of_scope: cockpit_core::Pillar::ALL
            .into_iter()
            .map(|pillar| cockpit_score::OutOfScope {
                pillar,
                reason: "test".into(),
                owner: "test".into(),
                expires: Date::new(2026, 12, 31).unwrap(),
            })
            .collect(),
        ..GatePolicy::default()
    };
    let passed = cert(&report, &lenient);
    assert!(passed.passed, "{:?}", passed.reasons);
    let xml = junit(&passed);
    let gate = gate_suite(&xml);
    assert!(gate.contains(r#"failures="0""#), "{gate}");
    assert!(!gate.contains("<failure"), "{gate}");
}

#[test]
fn suites_carry_the_configuration_file_and_the_audit_time() {
    let mut report = fixture("fail");
    report.duration_ms = Some(18_342.5);
    let xml = junit(&cert(&report, &GatePolicy::default()));
    let root = &xml[xml.find("<testsuites ").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    assert!(
        root.contains(r#"time="18.343""#) || root.contains(r#"time="18.342""#),
        "{root}"
    );
    assert!(!root.contains("skipped="), "{root}");
    let gate = gate_suite(&xml);
    assert!(gate.contains(r#"file="cockpit.toml""#), "{gate}");
    assert!(xml.contains(r#"<testsuite name="Network""#));
    assert_eq!(
        xml.matches("<testsuite ").count(),
        xml.matches(r#"file="cockpit.toml""#).count(),
        "every suite names the configuration"
    );
    // SLOs stay test cases of their own suite.
    assert!(xml.find("Sovereign Gate").unwrap() < xml.find("name=\"Network\"").unwrap());
}
