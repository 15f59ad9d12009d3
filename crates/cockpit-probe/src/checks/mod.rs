//! The Network, Observability and Time-to-Reasoning checks: each turns
//! measurements from this crate's probes into cockpit-core [`Finding`]s.
//!
//! One module per check id (find a check in one hop): [`ttft`] (NET-TTFT),
//! [`tail`] (NET-TAIL), [`protocol`] (NET-PROTO), [`zone`] (NET-ZONE),
//! [`ttr`] (CMP-TTR), [`obs`] (OBS-TTFT). Each module has a pure
//! `evaluate` function (measurements in, finding out) and the audit below
//! does the measuring.

pub mod obs;
pub mod protocol;
pub mod tail;
pub mod ttft;
pub mod ttr;
pub mod zone;

use cockpit_core::{CheckSpec, Distribution, Finding, Location, Measurement, Unit};
use tokio_util::sync::CancellationToken;

use cockpit_core::AuditOutcome;
use cockpit_core::fleet::{
    AgentConfig, AgentProtocol, RetrievalConfig, RetrievalProtocol, backends_of,
};

use crate::config::{NetworkAuditConfig, ProbeSettings, Thresholds};

use crate::{ProbeOptions, ProbeReport, TlsOptions};

/// Every check this module can produce, for docs and tooling.
pub const ALL: [&CheckSpec; 6] = [
    &ttft::NET_TTFT,
    &tail::NET_TAIL,
    &protocol::NET_PROTO,
    &zone::NET_ZONE,
    &ttr::CMP_TTR,
    &obs::OBS_TTFT,
];

/// Count one measured subject, and whether it answered at least once.
fn tally(
    out: &mut AuditOutcome,
    r: Result<ProbeReport, crate::ProbeError>,
) -> Result<ProbeReport, crate::ProbeError> {
    out.count_subject(matches!(&r, Ok(r) if r.samples > 0));
    r
}

/// Run every Network, Observability and Time-to-Reasoning check the
/// configuration enables. Checks whose subject is not configured are not
/// run (no finding); a configured subject that cannot be measured yields a
/// `not-measured` finding with the reason. Cancelling `cancel` stops the
/// run; the findings measured so far are returned with `interrupted` set.
#[tracing::instrument(name = "network_audit", skip_all, fields(agents = cfg.agents.len(), backends = cfg.retrieval.len()))]
pub async fn audit(cfg: &NetworkAuditConfig, cancel: &CancellationToken) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    let tls = TlsOptions {
        ca_file: cfg.probe.ca_file.clone(),
        insecure_skip_verify: !cfg.probe.tls_verify,
    };

    for agent in &cfg.agents {
        if cancel.is_cancelled() {
            out.interrupted = true;
            return out;
        }
        let protocol = crate::Protocol::from(agent.protocol);
        let base = agent_options(agent, &cfg.probe, &tls, cancel);

        // CMP-TTR first: the first request of this audit to the agent.
        out.subjects += 1;
        let first = crate::probe(
            &agent.endpoint,
            protocol,
            &ProbeOptions {
                samples: 1,
                warmup: 0,
                concurrency: 1,
                ..base.clone()
            },
        )
        .await;
        let main = crate::probe(&agent.endpoint, protocol, &base).await;
        let reached =
            matches!(&first, Ok(r) if r.samples > 0) || matches!(&main, Ok(r) if r.samples > 0);
        if reached {
            out.reached += 1;
        }
        if cancel.is_cancelled() {
            out.interrupted = true;
        }
        out.findings
            .push(ttr::evaluate(agent, &first, &main, &cfg.thresholds));
        out.findings.push(ttft::evaluate(
            agent,
            &agent.name,
            &agent.endpoint,
            &main,
            &cfg.thresholds,
        ));

        if let Some(shadow) = &agent.shadow_endpoint {
            let r = tally(&mut out, crate::probe(shadow, protocol, &base).await);
            out.findings.push(ttft::evaluate(
                agent,
                &format!("{} (shadow)", agent.name),
                shadow,
                &r,
                &cfg.thresholds,
            ));
        }

        if let Some(url) = &agent.metrics_url {
            out.findings
                .push(obs::audit(agent, url, cfg.probe.timeout(), &tls).await);
        }

        for backend in backends_of(agent, &cfg.retrieval) {
            if cancel.is_cancelled() {
                out.interrupted = true;
                return out;
            }
            out.findings
                .push(zone::audit(agent, backend, cfg, cancel).await);
        }
    }

    for backend in &cfg.retrieval {
        if cancel.is_cancelled() {
            out.interrupted = true;
            return out;
        }
        let streaming = cfg.agents.iter().any(|a| {
            a.protocol != AgentProtocol::Http
                && backends_of(a, &cfg.retrieval).any(|b| b.name == backend.name)
        });
        let rest = match &backend.endpoint {
            Some(url) => Some(tally(
                &mut out,
                protocol::measure_rest(url, backend, &cfg.probe, &tls, cancel).await,
            )),
            None => None,
        };
        let grpc = match &backend.grpc_endpoint {
            Some(url) => Some(tally(
                &mut out,
                protocol::measure_grpc(url, backend, &cfg.probe, &tls, cancel).await,
            )),
            None => None,
        };
        let production = match backend.production_protocol() {
            RetrievalProtocol::Grpc => grpc.as_ref(),
            _ => rest.as_ref(),
        };
        out.findings
            .push(tail::evaluate(backend, production, &cfg.thresholds));
        out.findings.push(protocol::evaluate(
            backend,
            rest.as_ref(),
            grpc.as_ref(),
            streaming,
            &cfg.thresholds,
        ));
        if cancel.is_cancelled() {
            out.interrupted = true;
        }
    }
    out
}

