//! The fleet hub's panels in a [`FleetSnapshot`](crate::FleetSnapshot):
//! one entry per declared part (a shadowed agent, a cache, an MCP server, a
//! vector store, a watched agent), each the latest measurement of that
//! part with its sample counts and when it was taken. Empty (and absent
//! from the JSON) when the configuration declares none.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::snapshot::ms;

/// Every panel of the hub.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HubView {
    /// How often each part is measured (`[cockpit] hub_interval`).
    #[serde(rename = "interval_ms", with = "ms")]
    pub interval: Duration,
    /// Shadow mode: each agent with a `shadow_endpoint`, v1 against v2.
    #[serde(default)]
    pub shadow: Vec<ShadowPanel>,
    /// Hive Mind: each `[[cache]]`.
    #[serde(default)]
    pub caches: Vec<CachePanel>,
    /// Hive Mind: the fleet's totals over the caches with counters.
    #[serde(default)]
    pub cache_fleet: Option<CacheFleet>,
    /// MCP hub: each `[[mcp]]` server.
    #[serde(default)]
    pub mcp: Vec<McpPanel>,
    /// RAG dropzone: each `[[vector_store]]`.
    #[serde(default)]
    pub rag: Vec<RagPanel>,
    /// Adversarial watchtower: each agent with a canary, when the
    /// watchtower is enabled (`[cockpit] watchtower`, `--watchtower`).
    #[serde(default)]
    pub watchtower: Vec<WatchPanel>,
}

impl HubView {
    /// No part declared.
    pub fn is_empty(&self) -> bool {
        self.shadow.is_empty()
            && self.caches.is_empty()
            && self.mcp.is_empty()
            && self.rag.is_empty()
            && self.watchtower.is_empty()
    }
}

/// When a part was last measured, and how its measurements went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// When the latest measurement ended, RFC 3339 (`null`: pending).
    pub measured_at: Option<String>,
    /// How long it took.
    pub took_ms: Option<f64>,
    /// Measurements completed since the monitor started.
    pub measurements: u64,
    /// Measurements that could not run or finish (timeout, bad settings).
    pub failed_measurements: u64,
    /// Why the latest measurement failed, or what it found wrong first;
    /// `null` when nothing went wrong.
    pub error: Option<String>,
}

/// Percentiles of a latency, with their sample count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A check's verdict on the latest measurement (the same check `audit
/// report` runs, judged on the panel's data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The check id (`SHD-TTFT`, `RAG-STALE`, …).
    pub check: String,
    /// `pass`, `warn`, `fail`, `not-measured`, `skipped`.
    pub status: String,
    pub summary: String,
}

/// One side of a shadow comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SideView {
    pub n: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// A difference v2 − v1 with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiffView {
    pub estimate_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
    /// The confidence level (0.95).
    pub level: f64,
}

/// Shadow mode for one agent: production (v1) and candidate (v2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowPanel {
    pub agent: String,
    /// The deployments, redacted.
    pub v1: String,
    pub v2: String,
    #[serde(flatten)]
    pub measured: Measured,
    /// Prompts sent to each side in the latest comparison.
    pub sent: u64,
    /// TTFT of each side.
    pub ttft_v1: SideView,
    pub ttft_v2: SideView,
    pub ttft_p50_diff: Option<DiffView>,
    pub ttft_p95_diff: Option<DiffView>,
    /// Mann–Whitney U test, two-sided.
    pub ttft_p_value: Option<f64>,
    /// `too-few-samples`, `no-difference`, `v2-higher`, `v2-lower`.
    pub ttft_difference: Option<String>,
    /// SHD-TTFT on this comparison.
    pub verdict: Option<Verdict>,
    pub v1_failed: u64,
    pub v2_failed: u64,
    /// Answers identical byte for byte, 0–1.
    pub identical_share: Option<f64>,
}

