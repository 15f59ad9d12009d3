//! CMP-READY: measured pod start-to-ready time (Time-to-Reasoning on a live
//! cluster) — from each pod's `metadata.creationTimestamp` to the
//! `lastTransitionTime` of its `Ready=True` condition: scheduling, image
//! pull, container start and model load, as a scale-up experiences them.
//! CMP-TTR (cockpit-probe) measures the first request's TTFT from outside;
//! this measures the pods from the API.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use k8s_openapi::api::core::v1::Pod;

use crate::object::{Inventory, Workload};

pub const CMP_READY: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-READY"),
    pillar: Pillar::Compute,
    severity: Severity::High,
    title: "Pod start-to-ready time",
};

/// Seconds from creation to Ready, when the pod is Ready.
pub fn start_to_ready(p: &Pod) -> Option<f64> {
    let created = p.metadata.creation_timestamp.as_ref()?.0;
    let ready = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()?
        .0;
    Some(ready.duration_since(created).as_secs_f64().max(0.0))
}

/// `None` when the workload has no pods (nothing to time).
pub fn evaluate(w: &Workload, inv: &Inventory, threshold_s: f64) -> Option<Finding> {
    let pods: Vec<&Pod> = inv.pods_of(w).collect();
    if pods.is_empty() {
        return None;
    }
    let mut times: Vec<f64> = pods.iter().filter_map(|p| start_to_ready(p)).collect();
    if times.is_empty() {
        return Some(
            w.origin.locate(
                CMP_READY
                    .finding(
                        Status::NotMeasured,
                        format!("not measured: none of its {} pod(s) is Ready", pods.len()),
                    )
                    .with_recommendation(
                        "See OBS-EVENTS and OBS-RESTARTS for why the pods are not Ready.",
                    ),
            ),
        );
    }
    times.sort_by(f64::total_cmp);
    let n = times.len() as u64;
    let max = *times.last().expect("non-empty");
    let median = times[times.len() / 2];
    let restarted = pods.iter().any(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.restart_count > 0))
    });
    let method = format!(
        "pod metadata.creationTimestamp to the lastTransitionTime of condition Ready=True, per Ready pod (API server clock, 1 s resolution){}",
        if restarted {
            "; some pods restarted, so their Ready time may be later than their first start"
        } else {
            ""
        }
    );
    let f = if max <= threshold_s {
        CMP_READY.finding(Status::Pass, format!("slowest pod became Ready {max:.0} s after creation (≤ {threshold_s:.0} s, {n} pods)"))
    } else {
        CMP_READY
            .finding(Status::Fail, format!("Dead on Arrival: slowest pod took {max:.0} s from creation to Ready (> {threshold_s:.0} s, {n} pods)"))
            .with_recommendation("Shorten the cold start: smaller image or image streaming, model weights preloaded (volume or cache), startup CPU boost, warm replicas (CMP-WARM).")
    };
    Some(w.origin.locate(f.with_measurements([
        Measurement::new("start_to_ready_max", max, Unit::Seconds, method.clone(), n),
        Measurement::new("start_to_ready_p50", median, Unit::Seconds, method, n),
    ])))
}
