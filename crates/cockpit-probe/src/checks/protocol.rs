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
use crate::{DescriptorSource, GrpcCall, ProbeError, ProbeOptions, ProbeReport, TlsOptions};

pub const NET_PROTO: CheckSpec = CheckSpec {
    id: CheckId::new("NET-PROTO"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "Retrieval protocol (REST vs gRPC)",
};

/// The options NET-PROTO measures a retrieval backend with: the settings'
/// samples and timeout, five warm-up calls, one kept-alive connection.
pub fn retrieval_options(
    s: &ProbeSettings,
    tls: &TlsOptions,
    cancel: &CancellationToken,
) -> ProbeOptions {
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
    measure_rest_with(url, b, retrieval_options(s, tls, cancel)).await
}

/// [`measure_rest`] with these options (e.g. [`retrieval_options`] made
/// lean); the method, body and content type are the search's.
pub async fn measure_rest_with(
    url: &str,
    b: &RetrievalConfig,
    opts: ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    let body = serde_json::json!({ "query": b.query, "top_k": b.top_k }).to_string();
    let opts = ProbeOptions {
        method: http::Method::POST,
        body: Some(Bytes::from(body)),
        content_type: Some(http::HeaderValue::from_static("application/json")),
        ..opts
    };
    crate::probe_http(url, &opts).await
}

/// The method NET-PROTO calls when `grpc_method` is not given.
pub const DEFAULT_GRPC_METHOD: &str = "cockpit.agent.v1.RetrievalService/Search";

/// The gRPC call configured for `b`, when it names one (`grpc_method`,
/// `grpc_request` or `grpc_proto`); `None` for the built-in `Search`.
pub fn grpc_call(b: &RetrievalConfig) -> Option<GrpcCall> {
    if b.grpc_method.is_none() && b.grpc_request.is_none() && b.grpc_proto.is_none() {
        return None;
    }
    let descriptors = match &b.grpc_proto {
        Some(p) => DescriptorSource::ProtoFile {
            path: p.into(),
            import_paths: b.grpc_import_paths.iter().map(Into::into).collect(),
        },
        None => DescriptorSource::Reflection,
    };
    Some(GrpcCall {
        method: b
            .grpc_method
            .as_deref()
            .unwrap_or(DEFAULT_GRPC_METHOD)
            .to_string(),
        request_json: b.grpc_request_json(),
        descriptors,
    })
}

/// Measure gRPC latency on one channel: the configured method
/// ([`grpc_call`]), else `RetrievalService/Search`.
pub async fn measure_grpc(
    url: &str,
    b: &RetrievalConfig,
    s: &ProbeSettings,
    tls: &TlsOptions,
    cancel: &CancellationToken,
) -> Result<ProbeReport, ProbeError> {
    measure_grpc_with(url, b, &retrieval_options(s, tls, cancel)).await
}

/// [`measure_grpc`] with these options (e.g. [`retrieval_options`] made lean).
pub async fn measure_grpc_with(
    url: &str,
    b: &RetrievalConfig,
    opts: &ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    let opts = opts.clone();
    match grpc_call(b) {
        Some(call) => crate::probe_grpc_method(url, &call, &opts).await,
        None => crate::probe_grpc_search(url, &b.query, b.top_k, &opts).await,
    }
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
    let loc = match uses {
        RetrievalProtocol::Grpc => b.grpc_endpoint.as_deref(),
        _ => b.endpoint.as_deref(),
    }
    .unwrap_or("");
    let rpc = b.grpc_method.as_deref().unwrap_or(DEFAULT_GRPC_METHOD);
    let subject = Subject { b, uses, loc, rpc };
    match (p50(rest), p50(grpc)) {
        (Some(r), Some(g)) => subject.both(r, g, t),
        // Both configured, one not measured: the comparison was not made.
        (Some((rr, _)), None) if grpc.is_some() => subject.half(rr, "rest_p50", "gRPC", grpc),
        (None, Some((gr, _))) if rest.is_some() => subject.half(gr, "grpc_p50", "REST", rest),
        (Some((rr, rest_p50)), None) => {
            let why = why_not("gRPC", no_grpc_endpoint(b), grpc);
            if streaming_agent {
                subject.finding(
                    Status::Warn,
                    format!("REST-only retrieval (p50 {rest_p50:.2} ms) behind a streaming agent; {why}"),
                )
                .with_measurement(median(rr, "rest_p50"))
                .with_recommendation("Expose and use the vector store's gRPC API, and add `grpc_endpoint` so the tax can be measured.")
            } else {
                subject
                    .finding(
                        Status::Pass,
                        format!("REST retrieval p50 {rest_p50:.2} ms; {why}"),
                    )
                    .with_measurement(median(rr, "rest_p50"))
            }
        }
        (None, Some((gr, grpc_p50))) => {
            let why = why_not("REST", "no REST endpoint is configured to compare", rest);
            subject
                .finding(
                    Status::Pass,
                    format!("gRPC retrieval p50 {grpc_p50:.2} ms; {why}"),
                )
                .with_measurement(median(gr, "grpc_p50"))
                .with_measurements(stream_measurements(gr))
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
            subject
                .finding(Status::NotMeasured, format!("not measured: {why}"))
                .with_recommendation(
                    "Make the retrieval endpoints reachable from where the audit runs.",
                )
        }
    }
}

/// Why there is no gRPC side: no endpoint (and a gRPC call configured
/// without one is said to be unused).
fn no_grpc_endpoint(b: &RetrievalConfig) -> &'static str {
    if grpc_call(b).is_some() {
        "no gRPC endpoint is configured (grpc_method, grpc_request and grpc_proto need grpc_endpoint)"
    } else {
        "no gRPC endpoint is configured"
    }
}

