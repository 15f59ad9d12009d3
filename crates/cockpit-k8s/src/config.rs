//! `[kubernetes]` in `cockpit.toml`: what to audit and the bounds to judge it
//! by. Unknown keys are rejected so a typo is an error, not a silent default.

use std::time::Duration;

use serde::Deserialize;

/// Settings of the Compute and CI/CD audit.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct K8sConfig {
    /// kubeconfig context of the live cluster to audit; `None` with
    /// `namespace` set uses the current context.
    pub context: Option<String>,
    /// Namespace of the live audit (namespaced objects are listed there).
    pub namespace: Option<String>,
    /// Glob patterns of manifest files (`deploy/**/*.yaml`) for the offline audit.
    pub manifests: Vec<String>,
    /// Cloud Run service exports (`gcloud run services describe --format export`).
    pub cloud_run: Vec<String>,
    /// CI pipeline files or directories (`.github/workflows`, `.gitlab-ci.yml`).
    pub pipelines: Vec<String>,
    /// Workload names that are agents (model-serving or reasoning); added to
    /// the label-based detection (`app.kubernetes.io/component: agent`).
    pub agents: Vec<String>,
    /// Workload names that are retrieval backends (vector stores).
    pub retrieval: Vec<String>,
    /// CMP-RES: memory request below which an agent container warns, MiB.
    pub memory_floor_mib: u64,
    /// CMP-READY: slowest pod start-to-ready above which a workload fails, seconds.
    pub ready_threshold_s: f64,
    /// Timeout of each Kubernetes API call, seconds.
    pub request_timeout_s: f64,
    /// NET-LB: how long a live audit polls a pending LoadBalancer for its
    /// address before judging it, seconds (0: judge what the API says now).
    pub lb_wait_s: f64,
}

impl Default for K8sConfig {
    fn default() -> Self {
        K8sConfig {
            context: None,
            namespace: None,
            manifests: Vec::new(),
            cloud_run: Vec::new(),
            pipelines: Vec::new(),
            agents: Vec::new(),
            retrieval: Vec::new(),
            memory_floor_mib: 1024,
            ready_threshold_s: 12.0,
            request_timeout_s: 10.0,
            lb_wait_s: 0.0,
        }
    }
}

impl K8sConfig {
    /// Timeout of each API call.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_s.clamp(0.001, 3600.0))
    }

    /// Whether a live cluster audit is asked for.
    pub fn live(&self) -> bool {
        self.context.is_some() || self.namespace.is_some()
    }

    /// Problems with the values, as `(key, message)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            ("ready_threshold_s", self.ready_threshold_s),
            ("request_timeout_s", self.request_timeout_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err((
                    key,
                    format!("kubernetes.{key} must be a positive number, got {v}"),
                ));
            }
        }
        if !(self.lb_wait_s.is_finite() && (0.0..=3600.0).contains(&self.lb_wait_s)) {
            return Err((
                "lb_wait_s",
                format!(
                    "kubernetes.lb_wait_s must be 0..=3600, got {}",
                    self.lb_wait_s
                ),
            ));
        }
        if self.memory_floor_mib == 0 {
            return Err((
                "memory_floor_mib",
                "kubernetes.memory_floor_mib must be positive".into(),
            ));
        }
        Ok(())
    }
}
