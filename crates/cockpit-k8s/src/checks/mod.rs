//! The Compute, CI/CD, Network-side Kubernetes and Observability checks: one
//! module per check id (find a check in one hop), each with its
//! [`CheckSpec`] constant and a pure `evaluate` over an [`Inventory`] — the
//! same code judges manifest files and live clusters.

pub mod autopilot;
pub mod boost;
pub mod ep;
pub mod events;
pub mod gate;
pub mod hpa;
pub mod image;
pub mod lb;
pub mod manifest;
pub mod pdb;
pub mod probes;
pub mod ready;
pub mod resources;
pub mod restarts;
pub mod spread;
pub mod throttle;
pub mod token;
pub mod warm;
pub mod wi;

use cockpit_core::{CheckSpec, Finding, Measurement, Unit};
use k8s_openapi::jiff::Timestamp;

use crate::K8sConfig;
use crate::object::Inventory;

/// Every check this crate can produce, for docs and tooling.
pub const ALL: [&CheckSpec; 19] = [
    &warm::CMP_WARM,
    &ready::CMP_READY,
    &boost::CMP_BOOST,
    &throttle::CMP_THROTTLE,
    &probes::CMP_PROBES,
    &resources::CMP_RES,
    &pdb::CMP_PDB,
    &hpa::CMP_HPA,
    &spread::CMP_SPREAD,
    &autopilot::CMP_AUTOPILOT,
    &manifest::CMP_MANIFEST,
    &gate::CIC_GATE,
    &image::CIC_IMAGE,
    &wi::CIC_WI,
    &token::CIC_TOKEN,
    &lb::NET_LB,
    &ep::NET_EP,
    &events::OBS_EVENTS,
    &restarts::OBS_RESTARTS,
];

/// Judge everything in the inventory. `now` dates live objects (pending
/// LoadBalancers); manifest audits pass `None`.
pub fn evaluate(inv: &Inventory, cfg: &K8sConfig, now: Option<Timestamp>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in &inv.workloads {
        let _span = tracing::debug_span!("workload", object = %w.origin.object_path()).entered();
        let start = out.len();
        out.push(warm::evaluate(w, inv));
        if inv.live
            && let Some(f) = ready::evaluate(w, inv, cfg.ready_threshold_s)
        {
            out.push(f);
        }
        if w.is_knative() {
            out.push(boost::evaluate(w));
            out.push(throttle::evaluate(w));
        }
        out.push(probes::evaluate(w, inv));
        out.push(resources::evaluate(w, inv, cfg.memory_floor_mib));
        if let Some(f) = pdb::evaluate(w, inv) {
            out.push(f);
        }
        if let Some(f) = spread::evaluate(w, inv) {
            out.push(f);
        }
        out.push(image::evaluate(w));
        out.push(wi::evaluate(w, inv));
        if let Some(f) = token::evaluate(w, inv) {
            out.push(f);
        }
        if inv.live {
            out.push(restarts::evaluate(w, inv));
        }
        if let Some(malformed) = crate::suppress::apply(w, &mut out[start..]) {
            out.push(malformed);
        }
    }
    for h in &inv.hpas {
        out.push(hpa::evaluate(h, inv));
    }
    if inv.live {
        out.push(autopilot::evaluate(inv));
        for s in &inv.services {
            if let Some(f) = lb::evaluate(s, inv, now) {
                out.push(f);
            }
            if let Some(f) = ep::evaluate(s, inv) {
                out.push(f);
            }
        }
        out.extend(events::evaluate(inv));
    }
    out
}

/// A value read from an object (not timed): one reading.
pub(crate) fn read(name: &str, value: f64, unit: Unit, method: impl Into<String>) -> Measurement {
    Measurement::new(name, value, unit, method, 1)
}

/// A Kubernetes quantity (`512Mi`, `1Gi`, `1.5G`, `250m`, `1e9`) as a number
/// of base units (bytes, cores). `None` when it is not a quantity.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (s, mult) in suffixes {
        if let Some(n) = q.strip_suffix(s) {
            return n
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| v * mult);
        }
    }
    q.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `A; B; C` of the non-empty issues.
pub(crate) fn join(issues: &[String]) -> String {
    issues.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("lots"), None);
    }

    #[test]
    fn ids_are_unique_and_documented() {
        let mut ids: Vec<_> = ALL.iter().map(|s| s.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
        for s in ALL {
            let page = format!("{root}{}", s.id.doc_path());
            assert!(std::path::Path::new(&page).exists(), "missing {page}");
        }
    }
}
