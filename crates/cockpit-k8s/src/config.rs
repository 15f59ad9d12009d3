//! `[kubernetes]` in `cockpit.toml`: what to audit and the bounds to judge it
//! by. Unknown keys are rejected so a typo is an error, not a silent default.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::K8sError;
use crate::input::resolve;

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
    /// CIC-GATE: what a pipeline's certify is held to. Not a `[kubernetes]`
    /// key: the caller sets it from the gate's policy
    /// (`[gate] min_pipeline_threshold`).
    #[serde(skip)]
    pub gate_rules: crate::checks::gate::GateRules,
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
            gate_rules: crate::checks::gate::GateRules::default(),
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

    /// Problems with the values: [`K8sError::Config`] naming the key.
    pub fn validate(&self) -> Result<(), K8sError> {
        let bad = |key: &'static str, message: String| Err(K8sError::Config { key, message });
        for (key, v) in [
            ("ready_threshold_s", self.ready_threshold_s),
            ("request_timeout_s", self.request_timeout_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(key, format!("must be a positive number, got {v}"));
            }
        }
        if !(self.lb_wait_s.is_finite() && (0.0..=3600.0).contains(&self.lb_wait_s)) {
            return bad(
                "lb_wait_s",
                format!("must be 0..=3600, got {}", self.lb_wait_s),
            );
        }
        if self.memory_floor_mib == 0 {
            return bad("memory_floor_mib", "must be positive".into());
        }
        Ok(())
    }

    /// The files of `manifests`, `cloud_run` and `pipelines`: patterns,
    /// directories and files expanded with the bounds of [`crate::input`]
    /// (symbolic-link loops not entered, each file once, only regular files
    /// within the size limits). A pattern matching nothing is
    /// [`K8sError::NoMatch`]: a caller can resolve the inputs first and
    /// refuse a bad command line before anything runs.
    pub fn resolve_inputs(&self) -> Result<Inputs, K8sError> {
        let mut skipped = Vec::new();
        let mut files = |patterns: &[String]| {
            resolve(patterns).map(|r| {
                skipped.extend(r.skipped);
                r.files
            })
        };
        let (manifests, cloud_run, pipelines) = (
            files(&self.manifests)?,
            files(&self.cloud_run)?,
            files(&self.pipelines)?,
        );
        Ok(Inputs {
            manifests,
            cloud_run,
            pipelines,
            skipped,
        })
    }
}

/// The input files of an audit, resolved by [`K8sConfig::resolve_inputs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub manifests: Vec<PathBuf>,
    pub cloud_run: Vec<PathBuf>,
    pub pipelines: Vec<PathBuf>,
    /// Entries of walked directories left out as not regular files
    /// (`(path, what it is)`); the audit reports each as skipped.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_key() {
        let bad = K8sConfig {
            request_timeout_s: f64::NAN,
            ..K8sConfig::default()
        };
        match bad.validate() {
            Err(K8sError::Config { key, message }) => {
                assert_eq!(key, "request_timeout_s");
                assert!(message.contains("positive"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let bad = K8sConfig {
            lb_wait_s: 4000.0,
            ..K8sConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(K8sError::Config {
                key: "lb_wait_s",
                ..
            })
        ));
        assert!(K8sConfig::default().validate().is_ok());
    }
}