/// A server-streaming gRPC method's time to first message (p50) and gaps
/// between messages (p95), when it was one.
fn stream_measurements(gr: &ProbeReport) -> Vec<Measurement> {
    let mut out = Vec::new();
    let method = |n: &str| gr.method(n).unwrap_or("client-side").to_string();
    if let Some(d) = gr.distribution("ttft").filter(|d| !d.is_empty()) {
        out.push(percentile(
            "grpc_first_message_p50",
            d,
            0.50,
            &method("ttft"),
        ));
    }
    if let Some(d) = gr.distribution("itl").filter(|d| !d.is_empty()) {
        out.push(percentile("grpc_message_gap_p95", d, 0.95, &method("itl")));
    }
    out
}

/// The stream figures of [`stream_measurements`] in words, or nothing.
fn stream_text(ms: &[Measurement]) -> String {
    ms.iter()
        .map(|m| match m.name.as_str() {
            "grpc_first_message_p50" => format!("; stream: first message p50 {:.2} ms", m.value),
            _ => format!(", gaps p95 {:.2} ms", m.value),
        })
        .collect()
}

/// The backend a NET-PROTO finding is about, the protocol it is used with,
/// and the gRPC method measured.
struct Subject<'a> {
    b: &'a RetrievalConfig,
    uses: RetrievalProtocol,
    loc: &'a str,
    rpc: &'a str,
}

impl Subject<'_> {
    fn finding(&self, status: Status, summary: String) -> Finding {
        NET_PROTO
            .finding(status, summary)
            .with_subject(&self.b.name)
            .with_location(Location::endpoint(self.loc))
    }

    /// Both protocols configured, only one measured: not measured, with the
    /// reason and the side that was.
    fn half(
        &self,
        measured: &ProbeReport,
        name: &str,
        missing: &str,
        r: Option<&Result<ProbeReport, ProbeError>>,
    ) -> Finding {
        let why = why_not(missing, "", r);
        let m = median(measured, name);
        let side = if name == "rest_p50" {
            "REST".to_string()
        } else {
            format!("gRPC {}", self.rpc)
        };
        let mut f = self
            .finding(
                Status::NotMeasured,
                format!("not measured: {why}; {side} p50 {:.2} ms was measured", m.value),
            )
            .with_measurement(m)
            .with_recommendation("Make both endpoints answer from where the audit runs (for gRPC: the method, its descriptors by reflection or grpc_proto, and its request), so that the tax can be measured.");
        if name == "grpc_p50" {
            f = f.with_measurements(stream_measurements(measured));
        }
        f
    }

    /// Both protocols measured: the ratio and the tax, a warning when the
    /// agent pays a tax above the threshold.
    fn both(
        &self,
        (rr, rest_p50): (&ProbeReport, f64),
        (gr, grpc_p50): (&ProbeReport, f64),
        t: &Thresholds,
    ) -> Finding {
        let ratio = if grpc_p50 > 0.0 {
            rest_p50 / grpc_p50
        } else {
            f64::INFINITY
        };
        let diff = rest_p50 - grpc_p50;
        let stream = stream_measurements(gr);
        let mut ms = vec![
            median(rr, "rest_p50"),
            median(gr, "grpc_p50"),
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
            "REST p50 {rest_p50:.2} ms vs gRPC {} p50 {grpc_p50:.2} ms ({ratio:.2}×, tax {diff:+.2} ms){}",
            self.rpc,
            stream_text(&stream)
        );
        ms.extend(stream);
        if self.uses == RetrievalProtocol::Http && ratio > t.protocol_tax_ratio {
            return self
                .finding(Status::Warn, format!("the agent uses REST; {text}"))
                .with_measurements(ms)
                .with_recommendation("Call the vector store over gRPC: the measured REST tax is paid on every retrieval of every turn.");
        }
        let used = if self.uses == RetrievalProtocol::Grpc {
            "gRPC"
        } else {
            "REST"
        };
        self.finding(Status::Pass, format!("the agent uses {used}; {text}"))
            .with_measurements(ms)
    }
}

