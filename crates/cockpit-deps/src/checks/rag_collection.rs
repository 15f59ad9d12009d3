//! RAG-COLLECTION: the collection exists, holds at least `min_count`
//! vectors (one by default), and its index is built.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::rag::StoreSnapshot;

pub const RAG_COLLECTION: CheckSpec = CheckSpec {
    id: CheckId::new("RAG-COLLECTION"),
    pillar: Pillar::State,
    severity: Severity::High,
    title: "Vector store collection: exists, count, index status",
};

const METHOD: &str =
    "read from the store's API (Chroma: collection and count; Qdrant: collection info)";

pub fn evaluate(s: &StoreSnapshot) -> Finding {
    let mut f = finding(
        &RAG_COLLECTION,
        &s.name,
        &s.shown,
        Status::NotMeasured,
        String::new(),
    );
    let what = format!("{} collection `{}`", s.backend.as_str(), s.collection);
    let why = s.error.clone().unwrap_or_default();
    match (s.exists, s.count) {
        (Some(false), _) => {
            f.status = Status::Fail;
            f.summary = format!("{what} does not exist ({why})");
        }
        (Some(true), Some(count)) => {
            f = f.with_measurements(measurements(s, count));
            let min = s.min_count.unwrap_or(1);
            let index = s.index_status.clone().unwrap_or_default();
            (f.status, f.summary) = if count < min {
                (
                    Status::Fail,
                    format!("{what} holds {count} vectors, fewer than {min}; index {index}"),
                )
            } else if s.index_ready == Some(false) {
                (
                    Status::Warn,
                    format!("{what} holds {count} vectors; index not ready: {index}"),
                )
            } else {
                (
                    Status::Pass,
                    format!("{what} holds {count} vectors; index {index}"),
                )
            };
        }
        _ if s.interrupted => f.summary = "not measured: the audit was interrupted".into(),
        _ => f.summary = format!("not measured: {why}"),
    }
    if f.status != Status::Pass {
        f = f.with_recommendation(
            "Check the ingestion job that fills the collection (its name, tenant and database in [[vector_store]]), and that the store is reachable from where the agent runs: an empty or missing collection makes retrieval answer nothing, silently.",
        );
    }
    f
}

/// The count, and what the store says of its vectors and index.
fn measurements(s: &StoreSnapshot, count: u64) -> Vec<Measurement> {
    let m = |name: &str, v: f64, unit| Measurement::new(name, v, unit, METHOD, 1);
    let mut out = vec![m("count", count as f64, Unit::Count)];
    out.extend(s.dimension.map(|d| m("dimension", d as f64, Unit::Count)));
    out.extend(s.indexed.map(|n| m("indexed", n as f64, Unit::Count)));
    out.extend(
        s.index_ready
            .map(|r| m("index_ready", f64::from(u8::from(r)), Unit::Bool)),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{VectorBackend, VectorStoreConfig};

    pub(crate) fn store(count: Option<u64>) -> StoreSnapshot {
        let cfg = VectorStoreConfig::new("kb", VectorBackend::Qdrant, "http://h:6333", "docs");
        let mut s = StoreSnapshot::new(&cfg);
        if let Some(n) = count {
            s.reached = true;
            s.exists = Some(true);
            s.count = Some(n);
            s.index_status = Some("green (optimizer ok)".into());
            s.index_ready = Some(true);
        }
        s
    }

    #[test]
    fn verdicts() {
        let f = evaluate(&store(Some(10)));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert_eq!(f.measurement("count").unwrap().value, 10.0);
        assert_eq!(evaluate(&store(Some(0))).status, Status::Fail);
        let mut s = store(Some(10));
        s.min_count = Some(100);
        assert!(evaluate(&s).summary.contains("fewer than 100"));
        let mut s = store(Some(10));
        s.index_ready = Some(false);
        assert_eq!(evaluate(&s).status, Status::Warn);
        let mut s = store(None);
        s.reached = true;
        s.exists = Some(false);
        s.error = Some("collection: HTTP 404".into());
        let f = evaluate(&s);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("does not exist"), "{}", f.summary);
        let mut s = store(None);
        s.error = Some("collection: cannot connect".into());
        assert_eq!(evaluate(&s).status, Status::NotMeasured);
    }
}
