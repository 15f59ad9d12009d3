//! The Compute and CI/CD pillars of agentops-cockpit: Kubernetes manifests
//! and live clusters, Cloud Run (Knative) services, and CI pipelines.
//!
//! What it measures and reads: warm replicas (HPA `minReplicas`, Cloud Run
//! `minScale`), probes, resource requests, disruption budgets, zone spread,
//! GKE Autopilot evidence, Workload Identity, image pinning, and — on a live
//! cluster — each pod's start-to-ready time from its conditions, restarts,
//! Warning events, ready endpoints and LoadBalancer addresses (polled with
//! [`poll_external_ip`]). Pipelines: every deploy step must come after
//! `agentops-cockpit certify` in the same job chain. Every finding is a
//! [`cockpit_core::Finding`] located as `namespace/Kind/name` (its subject)
//! and, for files, `file:line`. Placement facts other pillars need (zones of
//! agents and retrieval backends, session stores) come back as [`Placement`].
//!
//! ```
//! use cockpit_k8s::{K8sConfig, audit_manifest_text};
//! use cockpit_core::Status;
//!
//! let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: chat-agent\n  namespace: agents\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: chat}}\n  template:\n    metadata: {labels: {app: chat}}\n    spec:\n      containers: [{name: agent, image: \"agent:latest\"}]\n";
//! let audit = audit_manifest_text("deploy/agent.yaml", yaml, &K8sConfig::default());
//! let warm = audit.findings.iter().find(|f| f.check_id.as_str() == "CMP-WARM").unwrap();
//! assert_eq!(warm.status, Status::Fail);
//! assert_eq!(warm.subject.as_deref(), Some("agents/Deployment/chat-agent"));
//! assert_eq!(warm.location.as_ref().unwrap().to_string(), "deploy/agent.yaml:7");
//! ```
//!
//! What it never does: write to a cluster (it only lists and gets), print
//! (it returns findings and emits `tracing` spans), copy the value of an
//! environment variable or a Secret into a finding, or pick a k8s-openapi
//! version feature (the binary does).

pub mod checks;
mod cluster;
mod config;
mod error;
mod lb;
pub mod manifest;
pub mod object;
pub mod placement;
#[cfg(feature = "test-support")]
pub mod testing;

use std::path::PathBuf;

use cockpit_core::{Finding, Location, Status};
use kube::Client;

pub use cluster::{LIST_LIMIT, connect};
pub use config::K8sConfig;
pub use error::K8sError;
pub use lb::{FIRST_BACKOFF, LbPoll, MAX_BACKOFF, poll_external_ip};
pub use manifest::resolve_globs;
pub use object::Role;
pub use placement::{Placement, WorkloadPlacement, ZoneSource};

/// What one audit produced.
#[derive(Debug, Default)]
pub struct K8sAudit {
    pub findings: Vec<Finding>,
    /// Zones and session stores of the workloads, for the other pillars.
    pub placement: Placement,
    /// YAML documents read (manifest audits).
    pub documents: usize,
    /// Live audits: whether the API server answered at least one call.
    pub reached: bool,
}

/// Audit manifest files (and directories: every `*.yaml` / `*.yml` below).
/// Multi-document files are split; a bad document is a `CMP-MANIFEST`
/// finding with its file:line and the other documents are still audited;
/// Helm templates are reported as skipped. An unreadable path is an error.
pub fn audit_manifests(paths: &[PathBuf], cfg: &K8sConfig) -> Result<K8sAudit, K8sError> {
    let _span = tracing::info_span!("audit_manifests", files = paths.len()).entered();
    let files = manifest::expand_paths(paths)?;
    let read = manifest::read_files(&files, cfg)?;
    Ok(finish(read, cfg))
}

/// Audit Cloud Run service exports (`gcloud run services describe SERVICE
/// --format export`): Knative `serving.knative.dev/v1` Services, read and
/// judged exactly like manifests.
pub fn audit_cloud_run(paths: &[PathBuf], cfg: &K8sConfig) -> Result<K8sAudit, K8sError> {
    audit_manifests(paths, cfg)
}

/// Audit manifest text already in memory; `path` names it in locations.
pub fn audit_manifest_text(path: &str, text: &str, cfg: &K8sConfig) -> K8sAudit {
    let mut read = manifest::Read::default();
    manifest::read_text(path, text, cfg, &mut read);
    finish(read, cfg)
}

