//! NET-TAIL: p99 latency of retrieval calls on the protocol the agent uses.

use cockpit_core::{CheckId, CheckSpec, Finding, Location, Pillar, Severity, Status};

use super::{
    RetrievalConfig, RetrievalProtocol, Thresholds, failure_text, not_measured, percentile,
};
use crate::{ProbeError, ProbeReport};

pub const NET_TAIL: CheckSpec = CheckSpec {
    id: CheckId::new("NET-TAIL"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "Retrieval tail latency (p99)",
};

/// `production` is the measurement over the protocol the agent uses (None
/// when that protocol has no endpoint configured).
pub fn evaluate(
    b: &RetrievalConfig,
    production: Option<&Result<ProbeReport, ProbeError>>,
    t: &Thresholds,
) -> Finding {
    let (proto_name, url) = match b.production_protocol() {
        RetrievalProtocol::Grpc => ("gRPC", b.grpc_endpoint.as_deref()),
        _ => ("REST", b.endpoint.as_deref()),
    };
    let url = url.unwrap_or("");
    let r = match production {
        Some(Ok(r)) => r,
        Some(Err(e)) => return not_measured(&NET_TAIL, &b.name, url, e.to_string()),
        None => {
            return NET_TAIL
                .finding(
                    Status::NotMeasured,
                    format!("not measured: the agent uses {proto_name}, and no {proto_name} endpoint is configured"),
                )
                .with_subject(&b.name)
                .with_recommendation("Add the endpoint the agent uses in production to the [[retrieval]] entry.");
        }
    };
    let Some(d) = r.distribution("e2e").filter(|d| !d.is_empty()) else {
        return not_measured(&NET_TAIL, &b.name, url, failure_text(r));
    };
    let method = r.method("e2e").unwrap_or("client-side request latency");
    let p99 = d.summary().p99_ms;
    let mut f = NET_TAIL
        .finding(Status::Pass, "")
        .with_subject(&b.name)
        .with_location(Location::endpoint(url))
        .with_measurement(percentile("retrieval_p99", d, 0.99, method))
        .with_measurement(percentile("retrieval_p50", d, 0.50, method));
    let bound = t.retrieval_p99_ms;
    if p99 <= bound {
        f.summary = format!(
            "{proto_name} retrieval p99 {p99:.2} ms is within {bound:.0} ms (n={})",
            d.count()
        );
    } else {
        f.status = if p99 <= 2.0 * bound {
            Status::Warn
        } else {
            Status::Fail
        };
        f.summary = format!(
            "{proto_name} retrieval p99 {p99:.2} ms is above {bound:.0} ms{} (n={})",
            if f.status == Status::Warn {
                " (within 2×)"
            } else {
                " by more than 2×"
            },
            d.count()
        );
        f.recommendation = Some(
            "Co-locate the vector store with the agent (same zone), keep connections warm, use gRPC, and size the index for memory; tail latency compounds across every retrieval in a turn."
                .into(),
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::checks::fixtures::{backend, report};
    use crate::report::Metric;
    use cockpit_core::Status;
    use cockpit_core::fleet::RetrievalProtocol;

    fn flat(v: f64, n: usize) -> Vec<f64> {
        vec![v; n]
    }

    #[test]
    fn tail_pass_warn_fail() {
        let t = Thresholds::default();
        let b = backend(true, false, None);
        let eval = |v: f64| {
            evaluate(
                &b,
                Some(&Ok(report(
                    Metric::E2e,
                    &flat(v, 50),
                    0,
                    ErrorKind::Timeout,
                ))),
                &t,
            )
            .status
        };
        assert_eq!(eval(9.0), Status::Pass);
        assert_eq!(eval(15.0), Status::Warn);
        assert_eq!(eval(25.0), Status::Fail);
        let f = evaluate(
            &backend(true, false, Some(RetrievalProtocol::Grpc)),
            None,
            &t,
        );
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("no gRPC endpoint"), "{}", f.summary);
    }
}
