//! `agentops-cockpit audit report` against real testbeds on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// One `[[agents]]` entry speaking OpenAI to a testbed.
fn openai_agent(name: &str, tb: &cockpit_testbed::Testbed, extra: &str) -> String {
    format!(
        "[[agents]]\nname = \"{name}\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\n{extra}\n",
        tb.base_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn json_report_validates_and_flags_a_latency_regression() {
    let tb = testbed(cockpit_testbed::TestbedConfig {
        ttft: Duration::from_millis(900),
        tokens: 3,
        inter_token: Duration::from_millis(1),
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n{}",
        openai_agent("slow-agent", &tb, "retrieval = []")
    ));

    let out = audit_json(&cfg, &[]).await;
    // The audit ran: exit 0 even though a finding fails (no gate asked).
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);
    assert!(
        report["schema_version"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "schema_version: {report:#}"
    );
    assert_eq!(report["interrupted"], false);
    for f in findings(&report) {
        let pillar = f["pillar"].as_str().expect("pillar is a string");
        assert!(
            !pillar.is_empty() && pillar == pillar.to_lowercase(),
            "pillar {pillar:?} is not lower-case"
        );
    }

    let f = finding(&report, "NET-TTFT", "slow-agent");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert_eq!(f["pillar"], "network");
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("Latency Regression"), "{summary}");
    assert!(f["recommendation"].as_str().is_some_and(|r| !r.is_empty()));
    let m = measurement(f, "ttft_p95");
    assert!(m["samples"].as_u64().unwrap() >= 5, "{m:#}");
    assert!(
        m["method"].as_str().is_some_and(|s| !s.trim().is_empty()),
        "{m:#}"
    );
    assert_eq!(m["unit"], "ms");
    assert!(m["value"].as_f64().unwrap() > 800.0, "{m:#}");
    // Throughput beside TTFT: output tokens per second of the whole probe
    // (3 tokens per answer, from usage) and of the median request.
    let tps = measurement(f, "output_tokens_per_s");
    assert_eq!(tps["unit"], "tokens_per_s", "{tps:#}");
    assert!(tps["value"].as_f64().unwrap() > 0.0, "{tps:#}");
    assert_eq!(tps["samples"], m["samples"], "{tps:#}");
    let method = tps["method"].as_str().unwrap();
    assert!(
        method.contains("usage.completion_tokens")
            && method.contains(&format!("{} tokens in", 3 * m["samples"].as_u64().unwrap())),
        "{method}"
    );
    let p50 = measurement(f, "output_tokens_per_s_p50");
    assert!(p50["value"].as_f64().unwrap() > 0.0, "{p50:#}");

    // The first request is measured too (CMP-TTR), well within 12 s.
    let ttr = finding(&report, "CMP-TTR", "slow-agent");
    assert_eq!(ttr["status"], "pass", "{ttr:#}");
    assert_eq!(ttr["pillar"], "compute");

    // summary.total agrees with the findings.
    assert_eq!(
        report["summary"]["total"].as_u64().unwrap() as usize,
        findings(&report).len()
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn obs_ttft_warns_without_a_histogram_and_passes_with_one() {
    let without = testbed(cockpit_testbed::TestbedConfig {
        export_ttft_histogram: false,
        ..fast()
    })
    .await;
    let with = testbed(cockpit_testbed::TestbedConfig {
        export_ttft_histogram: true,
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n{}\n{}\n{}",
        openai_agent(
            "no-hist",
            &without,
            &format!("metrics_url = \"{}/metrics\"", without.base_url())
        ),
        openai_agent(
            "hist",
            &with,
            &format!("metrics_url = \"{}/metrics\"", with.base_url())
        ),
        // No metrics_url: no OBS-TTFT finding at all.
        openai_agent("no-url", &with, ""),
    ));
    let out = audit_json(&cfg, &[]).await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);

    let f = finding(&report, "OBS-TTFT", "no-hist");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert_eq!(f["pillar"], "observability");
    assert_eq!(measurement(f, "ttft_histogram_present")["value"], 0.0);

    let f = finding(&report, "OBS-TTFT", "hist");
    assert_eq!(f["status"], "pass", "{f:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("testbed_time_to_first_token_seconds"),
        "{summary}"
    );
    assert_eq!(measurement(f, "ttft_histogram_present")["value"], 1.0);

    assert!(
        !findings(&report)
            .iter()
            .any(|f| f["check_id"] == "OBS-TTFT" && f["subject"] == "no-url"),
        "an agent without metrics_url must get no OBS-TTFT finding"
    );
    without.shutdown().await;
    with.shutdown().await;
}

/// NET-ZONE's findings for the agents "far" (declared us-central1-a) and
/// "near" (declared europe-west1-b) calling a backend declared in
/// europe-west1-b on loopback, with `zone_rtt_ms` as the same-zone bound.
async fn zone_findings(tb: &cockpit_testbed::Testbed, bound_ms: &str) -> (Value, Value) {
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n[thresholds]\nzone_rtt_ms = {bound_ms}\n\n{}\n{}\n\
         [[retrieval]]\nname = \"vectors\"\nendpoint = \"{base}/v1/retrieval/search\"\nzone = \"europe-west1-b\"\n",
        openai_agent("far", tb, "zone = \"us-central1-a\""),
        openai_agent("near", tb, "zone = \"europe-west1-b\""),
        base = tb.base_url(),
    ));
    let out = audit_json(&cfg, &[]).await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);
    let far = finding(&report, "NET-ZONE", "far → vectors").clone();
    let near = finding(&report, "NET-ZONE", "near → vectors").clone();
    for f in [&far, &near] {
        // The hop was measured, not assumed.
        let rtt = measurement(f, "connect_rtt_p50");
        assert!(rtt["samples"].as_u64().unwrap() >= 1, "{rtt:#}");
    }
    (far, near)
}

