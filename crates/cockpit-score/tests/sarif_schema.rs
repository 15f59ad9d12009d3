//! The SARIF output validates against the SARIF 2.1.0 JSON schema (vendored
//! from the OASIS specification, as shipped in serde-sarif, under
//! `tests/data/`), and places findings at file:line.

use std::path::Path;

use cockpit_score::{Date, Format, GatePolicy, certify, read_report};
use serde_json::Value;

fn load(rel: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn sarif_of(fixture: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{fixture}.json"));
    let report = read_report(&p).unwrap();
    let cert = certify(
        &report,
        &GatePolicy::default(),
        Date::new(2026, 3, 1).unwrap(),
    );
    serde_json::from_str(&Format::Sarif.render(&cert, false).unwrap()).unwrap()
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let schema = load("tests/data/sarif-schema-2.1.0.json");
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    for fixture in ["pass", "fail", "not-measured", "unreachable", "waivable"] {
        let log = sarif_of(fixture);
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{fixture}: {}", errors.join("\n"));
    }
    // The validator is not vacuous: a log without `runs` is refused.
    assert!(!validator.is_valid(&serde_json::json!({"version": "2.1.0"})));
}

#[test]
fn results_carry_file_and_line() {
    let log = sarif_of("fail");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let gate = results
        .iter()
        .find(|r| r["ruleId"] == "CIC-GATE")
        .expect("CIC-GATE result");
    let loc = &gate["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        ".github/workflows/deploy.yml"
    );
    assert_eq!(loc["region"]["startLine"], 42);
    assert_eq!(loc["region"]["startColumn"], 9);
    assert_eq!(gate["level"], "error");
    // Passing findings are not results.
    assert!(
        results
            .iter()
            .all(|r| r["message"]["text"] != "p95 TTFT 212.0 ms is within 800 ms")
    );
}
