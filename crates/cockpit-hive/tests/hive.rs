//! Cache analytics against testbed agents on 127.0.0.1: one with a
//! semantic cache that knows the paraphrase, one whose cache matches exact
//! prompts only, one whose cache stores nothing (it never hits), one
//! without a cache (no hit header), and a metrics endpoint that is down.

use std::time::Duration;

use cockpit_core::fleet::AgentConfig;
use cockpit_core::{Finding, Status};
use cockpit_hive::{CacheConfig, HiveConfig};
use cockpit_probe::ProbeSettings;
use cockpit_testbed::{SemanticCache, Testbed, TestbedConfig};
use tokio_util::sync::CancellationToken;

async fn agent(cache: Option<SemanticCache>) -> Testbed {
    Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(40),
        inter_token: Duration::from_millis(1),
        tokens: 8,
        semantic_cache: cache,
        ..TestbedConfig::default()
    })
    .await
    .expect("testbed starts")
}

fn cache(capacity: usize, paraphrases: bool) -> Option<SemanticCache> {
    Some(SemanticCache {
        capacity,
        paraphrases: if paraphrases {
            vec![vec![
                "what is the capital of france".into(),
                "tell me france's capital city".into(),
            ]]
        } else {
            Vec::new()
        },
        ..SemanticCache::default()
    })
}

fn entry(name: &str, tb: &Testbed) -> AgentConfig {
    let mut a: AgentConfig = serde_json::from_value(serde_json::json!({
        "name": name, "endpoint": tb.openai_url(), "protocol": "openai"
    }))
    .unwrap();
    a.metrics_url = Some(format!("{}/metrics", tb.base_url()));
    a
}

fn counted(name: &str) -> CacheConfig {
    let mut c = CacheConfig::new(name);
    c.hits_metric = Some(cockpit_testbed::HITS_METRIC.into());
    c.misses_metric = Some(cockpit_testbed::MISSES_METRIC.into());
    c.tokens_metric = Some(cockpit_testbed::TOKENS_METRIC.into());
    c.price_per_1k_tokens = Some(2.0);
    c.rounds = 2;
    c
}

fn probe() -> ProbeSettings {
    toml::from_str("timeout_s = 5.0").unwrap()
}

fn find<'a>(fs: &'a [Finding], id: &str, subject: &str) -> &'a Finding {
    fs.iter()
        .find(|f| f.check_id.as_str() == id && f.subject.as_deref() == Some(subject))
        .unwrap_or_else(|| panic!("no {id} for {subject} in {fs:#?}"))
}

