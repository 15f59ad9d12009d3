//! Each part's snapshot, as its own crate measured it, turned into its
//! panel. The verdicts are the crates' own checks run on the snapshot
//! (the same functions `audit report` runs), never a second judgement.

use std::time::Duration;

use cockpit_core::{Distribution, Finding};
use cockpit_deps::{McpSnapshot, StoreSnapshot};
use cockpit_hive::CacheSnapshot;
use cockpit_shadow::{ShadowComparison, ShadowOutcome, ShadowSettings};
use cockpit_watchtower::{Outcome, WatchSnapshot};

use super::view::{
    CacheFleet, CachePanel, DiffView, FeedEntry, MAX_FEED, McpPanel, Quantiles, RagPanel,
    ShadowPanel, SideView, Verdict, WatchPanel,
};

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50 / p95 / p99 of a distribution, with its count.
pub(crate) fn quantiles(d: &Distribution) -> Quantiles {
    let q = |p| d.quantile(p).map(millis);
    Quantiles {
        count: d.count(),
        p50_ms: q(0.5),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
    }
}

fn verdict(f: &Finding) -> Verdict {
    Verdict {
        check: f.check_id.as_str().to_string(),
        status: f.status.as_str().to_string(),
        summary: f.summary.clone(),
    }
}

/// A measurement's value by name.
fn value(f: &Finding, name: &str) -> Option<f64> {
    f.measurement(name).map(|m| m.value)
}

/// A measurement's value and sample count by name.
fn counted(f: &Finding, name: &str) -> (Option<f64>, u64) {
    f.measurement(name)
        .map_or((None, 0), |m| (Some(m.value), m.samples))
}

fn whole(v: Option<f64>) -> Option<u64> {
    v.map(|v| v.max(0.0).round() as u64)
}

/// Hive Mind: the counters as last read and the probe's figures (read
/// from HIV-HIT's and HIV-RATE's measurements).
pub(crate) fn cache(p: &mut CachePanel, s: &CacheSnapshot) {
    let counters = s.counters();
    p.hits = counters.map(|c| c.hits);
    p.misses = counters.map(|c| c.misses);
    p.hit_rate = counters.and_then(|c| c.hit_rate());
    p.tokens_served = counters.and_then(|c| c.tokens);
    p.cost_avoided = s.cost_avoided();
    p.verdicts.clear();
    p.measured.error = s.scrape_error.clone().or_else(|| s.not_probed.clone());
    if s.probed {
        let hit = cockpit_hive::checks::hiv_hit::evaluate(s);
        p.probe_rounds = whole(value(&hit, "rounds")).unwrap_or(0);
        p.repeat_hits = whole(value(&hit, "repeat_hits"));
        p.paraphrase_hits = whole(value(&hit, "paraphrase_hits"));
        (p.ttft_saved_p50_ms, p.ttft_saved_count) = counted(&hit, "ttft_saved_p50");
        p.verdicts.push(verdict(&hit));
    }
    if s.metrics_url.is_some() {
        p.verdicts
            .push(verdict(&cockpit_hive::checks::hiv_rate::evaluate(s)));
    }
}

/// The fleet's totals over the caches whose counters were read (HIV-FLEET's
/// measurements); `None` when none was.
pub(crate) fn cache_fleet(snaps: &[&CacheSnapshot]) -> Option<CacheFleet> {
    let scraped: Vec<&CacheSnapshot> = (snaps.iter().copied())
        .filter(|s| s.metrics_url.is_some())
        .collect();
    if scraped.is_empty() {
        return None;
    }
    let f = cockpit_hive::checks::hiv_fleet::evaluate(&scraped);
    let caches = whole(value(&f, "caches")).unwrap_or(0);
    (caches > 0).then(|| CacheFleet {
        caches,
        hits: value(&f, "hits").unwrap_or(0.0),
        lookups: value(&f, "lookups").unwrap_or(0.0),
        // HIV-FLEET states it in percent; panels use 0–1 like the caches'.
        hit_rate: value(&f, "hit_rate").map(|pct| pct / 100.0),
        tokens_served: value(&f, "tokens_served"),
        cost_avoided: value(&f, "cost_avoided"),
    })
}

