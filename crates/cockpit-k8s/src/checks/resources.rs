//! CMP-RES: resource requests and limits. LLM serving is memory-bound: a
//! memory request below the floor, or CPU-only sizing, gets the pod
//! scheduled where it will be OOM-killed or evicted. Autopilot's
//! `autopilot.gke.io/resource-adjustment` annotation means the cluster
//! changed what the manifest asked for.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};

use super::{join, parse_quantity, read};
use crate::object::{Inventory, Role, Workload};

pub const CMP_RES: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-RES"),
    pillar: Pillar::Compute,
    severity: Severity::High,
    title: "Resource requests and limits",
};

const ADJUSTED: &str = "autopilot.gke.io/resource-adjustment";

/// What the containers of one workload were found to lack, and the worst
/// verdict among them.
struct Judged {
    status: Status,
    issues: Vec<String>,
    measurements: Vec<cockpit_core::Measurement>,
}

impl Judged {
    fn flag(&mut self, status: Status, issue: String) {
        self.status = self.status.worst(status);
        self.issues.push(issue);
    }
}

type Quantities = Option<
    std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
>;

fn quantity(m: &Quantities, k: &str) -> Option<String> {
    m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone())
}

/// Cloud Run sizes instances by limits only.
fn knative_container(
    w: &Workload,
    n: &str,
    lim_mem: Option<String>,
    floor_mib: u64,
    j: &mut Judged,
) {
    let Some(b) = lim_mem.as_deref().and_then(parse_quantity) else {
        j.flag(
            Status::Warn,
            format!("{n}: no resources.limits.memory (Cloud Run's default 512Mi applies)"),
        );
        return;
    };
    j.measurements.push(read(
        &format!("{n}_memory_limit"),
        b,
        Unit::Bytes,
        "read from resources.limits.memory",
    ));
    if w.role == Role::Agent && b < floor_mib as f64 * 1024.0 * 1024.0 {
        j.flag(
            Status::Warn,
            format!(
                "{n}: memory limit {} is below the {floor_mib} MiB floor for a model-serving agent",
                lim_mem.unwrap_or_default()
            ),
        );
    }
}

/// Requests and limits of one container of a Deployment or StatefulSet.
fn pod_container(
    w: &Workload,
    n: &str,
    res: &k8s_openapi::api::core::v1::ResourceRequirements,
    floor_mib: u64,
    j: &mut Judged,
) {
    let (req_cpu, req_mem) = (
        quantity(&res.requests, "cpu"),
        quantity(&res.requests, "memory"),
    );
    let lim_mem = quantity(&res.limits, "memory");
    match (&req_cpu, &req_mem) {
        (None, None) => j.flag(
            Status::Fail,
            format!("{n}: no resource requests (scheduled anywhere, first to be evicted)"),
        ),
        (Some(_), None) => j.flag(
            Status::Warn,
            format!("{n}: CPU-only sizing — no memory request for a memory-bound workload"),
        ),
        (None, Some(_)) => j.flag(Status::Warn, format!("{n}: no CPU request")),
        _ => {}
    }
    if let Some(b) = req_mem.as_deref().and_then(parse_quantity) {
        j.measurements.push(read(
            &format!("{n}_memory_request"),
            b,
            Unit::Bytes,
            "read from resources.requests.memory",
        ));
        if w.role == Role::Agent && b < floor_mib as f64 * 1024.0 * 1024.0 {
            j.flag(
                Status::Warn,
                format!(
                    "{n}: memory request {} is below the {floor_mib} MiB floor for a model-serving agent",
                    req_mem.clone().unwrap_or_default()
                ),
            );
        }
    }
    if lim_mem.is_none() && (req_cpu.is_some() || req_mem.is_some()) {
        j.flag(Status::Warn, format!("{n}: no memory limit"));
    }
}

pub fn evaluate(w: &Workload, inv: &Inventory, memory_floor_mib: u64) -> Finding {
    let mut j = Judged {
        status: Status::Pass,
        issues: Vec::new(),
        measurements: Vec::new(),
    };
    for c in w.containers() {
        let n = Workload::container_name(c);
        let res = c.resources.clone().unwrap_or_default();
        if w.is_knative() {
            knative_container(
                w,
                n,
                quantity(&res.limits, "memory"),
                memory_floor_mib,
                &mut j,
            );
        } else {
            pod_container(w, n, &res, memory_floor_mib, &mut j);
        }
    }
    let adjusted = w
        .template_annotation(ADJUSTED)
        .map(str::to_string)
        .or_else(|| {
            inv.pods_of(w).find_map(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(ADJUSTED).cloned())
            })
        });
    if let Some(a) = adjusted {
        let short: String = a.chars().take(200).collect();
        j.flag(
            Status::Warn,
            format!("Autopilot adjusted the requested resources ({ADJUSTED}: {short})"),
        );
    }
    let Judged {
        status,
        issues,
        measurements,
    } = j;
    let f = if issues.is_empty() {
        CMP_RES.finding(
            Status::Pass,
            if w.is_knative() {
                "memory limits set on every container (Cloud Run sizes by limits)"
            } else {
                "requests and memory limits set on every container"
            },
        )
    } else {
        CMP_RES.finding(status, join(&issues)).with_recommendation(
            "Set requests.cpu, requests.memory and limits.memory on every container; size the agent's memory for the model and its KV-cache (Autopilot uses requests as limits).",
        )
    };
    f.with_measurements(measurements)
        .with_subject(w.origin.object_path())
        .with_location(w.origin.location_at_any(&["resources:", "containers:"]))
}
