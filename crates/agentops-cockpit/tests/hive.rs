//! `audit report` with `[[cache]]` as a process: a testbed agent with a
//! semantic cache, its counters named in the configuration (the metrics
//! URL from the environment): HIV-HIT, HIV-RATE and HIV-FLEET in the JSON
//! report; a cache that never hits fails both ways; bad entries exit 2
//! with their location.

mod common;

use cockpit_testbed::{SemanticCache, TestbedConfig};
use common::*;

fn config(url: &str, metrics: &str, extra: &str) -> String {
    format!(
        "[probe]\nsamples = 2\nconcurrency = 1\n\n[[agents]]\nname = \"chat\"\nendpoint = \"{url}\"\nprotocol = \"openai\"\nretrieval = []\n\n[[cache]]\nagent = \"chat\"\nmetrics_url = \"{metrics}\"\nhits_metric = \"testbed_semantic_cache_hits_total\"\nmisses_metric = \"testbed_semantic_cache_misses_total\"\ntokens_metric = \"testbed_semantic_cache_tokens_served_total\"\nprice_per_1k_tokens = 1.5\nrounds = 2\n{extra}"
    )
}

fn cache(capacity: usize) -> TestbedConfig {
    TestbedConfig {
        semantic_cache: Some(SemanticCache {
            capacity,
            paraphrases: vec![vec![
                "what is the capital of france".into(),
                "tell me france's capital city".into(),
            ]],
            ..SemanticCache::default()
        }),
        ..fast()
    }
}

async fn report(cfg: &str, w: &Workdir, metrics: &str) -> serde_json::Value {
    let cfg = w.config(cfg);
    let opts = Opts::default().cwd(w.path()).env("HIVE_METRICS", metrics);
    let out = run_with(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
        ],
        &opts,
    )
    .await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_analytics_are_in_the_report_both_ways() {
    let tb = testbed(cache(64)).await;
    let w = Workdir::new();
    let metrics = format!("{}/metrics", tb.base_url());
    let r = report(
        &config(&tb.openai_url(), "${HIVE_METRICS}", ""),
        &w,
        &metrics,
    )
    .await;
    let hit = finding(&r, "HIV-HIT", "chat");
    assert_eq!(hit["status"], "pass", "{hit:#}");
    assert_eq!(measurement(hit, "paraphrase_hits")["value"], 2.0);
    let rate = finding(&r, "HIV-RATE", "chat");
    assert_eq!(rate["status"], "pass", "{rate:#}");
    // The network audit's repeated prompts hit the cache too (before the
    // cache probe): the probe's own 4 hits are what the counter moved by.
    assert_eq!(measurement(rate, "probe_hits_counted")["value"], 4.0);
    let fleet = finding(&r, "HIV-FLEET", "fleet");
    assert_eq!(fleet["status"], "pass", "{fleet:#}");

    let never = testbed(cache(0)).await;
    let metrics = format!("{}/metrics", never.base_url());
    let r = report(
        &config(&never.openai_url(), "${HIVE_METRICS}", ""),
        &w,
        &metrics,
    )
    .await;
    assert_eq!(finding(&r, "HIV-HIT", "chat")["status"], "fail");
    assert_eq!(finding(&r, "HIV-RATE", "chat")["status"], "fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cache_entries_exit_2_located() {
    let w = Workdir::new();
    let url = format!("http://127.0.0.1:{}/v1", dead_port());
    let metrics = format!("http://127.0.0.1:{}/metrics", dead_port());
    for (from, to, line, key) in [
        ("rounds = 2", "kind = \"lru\"", ":18:", "`lru`"),
        ("rounds = 2", "rounds = 0", ":18:1:", "rounds"),
        ("rounds = 2", "hit_rate = 1", ":18:", "`hit_rate`"),
        (
            "price_per_1k_tokens = 1.5",
            "price_per_1k_tokens = -1.0",
            ":17:1:",
            "not a price",
        ),
    ] {
        let cfg = w.config(&config(&url, &metrics, "").replace(from, to));
        let out = run(&["audit", "report", "--config", cfg.to_str().unwrap()]).await;
        out.assert_code(2);
        assert!(
            out.stderr.contains(line) && out.stderr.contains(key),
            "{to}: {}",
            out.stderr
        );
    }
    let cfg =
        w.config(&config(&url, &metrics, "").replace("agent = \"chat\"", "agent = \"nobody\""));
    let out = run(&["audit", "report", "--config", cfg.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("`nobody`: agent"), "{}", out.stderr);
    let cfg = w.config(&config(&url, "${HIVE_UNSET_METRICS}", ""));
    let out = run(&["audit", "report", "--config", cfg.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("HIVE_UNSET_METRICS"), "{}", out.stderr);
}
