//! Probing one cache: `rounds` rounds, one request at a time, each a
//! streaming chat completion made by cockpit-probe's OpenAI probe with the
//! hit header kept. Each round opens with a reference never sent before
//! (so its first request cannot be a hit left by an earlier run), then the
//! same request, then (semantic) the paraphrase with the same reference.
//! A prefix cache gets a fresh system prompt per round instead, the same
//! user prompt, and no paraphrase.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cockpit_core::fleet::AgentConfig;
use cockpit_core::rng::SplitMix64;
use cockpit_probe::{ErrorKind, ProbeOptions};
use tokio_util::sync::CancellationToken;

use crate::{CacheConfig, CacheKind, Reply, Round};

/// Bytes of system prompt a prefix-cache round sends (enough prefill to
/// show a hit).
const PREFIX_BYTES: usize = 4096;
/// Output tokens asked of each probe request.
const MAX_TOKENS: u32 = 16;

/// The probe's requests for one cache; stops early when cancelled
/// (`interrupted`), or with the reason the probe refused the agent.
pub(crate) async fn probe(
    c: &CacheConfig,
    agent: &AgentConfig,
    base: &ProbeOptions,
    cancel: &CancellationToken,
) -> (Vec<Round>, Result<(), String>) {
    let mut rng = SplitMix64::new(seed());
    let header: http::HeaderName = match c.hit_header.parse() {
        Ok(h) => h,
        Err(e) => return (Vec::new(), Err(format!("hit_header: {e}"))),
    };
    let mut rounds = Vec::new();
    for _ in 0..c.rounds {
        if cancel.is_cancelled() {
            break;
        }
        let reference = format!("ref {:016x}", rng.next_u64());
        let (system, prompt, paraphrase) = match c.kind {
            CacheKind::Semantic => (
                None,
                format!("{} ({reference})", c.prompt),
                Some(format!("{} ({reference})", c.paraphrase)),
            ),
            _ => (Some(prefix(&reference)), c.prompt.clone(), None),
        };
        let opts = |p: &str| options(base, &header, system.clone(), p);
        let mut round = Round::default();
        let sent = async {
            round.cold = ask(agent, &opts(&prompt)).await?;
            round.repeat = ask(agent, &opts(&prompt)).await?;
            if let Some(p) = &paraphrase {
                round.paraphrase = Some(ask(agent, &opts(p)).await?);
            }
            Ok::<(), String>(())
        }
        .await;
        if let Err(e) = sent {
            return (rounds, Err(e));
        }
        rounds.push(round);
    }
    (rounds, Ok(()))
}

/// One request; a URL the probe refuses is the error.
async fn ask(agent: &AgentConfig, o: &ProbeOptions) -> Result<Reply, String> {
    cockpit_probe::probe_openai(&agent.endpoint, o)
        .await
        .map(|r| reply(&r))
        .map_err(|e| e.to_string())
}

/// A seed that differs from run to run (the references must be new).
fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(t.as_nanos() & u128::from(u64::MAX)).unwrap_or(0) ^ u64::from(std::process::id())
}

/// A system prompt that opens with the round's reference.
fn prefix(reference: &str) -> String {
    let mut s = format!("Session {reference}. You are a helpful assistant.");
    while s.len() < PREFIX_BYTES {
        s.push_str(" Answer briefly and precisely.");
    }
    s
}

fn options(
    base: &ProbeOptions,
    header: &http::HeaderName,
    system_prompt: Option<String>,
    prompt: &str,
) -> ProbeOptions {
    ProbeOptions {
        samples: 1,
        warmup: 0,
        concurrency: 1,
        deadline: base.timeout + Duration::from_secs(1),
        prompt: prompt.to_string(),
        system_prompt,
        max_tokens: Some(MAX_TOKENS),
        record_samples: true,
        capture_header: Some(header.clone()),
        ..base.clone()
    }
}

fn reply(r: &cockpit_probe::ProbeReport) -> Reply {
    let Some(rec) = r.sample_records.first() else {
        return Reply {
            error: Some(ErrorKind::Timeout),
            ..Reply::default()
        };
    };
    Reply {
        ttft_ms: rec
            .ttft
            .filter(|_| rec.error.is_none())
            .map(|d| d.as_secs_f64() * 1000.0),
        hit: rec
            .header
            .as_deref()
            .map(|v| v.to_ascii_lowercase().contains("hit")),
        error: rec.error,
    }
}
