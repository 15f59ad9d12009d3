//! CMP-READY: measured pod start-to-ready time (Time-to-Reasoning on a live
//! cluster) of each pod's *current incarnation*: from its start to the
//! first Ready after it — scheduling, image pull, container start and model
//! load, as a scale-up experiences them. A pod whose containers never
//! restarted started at its `metadata.creationTimestamp`; a restarted pod's
//! incarnation starts at its containers' latest
//! `state.running.startedAt`. The end is the `lastTransitionTime` of its
//! `Ready=True` condition, taken as the first Ready after the start only
//! when it came within [`FIRST_READY_WINDOW_S`] of the containers' start
//! (`state.running.startedAt`, else the `Initialized`, else the
//! `PodScheduled` condition): Kubernetes keeps only a condition's last
//! transition, so a Ready that changed later is a readiness flap, reported
//! apart, never timed as a cold start. The p50 is the core's
//! [`Distribution`] quantile (the one percentile definition of every
//! report). CMP-TTR (cockpit-probe) measures the first request's TTFT from
//! outside; this measures the pods from the API.

use std::time::Duration;

use cockpit_core::{
    CheckId, CheckSpec, Distribution, Finding, Measurement, Pillar, Severity, Status, Unit,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::object::{Inventory, Workload};

pub const CMP_READY: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-READY"),
    pillar: Pillar::Compute,
    severity: Severity::High,
    title: "Pod start-to-ready time",
};

/// A Ready transition later than this after the containers started is a
/// later readiness change (a flap), not the end of a cold start, seconds.
pub const FIRST_READY_WINDOW_S: f64 = 3600.0;

/// Where a pod's current incarnation was taken to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// `metadata.creationTimestamp`: no container ever restarted.
    Creation,
    /// The latest `containerStatuses[].state.running.startedAt`: a restart.
    ContainerStart,
    /// The `Initialized` condition (a restarted pod without running times).
    Initialized,
    /// The `PodScheduled` condition (nothing later recorded).
    Scheduled,
}

/// What one pod says about its start.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum PodReady {
    /// Seconds from the incarnation's start to its first Ready.
    Started { seconds: f64, from: Start },
    /// Ready last changed this many seconds after the containers started:
    /// a readiness flap, not a cold start.
    Flapped { after_start_s: f64 },
    /// Not Ready (or no creation time).
    NotReady,
}

fn condition_time(p: &Pod, type_: &str) -> Option<Timestamp> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// When the pod's containers (last) started: the latest running
/// `startedAt`, else `Initialized`, else `PodScheduled`.
fn containers_started(p: &Pod) -> Option<(Timestamp, Start)> {
    let running = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
        .map(|t| t.0)
        .max();
    running
        .map(|t| (t, Start::ContainerStart))
        .or_else(|| condition_time(p, "Initialized").map(|t| (t, Start::Initialized)))
        .or_else(|| condition_time(p, "PodScheduled").map(|t| (t, Start::Scheduled)))
}

fn restarted(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.restart_count > 0))
}

fn secs(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64().max(0.0)
}

/// Start-to-ready of the pod's current incarnation.
pub fn start_to_ready(p: &Pod) -> PodReady {
    let Some(ready) = condition_time(p, "Ready") else {
        return PodReady::NotReady;
    };
    let Some(created) = p.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
        return PodReady::NotReady;
    };
    let containers = containers_started(p);
    if let Some((t, _)) = containers {
        let after_start_s = secs(t, ready);
        if after_start_s > FIRST_READY_WINDOW_S {
            return PodReady::Flapped { after_start_s };
        }
    }
    let (from_t, from) = match containers {
        Some((t, how)) if restarted(p) => (t, how),
        _ => (created, Start::Creation),
    };
    PodReady::Started {
        seconds: secs(from_t, ready),
        from,
    }
}

