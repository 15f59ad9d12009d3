//! `load … --workers K --local`, `load shard` and `load merge` as processes
//! against the testbed: merged counts equal the server's counters, the
//! merged histogram is the histogram of every worker's samples, the
//! sharded schedule is the single-process one, SLOs are evaluated once on
//! the merged data, a killed worker is a named hole, and mixed or foreign
//! results are refused (exit 2, naming the file).

mod common;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use base64::Engine as _;
use cockpit_core::Distribution;
use common::{Workdir, command, fast, run, testbed, wait};

/// The testbed's count of answered requests on `route` with `code`.
fn served(addr: std::net::SocketAddr, route: &str, code: &str) -> u64 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the testbed");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let key = format!("testbed_requests_total{{route=\"{route}\",code=\"{code}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |n| n.trim().parse().expect("a counter"))
}

/// The latency histogram of every step of every worker result in `files`.
fn combined(files: &[std::path::PathBuf]) -> Distribution {
    let mut all = Distribution::new();
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for step in v["steps"].as_array().unwrap() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(step["latency"].as_str().unwrap())
                .unwrap();
            all.merge(&Distribution::from_v2_bytes(&bytes).unwrap());
        }
    }
    all
}

fn json(out: &common::Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_local_workers_merge_exactly() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let dir = Workdir::new();
    let results = dir.path().join("results");
    let before = served(tb.http_addr(), "/healthz", "200");
    let out = run(&[
        "load",
        &url,
        "--rate",
        "200",
        "-d",
        "2s",
        "--poisson",
        "--seed",
        "7",
        "-c",
        "8",
        "--workers",
        "4",
        "--local",
        "--results",
        results.to_str().unwrap(),
        // 200 req/s is met by the merged run, never by one worker's 50.
        "--slo",
        "rps>100",
        "--slo",
        "p(99)<5s",
        "--format",
        "json",
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = json(&out);
    let after = served(tb.http_addr(), "/healthz", "200");
    let q = &v["requests"];
    // Every request the workers counted ok is one the server answered (and
    // one abandoned at the end may have been answered too).
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
    assert_eq!(q["errors"], 0);
    assert_eq!(v["fanout"]["shards"], 4);
    assert_eq!(v["fanout"]["missing"], serde_json::json!([]));
    // SLOs evaluated once, on the merged figures.
    assert_eq!(v["slos"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["slo_pass"], true, "{v}");

    // The merged histogram is the histogram of every worker's samples.
    let files: Vec<_> = (0..4)
        .map(|k| results.join(format!("worker-{k}.json")))
        .collect();
    let all = combined(&files);
    let merged: cockpit_core::LatencySummary =
        serde_json::from_value(v["latency"].clone()).unwrap();
    assert_eq!(merged, all.summary());
    assert_eq!(merged.count, q["ok"].as_u64().unwrap());

    // `load merge` of the kept results gives the same report.
    let mut args = vec!["load", "merge", "--format", "json"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let again = run(&args).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let w = json(&again);
    assert_eq!(w["latency"], v["latency"]);
    assert_eq!(w["requests"], v["requests"]);

    // The same seed in one process with 4 threads schedules the same
    // Poisson arrivals: the same number due in the run.
    let single = run(&[
        "load",
        &url,
        "--rate",
        "200",
        "-d",
        "2s",
        "--poisson",
        "--seed",
        "7",
        "-c",
        "4",
        "--threads",
        "4",
        "--format",
        "json",
    ])
    .await;
    assert_eq!(single.code, Some(0), "{}", single.stderr);
    let s = json(&single);
    assert_eq!(s["requests"]["scheduled"], q["scheduled"], "{s}\n{v}");
    tb.shutdown().await;
}

/// The pid of the running `load shard` process of shard `shard`.
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
            && args.iter().any(|a| *a == b"shard");
        if is_it {
            return Some(pid);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_a_named_hole_never_redistributed() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let child = command(
        &[
            "load",
            &url,
            "--rate",
            "300",
            "-d",
            "4s",
            "--seed",
            "3",
            "-c",
            "6",
            "--workers",
            "3",
            "--local",
            "--format",
            "json",
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
    let out = wait(child, Duration::from_secs(120)).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["fanout"]["missing"], serde_json::json!([1]));
    let w = &v["fanout"]["workers"][1];
    assert_eq!(w["state"], "missing");
    assert!(w["reason"].as_str().unwrap().contains("signal"), "{w}");
    // Its share of the constant schedule (300 req/s over 4 s, every third
    // request) is counted unsent, and nobody sent it instead.
    assert_eq!(w["unsent"], 400, "{w}");
    let q = &v["requests"];
    assert_eq!(q["scheduled"], 1200, "{v}");
    assert!(q["sent"].as_u64().unwrap() <= 800, "{v}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_mixed_runs_and_foreign_files_naming_them() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let dir = Workdir::new();
    let start = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let shard = |k: &'static str, seed: &'static str, file: &str| {
        let out = dir.path().join(file).display().to_string();
        let (url, start) = (url.clone(), start.clone());
        async move {
            let o = run(&[
                "load",
                "shard",
                &url,
                "--shard",
                k,
                "--start-at",
                &start,
                "--rate",
                "20",
                "-d",
                "500ms",
                "--seed",
                seed,
                "-c",
                "1",
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
    let o = run(&["load", "merge", &a, &b]).await;
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("b.json") && o.stderr.contains("seed"),
        "{}",
        o.stderr
    );

    let dup = run(&["load", "merge", &a, &a]).await;
    assert_eq!(dup.code, Some(2));
    assert!(dup.stderr.contains("shard 0 again"), "{}", dup.stderr);

    let foreign = dir.path().join("report.json");
    std::fs::write(&foreign, r#"{"schema":"agentops-cockpit/load-shard/99"}"#).unwrap();
    let f = foreign.display().to_string();
    let o = run(&["load", "merge", &a, &f]).await;
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("report.json") && o.stderr.contains("load-shard/99"),
        "{}",
        o.stderr
    );

    // One shard alone: the other is a named hole.
    let o = run(&["load", "merge", &a, "--format", "json"]).await;
    assert_eq!(o.code, Some(130), "{}", o.stderr);
    let v = json(&o);
    assert_eq!(v["fanout"]["missing"], serde_json::json!([1]));
    assert_eq!(v["fanout"]["workers"][1]["unsent"], 5, "{v}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_fans_out_too() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let before = served(tb.http_addr(), "/healthz", "200");
    let out = run(&[
        "load",
        &url,
        "-c",
        "4",
        "-d",
        "1s",
        "--workers",
        "2",
        "--local",
        "--format",
        "json",
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = json(&out);
    let after = served(tb.http_addr(), "/healthz", "200");
    assert_eq!(v["mode"], "closed");
    assert_eq!(v["connections"], 4);
    let ok = v["requests"]["ok"].as_u64().unwrap();
    let abandoned = v["requests"]["in_flight_at_end"].as_u64().unwrap();
    assert!(ok > 0);
    assert!((ok..=ok + abandoned).contains(&(after - before)), "{v}");
    // The workers' status counts, carried through their results.
    assert_eq!(
        status_codes(&v),
        [("200".to_string(), ok)].into(),
        "every request answered 200"
    );
    tb.shutdown().await;
}

/// `status_codes` of a report or worker result as a map of counts.
fn status_codes(v: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    v["status_codes"]
        .as_object()
        .unwrap_or_else(|| panic!("no status_codes in {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_add_up_over_shards_and_old_results_still_merge() {
    let tb = testbed(cockpit_testbed::TestbedConfig {
        error_rate: 0.3,
        ..fast()
    })
    .await;
    let url = tb.openai_url();
    let dir = Workdir::new();
    // Both shards at once, from a common start a moment ahead.
    let start =
        humantime::format_rfc3339(std::time::SystemTime::now() + Duration::from_millis(1500))
            .to_string();
    let files: Vec<String> = ["0", "1"]
        .iter()
        .map(|k| dir.path().join(format!("w{k}.json")).display().to_string())
        .collect();
    let shard_run = |k: &'static str, out: String| {
        let (url, start) = (url.clone(), start.clone());
        async move {
            let o = run(&[
                "load",
                "shard",
                &url,
                "--protocol",
                "openai",
                "--shard",
                k,
                "--start-at",
                &start,
                "--rate",
                "40",
                "-d",
                "1s",
                "--seed",
                "3",
                "-c",
                "4",
                "--out",
                &out,
            ])
            .await;
            assert_eq!(o.code, Some(0), "{}", o.stderr);
        }
    };
    tokio::join!(
        shard_run("0/2", files[0].clone()),
        shard_run("1/2", files[1].clone())
    );
    let shard: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    let mut expected = status_codes(&shard[0]);
    for (k, n) in status_codes(&shard[1]) {
        *expected.entry(k).or_default() += n;
    }
    assert!(
        expected.contains_key("200") && expected.contains_key("500"),
        "{expected:?}"
    );

    let o = run(&["load", "merge", "--format", "json", &files[0], &files[1]]).await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let v = json(&o);
    assert_eq!(status_codes(&v), expected, "the merge adds the counts");
    let q = &v["requests"];
    assert_eq!(
        expected.values().sum::<u64>(),
        q["ok"].as_u64().unwrap() + q["errors"].as_u64().unwrap()
    );
    assert_eq!(v["errors"]["http_5xx"], expected["500"]);

    // The text: the distribution and the histogram, no ANSI into a pipe;
    // the CSV: a row per status.
    let text = run(&["load", "merge", &files[0], &files[1]]).await;
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    let line = |code: &str| {
        let n = expected[code];
        let unit = if n == 1 { "response" } else { "responses" };
        text.stdout
            .lines()
            .any(|l| l.starts_with(&format!("  [{code}]")) && l.ends_with(&format!(" {n} {unit}")))
    };
    assert!(line("200") && line("500"), "{}", text.stdout);
    assert!(
        text.stdout.contains("status code distribution:")
            && text
                .stdout
                .contains("latency histogram (bucket upper bounds, ms):"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains('\x1b'), "{}", text.stdout);
    let ours = |l: &&str| l.starts_with("  [") || l.contains(" ms [");
    assert!(
        text.stdout.lines().filter(ours).count() >= 3,
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .lines()
            .filter(ours)
            .all(|l| l.chars().count() <= 80),
        "{}",
        text.stdout
    );
    let csv = run(&["load", "merge", "--format", "csv", &files[0], &files[1]]).await;
    assert!(
        csv.stdout
            .lines()
            .any(|l| l == format!("status_codes.500,{}", expected["500"])),
        "{}",
        csv.stdout
    );

    // A result written before status counts still merges: the
    // distribution is left out, with a warning naming the shard.
    let mut old = shard[0].clone();
    old.as_object_mut().unwrap().remove("status_codes");
    let old_file = dir.path().join("old.json");
    std::fs::write(&old_file, serde_json::to_vec(&old).unwrap()).unwrap();
    let o = run(&[
        "load",
        "merge",
        "--format",
        "json",
        old_file.to_str().unwrap(),
        &files[1],
    ])
    .await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let v = json(&o);
    assert!(v.get("status_codes").is_none(), "{v}");
    assert_eq!(
        v["requests"],
        json(&run(&["load", "merge", "--format", "json", &files[0], &files[1]]).await)["requests"]
    );
    // A status that is none of HTTP's, gRPC's or an error kind is refused.
    let mut bad = shard[0].clone();
    bad["status_codes"] = serde_json::json!({"2000": 1});
    let bad_file = dir.path().join("bad.json");
    std::fs::write(&bad_file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let o = run(&["load", "merge", bad_file.to_str().unwrap(), &files[1]]).await;
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr.contains("bad.json") && o.stderr.contains("status_codes"),
        "{}",
        o.stderr
    );
    let warnings = v["fanout"]["warnings"].to_string();
    assert!(
        warnings.contains("shard 0/2 reported no status counts"),
        "{warnings}"
    );
    tb.shutdown().await;
}
