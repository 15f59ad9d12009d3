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
/// run with `interrupted` set: the findings measured so far are returned,
/// and every configured subject not reached yet is listed as not measured
/// ("interrupted before it was measured"), so a report never drops one.
#[tracing::instrument(name = "network_audit", skip_all, fields(agents = cfg.agents.len(), backends = cfg.retrieval.len()))]
pub async fn audit(cfg: &NetworkAuditConfig, cancel: &CancellationToken) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    let tls = cfg.probe.tls();
    for agent in &cfg.agents {
        audit_agent(agent, cfg, &tls, cancel, &mut out).await;
        for backend in backends_of(agent, &cfg.retrieval) {
            let f = if cancel.is_cancelled() {
                interrupted(
                    &zone::NET_ZONE,
                    &format!("{} → {}", agent.name, backend.name),
                    backend_url(backend),
                )
            } else {
                zone::audit(agent, backend, cfg, cancel).await
            };
            out.findings.push(f);
        }
    }
    for backend in &cfg.retrieval {
        audit_backend(backend, cfg, &tls, cancel, &mut out).await;
    }
    out.interrupted |= cancel.is_cancelled();
    out
}

/// The finding of a configured subject the audit was stopped before.
pub(crate) fn interrupted(spec: &CheckSpec, subject: &str, url: &str) -> Finding {
    spec.finding(
        cockpit_core::Status::NotMeasured,
        "not measured: the audit was interrupted before it was measured",
    )
    .with_subject(subject)
    .with_location(Location::endpoint(url))
    .with_recommendation("Run the audit again and let it finish.")
}

/// The URL a backend's findings point at: its REST endpoint, else its gRPC one.
fn backend_url(b: &RetrievalConfig) -> &str {
    b.endpoint
        .as_deref()
        .or(b.grpc_endpoint.as_deref())
        .unwrap_or("")
}

/// One agent the audit was stopped before: each of its checks listed as
/// interrupted, its endpoints counted as subjects not reached.
fn unreached_agent(agent: &AgentConfig, out: &mut AuditOutcome) {
    out.count_subject(false);
    out.findings
        .push(interrupted(&ttr::CMP_TTR, &agent.name, &agent.endpoint));
    out.findings
        .push(interrupted(&ttft::NET_TTFT, &agent.name, &agent.endpoint));
    if let Some(url) = &agent.metrics_url {
        out.findings
            .push(interrupted(&obs::OBS_TTFT, &agent.name, url));
    }
}

