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
//! let warm = audit.outcome.findings.iter().find(|f| f.check_id.as_str() == "CMP-WARM").unwrap();
//! assert_eq!(warm.status, Status::Fail);
//! assert_eq!(warm.subject.as_deref(), Some("agents/Deployment/chat-agent"));
//! assert_eq!(warm.location.as_ref().unwrap().to_string(), "deploy/agent.yaml:7");
//! ```
//!
//! [`audit`] is the one entry point (files, pipelines and the live cluster
//! as `[kubernetes]` says, under a cancellation token); the other `audit_*`
//! functions are its building blocks.
//!
//! What it never does: write to a cluster (it only lists and gets), print
//! (it returns findings and emits `tracing` spans), copy the value of an
//! environment variable or a Secret into a finding, pick a k8s-openapi
//! version feature (the binary does), open anything but a regular file or
//! read more than [`MAX_FILE_BYTES`] of one ([`input`]), read a file twice
//! or follow a symbolic-link loop, leave a kubeconfig credential
//! plugin running past the request timeout or a cancellation
//! ([`credential`]), or send the user information of a server URL anywhere.

pub mod checks;
mod cluster;
mod config;
pub mod credential;
pub mod deploy;
mod error;
pub mod fanout;
pub mod input;
mod lb;
pub mod manifest;
pub mod object;
pub mod placement;
pub mod pods;
pub mod suppress;
#[cfg(feature = "test-support")]
pub mod testing;

use std::path::PathBuf;

use cockpit_core::{AuditOutcome, Finding, Location, Status};
use kube::Client;
use tokio_util::sync::CancellationToken;

pub use cluster::{LIST_LIMIT, connect};
pub use config::{Inputs, K8sConfig};
pub use error::K8sError;
pub use input::{MAX_ENTRIES, MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES, resolve_globs};
pub use lb::{FIRST_BACKOFF, LbPoll, MAX_BACKOFF, poll_external_ip, watch_external_ip};
pub use object::Role;
pub use placement::{Placement, WorkloadPlacement, ZoneSource};

/// What one audit produced.
#[derive(Debug, Default)]
pub struct K8sAudit {
    /// Findings, and the live cluster as a subject (reached when the API
    /// server answered at least one call).
    pub outcome: AuditOutcome,
    /// Zones and session stores of the workloads, for the other pillars.
    pub placement: Placement,
    /// YAML documents read (manifest audits).
    pub documents: usize,
}

impl K8sAudit {
    fn from_findings(findings: Vec<Finding>) -> Self {
        K8sAudit {
            outcome: AuditOutcome::from_findings(findings),
            ..K8sAudit::default()
        }
    }

    /// Add another audit's findings, subjects, workloads and documents.
    pub fn absorb(&mut self, other: K8sAudit) {
        self.outcome.absorb(other.outcome);
        self.placement.workloads.extend(other.placement.workloads);
        self.documents += other.documents;
    }
}

/// The whole Compute and CI/CD audit `cfg` asks for: its manifests and
/// Cloud Run exports ([`audit_manifests`]), its pipelines
/// ([`audit_pipelines`]), and the live cluster when `context` or
/// `namespace` is set ([`audit_kubeconfig`], one subject, stopped when
/// `cancel` fires, which marks the outcome interrupted). An input that
/// cannot be resolved or read (a pattern matching nothing, a file too large
/// or not a regular file) becomes a `CMP-MANIFEST` error finding naming it;
/// callers that want to refuse such a command line before anything runs
/// call [`K8sConfig::resolve_inputs`] first.
pub async fn audit(cfg: &K8sConfig, cancel: &CancellationToken) -> K8sAudit {
    let mut out = K8sAudit::default();
    let input_error = |e: K8sError| {
        checks::manifest::CMP_MANIFEST
            .finding(Status::Error, e.to_string())
            .with_recommendation("Fix the path or pattern in [kubernetes] or on the command line.")
    };
    match cfg.resolve_inputs() {
        Ok(inputs) => {
            for (path, kind) in &inputs.skipped {
                out.outcome.findings.push(skipped_input(path, kind));
            }
            let files: Vec<PathBuf> = inputs
                .manifests
                .into_iter()
                .chain(inputs.cloud_run)
                .collect();
            if !files.is_empty() {
                match audit_files(&files, cfg, &|| cancel.is_cancelled()) {
                    Ok(a) => out.absorb(a),
                    Err(e) => out.outcome.findings.push(input_error(e)),
                }
            }
            if !inputs.pipelines.is_empty() {
                match audit_pipelines(&inputs.pipelines, &cfg.gate_rules) {
                    Ok(a) => out.absorb(a),
                    Err(e) => out.outcome.findings.push(input_error(e)),
                }
            }
        }
        Err(e) => out.outcome.findings.push(input_error(e)),
    }
    if cfg.live() {
        let live = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            a = audit_kubeconfig(cfg) => Some(a),
        };
        match live {
            Some(a) => out.absorb(a),
            // Listed all the same: the report names every configured subject.
            None => out.absorb(cluster_not_measured(
                cfg,
                "the audit was interrupted before the cluster was read",
            )),
        }
    }
    out.outcome.interrupted |= cancel.is_cancelled();
    out
}

/// A directory entry named like an input that is not a regular file.
fn skipped_input(path: &std::path::Path, kind: &str) -> Finding {
    let path = path.display().to_string();
    checks::manifest::CMP_MANIFEST
        .finding(
            Status::Skipped,
            format!("{path}: {kind}, not a regular file: not read"),
        )
        .with_location(Location::File {
            path,
            line: None,
            column: None,
        })
}

