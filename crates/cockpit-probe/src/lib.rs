//! Measured probes of AI agent endpoints.
//!
//! `cockpit-probe` measures what an agent's users wait for, from the client
//! side, and says how each number was obtained:
//!
//! - **HTTP/1.1 and HTTP/2** ([`probe_http`]): DNS, TCP connect and TLS
//!   handshake timed separately on a new connection per sample, time to first
//!   byte (request write → response head) and total time.
//! - **OpenAI-compatible streaming** ([`probe_openai`]): time to first token
//!   (request write → the body frame holding the first SSE event with
//!   non-empty content; role-only deltas skipped), inter-token latency, time
//!   per output token, end-to-end time and output tokens per second.
//! - **gRPC** ([`probe_grpc`]): the `cockpit.agent.v1.AgentService` unary and
//!   streaming calls (time to first message, gaps between messages) and the
//!   `grpc.health.v1` status; and any unary or server-streaming method of
//!   any service ([`probe_grpc_method`]), its descriptors from server
//!   reflection or a `.proto` compiled at run time, its request as JSON.
//! - Comparisons ([`compare`]): kept-alive vs new connections, and repeated vs
//!   fresh prompt prefixes (prefix caching); TCP connect RTT ([`rtt`]); and a
//!   Prometheus endpoint's time-to-first-token histogram ([`metrics`]).
//! - **Load** ([`load`]): closed loop, open loop at a fixed arrival rate
//!   (measured from each request's intended send time, free of coordinated
//!   omission), rate sweeps with their knee, and k6-style SLOs.
//!
//! Every distribution is an HDR histogram ([`cockpit_core::Distribution`]),
//! so memory stays fixed however many samples a run takes; warm-up samples
//! are excluded and counted; failed requests are counted by [`ErrorKind`]
//! with one example message each, never hidden and never a panic.
//!
//! ```no_run
//! use cockpit_probe::{probe, ProbeOptions, Protocol};
//!
//! # async fn demo() -> Result<(), cockpit_probe::ProbeError> {
//! let opts = ProbeOptions { samples: 50, ..ProbeOptions::default() };
//! let report = probe("http://127.0.0.1:8080/v1", Protocol::OpenAi, &opts).await?;
//! if let Some(ttft) = report.distribution("ttft") {
//!     let p95 = ttft.quantile(0.95).unwrap();
//!     println!("TTFT p95 {p95:?} ({})", report.method("ttft").unwrap());
//! }
//! println!("{}", serde_json::to_string_pretty(&report).unwrap());
//! # Ok(()) }
//! ```
//!
//! What it never does:
//!
//! - **No retries.** A failed request is counted as a failure of its kind; it
//!   is never retried into a success.
//! - **No redirects.** A 3xx answer is reported (as a `protocol` failure that
//!   names the `Location`), never followed silently.
//! - **Only what it is asked.** It sends the configured method, body and
//!   headers, plus the protocol's own (`content-type`, `accept`,
//!   `x-request-id` for OpenAI streams); nothing else, and credentials in a
//!   URL are never printed (reports carry the URL redacted).
//! - **No unverified TLS by default.** Certificates are verified against the
//!   system roots or the given CA file unless `insecure_skip_verify` is set.
//! - **No printing.** Results are returned; one `tracing` span per probe.

mod bounds;
mod conn;
mod error;
mod grpc;
mod grpc_dynamic;
mod http;
mod options;
mod report;
mod run;
mod target;

pub mod chat;
pub mod checks;
pub mod compare;
pub mod config;
pub mod load;
pub mod metrics;
pub mod openai;
pub mod rtt;
pub mod sse;

#[allow(clippy::all, missing_debug_implementations, unreachable_pub)]
mod pb {
    tonic::include_proto!("cockpit.agent.v1");
}

use std::sync::Arc;

use tracing::Instrument;

