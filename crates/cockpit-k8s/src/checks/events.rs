//! OBS-EVENTS: Warning events on the audited namespace's objects
//! (FailedScheduling, BackOff, Unhealthy, FailedMount,
//! SyncLoadBalancerFailed, …), grouped by object and reason. A warning that
//! repeated fails; a single one warns. Live clusters only.

use std::collections::BTreeMap;

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use crate::object::Inventory;

pub const OBS_EVENTS: CheckSpec = CheckSpec {
    id: CheckId::new("OBS-EVENTS"),
    pillar: Pillar::Observability,
    severity: Severity::Medium,
    title: "Warning events",
};

/// How many times an event happened (`series.count`, else `count`, else 1).
pub fn occurrences(e: &k8s_openapi::api::core::v1::Event) -> i64 {
    e.series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .map(i64::from)
        .unwrap_or(1)
        .max(1)
}

/// (namespace, kind, name, reason) of the involved object.
type EventKey = (Option<String>, String, String, String);

pub fn evaluate(inv: &Inventory) -> Vec<Finding> {
    // Occurrences and the latest message, per object and reason.
    let mut groups: BTreeMap<EventKey, (i64, String)> = BTreeMap::new();
    let mut read = 0u64;
    for e in &inv.events {
        read += 1;
        if e.type_.as_deref() != Some("Warning") {
            continue;
        }
        let o = &e.involved_object;
        let key = (
            o.namespace.clone(),
            o.kind.clone().unwrap_or_default(),
            o.name.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
        );
        let entry = groups.entry(key).or_insert((0, String::new()));
        entry.0 += occurrences(e);
        if let Some(m) = &e.message {
            entry.1 = m.chars().take(240).collect();
        }
    }
    if groups.is_empty() {
        return vec![OBS_EVENTS
            .finding(Status::Pass, format!("no Warning events among {read} events"))
            .with_measurement(Measurement::new("warning_events", 0.0, Unit::Count, "Warning events listed in the namespace (events expire after the API server's event TTL, 1 h by default)", read))];
    }
    groups
        .into_iter()
        .map(|((ns, kind, name, reason), (count, message))| {
            let status = if count > 1 { Status::Fail } else { Status::Warn };
            OBS_EVENTS
                .finding(status, format!("{reason} ×{count}: {message}"))
                .with_subject(match &ns {
                    Some(n) => format!("{n}/{kind}/{name}"),
                    None => format!("{kind}/{name}"),
                })
                .with_location(Location::Object { namespace: ns, kind, name })
                .with_measurement(Measurement::new("occurrences", count as f64, Unit::Count, "sum of the events' series.count / count (live)", read))
                .with_recommendation("Fix the cause the event names (scheduling capacity, image pulls, failing probes, load balancer quota).")
        })
        .collect()
}
