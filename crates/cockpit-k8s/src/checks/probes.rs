//! CMP-PROBES: readiness, liveness and startup probes of every container.
//! Readiness is required behind a Service (traffic before the model is
//! loaded is a failed request); a liveness probe identical to the readiness
//! probe restarts a pod that is merely busy; a slow-loading agent needs a
//! startup probe so liveness does not kill it while the model loads.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::join;
use crate::object::{Inventory, Role, Workload};

pub const CMP_PROBES: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-PROBES"),
    pillar: Pillar::Compute,
    severity: Severity::High,
    title: "Startup, readiness and liveness probes",
};

pub fn evaluate(w: &Workload, inv: &Inventory) -> Finding {
    let behind_service = inv.services_of(w).next().is_some();
    let mut status = Status::Pass;
    let mut issues = Vec::new();
    if w.containers().is_empty() {
        return w.origin.locate(
            CMP_PROBES
                .finding(Status::Error, "the pod template has no containers")
                .with_recommendation("Add the containers to the pod template."),
        );
    }
    for c in w.containers() {
        let n = Workload::container_name(c);
        if !w.is_knative() {
            match (&c.readiness_probe, behind_service) {
                (None, true) => {
                    status = status.worst(Status::Fail);
                    issues.push(format!(
                        "{n}: no readinessProbe, yet a Service sends it traffic"
                    ));
                }
                (None, false) => {
                    status = status.worst(Status::Warn);
                    issues.push(format!("{n}: no readinessProbe"));
                }
                _ => {}
            }
        }
        match (&c.liveness_probe, &c.readiness_probe) {
            (None, _) => {
                status = status.worst(Status::Warn);
                issues.push(format!("{n}: no livenessProbe"));
            }
            (Some(l), Some(r)) if l == r => {
                status = status.worst(Status::Fail);
                issues.push(format!(
                    "{n}: livenessProbe is identical to readinessProbe (a busy pod is restarted instead of taken out of rotation)"
                ));
            }
            _ => {}
        }
        if w.role == Role::Agent && c.startup_probe.is_none() {
            status = status.worst(Status::Warn);
            issues.push(format!(
                "{n}: no startupProbe for a model-serving agent (model loading races the liveness probe)"
            ));
        }
    }
    let containers = w.containers().len();
    let f = if issues.is_empty() {
        CMP_PROBES.finding(
            Status::Pass,
            format!("probes set on all {containers} container(s)"),
        )
    } else {
        CMP_PROBES.finding(status, join(&issues)).with_recommendation(
            "Give each container a readinessProbe on the endpoint that answers once the model is loaded, a different (cheaper) livenessProbe, and a startupProbe whose failureThreshold × periodSeconds covers model loading.",
        )
    };
    w.origin.locate_at(f, "containers:")
}

#[cfg(test)]
mod tests {
    use cockpit_core::Status;

    use crate::{K8sConfig, audit_manifest_text};

    fn verdict(containers: &str, service: bool) -> (Status, String) {
        let mut yaml = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: ns}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: {containers}\n"
        );
        if service {
            yaml.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n");
        }
        let a = audit_manifest_text("t.yaml", &yaml, &K8sConfig::default());
        let f = a
            .outcome
            .findings
            .into_iter()
            .find(|f| f.check_id.as_str() == "CMP-PROBES")
            .expect("a CMP-PROBES finding");
        (f.status, f.summary)
    }

    #[test]
    fn the_worst_issue_decides_and_every_issue_is_named() {
        let probe = "{httpGet: {path: /ready, port: 80}}";
        let live = "{httpGet: {path: /live, port: 80}}";
        let both =
            format!("[{{name: a, image: x, readinessProbe: {probe}, livenessProbe: {live}}}]");
        assert_eq!(verdict(&both, true).0, Status::Pass);
        // No readiness probe behind a Service (fail), then no liveness (warn): fail.
        let (s, summary) = verdict("[{name: a, image: x}]", true);
        assert_eq!(s, Status::Fail, "{summary}");
        assert!(summary.contains("no readinessProbe") && summary.contains("no livenessProbe"));
        // Without a Service, both are warnings.
        assert_eq!(verdict("[{name: a, image: x}]", false).0, Status::Warn);
        // A warning in one container and a failure in the next: fail.
        let mixed = format!(
            "[{{name: a, image: x, readinessProbe: {probe}}}, {{name: b, image: x, readinessProbe: {probe}, livenessProbe: {probe}}}]"
        );
        let (s, summary) = verdict(&mixed, false);
        assert_eq!(s, Status::Fail, "{summary}");
        assert!(summary.contains("identical"), "{summary}");
        assert_eq!(verdict("[]", false).0, Status::Error);
    }
}