fn agent_options(
    agent: &AgentConfig,
    s: &ProbeSettings,
    tls: &TlsOptions,
    cancel: &CancellationToken,
) -> ProbeOptions {
    ProbeOptions {
        samples: s.samples,
        concurrency: s.concurrency,
        warmup: s.warmup,
        timeout: s.timeout(),
        model: agent.model.clone(),
        // Checked by whoever loaded the configuration; an invalid one is not sent.
        headers: (agent.headers.iter())
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect(),
        tls: tls.clone(),
        cancel: cancel.clone(),
        ..ProbeOptions::default()
    }
}

/// A measurement of one percentile of a distribution, carrying the whole
/// distribution.
pub(crate) fn percentile(name: &str, d: &Distribution, q: f64, method: &str) -> Measurement {
    let s = d.summary();
    let v = match q {
        x if x >= 0.999 => s.p999_ms,
        x if x >= 0.99 => s.p99_ms,
        x if x >= 0.95 => s.p95_ms,
        x if x >= 0.90 => s.p90_ms,
        _ => s.p50_ms,
    };
    Measurement::new(name, v, Unit::Milliseconds, method, s.count).with_distribution(s)
}

/// "20 of 20 requests failed (connect: 20 — connection refused)".
pub(crate) fn failure_text(r: &ProbeReport) -> String {
    let total: u64 = r.errors.values().sum();
    if total == 0 {
        return if r.interrupted {
            "the run was interrupted (Ctrl-C or its deadline) before a measured request completed"
                .to_string()
        } else {
            format!("no measured sample among {} requests", r.attempted)
        };
    }
    let detail = r
        .errors
        .iter()
        .map(|(k, n)| {
            let ex = r
                .error_examples
                .get(k)
                .map(|e| format!(" — {e}"))
                .unwrap_or_default();
            format!("{}: {n}{ex}", k.as_str())
        })
        .collect::<Vec<_>>()
        .join("; ");
    let interrupted = if r.interrupted {
        "; the run was interrupted"
    } else {
        ""
    };
    format!(
        "{total} of {} requests failed ({detail}){interrupted}",
        r.attempted
    )
}

/// The finding for a subject that could not be measured.
pub(crate) fn not_measured(spec: &CheckSpec, subject: &str, url: &str, why: String) -> Finding {
    spec.finding(cockpit_core::Status::NotMeasured, format!("not measured: {why}"))
        .with_subject(subject)
        .with_location(Location::endpoint(url))
        .with_recommendation("Make the endpoint reachable from where the audit runs (address, port, TLS trust, credentials), then run the audit again.")
}

