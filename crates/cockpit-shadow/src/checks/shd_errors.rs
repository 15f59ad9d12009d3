//! SHD-ERRORS: does the candidate (v2) fail more requests than production
//! (v1), significantly?

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::compare::{ErrorComparison, p_is};
use crate::{ShadowComparison, ShadowSettings};

pub const SHD_ERRORS: CheckSpec = CheckSpec {
    id: CheckId::new("SHD-ERRORS"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "Shadow: candidate's error rate against production's",
};

const METHOD: &str =
    "failed requests / requests that ended, per deployment, the same prompts to both";

fn kinds(m: &std::collections::BTreeMap<cockpit_probe::ErrorKind, u64>) -> String {
    let v: Vec<String> = m.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Fail when v2 fails more often than v1 with Fisher's exact p below
/// alpha; not measured when no request ended on a side.
pub fn evaluate(c: &ShadowComparison, s: &ShadowSettings) -> Finding {
    let e = &c.errors;
    let (r1, r2) = (
        ErrorComparison::rate(e.v1_failed, e.v1_requests),
        ErrorComparison::rate(e.v2_failed, e.v2_requests),
    );
    let mut f = finding(&SHD_ERRORS, c, Status::Pass, String::new()).with_measurements([
        Measurement::new(
            "errors_v1",
            r1 * 100.0,
            Unit::Percent,
            METHOD,
            e.v1_requests,
        ),
        Measurement::new(
            "errors_v2",
            r2 * 100.0,
            Unit::Percent,
            METHOD,
            e.v2_requests,
        ),
        Measurement::new(
            "errors_p_value",
            e.p_value,
            Unit::Ratio,
            "Fisher's exact test, one-sided (v2 fails more often)",
            e.v1_requests + e.v2_requests,
        ),
    ]);
    let facts = format!(
        "v1 {}/{} failed ({}), v2 {}/{} failed ({}), Fisher {}",
        e.v1_failed,
        e.v1_requests,
        kinds(&e.v1_by_kind),
        e.v2_failed,
        e.v2_requests,
        kinds(&e.v2_by_kind),
        p_is(e.p_value)
    );
    if e.v1_requests == 0 || e.v2_requests == 0 {
        f.status = Status::NotMeasured;
        f.summary = format!("not measured: no request ended on one side ({facts})");
        return f;
    }
    if r2 > r1 && e.p_value < s.alpha {
        f.status = Status::Fail;
        f.summary = format!("the candidate fails more often: {facts}");
        f = f.with_recommendation(
            "Read the candidate's failures by kind above (connect: not serving; http_5xx: crashing or overloaded; timeout / stall: too slow) and fix them before promoting it.",
        );
    } else if r2 > r1 {
        f.summary = format!(
            "no difference detected at n = {} / {}: {facts}",
            e.v1_requests, e.v2_requests
        );
    } else {
        f.summary = format!("the candidate fails no more often: {facts}");
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::tests::ok;
    use crate::measure::{Answer, Exchanges};

    fn with_failures(n: usize, f1: usize, f2: usize) -> ShadowComparison {
        let side = |failed: usize| -> Vec<Answer> {
            (0..n)
                .map(|i| {
                    if i < failed {
                        Answer {
                            error: Some(cockpit_probe::ErrorKind::Http5xx),
                            ..Answer::default()
                        }
                    } else {
                        ok(100.0, "a")
                    }
                })
                .collect()
        };
        let e = Exchanges {
            v1: side(f1),
            v2: side(f2),
            interrupted: false,
        };
        ShadowComparison::new(
            "chat",
            "http://a/v1",
            "http://b/v1",
            &e,
            &ShadowSettings::default(),
        )
    }

    #[test]
    fn only_a_significant_excess_of_failures_fails() {
        let s = ShadowSettings::default();
        let f = evaluate(&with_failures(20, 0, 10), &s);
        assert_eq!(f.status, Status::Fail, "{}", f.summary);
        assert!(f.summary.contains("http_5xx: 10"), "{}", f.summary);
        let f = evaluate(&with_failures(20, 0, 1), &s);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(
            f.summary.contains("no difference detected"),
            "{}",
            f.summary
        );
        let f = evaluate(&with_failures(20, 3, 0), &s);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        let f = evaluate(&with_failures(0, 0, 0), &s);
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    }
}
