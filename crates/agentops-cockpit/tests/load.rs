//! `agentops-cockpit load` as a process against the testbed: exit codes
//! for SLOs (0 / 1), bad input (2), an unreachable target (3), Ctrl-C (130,
//! partial results written), JSON output and the HdrHistogram log.

mod common;

use std::time::Duration;

use common::{Workdir, dead_port, fast, run, testbed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_breach_exits_1_and_a_kept_slo_exits_0() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let ok = run(&[
        "load",
        &url,
        "-c",
        "4",
        "-d",
        "500ms",
        "--slo",
        "p(99)<5s",
        "--slo",
        "errors<1%",
        "--format",
        "json",
    ])
    .await;
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let v: serde_json::Value = serde_json::from_str(&ok.stdout).expect("JSON report");
    assert_eq!(v["mode"], "closed");
    assert_eq!(v["slo_pass"], true);
    assert!(v["requests"]["ok"].as_u64().unwrap() > 0);
    assert!(v["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert!(
        v["methods"]["latency"]
            .as_str()
            .unwrap()
            .contains("samples")
    );

    let breach = run(&[
        "load",
        &url,
        "-c",
        "2",
        "-d",
        "300ms",
        "--slo",
        "latency:max<1us",
    ])
    .await;
    assert_eq!(breach.code, Some(1), "{}", breach.stderr);
    assert!(
        breach.stdout.contains("✗ latency:max<1us — observed"),
        "{}",
        breach.stdout
    );
    tb.shutdown().await;
}

/// The table's line for SLO `slo`.
fn slo_line<'a>(stdout: &'a str, slo: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| (l.starts_with("✓ ") || l.starts_with("✗ ")) && l.contains(&format!(" {slo} — ")))
        .unwrap_or_else(|| panic!("no line for SLO {slo}:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_lines_show_the_observed_value_in_the_thresholds_unit() {
    let tb = testbed(fast()).await;
    // Every request answers 404: the error rate is 100 %.
    let url = format!("{}/no-such-route", tb.base_url());
    let out = run(&[
        "load",
        &url,
        "-c",
        "2",
        "-d",
        "300ms",
        "--slo",
        "errors<0.1%",
        "--slo",
        "errors:count<1",
        "--slo",
        "rps>0",
    ])
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let line = slo_line(&out.stdout, "errors<0.1%");
    assert!(
        line.starts_with("✗ ") && line.ends_with("observed 100.0 % (FAIL)"),
        "{line}"
    );
    let line = slo_line(&out.stdout, "errors:count<1");
    let n: u64 = line
        .trim_end_matches(" (FAIL)")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    assert!(n > 0, "{line}");

    let ok = format!("{}/healthz", tb.base_url());
    let out = run(&[
        "load",
        &ok,
        "-c",
        "2",
        "-d",
        "300ms",
        "--slo",
        "p(99)<5s",
        "--slo",
        "p(50)<5000",
        "--slo",
        "rps>0.5",
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        slo_line(&out.stdout, "p(99)<5s").starts_with("✓ p(99)<5s — observed ")
            && slo_line(&out.stdout, "p(99)<5s").ends_with(" s"),
        "{}",
        out.stdout
    );
    assert!(
        slo_line(&out.stdout, "p(50)<5000").ends_with(" ms"),
        "{}",
        out.stdout
    );
    assert!(
        slo_line(&out.stdout, "rps>0.5").ends_with(" req/s"),
        "{}",
        out.stdout
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_before_any_request() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    for (args, needle) in [
        (vec!["--slo", "latncy:p(99)<1s"], "unknown metric"),
        (vec!["--slo", "latency:p99<1s"], "unknown aggregate"),
        (vec!["--slo", "ttft:p(95)<800ms"], "openai or grpc"),
        (vec!["--rate", "0"], "--rate"),
        (vec!["--rate", "400:50:50", "--step", "1s"], "sweep"),
        (vec!["--rate", "50:100:50"], "--step"),
        (vec!["--step", "1s"], "--step"),
        (vec!["--seed", "3"], "open loop"),
        (vec!["-d", "0s"], "duration"),
    ] {
        let mut a = vec!["load", url.as_str()];
        a.extend(args.iter().copied());
        let out = run(&a).await;
        assert_eq!(out.code, Some(2), "{a:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{a:?}: {}", out.stderr);
    }
    let out = run(&["load", "ftp://127.0.0.1/x"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let before = tb_requests(&tb).await;
    assert_eq!(before, 0, "no request reached the server");
    tb.shutdown().await;
}

async fn tb_requests(tb: &cockpit_testbed::Testbed) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(tb.http_addr())
        .await
        .unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("testbed_requests_total{route=\"/healthz\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_exits_3() {
    let out = run(&[
        "load",
        &format!("http://127.0.0.1:{}/", dead_port()),
        "-c",
        "2",
        "-d",
        "300ms",
    ])
    .await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stdout.contains("connect"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_writes_partial_results_and_exits_130() {
    let tb = testbed(fast()).await;
    let wd = Workdir::new();
    let out_path = wd.join("load.json");
    let log_path = wd.join("load.hlog");
    let child = common::command(
        &[
            "load",
            &format!("{}/healthz", tb.base_url()),
            "-c",
            "4",
            "--rate",
            "200",
            "-d",
            "60s",
            "--interval",
            "100ms",
            "--out",
            out_path.to_str().unwrap(),
            "--hdr-log",
            log_path.to_str().unwrap(),
        ],
        &common::Opts::default(),
    )
    .spawn()
    .unwrap();
    // Interrupt once the run is under way: the testbed has answered some of
    // its requests (a hang guard bounds the wait, not a timing assertion).
    let waiting = std::time::Instant::now();
    while common::served(&tb, "/healthz").await < 20 {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the load run never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::sigint(child.id().unwrap());
    let out = common::wait(child, common::RUN_TIMEOUT).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(v["interrupted"], true);
    let ok = v["requests"]["ok"].as_u64().unwrap();
    assert!(ok > 0);
    // The interval log holds every successful request, exactly.
    let log = std::fs::read(&log_path).unwrap();
    let merged = cockpit_probe::load::read_interval_log(&log).unwrap();
    assert_eq!(merged["latency"].count(), ok);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_load_reports_tokens_per_second_for_the_run() {
    // 8 tokens per answer, usage reported.
    let tb = testbed(fast()).await;
    let url = tb.openai_url();
    let base = [
        "load",
        url.as_str(),
        "--protocol",
        "openai",
        "-c",
        "2",
        "-d",
        "500ms",
    ];
    let out = run(&[&base[..], &["--format", "json"]].concat()).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    let ok = v["requests"]["ok"].as_u64().unwrap();
    assert!(ok > 0, "{v:#}");
    let t = &v["throughput"];
    assert_eq!(t["output_tokens"].as_u64(), Some(ok * 8), "{v:#}");
    assert_eq!(t["requests"].as_u64(), Some(ok), "{v:#}");
    assert_eq!(t["window_s"], v["elapsed_s"], "{v:#}");
    let tps = t["output_tokens_per_s"].as_f64().unwrap();
    assert!(tps > 0.0, "{v:#}");
    // Per request and for the run: both present; the run's is the tokens
    // of the successful requests at the achieved rate.
    assert_eq!(
        v["output_tokens_per_s"]["count"].as_u64(),
        Some(ok),
        "{v:#}"
    );
    let achieved = v["achieved_rps"].as_f64().unwrap();
    assert!(
        (tps - 8.0 * achieved).abs() <= 1e-6 * tps,
        "{tps} vs {achieved}"
    );
    let m = v["methods"]["throughput"].as_str().unwrap();
    assert!(
        m.contains("usage.completion_tokens") && m.ends_with(&format!("{ok} samples")),
        "{m}"
    );

    let out = run(&base).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("output tokens/s for the run: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("output tokens/s per request: "),
        "{}",
        out.stdout
    );
    tb.shutdown().await;
}