pub use config::{NetworkAuditConfig, ProbeSettings, Thresholds};
pub use error::ProbeError;
pub use grpc_dynamic::{
    DescriptorSource, GrpcCall, MAX_DESCRIPTOR_BYTES, MAX_DESCRIPTOR_FILES, MAX_MESSAGE_BYTES,
    probe_grpc_method,
};
pub use options::{HttpVersion, MAX_DEADLINE, MAX_TIMEOUT, ProbeOptions, TlsOptions, seconds};
pub use report::{
    ErrorKind, LEAN_MAX_SAMPLES, MAX_CAPTURED_HEADER_BYTES, MAX_SAMPLE_RECORDS, ProbeReport,
    Protocol, RateDistribution, RateSummary, Recorded, SampleRecord, Throughput, TokensSource,
};

use crate::conn::TlsContext;
use crate::http::{Endpoint, HttpPlan};
use crate::openai::{BodySource, OpenAiPlan};
use crate::run::Plan;
use crate::target::{Target, parse_target};

/// Probe `url` speaking `protocol`; see [`probe_http`], [`probe_openai`] and
/// [`probe_grpc`].
pub async fn probe(
    url: &str,
    protocol: Protocol,
    opts: &ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    match protocol {
        Protocol::Http => probe_http(url, opts).await,
        Protocol::OpenAi => probe_openai(url, opts).await,
        Protocol::Grpc => probe_grpc(url, opts).await,
    }
}

fn tls_context(
    target: &Target,
    opts: &ProbeOptions,
    alpn: &[&[u8]],
) -> Result<Option<TlsContext>, ProbeError> {
    if target.tls {
        TlsContext::new(&opts.tls, alpn, &target.redacted).map(Some)
    } else {
        Ok(None)
    }
}

pub(crate) fn endpoint(target: Target, opts: &ProbeOptions) -> Result<Endpoint, ProbeError> {
    let tls = tls_context(&target, opts, TlsContext::alpn_for(opts.http_version))?;
    Ok(Endpoint {
        target,
        tls,
        version: opts.http_version,
        timeout: opts.timeout,
        idle: opts.idle(),
        reuse: opts.reuse_connection,
    })
}

/// The run's deadline ([`ProbeOptions::validate`] bounds `deadline`).
fn deadline_of(opts: &ProbeOptions) -> tokio::time::Instant {
    tokio::time::Instant::now() + opts.deadline.min(MAX_DEADLINE)
}

/// Plain HTTP(S): `opts.method` (GET by default) with `opts.body`, a new
/// connection per sample unless `reuse_connection` is set.
///
/// Distributions: `dns`, `connect`, `tls` (new connections only), `ttfb`,
/// `ttfb_incl_connect`, `e2e`. Statuses of 400 and up are counted as
/// `http_4xx` / `http_5xx`, 3xx as `protocol`; neither is a latency sample.
pub async fn probe_http(url: &str, opts: &ProbeOptions) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let target = parse_target(url, Protocol::Http)?;
    let redacted = target.redacted.clone();
    let span = tracing::info_span!("probe", target = %redacted, protocol = "http");
    let plan = Plan::Http(HttpPlan {
        endpoint: endpoint(target, opts)?,
        method: opts.method.clone(),
        body: opts.body.clone().unwrap_or_default(),
        content_type: opts.content_type.clone(),
        headers: opts.headers.clone(),
    });
    let stats = run::run(plan, opts, deadline_of(opts))
        .instrument(span)
        .await;
    Ok(ProbeReport::from_stats(
        redacted,
        Protocol::Http,
        stats,
        &http::method_text,
    ))
}

/// An OpenAI-compatible chat-completions endpoint, streamed (SSE).
///
/// Each request is `POST {model, messages, stream: true, stream_options:
/// {include_usage: true}, max_tokens?}` with a fresh `x-request-id`.
/// Distributions: `ttft`, `ttft_incl_connect`, `itl`, `tpot`, `e2e`,
/// `dns`/`connect`/`tls`, and `output_tokens_per_s` (per request); the
/// run's output tokens per second in [`ProbeReport::throughput`].
pub async fn probe_openai(url: &str, opts: &ProbeOptions) -> Result<ProbeReport, ProbeError> {
    let body = openai::request_body(
        opts.model_name(),
        opts.system_prompt.as_deref(),
        &opts.prompt,
        opts.max_tokens,
    );
    probe_openai_with(url, opts, BodySource::Fixed(body)).await
}