/// `None` when the workload has no pods (nothing to time).
pub fn evaluate(w: &Workload, inv: &Inventory, threshold_s: f64) -> Option<Finding> {
    let pods: Vec<&Pod> = inv.pods_of(w).collect();
    if pods.is_empty() {
        return None;
    }
    let seen: Vec<PodReady> = pods.iter().map(|p| start_to_ready(p)).collect();
    let times: Vec<(f64, Start)> = seen
        .iter()
        .filter_map(|r| match r {
            PodReady::Started { seconds, from } => Some((*seconds, *from)),
            _ => None,
        })
        .collect();
    let flapped = seen
        .iter()
        .filter(|r| matches!(r, PodReady::Flapped { .. }))
        .count();
    let flaps = (flapped > 0).then(|| {
        Measurement::new(
            "readiness_changes_after_start",
            flapped as f64,
            Unit::Count,
            format!("pods whose condition Ready=True last changed over {FIRST_READY_WINDOW_S:.0} s after their containers started (a readiness flap: its own observation, not a cold start)"),
            pods.len() as u64,
        )
    });
    if times.is_empty() {
        let f = not_measured(pods.len(), flapped).with_measurements(flaps);
        return Some(w.origin.locate(f));
    }
    let mut dist = Distribution::new();
    for (t, _) in &times {
        dist.record(Duration::from_secs_f64(*t));
    }
    let n = times.len() as u64;
    let max = times.iter().map(|(t, _)| *t).fold(0.0, f64::max);
    let p50 = dist.quantile(0.5).map_or(max, |d| d.as_secs_f64());
    let method = method(&times, flapped);
    let flap_note = if flapped > 0 {
        format!(
            "; {flapped} pod(s) whose Ready changed over 1 h after their containers started are readiness flaps, not cold starts"
        )
    } else {
        String::new()
    };
    let f = if max <= threshold_s {
        CMP_READY.finding(Status::Pass, format!("slowest pod became Ready {max:.0} s after its start (≤ {threshold_s:.0} s, {n} pods){flap_note}"))
    } else {
        CMP_READY
            .finding(Status::Fail, format!("Dead on Arrival: slowest pod took {max:.0} s from its start to Ready (> {threshold_s:.0} s, {n} pods){flap_note}"))
            .with_recommendation("Shorten the cold start: smaller image or image streaming, model weights preloaded (volume or cache), startup CPU boost, warm replicas (CMP-WARM).")
    };
    let f = f.with_measurements([
        Measurement::new("start_to_ready_max", max, Unit::Seconds, method.clone(), n),
        Measurement::new("start_to_ready_p50", p50, Unit::Seconds, method, n),
    ]);
    Some(w.origin.locate(f.with_measurements(flaps)))
}

fn not_measured(pods: usize, flapped: usize) -> Finding {
    let summary = if flapped > 0 {
        format!(
            "not measured: its {flapped} Ready pod(s) last became Ready over 1 h after their containers started — a readiness change, not a cold start (Kubernetes keeps only the last transition, so the first Ready is no longer recorded)"
        )
    } else {
        format!("not measured: none of its {pods} pod(s) is Ready")
    };
    CMP_READY
        .finding(Status::NotMeasured, summary)
        .with_recommendation(if flapped > 0 {
            "Measure a cold start: roll the workload (or scale it up) and audit while the new pods start; see OBS-EVENTS for the readiness changes."
        } else {
            "See OBS-EVENTS and OBS-RESTARTS for why the pods are not Ready."
        })
}

fn method(times: &[(f64, Start)], flapped: usize) -> String {
    let count = |s: Start| times.iter().filter(|(_, f)| *f == s).count();
    let mut starts = vec![format!(
        "metadata.creationTimestamp ({} never-restarted pods)",
        count(Start::Creation)
    )];
    for (s, name) in [
        (
            Start::ContainerStart,
            "the latest containerStatuses[].state.running.startedAt",
        ),
        (Start::Initialized, "condition Initialized"),
        (Start::Scheduled, "condition PodScheduled"),
    ] {
        if count(s) > 0 {
            starts.push(format!("{name} ({} restarted pods)", count(s)));
        }
    }
    format!(
        "current incarnation of each Ready pod: from {} to the lastTransitionTime of condition Ready=True (API server clock, 1 s resolution), taken as the first Ready only within {FIRST_READY_WINDOW_S:.0} s of the containers' start (running startedAt, else Initialized, else PodScheduled); {flapped} later readiness change(s) left out; p50 from the core Distribution (HDR, nearest rank)",
        starts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(created: &str, started: &str, ready: &str, restarts: i32) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "creationTimestamp": created},
            "status": {
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": created},
                    {"type": "Ready", "status": "True", "lastTransitionTime": ready}
                ],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true,
                    "restartCount": restarts, "state": {"running": {"startedAt": started}}}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn first_start_restart_and_flap() {
        let cold = pod(
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:05Z",
            "2026-11-01T10:00:20Z",
            0,
        );
        assert_eq!(
            start_to_ready(&cold),
            PodReady::Started {
                seconds: 20.0,
                from: Start::Creation
            }
        );
        let restart = pod(
            "2026-11-01T10:00:00Z",
            "2026-11-03T08:00:00Z",
            "2026-11-03T08:00:07Z",
            1,
        );
        assert_eq!(
            start_to_ready(&restart),
            PodReady::Started {
                seconds: 7.0,
                from: Start::ContainerStart
            }
        );
        let flap = pod(
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:03Z",
            "2026-11-08T10:00:05Z",
            0,
        );
        assert!(
            matches!(start_to_ready(&flap), PodReady::Flapped { after_start_s } if after_start_s > 600_000.0)
        );
    }
}