fn value(f: &Finding, name: &str) -> f64 {
    f.measurements
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} in {f:#?}"))
        .value
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_cache_passes_and_a_cache_that_never_hits_fails_both_ways() {
    let good = agent(cache(64, true)).await;
    let never = agent(cache(0, true)).await;
    let cfg = HiveConfig::new(
        vec![counted("good"), counted("never")],
        vec![entry("good", &good), entry("never", &never)],
        probe(),
    );
    let out = cockpit_hive::audit(&cfg, &CancellationToken::new())
        .await
        .unwrap();
    let fs = &out.findings;

    let hit = find(fs, "HIV-HIT", "good");
    assert_eq!(hit.status, Status::Pass, "{}", hit.summary);
    assert_eq!(value(hit, "repeat_hits"), 2.0);
    assert_eq!(value(hit, "paraphrase_hits"), 2.0);
    assert_eq!(value(hit, "cold_hits"), 0.0);
    let saved = hit
        .measurements
        .iter()
        .find(|m| m.name == "ttft_saved_p50")
        .unwrap();
    assert_eq!(saved.samples, 2);

    // The counters saw the probe: 4 hits (2 repeats, 2 paraphrases) of 8
    // tokens each, 2 misses; 32 tokens at 2.0 per 1000.
    let rate = find(fs, "HIV-RATE", "good");
    assert_eq!(rate.status, Status::Pass, "{}", rate.summary);
    assert_eq!(value(rate, "hits"), 4.0);
    assert_eq!(value(rate, "misses"), 2.0);
    assert_eq!(value(rate, "tokens_served"), 32.0);
    assert!((value(rate, "cost_avoided") - 0.064).abs() < 1e-9);
    assert_eq!(value(rate, "probe_hits_counted"), 4.0);

    let hit = find(fs, "HIV-HIT", "never");
    assert_eq!(hit.status, Status::Fail, "{}", hit.summary);
    assert!(
        hit.summary.contains("none of 2 repeated prompts"),
        "{}",
        hit.summary
    );
    let rate = find(fs, "HIV-RATE", "never");
    assert_eq!(rate.status, Status::Fail, "{}", rate.summary);
    assert!(
        rate.summary.contains("6 lookups and no hit"),
        "{}",
        rate.summary
    );

    let fleet = find(fs, "HIV-FLEET", "fleet");
    assert_eq!(fleet.status, Status::Pass, "{}", fleet.summary);
    assert_eq!(value(fleet, "lookups"), 12.0);
    assert_eq!(value(fleet, "hits"), 4.0);
    assert_eq!((out.subjects, out.reached), (2, 2));
    good.shutdown().await;
    never.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_match_caches_warn_and_unreadable_evidence_is_not_measured() {
    let exact = agent(cache(64, false)).await;
    let plain = agent(None).await;
    let mut misnamed = counted("plain");
    misnamed.hits_metric = Some("no_such_hits_total".into());
    let mut down = counted("exact");
    down.metrics_url = Some("http://127.0.0.1:1/metrics".into());
    let cfg = HiveConfig::new(
        vec![down, misnamed],
        vec![entry("exact", &exact), entry("plain", &plain)],
        probe(),
    );
    let out = cockpit_hive::audit(&cfg, &CancellationToken::new())
        .await
        .unwrap();
    let fs = &out.findings;
    let hit = find(fs, "HIV-HIT", "exact");
    assert_eq!(hit.status, Status::Warn, "{}", hit.summary);
    assert!(
        hit.summary.contains("exact prompts only"),
        "{}",
        hit.summary
    );
    let rate = find(fs, "HIV-RATE", "exact");
    assert_eq!(rate.status, Status::NotMeasured, "{}", rate.summary);
    assert!(rate.summary.contains("127.0.0.1:1"), "{}", rate.summary);

    let hit = find(fs, "HIV-HIT", "plain");
    assert_eq!(hit.status, Status::NotMeasured, "{}", hit.summary);
    assert!(hit.summary.contains("`x-cache` header"), "{}", hit.summary);
    let rate = find(fs, "HIV-RATE", "plain");
    assert_eq!(rate.status, Status::NotMeasured, "{}", rate.summary);
    assert!(
        rate.summary.contains("no counter `no_such_hits_total`"),
        "{}",
        rate.summary
    );
    assert_eq!(find(fs, "HIV-FLEET", "fleet").status, Status::NotMeasured);
    exact.shutdown().await;
    plain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_is_down_is_not_measured_and_a_cancelled_audit_stops() {
    let tb = agent(cache(64, true)).await;
    let mut dead = entry("dead", &tb);
    dead.endpoint = "http://127.0.0.1:1/v1/chat/completions".into();
    tb.shutdown().await;
    let cfg = HiveConfig::new(vec![CacheConfig::new("dead")], vec![dead], probe());
    let out = cockpit_hive::audit(&cfg, &CancellationToken::new())
        .await
        .unwrap();
    let hit = find(&out.findings, "HIV-HIT", "dead");
    assert_eq!(hit.status, Status::NotMeasured, "{}", hit.summary);
    assert_eq!((out.subjects, out.reached), (1, 0));

    let cancel = CancellationToken::new();
    cancel.cancel();
    let out = cockpit_hive::audit(&cfg, &cancel).await.unwrap();
    assert!(out.interrupted);
    let bad = HiveConfig::new(vec![CacheConfig::new("nobody")], vec![], probe());
    let e = cockpit_hive::audit(&bad, &cancel).await.unwrap_err();
    assert!(e.to_string().contains("`nobody`: agent"), "{e}");
}