pub(crate) async fn probe_openai_with(
    url: &str,
    opts: &ProbeOptions,
    body: BodySource,
) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let target = parse_target(url, Protocol::OpenAi)?;
    let redacted = target.redacted.clone();
    let span = tracing::info_span!("probe", target = %redacted, protocol = "openai");
    let plan = Plan::OpenAi(OpenAiPlan {
        endpoint: endpoint(target, opts)?,
        body,
        max_line_bytes: opts.max_line_bytes,
        headers: opts.headers.clone(),
        record_samples: opts.record_samples,
        capture_output_bytes: if opts.record_samples {
            opts.capture_output_bytes
        } else {
            0
        },
        capture_header: opts.capture_header.clone().filter(|_| opts.record_samples),
    });
    let stats = run::run(plan, opts, deadline_of(opts))
        .instrument(span)
        .await;
    Ok(ProbeReport::from_stats(
        redacted,
        Protocol::OpenAi,
        stats,
        &openai::method_text,
    ))
}

/// A gRPC agent (`grpc://host:port`, `grpcs://` for TLS): first the
/// `grpc.health.v1` status (reported as `health`), then per sample
/// `StreamComplete` (`ttft`, `itl`, `tpot`, `e2e`) and `Complete` (`unary`).
///
/// A server that does not implement the agent service still gets its health
/// and connection phases measured; the calls are counted as `grpc_status`.
pub async fn probe_grpc(url: &str, opts: &ProbeOptions) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let target = Arc::new(parse_target(url, Protocol::Grpc)?);
    let redacted = target.redacted.clone();
    let span = tracing::info_span!("probe", target = %redacted, protocol = "grpc");
    let tls = tls_context(&target, opts, &[b"h2"])?;
    let deadline = deadline_of(opts);
    let health = async {
        tokio::select! {
            _ = opts.cancel.cancelled() => Err(true),
            _ = tokio::time::sleep_until(deadline) => Err(false),
            h = grpc::health(&target, tls.as_ref(), opts.timeout) => Ok(h),
        }
    }
    .instrument(span.clone())
    .await;
    let plan = Plan::Grpc(grpc::GrpcPlan {
        target,
        tls,
        timeout: opts.timeout,
        idle: opts.idle(),
        reuse: opts.reuse_connection,
        prompt: opts.prompt.clone(),
        system_prompt: opts.system_prompt.clone().unwrap_or_default(),
        max_tokens: opts.max_tokens.unwrap_or(0),
        record_samples: opts.record_samples,
        search: None,
        dynamic: None,
    });
    let stats = run::run(plan, opts, deadline).instrument(span).await;
    let mut report = ProbeReport::from_stats(redacted, Protocol::Grpc, stats, &grpc::method_text);
    match health {
        Ok(h) => report.health = Some(h),
        Err(cancelled) => {
            report.health =
                Some("unknown: the run was stopped before the health check finished".to_string());
            if cancelled {
                report.interrupted = true;
            } else {
                report.deadline_reached = true;
            }
        }
    }
    Ok(report)
}

/// A gRPC vector store (`cockpit.agent.v1.RetrievalService`): one `Search`
/// call per sample with `query` and `top_k`, recorded as `e2e`. Set
/// `reuse_connection` to measure calls on a warm channel, as an agent's
/// pooled client makes them.
pub async fn probe_grpc_search(
    url: &str,
    query: &str,
    top_k: u32,
    opts: &ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let target = Arc::new(parse_target(url, Protocol::Grpc)?);
    let redacted = target.redacted.clone();
    let span = tracing::info_span!("probe", target = %redacted, protocol = "grpc", rpc = "Search");
    let tls = tls_context(&target, opts, &[b"h2"])?;
    let plan = Plan::Grpc(grpc::GrpcPlan {
        target,
        tls,
        timeout: opts.timeout,
        idle: opts.idle(),
        reuse: opts.reuse_connection,
        prompt: String::new(),
        system_prompt: String::new(),
        max_tokens: 0,
        record_samples: false,
        search: Some((query.to_string(), top_k)),
        dynamic: None,
    });
    let stats = run::run(plan, opts, deadline_of(opts))
        .instrument(span)
        .await;
    Ok(ProbeReport::from_stats(
        redacted,
        Protocol::Grpc,
        stats,
        &grpc::search_method_text,
    ))
}
