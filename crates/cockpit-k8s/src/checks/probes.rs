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
