//! The parts of `cockpit.toml` the Network, Observability and
//! Time-to-Reasoning checks read. Every struct rejects unknown keys, so a
//! typo is an error with its file, line and column rather than a silent
//! default.

use std::time::Duration;

use serde::Deserialize;

/// The protocol an agent or backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AgentProtocol {
    /// OpenAI-compatible chat completions with SSE streaming.
    Openai,
    /// `cockpit.agent.v1.AgentService` over gRPC.
    Grpc,
    /// A plain HTTP endpoint (latency only, no tokens).
    Http,
}

impl AgentProtocol {
    pub fn as_probe_protocol(self) -> crate::Protocol {
        match self {
            AgentProtocol::Openai => crate::Protocol::OpenAi,
            AgentProtocol::Grpc => crate::Protocol::Grpc,
            AgentProtocol::Http => crate::Protocol::Http,
        }
    }
}

/// Where an agent keeps its short-term (session) memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StmKind {
    /// An external store (Redis / Memorystore).
    Redis,
    /// Pod memory: lost on every restart.
    InProcess,
}

/// One `[[agents]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// A unique name, used as the finding's subject.
    pub name: String,
    /// For `openai`, a base URL ending in `/v1` or the full
    /// `/v1/chat/completions` URL; for `grpc`, `grpc://host:port`.
    pub endpoint: String,
    pub protocol: AgentProtocol,
    /// Model name sent in OpenAI requests.
    #[serde(default)]
    pub model: Option<String>,
    /// The zone the agent runs in (`us-central1-a`).
    #[serde(default)]
    pub zone: Option<String>,
    /// A shadow (candidate) deployment of the same agent, probed alike.
    #[serde(default)]
    pub shadow_endpoint: Option<String>,
    /// Prometheus text endpoint of the agent.
    #[serde(default)]
    pub metrics_url: Option<String>,
    /// Names of the `[[retrieval]]` backends this agent calls; all when absent.
    #[serde(default)]
    pub retrieval: Option<Vec<String>>,
    /// Where session memory lives, when declared.
    #[serde(default)]
    pub stm: Option<StmKind>,
}

/// The protocol a retrieval backend is called with in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RetrievalProtocol {
    /// REST: `POST {endpoint}` with `{"query", "top_k"}`.
    Http,
    /// `cockpit.agent.v1.RetrievalService/Search`.
    Grpc,
}

/// One `[[retrieval]]` entry: a vector store the agents call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalConfig {
    pub name: String,
    /// REST search URL.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// gRPC address of the same backend (`grpc://host:port`).
    #[serde(default)]
    pub grpc_endpoint: Option<String>,
    /// Which of the two the agent uses in production; default: gRPC when
    /// only `grpc_endpoint` is given, else REST.
    #[serde(default)]
    pub protocol: Option<RetrievalProtocol>,
    #[serde(default)]
    pub zone: Option<String>,
    /// Query text sent with each search.
    #[serde(default = "default_query")]
    pub query: String,
    #[serde(default = "default_top_k")]
    pub top_k: u32,
}

fn default_query() -> String {
    "what does the sovereign gate check".to_string()
}

fn default_top_k() -> u32 {
    5
}

impl RetrievalConfig {
    /// The protocol the agent uses in production.
    pub fn production_protocol(&self) -> RetrievalProtocol {
        match (self.protocol, &self.endpoint, &self.grpc_endpoint) {
            (Some(p), _, _) => p,
            (None, None, Some(_)) => RetrievalProtocol::Grpc,
            _ => RetrievalProtocol::Http,
        }
    }
}

/// `[thresholds]`: the bounds the checks compare measurements with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// NET-TTFT: p95 time to first token, milliseconds.
    pub ttft_p95_ms: f64,
    /// NET-TAIL: p99 retrieval latency, milliseconds (warn up to 2×).
    pub retrieval_p99_ms: f64,
    /// CMP-TTR: first-request (cold) time to first token, milliseconds.
    pub cold_start_ms: f64,
    /// NET-ZONE: TCP connect RTT above which the hop looks cross-zone, milliseconds.
    pub zone_rtt_ms: f64,
    /// NET-PROTO: REST/gRPC p50 ratio above which the tax is worth a warning.
    pub protocol_tax_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            ttft_p95_ms: 800.0,
            retrieval_p99_ms: 10.0,
            cold_start_ms: 12_000.0,
            zone_rtt_ms: 1.0,
            protocol_tax_ratio: 1.2,
        }
    }
}

/// `[probe]`: how much each measurement samples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSettings {
    /// Measured samples per agent (after warm-up).
    pub samples: u32,
    /// Concurrent requests per agent.
    pub concurrency: u32,
    /// Warm-up requests, excluded from the distributions.
    pub warmup: u32,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
    /// Samples for retrieval and connect-RTT measurements.
    pub retrieval_samples: u32,
    /// Verify TLS certificates (never turn off outside a lab).
    pub tls_verify: bool,
    /// Extra CA bundle (PEM) for TLS verification.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            samples: 20,
            concurrency: 2,
            warmup: 1,
            timeout_s: 30.0,
            retrieval_samples: 200,
            tls_verify: true,
            ca_file: None,
        }
    }
}

impl ProbeSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_s.max(0.001))
    }
}

/// Everything the Network-side audit needs.
#[derive(Debug, Clone, Default)]
pub struct NetworkAuditConfig {
    pub agents: Vec<AgentConfig>,
    pub retrieval: Vec<RetrievalConfig>,
    pub thresholds: Thresholds,
    pub probe: ProbeSettings,
}
