//! The agent-dependency checks: one module per check id, each with its
//! `CheckSpec` constant and a pure `evaluate` (a snapshot in, a finding
//! out); [`crate::audit`] takes the snapshots.

pub mod mcp_health;
pub mod mcp_latency;
pub mod mcp_protocol;
pub mod rag_collection;
pub mod rag_latency;
pub mod rag_stale;
pub mod rag_zone;

use cockpit_core::{CheckSpec, Distribution, Finding, Location, Measurement, Status, Unit};

/// Every check of this crate, for docs and tooling.
pub const ALL: [&CheckSpec; 7] = [
    &mcp_health::MCP_HEALTH,
    &mcp_latency::MCP_LATENCY,
    &mcp_protocol::MCP_PROTOCOL,
    &rag_collection::RAG_COLLECTION,
    &rag_latency::RAG_LATENCY,
    &rag_zone::RAG_ZONE,
    &rag_stale::RAG_STALE,
];

/// A finding about the `[[mcp]]` / `[[vector_store]]` entry `name`, at
/// `shown` (a redacted URL, or `stdio:PROGRAM`).
pub(crate) fn finding(
    spec: &CheckSpec,
    name: &str,
    shown: &str,
    status: Status,
    summary: String,
) -> Finding {
    let location = if shown.contains("://") {
        Location::endpoint(shown)
    } else {
        Location::Config {
            entry: shown.to_string(),
        }
    };
    spec.finding(status, summary)
        .with_subject(name)
        .with_location(location)
}

/// p50 / p95 / p99 of a distribution, each carrying the whole summary.
pub(crate) fn percentiles(prefix: &str, d: &Distribution, method: &str) -> Vec<Measurement> {
    let s = d.summary();
    [("p50", s.p50_ms), ("p95", s.p95_ms), ("p99", s.p99_ms)]
        .into_iter()
        .map(|(q, v)| {
            Measurement::new(
                format!("{prefix}_{q}"),
                v,
                Unit::Milliseconds,
                method,
                s.count,
            )
            .with_distribution(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_doc_page() {
        for c in ALL {
            let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), c.id.doc_path());
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }
}
