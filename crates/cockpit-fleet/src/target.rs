//! What the monitor watches, and one probe of it with cockpit-probe's
//! clients (the same options the NET-TTFT and NET-TAIL audits use).

use std::time::Duration;

use cockpit_core::fleet::{AgentConfig, RetrievalConfig, RetrievalProtocol};
use cockpit_probe::{MAX_DEADLINE, ProbeError, ProbeOptions, ProbeReport, ProbeSettings, Protocol};
use tokio_util::sync::CancellationToken;

use crate::{CockpitSettings, TargetKind, TargetStatus};

/// The fleet to watch: the declarations of `cockpit.toml`.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// `[[agents]]`: TTFT, ITL, e2e, tokens per second.
    pub agents: Vec<AgentConfig>,
    /// `[[retrieval]]`: e2e latency of a search, on the protocol the agents use.
    pub retrieval: Vec<RetrievalConfig>,
    /// `[probe]`: the TLS trust (and the settings the retrieval probe reads).
    pub probe: ProbeSettings,
    /// `[thresholds]`: what `--record`'s NET-TTFT findings are judged by.
    pub thresholds: cockpit_probe::Thresholds,
    /// `[stm]`: the session store, read-only (PING, `INFO`) each interval.
    pub stm: Option<cockpit_stm::StmConfig>,
    /// `[kubernetes]` (a live cluster: `context` / `namespace`): the agent
    /// pods, listed each interval.
    pub kubernetes: Option<cockpit_k8s::K8sConfig>,
    /// The client for `kubernetes`; `None`: one is made from the
    /// kubeconfig (`$KUBECONFIG`, `[kubernetes] context`) at the first reading.
    pub kubernetes_client: Option<crate::KubeClient>,
    /// The fleet hub's declarations: `[[mcp]]`, `[[vector_store]]`,
    /// `[[cache]]`, `[shadow]`, `[watchtower]` (see [`crate::hub`]).
    pub hub: crate::FleetHub,
}

/// One thing the monitor probes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Agent(AgentConfig),
    Retrieval(RetrievalConfig),
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Agent(a) => &a.name,
            Target::Retrieval(r) => &r.name,
        }
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Agent(_) => TargetKind::Agent,
            Target::Retrieval(_) => TargetKind::Retrieval,
        }
    }

    /// The URL probed (unredacted: only [`Target::shown_endpoint`] is shown).
    pub fn endpoint(&self) -> &str {
        match self {
            Target::Agent(a) => &a.endpoint,
            Target::Retrieval(r) => match r.production_protocol() {
                RetrievalProtocol::Grpc => r.grpc_endpoint.as_deref(),
                _ => r.endpoint.as_deref(),
            }
            .or(r.endpoint.as_deref())
            .or(r.grpc_endpoint.as_deref())
            .unwrap_or(""),
        }
    }

    pub fn shown_endpoint(&self) -> String {
        cockpit_core::redact_url(self.endpoint())
    }

    /// `openai`, `grpc`, `http`.
    pub fn protocol(&self) -> &'static str {
        match self {
            Target::Agent(a) => Protocol::from(a.protocol).as_str(),
            Target::Retrieval(r) => match r.production_protocol() {
                RetrievalProtocol::Grpc => "grpc",
                _ => "http",
            },
        }
    }

    /// One probe: `settings.samples` requests, one at a time, each under
    /// `probe_timeout`, the whole under a deadline of one timeout per
    /// request plus one. Lean ([`ProbeOptions::lean`]): the probe keeps its
    /// few samples as a list, folded into the window's histograms.
    pub async fn probe(
        &self,
        settings: &CockpitSettings,
        fleet: &ProbeSettings,
        cancel: &CancellationToken,
    ) -> Result<ProbeReport, ProbeError> {
        let deadline = settings
            .probe_timeout
            .saturating_mul(settings.samples.saturating_add(1))
            .min(MAX_DEADLINE);
        let tls = fleet.tls();
        match self {
            Target::Agent(a) => {
                let opts = ProbeOptions {
                    samples: settings.samples,
                    warmup: 0,
                    concurrency: 1,
                    timeout: settings.probe_timeout,
                    deadline,
                    lean: true,
                    ..cockpit_probe::checks::agent_options(a, fleet, &tls, cancel)
                };
                cockpit_probe::probe(&a.endpoint, Protocol::from(a.protocol), &opts).await
            }
            Target::Retrieval(r) => {
                let s = ProbeSettings {
                    retrieval_samples: settings.samples,
                    timeout_s: settings.probe_timeout.as_secs_f64(),
                    ..fleet.clone()
                };
                use cockpit_probe::checks::protocol::{
                    measure_grpc_with, measure_rest_with, retrieval_options,
                };
                let url = self.endpoint();
                let opts = ProbeOptions {
                    lean: true,
                    ..retrieval_options(&s, &tls, cancel)
                };
                match r.production_protocol() {
                    RetrievalProtocol::Grpc if r.grpc_endpoint.is_some() => {
                        measure_grpc_with(url, r, &opts).await
                    }
                    _ => measure_rest_with(url, r, opts).await,
                }
            }
        }
    }
}

/// The targets of a fleet, agents first; names must be unique.
pub(crate) fn targets(fleet: &Fleet) -> Result<Vec<Target>, crate::MonitorError> {
    let all: Vec<Target> = (fleet.agents.iter().cloned().map(Target::Agent))
        .chain(fleet.retrieval.iter().cloned().map(Target::Retrieval))
        .collect();
    if all.is_empty() && fleet.stm.is_none() && fleet.kubernetes.is_none() {
        return Err(crate::MonitorError::NoTargets);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(t) = all.iter().find(|t| !seen.insert(t.name())) {
        return Err(crate::MonitorError::DuplicateName(t.name().to_string()));
    }
    Ok(all)
}

/// A target's state after a probe: down when no request succeeded (the
/// most frequent failure named), degraded when some failed, else up.
pub(crate) fn status_of(r: &Result<ProbeReport, ProbeError>) -> TargetStatus {
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            return TargetStatus::Down {
                error_kind: "config".into(),
                message: e.to_string(),
            };
        }
    };
    let failed = r.total_errors();
    let worst = r.errors.iter().max_by_key(|(_, n)| **n).map(|(k, _)| *k);
    let example = |k| r.error_examples.get(&k).cloned().unwrap_or_default();
    match worst {
        _ if r.samples == 0 => TargetStatus::Down {
            error_kind: worst.map_or("no_sample", |k| k.as_str()).to_string(),
            message: worst.map(example).unwrap_or_else(|| {
                if r.deadline_reached {
                    "the probe reached its deadline before a request completed".into()
                } else {
                    "no request completed".into()
                }
            }),
        },
        Some(k) => TargetStatus::Degraded {
            reason: format!(
                "{failed} of {} requests failed ({}: {})",
                r.samples + failed,
                k.as_str(),
                example(k)
            ),
        },
        None => TargetStatus::Up,
    }
}

/// How long to wait before a probe starts: a random offset within the
/// first tenth of the interval, so a fleet is not probed in one burst.
pub(crate) fn jitter(interval: Duration) -> Duration {
    use rand::Rng as _;
    let max = u64::try_from(interval.as_micros() / 10).unwrap_or(u64::MAX);
    if max == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(rand::rng().random_range(0..max))
}
