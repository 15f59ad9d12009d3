//! Placement facts other pillars need, read once here and handed back with
//! the findings: the zones of each agent and retrieval workload (for the
//! Network pillar's regional-affinity check) and where an agent keeps its
//! session memory (for the State pillar). Values of environment variables
//! are never copied — only their names.

use std::collections::{BTreeMap, BTreeSet};

use cockpit_core::Location;
use cockpit_core::fleet::{AgentConfig, RetrievalConfig, SessionStore};

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

    /// The zone of the workload `name` when it is in exactly one zone
    /// (spread over several, or in none known, says nothing).
    pub fn single_zone(&self, name: &str) -> Option<String> {
        self.by_name(name)
            .filter(|w| w.zones.len() == 1)
            .and_then(|w| w.zones.keys().next().cloned())
    }

    /// Where the workload `name` keeps its session memory, as far as its
    /// pod template says: Redis when an env var points at one (by name or
    /// `redis://` value), in-process when a session-like path is an
    /// emptyDir, else nothing.
    pub fn session_store(&self, name: &str) -> Option<SessionStore> {
        let w = self.by_name(name)?;
        if !w.redis_env.is_empty() {
            Some(SessionStore::Redis)
        } else if !w.session_empty_dirs.is_empty() {
            Some(SessionStore::InProcess)
        } else {
            None
        }
    }

    /// Fill in what the fleet's declarations leave out (`None`), from the
    /// workloads of the same name: an agent's or backend's zone
    /// ([`Placement::single_zone`]) and an agent's session store
    /// ([`Placement::session_store`]). A declared value is never replaced.
    pub fn fill_in(&self, agents: &mut [AgentConfig], retrieval: &mut [RetrievalConfig]) {
        for a in agents {
            if a.zone.is_none() {
                a.zone = self.single_zone(&a.name);
            }
            if a.stm.is_none() {
                a.stm = self.session_store(&a.name);
            }
        }
        for r in retrieval {
            if r.zone.is_none() {
                r.zone = self.single_zone(&r.name);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_core::fleet::AgentProtocol;

    fn workload(name: &str, zones: &[&str], redis: bool, empty_dir: bool) -> WorkloadPlacement {
        WorkloadPlacement {
            object: format!("agents/Deployment/{name}"),
            name: name.to_string(),
            role: Role::Agent,
            zones: zones.iter().map(|z| (z.to_string(), 1)).collect(),
            zone_source: ZoneSource::NodeLabels,
            redis_env: if redis {
                vec!["REDIS_URL".into()]
            } else {
                vec![]
            },
            session_empty_dirs: if empty_dir {
                vec!["sessions".into()]
            } else {
                vec![]
            },
            location: Location::Object {
                namespace: Some("agents".into()),
                kind: "Deployment".into(),
                name: name.into(),
            },
        }
    }

    fn placement() -> Placement {
        Placement {
            workloads: vec![
                workload("one-zone", &["us-central1-a"], true, true),
                workload("spread", &["us-central1-a", "us-central1-b"], false, true),
                workload("nowhere", &[], false, false),
            ],
        }
    }

    fn agent(name: &str) -> AgentConfig {
        AgentConfig {
            name: name.into(),
            endpoint: "http://127.0.0.1:1/v1".into(),
            protocol: AgentProtocol::Openai,
            model: None,
            zone: None,
            shadow_endpoint: None,
            canary: None,
            session_header: None,
            metrics_url: None,
            retrieval: None,
            stm: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn a_zone_only_when_exactly_one() {
        let p = placement();
        assert_eq!(p.single_zone("one-zone").as_deref(), Some("us-central1-a"));
        assert_eq!(p.single_zone("spread"), None);
        assert_eq!(p.single_zone("nowhere"), None);
        assert_eq!(p.single_zone("unknown"), None);
    }

    #[test]
    fn redis_env_wins_over_an_empty_dir() {
        let p = placement();
        assert_eq!(p.session_store("one-zone"), Some(SessionStore::Redis));
        assert_eq!(p.session_store("spread"), Some(SessionStore::InProcess));
        assert_eq!(p.session_store("nowhere"), None);
        assert_eq!(p.session_store("unknown"), None);
    }

    #[test]
    fn fill_in_fills_only_what_is_missing() {
        let p = placement();
        let mut declared = agent("one-zone");
        declared.zone = Some("europe-west1-b".into());
        declared.stm = Some(SessionStore::InProcess);
        let mut agents = vec![agent("one-zone"), agent("spread"), declared];
        let mut retrieval: Vec<RetrievalConfig> = serde_json::from_value(serde_json::json!([
            {"name": "one-zone", "endpoint": "http://127.0.0.1:1/search"},
            {"name": "spread", "endpoint": "http://127.0.0.1:1/search", "zone": "declared"}
        ]))
        .unwrap();
        p.fill_in(&mut agents, &mut retrieval);
        assert_eq!(agents[0].zone.as_deref(), Some("us-central1-a"));
        assert_eq!(agents[0].stm, Some(SessionStore::Redis));
        assert_eq!(agents[1].zone, None);
        assert_eq!(agents[1].stm, Some(SessionStore::InProcess));
        assert_eq!(agents[2].zone.as_deref(), Some("europe-west1-b"));
        assert_eq!(agents[2].stm, Some(SessionStore::InProcess));
        assert_eq!(retrieval[0].zone.as_deref(), Some("us-central1-a"));
        assert_eq!(retrieval[1].zone.as_deref(), Some("declared"));
    }
}
