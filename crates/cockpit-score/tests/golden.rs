//! Golden-file tests: every renderer, from fixed reports under
//! `tests/fixtures/`, judged on a fixed day, compared byte for byte with
//! `tests/golden/`. Regenerate after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p cockpit-score --test golden` and review the diff.

use std::path::{Path, PathBuf};

use cockpit_core::{Pillar, Report};
use cockpit_score::{
    Date, Format, GatePolicy, OutOfScope, Waiver, certify, compare, read_report, render,
};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn fixture(name: &str) -> Report {
    read_report(&dir("fixtures").join(format!("{name}.json"))).expect("fixture reads")
}

fn today() -> Date {
    "2026-03-01".parse().unwrap()
}

/// Compare with the golden file; with `UPDATE_GOLDEN=1` (exactly), write it
/// first. `cargo xtask ci` refuses to run with UPDATE_GOLDEN set at all, and
/// fails when the tests changed the tree, so CI never blesses a rendering.
fn golden(name: &str, actual: &str) {
    let path = dir("golden").join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `UPDATE_GOLDEN=1 cargo test -p cockpit-score --test golden`",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(expected.lines().count().min(actual.lines().count()) + 1);
        panic!(
            "{} differs from the rendering (first difference at line {line}):\n--- expected\n{}\n--- actual\n{}\nRegenerate with UPDATE_GOLDEN=1 if the change is intended.",
            path.display(),
            expected.lines().nth(line - 1).unwrap_or("<end>"),
            actual.lines().nth(line - 1).unwrap_or("<end>"),
        );
    }
}

fn waiver(check: &str, target: Option<&str>, expires: &str) -> Waiver {
    Waiver {
        check: check.to_string().into(),
        target: target.map(String::from),
        reason: "tracked in INFRA-123".into(),
        owner: "sre@example.com".into(),
        expires: expires.parse().unwrap(),
    }
}

fn out_of_scope(pillar: Pillar, expires: &str) -> OutOfScope {
    OutOfScope {
        pillar,
        reason: "no cluster and no pipeline in this deployment".into(),
        owner: "platform@example.com".into(),
        expires: expires.parse().unwrap(),
    }
}

/// A policy exercising every waiver state and every SLO outcome on the
/// `fail` fixture; its State pillar (not measured) was declared out of
/// scope until a day now past.
fn waivers_policy() -> GatePolicy {
    GatePolicy {
        out_of_scope: vec![out_of_scope(Pillar::State, "2026-02-01")],
        waivers: vec![
            waiver("OBS-TTFT", Some("search"), "2026-12-31"),
            waiver("CMP-WARM", None, "2026-02-28"),
            waiver("NET-TAIL", Some("vectors"), "2026-12-31"),
        ],
        // One SLO broken, one held, one without evidence.
        slos: [
            "ttft:p(95)<800ms",
            "retrieval:p(99)<10ms",
            "store_ping:p(99)<5ms",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect(),
        ..GatePolicy::default()
    }
}

fn all_formats(stem: &str, report: &Report, policy: &GatePolicy) {
    let cert = certify(report, policy, today());
    for f in Format::ALL {
        let out = f.render(&cert, false).expect("renders");
        golden(&format!("{stem}/{}", f.file_name()), &out);
    }
}

#[test]
fn every_format_of_a_passing_report() {
    all_formats("pass", &fixture("pass"), &GatePolicy::default());
}

#[test]
fn every_format_of_a_failing_report_with_waivers() {
    all_formats("fail", &fixture("fail"), &waivers_policy());
}

#[test]
fn every_format_of_a_not_measured_report() {
    all_formats(
        "not-measured",
        &fixture("not-measured"),
        &GatePolicy::default(),
    );
}

/// One agent and nothing else: Network and Compute measured; CI/CD out of
/// scope (in force), Observability's declaration expired, State undeclared.
#[test]
fn every_format_of_a_report_missing_pillars() {
    let policy = GatePolicy {
        out_of_scope: vec![
            out_of_scope(Pillar::Cicd, "2026-12-31"),
            out_of_scope(Pillar::Observability, "2026-02-28"),
        ],
        ..GatePolicy::default()
    };
    all_formats("one-agent", &fixture("one-agent"), &policy);
}

/// `[gate.regressions]` against a baseline: TTFT p95 163.1 → 212.0 ms
/// (+30 %, above the baseline's p99) regressed; retrieval p99 unchanged.
#[test]
fn every_format_of_a_regression_held_against_a_baseline() {
    let policy: GatePolicy =
        serde_json::from_str(r#"{"regressions": {"ttft.p95": "+20%", "retrieval.p99": "+20%"}}"#)
            .expect("policy");
    let mut cert = certify(&fixture("pass"), &policy, today());
    cert.hold_regressions(&fixture("baseline"), &policy);
    assert!(!cert.passed, "{:?}", cert.reasons);
    for f in [
        Format::Table,
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Html,
    ] {
        let out = f.render(&cert, false).expect("renders");
        golden(&format!("regression/{}", f.file_name()), &out);
    }
}

#[test]
fn audit_renderers_and_comparison() {
    let report = fixture("fail");
    golden("audit/report.txt", &render::table(&report, false));
    golden("audit/report.md", &render::markdown(&report));
    let c = compare(&fixture("baseline"), &fixture("pass"), 10.0);
    golden("compare/compare.txt", &render::comparison_table(&c));
    golden("compare/compare.md", &render::comparison_markdown(&c));
}
