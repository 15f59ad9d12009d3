//! SHD-TTFT: is the candidate (v2) slower to its first token than
//! production (v1), beyond `ttft_regression_pct` and significantly?

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};

use super::{finding, side_by_side};
use crate::compare::Verdict;
use crate::{ShadowComparison, ShadowSettings};

pub const SHD_TTFT: CheckSpec = CheckSpec {
    id: CheckId::new("SHD-TTFT"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "Shadow: candidate's time to first token against production's",
};

const METHOD: &str = "client-side TTFT per request (request written → first content event), the same prompts in the same order to both deployments";

/// Fail when v2 is slower with significance (Mann–Whitney p < alpha and
/// the p50 difference's interval above zero) by more than the threshold at
/// the p50, or when the whole p95 difference's interval lies beyond the
/// threshold at the p95; pass otherwise, saying "no difference detected"
/// when none was.
pub fn evaluate(c: &ShadowComparison, s: &ShadowSettings) -> Finding {
    let Some(m) = c.metric("ttft") else {
        return finding(
            &SHD_TTFT,
            c,
            Status::NotMeasured,
            "not measured: no TTFT compared".into(),
        );
    };
    let mut f = finding(&SHD_TTFT, c, Status::Pass, String::new()).with_measurements(side_by_side(
        m,
        Unit::Milliseconds,
        METHOD,
    ));
    let pct = s.ttft_regression_pct;
    let bound = |v1: Option<f64>| v1.map(|v| v * pct / 100.0);
    let p50_beyond = matches!(
        (m.verdict, m.p50_diff, bound(m.v1.p50)),
        (Verdict::V2Higher, Some(ci), Some(b)) if ci.estimate > b
    );
    let significant = m
        .mann_whitney
        .is_some_and(|t| t.p_value < s.alpha && t.z > 0.0);
    let p95_beyond = matches!(
        (m.verdict, m.p95_diff, bound(m.v1.p95)),
        (v, Some(ci), Some(b)) if v != Verdict::TooFewSamples && significant && ci.low > b
    );
    f.status = match m.verdict {
        Verdict::TooFewSamples => Status::NotMeasured,
        _ if p50_beyond || p95_beyond => Status::Fail,
        _ => Status::Pass,
    };
    let what = m.describe();
    f.summary = match f.status {
        Status::NotMeasured => format!("not measured: {what}"),
        Status::Fail => format!("TTFT regression beyond {pct}%: {what}"),
        _ if m.verdict == Verdict::V2Higher => {
            format!("TTFT: {what}; within the {pct}% threshold")
        }
        _ => format!("TTFT: {what}"),
    };
    if f.status == Status::Fail {
        f = f.with_recommendation(
            "Do not promote the candidate yet: compare its model, batch settings, replica count and zone with production's, and run the shadow again after the fix.",
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::tests::comparison;

    #[test]
    fn a_significant_slowdown_fails_and_noise_passes() {
        let s = ShadowSettings::default();
        let f = evaluate(&comparison(20, 150.0, 400.0), &s);
        assert_eq!(f.status, Status::Fail, "{}", f.summary);
        assert!(f.summary.contains("v2 higher"), "{}", f.summary);
        assert!(f.measurement("ttft_p50_diff_low").unwrap().value > 200.0);
        let f = evaluate(&comparison(20, 150.0, 150.0), &s);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(
            f.summary.contains("no difference detected at n = 20 / 20"),
            "{}",
            f.summary
        );
        // Faster is not a regression.
        let f = evaluate(&comparison(20, 400.0, 150.0), &s);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(f.summary.contains("v2 lower"), "{}", f.summary);
        // Significant but within a generous threshold.
        let loose = ShadowSettings {
            ttft_regression_pct: 500.0,
            ..s.clone()
        };
        let f = evaluate(&comparison(20, 150.0, 400.0), &loose);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(f.summary.contains("within"), "{}", f.summary);
        // Too few answers: no verdict.
        let f = evaluate(&comparison(3, 150.0, 400.0), &s);
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    }
}
