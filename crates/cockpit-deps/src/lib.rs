//! Measures an AI agent's dependencies — the MCP servers it calls for
//! tools and the vector stores its retrieval reads (the "RAG dropzone") —
//! the way the agent meets them: an MCP session through the official Rust
//! SDK (rmcp) over stdio or Streamable HTTP, timed call by call; a vector
//! store's collection read over its HTTP API (Chroma v2, Qdrant REST) and
//! queried by an explicit embedding vector.
//!
//! - MCP-HEALTH: `initialize`, `tools/list` and `ping` all answered; a
//!   server that exits, stops answering mid-session or writes what is not
//!   JSON-RPC fails, its errors counted by kind.
//! - MCP-LATENCY: the `ping` p99 (p50 / p95 / p99 of `ping` and
//!   `tools/list`, n samples) against the entry's bound.
//! - MCP-PROTOCOL: the protocol revision agreed, the server's name and
//!   version, its tool count.
//! - RAG-COLLECTION: the collection exists, holds at least `min_count`
//!   vectors, its index is built.
//! - RAG-LATENCY: the query p99 (p50 / p95 / p99, n samples).
//! - RAG-ZONE: the store runs in its agent's zone.
//! - RAG-STALE: the index holds as many vectors as the dropzone has
//!   documents (`source_count`).
//!
//! The pure half of every check is a function from a snapshot to a finding:
//!
//! ```
//! use std::time::Duration;
//! use cockpit_core::Status;
//! use cockpit_deps::{McpServerConfig, McpSnapshot, checks};
//!
//! let mut s = McpSnapshot::new(&McpServerConfig::stdio("tools", "mcp-server", &[]));
//! s.initialize = Some(Duration::from_millis(30));
//! s.protocol_version = Some("2025-06-18".into());
//! s.declares_tools = true;
//! s.tool_count = Some(4);
//! s.calls = 2;
//! let f = checks::mcp_protocol::evaluate(&s);
//! assert_eq!(f.status, Status::Pass);
//! assert!(f.summary.contains("4 tools"));
//! // No ping was timed: latency is not measured, never a pass.
//! assert_eq!(checks::mcp_latency::evaluate(&s, 250.0).status, Status::NotMeasured);
//! ```
//!
//! Against real servers ([`audit`] returns the findings; [`measure_all`]
//! the snapshots, for a dashboard):
//!
//! ```no_run
//! # async fn demo() {
//! use cockpit_deps::{DepsConfig, McpServerConfig};
//! let cfg = DepsConfig::new(
//!     vec![McpServerConfig::stdio("everything", "npx", &["-y", "@modelcontextprotocol/server-everything"])],
//!     vec![],
//!     vec![],
//! );
//! let out = cockpit_deps::audit(&cfg, &tokio_util::sync::CancellationToken::new()).await;
//! for f in &out.findings {
//!     println!("{} {} {}", f.check_id, f.status, f.summary);
//! }
//! # }
//! ```
//!
//! # What it never does
//!
//! It never calls a tool (`tools/call`), reads a resource or runs a prompt:
//! a session is `initialize`, `tools/list` and `ping` only. It never writes
//! to a vector store: it reads a collection's description and count, one
//! stored embedding (Chroma), and sends queries. It never waits
//! without a bound: every call has the entry's timeout, a session ends at
//! the first call that times out or finds the server gone, a stdio server's
//! stdout is read under a per-message bound (4 MiB, the SDK's line bound)
//! and a per-session bound (64 MiB), its stderr is kept to 2 KiB and the
//! rest drained, an HTTP answer is read under the SDK's JSON and SSE event
//! bounds (4 MiB) and reqwest's timeouts. It never leaves a process behind:
//! a stdio server runs in its own process group, which is killed after a
//! short grace once the session ends (or is cancelled, or dropped), and the
//! child is reaped. A vector store's answers are read under 1 MiB before
//! they are parsed, each request under the entry's timeout. It never prints, never shows a URL's credentials or a
//! stdio server's arguments (`stdio:PROGRAM` only).

pub mod checks;
mod config;
mod error;
mod http;
pub mod mcp;
pub mod rag;

use cockpit_core::AuditOutcome;
use tokio_util::sync::CancellationToken;

pub use config::{
    DepsConfig, McpServerConfig, McpTransport, PreviousRun, VectorBackend, VectorStoreConfig,
};
pub use error::DepsError;
pub use mcp::{McpFailure, McpSnapshot};
pub use rag::StoreSnapshot;

use checks::{
    mcp_health, mcp_latency, mcp_protocol, rag_collection, rag_latency, rag_stale, rag_zone,
};

/// Everything measured, per entry: what a dashboard panel reads.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DepsSnapshot {
    pub mcp: Vec<McpSnapshot>,
    pub stores: Vec<StoreSnapshot>,
}

/// Measure every declared dependency, one after the other (each under its
/// own bounds). Cancelling `cancel` ends the session in progress and skips
/// the rest, which are marked interrupted.
pub async fn measure_all(cfg: &DepsConfig, cancel: &CancellationToken) -> DepsSnapshot {
    let mut out = DepsSnapshot::default();
    for m in &cfg.mcp {
        let snap = if cancel.is_cancelled() {
            let mut s = McpSnapshot::new(m);
            s.interrupted = true;
            s
        } else {
            mcp::measure(m, cancel).await
        };
        out.mcp.push(snap);
    }
    for v in &cfg.vector_stores {
        let snap = if cancel.is_cancelled() {
            let mut s = StoreSnapshot::new(v);
            s.interrupted = true;
            s
        } else {
            rag::measure(v, cancel).await
        };
        out.stores.push(snap);
    }
    out
}

/// Run every check over every declared dependency: one subject per entry.
#[tracing::instrument(name = "deps_audit", skip_all)]
pub async fn audit(cfg: &DepsConfig, cancel: &CancellationToken) -> AuditOutcome {
    let snapshot = measure_all(cfg, cancel).await;
    judge(cfg, &snapshot)
}

/// The findings of a snapshot (pure).
pub fn judge(cfg: &DepsConfig, snapshot: &DepsSnapshot) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    for (m, s) in cfg.mcp.iter().zip(&snapshot.mcp) {
        out.count_subject(s.reached());
        out.interrupted |= s.interrupted;
        out.findings.push(mcp_health::evaluate(s));
        out.findings
            .push(mcp_latency::evaluate(s, m.latency_p99_ms));
        out.findings.push(mcp_protocol::evaluate(s));
    }
    for (v, s) in cfg.vector_stores.iter().zip(&snapshot.stores) {
        out.count_subject(s.reached);
        out.interrupted |= s.interrupted;
        out.findings.push(rag_collection::evaluate(s));
        out.findings
            .push(rag_latency::evaluate(s, v.latency_p99_ms));
        out.findings
            .push(rag_zone::evaluate(s, v.agent.as_deref(), &cfg.agents));
        out.findings
            .push(rag_stale::evaluate(s, cfg.previous.get(&v.name)));
    }
    out
}