#[tokio::test(flavor = "multi_thread")]
async fn net_zone_judges_the_declared_zones_against_the_measured_hop() {
    let tb = testbed(fast()).await;
    // A loose bound: loopback measures local. Declared cross-region but
    // measured local is a warning about the declaration, not a mismatch.
    let (far, near) = zone_findings(&tb, "1000").await;
    assert_eq!(far["status"], "warn", "{far:#}");
    let summary = far["summary"].as_str().unwrap();
    assert!(!summary.contains("Regional Mismatch"), "{summary}");
    assert!(summary.contains("check the declaration"), "{summary}");
    assert!(
        summary.contains("us-central1-a") && summary.contains("europe-west1-b"),
        "{summary}"
    );
    assert_eq!(near["status"], "pass", "{near:#}");

    // A bound below any real connect: every hop measures far. The declared
    // cross-region hop fails with its measured RTT; the declared same-zone
    // one warns that the declaration and the hop disagree.
    let (far, near) = zone_findings(&tb, "0.000001").await;
    assert_eq!(far["status"], "fail", "{far:#}");
    let summary = far["summary"].as_str().unwrap();
    assert!(summary.contains("Regional Mismatch"), "{summary}");
    assert_eq!(near["status"], "warn", "{near:#}");
    let summary = near["summary"].as_str().unwrap();
    assert!(
        summary.contains("declared both in europe-west1-b")
            && summary.contains("check the declaration"),
        "{summary}"
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn net_proto_warns_on_rest_only_and_measures_the_tax_with_both() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n{}\n\
         [[retrieval]]\nname = \"rest-only\"\nendpoint = \"{base}/v1/retrieval/search\"\n\n\
         [[retrieval]]\nname = \"both\"\nendpoint = \"{base}/v1/retrieval/search\"\ngrpc_endpoint = \"{grpc}\"\n",
        openai_agent("streamer", &tb, ""),
        base = tb.base_url(),
        grpc = tb.grpc_url(),
    ));
    let out = audit_json(&cfg, &[]).await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);

    let f = finding(&report, "NET-PROTO", "rest-only");
    assert_eq!(f["status"], "warn", "{f:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("REST-only"), "{summary}");
    // No ratio is invented without a gRPC measurement.
    assert!(
        !f["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "rest_over_grpc_ratio"),
        "{f:#}"
    );
    assert!(measurement(f, "rest_p50")["samples"].as_u64().unwrap() >= 1);

    let f = finding(&report, "NET-PROTO", "both");
    let rest = measurement(f, "rest_p50");
    let grpc = measurement(f, "grpc_p50");
    let ratio = measurement(f, "rest_over_grpc_ratio");
    for m in [rest, grpc] {
        assert_eq!(m["unit"], "ms", "{m:#}");
        assert!(m["samples"].as_u64().unwrap() >= 1, "{m:#}");
        assert!(m["value"].as_f64().unwrap() > 0.0, "{m:#}");
    }
    let expected = rest["value"].as_f64().unwrap() / grpc["value"].as_f64().unwrap();
    let got = ratio["value"].as_f64().unwrap();
    assert!(
        (got - expected).abs() <= 1e-6 * expected.max(1.0),
        "ratio {got} is not rest_p50/grpc_p50 = {expected}"
    );
    measurement(f, "protocol_tax");

    // NET-TAIL is reported for both backends as well.
    finding(&report, "NET-TAIL", "rest-only");
    finding(&report, "NET-TAIL", "both");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn net_proto_calls_the_configured_grpc_method_or_says_why_not() {
    let tb = testbed(fast()).await;
    let proto = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto/cockpit/agent/v1/agent.proto"
    );
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n\
         [[retrieval]]\nname = \"by-proto\"\nendpoint = \"{base}/v1/retrieval/search\"\ngrpc_endpoint = \"{grpc}\"\n\
         grpc_method = \"cockpit.agent.v1.RetrievalService/Search\"\ngrpc_request = '{{\"query\": \"gate\", \"topK\": 2}}'\n\
         grpc_proto = \"{proto}\"\n\n\
         [[retrieval]]\nname = \"no-reflection\"\nendpoint = \"{base}/v1/retrieval/search\"\ngrpc_endpoint = \"{grpc}\"\n\
         grpc_method = \"cockpit.agent.v1.RetrievalService/Search\"\n",
        base = tb.base_url(),
        grpc = tb.grpc_url(),
    ));
    let out = audit_json(&cfg, &[]).await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);

    // Resolved from the .proto: both sides measured, the method named.
    let f = finding(&report, "NET-PROTO", "by-proto");
    assert_ne!(f["status"], "not-measured", "{f:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("RetrievalService/Search"), "{summary}");
    assert!(measurement(f, "grpc_p50")["samples"].as_u64().unwrap() >= 1);
    measurement(f, "rest_over_grpc_ratio");

    // The testbed serves no reflection and no .proto is given: not
    // measured, with the reason; the REST side kept.
    let f = finding(&report, "NET-PROTO", "no-reflection");
    assert_eq!(f["status"], "not-measured", "{f:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("reflection") && summary.contains("grpc_proto"),
        "{summary}"
    );
    measurement(f, "rest_p50");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_reachable_exits_3_and_still_writes_the_report() {
    let port = dead_port();
    let dead = format!("127.0.0.1:{port}");
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n\
         [[agents]]\nname = \"gone\"\nendpoint = \"http://{dead}/v1\"\nprotocol = \"openai\"\n\
         metrics_url = \"http://{dead}/metrics\"\n\n\
         [[retrieval]]\nname = \"gone-vectors\"\nendpoint = \"http://{dead}/v1/retrieval/search\"\n\
         grpc_endpoint = \"grpc://{dead}\"\n"
    ));
    let out_dir = w.join("out");
    let out = audit_json(&cfg, &["--out", out_dir.to_str().unwrap()]).await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("none of the") && out.stderr.contains("could be reached"),
        "stderr: {}",
        out.stderr
    );

    let report = read_json(&out_dir.join("report.json"));
    assert_schema_valid(&report);
    // The same report is on stdout.
    assert_eq!(out.json()["findings"], report["findings"]);
    let fs = findings(&report);
    let ids: Vec<&str> = fs.iter().map(|f| f["check_id"].as_str().unwrap()).collect();
    for id in [
        "CMP-TTR",
        "NET-TTFT",
        "OBS-TTFT",
        "NET-ZONE",
        "NET-TAIL",
        "NET-PROTO",
    ] {
        assert!(ids.contains(&id), "no {id} finding in {ids:?}");
    }
    for f in fs {
        assert_eq!(f["status"], "not-measured", "{f:#}");
        let summary = f["summary"].as_str().unwrap();
        let reason = summary
            .strip_prefix("not measured: ")
            .unwrap_or_else(|| panic!("summary does not say why: {summary:?}"));
        assert!(
            reason.contains("refused") || reason.contains("connect"),
            "{} gives no reason: {summary:?}",
            f["check_id"]
        );
    }
    assert_eq!(report["interrupted"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn out_dir_with_markdown_writes_json_and_md() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n{}\n[[retrieval]]\nname = \"vectors\"\ngrpc_endpoint = \"{}\"\n",
        openai_agent(
            "md|agent",
            &tb,
            &format!("metrics_url = \"{}/metrics\"", tb.base_url())
        ),
        tb.grpc_url()
    ));
    let out_dir = w.join("nested/out");
    let out = run_with(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--format",
            "markdown",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(0);

    let report = read_json(&out_dir.join("report.json"));
    assert_schema_valid(&report);
    let md = std::fs::read_to_string(out_dir.join("report.md")).expect("report.md written");
    assert!(
        md.contains("| Status | Check | Subject | Finding | Evidence |"),
        "{md}"
    );
    assert!(md.contains("|---|---|---|---|---|"), "{md}");
    let fs = findings(&report);
    assert!(!fs.is_empty());
    for f in fs {
        let id = f["check_id"].as_str().unwrap();
        assert!(md.contains(&format!("[{id}](")), "{id} missing from\n{md}");
    }
    // A `|` in a subject does not break the table.
    assert!(md.contains("md\\|agent"), "{md}");
    // Only the chosen formats are written; stdout carries the same Markdown.
    assert!(!out_dir.join("report.txt").exists());
    assert!(out.stdout.contains("| Status | Check |"), "{}", out.stdout);
    tb.shutdown().await;
}