fn finish(mut read: manifest::Read, cfg: &K8sConfig) -> K8sAudit {
    let mut findings = std::mem::take(&mut read.findings);
    findings.extend(checks::evaluate(&read.inventory, cfg, None));
    K8sAudit {
        findings,
        placement: placement::placement(&read.inventory),
        documents: read.documents,
        reached: false,
    }
}

/// Audit a live cluster: the namespace of `cfg.namespace` (else the
/// client's default). Lists Deployments, StatefulSets, Pods, Nodes,
/// Services, EndpointSlices, HPAs, PDBs, ServiceAccounts and Events; a list
/// that is forbidden (RBAC 403) or fails becomes a not-measured finding
/// naming the resource and verb, and the rest still runs. With
/// `cfg.lb_wait_s > 0`, pending LoadBalancer Services are polled that long.
#[tracing::instrument(name = "audit_cluster", skip_all, fields(namespace = tracing::field::Empty))]
pub async fn audit_cluster(client: Client, cfg: &K8sConfig) -> K8sAudit {
    let namespace = cfg
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    tracing::Span::current().record("namespace", namespace.as_str());
    let mut read = cluster::read_cluster(&client, &namespace, cfg).await;
    if cfg.lb_wait_s > 0.0 {
        let pending: Vec<String> = read
            .inventory
            .services
            .iter()
            .filter(|(_, s)| {
                s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("LoadBalancer")
                    && checks::lb::address(s).is_none()
            })
            .map(|(o, _)| o.name.clone())
            .collect();
        for name in pending {
            let wait = std::time::Duration::from_secs_f64(cfg.lb_wait_s);
            match poll_external_ip(&client, &namespace, &name, wait).await {
                Ok(p) => {
                    read.inventory.lb_polls.insert(name, p);
                }
                Err(e) => tracing::warn!(service = %name, "poll failed: {e}"),
            }
        }
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut findings = std::mem::take(&mut read.findings);
    if read.answered == 0 {
        // Nothing answered: one finding says so instead of a page of empties.
        return K8sAudit {
            findings,
            placement: Placement::default(),
            documents: 0,
            reached: false,
        };
    }
    findings.extend(checks::evaluate(&read.inventory, cfg, Some(now)));
    K8sAudit {
        findings,
        placement: placement::placement(&read.inventory),
        documents: 0,
        reached: true,
    }
}

/// Connect with the kubeconfig (`$KUBECONFIG` or `~/.kube/config`, context
/// `cfg.context` or the current one) and audit the cluster. A kubeconfig
/// that is missing or lacks the context is one not-measured finding saying
/// so, not an error: the rest of the audit still runs.
pub async fn audit_kubeconfig(cfg: &K8sConfig) -> K8sAudit {
    match connect(cfg.context.as_deref(), cfg.request_timeout()).await {
        Ok(client) => audit_cluster(client, cfg).await,
        Err(e) => K8sAudit {
            findings: vec![
                checks::manifest::CMP_MANIFEST
                    .finding(Status::NotMeasured, format!("not measured: {e}"))
                    .with_subject(match &cfg.context {
                        Some(c) => format!("kube context {c}"),
                        None => "kube context (current)".to_string(),
                    })
                    .with_recommendation(
                        "Point $KUBECONFIG at a kubeconfig holding the context (e.g. `gcloud container clusters get-credentials`), or audit the manifests offline with --manifests.",
                    ),
            ],
            ..K8sAudit::default()
        },
    }
}

/// Scan CI pipeline files and directories (GitHub Actions workflows under a
/// directory: `*.yml` / `*.yaml`; GitLab `.gitlab-ci.yml`) for deploy steps
/// without the Sovereign Gate before them (CIC-GATE). With no deploy step
/// anywhere, one skipped finding says so. `rules` is what a gate is held
/// to (`[gate] min_pipeline_threshold`).
pub fn audit_pipelines(
    paths: &[PathBuf],
    rules: &checks::gate::GateRules,
) -> Result<Vec<Finding>, K8sError> {
    let _span = tracing::info_span!("audit_pipelines", paths = paths.len()).entered();
    let files = manifest::expand_paths(paths)?;
    let mut out = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).map_err(|source| K8sError::Read {
            path: f.clone(),
            source,
        })?;
        out.extend(checks::gate::scan(&f.display().to_string(), &src, rules));
    }
    if out.is_empty() {
        out.push(
            checks::gate::CIC_GATE
                .finding(
                    Status::Skipped,
                    format!("no deploy step found in {} pipeline file(s)", files.len()),
                )
                .with_location(Location::File {
                    path: paths
                        .first()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    line: None,
                    column: None,
                }),
        );
    }
    Ok(out)
}
