//! Golden-file tests: every renderer, from fixed reports under
//! `tests/fixtures/`, judged on a fixed day, compared byte for byte with
//! `tests/golden/`. Regenerate after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p cockpit-score --test golden` and review the diff.

use std::path::{Path, PathBuf};

use cockpit_core::Report;
use cockpit_score::{Date, Format, GatePolicy, Waiver, certify, compare, read_report, render};

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

/// A policy exercising every waiver state and every SLO outcome on the `fail` fixture.
fn waivers_policy() -> GatePolicy {
    GatePolicy {
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

#[test]
fn audit_renderers_and_comparison() {
    let report = fixture("fail");
    golden("audit/report.txt", &render::table(&report, false));
    golden("audit/report.md", &render::markdown(&report));
    let c = compare(&fixture("baseline"), &fixture("pass"), 10.0);
    golden("compare/compare.txt", &render::comparison_table(&c));
    golden("compare/compare.md", &render::comparison_markdown(&c));
}
