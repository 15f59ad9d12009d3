//! `certify --slo` and `[gate] slos`, run as a process against a saved
//! report (`tests/data/slo-report.json`: an audit of the embedded testbed,
//! two agents and one retrieval backend), so they are fast: a held SLO
//! exits 0, a breach exits 1 naming the subject and the figure, an SLO the
//! evidence cannot answer exits 2 naming it, an unmeasured metric fails
//! closed.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn report() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/slo-report.json")
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// The report measures Network, Compute and Observability: every
/// configuration declares State and CI/CD out of scope, after `text`.
fn config(w: &Workdir, text: &str) -> PathBuf {
    w.config(&format!(
        "{text}\n{}",
        out_of_scope(&["state", "cicd"], "2999-12-31")
    ))
}

/// `certify --from slo-report.json --config CFG [extra…]`, in `w`; without
/// CFG, one that declares only the pillars the report does not measure.
async fn certify(w: &Workdir, cfg: Option<&Path>, extra: &[&str]) -> Output {
    let r = report();
    let mut args = vec!["certify", "--from", r.as_str()];
    let scope;
    let cfg = match cfg {
        Some(c) => c,
        None => {
            scope = w.file(
                "scope.toml",
                &out_of_scope(&["state", "cicd"], "2999-12-31"),
            );
            &scope
        }
    };
    let cfg_s = cfg.to_str().unwrap().to_string();
    args.extend(["--config", cfg_s.as_str()]);
    args.extend_from_slice(extra);
    run_with(&args, &Opts::default().cwd(w.path())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn held_slos_pass_and_are_shown() {
    let w = Workdir::new();
    let out = certify(
        &w,
        None,
        &[
            "--slo",
            "ttft:p(95)<800ms",
            "--slo",
            "retrieval:p(99)<50ms",
            "--slo",
            "cold_start<5s",
            "--slo",
            "connect_rtt:p(50)<=1s",
        ],
    )
    .await;
    out.assert_code(0);
    assert!(out.stdout.contains("gate PASSED"), "{}", out.stdout);
    for line in [
        "[PASS] ttft:p(95)<800ms",
        "testbed-openai: p(95) 184.",
        "testbed-grpc: p(95) 184.",
        "[PASS] retrieval:p(99)<50ms",
        "testbed-vectors: p(99) 7.",
        "testbed-openai: first_request_ttft 784.",
    ] {
        assert!(out.stdout.contains(line), "no {line:?} in\n{}", out.stdout);
    }
    let out = certify(&w, None, &["--slo", "ttft:p(99)<1s", "--format", "json"]).await;
    out.assert_code(0);
    let cert = out.json();
    let slo = &cert["slos"][0];
    assert_eq!(slo["status"], "pass");
    assert_eq!(slo["subjects"].as_array().unwrap().len(), 2);
    assert_eq!(slo["subjects"][0]["measurement"], "ttft_p95");
    assert_eq!(slo["subjects"][0]["samples"], 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breach_exits_1_naming_the_subject_and_the_figure() {
    let w = Workdir::new();
    let out = certify(
        &w,
        None,
        &["--slo", "ttft:p(95)<800ms", "--slo", "ttft:p(95)<100ms"],
    )
    .await;
    out.assert_code(1);
    assert!(
        out.stdout.contains(
            "SLO ttft:p(95)<100ms failed: broken by testbed-openai: p(95) 184.2 ms (n=20); testbed-grpc: p(95) 184.4 ms (n=20)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[PASS] ttft:p(95)<800ms"),
        "{}",
        out.stdout
    );
    // The score is untouched: the SLO alone fails the gate.
    assert!(out.stdout.contains("Score 100.0 / 100"), "{}", out.stdout);
    // Markdown and JUnit carry it too.
    let out = certify(
        &w,
        None,
        &["--slo", "cold_start:max<500ms", "--format", "markdown"],
    )
    .await;
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("| ❌ fail | `cold_start:max<500ms` | fail testbed-openai: max 784.9 ms (n=1); pass testbed-grpc: max 179.7 ms (n=1) |"),
        "{}",
        out.stdout
    );
    let out = certify(
        &w,
        None,
        &["--slo", "retrieval:p(99)<1ms", "--format", "junit"],
    )
    .await;
    out.assert_code(1);
    assert!(
        out.stdout.contains(
            r#"<failure message="broken by testbed-vectors: p(99) 7.82 ms (n=200)" type="fail">"#
        ),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_slo_the_evidence_cannot_answer_exits_2_naming_it() {
    let w = Workdir::new();
    for (slo, says) in [
        ("tokens:p(95)<1s", "unknown metric \"tokens\""),
        ("ttft:p(97)<800ms", "not p(97)"),
        ("cold_start:p(95)<1s", "one first-request measurement"),
        ("ttft:p(95)<5%", "is not a duration"),
        ("ttft:p(95)=800ms", "expected metric:aggregate<value"),
    ] {
        let out = certify(&w, None, &["--slo", slo]).await;
        out.assert_code(2);
        assert!(
            out.stderr.contains(&format!("{slo:?}")) && out.stderr.contains(says),
            "{slo}: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmeasured_metric_fails_closed_unless_relaxed() {
    let w = Workdir::new();
    let out = certify(&w, None, &["--slo", "store_ping:p(99)<5ms"]).await;
    out.assert_code(1);
    assert!(
        out.stdout.contains(
            "SLO store_ping:p(99)<5ms not measured: the report holds no STA-LATENCY evidence for store_ping and the gate fails closed"
        ),
        "{}",
        out.stdout
    );
    let cfg = config(&w, "[gate]\nfail_closed = false\n");
    let out = certify(
        &w,
        Some(&cfg),
        &["--slo", "store_ping:p(99)<5ms", "--format", "json"],
    )
    .await;
    out.assert_code(0);
    assert_eq!(out.json()["slos"][0]["status"], "not-measured");
}

#[tokio::test(flavor = "multi_thread")]
async fn gate_slos_come_from_the_config_file_with_located_errors() {
    let w = Workdir::new();
    let cfg = config(
        &w,
        "[gate]\nslos = [\"ttft:p(95)<800ms\", \"retrieval:p(99)<1ms\"]\n",
    );
    let out = certify(&w, Some(&cfg), &[]).await;
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("SLO retrieval:p(99)<1ms failed: broken by testbed-vectors"),
        "{}",
        out.stdout
    );
    // --slo adds to [gate] slos.
    let cfg = config(&w, "[gate]\nslos = [\"ttft:p(95)<800ms\"]\n");
    let out = certify(
        &w,
        Some(&cfg),
        &["--slo", "cold_start<5s", "--format", "json"],
    )
    .await;
    out.assert_code(0);
    assert_eq!(out.json()["slos"].as_array().unwrap().len(), 2);

    // Refused by the gate's vocabulary while the file is read: located at
    // the list, the objective named.
    let cfg = config(
        &w,
        "[gate]\nthreshold = 90\nslos = [\"ttft:p(95)<800ms\", \"ttft:p(97)<1s\"]\n",
    );
    let out = certify(&w, Some(&cfg), &[]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("{}:3:", cfg.display()))
            && out.stderr.contains("\"ttft:p(97)<1s\"")
            && out.stderr.contains("not p(97)"),
        "{}",
        out.stderr
    );
    // Malformed: located by the parser.
    let cfg = config(&w, "[gate]\nslos = [\"ttft:p(95)=800ms\"]\n");
    let out = certify(&w, Some(&cfg), &[]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("{}:2:", cfg.display()))
            && out.stderr.contains("expected metric:aggregate<value"),
        "{}",
        out.stderr
    );
}
