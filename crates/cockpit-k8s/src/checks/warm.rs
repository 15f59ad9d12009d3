//! CMP-WARM: warm pods — the replicas that are always running, so the
//! model and its KV-cache are loaded before a user asks. Reads
//! `spec.replicas`, the HPA's `minReplicas`, or Cloud Run's
//! `autoscaling.knative.dev/minScale` (revision) / `run.googleapis.com/minScale`
//! (service).

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};

use super::read;
use crate::object::{Inventory, Workload};

pub const CMP_WARM: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-WARM"),
    pillar: Pillar::Compute,
    severity: Severity::Critical,
    title: "Warm pods (minimum replicas)",
};

/// The number of replicas that are always running, with the field it was
/// read from and the text to find its line; `Err` names a malformed value.
pub fn min_replicas(w: &Workload, inv: &Inventory) -> Result<(i64, String, &'static str), String> {
    if w.is_knative() {
        for (key, place) in [
            (
                "autoscaling.knative.dev/minScale",
                "revision template annotation",
            ),
            ("run.googleapis.com/minScale", "service annotation"),
        ] {
            let v = if place.starts_with("revision") {
                w.template_annotation(key)
            } else {
                w.annotations.get(key).map(String::as_str)
            };
            if let Some(v) = v {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{key} is `{v}`, not a whole number"))?;
                return Ok((n, format!("{place} {key}"), "minScale"));
            }
        }
        return Ok((
            0,
            "no minScale annotation (Cloud Run's default minimum is 0 instances)".into(),
            "kind:",
        ));
    }
    if let Some((o, h)) = inv.hpa_of(w) {
        let min = h.spec.min_replicas.unwrap_or(1);
        return Ok((
            min.into(),
            format!("HPA {} spec.minReplicas", o.object_path()),
            "replicas",
        ));
    }
    match w.replicas {
        Some(n) => Ok((n.into(), "spec.replicas".into(), "replicas:")),
        None => Ok((
            1,
            "spec.replicas unset (the API default is 1)".into(),
            "kind:",
        )),
    }
}

pub fn evaluate(w: &Workload, inv: &Inventory) -> Finding {
    let (n, source, needle) = match min_replicas(w, inv) {
        Ok(x) => x,
        Err(e) => {
            return w.origin.locate_at(
                CMP_WARM.finding(Status::Error, e).with_recommendation(
                    "Set the annotation to a whole number of instances (2 or more).",
                ),
                "minScale",
            );
        }
    };
    let (status, summary) = match n {
        ..=0 => (
            Status::Fail,
            format!(
                "Dead on Arrival: minimum {n} replicas ({source}) — every scale-up from zero pays the cold start (container start, model load)"
            ),
        ),
        1 => (
            Status::Warn,
            format!(
                "1 warm replica ({source}): no warm spare while that pod restarts or is evicted"
            ),
        ),
        _ => (Status::Pass, format!("{n} warm replicas ({source})")),
    };
    let mut f = CMP_WARM.finding(status, summary).with_measurement(read(
        "min_replicas",
        n as f64,
        Unit::Count,
        format!("read from {source}"),
    ));
    if let Some(r) = w.ready_replicas {
        f = f.with_measurement(read(
            "ready_replicas",
            r.into(),
            Unit::Count,
            "read from status.readyReplicas (live)",
        ));
    }
    if status != Status::Pass {
        f = f.with_recommendation(if w.is_knative() {
            "Set `autoscaling.knative.dev/minScale: \"2\"` on the revision template (min instances) so a warm instance is always there."
        } else {
            "Run at least 2 replicas (spec.replicas, or HPA minReplicas ≥ 2) so a warm pod serves while another restarts."
        });
    }
    w.origin.locate_at(f, needle)
}
