//! NET-LB: a Service of type LoadBalancer has its external address
//! (`status.loadBalancer.ingress[].ip` / `hostname`). A pending Service is
//! judged by its age — `metadata.creationTimestamp` to now, or to when a
//! poll gave up, never by how long this audit polled: up to 10 minutes
//! warns (provisioning takes a while), older or with a
//! `SyncLoadBalancerFailed` event fails. An address seen appearing is timed
//! from the Service's creation; one already there is not timed. Live only;
//! the polling itself is [`crate::poll_external_ip`].

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
        // The list showed no address, so any address the poll got appeared since.
        let seen_pending = address(s).is_none() || p.polls > 1;
        return Some(o.locate(judge_poll(p, seen_pending)));
    }
    let f = if let Some(addr) = address(s) {
        NET_LB.finding(
            Status::Pass,
            format!("external address {addr} (already assigned when read: the time to it is not measured)"),
        )
    } else {
        let failures = failure_events(inv, &o.name);
        let age = match (now, s.metadata.creation_timestamp.as_ref()) {
            (Some(now), Some(c)) => Some(age_s(c.0, now)),
            _ => None,
        };
        pending(age, &failures, None)
    };
    Some(o.locate(f))
}

/// Seconds from `created` to `at` (never negative).
fn age_s(created: Timestamp, at: Timestamp) -> f64 {
    at.duration_since(created).as_secs_f64().max(0.0)
}

/// The Service's Warning events that mean the load balancer could not be made.
fn failure_events(inv: &Inventory, name: &str) -> Vec<String> {
    inv.events
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Service")
                && e.involved_object.name.as_deref() == Some(name)
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
        .collect()
}

const AGE_METHOD: &str = "local clock minus the Service's metadata.creationTimestamp (API server clock; skew between the two included)";

/// The verdict on a Service with no address, judged by its age (creation to
/// now, however long anyone polled) and its failure events. `polled` says
/// how long this audit watched it, for the summary.
fn pending(age: Option<f64>, failures: &[String], polled: Option<&str>) -> Finding {
    let watched = polled.map(|p| format!(" ({p})")).unwrap_or_default();
    let f = if !failures.is_empty() {
        NET_LB
            .finding(
                Status::Fail,
                format!("no external address{watched}; {}", failures.join("; ")),
            )
            .with_recommendation(
                "Fix what the event names (quota, subnet, annotations), then recreate the Service.",
            )
    } else {
        match age {
            Some(a) if a > FAIL_AFTER_S => NET_LB
                .finding(
                    Status::Fail,
                    format!("no external address {a:.0} s after creation (> {FAIL_AFTER_S:.0} s){watched}"),
                )
                .with_recommendation(
                    "Check the Service's events and the cloud provider's load balancer quota.",
                ),
            Some(a) => NET_LB
                .finding(
                    Status::Warn,
                    format!(
                        "no external address yet, {a:.0} s after creation (still provisioning?){watched}"
                    ),
                )
                .with_recommendation("Poll again; provisioning usually takes under 5 minutes."),
            None => NET_LB
                .finding(Status::Warn, format!("no external address yet (the Service's age is unknown){watched}"))
                .with_recommendation("Poll again; provisioning usually takes under 5 minutes."),
        }
    };
    match age {
        Some(a) => f.with_measurement(Measurement::new(
            "service_age",
            a,
            Unit::Seconds,
            AGE_METHOD,
            1,
        )),
        None => f,
    }
}

/// The finding of a [`crate::poll_external_ip`] run. A pending Service is
/// judged by its age when the poll gave up (creation to then), exactly as
/// without polling; an address the poll saw appear (after a GET without
/// one) is timed from the Service's creation to the GET that saw it; one
/// there at the first GET is not timed.
pub fn from_poll(p: &crate::LbPoll) -> Finding {
    judge_poll(p, p.polls > 1)
}

/// [`from_poll`], knowing whether the Service was seen without an address
/// before the poll got one.
fn judge_poll(p: &crate::LbPoll, seen_pending: bool) -> Finding {
    let secs = p.elapsed.as_secs_f64();
    let polling = format!(
        "GET of the Service every {}–{} ms (doubling backoff), {} polls over {secs:.1} s",
        crate::lb::FIRST_BACKOFF.as_millis(),
        crate::lb::MAX_BACKOFF.as_millis(),
        p.polls
    );
    let Some(a) = &p.address else {
        let failures: Vec<String> = p
            .events
            .iter()
            .filter(|e| FAILURE_REASONS.iter().any(|r| e.starts_with(r)))
            .cloned()
            .collect();
        // Without a creation time the Service is at least as old as the polling.
        let age = Some(p.created.map_or(secs, |c| age_s(c, p.observed_at)));
        let events = if p.events.is_empty() {
            "no events for the Service".to_string()
        } else {
            format!("events: {}", p.events.join("; "))
        };
        let f = pending(age, &failures, Some(&format!("polled {secs:.1} s; {events}")))
            .with_recommendation("Fix what the events name (quota, subnet, annotations); provisioning usually takes under 5 minutes.");
        return f.with_measurement(Measurement::new(
            "waited_without_address",
            secs,
            Unit::Seconds,
            polling,
            u64::from(p.polls),
        ));
    };
    match p.created.filter(|_| seen_pending) {
        Some(c) => {
            let took = age_s(c, p.observed_at);
            NET_LB
                .finding(
                    Status::Pass,
                    format!("external address {a}, seen {took:.1} s after the Service's creation (it appeared while polled)"),
                )
                .with_measurement(Measurement::new(
                    "time_to_external_address",
                    took,
                    Unit::Seconds,
                    format!("from metadata.creationTimestamp (API server clock) to the local clock at the first GET that returned an address, after the list or a GET without one; an upper bound by at most one backoff ({} ms): {polling}", crate::lb::MAX_BACKOFF.as_millis()),
                    1,
                ))
        }
        None => NET_LB.finding(
            Status::Pass,
            format!(
                "external address {a} (present at the first GET{}: the time to it is not measured)",
                if p.created.is_none() {
                    ", creation time unknown"
                } else {
                    ""
                }
            ),
        ),
    }
}
