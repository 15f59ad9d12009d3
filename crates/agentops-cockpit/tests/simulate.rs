//! `agentops-cockpit simulate` as a process against the testbed: the
//! Report's JSON with SIM-REASONING / SIM-COLLISION / SIM-TRACE, exit 1 on
//! a broken objective, 2 on bad input, 130 with partial results on Ctrl-C.

mod common;

use std::time::Duration;

use cockpit_testbed::{TestbedConfig, TraceEcho};
use common::{Workdir, fast, run, testbed};

fn echoing() -> TestbedConfig {
    TestbedConfig {
        trace_echo: Some(TraceEcho::Right),
        ..fast()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_agent_passes_and_the_json_is_the_report() {
    let tb = testbed(echoing()).await;
    let wd = Workdir::new();
    let out = run(&[
        "simulate",
        &tb.openai_url(),
        "--ramp",
        "1:4:x2",
        "--turns",
        "4",
        "--min-recall-turns",
        "10",
        "--slo",
        "reasoning_score>0.99",
        "--slo",
        "collisions==0",
        "--format",
        "json",
        "--out",
        wd.join("sim").to_str().unwrap(),
    ])
    .await;
    out.assert_code(0);
    let v = out.json();
    common::assert_schema_valid(&v);
    for id in ["SIM-REASONING", "SIM-COLLISION", "SIM-TRACE"] {
        let f = common::finding(&v, id, &tb.openai_url());
        assert_eq!(f["status"], "pass", "{id}: {f}");
    }
    let f = common::finding(&v, "SIM-REASONING", &tb.openai_url());
    assert_eq!(common::measurement(f, "reasoning_score_c4")["value"], 1.0);
    let detail = common::read_json(&wd.join("sim/simulation.json"));
    assert_eq!(detail["levels"].as_array().unwrap().len(), 3);
    assert!(detail["knee"].is_null());
    assert!(wd.join("sim/report.md").is_file());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_echoed_in_the_body_is_read_from_the_named_field() {
    let tb = testbed(TestbedConfig {
        trace_echo: Some(TraceEcho::BodyWrong),
        ..fast()
    })
    .await;
    let args = |field: &'static str| {
        vec![
            "simulate".to_string(),
            tb.openai_url(),
            "--sessions".into(),
            "2".into(),
            "--turns".into(),
            "4".into(),
            "--min-recall-turns".into(),
            "4".into(),
            "--trace-field".into(),
            field.into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let argv = args("traceparent");
    let out = run(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let v = out.json();
    let f = common::finding(&v, "SIM-TRACE", &tb.openai_url());
    assert_eq!(
        f["status"], "fail",
        "another trace id echoed in the body: {f}"
    );
    let argv = args("");
    let out = run(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await;
    out.assert_code(2);
    assert!(out.stderr.contains("trace_field"), "{}", out.stderr);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bleeding_agent_breaks_the_objective_and_exits_1() {
    let tb = testbed(TestbedConfig {
        shared_context_above: Some(1),
        ttft: Duration::from_millis(30),
        ..echoing()
    })
    .await;
    let out = run(&[
        "simulate",
        &tb.openai_url(),
        "--sessions",
        "8",
        "--session-header",
        "x-session-id",
        "--slo",
        "collisions==0",
    ])
    .await;
    out.assert_code(1);
    assert!(
        out.stdout.contains("slo collisions==0: FAIL"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("SIM-COLLISION"), "{}", out.stdout);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_naming_it() {
    for (args, needle) in [
        (
            vec!["simulate", "http://127.0.0.1:1/v1", "--ramp", "8:1:x2"],
            "8:1:x2",
        ),
        (
            vec!["simulate", "http://127.0.0.1:1/v1", "--slo", "wisdom>1"],
            "wisdom",
        ),
        (
            vec!["simulate", "http://127.0.0.1:1/v1", "--turns", "1"],
            "--turns",
        ),
        (vec!["simulate", "ftp://h/v1"], "ftp"),
    ] {
        let out = run(&args).await;
        out.assert_code(2);
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_writes_the_partial_result_marked_interrupted() {
    let tb = testbed(echoing()).await;
    let wd = Workdir::new();
    let dir = wd.join("sim");
    let child = common::command(
        &[
            "simulate",
            &tb.openai_url(),
            "--ramp",
            "1:64:x2",
            "--out",
            dir.to_str().unwrap(),
        ],
        &common::Opts::default(),
    )
    .spawn()
    .unwrap();
    let waiting = std::time::Instant::now();
    while tb.stamps().len() < 10 {
        assert!(waiting.elapsed() < Duration::from_secs(60), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::sigint(child.id().unwrap());
    let out = common::wait(child, common::RUN_TIMEOUT).await;
    out.assert_code(130);
    let report = common::read_json(&dir.join("report.json"));
    assert_eq!(report["interrupted"], true);
    let detail = common::read_json(&dir.join("simulation.json"));
    assert_eq!(detail["interrupted"], true);
    assert!(!detail["levels"].as_array().unwrap().is_empty());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_url_or_config_it_simulates_the_embedded_testbed() {
    let wd = Workdir::new();
    let opts = common::Opts::default().cwd(wd.path());
    let out = common::run_with(
        &[
            "simulate",
            "--sessions",
            "4",
            "--turns",
            "3",
            "--min-recall-turns",
            "4",
            "--format",
            "json",
        ],
        &opts,
    )
    .await;
    out.assert_code(0);
    assert!(
        out.stderr.contains("embedded reference testbed"),
        "{}",
        out.stderr
    );
    let v = out.json();
    let reasoning = common::findings(&v)
        .iter()
        .find(|f| f["check_id"] == "SIM-REASONING")
        .unwrap();
    assert_eq!(reasoning["status"], "pass", "{reasoning}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_session_header_carries_sessions_to_server_side_memory() {
    let tb = testbed(echoing()).await;
    let wd = Workdir::new();
    let cfg = wd.config(&format!(
        "[[agents]]\nname = \"memo\"\nendpoint = \"{}\"\nprotocol = \"openai\"\nsession_header = \"x-session-id\"\n",
        tb.openai_url()
    ));
    let dir = wd.join("sim");
    let out = run(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap(),
        "--sessions",
        "2",
        "--turns",
        "3",
        "--min-recall-turns",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ])
    .await;
    out.assert_code(0);
    let detail = common::read_json(&dir.join("simulation.json"));
    assert_eq!(detail["mode"], "session_header", "{detail}");
    assert_eq!(detail["session_header"], "x-session-id");
    assert_eq!(detail["levels"][0]["reasoning_score"], 1.0, "{detail}");
    // The agent kept the conversation: three exchanges, two turns each.
    assert_eq!(tb.sessions().turns("sim-c2-s0").len(), 6);
    tb.shutdown().await;
}
