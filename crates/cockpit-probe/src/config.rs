//! The parts of `cockpit.toml` the Network, Observability and
//! Time-to-Reasoning checks read beside the fleet's declarations
//! ([`cockpit_core::fleet`]): `[thresholds]` and `[probe]`. Every struct
//! rejects unknown keys, so a typo is an error with its file, line and
//! column rather than a silent default.

use std::time::Duration;

use cockpit_core::fleet::{AgentConfig, AgentProtocol, RetrievalConfig};
use serde::Deserialize;

use crate::ProbeError;
use crate::options::{MAX_TIMEOUT, seconds};

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

impl Thresholds {
    /// Every threshold is a positive, finite number.
    ///
    /// ```
    /// use cockpit_probe::{ProbeError, Thresholds};
    /// assert!(Thresholds::default().validate().is_ok());
    /// let t = Thresholds { zone_rtt_ms: -1.0, ..Thresholds::default() };
    /// assert!(matches!(t.validate(), Err(ProbeError::Config { key: "zone_rtt_ms", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), ProbeError> {
        for (key, v) in [
            ("ttft_p95_ms", self.ttft_p95_ms),
            ("retrieval_p99_ms", self.retrieval_p99_ms),
            ("cold_start_ms", self.cold_start_ms),
            ("zone_rtt_ms", self.zone_rtt_ms),
            ("protocol_tax_ratio", self.protocol_tax_ratio),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ProbeError::Config {
                    table: "thresholds",
                    key,
                    message: format!("must be a positive number, got {v}"),
                });
            }
        }
        Ok(())
    }
}

/// The most samples `[probe] samples` may ask for.
pub const MAX_SAMPLES: u32 = 100_000;
/// The most concurrent requests `[probe] concurrency` may ask for.
pub const MAX_CONCURRENCY: u32 = 1024;

impl ProbeSettings {
    /// `samples` within 1..=100000, `concurrency` within 1..=1024,
    /// `timeout_s` a positive number of seconds of at most a day.
    ///
    /// ```
    /// use cockpit_probe::{ProbeError, ProbeSettings};
    /// assert!(ProbeSettings::default().validate().is_ok());
    /// let p = ProbeSettings { timeout_s: 1e300, ..ProbeSettings::default() };
    /// assert!(matches!(p.validate(), Err(ProbeError::Config { key: "timeout_s", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), ProbeError> {
        let bad = |key, message| {
            Err(ProbeError::Config {
                table: "probe",
                key,
                message,
            })
        };
        if self.samples == 0 || self.samples > MAX_SAMPLES {
            return bad(
                "samples",
                format!("must be 1..={MAX_SAMPLES}, got {}", self.samples),
            );
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return bad(
                "concurrency",
                format!("must be 1..={MAX_CONCURRENCY}, got {}", self.concurrency),
            );
        }
        if let Err(m) = seconds(self.timeout_s, MAX_TIMEOUT) {
            return bad("timeout_s", m);
        }
        Ok(())
    }

    /// How server certificates are checked: `tls_verify` and `ca_file`.
    pub fn tls(&self) -> crate::TlsOptions {
        crate::TlsOptions {
            ca_file: self.ca_file.clone(),
            insecure_skip_verify: !self.tls_verify,
        }
    }

    /// The per-request timeout; a value [`validate`](Self::validate) refuses
    /// is clamped into range here rather than panicking.
    pub fn timeout(&self) -> Duration {
        seconds(self.timeout_s, MAX_TIMEOUT).unwrap_or(if self.timeout_s > 0.0 {
            MAX_TIMEOUT
        } else {
            Duration::from_millis(1)
        })
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
