//! `simulate … --workers K --on-kubernetes` as a process against the fake
//! API server, whose kubelet runs each pod of the Job as a real
//! `agentops-cockpit simulate shard` process against the testbed: the Job
//! rendered (golden file), the merged sessions, turns and scores those of
//! one process with the same seed and the pods' tallies added, the Job
//! deleted, and a failing worker a named hole whose sessions are not run.

mod common;

use std::path::Path;

use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use cockpit_testbed::{TestbedConfig, TraceEcho};
use common::{BIN, Opts, Workdir, fast, run, run_with, testbed};
use serde_json::Value;

const IMAGE: &str = "registry.example/agentops-cockpit@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const JOB: &str = "apis/batch/v1/namespaces/loadgen/jobs/agentops-cockpit-simulate";

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

/// Compare with the golden file; with `UPDATE_GOLDEN=1` (exactly), write it first.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

async fn fake(cluster: FakeCluster) -> FakeApiServer {
    FakeApiServer::start(
        cluster
            .with_namespace("loadgen")
            .kubelet("agentops-cockpit", Path::new(BIN)),
        "loadgen",
    )
    .await
    .expect("start the fake API server")
}

fn opts(f: &FakeApiServer, dir: &Workdir) -> Opts {
    Opts::default()
        .cwd(dir.path())
        .env("KUBECONFIG", f.kubeconfig().to_str().unwrap())
}

