//! The worked example of `docs/scoring.md`, computed by the code: if the
//! formula changes, this test and the document change together.

use std::path::Path;

use cockpit_score::{Date, GatePolicy, Verdict, certify, read_report};

fn example() -> cockpit_core::Report {
    read_report(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/worked-example.json"))
        .unwrap()
}

fn today() -> Date {
    Date::new(2026, 3, 1).unwrap()
}

#[test]
fn the_numbers_in_docs_scoring_md() {
    let cert = certify(&example(), &GatePolicy::default(), today());
    let scores: Vec<(String, Option<f64>, Verdict)> = cert
        .pillars
        .iter()
        .map(|p| (p.pillar.as_str().to_string(), p.score, p.verdict))
        .collect();
    assert_eq!(
        scores,
        vec![
            ("network".into(), Some(50.0), Verdict::Fail),
            ("compute".into(), Some(75.0), Verdict::Warn),
            ("state".into(), Some(33.3), Verdict::Fail),
            ("cicd".into(), Some(0.0), Verdict::Fail),
            ("observability".into(), Some(100.0), Verdict::Pass),
        ]
    );
    assert_eq!(cert.uncapped_score, Some(51.7));
    assert_eq!(cert.score, Some(51.7));
    assert!(!cert.passed);
    assert_eq!(cert.reasons.len(), 3, "{:?}", cert.reasons);

    // Network weighted 2.
    let mut p = GatePolicy::default();
    p.weights.network = 2.0;
    assert_eq!(certify(&example(), &p, today()).score, Some(51.4));

    // Not-measured relaxed: STA-PERSIST is listed, unscored; State is 100.
    let p = GatePolicy {
        fail_closed: false,
        ..GatePolicy::default()
    };
    let c = certify(&example(), &p, today());
    assert_eq!(c.pillars[2].score, Some(100.0));
    assert_eq!(c.pillars[2].verdict, Verdict::Warn);
    assert_eq!(c.score, Some(65.0));

    // The cap: with only CIC-GATE failing among passes, the weighted score
    // clears a threshold of 60 but the critical failure caps it at 59.
    let mut r = example();
    for f in &mut r.findings {
        if f.check_id.as_str() != "CIC-GATE" && f.status != cockpit_core::Status::Skipped {
            f.status = cockpit_core::Status::Pass;
        }
    }
    let p = GatePolicy {
        threshold: 60.0,
        ..GatePolicy::default()
    };
    let c = certify(&r, &p, today());
    assert_eq!(c.uncapped_score, Some(80.0));
    assert_eq!(c.score, Some(59.0));
    assert!(!c.passed);
}
