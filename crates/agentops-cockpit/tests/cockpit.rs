//! `agentops-cockpit cockpit` as a process: `--once` exit codes and JSON,
//! `--record` runs that `certify --from` reads, SIGINT, and configuration
//! errors located.

mod common;

use std::time::Duration;

use cockpit_testbed::TestbedConfig;
use common::{Opts, Workdir, command, dead_port, fast, kill, run_with, testbed, wait};
use serde_json::Value;

fn agent(name: &str, url: &str) -> String {
    format!("[[agents]]\nname = \"{name}\"\nendpoint = \"{url}/v1\"\nprotocol = \"openai\"\n\n")
}

async fn once(w: &Workdir, cfg: &std::path::Path, extra: &[&str]) -> common::Output {
    let mut args = vec![
        "cockpit",
        "--config",
        cfg.to_str().unwrap(),
        "--once",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    run_with(&args, &Opts::default().cwd(w.path())).await
}

fn row<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {snap:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_prints_the_snapshot_and_exits_0_when_the_fleet_is_healthy() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{}[cockpit]\nsamples = 3\n",
        agent("chat", &tb.base_url())
    ));
    let out = once(&w, &cfg, &[]).await;
    out.assert_code(0);
    let snap = out.json();
    assert_eq!(snap["snapshot_version"], "1");
    assert_eq!(snap["round"], 1);
    let chat = row(&snap, "chat");
    assert_eq!(chat["status"]["state"], "up");
    assert_eq!(chat["ttft"]["count"], 3, "one probe of three samples");
    assert_eq!(chat["requests"]["attempted"], 3);
    assert_eq!(chat["ttft_p95_series"].as_array().unwrap().len(), 1);
    assert!(chat["ttft"]["p95_ms"].as_f64().unwrap() >= 20.0, "{chat:#}");
    assert_eq!(snap["alerts"].as_array().unwrap().len(), 0);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exits_1_when_an_alert_fires_or_an_agent_is_down() {
    let slow = testbed(TestbedConfig {
        ttft: Duration::from_millis(150),
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{}[cockpit.alerts]\nttft_p95_ms = 100\n",
        agent("slow", &slow.base_url())
    ));
    let out = once(&w, &cfg, &[]).await;
    out.assert_code(1);
    let snap = out.json();
    let a = row(&snap, "slow");
    assert_eq!(a["alerts"][0]["rule"], "ttft-absolute", "{a:#}");
    let ev = &snap["alerts"][0];
    assert_eq!(ev["state"], "firing");
    // The Slow Reasoning record, in the lake of [gate] evidence_dir.
    let dir = std::path::PathBuf::from(ev["evidence"].as_str().expect("recorded"));
    let dir = if dir.is_absolute() {
        dir
    } else {
        w.join(&dir.display().to_string())
    };
    let report = common::read_json(&dir.join("report.json"));
    assert_eq!(report["findings"][0]["check_id"], "FLT-SLOW");
    assert_eq!(report["findings"][0]["status"], "warn");

    let w = Workdir::new();
    let cfg = w.config(&agent("gone", &format!("http://127.0.0.1:{}", dead_port())));
    let out = once(&w, &cfg, &[]).await;
    out.assert_code(1);
    let gone = row(&out.json(), "gone").clone();
    assert_eq!(gone["status"]["state"], "down");
    assert_eq!(gone["status"]["error_kind"], "connect");
    slow.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cockpit_settings_are_located_or_named_and_exit_2() {
    let w = Workdir::new();
    let cfg = w.config("[cockpit]\ninterval = \"15s\"\nintervall = \"1s\"\n");
    let out = once(&w, &cfg, &[]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cockpit-test.toml:3:1") && out.stderr.contains("intervall"),
        "{}",
        out.stderr
    );
    let cfg = w.config("[cockpit.alerts]\nconsecutive = 0\n");
    let out = once(&w, &cfg, &[]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cockpit-test.toml:2:1"),
        "{}",
        out.stderr
    );
    let cfg = w.config(&agent("a", "http://127.0.0.1:9"));
    let out = once(&w, &cfg, &["--interval", "1ms"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("--interval"), "{}", out.stderr);
    let out = once(&w, &cfg, &["--serve-public"]).await;
    out.assert_code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_keeps_each_interval_for_certify_and_sigint_keeps_what_was_recorded() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{}[cockpit]\nsamples = 2\n",
        agent("chat", &tb.base_url())
    ));
    let cfg_s = cfg.to_str().unwrap();
    let args = [
        "cockpit",
        "--config",
        cfg_s,
        "--record",
        "--interval",
        "100ms",
        "--window",
        "300ms",
        "--format",
        "json",
    ];
    let child = command(&args, &Opts::default().cwd(w.path()))
        .spawn()
        .expect("spawn agentops-cockpit");
    let pid = child.id().expect("pid");
    let lake = cockpit_score::EvidenceLake::new(w.join(".cockpit/evidence"));
    // Hang guard: wait until three intervals are recorded.
    let start = std::time::Instant::now();
    while lake.runs().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(60), "never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(pid, "INT");
    let out = wait(child, Duration::from_secs(30)).await;
    out.assert_code(130);
    let lines: Vec<Value> = (out.stdout.lines())
        .map(|l| serde_json::from_str(l).expect("one snapshot per line"))
        .collect();
    assert!(lines.len() >= 2, "{}", out.stdout);
    let runs = lake.runs().unwrap();
    assert!(runs.len() >= 3, "what was recorded is kept");
    // An interval's report (the lake may also hold an alert's record).
    let interval = (runs.iter())
        .find(|r| common::read_json(r)["findings"][0]["check_id"] == "NET-TTFT")
        .expect("an interval's report");
    let first = interval.to_str().unwrap();
    let report = common::read_json(interval);
    assert_eq!(report["findings"][0]["subject"], "chat");
    assert!(report["findings"][0]["measurements"][0]["samples"].as_u64() == Some(2));
    let out = run_with(
        &[
            "certify", "--config", cfg_s, "--from", first, "--format", "json",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    assert!(
        matches!(out.code, Some(0 | 1)),
        "certify reads a recorded interval\n{}",
        out.stderr
    );
    let cert = out.json();
    assert_eq!(cert["report"]["findings"][0]["check_id"], "NET-TTFT");
    tb.shutdown().await;
}

/// The fleet hub in `--once`'s JSON: a testbed agent with a semantic cache
/// (its counters scraped), a real stdio MCP server (cockpit-deps' fixture,
/// standard-library Python) and one that exits mid-session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_measures_the_fleet_hub_into_the_json() {
    let tb = testbed(TestbedConfig {
        semantic_cache: Some(cockpit_testbed::SemanticCache::default()),
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-deps/tests/support/bad_mcp.py")
        .display()
        .to_string();
    let mcp = |name: &str, after: &str| {
        let pid = w.join(&format!("{name}.pid")).display().to_string();
        format!(
            "[[mcp]]\nname = \"{name}\"\ncommand = \"python3\"\nargs = [\"{fixture}\", \"{pid}\", \"exit-after\", \"{after}\"]\nsamples = 3\ntimeout_ms = 5000\n\n"
        )
    };
    let cfg = w.config(&format!(
        "{}{}{}[[cache]]\nagent = \"chat\"\nmetrics_url = \"{}/metrics\"\nhits_metric = \"testbed_semantic_cache_hits_total\"\nmisses_metric = \"testbed_semantic_cache_misses_total\"\nrounds = 2\nparaphrase = \"What is the capital of France?\"\n",
        agent("chat", &tb.base_url()),
        mcp("steady", "1000"),
        mcp("crashy", "2"),
        tb.base_url()
    ));
    let out = once(&w, &cfg, &[]).await;
    out.assert_code(0);
    let snap = out.json();
    let hub = &snap["hub"];
    assert!(hub["interval_ms"].as_u64().unwrap() > 0, "{hub:#}");
    let cache = &hub["caches"][0];
    assert_eq!(cache["agent"], "chat", "{hub:#}");
    assert_eq!(cache["repeat_hits"], 2, "{cache:#}");
    assert!(cache["hit_rate"].as_f64().unwrap() > 0.0, "{cache:#}");
    assert!(cache["measured_at"].is_string(), "{cache:#}");
    assert_eq!(hub["cache_fleet"]["caches"], 1, "{hub:#}");
    let steady = &hub["mcp"][0];
    assert_eq!(steady["name"], "steady");
    assert_eq!(steady["up"], true, "{steady:#}");
    assert_eq!(steady["ping"]["count"], 3, "{steady:#}");
    let crashy = &hub["mcp"][1];
    assert_eq!(crashy["up"], false, "{crashy:#}");
    assert!(crashy["error"].is_string(), "{crashy:#}");
    tb.shutdown().await;
}
