//! Deploying an agent the way the checks want it: `[deploy]` in
//! `cockpit.toml` ([`DeploySettings`]) rendered into typed k8s-openapi
//! objects ([`render`]) for GKE Autopilot or a Knative Service for Cloud Run,
//! serialised to YAML — never string templates.
//!
//! Rendering is self-checking: [`render_checked`] audits what it rendered
//! with this crate's own Compute and CI/CD checks and refuses settings that
//! cannot be made compliant, naming the check that would fail (e.g.
//! `replicas = 0` → `CMP-WARM`). Every field the renderer writes is there
//! for a check; docs/deploy.md lists which.
//!
//! ```
//! use cockpit_k8s::deploy::{DeploySettings, Target, render_checked};
//!
//! let rendered = render_checked(&DeploySettings::reference(), Target::Gke).unwrap();
//! assert!(rendered.yaml.contains("iam.gke.io/gcp-service-account"));
//! assert!(rendered.audit.outcome.findings.iter().all(|f| f.status != cockpit_core::Status::Fail));
//!
//! let zero = DeploySettings { replicas: 0, ..DeploySettings::reference() };
//! let refused = render_checked(&zero, Target::Gke).unwrap_err();
//! assert!(refused.to_string().contains("CMP-WARM"), "{refused}");
//! ```
//!
//! What it never does: write a Secret's value (the Redis URL is a
//! `secretKeyRef`), mount a key file, or render a privileged field.

mod apply;
pub mod cloud_run;
mod render;
pub(crate) mod watch;

use serde::Deserialize;

use cockpit_core::Status;

use crate::{K8sAudit, K8sConfig, K8sError};

pub use apply::{Applied, ApplyMode, apply, changes};
pub use cloud_run::KnativeService;
/// The Kubernetes client the functions here take (from [`crate::connect`]).
pub use kube::Client;
pub use render::{FIELD_MANAGER, GSA_ANNOTATION, Object, render, to_yaml};
pub use watch::{Rollout, WatchEnd, progress, watch_rollout};

/// Where the rendered objects run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// GKE (Autopilot-compatible): ServiceAccount, Deployment, HPA, PDB,
    /// Service of type LoadBalancer.
    Gke,
    /// Cloud Run: one Knative `serving.knative.dev/v1` Service for
    /// `gcloud run services replace`.
    CloudRun,
}

impl Target {
    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Target::Gke => "gke",
            Target::CloudRun => "cloud-run",
        }
    }
}

