//! The Network, Observability and Time-to-Reasoning checks: each turns
//! measurements from this crate's probes into cockpit-core [`Finding`]s.
//!
//! One module per check id (find a check in one hop): [`ttft`] (NET-TTFT),
//! [`tail`] (NET-TAIL), [`protocol`] (NET-PROTO), [`zone`] (NET-ZONE),
//! [`ttr`] (CMP-TTR), [`obs`] (OBS-TTFT). Each module has a pure
//! `evaluate` function (measurements in, finding out) and the audit below
//! does the measuring.

mod config;
pub mod obs;
pub mod protocol;
pub mod tail;
pub mod ttft;
pub mod ttr;
pub mod zone;

use cockpit_core::{CheckSpec, Distribution, Finding, Location, Measurement, Unit};
use tokio_util::sync::CancellationToken;

pub use config::{
    AgentConfig, AgentProtocol, NetworkAuditConfig, ProbeSettings, RetrievalConfig,
    RetrievalProtocol, StmKind, Thresholds,
};

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

/// What an audit produced.
#[derive(Debug, Default)]
pub struct AuditOutcome {
    pub findings: Vec<Finding>,
    /// The run was cancelled before every check finished.
    pub interrupted: bool,
    /// Endpoints the configuration asked to measure.
    pub subjects: usize,
    /// Of those, how many answered at least once.
    pub reached: usize,
}

/// Run every Network, Observability and Time-to-Reasoning check the
/// configuration enables. Checks whose subject is not configured are not
/// run (no finding); a configured subject that cannot be measured yields a
/// `not-measured` finding with the reason. Cancelling `cancel` stops the
/// run; the findings measured so far are returned with `interrupted` set.
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
        let span = tracing::info_span!("agent", name = %agent.name, endpoint = %cockpit_core::redact_url(&agent.endpoint));
        let _enter = span.enter();
        let protocol = agent.protocol.as_probe_protocol();
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
            out.subjects += 1;
            let r = crate::probe(shadow, protocol, &base).await;
            if matches!(&r, Ok(r) if r.samples > 0) {
                out.reached += 1;
            }
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
        let span = tracing::info_span!("retrieval", name = %backend.name);
        let _enter = span.enter();
        let streaming = cfg.agents.iter().any(|a| {
            a.protocol != AgentProtocol::Http
                && backends_of(a, &cfg.retrieval).any(|b| b.name == backend.name)
        });
        let rest = match &backend.endpoint {
            Some(url) => {
                out.subjects += 1;
                let r = protocol::measure_rest(url, backend, &cfg.probe, &tls, cancel).await;
                if matches!(&r, Ok(r) if r.samples > 0) {
                    out.reached += 1;
                }
                Some(r)
            }
            None => None,
        };
        let grpc = match &backend.grpc_endpoint {
            Some(url) => {
                out.subjects += 1;
                let r = protocol::measure_grpc(url, backend, &cfg.probe, &tls, cancel).await;
                if matches!(&r, Ok(r) if r.samples > 0) {
                    out.reached += 1;
                }
                Some(r)
            }
            None => None,
        };
        let production = match backend.production_protocol() {
            RetrievalProtocol::Http => rest.as_ref(),
            RetrievalProtocol::Grpc => grpc.as_ref(),
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

/// The retrieval backends an agent calls.
pub fn backends_of<'a>(
    agent: &'a AgentConfig,
    all: &'a [RetrievalConfig],
) -> impl Iterator<Item = &'a RetrievalConfig> + 'a {
    all.iter().filter(move |b| match &agent.retrieval {
        Some(names) => names.iter().any(|n| n == &b.name),
        None => true,
    })
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
    format!("{total} of {} requests failed ({detail})", r.attempted)
}

/// The finding for a subject that could not be measured.
pub(crate) fn not_measured(spec: &CheckSpec, subject: &str, url: &str, why: String) -> Finding {
    spec.finding(cockpit_core::Status::NotMeasured, format!("not measured: {why}"))
        .with_subject(subject)
        .with_location(Location::endpoint(url))
        .with_recommendation("Make the endpoint reachable from where the audit runs (address, port, TLS trust, credentials), then run the audit again.")
}
