//! NET-PROTO: the measured protocol tax of REST against gRPC for a retrieval
//! backend, and REST-only retrieval under streaming load.

use bytes::Bytes;
use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};
use tokio_util::sync::CancellationToken;

use super::{
    ProbeSettings, RetrievalConfig, RetrievalProtocol, Thresholds, failure_text, percentile,
};
use crate::{ProbeError, ProbeOptions, ProbeReport, TlsOptions};

pub const NET_PROTO: CheckSpec = CheckSpec {
    id: CheckId::new("NET-PROTO"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "Retrieval protocol (REST vs gRPC)",
};

fn options(s: &ProbeSettings, tls: &TlsOptions, cancel: &CancellationToken) -> ProbeOptions {
    ProbeOptions {
        samples: s.retrieval_samples,
        concurrency: 1,
        warmup: 5,
        timeout: s.timeout(),
        tls: tls.clone(),
        cancel: cancel.clone(),
        reuse_connection: true,
        ..ProbeOptions::default()
    }
}

/// Measure REST search latency on a kept-alive connection (as an agent's
/// pooled client would call it).
pub async fn measure_rest(
    url: &str,
    b: &RetrievalConfig,
    s: &ProbeSettings,
    tls: &TlsOptions,
    cancel: &CancellationToken,
) -> Result<ProbeReport, ProbeError> {
    let body = serde_json::json!({ "query": b.query, "top_k": b.top_k }).to_string();
    let opts = ProbeOptions {
        method: http::Method::POST,
        body: Some(Bytes::from(body)),
        content_type: Some(http::HeaderValue::from_static("application/json")),
        ..options(s, tls, cancel)
    };
    crate::probe_http(url, &opts).await
}

/// Measure gRPC `RetrievalService/Search` latency on one channel.
pub async fn measure_grpc(
    url: &str,
    b: &RetrievalConfig,
    s: &ProbeSettings,
    tls: &TlsOptions,
    cancel: &CancellationToken,
) -> Result<ProbeReport, ProbeError> {
    crate::probe_grpc_search(url, &b.query, b.top_k, &options(s, tls, cancel)).await
}

fn p50(r: Option<&Result<ProbeReport, ProbeError>>) -> Option<(&ProbeReport, f64)> {
    let r = r?.as_ref().ok()?;
    let d = r.distribution("e2e").filter(|d| !d.is_empty())?;
    Some((r, d.summary().p50_ms))
}

pub fn evaluate(
    b: &RetrievalConfig,
    rest: Option<&Result<ProbeReport, ProbeError>>,
    grpc: Option<&Result<ProbeReport, ProbeError>>,
    streaming_agent: bool,
    t: &Thresholds,
) -> Finding {
    let uses = b.production_protocol();
    let loc_url = match uses {
        RetrievalProtocol::Grpc => b.grpc_endpoint.as_deref(),
        _ => b.endpoint.as_deref(),
    }
    .unwrap_or("");
    let base = |status, summary: String| {
        NET_PROTO
            .finding(status, summary)
            .with_subject(&b.name)
            .with_location(Location::endpoint(loc_url))
    };
    let dist = |r: &ProbeReport, name: &str| {
        let d = r.distribution("e2e").expect("checked by p50");
        percentile(
            name,
            d,
            0.50,
            r.method("e2e").unwrap_or("client-side request latency"),
        )
    };
    match (p50(rest), p50(grpc)) {
        (Some((rr, rest_p50)), Some((gr, grpc_p50))) => {
            let ratio = if grpc_p50 > 0.0 {
                rest_p50 / grpc_p50
            } else {
                f64::INFINITY
            };
            let diff = rest_p50 - grpc_p50;
            let ms = vec![
                dist(rr, "rest_p50"),
                dist(gr, "grpc_p50"),
                Measurement::new(
                    "rest_over_grpc_ratio",
                    ratio,
                    Unit::Ratio,
                    "REST p50 divided by gRPC p50, both measured in this run against the same backend on warm connections",
                    rr.samples.min(gr.samples),
                ),
                Measurement::new(
                    "protocol_tax",
                    diff,
                    Unit::Milliseconds,
                    "REST p50 minus gRPC p50, same run, same backend",
                    rr.samples.min(gr.samples),
                ),
            ];
            let text = format!(
                "REST p50 {rest_p50:.2} ms vs gRPC p50 {grpc_p50:.2} ms ({ratio:.2}×, tax {diff:+.2} ms)"
            );
            if uses == RetrievalProtocol::Http && ratio > t.protocol_tax_ratio {
                base(Status::Warn, format!("the agent uses REST; {text}"))
                    .with_measurements(ms)
                    .with_recommendation("Call the vector store over gRPC: the measured REST tax is paid on every retrieval of every turn.")
            } else {
                base(
                    Status::Pass,
                    format!(
                        "the agent uses {}; {text}",
                        if uses == RetrievalProtocol::Grpc {
                            "gRPC"
                        } else {
                            "REST"
                        }
                    ),
                )
                .with_measurements(ms)
            }
        }
        (Some((rr, rest_p50)), None) => {
            let mut ms = vec![dist(rr, "rest_p50")];
            let why = match grpc {
                None => "no gRPC endpoint is configured".to_string(),
                Some(Err(e)) => format!("gRPC could not be measured: {e}"),
                Some(Ok(g)) => format!("gRPC could not be measured: {}", failure_text(g)),
            };
            ms.truncate(1);
            if streaming_agent {
                base(
                    Status::Warn,
                    format!("REST-only retrieval (p50 {rest_p50:.2} ms) behind a streaming agent; {why}"),
                )
                .with_measurements(ms)
                .with_recommendation("Expose and use the vector store's gRPC API, and add `grpc_endpoint` so the tax can be measured.")
            } else {
                base(
                    Status::Pass,
                    format!("REST retrieval p50 {rest_p50:.2} ms; {why}"),
                )
                .with_measurements(ms)
            }
        }
        (None, Some((gr, grpc_p50))) => {
            let why = match rest {
                None => "no REST endpoint is configured to compare".to_string(),
                Some(Err(e)) => format!("REST could not be measured: {e}"),
                Some(Ok(r)) => format!("REST could not be measured: {}", failure_text(r)),
            };
            base(
                Status::Pass,
                format!("gRPC retrieval p50 {grpc_p50:.2} ms; {why}"),
            )
            .with_measurement(dist(gr, "grpc_p50"))
        }
        (None, None) => {
            let why = [("REST", rest), ("gRPC", grpc)]
                .iter()
                .filter_map(|(n, r)| {
                    r.map(|r| match r {
                        Err(e) => format!("{n}: {e}"),
                        Ok(r) => format!("{n}: {}", failure_text(r)),
                    })
                })
                .collect::<Vec<_>>()
                .join("; ");
            base(Status::NotMeasured, format!("not measured: {why}")).with_recommendation(
                "Make the retrieval endpoints reachable from where the audit runs.",
            )
        }
    }
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
    fn protocol_tax_is_measured_not_assumed() {
        let t = Thresholds::default();
        let rest = Ok(report(Metric::E2e, &flat(6.0, 50), 0, ErrorKind::Timeout));
        let grpc = Ok(report(Metric::E2e, &flat(3.0, 50), 0, ErrorKind::Timeout));
        // The agent uses REST and REST is 2× slower: warn, with the tax.
        let f = evaluate(
            &backend(true, true, Some(RetrievalProtocol::Http)),
            Some(&rest),
            Some(&grpc),
            true,
            &t,
        );
        assert_eq!(f.status, Status::Warn);
        let ratio = f.measurement("rest_over_grpc_ratio").unwrap().value;
        assert!((ratio - 2.0).abs() < 0.01, "{ratio}");
        assert!((f.measurement("protocol_tax").unwrap().value - 3.0).abs() < 0.01);
        // The agent uses gRPC: pass, same measurements.
        let f = evaluate(
            &backend(true, true, Some(RetrievalProtocol::Grpc)),
            Some(&rest),
            Some(&grpc),
            true,
            &t,
        );
        assert_eq!(f.status, Status::Pass);
        assert!(f.measurement("rest_over_grpc_ratio").is_some());
        // REST only, behind a streaming agent: warn, and no ratio invented.
        let f = evaluate(&backend(true, false, None), Some(&rest), None, true, &t);
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("REST-only"));
        assert!(f.measurement("rest_over_grpc_ratio").is_none());
        // Neither answered.
        let down = Ok(report(Metric::E2e, &[], 3, ErrorKind::Connect));
        let f = evaluate(&backend(true, false, None), Some(&down), None, true, &t);
        assert_eq!(f.status, Status::NotMeasured);
    }
}