/// `[deploy]`: what to deploy and how. Unknown keys are rejected.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeploySettings {
    /// Name of every rendered object (and the `app` label).
    pub name: String,
    /// Namespace (GKE) of every rendered object.
    pub namespace: String,
    /// Container image, pinned by digest (`repo@sha256:…`).
    pub image: String,
    /// Warm replicas: the HPA's `minReplicas` (GKE) or `minScale` (Cloud Run).
    pub replicas: u32,
    /// Ceiling: the HPA's `maxReplicas` or Cloud Run's `maxScale`.
    pub max_replicas: u32,
    /// CPU request (and limit, as Autopilot sets them equal), a quantity.
    pub cpu: String,
    /// Memory request and limit, a quantity (`8Gi`).
    pub memory: String,
    /// HPA target CPU utilisation, percent.
    pub target_cpu_percent: u32,
    /// Cloud Run region (`cloud.googleapis.com/location`).
    pub region: Option<String>,
    /// A `[[retrieval]]` entry whose zone the replicas should prefer
    /// (regional affinity); the caller resolves it into `affinity_zone`.
    pub near_retrieval: Option<String>,
    /// The zone the replicas prefer (set from `near_retrieval` by the CLI).
    #[serde(skip)]
    pub affinity_zone: Option<String>,
    /// Kubernetes ServiceAccount the pods run as (default: `name`).
    pub ksa: Option<String>,
    /// Google service account bound through Workload Identity
    /// (`NAME@PROJECT.iam.gserviceaccount.com`).
    pub gsa: String,
    /// Secret (GKE) or Secret Manager secret (Cloud Run) holding the Redis URL.
    pub redis_secret: Option<String>,
    /// Key (GKE) or version (Cloud Run) in `redis_secret`.
    pub redis_secret_key: String,
    /// Container port the agent listens on.
    pub port: u16,
    /// Port of the LoadBalancer Service.
    pub service_port: u16,
    /// Liveness and startup probe path.
    pub health_path: String,
    /// Readiness probe path.
    pub ready_path: String,
    /// Path of the OpenAI-style chat endpoint the warm-up prompts go to.
    pub chat_path: String,
    /// Prompts sent by the postStart hook before the pod can be Ready, so
    /// the KV / prefix cache is hot (empty: no hook).
    pub warmup_prompts: Vec<String>,
    /// Cloud Run: requests one instance serves at once.
    pub concurrency: u32,
    /// GKE Autopilot compute class (`cloud.google.com/compute-class`), if any.
    pub compute_class: Option<String>,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            name: String::new(),
            namespace: "default".into(),
            image: String::new(),
            replicas: 2,
            max_replicas: 10,
            cpu: "2".into(),
            memory: "4Gi".into(),
            target_cpu_percent: 70,
            region: None,
            near_retrieval: None,
            affinity_zone: None,
            ksa: None,
            gsa: String::new(),
            redis_secret: None,
            redis_secret_key: "url".into(),
            port: 8080,
            service_port: 80,
            health_path: "/healthz".into(),
            ready_path: "/ready".into(),
            chat_path: "/v1/chat/completions".into(),
            warmup_prompts: Vec::new(),
            concurrency: 80,
            compute_class: None,
        }
    }
}

/// The image of the reference agent's deployment. A fixture: the digest
/// names no published image.
pub const REFERENCE_IMAGE: &str = "us-docker.pkg.dev/agentops-demo/agents/reference-agent@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

impl DeploySettings {
    /// The reference agent's deployment (the testbed's agent behind a
    /// LoadBalancer): the demo and fixture of `deploy sovereign` without a
    /// configuration.
    pub fn reference() -> Self {
        DeploySettings {
            name: "reference-agent".into(),
            namespace: "agents".into(),
            image: REFERENCE_IMAGE.into(),
            replicas: 2,
            region: Some("us-central1".into()),
            gsa: "reference-agent@agentops-demo.iam.gserviceaccount.com".into(),
            redis_secret: Some("redis".into()),
            warmup_prompts: vec![
                "You are a support agent. Summarise the refund policy in one sentence.".into(),
            ],
            ..DeploySettings::default()
        }
    }

    /// The Kubernetes ServiceAccount the pods run as.
    pub fn ksa(&self) -> &str {
        self.ksa.as_deref().unwrap_or(&self.name)
    }