fn deletes(f: &FakeApiServer) -> usize {
    f.requests()
        .iter()
        .filter(|r| r.starts_with(&format!("DELETE /{JOB}")))
        .count()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn render_writes_the_job_and_runs_nothing() {
    let dir = Workdir::new();
    let out = run_with(
        &[
            "simulate",
            "http://127.0.0.1:9/v1",
            "--ramp",
            "4:64:x2",
            "--turns",
            "8",
            "--seed",
            "42",
            "--slo",
            "reasoning_score>=0.95",
            "--workers",
            "3",
            "--on-kubernetes",
            "--namespace",
            "loadgen",
            "--image",
            IMAGE,
            "--render",
            "job.yaml",
        ],
        &Opts::default().cwd(dir.path()),
    )
    .await;
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    golden(
        "simulate-job.yaml",
        &std::fs::read_to_string(dir.join("job.yaml")).unwrap(),
    );

    // Without the agent's URL the pods would have nothing to talk to.
    let out = run_with(
        &[
            "simulate",
            "--workers",
            "3",
            "--on-kubernetes",
            "--image",
            IMAGE,
            "--render",
            "j.yaml",
        ],
        &Opts::default().cwd(dir.path()),
    )
    .await;
    out.assert_code(2);
    assert!(out.stderr.contains("URL"), "{}", out.stderr);
    assert!(!dir.join("j.yaml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pods_run_the_sessions_of_one_process_and_the_job_is_deleted() {
    // A context window that loses the planted fact once the conversation
    // grows: the score depends on each session's turns, not on timing.
    let tb = testbed(TestbedConfig {
        context_window_tokens: Some(120),
        trace_echo: Some(TraceEcho::Right),
        ..fast()
    })
    .await;
    let wd = Workdir::new();
    let f = fake(FakeCluster::new()).await;
    let url = tb.openai_url();
    let sim = |extra: &[&str], out: &Path| {
        let mut v: Vec<String> = [
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
            "--out",
        ]
        .map(String::from)
        .to_vec();
        v.push(out.display().to_string());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let (one_dir, many_dir, results) = (wd.join("one"), wd.join("many"), wd.join("results"));
    let one = run(&strs(&sim(&[], &one_dir))).await;
    one.assert_code(0);
    let argv = sim(
        &[
            "--workers",
            "3",
            "--on-kubernetes",
            "--image",
            IMAGE,
            "--lead",
            "1s",
            "--results",
            results.to_str().unwrap(),
        ],
        &many_dir,
    );
    let many = run_with(&strs(&argv), &opts(&f, &wd)).await;
    many.assert_code(0);
    let one = common::read_json(&one_dir.join("simulation.json"));
    let many = common::read_json(&many_dir.join("simulation.json"));
    let (l1, lk) = (
        one["levels"].as_array().unwrap(),
        many["levels"].as_array().unwrap(),
    );
    assert_eq!(l1.len(), 3);
    assert_eq!(lk.len(), 3);
    for (a, b) in l1.iter().zip(lk) {
        let t = |l: &Value| TALLIES.iter().map(|k| l[k].clone()).collect::<Vec<_>>();
        assert_eq!(t(a), t(b), "one process {a}\nmerged {b}");
        assert_eq!(a["reasoning_score"], b["reasoning_score"]);
    }
    // Each merged level is the pods' tallies added.
    let pods: Vec<Value> = (0..3)
        .map(|k| common::read_json(&results.join(format!("worker-{k}.json"))))
        .collect();
    for (i, merged) in lk.iter().enumerate() {
        for k in ["sessions", "turns", "answered", "correct"] {
            let sum: u64 = pods
                .iter()
                .map(|p| p["levels"][i][k].as_u64().unwrap())
                .sum();
            assert_eq!(merged[k].as_u64().unwrap(), sum, "{k} at level {i}");
        }
    }
    let fan = &many["fanout"];
    assert_eq!(fan["shards"], 3);
    assert_eq!(fan["missing"], serde_json::json!([]));
    assert_eq!(fan["sessions_not_run"], 0);
    for w in fan["workers"].as_array().unwrap() {
        assert_eq!(w["state"], "ok", "{w}");
        assert!(
            w["source"]
                .as_str()
                .unwrap()
                .starts_with("pod agentops-cockpit-simulate-"),
            "{w}"
        );
        // Measured through the pod proxy: one machine, one clock.
        assert!(w["clock_offset_ms"].as_f64().unwrap().abs() < 1000.0, "{w}");
    }
    assert_eq!(deletes(&f), 1, "{:?}", f.requests());
    let reqs = f.requests();
    assert!(reqs.iter().any(|r| r.contains("/proxy/start")), "{reqs:?}");
    assert!(reqs.iter().any(|r| r.contains("/log?")), "{reqs:?}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_worker_is_a_named_hole_its_sessions_not_run() {
    let tb = testbed(fast()).await;
    let f = fake(FakeCluster::new().fail_worker(1)).await;
    let wd = Workdir::new();
    let out_dir = wd.join("sim");
    let url = tb.openai_url();
    let out = run_with(
        &[
            "simulate",
            &url,
            "--sessions",
            "6",
            "--turns",
            "4",
            "--min-recall-turns",
            "4",
            "--workers",
            "3",
            "--on-kubernetes",
            "--image",
            IMAGE,
            "--lead",
            "1s",
            "--format",
            "json",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &opts(&f, &wd),
    )
    .await;
    out.assert_code(130);
    assert_eq!(out.json()["interrupted"], true);
    let v = common::read_json(&out_dir.join("simulation.json"));
    let fan = &v["fanout"];
    assert_eq!(fan["missing"], serde_json::json!([1]), "{fan}");
    let hole = &fan["workers"][1];
    assert_eq!(hole["state"], "missing");
    assert!(
        hole["source"].as_str().unwrap().contains("shard 1/3"),
        "{hole}"
    );
    assert!(
        hole["reason"].as_str().unwrap().contains("exit 1"),
        "{hole}"
    );
    // Six sessions over three pods: its two are not run, nor run by
    // another pod.
    assert_eq!(hole["sessions"], 2, "{hole}");
    assert_eq!(fan["sessions_not_run"], 2, "{fan}");
    assert_eq!(v["levels"][0]["sessions"], 4, "{v}");
    assert_eq!(deletes(&f), 1, "{:?}", f.requests());
    tb.shutdown().await;
}
