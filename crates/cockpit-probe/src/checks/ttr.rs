//! CMP-TTR: Time-to-Reasoning — the TTFT of the first request this audit
//! sends, against the cold-start bound ("Dead on Arrival").

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use super::{AgentConfig, AgentProtocol, Thresholds, failure_text, not_measured};
use crate::{ProbeError, ProbeReport};

pub const CMP_TTR: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-TTR"),
    pillar: Pillar::Compute,
    severity: Severity::Critical,
    title: "Time-to-Reasoning (first-request TTFT)",
};

/// `first` is a one-sample probe sent before any other request of the
/// audit; `warm` the main probe, for comparison.
pub fn evaluate(
    agent: &AgentConfig,
    first: &Result<ProbeReport, ProbeError>,
    warm: &Result<ProbeReport, ProbeError>,
    t: &Thresholds,
) -> Finding {
    let url = &agent.endpoint;
    let r = match first {
        Ok(r) => r,
        Err(e) => return not_measured(&CMP_TTR, &agent.name, url, e.to_string()),
    };
    let metric = if agent.protocol == AgentProtocol::Http {
        "ttfb"
    } else {
        "ttft"
    };
    let Some(d) = r.distribution(metric).filter(|d| !d.is_empty()) else {
        return not_measured(&CMP_TTR, &agent.name, url, failure_text(r));
    };
    let first_ms = d.summary().max_ms;
    let method = format!(
        "{}; the first request this audit sent to the agent, so it includes a cold start only if the agent was idle or scaled to zero",
        r.method(metric).unwrap_or(metric)
    );
    let mut f = CMP_TTR
        .finding(Status::Pass, "")
        .with_subject(&agent.name)
        .with_location(Location::endpoint(url))
        .with_measurement(Measurement::new(
            format!("first_request_{metric}"),
            first_ms,
            Unit::Milliseconds,
            method,
            1,
        ));
    let warm_p50 = warm
        .as_ref()
        .ok()
        .and_then(|w| w.distribution(metric))
        .filter(|d| !d.is_empty())
        .map(|d| (d.summary().p50_ms, d.count()));
    if let Some((p50, n)) = warm_p50 {
        f = f.with_measurement(Measurement::new(
            format!("warm_{metric}_p50"),
            p50,
            Unit::Milliseconds,
            "the same probe on the warmed agent, after warm-up requests",
            n,
        ));
        if p50 > 0.0 {
            f = f.with_measurement(Measurement::new(
                "first_to_warm_ratio",
                first_ms / p50,
                Unit::Ratio,
                "first-request value divided by the warm p50, both measured in this run",
                n + 1,
            ));
        }
    }
    if first_ms > t.cold_start_ms {
        f.status = Status::Fail;
        f.summary = format!(
            "Dead on Arrival: the first request took {first_ms:.0} ms to its first token, above {:.0} ms",
            t.cold_start_ms
        );
        f.recommendation = Some(
            "Keep warm pods (replicas / min instances ≥ 2), enable startup CPU boost, load the model before reporting ready, and pre-warm the KV cache."
                .into(),
        );
    } else {
        f.summary = format!(
            "first-request {} {first_ms:.0} ms is within {:.0} ms",
            metric.to_uppercase(),
            t.cold_start_ms
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::checks::fixtures::{agent, report};
    use crate::report::Metric;
    use cockpit_core::Status;
    use cockpit_core::fleet::AgentProtocol;

    fn flat(v: f64, n: usize) -> Vec<f64> {
        vec![v; n]
    }

    #[test]
    fn time_to_reasoning() {
        let t = Thresholds::default();
        let a = agent(AgentProtocol::Openai);
        let warm = Ok(report(
            Metric::Ttft,
            &flat(200.0, 20),
            0,
            ErrorKind::Timeout,
        ));
        let first = Ok(report(Metric::Ttft, &[13_000.0], 0, ErrorKind::Timeout));
        let f = evaluate(&a, &first, &warm, &t);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("Dead on Arrival"), "{}", f.summary);
        let r = f.measurement("first_to_warm_ratio").unwrap().value;
        assert!((r - 65.0).abs() < 0.5, "{r}");
        let first = Ok(report(Metric::Ttft, &[900.0], 0, ErrorKind::Timeout));
        assert_eq!(evaluate(&a, &first, &warm, &t).status, Status::Pass);
        let first = Ok(report(Metric::Ttft, &[], 1, ErrorKind::Timeout));
        assert_eq!(evaluate(&a, &first, &warm, &t).status, Status::NotMeasured);
    }
}
