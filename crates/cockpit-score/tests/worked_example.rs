//! The worked example of `docs/scoring.md`, computed by the code and
//! compared with the numbers the document prints (read from the document,
//! not copied here): if the formula changes, the document must change too.

use std::path::Path;

use cockpit_score::{Date, GatePolicy, Verdict, certify, read_report};

fn example() -> cockpit_core::Report {
    read_report(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/worked-example.json"))
        .unwrap()
}

/// The `## Worked example` section of docs/scoring.md.
fn doc_section() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scoring.md"),
    )
    .expect("read docs/scoring.md");
    let start = doc
        .find("## Worked example")
        .expect("a worked example section");
    let rest = &doc[start + 2..];
    let end = rest.find("\n## ").map_or(rest.len(), |e| e);
    rest[..end].to_string()
}

/// Every bold number (`**51.7**`) after `after` in the section, in order.
fn bold_numbers(section: &str, after: &str) -> Vec<f64> {
    let at = section
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in the worked example"));
    section[at..]
        .split("**")
        .skip(1)
        .step_by(2)
        .map_while(|n| n.parse::<f64>().ok())
        .collect()
}

/// `- Network = … = **50.0** → FAIL`: the pillar scores and verdicts the doc prints.
fn doc_pillars(section: &str) -> Vec<(String, f64, String)> {
    section
        .lines()
        .filter(|l| l.starts_with("- ") && l.contains(" = 100 × ") && l.contains("** → "))
        .map(|l| {
            let name = l[2..].split(" = ").next().unwrap().to_string();
            let score = bold_numbers(l, " = ")[0];
            let verdict = l
                .split("→ ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            (name, score, verdict)
        })
        .collect()
}

fn today() -> Date {
    Date::new(2026, 3, 1).unwrap()
}

#[test]
fn the_numbers_in_docs_scoring_md() {
    let cert = certify(&example(), &GatePolicy::default(), today());
    let doc = doc_section();
    let scores: Vec<(String, f64, String)> = cert
        .pillars
        .iter()
        .map(|p| {
            (
                p.pillar.display_name().to_string(),
                p.score.expect("scored"),
                p.verdict.label().to_string(),
            )
        })
        .collect();
    let printed = doc_pillars(&doc);
    assert_eq!(
        printed.len(),
        5,
        "five pillar lines in the doc: {printed:?}"
    );
    assert_eq!(scores, printed, "docs/scoring.md's pillar scores");
    // Overall: the first bold number of the paragraph.
    let overall = bold_numbers(&doc, "Overall, all pillar weights 1")[0];
    assert_eq!(cert.uncapped_score, Some(overall));
    assert_eq!(cert.score, Some(overall));
    assert!(!cert.passed);
    assert_eq!(cert.reasons.len(), 3, "{:?}", cert.reasons);
    assert!(doc.contains("The gate fails three ways"));

    // Network weighted 2.
    let mut p = GatePolicy::default();
    p.weights.network = 2.0;
    let weighted = bold_numbers(&doc, "With `[gate.weights] network = 2`")[0];
    assert_eq!(certify(&example(), &p, today()).score, Some(weighted));

    // Not-measured relaxed: STA-PERSIST is listed, unscored; State is 100.
    let p = GatePolicy {
        fail_closed: false,
        ..GatePolicy::default()
    };
    let c = certify(&example(), &p, today());
    assert_eq!(c.pillars[2].score, Some(100.0));
    assert_eq!(c.pillars[2].verdict, Verdict::Warn);
    assert!(doc.contains("State = 100 × 2 / 2 = 100.0\n  (matrix: WARN)"));
    let relaxed = bold_numbers(&doc, "With `fail_closed = false`")[0];
    assert_eq!(c.score, Some(relaxed));

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
    let cap = bold_numbers(&doc, "- The cap:");
    assert_eq!(cap.len(), 2, "uncapped and capped in the doc: {cap:?}");
    assert_eq!(c.uncapped_score, Some(cap[0]));
    assert_eq!(c.score, Some(cap[1]));
    assert!(!c.passed);
}
