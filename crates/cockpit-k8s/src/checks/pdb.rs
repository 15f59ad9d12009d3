//! CMP-PDB: a PodDisruptionBudget for every replicated workload, so node
//! upgrades and scale-downs never take all warm replicas at once; and one
//! that still allows a disruption (`status.disruptionsAllowed` > 0), so it
//! does not block node drains for ever.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{read, warm};
use crate::object::{Inventory, Workload, selector_matches};

pub const CMP_PDB: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-PDB"),
    pillar: Pillar::Compute,
    severity: Severity::High,
    title: "PodDisruptionBudget for replicated workloads",
};

/// `None` for workloads that are not replicated (fewer than 2) or are Cloud Run.
pub fn evaluate(w: &Workload, inv: &Inventory) -> Option<Finding> {
    if w.is_knative() {
        return None;
    }
    let (min, _, _) = warm::min_replicas(w, inv).ok()?;
    if min < 2 {
        return None;
    }
    let labels = w.pod_labels();
    let pdb = inv.pdbs.iter().find(|(o, p)| {
        o.namespace == w.origin.namespace
            && p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|s| selector_matches(s, &labels))
    });
    let Some((po, p)) = pdb else {
        return Some(w.origin.locate(
            CMP_PDB
                .finding(Status::Fail, format!("{min} replicas and no PodDisruptionBudget selects its pods: a node upgrade may evict them all at once"))
                .with_recommendation("Add a PodDisruptionBudget (policy/v1) selecting the pods, with maxUnavailable: 1."),
        ));
    };
    let mut f;
    if let Some(allowed) = p
        .status
        .as_ref()
        .and_then(|s| s.disruptions_allowed)
        .filter(|_| inv.live)
    {
        f = if allowed == 0 {
            CMP_PDB
                .finding(Status::Warn, format!("{} allows 0 disruptions now: node drains are blocked", po.object_path()))
                .with_recommendation("Check the budget against the ready replicas (maxUnavailable: 1 keeps drains possible).")
        } else {
            CMP_PDB.finding(
                Status::Pass,
                format!("{} allows {allowed} disruption(s)", po.object_path()),
            )
        };
        f = f.with_measurement(read(
            "disruptions_allowed",
            allowed.into(),
            Unit::Count,
            "read from status.disruptionsAllowed (live)",
        ));
    } else {
        let spec = p.spec.clone().unwrap_or_default();
        let blocks = match (&spec.max_unavailable, &spec.min_available) {
            (Some(IntOrString::Int(0)), _) => true,
            (Some(IntOrString::String(s)), _) if s.trim() == "0%" => true,
            (_, Some(IntOrString::Int(n))) => i64::from(*n) >= min,
            (_, Some(IntOrString::String(s))) => s.trim() == "100%",
            _ => false,
        };
        f = if blocks {
            CMP_PDB
                .finding(Status::Warn, format!("{} allows no voluntary disruption with {min} replicas: node drains will block", po.object_path()))
                .with_recommendation("Use maxUnavailable: 1 (or minAvailable below the replica count).")
        } else {
            CMP_PDB.finding(
                Status::Pass,
                format!("{} covers its {min} replicas", po.object_path()),
            )
        };
    }
    Some(w.origin.locate(f))
}