/// Probe reports built from chosen samples, for the checks' unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::time::Duration;

    use crate::report::{Metric, Stats};
    use crate::{ErrorKind, ProbeReport, Protocol};

    /// A report whose `metric` distribution holds `values_ms`, with
    /// `errors` failed requests of `kind`.
    pub fn report(metric: Metric, values_ms: &[f64], errors: u64, kind: ErrorKind) -> ProbeReport {
        let mut s = Stats::new(false);
        for v in values_ms {
            s.record(metric, Duration::from_secs_f64(v / 1000.0));
            s.samples += 1;
            s.attempted += 1;
        }
        for _ in 0..errors {
            s.error(kind, || format!("{} happened", kind.as_str()));
            s.attempted += 1;
        }
        ProbeReport::from_stats("http://127.0.0.1:1/x".into(), Protocol::OpenAi, s, &|_| {
            Some("fixture method")
        })
    }

    pub fn agent(protocol: super::AgentProtocol) -> super::AgentConfig {
        super::AgentConfig {
            name: "agent".into(),
            endpoint: "http://127.0.0.1:1/v1".into(),
            protocol,
            model: None,
            zone: None,
            shadow_endpoint: None,
            metrics_url: None,
            retrieval: None,
            stm: None,
            headers: Default::default(),
        }
    }

    pub fn backend(
        rest: bool,
        grpc: bool,
        protocol: Option<super::RetrievalProtocol>,
    ) -> super::RetrievalConfig {
        super::RetrievalConfig {
            name: "vectors".into(),
            endpoint: rest.then(|| "http://127.0.0.1:2/search".to_string()),
            grpc_endpoint: grpc.then(|| "grpc://127.0.0.1:3".to_string()),
            protocol,
            zone: None,
            query: "q".into(),
            top_k: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{agent, backend, report};
    use super::*;
    use crate::ErrorKind;
    use crate::report::Metric;
    use cockpit_core::Status;

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
        let f = ttft::evaluate(
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
        let f = ttft::evaluate(
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
        let f = ttft::evaluate(
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
        let f = ttft::evaluate(
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
        let f = ttft::evaluate(
            &h,
            "agent",
            &h.endpoint,
            &Ok(report(Metric::Ttfb, &flat(1.0, 3), 0, ErrorKind::Connect)),
            &t,
        );
        assert_eq!(f.status, Status::NotMeasured);
    }

    #[test]
    fn tail_pass_warn_fail() {
        let t = Thresholds::default();
        let b = backend(true, false, None);
        let eval = |v: f64| {
            tail::evaluate(
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
        let f = tail::evaluate(
            &backend(true, false, Some(RetrievalProtocol::Grpc)),
            None,
            &t,
        );
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("no gRPC endpoint"), "{}", f.summary);
    }

    #[test]
    fn protocol_tax_is_measured_not_assumed() {
        let t = Thresholds::default();
        let rest = Ok(report(Metric::E2e, &flat(6.0, 50), 0, ErrorKind::Timeout));
        let grpc = Ok(report(Metric::E2e, &flat(3.0, 50), 0, ErrorKind::Timeout));
        // The agent uses REST and REST is 2× slower: warn, with the tax.
        let f = protocol::evaluate(
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
        let f = protocol::evaluate(
            &backend(true, true, Some(RetrievalProtocol::Grpc)),
            Some(&rest),
            Some(&grpc),
            true,
            &t,
        );
        assert_eq!(f.status, Status::Pass);
        assert!(f.measurement("rest_over_grpc_ratio").is_some());
        // REST only, behind a streaming agent: warn, and no ratio invented.
        let f = protocol::evaluate(&backend(true, false, None), Some(&rest), None, true, &t);
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("REST-only"));
        assert!(f.measurement("rest_over_grpc_ratio").is_none());
        // Neither answered.
        let down = Ok(report(Metric::E2e, &[], 3, ErrorKind::Connect));
        let f = protocol::evaluate(&backend(true, false, None), Some(&down), None, true, &t);
        assert_eq!(f.status, Status::NotMeasured);
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
        let f = ttr::evaluate(&a, &first, &warm, &t);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("Dead on Arrival"), "{}", f.summary);
        let r = f.measurement("first_to_warm_ratio").unwrap().value;
        assert!((r - 65.0).abs() < 0.5, "{r}");
        let first = Ok(report(Metric::Ttft, &[900.0], 0, ErrorKind::Timeout));
        assert_eq!(ttr::evaluate(&a, &first, &warm, &t).status, Status::Pass);
        let first = Ok(report(Metric::Ttft, &[], 1, ErrorKind::Timeout));
        assert_eq!(
            ttr::evaluate(&a, &first, &warm, &t).status,
            Status::NotMeasured
        );
    }

    #[test]
    fn observability() {
        let a = agent(AgentProtocol::Openai);
        let with = "# TYPE vllm:time_to_first_token_seconds histogram\nvllm:time_to_first_token_seconds_bucket{le=\"0.1\"} 3\n";
        let f = obs::evaluate(&a, "http://127.0.0.1:1/metrics", Ok(with.into()));
        assert_eq!(f.status, Status::Pass);
        assert!(f.summary.contains("vllm:time_to_first_token_seconds"));
        let without = "# TYPE http_requests_total counter\nhttp_requests_total 3\n";
        assert_eq!(
            obs::evaluate(&a, "u", Ok(without.into())).status,
            Status::Warn
        );
        assert_eq!(
            obs::evaluate(&a, "u", Err("refused".into())).status,
            Status::NotMeasured
        );
    }

    #[test]
    fn every_check_has_a_doc_page() {
        for c in ALL {
            let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), c.id.doc_path());
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }
}
