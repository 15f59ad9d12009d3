//! `load … --workers K --on-kubernetes` as a process against the fake API
//! server, whose kubelet runs each pod of the Job as a real
//! `agentops-cockpit load shard` process against the testbed: the Job
//! rendered (golden file), the merged counts equal to the testbed's own
//! counters, a failing worker a named hole, a 403 naming the verb, pods
//! never scheduled a deadline, `--keep` leaving the Job.

mod common;

use std::path::Path;
use std::time::Duration;

use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use common::{BIN, Opts, Workdir, fast, run, run_with, served, testbed};

const IMAGE: &str = "registry.example/agentops-cockpit@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const JOB: &str = "apis/batch/v1/namespaces/loadgen/jobs/agentops-cockpit-load";

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

/// `load URL` at 60 req/s for 2 s over three pods, JSON out.
fn args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "load",
        url,
        "--rate",
        "60",
        "-d",
        "2s",
        "--seed",
        "5",
        "-c",
        "6",
        "--workers",
        "3",
        "--on-kubernetes",
        "--image",
        IMAGE,
        "--lead",
        "1s",
        "--format",
        "json",
    ];
    v.extend_from_slice(extra);
    v
}

fn deletes(f: &FakeApiServer) -> usize {
    f.requests()
        .iter()
        .filter(|r| r.starts_with(&format!("DELETE /{JOB}")))
        .count()
}

#[tokio::test]
async fn render_writes_the_job_and_runs_nothing() {
    let dir = Workdir::new();
    let out = run_with(
        &[
            "load",
            "http://127.0.0.1:9/v1/chat/completions",
            "--protocol",
            "openai",
            "--rate",
            "300",
            "-d",
            "2m",
            "--seed",
            "42",
            "-c",
            "30",
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
        "load-job.yaml",
        &std::fs::read_to_string(dir.join("job.yaml")).unwrap(),
    );

    // No image: refused before anything, naming the flag.
    let out = run_with(
        &[
            "load",
            "http://127.0.0.1:9/",
            "--workers",
            "3",
            "--on-kubernetes",
            "--render",
            "j.yaml",
        ],
        &Opts::default().cwd(dir.path()),
    )
    .await;
    out.assert_code(2);
    assert!(out.stderr.contains("--image"), "{}", out.stderr);
    assert!(!dir.join("j.yaml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pods_merge_exactly_and_the_job_is_deleted() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let f = fake(FakeCluster::new()).await;
    let dir = Workdir::new();
    let before = served(&tb, "/healthz").await;
    let out = run_with(&args(&url, &[]), &opts(&f, &dir)).await;
    out.assert_code(0);
    let v = out.json();
    let after = served(&tb, "/healthz").await;
    let q = &v["requests"];
    let (ok, abandoned) = (
        q["ok"].as_u64().unwrap(),
        q["in_flight_at_end"].as_u64().unwrap(),
    );
    assert!(ok > 0, "{v}");
    assert!(
        (ok..=ok + abandoned).contains(&(after - before)),
        "server {} vs {v}",
        after - before
    );
    // The constant schedule of 60 req/s over 2 s, split over three pods.
    assert_eq!(q["scheduled"], 120, "{v}");
    let fan = &v["fanout"];
    assert_eq!(fan["shards"], 3);
    assert_eq!(fan["missing"], serde_json::json!([]));
    for w in fan["workers"].as_array().unwrap() {
        assert_eq!(w["state"], "ok", "{w}");
        assert!(
            w["source"]
                .as_str()
                .unwrap()
                .starts_with("pod agentops-cockpit-load-"),
            "{w}"
        );
        // Measured through the pod proxy: one machine, one clock.
        assert!(w["clock_offset_ms"].as_f64().unwrap().abs() < 1000.0, "{w}");
    }
    assert!(fan["clock_spread_ms"].is_number(), "{fan}");
    assert_eq!(deletes(&f), 1, "{:?}", f.requests());
    assert!(
        out.stderr
            .contains("deleted (propagationPolicy Background)"),
        "{}",
        out.stderr
    );
    let reqs = f.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("POST /apis/batch/v1/namespaces/loadgen/jobs"))
    );
    assert!(reqs.iter().any(|r| r.contains("/proxy/start")), "{reqs:?}");
    assert!(reqs.iter().any(|r| r.contains("/log?")), "{reqs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_worker_is_a_named_hole_and_keep_leaves_the_job() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let f = fake(FakeCluster::new().fail_worker(1)).await;
    let dir = Workdir::new();
    let out = run_with(&args(&url, &["--keep"]), &opts(&f, &dir)).await;
    out.assert_code(130);
    let v = out.json();
    assert_eq!(v["interrupted"], true);
    let fan = &v["fanout"];
    assert_eq!(fan["missing"], serde_json::json!([1]), "{fan}");
    let hole = &fan["workers"][1];
    assert_eq!(hole["state"], "missing");
    assert!(
        hole["reason"].as_str().unwrap().contains("exit 1"),
        "{hole}"
    );
    // Its share of the schedule is unsent, never redistributed.
    assert_eq!(hole["unsent"], 40, "{hole}");
    assert_eq!(v["requests"]["scheduled"], 120, "{v}");
    assert_eq!(deletes(&f), 0, "{:?}", f.requests());
    assert!(out.stderr.contains("kept (--keep)"), "{}", out.stderr);
    let job = f
        .client()
        .request_text(
            http::Request::get(format!("/{JOB}"))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .expect("the Job is still there");
    assert!(job.contains("\"completionMode\":\"Indexed\""), "{job}");
}

#[tokio::test]
async fn forbidden_create_names_the_verb_and_nothing_runs() {
    let f = fake(FakeCluster::new().forbid_verb("create", "jobs")).await;
    let dir = Workdir::new();
    let out = run_with(&args("http://127.0.0.1:9/", &[]), &opts(&f, &dir)).await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("create jobs in namespace loadgen"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[tokio::test]
async fn pods_never_scheduled_reach_the_deadline_and_the_job_is_deleted() {
    let f = fake(FakeCluster::new().never_schedule()).await;
    let dir = Workdir::new();
    let out = run_with(
        &args("http://127.0.0.1:9/", &["--schedule-timeout", "1s"]),
        &opts(&f, &dir),
    )
    .await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("not Running and Ready within 1s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Unschedulable"), "{}", out.stderr);
    assert_eq!(deletes(&f), 1);
}

#[tokio::test]
async fn without_a_place_to_run_workers_is_refused() {
    let out = run(&["load", "http://127.0.0.1:9/", "--workers", "2"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("--on-kubernetes"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_deletes_the_job_and_says_so() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let f = fake(FakeCluster::new()).await;
    let dir = Workdir::new();
    let mut a = args(&url, &[]);
    let d = a.iter().position(|x| *x == "2s").unwrap();
    a[d] = "60s";
    let child = common::command(&a, &opts(&f, &dir))
        .spawn()
        .expect("spawn agentops-cockpit");
    let pid = child.id().unwrap();
    common::poll(
        "the start handed to the pods",
        Duration::from_secs(60),
        || async {
            f.requests()
                .iter()
                .any(|r| r.contains("/proxy/start"))
                .then_some(())
        },
    )
    .await;
    common::sigint(pid);
    let out = common::wait(child, Duration::from_secs(60)).await;
    out.assert_code(130);
    assert!(
        out.stderr.contains("interrupted: stopping the workers"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("deleted (propagationPolicy Background)"),
        "{}",
        out.stderr
    );
    assert_eq!(deletes(&f), 1);
}
