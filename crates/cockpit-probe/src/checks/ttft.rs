//! NET-TTFT: p95 time to first token against the threshold ("Latency Regression").

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use super::{AgentConfig, AgentProtocol, Thresholds, failure_text, not_measured, percentile};
use crate::{ProbeError, ProbeReport};

pub const NET_TTFT: CheckSpec = CheckSpec {
    id: CheckId::new("NET-TTFT"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "Time to first token (p95)",
};

/// Judge a probe of `url`, the agent's endpoint.
pub fn evaluate(
    agent: &AgentConfig,
    subject: &str,
    url: &str,
    probe: &Result<ProbeReport, ProbeError>,
    t: &Thresholds,
) -> Finding {
    let r = match probe {
        Ok(r) => r,
        Err(e) => return not_measured(&NET_TTFT, subject, url, e.to_string()),
    };
    if agent.protocol == AgentProtocol::Http {
        return NET_TTFT
            .finding(
                Status::NotMeasured,
                "not measured: a plain `http` agent streams no tokens; declare protocol `openai` or `grpc` to measure TTFT",
            )
            .with_subject(subject)
            .with_location(Location::endpoint(url));
    }
    let Some(d) = r.distribution("ttft").filter(|d| !d.is_empty()) else {
        return not_measured(&NET_TTFT, subject, url, failure_text(r));
    };
    let method = r
        .method("ttft")
        .unwrap_or("client-side time to first token");
    let p95 = d.summary().p95_ms;
    let mut f = NET_TTFT
        .finding(Status::Pass, "")
        .with_subject(subject)
        .with_location(Location::endpoint(url))
        .with_measurement(percentile("ttft_p95", d, 0.95, method))
        .with_measurement(percentile("ttft_p50", d, 0.50, method))
        .with_measurement(percentile("ttft_p99", d, 0.99, method));
    f = f.with_measurements(throughput(r));
    let failed: u64 = r.errors.values().sum();
    if failed > 0 {
        f = f.with_measurement(Measurement::new(
            "failed_requests",
            failed as f64,
            Unit::Count,
            format!(
                "requests that ended in an error during the TTFT probe ({})",
                failure_text(r)
            ),
            r.attempted,
        ));
    }
    if p95 > t.ttft_p95_ms {
        f.status = Status::Fail;
        f.summary = format!(
            "Latency Regression: p95 TTFT {p95:.1} ms is above {:.0} ms (n={})",
            t.ttft_p95_ms,
            d.count()
        );
        f.recommendation = Some(
            "Keep warm replicas (min instances ≥ 2), put the model and its retrieval in the same zone, stream over gRPC or HTTP/2, and reuse prompt prefixes so the KV cache hits."
                .into(),
        );
    } else if failed > 0 {
        f.status = Status::Warn;
        f.summary = format!(
            "p95 TTFT {p95:.1} ms is within {:.0} ms, but {}",
            t.ttft_p95_ms,
            failure_text(r)
        );
        f.recommendation = Some(
            "Find why requests failed while measuring TTFT; failures hide from percentiles.".into(),
        );
    } else {
        f.summary = format!(
            "p95 TTFT {p95:.1} ms is within {:.0} ms (n={})",
            t.ttft_p95_ms,
            d.count()
        );
    }
    f
}

/// Output tokens per second: the whole probe's (`output_tokens_per_s`,
/// tokens over the run's window) and the median request's
/// (`output_tokens_per_s_p50`), each with its method, token source and count.
fn throughput(r: &ProbeReport) -> Vec<Measurement> {
    let mut ms = Vec::new();
    if let (Some(t), Some(method)) = (r.throughput(), r.method("throughput")) {
        ms.push(Measurement::new(
            "output_tokens_per_s",
            t.output_tokens_per_s,
            Unit::TokensPerSecond,
            format!(
                "{method}: {} tokens in {:.3} s",
                t.output_tokens, t.window_s
            ),
            t.requests,
        ));
    }
    if let (Some(d), Some(method)) = (r.output_tokens_per_s(), r.method("output_tokens_per_s")) {
        let source = crate::TokensSource::text(r.tokens_source, r.protocol);
        ms.push(Measurement::new(
            "output_tokens_per_s_p50",
            d.summary().p50,
            Unit::TokensPerSecond,
            format!("median per request: {method}; tokens {source}"),
            d.count(),
        ));
    }
    ms
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
    fn ttft_threshold_is_on_p95() {
        let t = Thresholds::default();
        let a = agent(AgentProtocol::Openai);
        // 95 fast samples and 5 slow ones: p95 is still fast.
        let mut v = flat(300.0, 95);
        v.extend(flat(2000.0, 5));
        let f = evaluate(
            &a,
            "agent",
            &a.endpoint,
            &Ok(report(Metric::Ttft, &v, 0, ErrorKind::Timeout)),
            &t,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        // 10 slow: p95 is slow.
        let mut v = flat(300.0, 90);
        v.extend(flat(900.0, 10));
        let f = evaluate(
            &a,
            "agent",
            &a.endpoint,
            &Ok(report(Metric::Ttft, &v, 0, ErrorKind::Timeout)),
            &t,
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("Latency Regression"), "{}", f.summary);
        assert!(f.recommendation.is_some());
        let m = f.measurement("ttft_p95").unwrap();
        assert!((m.value - 900.0).abs() < 1.0 && m.samples == 100, "{m:?}");
        assert!(m.distribution.is_some());
    }

    #[test]
    fn ttft_failures_warn_and_nothing_measured_is_not_measured() {
        let t = Thresholds::default();
        let a = agent(AgentProtocol::Openai);
        let f = evaluate(
            &a,
            "agent",
            &a.endpoint,
            &Ok(report(
                Metric::Ttft,
                &flat(100.0, 10),
                2,
                ErrorKind::Http5xx,
            )),
            &t,
        );
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("http_5xx: 2"), "{}", f.summary);
        let f = evaluate(
            &a,
            "agent",
            &a.endpoint,
            &Ok(report(Metric::Ttft, &[], 5, ErrorKind::Connect)),
            &t,
        );
        assert_eq!(f.status, Status::NotMeasured);
        assert!(
            f.summary.contains("5 of 5 requests failed (connect: 5"),
            "{}",
            f.summary
        );
        let h = agent(AgentProtocol::Http);
        let f = evaluate(
            &h,
            "agent",
            &h.endpoint,
            &Ok(report(Metric::Ttfb, &flat(1.0, 3), 0, ErrorKind::Connect)),
            &t,
        );
        assert_eq!(f.status, Status::NotMeasured);
    }
}
