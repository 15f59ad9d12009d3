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
