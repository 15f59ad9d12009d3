//! The checked-in JSON Schema (`docs/report.schema.json`) is the one the
//! types generate, and real reports validate against it.

use cockpit_core::{
    CheckId, CheckSpec, Distribution, Location, Measurement, Pillar, Report, Severity, Status, Unit,
};

const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report.schema.json");

#[test]
fn checked_in_schema_matches_the_types() {
    let generated = serde_json::to_string_pretty(&Report::json_schema()).unwrap() + "\n";
    // `UPDATE_SCHEMA=1` (exactly) rewrites the file; `cargo xtask ci` refuses
    // to run with it set and fails when the tests changed the tree.
    if std::env::var("UPDATE_SCHEMA").as_deref() == Ok("1") {
        std::fs::write(SCHEMA_PATH, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/report.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p cockpit-core --test schema`"
    );
}

#[test]
fn a_report_with_every_shape_validates() {
    const C: CheckSpec = CheckSpec {
        id: CheckId::new("NET-TTFT"),
        pillar: Pillar::Network,
        severity: Severity::High,
        title: "t",
    };
    let mut d = Distribution::new();
    d.record(std::time::Duration::from_millis(3));
    let findings = vec![
        C.finding(Status::Pass, "ok")
            .with_measurement(
                Measurement::new("x", 1.0, Unit::Milliseconds, "m", 1)
                    .with_distribution(d.summary()),
            )
            .with_location(Location::endpoint("http://h")),
        C.finding(Status::NotMeasured, "no")
            .with_location(Location::Object {
                namespace: Some("ns".into()),
                kind: "Deployment".into(),
                name: "n".into(),
            }),
        C.finding(Status::Skipped, "-")
            .with_location(Location::File {
                path: "a.yaml".into(),
                line: Some(1),
                column: None,
            }),
        C.finding(Status::Error, "-")
            .with_location(Location::Config {
                entry: "agents[0]".into(),
            }),
    ];
    let report = serde_json::to_value(Report::new("t", "0", findings)).unwrap();
    let schema = Report::json_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // and a broken one does not
    let mut bad = report.clone();
    bad["findings"][0]["status"] = "passed".into();
    assert!(!validator.is_valid(&bad));
}
