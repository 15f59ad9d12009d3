//! Hive Mind cache analytics: the semantic or prefix cache in front of an
//! agent, measured two ways and reported side by side.
//!
//! 1. **Scraped**: the cache's own Prometheus counters (`[[cache]]
//!    hits_metric`, `misses_metric`, `tokens_metric`), read before and after
//!    the probe: hit rate, tokens served from cache, and with
//!    `price_per_1k_tokens` the cost avoided, per agent and for the fleet.
//! 2. **Probed**: rounds of a prompt never sent before, the same prompt
//!    again and (semantic) its paraphrase; the hit header of each answer
//!    says whether the cache answered, and the time to first token of the
//!    first send minus its repeat's is the latency the cache saved.
//!
//! - HIV-HIT: the declared cache answers repeats (and paraphrases).
//! - HIV-RATE: the counters' hit rate; a cache counting lookups and no hit
//!   fails; counters that miss the probe's hits warn.
//! - HIV-FLEET: the fleet's totals.
//!
//! ```
//! let text = "cache_hits_total 12\ncache_misses_total 4\n";
//! assert_eq!(cockpit_hive::counter_total(text, "cache_hits_total"), Some(12.0));
//! let c: cockpit_hive::CacheConfig = toml::from_str("agent = \"chat\"").unwrap();
//! assert_eq!(c.kind, cockpit_hive::CacheKind::Semantic);
//! ```
//!
//! # What it never does
//!
//! It never estimates: latency saved is a measured difference of two
//! requests' TTFTs, hit rates are the cache's own counters, and the cost
//! avoided is the counted tokens times the price the user gave. It never
//! probes an agent no `[[cache]]` names, sends at most 3 × `rounds` (≤ 60)
//! requests of at most 16 output tokens to one, one at a time, each within
//! `[probe]`'s timeout; reads a metrics body of at most 32 MiB; never
//! prints.

pub mod checks;
mod config;
mod error;
mod measure;
mod scrape;
mod snapshot;

use cockpit_core::AuditOutcome;
use cockpit_core::fleet::AgentProtocol;
use tokio_util::sync::CancellationToken;

pub use config::{CacheConfig, CacheKind, HiveConfig, MAX_PROMPT_BYTES, MAX_ROUNDS};
pub use error::HiveError;
pub use scrape::{Counters, counter_total};
pub use snapshot::{CacheSnapshot, Reply, Round};

/// Measure every declared cache, one after the other: the snapshots a
/// dashboard panel reads.
pub async fn measure_all(
    cfg: &HiveConfig,
    cancel: &CancellationToken,
) -> Result<Vec<CacheSnapshot>, HiveError> {
    cfg.validate()?;
    let mut out = Vec::new();
    for c in &cfg.caches {
        let Some(agent) = cfg.agent_of(c) else {
            continue;
        };
        out.push(measure(cfg, c, agent, cancel).await);
    }
    Ok(out)
}

/// One cache: counters, probe, counters again.
#[tracing::instrument(name = "hive_cache", skip_all, fields(agent = %c.agent))]
async fn measure(
    cfg: &HiveConfig,
    c: &CacheConfig,
    agent: &cockpit_core::fleet::AgentConfig,
    cancel: &CancellationToken,
) -> CacheSnapshot {
    let tls = cfg.probe.tls();
    let url = c
        .metrics_url
        .as_ref()
        .or(agent.metrics_url.as_ref())
        .filter(|_| c.scraped());
    let mut snap = CacheSnapshot {
        agent: agent.name.clone(),
        kind: c.kind,
        target: cockpit_core::redact_url(&agent.endpoint),
        hit_header: c.hit_header.clone(),
        probed: c.probe,
        rounds: Vec::new(),
        not_probed: None,
        metrics_url: url.map(|u| cockpit_core::redact_url(u)),
        before: None,
        after: None,
        scrape_error: None,
        price_per_1k_tokens: c.price_per_1k_tokens,
        interrupted: false,
    };
    if let Some(u) = url {
        match scrape::scrape(c, u, cfg.timeout(), &tls).await {
            Ok(x) => snap.before = Some(x),
            Err(e) => snap.scrape_error = Some(e),
        }
    }
    if c.probe && agent.protocol != AgentProtocol::Openai {
        snap.not_probed = Some("the cache probe speaks the OpenAI streaming protocol".into());
    } else if c.probe {
        let base = cockpit_probe::checks::agent_options(agent, &cfg.probe, &tls, cancel);
        let (rounds, r) = measure::probe(c, agent, &base, cancel).await;
        snap.rounds = rounds;
        if let Err(e) = r {
            snap.not_probed = Some(e);
        }
    }
    if let Some(u) = url.filter(|_| snap.scrape_error.is_none()) {
        match scrape::scrape(c, u, cfg.timeout(), &tls).await {
            Ok(x) => snap.after = Some(x),
            Err(e) => snap.scrape_error = Some(e),
        }
    }
    snap.interrupted = cancel.is_cancelled();
    snap
}

/// HIV-HIT, HIV-RATE and HIV-FLEET over every declared cache.
#[tracing::instrument(name = "hive_audit", skip_all)]
pub async fn audit(
    cfg: &HiveConfig,
    cancel: &CancellationToken,
) -> Result<AuditOutcome, HiveError> {
    let snaps = measure_all(cfg, cancel).await?;
    let mut out = judge(&snaps);
    out.interrupted |= cancel.is_cancelled();
    Ok(out)
}

/// The findings of the snapshots (pure): one subject per cache, reached
/// when a probe request or a counter read succeeded. HIV-HIT for probed
/// caches, HIV-RATE for caches with counters, HIV-FLEET when any has them.
pub fn judge(snaps: &[CacheSnapshot]) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    let mut scraped = Vec::new();
    for s in snaps {
        out.count_subject(s.replies().any(Reply::answered) || s.counters().is_some());
        out.interrupted |= s.interrupted;
        if s.probed {
            out.findings.push(checks::hiv_hit::evaluate(s));
        }
        if s.metrics_url.is_some() {
            out.findings.push(checks::hiv_rate::evaluate(s));
            scraped.push(s);
        }
    }
    if !scraped.is_empty() {
        out.findings.push(checks::hiv_fleet::evaluate(&scraped));
    }
    out
}