/// Every file under `dir`, read as text.
fn files_text(dir: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .expect("read out dir")
        .map(|e| {
            let p = e.expect("dir entry").path();
            let text = std::fs::read_to_string(&p).expect("read output file");
            (p.display().to_string(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_from_the_environment_are_never_printed_or_written() {
    const SECRET: &str = "s3cr3t-value";
    let tb = testbed(fast()).await;
    let port = dead_port();
    let w = Workdir::new();
    let hostport = tb.base_url().trim_start_matches("http://").to_string();
    let cfg = w.config(&format!(
        "{PROBE}\n\
         [[agents]]\nname = \"ok\"\nendpoint = \"{base}/v1\"\nprotocol = \"openai\"\n\
         metrics_url = \"http://user:${{COCKPIT_TEST_SECRET}}@{hostport}/metrics\"\nretrieval = []\n\n\
         [[agents]]\nname = \"down\"\nendpoint = \"http://user:${{COCKPIT_TEST_SECRET}}@127.0.0.1:{port}/v1?token=${{COCKPIT_TEST_SECRET}}\"\n\
         protocol = \"openai\"\nmetrics_url = \"http://user:${{COCKPIT_TEST_SECRET}}@127.0.0.1:{port}/metrics\"\n\n\
         [[retrieval]]\nname = \"down-vectors\"\nendpoint = \"http://127.0.0.1:{port}/search?api_key=${{COCKPIT_TEST_SECRET}}\"\n",
        base = tb.base_url(),
    ));
    let out_dir = w.join("out");
    let out = run_with(
        &[
            "-vvv",
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--format",
            "json",
            "--format",
            "table",
            "--format",
            "markdown",
        ],
        &Opts::default()
            .cwd(w.path())
            .env("COCKPIT_TEST_SECRET", SECRET),
    )
    .await;
    // One agent answered, so the audit succeeded.
    out.assert_code(0);
    assert!(
        !out.stdout.contains(SECRET),
        "stdout leaks:\n{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(SECRET),
        "stderr leaks:\n{}",
        out.stderr
    );
    let written = files_text(&out_dir);
    assert!(written.len() >= 3, "{written:?}");
    for (path, text) in &written {
        assert!(!text.contains(SECRET), "{path} leaks:\n{text}");
    }
    // The secret was expanded and used: the metrics endpoint was read.
    let report = read_json(&out_dir.join("report.json"));
    let f = finding(&report, "OBS-TTFT", "ok");
    assert_eq!(f["status"], "pass", "{f:#}");
    // The location is shown, redacted.
    let loc = f["location"].to_string();
    assert!(loc.contains("127.0.0.1"), "{loc}");

    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_secret_variable_is_a_configuration_error_naming_it() {
    let w = Workdir::new();
    let text = format!(
        "{PROBE}\n[[agents]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:{}/v1\"\nprotocol = \"openai\"\n\
         metrics_url = \"http://user:${{COCKPIT_TEST_SECRET_UNSET}}@127.0.0.1:9/metrics\"\n",
        dead_port()
    );
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("metrics_url"))
        .unwrap();
    let cfg = w.config(&text);
    let out = run_with(
        &["audit", "report", "--config", cfg.to_str().unwrap()],
        &Opts::default()
            .cwd(w.path())
            .env_remove("COCKPIT_TEST_SECRET_UNSET"),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("COCKPIT_TEST_SECRET_UNSET"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{}:{line}:", cfg.display())),
        "not located: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
}

/// Start `audit report` against an agent whose first token takes 20 s,
/// interrupt it once it is measuring, and return the output and the report.
async fn interrupted_run() -> (Output, Value) {
    let tb = testbed(cockpit_testbed::TestbedConfig {
        ttft: Duration::from_secs(20),
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}timeout_s = 60\n\n{}",
        openai_agent("glacial", &tb, "retrieval = []")
    ));
    let out_dir = w.join("out");
    let child = command(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &Opts::default().cwd(w.path()),
    )
    .spawn()
    .expect("spawn agentops-cockpit");
    let pid = child.id().expect("child pid");

    // Wait until the testbed has received the first completion request, so
    // the CLI is past start-up (its Ctrl-C handler is installed), then a
    // little longer, as a user would.
    let start = tokio::time::Instant::now();
    while tb.stamps().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the audit never reached the testbed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sigint(pid);

    // Far less than the 20 s TTFT: the run stops instead of waiting.
    let out = wait(child, Duration::from_secs(15)).await;
    let report = read_json(&out_dir.join("report.json"));
    tb.shutdown().await;
    (out, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_exits_130_and_writes_the_partial_report() {
    let (out, report) = interrupted_run().await;
    out.assert_code(130);
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert_schema_valid(&report);
    assert!(out.stderr.contains("interrupted"), "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("INTERRUPTED"),
        "the table says the results are partial: {}",
        out.stdout
    );
    // Nothing was measured, and nothing claims a pass.
    assert!(!findings(&report).is_empty(), "{report:#}");
    for f in findings(&report) {
        assert_ne!(f["status"], "pass", "{f:#}");
    }
}

/// A finding cut short by Ctrl-C says so, rather than giving an empty reason.
#[tokio::test(flavor = "multi_thread")]
async fn interrupted_findings_say_they_were_interrupted() {
    let (out, report) = interrupted_run().await;
    out.assert_code(130);
    assert!(!findings(&report).is_empty(), "{report:#}");
    for f in findings(&report) {
        let summary = f["summary"].as_str().unwrap();
        assert!(
            summary.contains("interrupted"),
            "{} does not say it was interrupted: {summary:?}",
            f["check_id"]
        );
        assert!(!summary.contains("0 of 0"), "{summary:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_audit_lists_the_agents_it_did_not_reach() {
    // Slow answers and many samples: the first agent is still being
    // measured when the audit is interrupted, the second not reached.
    let tb = testbed(cockpit_testbed::TestbedConfig {
        ttft: Duration::from_millis(300),
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "[probe]\nsamples = 200\nconcurrency = 1\nwarmup = 0\n\n{}\n{}",
        openai_agent("first", &tb, "retrieval = []"),
        openai_agent("second", &tb, "retrieval = []"),
    ));
    let out_dir = w.join("out");
    let child = command(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &Opts::default(),
    )
    .spawn()
    .unwrap();
    // Interrupt once the first agent's measured probe is under way: the
    // testbed answered its first request (CMP-TTR) and one more. A hang
    // guard bounds the wait; no timing is asserted.
    let waiting = std::time::Instant::now();
    while served(&tb, "/v1/chat/completions").await < 2 {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the audit never reached the first agent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigint(child.id().unwrap());
    let out = wait(child, RUN_TIMEOUT).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let report = read_json(&out_dir.join("report.json"));
    assert_schema_valid(&report);
    assert_eq!(report["interrupted"], true);
    for agent in ["first", "second"] {
        for check in ["CMP-TTR", "NET-TTFT"] {
            // finding() asserts exactly one finding per check and subject.
            finding(&report, check, agent);
        }
    }
    for check in ["CMP-TTR", "NET-TTFT"] {
        let f = finding(&report, check, "second");
        assert_eq!(f["status"], "not-measured", "{f:#}");
        let summary = f["summary"].as_str().unwrap();
        assert!(
            summary.contains("interrupted before it was measured"),
            "{summary}"
        );
    }
    // The first agent answered its first request: CMP-TTR is measured.
    let ttr = finding(&report, "CMP-TTR", "first");
    assert_ne!(ttr["status"], "not-measured", "{ttr:#}");
    tb.shutdown().await;
}
