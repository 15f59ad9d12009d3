//! CMP-AUTOPILOT: is the cluster GKE Autopilot (the preferred runtime), with
//! the evidence named, and which runtime class each workload asks for.
//! Evidence from the Kubernetes API: node names `gk3-*`, the
//! `cloud.google.com/compute-class` node label, and Autopilot's pod
//! annotations (`autopilot.gke.io/resource-adjustment`,
//! `autopilot.gke.io/warden-version`). The authoritative field is the GKE
//! API's `autopilot.enabled`, which the Kubernetes API does not expose.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use crate::object::Inventory;

pub const CMP_AUTOPILOT: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-AUTOPILOT"),
    pillar: Pillar::Compute,
    severity: Severity::Info,
    title: "GKE Autopilot (evidence)",
};

/// What the API shows about Autopilot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutopilotEvidence {
    pub nodes: usize,
    /// Nodes named `gk3-*`.
    pub gk3_nodes: usize,
    /// Nodes labelled `cloud.google.com/compute-class`.
    pub compute_class_nodes: usize,
    /// Pods carrying an `autopilot.gke.io/*` annotation.
    pub annotated_pods: usize,
}

impl AutopilotEvidence {
    pub fn read(inv: &Inventory) -> Self {
        let mut e = AutopilotEvidence {
            nodes: inv.nodes.len(),
            ..Default::default()
        };
        for n in &inv.nodes {
            if n.metadata
                .name
                .as_deref()
                .is_some_and(|s| s.starts_with("gk3-"))
            {
                e.gk3_nodes += 1;
            }
            if n.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("cloud.google.com/compute-class"))
            {
                e.compute_class_nodes += 1;
            }
        }
        e.annotated_pods = inv
            .pods
            .iter()
            .filter(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.keys().any(|k| k.starts_with("autopilot.gke.io/")))
            })
            .count();
        e
    }

    /// Whether all nodes look like Autopilot nodes.
    pub fn is_autopilot(&self) -> bool {
        self.nodes > 0 && self.gk3_nodes == self.nodes
    }
}

pub fn evaluate(inv: &Inventory) -> Finding {
    let e = AutopilotEvidence::read(inv);
    let classes: Vec<String> = inv
        .workloads
        .iter()
        .map(|w| {
            let spec = w.template.spec.as_ref();
            let class = spec
                .and_then(|s| s.node_selector.as_ref())
                .and_then(|s| s.get("cloud.google.com/compute-class"))
                .map(|c| format!("compute class {c}"))
                .or_else(|| {
                    spec.and_then(|s| s.runtime_class_name.clone())
                        .map(|r| format!("runtimeClass {r}"))
                })
                .unwrap_or_else(|| "default".into());
            format!("{}: {class}", w.origin.name)
        })
        .collect();
    let evidence = format!(
        "{} of {} nodes named gk3-*, {} with a compute-class label, {} pods with autopilot.gke.io annotations",
        e.gk3_nodes, e.nodes, e.compute_class_nodes, e.annotated_pods
    );
    let runtime = if classes.is_empty() {
        String::new()
    } else {
        format!("; workloads: {}", classes.join(", "))
    };
    let f = if e.nodes == 0 {
        CMP_AUTOPILOT.finding(
            Status::NotMeasured,
            format!("not measured: no node could be listed{runtime}"),
        )
    } else if e.is_autopilot() {
        CMP_AUTOPILOT.finding(Status::Pass, format!("GKE Autopilot: {evidence}{runtime}"))
    } else if e.gk3_nodes > 0 || e.compute_class_nodes > 0 || e.annotated_pods > 0 {
        CMP_AUTOPILOT.finding(
            Status::Pass,
            format!("GKE with Autopilot compute (mixed): {evidence}{runtime}"),
        )
    } else {
        CMP_AUTOPILOT
            .finding(Status::Warn, format!("no Autopilot evidence (Standard GKE or another distribution): {evidence}{runtime}"))
            .with_recommendation("Prefer GKE Autopilot (or Autopilot compute classes) so nodes are sized and patched for the pods.")
    };
    f.with_subject("cluster").with_measurements([
        Measurement::new(
            "nodes",
            e.nodes as f64,
            Unit::Count,
            "nodes listed",
            e.nodes as u64,
        ),
        Measurement::new(
            "gk3_nodes",
            e.gk3_nodes as f64,
            Unit::Count,
            "nodes whose name starts with gk3- (Autopilot's naming)",
            e.nodes as u64,
        ),
    ])
}