    /// Problems a renderer cannot work around: [`K8sError::DeployConfig`]
    /// naming the key. Settings that render but would fail a check are
    /// refused by [`render_checked`] instead, naming the check.
    pub fn validate(&self) -> Result<(), K8sError> {
        let bad = |key: &'static str, message: String| Err(K8sError::DeployConfig { key, message });
        for (key, v) in [("name", &self.name), ("namespace", &self.namespace)] {
            if !is_dns_label(v) {
                return bad(
                    key,
                    format!(
                        "`{v}` is not a DNS label (a-z, 0-9, '-', at most 63, starting with a letter)"
                    ),
                );
            }
        }
        if self.image.is_empty() {
            return bad(
                "image",
                "missing: the container image, pinned by digest (repo@sha256:…)".into(),
            );
        }
        if self.gsa.is_empty() {
            return bad("gsa", "missing: the Google service account bound through Workload Identity (NAME@PROJECT.iam.gserviceaccount.com)".into());
        }
        if let Some(k) = &self.ksa
            && !is_dns_label(k)
        {
            return bad("ksa", format!("`{k}` is not a DNS label"));
        }
        for (key, q) in [("cpu", &self.cpu), ("memory", &self.memory)] {
            if crate::checks::parse_quantity(q).is_none_or(|v| v <= 0.0) {
                return bad(key, format!("`{q}` is not a positive Kubernetes quantity"));
            }
        }
        if self.max_replicas == 0 || self.max_replicas > 1000 {
            return bad(
                "max_replicas",
                format!("must be 1..=1000, got {}", self.max_replicas),
            );
        }
        if !(1..=100).contains(&self.target_cpu_percent) {
            return bad(
                "target_cpu_percent",
                format!("must be 1..=100, got {}", self.target_cpu_percent),
            );
        }
        if !(1..=1000).contains(&self.concurrency) {
            return bad(
                "concurrency",
                format!("must be 1..=1000, got {}", self.concurrency),
            );
        }
        for (key, p) in [("port", self.port), ("service_port", self.service_port)] {
            if p == 0 {
                return bad(key, "must be 1..=65535".into());
            }
        }
        for (key, p) in [
            ("health_path", &self.health_path),
            ("ready_path", &self.ready_path),
            ("chat_path", &self.chat_path),
        ] {
            if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return bad(key, format!("`{p}` is not an absolute URL path"));
            }
        }
        if self.warmup_prompts.len() > MAX_WARMUP_PROMPTS
            || self
                .warmup_prompts
                .iter()
                .any(|p| p.len() > MAX_WARMUP_PROMPT_BYTES)
        {
            return bad(
                "warmup_prompts",
                format!(
                    "at most {MAX_WARMUP_PROMPTS} prompts of at most {MAX_WARMUP_PROMPT_BYTES} bytes each"
                ),
            );
        }
        Ok(())
    }
}

/// Bounds on the warm-up prompts: they are written into the pod spec.
pub const MAX_WARMUP_PROMPTS: usize = 16;
pub const MAX_WARMUP_PROMPT_BYTES: usize = 2048;

/// An RFC 1123 label that starts with a letter.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What [`render_checked`] produced: the objects as one multi-document
/// YAML text, and this crate's audit of it (0 fails, or it is refused).
#[derive(Debug)]
pub struct Rendered {
    pub target: Target,
    /// The objects, in apply order.
    pub objects: Vec<Object>,
    /// The same objects as multi-document YAML.
    pub yaml: String,
    /// The audit of `yaml` by the Compute and CI/CD checks.
    pub audit: K8sAudit,
}

impl Rendered {
    /// The file name `--render DIR` writes (`gke.yaml`, `cloud-run.yaml`).
    pub fn file_name(&self) -> String {
        format!("{}.yaml", self.target.name())
    }
}

/// Validate, render, and audit the result with the crate's own checks; a
/// failing (or erroring) check refuses the settings with
/// [`K8sError::Refused`], naming every check that would fail.
pub fn render_checked(s: &DeploySettings, target: Target) -> Result<Rendered, K8sError> {
    s.validate()?;
    let objects = render(s, target)?;
    let yaml = to_yaml(&objects)?;
    let cfg = K8sConfig {
        agents: vec![s.name.clone()],
        ..K8sConfig::default()
    };
    let path = format!("{}.yaml", target.name());
    let audit = crate::audit_manifest_text(&path, &yaml, &cfg);
    let failing: Vec<_> = audit
        .outcome
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .collect();
    if !failing.is_empty() {
        let checks: Vec<String> = failing.iter().map(|f| f.check_id.to_string()).collect();
        let why: Vec<String> = failing
            .iter()
            .map(|f| format!("{}: {}", f.check_id, f.summary))
            .collect();
        return Err(K8sError::Refused {
            checks: checks.join(", "),
            message: why.join("; "),
        });
    }
    Ok(Rendered {
        target,
        objects,
        yaml,
        audit,
    })
}
