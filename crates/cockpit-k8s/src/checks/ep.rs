//! NET-EP: ready endpoints behind each selector Service, from its
//! EndpointSlices (`kubernetes.io/service-name` label; an endpoint whose
//! `conditions.ready` is unset counts as ready, as the API says). Live only.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use k8s_openapi::api::core::v1::Service;

use crate::object::{Inventory, Origin};

pub const NET_EP: CheckSpec = CheckSpec {
    id: CheckId::new("NET-EP"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "Ready endpoints behind the Service",
};

/// `None` for Services without a selector (ExternalName, manual endpoints).
pub fn evaluate((o, s): &(Origin, Service), inv: &Inventory) -> Option<Finding> {
    let spec = s.spec.as_ref()?;
    if spec.selector.as_ref().is_none_or(|m| m.is_empty()) {
        return None;
    }
    let mut ready = 0u64;
    let mut total = 0u64;
    for slice in &inv.endpoint_slices {
        let owns = slice.metadata.namespace == o.namespace
            && slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .is_some_and(|n| *n == o.name);
        if !owns {
            continue;
        }
        for ep in slice.endpoints.iter().flatten() {
            total += 1;
            if ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                ready += 1;
            }
        }
    }
    let f = match ready {
        0 => NET_EP
            .finding(
                Status::Fail,
                format!("no ready endpoint ({total} endpoints): every request fails"),
            )
            .with_recommendation(
                "Check that the selector matches the pods and that their readiness probes pass.",
            ),
        1 => NET_EP
            .finding(Status::Warn, "1 ready endpoint: no spare while it restarts")
            .with_recommendation("Run at least 2 ready replicas behind the Service."),
        n => NET_EP.finding(Status::Pass, format!("{n} ready endpoints")),
    };
    Some(o.locate(f.with_measurement(Measurement::new(
        "ready_endpoints",
        ready as f64,
        Unit::Count,
        "endpoints with conditions.ready not false in the Service's EndpointSlices (live)",
        total,
    ))))
}
