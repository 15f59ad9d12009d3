//! One process test per exit class, each reached through the error variant
//! that decides it (`CliError::exit_code`): 0 measured and held, 1 the gate
//! failed, 2 bad input or an output that cannot be written, 3 nothing that
//! had to be measured answered.

mod common;

use std::path::Path;

use common::*;

fn saved_report() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/slo-report.json")
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

async fn run_in(w: &Workdir, args: &[&str]) -> Output {
    run_with(args, &Opts::default().cwd(w.path())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_when_the_gate_holds_and_one_when_it_fails() {
    let w = Workdir::new();
    let r = saved_report();
    // The saved report measures neither State nor CI/CD.
    let cfg = w.config(&out_of_scope(&["state", "cicd"], "2999-12-31"));
    let c = cfg.to_str().unwrap();
    run_in(&w, &["certify", "--from", &r, "--config", c])
        .await
        .assert_code(0);
    let out = run_in(
        &w,
        &[
            "certify",
            "--from",
            &r,
            "--config",
            c,
            "--slo",
            "ttft:p(95)<1ms",
        ],
    )
    .await;
    out.assert_code(1);
    assert!(out.stderr.contains("gate FAILED"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_for_every_kind_of_bad_input() {
    let w = Workdir::new();
    let r = saved_report();
    // Configuration (ConfigError), located.
    let cfg = w.config("[thresholds]\nttft_p59_ms = 1\n");
    let out = run_in(&w, &["audit", "report", "--config", cfg.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cockpit-test.toml:2:1:"),
        "{}",
        out.stderr
    );
    // A saved report that is not one (ScoreError), named with its flag.
    let bad = w.file("bad.json", "{\"schema_version\": ");
    let out = run_in(&w, &["certify", "--from", bad.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("--from: "), "{}", out.stderr);
    // A manifest glob that matches nothing (K8sError).
    let out = run_in(&w, &["audit", "report", "--manifests", "nowhere/*.yaml"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("nowhere/*.yaml"), "{}", out.stderr);
    // A Redis URL that is not one (StmError::Url).
    let out = run_in(
        &w,
        &["probe", "redis://127.0.0.1:99999", "--protocol", "redis"],
    )
    .await;
    out.assert_code(2);
    // A probe URL the probe cannot use (ProbeError).
    let out = run_in(&w, &["probe", "ftp://127.0.0.1/x", "--protocol", "http"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("ftp"), "{}", out.stderr);
    // An output that cannot be written (Write): --out under a regular file.
    let blocker = w.file("blocker", "a file, not a directory");
    let out_dir = blocker.join("out");
    let out = run_in(
        &w,
        &["certify", "--from", &r, "--out", out_dir.to_str().unwrap()],
    )
    .await;
    out.assert_code(2);
    assert!(out.stderr.contains("cannot write"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn three_when_nothing_answers() {
    let w = Workdir::new();
    let port = dead_port();
    // The probe's own endpoint (no sample at all).
    let url = format!("http://127.0.0.1:{port}/healthz");
    let out = run_in(&w, &["probe", &url, "--protocol", "http", "-n", "2"]).await;
    out.assert_code(3);
    // A Redis that does not answer (StmError::Connect).
    let url = format!("redis://127.0.0.1:{port}");
    let out = run_in(&w, &["probe", &url, "--protocol", "redis", "-n", "2"]).await;
    out.assert_code(3);
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
}