/// MCP hub: up when MCP-HEALTH passes on the session.
pub(crate) fn mcp(p: &mut McpPanel, s: &McpSnapshot) {
    let health = cockpit_deps::checks::mcp_health::evaluate(s);
    p.up = Some(health.status == cockpit_core::Status::Pass);
    p.protocol_version = s.protocol_version.clone();
    p.server_name = s.server_name.clone();
    p.tool_count = s.tool_count.map(|n| n as u64);
    p.initialize_ms = s.initialize.map(millis);
    p.ping = quantiles(&s.ping);
    p.tools_list = quantiles(&s.tools_list);
    p.calls = s.calls;
    p.errors = (s.errors.iter())
        .map(|(k, n)| (k.as_str().to_string(), *n))
        .collect();
    p.measured.error = match p.up {
        Some(false) => s
            .first_error
            .clone()
            .or_else(|| s.stopped.clone())
            .or(Some(health.summary)),
        _ => None,
    };
}

/// RAG dropzone: the collection's state in one word, its count (and since
/// when it has not changed), the query latency, RAG-STALE's verdict.
pub(crate) fn rag(p: &mut RagPanel, s: &StoreSnapshot, at: &str) {
    p.status = match (s.reached, s.exists, s.count, s.index_ready) {
        (false, ..) => "down",
        (_, Some(false), ..) => "missing",
        (_, _, Some(0), _) => "empty",
        (_, _, _, Some(false)) => "indexing",
        (_, Some(true), Some(_), _) => "ready",
        _ => "unknown",
    }
    .to_string();
    if s.count != p.count || p.count_since.is_none() {
        p.count_since = s.count.map(|_| at.to_string());
    }
    p.count = s.count;
    p.index_status = s.index_status.clone();
    p.query = quantiles(&s.query);
    p.query_errors = s.query_errors;
    p.source_count = s.source_count;
    p.stale = s
        .source_count
        .map(|_| verdict(&cockpit_deps::checks::rag_stale::evaluate(s, None)));
    p.measured.error = s.error.clone();
}

fn side(s: &cockpit_shadow::compare::SideSummary) -> SideView {
    SideView {
        n: s.n as u64,
        p50_ms: s.p50,
        p95_ms: s.p95,
    }
}

fn diff(i: Option<cockpit_shadow::stats::Interval>) -> Option<DiffView> {
    i.map(|i| DiffView {
        estimate_ms: i.estimate,
        low_ms: i.low,
        high_ms: i.high,
        level: i.level,
    })
}

/// Shadow mode: the TTFT of both sides, the differences with their
/// intervals, the test, and SHD-TTFT's verdict.
pub(crate) fn shadow(p: &mut ShadowPanel, o: &ShadowOutcome, settings: &ShadowSettings) {
    let c: &ShadowComparison = match o {
        ShadowOutcome::Compared(c) => c,
        ShadowOutcome::NotCompared { why, .. } => {
            p.measured.error = Some(why.clone());
            p.verdict = None;
            return;
        }
        _ => return,
    };
    p.measured.error = None;
    p.sent = c.sent as u64;
    if let Some(m) = c.metric("ttft") {
        p.ttft_v1 = side(&m.v1);
        p.ttft_v2 = side(&m.v2);
        p.ttft_p50_diff = diff(m.p50_diff);
        p.ttft_p95_diff = diff(m.p95_diff);
        p.ttft_p_value = m.mann_whitney.map(|t| t.p_value);
        p.ttft_difference = Some(m.verdict.as_str().to_string());
    }
    p.verdict = Some(verdict(&cockpit_shadow::checks::shd_ttft::evaluate(
        c, settings,
    )));
    p.v1_failed = c.errors.v1_failed;
    p.v2_failed = c.errors.v2_failed;
    p.identical_share = c.agreement.identical_share();
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Leaked => "leaked",
        Outcome::Held => "held",
        _ => "failed",
    }
}

/// An RFC 3339 time from milliseconds since the Unix epoch.
fn unix_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map_or_else(String::new, |t| t.to_string())
}

/// Adversarial watchtower: the latest measurement's attempts by outcome,
/// the ids that leaked, the running totals and the feed.
pub(crate) fn watch(p: &mut WatchPanel, s: &WatchSnapshot) {
    let count = |o| s.with(o).count() as u64;
    (p.leaked, p.held, p.failed) = (
        count(Outcome::Leaked),
        count(Outcome::Held),
        count(Outcome::Failed),
    );
    p.sent = s.attempts.len() as u64;
    p.leaked_ids = s.with(Outcome::Leaked).map(|a| a.id.clone()).collect();
    p.attempts_total += p.sent;
    p.leaks_total += p.leaked;
    p.feed.extend(s.attempts.iter().map(|a| FeedEntry {
        id: a.id.clone(),
        category: a.category.clone(),
        at: unix_ms(a.sent_at_unix_ms),
        outcome: outcome(a.outcome).to_string(),
    }));
    let extra = p.feed.len().saturating_sub(MAX_FEED);
    p.feed.drain(..extra);
    p.measured.error = s.not_watched.clone();
}
