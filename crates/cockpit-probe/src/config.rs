//! The parts of `cockpit.toml` the Network, Observability and
//! Time-to-Reasoning checks read beside the fleet's declarations
//! ([`cockpit_core::fleet`]): `[thresholds]` and `[probe]`. Every struct
//! rejects unknown keys, so a typo is an error with its file, line and
//! column rather than a silent default.

use std::time::Duration;

use cockpit_core::fleet::{AgentConfig, AgentProtocol, RetrievalConfig};
use serde::Deserialize;

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

impl From<AgentProtocol> for crate::Protocol {
    fn from(p: AgentProtocol) -> Self {
        match p {
            AgentProtocol::Openai => crate::Protocol::OpenAi,
            AgentProtocol::Grpc => crate::Protocol::Grpc,
            _ => crate::Protocol::Http,
        }
    }
}
