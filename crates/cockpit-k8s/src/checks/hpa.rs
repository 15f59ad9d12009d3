//! CMP-HPA: HorizontalPodAutoscalers — the target exists, `minReplicas`
//! keeps a warm spare, `maxReplicas` ≥ `minReplicas`, and the target does
//! not also pin `spec.replicas` (every `kubectl apply` would reset the
//! autoscaler's choice).

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use super::{join, read};
use crate::object::{Inventory, Origin};

pub const CMP_HPA: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-HPA"),
    pillar: Pillar::Compute,
    severity: Severity::Medium,
    title: "HorizontalPodAutoscaler sane",
};

pub fn evaluate((o, h): &(Origin, HorizontalPodAutoscaler), inv: &Inventory) -> Finding {
    let spec = &h.spec;
    let target = &spec.scale_target_ref;
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    let mut status = Status::Pass;
    let mut issues = Vec::new();
    let found = inv.workloads.iter().find(|w| {
        w.origin.namespace == o.namespace
            && w.origin.name == target.name
            && w.origin.kind == target.kind
    });
    match found {
        None => {
            status = Status::Fail;
            issues.push(format!(
                "dangling target: {} {} is not {}",
                target.kind,
                target.name,
                if inv.live {
                    "in the namespace"
                } else {
                    "among the audited manifests"
                }
            ));
        }
        Some(w) if !inv.live && w.replicas.is_some() => {
            status = status.worst(Status::Warn);
            issues.push(format!(
                "{} also sets spec.replicas: every apply resets the autoscaler's replica count",
                w.origin.object_path()
            ));
        }
        _ => {}
    }
    if max < min {
        status = Status::Fail;
        issues.push(format!("maxReplicas {max} < minReplicas {min}"));
    }
    if min < 2 {
        status = status.worst(Status::Warn);
        issues.push(format!("minReplicas {min}: no warm spare"));
    }
    let f = if issues.is_empty() {
        CMP_HPA.finding(
            Status::Pass,
            format!(
                "scales {} {} between {min} and {max}",
                target.kind, target.name
            ),
        )
    } else {
        CMP_HPA.finding(status, join(&issues)).with_recommendation(
            "Point scaleTargetRef at an existing workload, set minReplicas ≥ 2, and drop spec.replicas from the target.",
        )
    };
    o.locate_at(
        f.with_measurement(read(
            "min_replicas",
            min.into(),
            Unit::Count,
            "read from spec.minReplicas (default 1)",
        ))
        .with_measurement(read(
            "max_replicas",
            max.into(),
            Unit::Count,
            "read from spec.maxReplicas",
        )),
        "scaleTargetRef",
    )
}

#[cfg(test)]
mod tests {
    use cockpit_core::Status;

    use crate::{K8sConfig, audit_manifest_text};

    fn verdict(target: &str, min: u32, max: u32, replicas: bool) -> (Status, String) {
        let replicas = if replicas { "  replicas: 3\n" } else { "" };
        let yaml = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: ns}}\nspec:\n{replicas}  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: a, image: x}}]\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web, namespace: ns}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}\n  minReplicas: {min}\n  maxReplicas: {max}\n"
        );
        let a = audit_manifest_text("t.yaml", &yaml, &K8sConfig::default());
        let f = a
            .outcome
            .findings
            .into_iter()
            .find(|f| f.check_id.as_str() == "CMP-HPA")
            .expect("a CMP-HPA finding");
        (f.status, f.summary)
    }

    #[test]
    fn the_worst_issue_decides() {
        assert_eq!(verdict("web", 2, 5, false).0, Status::Pass);
        // Both warnings: replicas set on the target, one warm replica.
        let (s, summary) = verdict("web", 1, 5, true);
        assert_eq!(s, Status::Warn, "{summary}");
        assert!(summary.contains("spec.replicas") && summary.contains("no warm spare"));
        // A dangling target (fail) with a warning after it stays a failure.
        let (s, summary) = verdict("gone", 1, 5, false);
        assert_eq!(s, Status::Fail, "{summary}");
        assert!(summary.contains("dangling") && summary.contains("no warm spare"));
        // max < min after a warning: fail.
        assert_eq!(verdict("web", 3, 2, true).0, Status::Fail);
    }
}
