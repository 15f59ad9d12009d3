//! `simulate … --workers K --local`, `simulate shard` and `simulate merge`
//! as processes against the testbed: the merged sessions, turns and recall
//! verdicts are those of one process with the same seed, the merged
//! tallies and histograms are the shards' added, a killed worker is a
//! named hole, and mixed or foreign results are refused (exit 2, naming
//! the file).

mod common;

use std::time::Duration;

use base64::Engine as _;
use cockpit_core::Distribution;
use cockpit_testbed::{TestbedConfig, TraceEcho};
use common::{Workdir, command, fast, run, testbed, wait};
use serde_json::Value;

/// The fields of a level that depend on the sessions run, not on timing.
const TALLIES: [&str; 9] = [
    "concurrency",
    "sessions",
    "turns",
    "recall_turns",
    "answered",
    "correct",
    "wrong",
    "collisions",
    "errors",
];

fn tallies(level: &Value) -> Vec<Value> {
    TALLIES.iter().map(|k| level[k].clone()).collect()
}

fn decode(b64: &str) -> Distribution {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Distribution::from_v2_bytes(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_local_workers_run_the_sessions_of_one_process() {
    // A context window that loses the planted fact once the conversation
    // grows: the score depends on each session's turns, not on timing.
    let tb = testbed(TestbedConfig {
        context_window_tokens: Some(120),
        trace_echo: Some(TraceEcho::Right),
        ..fast()
    })
    .await;
    let wd = Workdir::new();
    let url = tb.openai_url();
    let sim = |extra: &[&str], out: &str| {
        let mut v = vec![
            "simulate",
            url.as_str(),
            "--ramp",
            "1:4:x2",
            "--turns",
            "6",
            "--min-recall-turns",
            "6",
            "--seed",
            "11",
            "--slo",
            "reasoning_score>0.99",
            "--out",
        ];
        v.push(out);
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let (one_dir, many_dir) = (wd.join("one"), wd.join("many"));
    let results = wd.join("results");
    let argv = sim(&[], one_dir.to_str().unwrap());
    let one = run(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let argv = sim(
        &[
            "--workers",
            "3",
            "--local",
            "--results",
            results.to_str().unwrap(),
        ],
        many_dir.to_str().unwrap(),
    );
    let many = run(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await;
    // The objective breaks in both (the window loses the fact): exit 1.
    assert_eq!(one.code, Some(1), "{}", one.stderr);
    assert_eq!(many.code, Some(1), "{}", many.stderr);
    let one = common::read_json(&one_dir.join("simulation.json"));
    let many = common::read_json(&many_dir.join("simulation.json"));
    let (l1, lk) = (
        one["levels"].as_array().unwrap(),
        many["levels"].as_array().unwrap(),
    );
    assert_eq!(l1.len(), 3);
    assert_eq!(lk.len(), 3);
    for (a, b) in l1.iter().zip(lk) {
        assert_eq!(tallies(a), tallies(b), "one process {a}\nmerged {b}");
        assert_eq!(a["reasoning_score"], b["reasoning_score"]);
        assert_eq!(a["score_ci95"], b["score_ci95"]);
    }
    let score = l1[2]["reasoning_score"].as_f64().unwrap();
    assert!(score > 0.0 && score < 1.0, "a partial score: {}", l1[2]);
    for k in ["concurrency", "metric", "value"] {
        assert_eq!(one["knee"][k], many["knee"][k], "knee {k}");
    }
    assert_eq!(many["slo_pass"], false);
    let fan = &many["fanout"];
    assert_eq!(fan["shards"], 3);
    assert_eq!(fan["missing"], serde_json::json!([]));
    assert_eq!(fan["sessions_not_run"], 0);

    // The merged level is the shards' tallies added and histograms merged,
    // its score derived from the added tallies.
    let shards: Vec<Value> = (0..3)
        .map(|k| common::read_json(&results.join(format!("worker-{k}.json"))))
        .collect();
    for (i, merged) in lk.iter().enumerate() {
        let parts: Vec<&Value> = shards.iter().map(|s| &s["levels"][i]).collect();
        let sum = |k: &str| parts.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
        for k in ["sessions", "turns", "answered", "correct"] {
            assert_eq!(merged[k].as_u64().unwrap(), sum(k), "{k} at level {i}");
        }
        let expected = sum("correct") as f64 / sum("answered") as f64;
        assert_eq!(merged["reasoning_score"].as_f64().unwrap(), expected);
        let mut ttft = Distribution::new();
        for p in &parts {
            ttft.merge(&decode(p["ttft"].as_str().unwrap()));
        }
        let summary: cockpit_core::LatencySummary =
            serde_json::from_value(merged["ttft_ms"].clone()).unwrap();
        assert_eq!(summary, ttft.summary(), "level {i}");
    }

    // `simulate merge` of the kept results gives the same levels.
    let names: Vec<String> = (0..3)
        .map(|k| {
            results
                .join(format!("worker-{k}.json"))
                .display()
                .to_string()
        })
        .collect();
    let again_dir = wd.join("again");
    let mut args = vec!["simulate", "merge", "--out", again_dir.to_str().unwrap()];
    args.extend(names.iter().map(String::as_str));
    let again = run(&args).await;
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    let again = common::read_json(&again_dir.join("simulation.json"));
    assert_eq!(again["levels"], many["levels"]);
    tb.shutdown().await;
}

/// The pid of the running `simulate shard` process of shard `shard`.
fn shard_pid(shard: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_it = args
            .windows(2)
            .any(|w| w[0] == b"--shard" && w[1] == shard.as_bytes())
            && args
                .windows(2)
                .any(|w| w[0] == b"simulate" && w[1] == b"shard");
        if is_it {
            return Some(pid);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_a_named_hole_its_sessions_not_run() {
    let tb = testbed(TestbedConfig {
        ttft: Duration::from_millis(300),
        ..fast()
    })
    .await;
    let wd = Workdir::new();
    let dir = wd.join("sim");
    let child = command(
        &[
            "simulate",
            &tb.openai_url(),
            "--sessions",
            "6",
            "--turns",
            "8",
            "--min-recall-turns",
            "4",
            "--workers",
            "3",
            "--local",
            "--format",
            "json",
            "--out",
            dir.to_str().unwrap(),
        ],
        &common::Opts::default(),
    )
    .spawn()
    .unwrap();
    // Hang guard: the worker appears within 60 s.
    let mut pid = None;
    for _ in 0..600 {
        pid = shard_pid("1/3");
        if pid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = pid.expect("worker 1/3 started");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = wait(child, Duration::from_secs(180)).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert_eq!(out.json()["interrupted"], true);
    let v = common::read_json(&dir.join("simulation.json"));
    assert_eq!(v["interrupted"], true);
    let fan = &v["fanout"];
    assert_eq!(fan["missing"], serde_json::json!([1]));
    let w = &fan["workers"][1];
    assert_eq!(w["state"], "missing");
    assert!(w["reason"].as_str().unwrap().contains("signal"), "{w}");
    // Six sessions over three shards: its two are not run, nor run by
    // another shard.
    assert_eq!(w["sessions"], 2, "{w}");
    assert_eq!(fan["sessions_not_run"], 2, "{fan}");
    assert_eq!(v["levels"][0]["sessions"], 4, "{v}");
    assert_eq!(v["levels"][0]["turns"], 4 * 8, "{v}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_mixed_runs_and_foreign_files_naming_them() {
    let tb = testbed(fast()).await;
    let url = tb.openai_url();
    let dir = Workdir::new();
    let start = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let shard = |k: &'static str, seed: &'static str, file: &str| {
        let out = dir.path().join(file).display().to_string();
        let (url, start) = (url.clone(), start.clone());
        async move {
            let o = run(&[
                "simulate",
                "shard",
                &url,
                "--shard",
                k,
                "--start-at",
                &start,
                "--sessions",
                "2",
                "--turns",
                "3",
                "--min-recall-turns",
                "2",
                "--seed",
                seed,
                "--out",
                &out,
            ])
            .await;
            assert_eq!(o.code, Some(0), "{}", o.stderr);
            out
        }
    };
    let a = shard("0/2", "1", "a.json").await;
    let b = shard("1/2", "2", "b.json").await;
    let o = run(&["simulate", "merge", &a, &b]).await;
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("b.json") && o.stderr.contains("seed"),
        "{}",
        o.stderr
    );

    let dup = run(&["simulate", "merge", &a, &a]).await;
    assert_eq!(dup.code, Some(2));
    assert!(dup.stderr.contains("shard 0 again"), "{}", dup.stderr);

    let foreign = dir.path().join("w.json");
    std::fs::write(&foreign, r#"{"schema":"agentops-cockpit/load-shard/1"}"#).unwrap();
    let f = foreign.display().to_string();
    let o = run(&["simulate", "merge", &a, &f]).await;
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("w.json") && o.stderr.contains("load-shard/1"),
        "{}",
        o.stderr
    );

    // One shard alone: the other is a named hole, its session not run.
    let out_dir = dir.path().join("merged");
    let o = run(&["simulate", "merge", &a, "--out", out_dir.to_str().unwrap()]).await;
    assert_eq!(o.code, Some(130), "{}", o.stderr);
    assert!(o.stdout.contains("shard 1/2 missing"), "{}", o.stdout);
    let v = common::read_json(&out_dir.join("simulation.json"));
    assert_eq!(v["fanout"]["missing"], serde_json::json!([1]));
    assert_eq!(v["fanout"]["sessions_not_run"], 1, "{v}");

    // A shard needs the agent every shard talks to.
    let o = command(
        &["simulate", "shard", "--shard", "0/2", "--start-at", &start],
        &common::Opts::default().cwd(dir.path()),
    )
    .spawn()
    .unwrap();
    let o = wait(o, Duration::from_secs(60)).await;
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("a URL or --config"), "{}", o.stderr);
    tb.shutdown().await;
}
