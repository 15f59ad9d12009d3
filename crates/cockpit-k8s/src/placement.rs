//! Placement facts other pillars need, read once here and handed back with
//! the findings: the zones of each agent and retrieval workload (for the
//! Network pillar's regional-affinity check) and where an agent keeps its
//! session memory (for the State pillar). Values of environment variables
//! are never copied — only their names.

use std::collections::{BTreeMap, BTreeSet};

use cockpit_core::Location;

use crate::object::{Inventory, Role, Workload};

/// Node label keys that carry a node's zone.
pub const ZONE_LABELS: [&str; 2] = [
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
];

/// Where the zones of a workload come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZoneSource {
    /// Zone labels of the nodes its pods run on (live).
    NodeLabels,
    /// `nodeSelector` or required node affinity on the zone label (manifest).
    Declared,
    /// Nothing says (no pods placed, no zone constraint).
    Unknown,
}

/// The placement of one workload.
#[derive(Debug, Clone)]
pub struct WorkloadPlacement {
    /// `namespace/Kind/name`.
    pub object: String,
    /// The workload's name (matches `[[agents]] name` when they agree).
    pub name: String,
    pub role: Role,
    /// Zones, sorted, with the number of pods in each (live) or 0 (declared).
    pub zones: BTreeMap<String, u32>,
    pub zone_source: ZoneSource,
    /// Names of env vars that point session memory at Redis / Memorystore
    /// (`REDIS_URL`, or a value with a `redis://` scheme) — names only.
    pub redis_env: Vec<String>,
    /// emptyDir volumes mounted where session memory lives (lost on restart).
    pub session_empty_dirs: Vec<String>,
    /// Where the workload is (file:line or object).
    pub location: Location,
}

/// Placement of every workload in the inventory.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub workloads: Vec<WorkloadPlacement>,
}

impl Placement {
    /// The placement of a workload by name.
    pub fn by_name(&self, name: &str) -> Option<&WorkloadPlacement> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// Pairs of (agent, retrieval) workloads whose zones do not overlap, with
    /// both zone sets named.
    pub fn cross_zone_pairs(&self) -> Vec<(&WorkloadPlacement, &WorkloadPlacement)> {
        let agents = self.workloads.iter().filter(|w| w.role == Role::Agent);
        let mut out = Vec::new();
        for a in agents {
            for r in self.workloads.iter().filter(|w| w.role == Role::Retrieval) {
                if !a.zones.is_empty()
                    && !r.zones.is_empty()
                    && a.zones.keys().all(|z| !r.zones.contains_key(z))
                {
                    out.push((a, r));
                }
            }
        }
        out
    }
}

/// Zones a workload's pod template pins it to (nodeSelector or required
/// node affinity `In` on a zone label); empty when it does not.
pub fn declared_zones(w: &Workload) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(spec) = w.template.spec.as_ref() else {
        return out;
    };
    for key in ZONE_LABELS {
        if let Some(z) = spec.node_selector.as_ref().and_then(|s| s.get(key)) {
            out.insert(z.clone());
        }
    }
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or(&[]);
    for t in terms {
        for e in t.match_expressions.iter().flatten() {
            if ZONE_LABELS.contains(&e.key.as_str()) && e.operator == "In" {
                out.extend(e.values.iter().flatten().cloned());
            }
        }
    }
    out
}

/// Zones of a workload's Ready pods (live), from their nodes' labels, with
/// the count of pods per zone; pods on nodes without a zone label are not counted.
pub fn live_zones(w: &Workload, inv: &Inventory) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for p in inv.pods_of(w) {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !ready {
            continue;
        }
        let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let zone = node.and_then(|n| inv.node(n)).and_then(|n| {
            let labels = n.metadata.labels.as_ref()?;
            ZONE_LABELS.iter().find_map(|k| labels.get(*k).cloned())
        });
        if let Some(z) = zone {
            *out.entry(z).or_insert(0) += 1;
        }
    }
    out
}

fn session_like(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    [
        "session",
        "stm",
        "memory",
        "conversation",
        "history",
        "chat-state",
    ]
    .iter()
    .any(|k| s.contains(k))
}

/// The placement of every workload.
pub fn placement(inv: &Inventory) -> Placement {
    let mut out = Placement::default();
    for w in &inv.workloads {
        let (zones, zone_source) = if inv.live {
            let z = live_zones(w, inv);
            let src = if z.is_empty() {
                ZoneSource::Unknown
            } else {
                ZoneSource::NodeLabels
            };
            (z, src)
        } else {
            let d = declared_zones(w);
            let src = if d.is_empty() {
                ZoneSource::Unknown
            } else {
                ZoneSource::Declared
            };
            (d.into_iter().map(|z| (z, 0)).collect(), src)
        };
        let mut redis_env = Vec::new();
        let mut session_empty_dirs = Vec::new();
        let spec = w.template.spec.as_ref();
        let empty_dirs: Vec<&str> = spec
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
            .filter(|v| v.empty_dir.is_some())
            .map(|v| v.name.as_str())
            .collect();
        for c in w.containers() {
            for e in c.env.iter().flatten() {
                let name_says = {
                    let n = e.name.to_ascii_uppercase();
                    n.contains("REDIS") || n.contains("MEMORYSTORE") || n.contains("VALKEY")
                };
                let value_says = e
                    .value
                    .as_deref()
                    .is_some_and(|v| v.starts_with("redis://") || v.starts_with("rediss://"));
                if (name_says || value_says) && !redis_env.contains(&e.name) {
                    redis_env.push(e.name.clone());
                }
            }
            for m in c.volume_mounts.iter().flatten() {
                if empty_dirs.contains(&m.name.as_str())
                    && (session_like(&m.name) || session_like(&m.mount_path))
                    && !session_empty_dirs.contains(&m.name)
                {
                    session_empty_dirs.push(m.name.clone());
                }
            }
        }
        out.workloads.push(WorkloadPlacement {
            object: w.origin.object_path(),
            name: w.origin.name.clone(),
            role: w.role,
            zones,
            zone_source,
            redis_env,
            session_empty_dirs,
            location: w.origin.location(),
        });
    }
    out
}
