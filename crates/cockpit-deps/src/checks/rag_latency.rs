//! RAG-LATENCY: the store's query p99 (a nearest-neighbour query by an
//! explicit vector) against the entry's `latency_p99_ms`.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::{finding, percentiles};
use crate::rag::StoreSnapshot;

pub const RAG_LATENCY: CheckSpec = CheckSpec {
    id: CheckId::new("RAG-LATENCY"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "Vector store query latency (p99)",
};

const METHOD: &str = "client-side, from sending a top-5 query by an explicit embedding vector to the whole answer read, sequential";

/// Query p99 against `bound_ms`: pass within, warn up to 2×, fail beyond.
pub fn evaluate(s: &StoreSnapshot, bound_ms: f64) -> Finding {
    let mut f = finding(
        &RAG_LATENCY,
        &s.name,
        &s.shown,
        Status::NotMeasured,
        String::new(),
    );
    if s.query.is_empty() {
        f.summary = format!(
            "not measured: no query answered ({})",
            s.error.as_deref().unwrap_or("nothing to query")
        );
        return f;
    }
    f = f.with_measurements(percentiles("query", &s.query, METHOD));
    let p99 = s.query.summary().p99_ms;
    let n = s.query.count();
    f.status = if p99 > 2.0 * bound_ms {
        Status::Fail
    } else if p99 > bound_ms || s.query_errors > 0 {
        Status::Warn
    } else {
        Status::Pass
    };
    let errors = match s.query_errors {
        0 => String::new(),
        e => format!("; {e} queries failed"),
    };
    let relation = if p99 <= bound_ms { "within" } else { "above" };
    f.summary = format!("query p99 {p99:.2} ms is {relation} {bound_ms:.1} ms (n={n}){errors}");
    if f.status != Status::Pass {
        f = f.with_recommendation(
            "Put the vector store in the agent's zone, keep its index in memory (HNSW built, not a flat scan), and check its CPU: every retrieval step of the agent waits for this query.",
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::rag_collection::tests::store;

    #[test]
    fn verdicts() {
        let mut s = store(Some(10));
        assert_eq!(evaluate(&s, 50.0).status, Status::NotMeasured);
        for _ in 0..10 {
            s.query.record(Duration::from_millis(3));
        }
        let f = evaluate(&s, 50.0);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert_eq!(f.measurement("query_p95").unwrap().samples, 10);
        assert_eq!(evaluate(&s, 2.0).status, Status::Warn);
        assert_eq!(evaluate(&s, 1.0).status, Status::Fail);
        s.query_errors = 1;
        let f = evaluate(&s, 50.0);
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("1 queries failed"), "{}", f.summary);
    }
}
