//! SHD-AGREEMENT: how alike the two deployments' answers to the same
//! prompts are — the share of identical answers and the token similarity,
//! reported as measured facts; judged only against `min_similarity` when
//! it is set.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::{ShadowComparison, ShadowSettings};

pub const SHD_AGREEMENT: CheckSpec = CheckSpec {
    id: CheckId::new("SHD-AGREEMENT"),
    pillar: Pillar::Network,
    severity: Severity::Low,
    title: "Shadow: agreement of the candidate's answers with production's",
};

const METHOD: &str = "answers to the same prompt from both deployments, compared byte for byte and as sets of whitespace tokens (Jaccard)";

/// Pass with the figures; warn below `min_similarity` when set; not
/// measured when no prompt was answered by both.
pub fn evaluate(c: &ShadowComparison, s: &ShadowSettings) -> Finding {
    let a = &c.agreement;
    let mut f = finding(&SHD_AGREEMENT, c, Status::Pass, String::new());
    let (Some(share), Some(mean)) = (a.identical_share(), a.mean_similarity) else {
        f.status = Status::NotMeasured;
        f.summary = "not measured: no prompt was answered by both deployments".into();
        return f;
    };
    let n = a.pairs as u64;
    f = f.with_measurements([
        Measurement::new("identical_answers", share * 100.0, Unit::Percent, METHOD, n),
        Measurement::new("token_similarity_mean", mean, Unit::Ratio, METHOD, n),
        Measurement::new(
            "token_similarity_min",
            a.min_similarity.unwrap_or(mean),
            Unit::Ratio,
            METHOD,
            n,
        ),
    ]);
    let facts = format!(
        "{} of {} answers identical ({:.0}%), mean token similarity {mean:.2}",
        a.identical,
        a.pairs,
        share * 100.0
    );
    match s.min_similarity {
        Some(min) if mean < min => {
            f.status = Status::Warn;
            f.summary = format!("{facts}, below the {min:.2} asked for");
            f = f.with_recommendation(
                "Read a few differing answers side by side: a changed model, prompt template or temperature shows here before users see it.",
            );
        }
        _ => f.summary = facts,
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::tests::ok;
    use crate::measure::Exchanges;

    #[test]
    fn agreement_is_measured_and_judged_only_when_asked() {
        let e = Exchanges {
            v1: vec![ok(1.0, "a b c"), ok(1.0, "a b"), ok(1.0, "x")],
            v2: vec![ok(1.0, "a b c"), ok(1.0, "a b d"), Default::default()],
            interrupted: false,
        };
        let c = ShadowComparison::new(
            "chat",
            "http://a",
            "http://b",
            &e,
            &ShadowSettings::default(),
        );
        let f = evaluate(&c, &ShadowSettings::default());
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(
            f.summary.starts_with("1 of 2 answers identical (50%)"),
            "{}",
            f.summary
        );
        let mean = f.measurement("token_similarity_mean").unwrap().value;
        assert!((mean - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-9, "{mean}");
        let strict = ShadowSettings {
            min_similarity: Some(0.9),
            ..ShadowSettings::default()
        };
        assert_eq!(evaluate(&c, &strict).status, Status::Warn);
        let none = ShadowComparison::new(
            "chat",
            "http://a",
            "http://b",
            &Exchanges::default(),
            &strict,
        );
        assert_eq!(evaluate(&none, &strict).status, Status::NotMeasured);
    }
}
