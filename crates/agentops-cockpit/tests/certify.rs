//! `agentops-cockpit certify`, run as a process: exit codes for pass, fail,
//! waived, expired waiver, not-measured and bad input (mostly `--from` a
//! fixture report, so they are fast); the output files; the evidence lake
//! and `--compare`; read-only traceability in a git repository.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-score/tests/fixtures")
        .join(format!("{name}.json"))
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// `certify --from FIXTURE [--config CFG] [extra…]`, in `w`.
async fn from(w: &Workdir, name: &str, cfg: Option<&Path>, extra: &[&str]) -> Output {
    let f = fixture(name);
    let mut args = vec!["certify", "--from", f.as_str()];
    let cfg_s;
    if let Some(c) = cfg {
        cfg_s = c.to_str().unwrap().to_string();
        args.extend(["--config", cfg_s.as_str()]);
    }
    args.extend_from_slice(extra);
    run_with(&args, &Opts::default().cwd(w.path())).await
}

fn waiver(expires: &str) -> String {
    format!(
        "[gate]\nthreshold = 90\n\n[[gate.waivers]]\ncheck = \"NET-TTFT\"\ntarget = \"search\"\nreason = \"search agent moves to a warm pool in INFRA-42\"\nowner = \"sre@example.com\"\nexpires = {expires}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn passing_evidence_exits_0_and_prints_the_matrix() {
    let w = Workdir::new();
    let out = from(&w, "pass", None, &[]).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("Infrastructure Approval Matrix"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("gate PASSED"), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "colour without a TTY");
    // Re-scoring saved evidence adds nothing to the evidence lake.
    assert!(!w.join(".cockpit").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_evidence_exits_1_with_the_reasons() {
    let w = Workdir::new();
    let out = from(&w, "fail", None, &[]).await;
    out.assert_code(1);
    assert!(out.stdout.contains("gate FAILED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("critical failure CIC-GATE"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Regional Mismatch"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_threshold_decides() {
    let w = Workdir::new();
    // waivable: one high failure among passes, 75.9 overall.
    from(&w, "waivable", None, &[]).await.assert_code(1);
    from(&w, "waivable", None, &["--threshold", "70"])
        .await
        .assert_code(0);
    let cfg = w.config("[gate]\nthreshold = 70\n");
    from(&w, "waivable", Some(&cfg), &[]).await.assert_code(0);
    // The flag overrides the file.
    from(&w, "waivable", Some(&cfg), &["--threshold", "95"])
        .await
        .assert_code(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiver_in_force_passes_and_is_printed() {
    let w = Workdir::new();
    let cfg = w.config(&waiver("2999-12-31"));
    let out = from(
        &w,
        "waivable",
        Some(&cfg),
        &["--format", "table", "--format", "markdown"],
    )
    .await;
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("waived until 2999-12-31 (owner sre@example.com)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("INFRA-42"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_waiver_stops_waiving_and_says_so() {
    let w = Workdir::new();
    // A TOML date (unquoted) works as well as a string.
    let cfg = w.config(&waiver("2001-01-01"));
    let out = from(&w, "waivable", Some(&cfg), &[]).await;
    out.assert_code(1);
    assert!(
        out.stdout.contains("EXPIRED on 2001-01-01"),
        "{}",
        out.stdout
    );
    let cfg = w.config(&waiver("\"2001-01-01\""));
    from(&w, "waivable", Some(&cfg), &[]).await.assert_code(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn not_measured_fails_closed_unless_relaxed() {
    let w = Workdir::new();
    let out = from(&w, "not-measured", None, &[]).await;
    out.assert_code(1);
    assert!(out.stdout.contains("fails closed"), "{}", out.stdout);
    let cfg = w.config("[gate]\nfail_closed = false\n");
    let out = from(&w, "not-measured", Some(&cfg), &["--format", "json"]).await;
    out.assert_code(0);
    let cert = out.json();
    assert_eq!(cert["passed"], true);
    assert_eq!(cert["not_measured"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_measured_exits_3() {
    let w = Workdir::new();
    let out = from(&w, "unreachable", None, &[]).await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("nothing could be measured"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_exits_2_naming_it() {
    let w = Workdir::new();
    for t in ["101", "-1", "ninety"] {
        let out = from(&w, "pass", None, &["--threshold", t]).await;
        out.assert_code(2);
        assert!(out.stderr.contains("--threshold"), "{}", out.stderr);
    }
    let v2 = w.file(
        "v2.json",
        &std::fs::read_to_string(fixture("pass"))
            .unwrap()
            .replace("\"1.1\"", "\"2.0\""),
    );
    let out = run_with(
        &["certify", "--from", v2.to_str().unwrap()],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("v2.json") && out.stderr.contains("2.0"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(fixture("pass")).unwrap();
    let bad = w.file("cut.json", &text[..text.len() / 2]);
    let out = run_with(
        &["certify", "--from", bad.to_str().unwrap()],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    assert!(out.stderr.contains("cut.json"), "{}", out.stderr);
    let out = run_with(
        &["certify", "--from", "missing.json"],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_check_id_in_a_waiver_is_a_located_error() {
    let w = Workdir::new();
    let cfg = w.config(
        "[gate]\nthreshold = 90\n\n[[gate.waivers]]\ncheck = \"NET-TTTF\"\nreason = \"r\"\nowner = \"o\"\nexpires = 2999-01-01\n",
    );
    let out = from(&w, "pass", Some(&cfg), &[]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("{}:5:9:", cfg.display())),
        "not located: {}",
        out.stderr
    );
    assert!(out.stderr.contains("NET-TTTF"), "{}", out.stderr);
    // Other [gate] mistakes are located too.
    let cfg = w.config("[thresholds]\nttft_p95_ms = 800\n[gate]\nthreshold = 120\n");
    let out = from(&w, "pass", Some(&cfg), &[]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("{}:4:1:", cfg.display())),
        "{}",
        out.stderr
    );
    let cfg = w.config("[gate]\nthreshhold = 80\n");
    from(&w, "pass", Some(&cfg), &[]).await.assert_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_is_written_under_out() {
    let w = Workdir::new();
    let dir = w.join("report");
    let mut args = vec!["--out", dir.to_str().unwrap()];
    for f in [
        "table", "json", "markdown", "junit", "sarif", "html", "badge",
    ] {
        args.extend(["--format", f]);
    }
    let out = from(&w, "fail", None, &args).await;
    out.assert_code(1);
    // Only the table goes to stdout with --out.
    assert!(out.stdout.contains("Infrastructure Approval Matrix"));
    assert!(!out.stdout.contains("<?xml"));
    let read =
        |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    let cert: Value = serde_json::from_str(&read("certification.json")).unwrap();
    assert_eq!(cert["passed"], false);
    let report: Value = serde_json::from_str(&read("report.json")).unwrap();
    assert_schema_valid(&report);
    assert!(read("junit.xml").contains("<testcase name=\"CIC-GATE"));
    let sarif: Value = serde_json::from_str(&read("report.sarif")).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(read("report.html").contains("chart-pillars"));
    assert!(read("badge.svg").starts_with("<svg"));
    assert!(read("certification.md").contains("| Pillar | Status | Score |"));
    assert!(read("certification.txt").contains("gate FAILED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_calls_out_a_30_percent_ttft_rise_under_the_threshold() {
    let w = Workdir::new();
    let base = fixture("baseline");
    let out = from(
        &w,
        "pass",
        None,
        &[
            "--compare",
            &base,
            "--format",
            "table",
            "--format",
            "markdown",
        ],
    )
    .await;
    // Still passing: the rise is under the 800 ms threshold…
    out.assert_code(0);
    // …and called out all the same.
    assert!(
        out.stdout
            .contains("REGRESSION NET-TTFT chat ttft_p95: 163.1 ms → 212 ms (+30.0%)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("🔻"), "{}", out.stdout);
    assert!(out.stderr.contains("1 regression(s)"), "{}", out.stderr);
    let out = from(&w, "pass", None, &["--compare", "last"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("no earlier run"), "{}", out.stderr);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn lake_runs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_measured_run_is_stored_traced_and_compared_without_touching_the_repository() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    git(w.path(), &["init", "-q"]);
    let cfg = w.config(&format!(
        "{PROBE}[gate]\nthreshold = 50\nevidence_dir = \"lake\"\n\n[[agents]]\nname = \"chat\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
        tb.base_url()
    ));
    git(w.path(), &["add", "cockpit-test.toml"]);
    git(w.path(), &["commit", "-qm", "config"]);
    let head = git(w.path(), &["rev-parse", "HEAD"]);
    let tree = git(w.path(), &["rev-parse", "HEAD^{tree}"]);
    let index_before = std::fs::read(w.join(".git/index")).unwrap();

    let cfg_s = cfg.to_str().unwrap();
    let opts = Opts::default().cwd(w.path());
    let out = run_with(&["certify", "--config", cfg_s, "--format", "json"], &opts).await;
    out.assert_code(0);
    let cert = out.json();
    let prov = &cert["report"]["provenance"];
    assert_eq!(prov["git"]["commit"], head.as_str());
    assert_eq!(prov["git"]["tree"], tree.as_str());
    assert_eq!(prov["git"]["dirty"], false);
    assert_eq!(prov["config_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(cert["report"]["tool"]["version"], env!("CARGO_PKG_VERSION"));

    let runs = lake_runs(&w.join("lake"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    let stored = read_json(&runs[0].join("report.json"));
    assert_eq!(stored["provenance"]["git"]["commit"], head.as_str());
    assert!(runs[0].join("certification.json").exists());

    // A second run goes into a new directory and compares with the first.
    let out = run_with(
        &["audit", "report", "--config", cfg_s, "--compare", "last"],
        &opts,
    )
    .await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("Compared with the run of"),
        "{}",
        out.stdout
    );
    let runs2 = lake_runs(&w.join("lake"));
    assert_eq!(runs2.len(), 2, "{runs2:?}");
    assert_eq!(
        read_json(&runs[0].join("report.json")),
        stored,
        "a stored run was rewritten"
    );

    // Nothing in the repository changed: HEAD, index, tracked files.
    assert_eq!(git(w.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(
        std::fs::read(w.join(".git/index")).unwrap(),
        index_before,
        "the index was touched"
    );
    assert_eq!(
        git(w.path(), &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
}
