//! Paired measurements that answer "how much does X save?": kept-alive vs
//! new connections, and repeated vs fresh prompt prefixes.

use cockpit_core::LatencySummary;
use serde::Serialize;

use crate::openai::{BodySource, random_text, request_body};
use crate::{ProbeError, ProbeOptions, ProbeReport, Protocol, probe, probe_openai_with};

/// New connections (cold) against one kept-alive connection (warm).
#[derive(Debug, Clone, Serialize)]
pub struct ReuseComparison {
    /// The target, credentials redacted.
    pub target: String,
    pub protocol: Protocol,
    /// The distribution compared: `ttfb_incl_connect` (http) or
    /// `ttft_incl_connect` (openai, grpc).
    pub metric: &'static str,
    /// A new connection per request: DNS, connect and TLS included.
    pub cold: LatencySummary,
    /// Every request on one kept-alive connection (its opening request is
    /// the warm-up, excluded).
    pub warm: LatencySummary,
    /// `cold.p50_ms / warm.p50_ms`; absent when either side has no sample.
    pub ratio: Option<f64>,
    pub cold_errors: u64,
    pub warm_errors: u64,
    pub interrupted: bool,
    pub method: String,
    #[serde(skip)]
    pub cold_report: ProbeReport,
    #[serde(skip)]
    pub warm_report: ProbeReport,
}

/// Measure `opts.samples` requests each on a new connection, then
/// `opts.samples` requests on one kept-alive connection, both at concurrency
/// 1, and compare the request time from before connecting (cold) or before
/// writing (warm) to the response head (http) or first token (openai, grpc).
pub async fn compare_connection_reuse(
    url: &str,
    protocol: Protocol,
    opts: &ProbeOptions,
) -> Result<ReuseComparison, ProbeError> {
    let metric = match protocol {
        Protocol::Http => "ttfb_incl_connect",
        _ => "ttft_incl_connect",
    };
    let cold_opts = ProbeOptions {
        reuse_connection: false,
        concurrency: 1,
        ..opts.clone()
    };
    let warm_opts = ProbeOptions {
        reuse_connection: true,
        concurrency: 1,
        warmup: opts.warmup.max(1),
        ..opts.clone()
    };
    let cold_report = probe(url, protocol, &cold_opts).await?;
    let warm_report = if opts.cancel.is_cancelled() {
        cold_report.clone()
    } else {
        probe(url, protocol, &warm_opts).await?
    };
    let cold = cold_report.summary(metric).unwrap_or_default();
    let warm = warm_report.summary(metric).unwrap_or_default();
    let ratio =
        (cold.count > 0 && warm.count > 0 && warm.p50_ms > 0.0).then(|| cold.p50_ms / warm.p50_ms);
    let method = format!(
        "client-side; cold: {} requests each on a new connection, timed from before DNS/connect/TLS to the {what}; \
         warm: {} requests on one kept-alive connection (its first request excluded), timed from the request write \
         to the {what}; concurrency 1; ratio = cold p50 / warm p50",
        cold.count,
        warm.count,
        what = if protocol == Protocol::Http {
            "response head"
        } else {
            "first token"
        },
    );
    Ok(ReuseComparison {
        target: cold_report.target.clone(),
        protocol,
        metric,
        cold,
        warm,
        ratio,
        cold_errors: cold_report.total_errors(),
        warm_errors: warm_report.total_errors(),
        interrupted: cold_report.interrupted || warm_report.interrupted,
        method,
        cold_report,
        warm_report,
    })
}

/// The same long system prompt on every request against a fresh one each time.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixComparison {
    pub target: String,
    /// Length of the system prompt, both sides.
    pub prefix_bytes: usize,
    /// TTFT with the same system prompt on every request.
    pub repeated: LatencySummary,
    /// TTFT with a new random system prompt of the same length per request.
    pub fresh: LatencySummary,
    /// `fresh.p50_ms / repeated.p50_ms`: above 1 when the server reuses the
    /// repeated prefix (prefix / KV caching); absent without samples.
    pub gain: Option<f64>,
    pub repeated_errors: u64,
    pub fresh_errors: u64,
    pub interrupted: bool,
    pub method: String,
    #[serde(skip)]
    pub repeated_report: ProbeReport,
    #[serde(skip)]
    pub fresh_report: ProbeReport,
}

/// Default length of the compared prefix when `opts.system_prompt` is unset.
pub const DEFAULT_PREFIX_BYTES: usize = 8 * 1024;

/// Compare TTFT with a repeated system prompt (`opts.system_prompt`, or 8 KiB
/// of generated text) against a fresh random prompt of the same length per
/// request. The repeated run goes first; its warm-up primes any cache.
pub async fn compare_prefix_cache(
    url: &str,
    opts: &ProbeOptions,
) -> Result<PrefixComparison, ProbeError> {
    let prefix = opts
        .system_prompt
        .clone()
        .unwrap_or_else(|| random_text(DEFAULT_PREFIX_BYTES));
    let model = opts.model_name().to_string();
    let repeated_body = request_body(&model, Some(&prefix), &opts.prompt, opts.max_tokens);
    let repeated_report = probe_openai_with(url, opts, BodySource::Fixed(repeated_body)).await?;
    let fresh_report = if opts.cancel.is_cancelled() {
        repeated_report.clone()
    } else {
        let fresh = BodySource::FreshPrefix {
            model,
            prompt: opts.prompt.clone(),
            max_tokens: opts.max_tokens,
            bytes: prefix.len(),
        };
        probe_openai_with(url, opts, fresh).await?
    };
    let repeated = repeated_report.summary("ttft").unwrap_or_default();
    let fresh = fresh_report.summary("ttft").unwrap_or_default();
    let gain = (repeated.count > 0 && fresh.count > 0 && repeated.p50_ms > 0.0)
        .then(|| fresh.p50_ms / repeated.p50_ms);
    let method = format!(
        "client-side TTFT (request write to first content delta); repeated: {} requests with one {}-byte system prompt; \
         fresh: {} requests each with a new random {}-byte system prompt; gain = fresh p50 / repeated p50",
        repeated.count,
        prefix.len(),
        fresh.count,
        prefix.len()
    );
    Ok(PrefixComparison {
        target: repeated_report.target.clone(),
        prefix_bytes: prefix.len(),
        repeated,
        fresh,
        gain,
        repeated_errors: repeated_report.total_errors(),
        fresh_errors: fresh_report.total_errors(),
        interrupted: repeated_report.interrupted || fresh_report.interrupted,
        method,
        repeated_report,
        fresh_report,
    })
}
