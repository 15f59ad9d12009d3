//! `agentops-cockpit probe URL` against a real testbed on 127.0.0.1.

mod common;

use common::*;
use serde_json::Value;

const PERCENTILES: [&str; 8] = [
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "count",
];

/// `key` is a latency summary with every percentile and `count` samples.
#[track_caller]
fn assert_distribution(v: &Value, key: &str, count: u64) {
    let d = v
        .get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no `{key}` object in {v:#}"));
    for field in PERCENTILES {
        assert!(
            d.get(field).is_some_and(Value::is_number),
            "`{key}.{field}` missing: {v:#}"
        );
    }
    assert_eq!(d["count"].as_u64(), Some(count), "`{key}.count`: {v:#}");
    let p = |f: &str| d[f].as_f64().unwrap();
    assert!(
        p("p50_ms") <= p("p90_ms")
            && p("p90_ms") <= p("p95_ms")
            && p("p95_ms") <= p("p99_ms")
            && p("p99_ms") <= p("p999_ms")
            && p("p999_ms") <= p("max_ms"),
        "`{key}` percentiles are not ordered: {d:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_probe_reports_ttft_itl_e2e() {
    let tb = testbed(fast()).await;
    for url in [tb.openai_url(), format!("{}/v1", tb.base_url())] {
        let out = run(&[
            "probe",
            &url,
            "--protocol",
            "openai",
            "-n",
            "5",
            "-c",
            "2",
            "--format",
            "json",
        ])
        .await;
        out.assert_code(0);
        let v = out.json();
        assert_distribution(&v, "ttft", 5);
        assert_distribution(&v, "e2e", 5);
        // 8 tokens per answer: 7 gaps each.
        assert_distribution(&v, "itl", 5 * 7);
        assert_eq!(v["samples"], 5, "{v:#}");
        assert!(v["errors"].is_object(), "{v:#}");
        assert_eq!(v["errors"].as_object().unwrap().len(), 0, "{v:#}");
        assert_eq!(v["tokens_source"], "usage", "{v:#}");
        // A /v1 base gets /chat/completions appended.
        assert_eq!(v["target"], tb.openai_url().as_str(), "{v:#}");
        assert!(
            v["methods"]["ttft"].as_str().is_some_and(|m| !m.is_empty()),
            "{v:#}"
        );
        // TTFT is at least the testbed's 20 ms, measured on the client.
        assert!(v["ttft"]["p50_ms"].as_f64().unwrap() >= 20.0, "{v:#}");
    }
    assert!(tb.stamps().len() >= 12, "the testbed saw the requests");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_probe_reports_health_and_ttft() {
    let tb = testbed(fast()).await;
    let out = run(&[
        "probe",
        &tb.grpc_url(),
        "--protocol",
        "grpc",
        "-n",
        "3",
        "--format",
        "json",
    ])
    .await;
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["health"], "SERVING", "{v:#}");
    assert_distribution(&v, "ttft", 3);
    assert_eq!(v["samples"], 3);
    // 8 tokens per stream, from the final message's count.
    assert_eq!(v["throughput"]["output_tokens"], 3 * 8, "{v:#}");
    assert!(v["throughput"]["output_tokens_per_s"].as_f64().unwrap() > 0.0);
    let m = v["methods"]["throughput"].as_str().unwrap();
    assert!(m.contains("final message's output_tokens"), "{m}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_probe_times_each_phase() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let out = run(&[
        "probe",
        &url,
        "--protocol",
        "http",
        "-n",
        "10",
        "--format",
        "json",
    ])
    .await;
    out.assert_code(0);
    let v = out.json();
    for key in ["connect", "ttfb", "e2e"] {
        assert_distribution(&v, key, 10);
    }
    assert_eq!(v["samples"], 10);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn table_format_prints_the_percentiles() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let out = run(&["probe", &url, "--protocol", "http", "-n", "3"]).await;
    out.assert_code(0);
    let t = &out.stdout;
    for header in ["metric", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"] {
        assert!(t.contains(header), "{header:?} missing from\n{t}");
    }
    for row in ["connect", "ttfb", "e2e"] {
        assert!(
            t.lines().any(|l| l.contains(row) && l.contains(" ms")),
            "no {row} row in\n{t}"
        );
    }
    assert!(t.contains("3 measured"), "{t}");
    // Not a TTY: no colour codes.
    assert!(!t.contains('\u{1b}'), "{t}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_is_not_one_is_a_usage_error() {
    let out = run(&["probe", "not-a-url", "--format", "json"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("not-a-url"), "stderr: {}", out.stderr);
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_port_exits_3_with_the_errors_counted() {
    let url = format!("http://127.0.0.1:{}/healthz", dead_port());
    let out = run(&[
        "probe",
        &url,
        "--protocol",
        "http",
        "-n",
        "3",
        "--format",
        "json",
    ])
    .await;
    out.assert_code(3);
    let v = out.json();
    assert_eq!(v["samples"], 0, "{v:#}");
    // Warm-up and measured attempts all failed to connect, and are counted.
    let connect = v["errors"]["connect"].as_u64().unwrap_or(0);
    assert!(connect >= 3, "{v:#}");
    assert_eq!(v["attempted"].as_u64(), Some(connect), "{v:#}");
    assert!(
        v["error_examples"]["connect"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{v:#}"
    );
    assert!(
        out.stderr.contains("no successful sample"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_a_probe_url_are_not_printed() {
    let tb = testbed(fast()).await;
    let url = format!(
        "http://user:pr0be-s3cret@{}/healthz?token=pr0be-s3cret",
        tb.http_addr()
    );
    for format in ["json", "table"] {
        let out = run(&[
            "probe",
            &url,
            "--protocol",
            "http",
            "-n",
            "2",
            "--format",
            format,
        ])
        .await;
        out.assert_code(0);
        assert!(!out.stdout.contains("pr0be-s3cret"), "{}", out.stdout);
        assert!(!out.stderr.contains("pr0be-s3cret"), "{}", out.stderr);
    }
    let dead = format!("http://user:pr0be-s3cret@127.0.0.1:{}/healthz", dead_port());
    let out = run(&["probe", &dead, "-n", "2", "--format", "json"]).await;
    out.assert_code(3);
    assert!(!out.stdout.contains("pr0be-s3cret"), "{}", out.stdout);
    assert!(!out.stderr.contains("pr0be-s3cret"), "{}", out.stderr);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stdout_does_not_panic() {
    // `agentops-cockpit probe … | head -c 100`: the reader goes away before
    // the report is printed. The CLI must not panic (exit 101) over it.
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    for format in ["json", "table"] {
        let mut child = command(
            &[
                "probe",
                &url,
                "--protocol",
                "http",
                "-n",
                "2",
                "--format",
                format,
            ],
            &Opts::default(),
        )
        .spawn()
        .expect("spawn agentops-cockpit");
        // Close the read end of stdout at once: the probe takes far longer
        // than this to have anything to print.
        drop(child.stdout.take());
        let out = wait(child, RUN_TIMEOUT).await;
        assert!(
            !out.stderr.contains("panicked"),
            "--format {format}: panicked on a closed stdout:\n{}",
            out.stderr
        );
        assert_ne!(out.code, Some(101), "{}", out.stderr);
    }
    tb.shutdown().await;
}

/// `--compare-reuse` and `--compare-prefix` print tables in table mode (a
/// row per side, the ratio and the method) and the same figures in JSON.
#[tokio::test(flavor = "multi_thread")]
async fn comparisons_print_as_tables_and_as_json() {
    let tb = testbed(fast()).await;
    let url = tb.openai_url();
    let args = |format: &'static str| {
        vec![
            "probe".to_string(),
            url.clone(),
            "--protocol".into(),
            "openai".into(),
            "-n".into(),
            "3".into(),
            "--compare-reuse".into(),
            "--compare-prefix".into(),
            "--format".into(),
            format.into(),
        ]
    };
    let table_args = args("table");
    let table_args: Vec<&str> = table_args.iter().map(String::as_str).collect();
    let out = run(&table_args).await;
    out.assert_code(0);
    let text = &out.stdout;
    for needle in [
        "connection reuse (ttft_incl_connect):",
        "new connection",
        "kept-alive",
        "ratio: ",
        "prefix cache (TTFT, ",
        "repeated prefix",
        "fresh prefix",
        "gain: ",
        "method: ",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    assert!(
        !text.contains("\"cold\""),
        "raw JSON in table mode:\n{text}"
    );

    let json_args = args("json");
    let json_args: Vec<&str> = json_args.iter().map(String::as_str).collect();
    let out = run(&json_args).await;
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["connection_reuse"]["cold"]["count"], 3, "{v:#}");
    assert_eq!(v["connection_reuse"]["warm"]["count"], 3, "{v:#}");
    assert_eq!(v["prefix_cache"]["repeated"]["count"], 3, "{v:#}");
    assert!(v["prefix_cache"]["gain"].is_number(), "{v:#}");
}

/// `probe --timeout` against streams that never end or never progress:
/// each request ends as a `timeout` error, well before the run's deadline,
/// and the exit says what the data says (3: no sample succeeded), never 130.
#[tokio::test(flavor = "multi_thread")]
async fn streams_that_never_end_are_timeouts_not_interruptions() {
    use cockpit_testbed::hostile::{Behaviour, HostileHttp};
    let hang_guard = std::time::Duration::from_secs(60);
    for b in [
        Behaviour::EndlessTokens,
        Behaviour::EndlessComments,
        Behaviour::EndlessLine,
        Behaviour::Drip,
        Behaviour::NoHead,
        Behaviour::HeadDrip,
    ] {
        let server = HostileHttp::start(b).await.expect("hostile server");
        let url = server.openai_url();
        let args = [
            "probe",
            &url,
            "--protocol",
            "openai",
            "--timeout",
            "2s",
            "-n",
            "2",
            "-c",
            "2",
            "--warmup",
            "0",
            "--format",
            "json",
        ];
        let child = command(&args, &Opts::default()).spawn().expect("spawn");
        let out = wait(child, hang_guard).await;
        out.assert_code(3);
        let v = out.json();
        assert_eq!(v["errors"]["timeout"], 2, "{b:?}: {v:#}");
        assert_eq!(v["interrupted"], false, "{b:?}");
        assert_eq!(v["deadline_reached"], false, "{b:?}");
        assert!(
            out.stderr.contains("no successful sample"),
            "{b:?}: {}",
            out.stderr
        );
    }
    // A gRPC stream that never ends.
    use cockpit_testbed::hostile::{GrpcBehaviour, HostileGrpc};
    let server = HostileGrpc::start(GrpcBehaviour::EndlessTokens)
        .await
        .expect("hostile gRPC server");
    let url = server.url();
    let args = [
        "probe",
        &url,
        "--protocol",
        "grpc",
        "--timeout",
        "2s",
        "-n",
        "2",
        "-c",
        "2",
        "--warmup",
        "0",
        "--format",
        "json",
    ];
    let child = command(&args, &Opts::default()).spawn().expect("spawn");
    let out = wait(child, hang_guard).await;
    out.assert_code(3);
    let v = out.json();
    assert_eq!(v["errors"]["timeout"], 2, "{v:#}");
    assert_eq!(v["interrupted"], false);
}

/// A run deadline reached without Ctrl-C is reported as such (what was
/// left is counted), and is not exit 130.
#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_is_not_an_interruption() {
    use cockpit_testbed::hostile::{Behaviour, HostileHttp};
    let server = HostileHttp::start(Behaviour::EndlessTokens)
        .await
        .expect("hostile server");
    let url = server.openai_url();
    let args = [
        "probe",
        &url,
        "--protocol",
        "openai",
        "--timeout",
        "30s",
        "--deadline",
        "2s",
        "-n",
        "2",
        "--warmup",
        "0",
        "--format",
        "json",
    ];
    let child = command(&args, &Opts::default()).spawn().expect("spawn");
    let out = wait(child, std::time::Duration::from_secs(60)).await;
    out.assert_code(3);
    let v = out.json();
    assert_eq!(v["deadline_reached"], true, "{v:#}");
    assert_eq!(v["interrupted"], false, "{v:#}");
    assert_eq!(v["unfinished"], 2, "{v:#}");
    // The table says so too, and does not say interrupted.
    let table = args.map(|a| if a == "json" { "table" } else { a });
    let child = command(&table, &Opts::default()).spawn().expect("spawn");
    let out = wait(child, std::time::Duration::from_secs(60)).await;
    out.assert_code(3);
    assert!(out.stdout.contains("DEADLINE REACHED"), "{}", out.stdout);
    assert!(!out.stdout.contains("INTERRUPTED"), "{}", out.stdout);
}

/// Output tokens per second, per request and for the whole run, against a
/// testbed whose answers are 8 tokens (usage reported): the counts are
/// exact, the rates present, positive and consistent with each other.
#[tokio::test(flavor = "multi_thread")]
async fn openai_probe_reports_tokens_per_second_per_request_and_for_the_run() {
    let tb = testbed(fast()).await;
    let args = |format: &'static str| {
        vec![
            "probe".to_string(),
            tb.openai_url(),
            "--protocol".into(),
            "openai".into(),
            "-n".into(),
            "6".into(),
            "-c".into(),
            "2".into(),
            "--format".into(),
            format.into(),
        ]
    };
    let argv = args("json");
    let out = run(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await;
    out.assert_code(0);
    let v = out.json();
    let per = &v["output_tokens_per_s"];
    assert_eq!(per["count"], 6, "{v:#}");
    let q = |k: &str| per[k].as_f64().unwrap();
    assert!(
        q("min") > 0.0 && q("p10") <= q("p50") && q("p50") <= q("p90") && q("p90") <= q("max"),
        "{per:#}"
    );
    let run_tp = &v["throughput"];
    assert_eq!(run_tp["output_tokens"], 6 * 8, "{v:#}");
    assert_eq!(run_tp["requests"], 6, "{v:#}");
    let tps = run_tp["output_tokens_per_s"].as_f64().unwrap();
    assert!(
        tps > 0.0 && run_tp["window_s"].as_f64().unwrap() > 0.0,
        "{run_tp:#}"
    );
    // Two connections can deliver at most twice the fastest request's
    // rate (1 % for the histogram's precision).
    assert!(tps <= 2.0 * q("max") * 1.01, "{v:#}");
    let m = v["methods"]["throughput"].as_str().unwrap();
    assert!(
        m.contains("usage.completion_tokens") && m.ends_with("6 samples"),
        "{m}"
    );
    assert!(
        v["methods"]["output_tokens_per_s"].as_str().is_some(),
        "{v:#}"
    );

    let argv = args("table");
    let out = run(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("output tokens/s per request: p10 "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("output tokens/s for the run: ")
            && out.stdout.contains("(48 tokens of 6 streams in "),
        "{}",
        out.stdout
    );
    tb.shutdown().await;
}