/// Hive Mind for one cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CachePanel {
    pub agent: String,
    /// `semantic`, `prefix`.
    pub kind: String,
    #[serde(flatten)]
    pub measured: Measured,
    /// The cache's own counters, as last read (none without `hits_metric`).
    pub hits: Option<f64>,
    pub misses: Option<f64>,
    /// `hits / (hits + misses)`, 0–1.
    pub hit_rate: Option<f64>,
    pub tokens_served: Option<f64>,
    /// `tokens_served / 1000 × price_per_1k_tokens`.
    pub cost_avoided: Option<f64>,
    /// The probe: rounds answered, repeats and paraphrases the hit header
    /// called hits, and the TTFT the cache saved (first send − repeat).
    pub probe_rounds: u64,
    pub repeat_hits: Option<u64>,
    pub paraphrase_hits: Option<u64>,
    pub ttft_saved_p50_ms: Option<f64>,
    pub ttft_saved_count: u64,
    /// HIV-HIT and HIV-RATE on this measurement.
    pub verdicts: Vec<Verdict>,
}

/// Hive Mind over the fleet: the caches with counters, summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFleet {
    /// Caches whose counters were read.
    pub caches: u64,
    pub hits: f64,
    pub lookups: f64,
    pub hit_rate: Option<f64>,
    pub tokens_served: Option<f64>,
    pub cost_avoided: Option<f64>,
}

/// MCP hub: one server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct McpPanel {
    pub name: String,
    /// The redacted URL, or `stdio:PROGRAM`.
    pub server: String,
    /// `stdio`, `streamable-http`.
    pub transport: String,
    #[serde(flatten)]
    pub measured: Measured,
    /// The latest session: `initialize`, `tools/list` and `ping` all
    /// answered (`null`: not measured yet).
    pub up: Option<bool>,
    pub protocol_version: Option<String>,
    pub server_name: Option<String>,
    pub tool_count: Option<u64>,
    pub initialize_ms: Option<f64>,
    pub ping: Quantiles,
    pub tools_list: Quantiles,
    /// Calls of the latest session, and its failures by kind.
    pub calls: u64,
    pub errors: BTreeMap<String, u64>,
}

/// RAG dropzone: one vector store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RagPanel {
    pub name: String,
    /// `chroma`, `qdrant`.
    pub backend: String,
    pub collection: String,
    /// The redacted URL.
    pub store: String,
    #[serde(flatten)]
    pub measured: Measured,
    /// `pending`, `down` (no answer), `missing` (no such collection),
    /// `empty`, `indexing` (index not ready), `ready`.
    pub status: String,
    /// Vectors (documents) in the collection.
    pub count: Option<u64>,
    /// When the count was first seen at its current value, RFC 3339.
    pub count_since: Option<String>,
    pub index_status: Option<String>,
    pub query: Quantiles,
    pub query_errors: u64,
    /// The dropzone's documents, as declared (`source_count`).
    pub source_count: Option<u64>,
    /// RAG-STALE on this measurement.
    pub stale: Option<Verdict>,
}

/// One attempt of the watchtower's feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// The corpus's attempt id.
    pub id: String,
    /// Its OWASP Top 10 for LLM Applications category.
    pub category: String,
    /// When it was sent, RFC 3339.
    pub at: String,
    /// `leaked`, `held`, `failed`.
    pub outcome: String,
}

/// Adversarial watchtower: one agent with a canary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchPanel {
    pub agent: String,
    /// The canary's tag (a SHA-256 prefix), never the canary.
    pub canary: String,
    #[serde(flatten)]
    pub measured: Measured,
    /// Attempts of the latest measurement, by outcome.
    pub sent: u64,
    pub leaked: u64,
    pub held: u64,
    pub failed: u64,
    /// The attempts that leaked in the latest measurement.
    pub leaked_ids: Vec<String>,
    /// Since the monitor started.
    pub attempts_total: u64,
    pub leaks_total: u64,
    /// The newest attempts, oldest first (at most [`MAX_FEED`]).
    pub feed: Vec<FeedEntry>,
}

/// Attempts kept in a watchtower panel's feed.
pub const MAX_FEED: usize = 50;
