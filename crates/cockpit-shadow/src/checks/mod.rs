//! The shadow checks: one module per check id, each with its `CheckSpec`
//! constant and a pure `evaluate` (a [`ShadowComparison`] in, a finding
//! out); [`crate::audit`] measures.

pub mod shd_agreement;
pub mod shd_errors;
pub mod shd_ttft;

use cockpit_core::{CheckSpec, Finding, Location, Measurement, Status, Unit};

use crate::ShadowComparison;
use crate::compare::MetricComparison;

/// Every check of this crate, for docs and tooling.
pub const ALL: [&CheckSpec; 3] = [
    &shd_ttft::SHD_TTFT,
    &shd_errors::SHD_ERRORS,
    &shd_agreement::SHD_AGREEMENT,
];

/// A finding about agent `c.agent`'s shadow, located at the candidate.
pub(crate) fn finding(
    spec: &CheckSpec,
    c: &ShadowComparison,
    status: Status,
    summary: String,
) -> Finding {
    spec.finding(status, summary)
        .with_subject(&c.agent)
        .with_location(Location::endpoint(&c.v2))
}

/// The finding of an agent whose shadow could not be compared.
pub fn not_measured(spec: &CheckSpec, agent: &str, v2: &str, why: &str) -> Finding {
    spec.finding(Status::NotMeasured, format!("not measured: {why}"))
        .with_subject(agent)
        .with_location(Location::endpoint(v2))
}

/// v1's and v2's p50 / p95 of a metric, the p50 and p95 differences with
/// their interval bounds, and the Mann–Whitney p-value.
pub(crate) fn side_by_side(m: &MetricComparison, unit: Unit, method: &str) -> Vec<Measurement> {
    let name = m.metric;
    let mut out = Vec::new();
    for (side, s) in [("v1", m.v1), ("v2", m.v2)] {
        for (q, v) in [("p50", s.p50), ("p95", s.p95)] {
            if let Some(v) = v {
                out.push(Measurement::new(
                    format!("{name}_{side}_{q}"),
                    v,
                    unit,
                    method,
                    s.n as u64,
                ));
            }
        }
    }
    let n = (m.v1.n + m.v2.n) as u64;
    for (q, ci) in [("p50", m.p50_diff), ("p95", m.p95_diff)] {
        if let Some(ci) = ci {
            let how = format!(
                "v2 − v1; percentile bootstrap, {} resamples, {:.0}% interval",
                ci.resamples,
                ci.level * 100.0
            );
            out.push(Measurement::new(
                format!("{name}_{q}_diff"),
                ci.estimate,
                unit,
                &how,
                n,
            ));
            out.push(Measurement::new(
                format!("{name}_{q}_diff_low"),
                ci.low,
                unit,
                &how,
                n,
            ));
            out.push(Measurement::new(
                format!("{name}_{q}_diff_high"),
                ci.high,
                unit,
                &how,
                n,
            ));
        }
    }
    if let Some(t) = m.mann_whitney {
        out.push(Measurement::new(
            format!("{name}_p_value"),
            t.p_value,
            Unit::Ratio,
            "Mann–Whitney U, two-sided, normal approximation with tie correction",
            n,
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ShadowSettings;
    use crate::measure::{Answer, Exchanges};

    #[test]
    fn every_check_has_a_doc_page() {
        for c in ALL {
            let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), c.id.doc_path());
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }

    /// An answer of `ttft` ms, text `text`.
    pub fn ok(ttft: f64, text: &str) -> Answer {
        Answer::measured(ttft, text)
    }

    /// `n` answers a side, v1's TTFT around `a` ms and v2's around `b`.
    pub fn comparison(n: usize, a: f64, b: f64) -> ShadowComparison {
        let jitter = |i: usize| (i % 7) as f64;
        let e = Exchanges {
            v1: (0..n).map(|i| ok(a + jitter(i), "tok0 tok1")).collect(),
            v2: (0..n).map(|i| ok(b + jitter(i * 3), "tok0 tok1")).collect(),
            interrupted: false,
        };
        ShadowComparison::new(
            "chat",
            "http://v1/v1",
            "http://v2/v1",
            &e,
            &ShadowSettings::default(),
        )
    }
}
