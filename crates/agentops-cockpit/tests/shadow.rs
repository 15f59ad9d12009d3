//! `agentops-cockpit shadow URL_V1 URL_V2` as a process against testbed
//! agents on 127.0.0.1 (150 ms against 400 ms: a regression, exit 1;
//! identical: no difference detected, exit 0; bad input: exit 2), and
//! `[[agents]] shadow_endpoint` in `audit report`: SHD-* findings of their
//! own, the production agent's NET-TTFT untouched.

mod common;

use std::time::Duration;

use cockpit_testbed::TestbedConfig;
use common::*;

fn agent(ttft_ms: u64) -> TestbedConfig {
    TestbedConfig {
        ttft: Duration::from_millis(ttft_ms),
        inter_token: Duration::from_millis(2),
        tokens: 4,
        jitter: Duration::from_millis(20),
        ..TestbedConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_reports_a_regression_with_exit_1_and_json() {
    let (v1, v2) = (testbed(agent(150)).await, testbed(agent(400)).await);
    let out = run(&[
        "shadow",
        &v1.openai_url(),
        &v2.openai_url(),
        "-n",
        "10",
        "--mirror",
        "--format",
        "json",
    ])
    .await;
    out.assert_code(1);
    let v = out.json();
    let ttft = v["comparison"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "ttft")
        .unwrap();
    assert_eq!(ttft["verdict"], "v2-higher", "{ttft:#}");
    assert!(
        ttft["p50_diff"]["low"].as_f64().unwrap() > 150.0,
        "{ttft:#}"
    );
    assert_eq!(v["comparison"]["mirror"], true);
    let shd = v["findings"].as_array().unwrap();
    assert_eq!(shd[0]["check_id"], "SHD-TTFT");
    assert_eq!(shd[0]["status"], "fail");
    assert_eq!(shd[1]["check_id"], "SHD-ERRORS");
    assert_eq!(shd[1]["status"], "pass");
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_of_identical_agents_detects_no_difference() {
    let (v1, v2) = (testbed(agent(150)).await, testbed(agent(150)).await);
    let out = run(&["shadow", &v1.openai_url(), &v2.openai_url(), "-n", "10"]).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("no difference detected at n = 10 / 10"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("10 of 10 answers identical (100%)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_refuses_bad_input_and_says_when_nothing_answers() {
    let out = run(&[
        "shadow",
        "ftp://u:s3cr3t@h/v1",
        "http://127.0.0.1:1/v1",
        "-n",
        "3",
    ])
    .await;
    out.assert_code(2);
    assert!(!out.stderr.contains("s3cr3t"), "{}", out.stderr);
    let out = run(&["shadow", "http://h/v1", "http://h/v1", "--resamples", "5"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("shadow.resamples"), "{}", out.stderr);
    let dead = format!("http://127.0.0.1:{}/v1", dead_port());
    let out = run(&["shadow", &dead, &dead, "-n", "2"]).await;
    out.assert_code(3);
    assert!(out.stdout.contains("SHD-ERRORS"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_report_judges_the_shadow_apart_from_production() {
    let (v1, v2) = (testbed(agent(150)).await, testbed(agent(400)).await);
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "[probe]\nsamples = 5\nconcurrency = 1\n\n[shadow]\nsamples = 10\nmirror = true\n\n[[agents]]\nname = \"chat\"\nendpoint = \"{}\"\nshadow_endpoint = \"{}\"\nprotocol = \"openai\"\nretrieval = []\n",
        v1.openai_url(),
        v2.openai_url()
    ));
    let out = audit_json(&cfg, &["--no-evidence"]).await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);
    // Production is judged on its own endpoint only.
    let net = finding(&report, "NET-TTFT", "chat");
    assert_eq!(net["status"], "pass", "{net:#}");
    assert!(
        !findings(&report)
            .iter()
            .any(|f| f["subject"].as_str().is_some_and(|s| s.contains("shadow"))),
        "the shadow is not probed as a second agent"
    );
    let shd = finding(&report, "SHD-TTFT", "chat");
    assert_eq!(shd["status"], "fail", "{shd:#}");
    assert!(
        measurement(shd, "ttft_p50_diff_low")["value"]
            .as_f64()
            .unwrap()
            > 150.0
    );
    assert_eq!(finding(&report, "SHD-AGREEMENT", "chat")["status"], "pass");
}