/// The p50 measurement of a report's `e2e` (present: checked by [`p50`]).
fn median(r: &ProbeReport, name: &str) -> Measurement {
    let d = r.distribution("e2e").expect("checked by p50");
    percentile(
        name,
        d,
        0.50,
        r.method("e2e").unwrap_or("client-side request latency"),
    )
}

/// Why `protocol` has no p50: not configured, or not measured and why.
fn why_not(
    protocol: &str,
    not_configured: &str,
    r: Option<&Result<ProbeReport, ProbeError>>,
) -> String {
    match r {
        None => not_configured.to_string(),
        Some(Err(e)) => format!("{protocol} could not be measured: {e}"),
        Some(Ok(r)) => format!("{protocol} could not be measured: {}", failure_text(r)),
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
        // Both configured, one not measured: the comparison is not made,
        // the other side is kept as evidence (both ways).
        let unresolved: Result<ProbeReport, ProbeError> = Err(ProbeError::GrpcMethod {
            method: "pkg.Svc/Nope".into(),
            reason: "service pkg.Svc has no method Nope".into(),
        });
        let both = backend(true, true, Some(RetrievalProtocol::Http));
        let f = evaluate(&both, Some(&rest), Some(&unresolved), true, &t);
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("no method Nope"), "{}", f.summary);
        assert!(f.measurement("rest_p50").is_some());
        assert!(f.measurement("rest_over_grpc_ratio").is_none());
        let down = Ok(report(Metric::E2e, &[], 3, ErrorKind::Connect));
        let f = evaluate(&both, Some(&down), Some(&grpc), true, &t);
        assert_eq!(f.status, Status::NotMeasured);
        assert!(
            f.summary.contains("REST could not be measured"),
            "{}",
            f.summary
        );
        assert!(f.measurement("grpc_p50").is_some());
        // A gRPC method without a gRPC endpoint is said to be unused.
        let mut rest_only = backend(true, false, None);
        rest_only.grpc_method = Some("pkg.Svc/Search".into());
        let f = evaluate(&rest_only, Some(&rest), None, false, &t);
        assert!(f.summary.contains("need grpc_endpoint"), "{}", f.summary);
        // Neither answered.
        let down = Ok(report(Metric::E2e, &[], 3, ErrorKind::Connect));
        let f = evaluate(&backend(true, false, None), Some(&down), None, true, &t);
        assert_eq!(f.status, Status::NotMeasured);
    }

    #[test]
    fn a_server_stream_reports_its_first_message_and_gaps() {
        let t = Thresholds::default();
        let rest = Ok(report(Metric::E2e, &flat(6.0, 50), 0, ErrorKind::Timeout));
        let mut s = crate::report::Stats::new(false);
        for _ in 0..50 {
            s.record(Metric::E2e, std::time::Duration::from_millis(3));
            s.record(Metric::Ttft, std::time::Duration::from_millis(1));
            s.record(Metric::Itl, std::time::Duration::from_micros(500));
            s.samples += 1;
        }
        let stream = Ok(ProbeReport::from_stats(
            "grpc://127.0.0.1:3".into(),
            crate::Protocol::Grpc,
            s,
            &crate::grpc_dynamic::method_text,
        ));
        let mut b = backend(true, true, Some(RetrievalProtocol::Grpc));
        b.grpc_method = Some("vectors.v1.VectorSearch/SearchStream".into());
        let f = evaluate(&b, Some(&rest), Some(&stream), true, &t);
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.summary.contains("VectorSearch/SearchStream"),
            "{}",
            f.summary
        );
        let first = f.measurement("grpc_first_message_p50").unwrap().value;
        assert!((first - 1.0).abs() < 0.01, "{first}");
        let gap = f.measurement("grpc_message_gap_p95").unwrap().value;
        assert!((gap - 0.5).abs() < 0.01, "{gap}");
        // A unary call has neither.
        let f = evaluate(&b, Some(&rest), Some(&rest), true, &t);
        assert!(f.measurement("grpc_first_message_p50").is_none());
    }
}
