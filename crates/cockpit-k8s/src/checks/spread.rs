//! CMP-SPREAD: replicas spread across zones. Live: the zones of the Ready
//! pods (their nodes' `topology.kubernetes.io/zone`); manifests:
//! `topologySpreadConstraints` or pod anti-affinity on the zone label, and
//! a `nodeSelector` pinning every replica to one zone.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};

use super::{read, warm};
use crate::object::{Inventory, Workload};
use crate::placement::{ZONE_LABELS, declared_zones, live_zones};

pub const CMP_SPREAD: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-SPREAD"),
    pillar: Pillar::Compute,
    severity: Severity::High,
    title: "Replicas spread across zones",
};

/// `None` for workloads with fewer than 2 replicas, and Cloud Run (regional).
pub fn evaluate(w: &Workload, inv: &Inventory) -> Option<Finding> {
    if w.is_knative() {
        return None;
    }
    let (min, _, _) = warm::min_replicas(w, inv).ok()?;
    if min < 2 {
        return None;
    }
    Some(if inv.live {
        live(w, inv)
    } else {
        declared(w, min)
    })
}

const REC: &str = "Add a topologySpreadConstraint on topology.kubernetes.io/zone (maxSkew: 1) and do not pin replicas to one zone.";

/// Live: the zones of the nodes the Ready pods run on.
fn live(w: &Workload, inv: &Inventory) -> Finding {
    let zones = live_zones(w, inv);
    let pods: u32 = zones.values().sum();
    let f = match zones.len() {
        0 => CMP_SPREAD.finding(
            Status::NotMeasured,
            "not measured: no Ready pod on a node with a zone label (or nodes not readable)",
        ),
        1 => {
            let (z, n) = zones.iter().next().expect("one zone");
            CMP_SPREAD
                .finding(Status::Fail, format!("all {n} Ready pods run in one zone ({z}): a zone outage takes the agent down"))
                .with_recommendation(REC)
        }
        _ => CMP_SPREAD.finding(
            Status::Pass,
            format!(
                "Ready pods in {} zones ({})",
                zones.len(),
                zones
                    .iter()
                    .map(|(z, n)| format!("{z}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    w.origin.locate(f.with_measurement(Measurement::new(
        "zones",
        zones.len() as f64,
        Unit::Count,
        "distinct topology.kubernetes.io/zone labels of the nodes of Ready pods",
        u64::from(pods),
    )))
}

/// Manifests: zones pinned by node selection, or spread constraints.
fn declared(w: &Workload, min: i64) -> Finding {
    let pinned = declared_zones(w);
    let spec = w.template.spec.as_ref();
    let constraint = spec
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| ZONE_LABELS.contains(&c.topology_key.as_str()))
        });
    let anti = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .is_some_and(|pa| {
            pa.required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .any(|t| ZONE_LABELS.contains(&t.topology_key.as_str()))
                || pa
                    .preferred_during_scheduling_ignored_during_execution
                    .iter()
                    .flatten()
                    .any(|t| ZONE_LABELS.contains(&t.pod_affinity_term.topology_key.as_str()))
        });
    let f = if pinned.len() == 1 {
        let z = pinned.iter().next().expect("one zone");
        CMP_SPREAD
            .finding(
                Status::Fail,
                format!("{min} replicas pinned to one zone ({z}) by nodeSelector/affinity"),
            )
            .with_recommendation(REC)
    } else if constraint || anti {
        CMP_SPREAD.finding(
            Status::Pass,
            format!(
                "{min} replicas spread by {}",
                if constraint {
                    "a zone topologySpreadConstraint"
                } else {
                    "zone pod anti-affinity"
                }
            ),
        )
    } else {
        CMP_SPREAD
            .finding(Status::Warn, format!("{min} replicas and nothing spreads them across zones: the scheduler may place them all in one"))
            .with_recommendation(REC)
    };
    w.origin.locate_at(
        f.with_measurement(read(
            "declared_zones",
            pinned.len() as f64,
            Unit::Count,
            "zones named by nodeSelector / required node affinity",
        )),
        if pinned.len() == 1 {
            "topology.kubernetes.io/zone"
        } else {
            "spec:"
        },
    )
}

use cockpit_core::Measurement;
