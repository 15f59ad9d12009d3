//! The measuring loop: prompt `i` to v1 and to v2, for every `i`, with the
//! OpenAI streaming probe of cockpit-probe (one request per call, a new
//! connection each, the answer's text kept under a byte bound).
//!
//! Interleaved (the default): the two requests of a prompt go one after
//! the other, v1 first on even prompts and v2 first on odd ones, so neither
//! side always meets a cache the other just warmed or a server the other
//! just loaded. Mirrored: both at once, so both see the same moment's load.

use std::collections::BTreeMap;
use std::time::Duration;

use cockpit_probe::{ErrorKind, ProbeOptions, ProbeReport};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{ShadowError, ShadowSettings};

/// One request's outcome.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Answer {
    /// Time to first token, ms (success only).
    pub ttft_ms: Option<f64>,
    /// The median gap between the answer's content events, ms.
    pub itl_ms: Option<f64>,
    /// Request written to the end of the stream, ms.
    pub e2e_ms: Option<f64>,
    /// Output tokens per second of this answer.
    pub tokens_per_s: Option<f64>,
    pub output_tokens: Option<u64>,
    /// The answer's text, cut at `max_answer_bytes` (never serialised).
    #[serde(skip)]
    pub text: Option<String>,
    /// Why the request failed.
    pub error: Option<ErrorKind>,
}

impl Answer {
    /// A successful answer with this TTFT and text (for tests and examples:
    /// the other timings derived from it).
    pub fn measured(ttft_ms: f64, text: &str) -> Self {
        Answer {
            ttft_ms: Some(ttft_ms),
            itl_ms: Some(5.0),
            e2e_ms: Some(ttft_ms + 100.0),
            tokens_per_s: Some(100.0),
            output_tokens: Some(text.split_whitespace().count() as u64),
            text: Some(text.to_string()),
            error: None,
        }
    }

    /// Answered (a first token and no failure).
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.ttft_ms.is_some()
    }
}

/// Everything one comparison sent and got back, in prompt order.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Exchanges {
    pub v1: Vec<Answer>,
    pub v2: Vec<Answer>,
    /// The run was cancelled before every prompt was sent.
    pub interrupted: bool,
}

impl Exchanges {
    /// Failures by kind, per side.
    pub fn errors(side: &[Answer]) -> BTreeMap<ErrorKind, u64> {
        let mut m = BTreeMap::new();
        for e in side.iter().filter_map(|a| a.error) {
            *m.entry(e).or_insert(0) += 1;
        }
        m
    }
}

/// The one-request options for prompt `prompt`, from `base` (the agent's
/// model, headers, TLS settings).
fn request_options(base: &ProbeOptions, settings: &ShadowSettings, prompt: &str) -> ProbeOptions {
    ProbeOptions {
        samples: 1,
        warmup: 0,
        concurrency: 1,
        timeout: settings.timeout(),
        deadline: settings.timeout() + Duration::from_secs(1),
        prompt: prompt.to_string(),
        max_tokens: settings.max_tokens,
        record_samples: true,
        capture_output_bytes: settings.max_answer_bytes,
        ..base.clone()
    }
}

/// The answer of a one-request report.
fn answer_of(r: &ProbeReport) -> Answer {
    let Some(rec) = r.sample_records.first() else {
        // Stopped before the request was made (cancelled).
        return Answer {
            error: r.errors.keys().next().copied(),
            ..Answer::default()
        };
    };
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let e2e = ms(rec.e2e);
    Answer {
        ttft_ms: ms(rec.ttft),
        itl_ms: r
            .distribution("itl")
            .filter(|d| d.count() > 0)
            .map(|d| d.summary().p50_ms),
        e2e_ms: e2e,
        tokens_per_s: match (rec.output_tokens, e2e) {
            (Some(t), Some(e)) if e > 0.0 => Some(t as f64 / (e / 1000.0)),
            _ => None,
        },
        output_tokens: rec.output_tokens,
        text: rec.output.clone(),
        error: rec.error,
    }
}

async fn one(url: &str, opts: &ProbeOptions) -> Result<Answer, ShadowError> {
    let r = cockpit_probe::probe_openai(url, opts)
        .await
        .map_err(|e| ShadowError::Endpoint {
            url: cockpit_core::redact_url(url),
            message: e.to_string(),
        })?;
    Ok(answer_of(&r))
}

/// Send `settings.samples` prompts to both deployments (see the module
/// docs for the order). A URL the probe refuses is an error before any
/// request; a request that fails is an [`Answer`] with its error kind.
#[tracing::instrument(name = "shadow", skip_all, fields(n = settings.samples, mirror = settings.mirror))]
pub async fn exchange(
    v1: &str,
    v2: &str,
    base: &ProbeOptions,
    settings: &ShadowSettings,
    cancel: &CancellationToken,
) -> Result<Exchanges, ShadowError> {
    let mut out = Exchanges::default();
    for i in 0..settings.samples as usize {
        if cancel.is_cancelled() {
            out.interrupted = true;
            break;
        }
        let opts = request_options(base, settings, settings.prompt(i));
        let (a, b) = if settings.mirror {
            tokio::join!(one(v1, &opts), one(v2, &opts))
        } else if i % 2 == 0 {
            let a = one(v1, &opts).await;
            (a, one(v2, &opts).await)
        } else {
            let b = one(v2, &opts).await;
            (one(v1, &opts).await, b)
        };
        out.v1.push(a?);
        out.v2.push(b?);
    }
    out.interrupted |= cancel.is_cancelled();
    Ok(out)
}
