//! NET-LB: a Service of type LoadBalancer has its external address
//! (`status.loadBalancer.ingress[].ip` / `hostname`). Pending for under
//! 5 minutes warns (provisioning takes a while), over 10 minutes or with a
//! `SyncLoadBalancerFailed` event fails. Live only; the polling itself is
//! [`crate::poll_external_ip`].

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;

use crate::object::{Inventory, Origin};

pub const NET_LB: CheckSpec = CheckSpec {
    id: CheckId::new("NET-LB"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "LoadBalancer external address",
};

/// Pending this long warns; longer than [`FAIL_AFTER_S`] fails.
pub const WARN_UNDER_S: f64 = 300.0;
pub const FAIL_AFTER_S: f64 = 600.0;

/// The first address in `status.loadBalancer.ingress`.
pub fn address(s: &Service) -> Option<String> {
    s.status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
}

/// Reasons of Warning events that mean the load balancer could not be made.
pub const FAILURE_REASONS: [&str; 3] = [
    "SyncLoadBalancerFailed",
    "CreatingLoadBalancerFailed",
    "LoadBalancerUpdateFailed",
];

/// `None` for Services that are not of type LoadBalancer.
pub fn evaluate(
    (o, s): &(Origin, Service),
    inv: &Inventory,
    now: Option<Timestamp>,
) -> Option<Finding> {
    if s.spec.as_ref()?.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    if let Some(p) = inv.lb_polls.get(&o.name) {
        return Some(o.locate(from_poll(p)));
    }
    let failures: Vec<String> = inv
        .events
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Service")
                && e.involved_object.name.as_deref() == Some(o.name.as_str())
                && e.reason
                    .as_deref()
                    .is_some_and(|r| FAILURE_REASONS.contains(&r))
        })
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default()
            )
        })
        .collect();
    let age = match (now, s.metadata.creation_timestamp.as_ref()) {
        (Some(now), Some(c)) => Some(now.duration_since(c.0).as_secs_f64().max(0.0)),
        _ => None,
    };
    let f = if let Some(addr) = address(s) {
        NET_LB.finding(Status::Pass, format!("external address {addr}"))
    } else if !failures.is_empty() {
        NET_LB
            .finding(
                Status::Fail,
                format!("no external address; {}", failures.join("; ")),
            )
            .with_recommendation(
                "Fix what the event names (quota, subnet, annotations), then recreate the Service.",
            )
    } else {
        match age {
            Some(a) if a > FAIL_AFTER_S => NET_LB
                .finding(
                    Status::Fail,
                    format!("no external address {a:.0} s after creation (> {FAIL_AFTER_S:.0} s)"),
                )
                .with_recommendation(
                    "Check the Service's events and the cloud provider's load balancer quota.",
                ),
            Some(a) => NET_LB
                .finding(
                    Status::Warn,
                    format!(
                        "no external address yet, {a:.0} s after creation (still provisioning?)"
                    ),
                )
                .with_recommendation("Poll again; provisioning usually takes under 5 minutes."),
            None => NET_LB
                .finding(Status::Warn, "no external address yet")
                .with_recommendation("Poll again; provisioning usually takes under 5 minutes."),
        }
    };
    let f = match age {
        Some(a) => f.with_measurement(Measurement::new("service_age", a, Unit::Seconds, "local clock now minus metadata.creationTimestamp (clock skew with the API server included)", 1)),
        None => f,
    };
    Some(o.locate(f))
}

/// The finding of a [`crate::poll_external_ip`] run.
pub fn from_poll(p: &crate::LbPoll) -> Finding {
    let secs = p.elapsed.as_secs_f64();
    let method = format!(
        "GET of the Service every {}–{} ms (doubling backoff) until status.loadBalancer.ingress had an address, {} polls",
        crate::lb::FIRST_BACKOFF.as_millis(),
        crate::lb::MAX_BACKOFF.as_millis(),
        p.polls
    );
    let f = match &p.address {
        Some(a) => NET_LB.finding(
            Status::Pass,
            format!("external address {a} after {secs:.1} s"),
        ),
        None => {
            let failed = p
                .events
                .iter()
                .any(|e| FAILURE_REASONS.iter().any(|r| e.starts_with(r)));
            let events = if p.events.is_empty() {
                "no events for the Service".to_string()
            } else {
                format!("events: {}", p.events.join("; "))
            };
            NET_LB
                .finding(
                    if failed || secs > FAIL_AFTER_S { Status::Fail } else { Status::Warn },
                    format!("no external address after {secs:.1} s of polling; {events}"),
                )
                .with_recommendation("Fix what the events name (quota, subnet, annotations); provisioning usually takes under 5 minutes.")
        }
    };
    f.with_measurement(Measurement::new(
        if p.address.is_some() {
            "time_to_external_address"
        } else {
            "waited_without_address"
        },
        secs,
        Unit::Seconds,
        method,
        u64::from(p.polls),
    ))
}