/// One agent: CMP-TTR from its first request, NET-TTFT, OBS-TTFT when it
/// has a metrics URL. Its `shadow_endpoint` is not probed here: the shadow
/// comparison (cockpit-shadow) has checks of its own, so a candidate never
/// changes the production agent's findings.
async fn audit_agent(
    agent: &AgentConfig,
    cfg: &NetworkAuditConfig,
    tls: &TlsOptions,
    cancel: &CancellationToken,
    out: &mut AuditOutcome,
) {
    if cancel.is_cancelled() {
        return unreached_agent(agent, out);
    }
    let protocol = crate::Protocol::from(agent.protocol);
    let base = agent_options(agent, &cfg.probe, tls, cancel);
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
    let answered = |r: &Result<ProbeReport, crate::ProbeError>| matches!(r, Ok(r) if r.samples > 0);
    if answered(&first) || answered(&main) {
        out.reached += 1;
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
    if let Some(url) = &agent.metrics_url {
        let f = if cancel.is_cancelled() {
            interrupted(&obs::OBS_TTFT, &agent.name, url)
        } else {
            obs::audit(agent, url, cfg.probe.timeout(), tls).await
        };
        out.findings.push(f);
    }
}

/// One retrieval backend: NET-TAIL on the protocol the agents use, and
/// NET-PROTO from both protocols when both are configured.
async fn audit_backend(
    backend: &RetrievalConfig,
    cfg: &NetworkAuditConfig,
    tls: &TlsOptions,
    cancel: &CancellationToken,
    out: &mut AuditOutcome,
) {
    if cancel.is_cancelled() {
        for _ in backend.endpoint.iter().chain(&backend.grpc_endpoint) {
            out.count_subject(false);
        }
        let url = backend_url(backend);
        out.findings
            .push(interrupted(&tail::NET_TAIL, &backend.name, url));
        out.findings
            .push(interrupted(&protocol::NET_PROTO, &backend.name, url));
        return;
    }
    let streaming = cfg.agents.iter().any(|a| {
        a.protocol != AgentProtocol::Http
            && backends_of(a, &cfg.retrieval).any(|b| b.name == backend.name)
    });
    let rest = match &backend.endpoint {
        Some(url) => Some(tally(
            out,
            protocol::measure_rest(url, backend, &cfg.probe, tls, cancel).await,
        )),
        None => None,
    };
    let grpc = match &backend.grpc_endpoint {
        Some(url) => Some(tally(
            out,
            protocol::measure_grpc(url, backend, &cfg.probe, tls, cancel).await,
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
}

/// The options every probe of `agent` starts from: `[probe]`'s samples,
/// concurrency, warm-up and timeout, the agent's model and headers, the
/// TLS trust and the cancel token. The NET-TTFT audit and Mission Control
/// (cockpit-fleet) both probe agents with these.
pub fn agent_options(
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
            "the run was interrupted (Ctrl-C) before a measured request completed".to_string()
        } else if r.deadline_reached {
            format!(
                "the run reached its deadline before a measured request completed ({} unfinished)",
                r.unfinished
            )
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
    } else if r.deadline_reached {
        "; the run reached its deadline"
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
            canary: None,
            session_header: None,
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
            grpc_method: None,
            grpc_request: None,
            grpc_proto: None,
            grpc_import_paths: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_doc_page() {
        for c in ALL {
            let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), c.id.doc_path());
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }

    #[tokio::test]
    async fn an_interrupted_audit_lists_every_configured_subject() {
        let mut a = fixtures::agent(AgentProtocol::Openai);
        a.shadow_endpoint = Some("http://127.0.0.1:1/shadow".into());
        a.metrics_url = Some("http://127.0.0.1:1/metrics".into());
        let b = fixtures::agent(AgentProtocol::Grpc);
        let b = AgentConfig {
            name: "second".into(),
            ..b
        };
        let cfg = NetworkAuditConfig {
            agents: vec![a, b],
            retrieval: vec![fixtures::backend(true, true, None)],
            ..NetworkAuditConfig::default()
        };
        let cancel = CancellationToken::new();
        cancel.cancel();
        let out = audit(&cfg, &cancel).await;
        assert!(out.interrupted);
        let listed: Vec<(&str, &str)> = (out.findings.iter())
            .map(|f| (f.check_id.as_str(), f.subject.as_deref().unwrap_or("")))
            .collect();
        for want in [
            ("CMP-TTR", "agent"),
            ("NET-TTFT", "agent"),
            ("OBS-TTFT", "agent"),
            ("NET-ZONE", "agent → vectors"),
            ("CMP-TTR", "second"),
            ("NET-TTFT", "second"),
            ("NET-ZONE", "second → vectors"),
            ("NET-TAIL", "vectors"),
            ("NET-PROTO", "vectors"),
        ] {
            assert!(listed.contains(&want), "{want:?} missing from {listed:?}");
        }
        assert_eq!(listed.len(), 9, "{listed:?}");
        // The shadow endpoint is the shadow comparison's subject, not this audit's.
        assert!(!listed.iter().any(|(_, s)| s.contains("shadow")));
        for f in &out.findings {
            assert_eq!(f.status, cockpit_core::Status::NotMeasured);
            assert!(
                f.summary.contains("interrupted before it was measured"),
                "{}",
                f.summary
            );
        }
        // Agent, second agent, the backend's REST and gRPC endpoints.
        assert_eq!((out.subjects, out.reached), (4, 0));
    }
}
