//! Property: adding a failing finding never raises the score, and never
//! turns a failing gate into a pass except by measuring a pillar that was
//! not measured (the coverage rule, docs/scoring.md).

use cockpit_core::{CheckId, Finding, Pillar, Report, Severity, Status};
use cockpit_score::{Date, GatePolicy, certify, is_reading};
use proptest::prelude::*;

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Pass),
        Just(Status::Warn),
        Just(Status::Fail),
        Just(Status::NotMeasured),
        Just(Status::Error),
        Just(Status::Skipped),
    ]
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Info),
        Just(Severity::Low),
        Just(Severity::Medium),
        Just(Severity::High),
        Just(Severity::Critical),
    ]
}

/// Whether a finding of this severity counts as a reading (info does not).
fn severity_is_scored(s: Severity) -> bool {
    s != Severity::Info
}

fn pillar() -> impl Strategy<Value = Pillar> {
    prop::sample::select(Pillar::ALL.to_vec())
}

fn finding(status: Status, severity: Severity, pillar: Pillar, n: u8) -> Finding {
    Finding {
        check_id: CheckId::from(format!("T-{n}")),
        pillar,
        status,
        severity,
        title: "t".into(),
        summary: "s".into(),
        subject: Some(format!("s{n}")),
        measurements: vec![],
        location: None,
        recommendation: None,
        doc: String::new(),
        suppressed: None,
    }
}

fn any_finding() -> impl Strategy<Value = Finding> {
    (status(), severity(), pillar(), 0u8..6).prop_map(|(s, v, p, n)| finding(s, v, p, n))
}

fn policy() -> impl Strategy<Value = GatePolicy> {
    (
        0.0f64..=100.0,
        any::<bool>(),
        prop::array::uniform5(0.0f64..4.0),
    )
        .prop_map(|(t, fc, w)| {
            let mut p = GatePolicy {
                threshold: t,
                fail_closed: fc,
                ..GatePolicy::default()
            };
            p.weights.network = w[0];
            p.weights.compute = w[1];
            p.weights.state = w[2];
            p.weights.cicd = w[3];
            p.weights.observability = w[4] + 0.1;
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_failing_finding_never_raises_the_score(
        findings in prop::collection::vec(any_finding(), 0..12),
        sev in severity(),
        pil in pillar(),
        policy in policy(),
    ) {
        let today = Date::new(2026, 3, 1).unwrap();
        let pillar_was_measured = findings.iter().any(|f| f.pillar == pil && is_reading(f));
        let before = certify(&Report::new("t", "0", findings.clone()), &policy, today);
        let mut more = findings;
        more.push(finding(Status::Fail, sev, pil, 9));
        let after = certify(&Report::new("t", "0", more), &policy, today);
        match (before.score, after.score) {
            (Some(b), Some(a)) => prop_assert!(a <= b + 1e-9, "score rose from {b} to {a}"),
            // A lone failure scores its pillar 0.
            (None, Some(a)) => prop_assert!(a == 0.0, "a lone failure scored {a}"),
            (Some(b), None) => prop_assert!(false, "score {b} vanished"),
            (None, None) => {}
        }
        // A gate that failed still fails — unless the failure is the first
        // reading of a pillar that was not measured: then the gate had failed
        // for want of that pillar, and a measured pillar (even a failing
        // low-severity one) is judged by the score like the others.
        let new_reading = severity_is_scored(sev) && !pillar_was_measured;
        prop_assert!(before.passed || !after.passed || new_reading);
        // Adding a failure never turns a failing gate into a pass any other way,
        // and never passes a gate that was not measured at all.
        if after.passed {
            prop_assert!(after.pillars.iter().all(|p| p.measured || p.out_of_scope.is_some()));
        }
    }
}
