//! OBS-RESTARTS: container restarts of a workload's pods
//! (`status.containerStatuses[].restartCount`) and crash loops
//! (`state.waiting.reason: CrashLoopBackOff`). Live clusters only.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use crate::object::{Inventory, Workload};

pub const OBS_RESTARTS: CheckSpec = CheckSpec {
    id: CheckId::new("OBS-RESTARTS"),
    pillar: Pillar::Observability,
    severity: Severity::High,
    title: "Container restarts and crash loops",
};

pub fn evaluate(w: &Workload, inv: &Inventory) -> Finding {
    let mut pods = 0u64;
    let mut restarts = 0i64;
    let mut looping = Vec::new();
    for p in inv.pods_of(w) {
        pods += 1;
        for c in p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            restarts += i64::from(c.restart_count);
            let waiting = c
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if waiting == Some("CrashLoopBackOff") {
                looping.push(format!(
                    "{}/{}",
                    p.metadata.name.as_deref().unwrap_or("?"),
                    c.name
                ));
            }
        }
    }
    let m = Measurement::new(
        "restarts",
        restarts as f64,
        Unit::Count,
        "sum of status.containerStatuses[].restartCount over the workload's pods (live)",
        pods,
    );
    let f = if pods == 0 {
        OBS_RESTARTS.finding(
            Status::NotMeasured,
            "not measured: the workload has no pods",
        )
    } else if !looping.is_empty() {
        OBS_RESTARTS
            .finding(Status::Fail, format!("CrashLoopBackOff: {}", looping.join(", ")))
            .with_recommendation("Read the previous container's logs (`kubectl logs --previous`) and the pod's events.")
    } else if restarts > 0 {
        OBS_RESTARTS
            .finding(
                Status::Warn,
                format!("{restarts} container restart(s) across {pods} pod(s)"),
            )
            .with_recommendation(
                "Find the restart reason (lastState.terminated: OOMKilled, liveness failures).",
            )
    } else {
        OBS_RESTARTS.finding(Status::Pass, format!("no restarts across {pods} pod(s)"))
    };
    w.origin.locate(f.with_measurement(m))
}
