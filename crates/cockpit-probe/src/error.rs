use std::path::PathBuf;

use crate::report::ErrorKind;

/// Why a probe could not start. Failures of individual requests are never
/// errors: they are counted in the [`ProbeReport`](crate::ProbeReport).
///
/// Every message names the input it is about; URLs are redacted with
/// [`cockpit_core::redact_url`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The URL could not be parsed or lacks a host.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The URL's scheme is not one this probe speaks.
    #[error("unsupported scheme {scheme:?} in {url} (expected {expected})")]
    UnsupportedScheme {
        url: String,
        scheme: String,
        expected: &'static str,
    },
    /// The protocol name is not `http`, `openai` or `grpc`.
    #[error("unknown protocol {0:?} (expected http, openai or grpc)")]
    UnknownProtocol(String),
    /// An option's value cannot be used.
    #[error("invalid option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    /// A `cockpit.toml` value the probe reads cannot be used; `key` is its
    /// name in its table (`timeout_s`, `ttft_p95_ms`, …), for the caller to
    /// locate in the file.
    #[error("{table}.{key}: {message}")]
    Config {
        table: &'static str,
        key: &'static str,
        message: String,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("cannot use CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    /// The TLS client could not be configured.
    #[error("cannot configure TLS for {url}: {reason}")]
    Tls { url: String, reason: String },
    /// A gRPC method named in the configuration could not be resolved to
    /// its descriptors or its request built (no such method, no reflection,
    /// a `.proto` that does not compile, a request that does not fit).
    #[error("cannot call gRPC method {method}: {reason}")]
    GrpcMethod { method: String, reason: String },
    /// A fan-out worker's result cannot be read or merged: not a shard
    /// result, another schema version, or a shard of another run (a
    /// different seed, target, shard count, …). `name` is the file or pod.
    #[error("worker result {name}: {reason}")]
    ShardResult { name: String, reason: String },
    /// A single request (metrics fetch, connect RTT resolution) failed.
    #[error("{kind} error from {url}: {message}")]
    Request {
        url: String,
        kind: ErrorKind,
        message: String,
    },
}