/// Audit manifest files (and directories: every `*.yaml` / `*.yml` below,
/// with the bounds of [`input`]). Multi-document files are split; a bad
/// document is a `CMP-MANIFEST` finding with its file:line and the other
/// documents are still audited; Helm templates are reported as skipped. A
/// path that cannot be read, is not a regular file or exceeds the size
/// bound is an error naming it.
pub fn audit_manifests(paths: &[PathBuf], cfg: &K8sConfig) -> Result<K8sAudit, K8sError> {
    audit_files(paths, cfg, &|| false)
}

fn audit_files(
    paths: &[PathBuf],
    cfg: &K8sConfig,
    stop: &dyn Fn() -> bool,
) -> Result<K8sAudit, K8sError> {
    let _span = tracing::info_span!("audit_manifests", files = paths.len()).entered();
    let files = input::expand_paths(paths)?;
    let read = manifest::read_files(&files, cfg, stop)?;
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
        outcome: AuditOutcome::from_findings(findings),
        placement: placement::placement(&read.inventory),
        documents: read.documents,
    }
}

/// Audit a live cluster: the namespace of `cfg.namespace` (else the
/// client's default). Lists Deployments, StatefulSets, Pods, Nodes,
/// Services, EndpointSlices, HPAs, PDBs, ServiceAccounts and Events; a list
/// that is forbidden (RBAC 403) or fails becomes a not-measured finding
/// naming the resource and verb, and the rest still runs. With
/// `cfg.lb_wait_s > 0`, pending LoadBalancer Services are polled that long.
/// The cluster is one subject of the outcome, reached when the API server
/// answered at least one call.
#[tracing::instrument(name = "audit_cluster", skip_all, fields(namespace = tracing::field::Empty))]
pub async fn audit_cluster(client: Client, cfg: &K8sConfig) -> K8sAudit {
    let namespace = cfg
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    tracing::Span::current().record("namespace", namespace.as_str());
    let mut read = cluster::read_cluster(&client, &namespace, cfg).await;
    if cfg.lb_wait_s > 0.0 {
        poll_pending_load_balancers(&client, &namespace, cfg, &mut read.inventory).await;
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut out = K8sAudit::from_findings(std::mem::take(&mut read.findings));
    let reached = read.answered > 0;
    out.outcome.count_subject(reached);
    if reached {
        // Nothing answered: the not-measured findings say so instead of a
        // page of empties.
        out.outcome
            .findings
            .extend(checks::evaluate(&read.inventory, cfg, Some(now)));
        out.placement = placement::placement(&read.inventory);
    }
    out
}

async fn poll_pending_load_balancers(
    client: &Client,
    namespace: &str,
    cfg: &K8sConfig,
    inventory: &mut object::Inventory,
) {
    let pending: Vec<String> = inventory
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
        match poll_external_ip(client, namespace, &name, wait).await {
            Ok(p) => {
                inventory.lb_polls.insert(name, p);
            }
            Err(e) => tracing::warn!(service = %name, "poll failed: {e}"),
        }
    }
}

/// Connect with the kubeconfig (`$KUBECONFIG` or `~/.kube/config`, context
/// `cfg.context` or the current one) and audit the cluster. A kubeconfig
/// that is missing, lacks the context or whose credential plugin fails or
/// hangs (bounded by `request_timeout_s`) is one not-measured finding
/// saying so, not an error: the rest of the audit still runs. Either way
/// the cluster is one subject of the outcome.
pub async fn audit_kubeconfig(cfg: &K8sConfig) -> K8sAudit {
    match connect(cfg.context.as_deref(), cfg.request_timeout()).await {
        Ok(client) => audit_cluster(client, cfg).await,
        Err(e) => cluster_not_measured(cfg, e),
    }
}

/// The live cluster as one not-measured finding saying why, counted as a
/// subject not reached.
fn cluster_not_measured(cfg: &K8sConfig, why: impl std::fmt::Display) -> K8sAudit {
    let mut out = K8sAudit::from_findings(vec![
        checks::manifest::CMP_MANIFEST
            .finding(Status::NotMeasured, format!("not measured: {why}"))
            .with_subject(match &cfg.context {
                Some(c) => format!("kube context {c}"),
                None => "kube context (current)".to_string(),
            })
            .with_recommendation(
                "Point $KUBECONFIG at a kubeconfig holding the context (e.g. `gcloud container clusters get-credentials`), or audit the manifests offline with --manifests.",
            ),
    ]);
    out.outcome.count_subject(false);
    out
}

/// Scan CI pipeline files and directories (GitHub Actions workflows under a
/// directory: `*.yml` / `*.yaml`; GitLab `.gitlab-ci.yml`) for deploy steps
/// without the Sovereign Gate before them (CIC-GATE). With no deploy step
/// anywhere, one skipped finding says so. `rules` is what a gate is held
/// to (`[gate] min_pipeline_threshold`). Files are found and read with the
/// bounds of [`input`].
pub fn audit_pipelines(
    paths: &[PathBuf],
    rules: &checks::gate::GateRules,
) -> Result<K8sAudit, K8sError> {
    let _span = tracing::info_span!("audit_pipelines", paths = paths.len()).entered();
    let files = input::expand_paths(paths)?;
    let mut out = Vec::new();
    for f in &files {
        let src = input::read_file(f)?;
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
    Ok(K8sAudit::from_findings(out))
}
