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
        "[gate]\nthreshold = 90\n\n[[gate.waivers]]\ncheck = \"NET-TTFT\"\ntarget = \"search\"\nreason = \"search agent moves to a warm pool in INFRA-42\"\nowner = \"sre@example.com\"\nexpires = {expires}\n\n{}",
        waivable_scope()
    )
}

/// The `waivable` fixture measures Network, Compute and Observability: its
/// tests declare the other two pillars out of scope, so that only its
/// failure decides.
fn waivable_scope() -> String {
    out_of_scope(&["state", "cicd"], "2999-12-31")
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
    let scope = w.config(&waivable_scope());
    from(&w, "waivable", Some(&scope), &[]).await.assert_code(1);
    from(&w, "waivable", Some(&scope), &["--threshold", "70"])
        .await
        .assert_code(0);
    let cfg = w.config(&format!("[gate]\nthreshold = 70\n\n{}", waivable_scope()));
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
    // One format on stdout per run: the table, then the Markdown.
    let mut stdout = String::new();
    for format in ["table", "markdown"] {
        let out = from(&w, "waivable", Some(&cfg), &["--format", format]).await;
        out.assert_code(0);
        stdout.push_str(&out.stdout);
    }
    assert!(
        stdout.contains("waived until 2999-12-31 (owner sre@example.com)"),
        "{stdout}"
    );
    assert!(stdout.contains("INFRA-42"), "{stdout}");
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
    let junit = read("junit.xml");
    assert!(junit.contains("<testcase name=\"CIC-GATE"));
    // Exit 1 is a failing "Sovereign Gate" test case in the test report.
    let gate = &junit[junit
        .find("<testcase name=\"Sovereign Gate\"")
        .expect("the gate case")..];
    let gate = &gate[..gate.find("</testcase>").unwrap()];
    assert!(
        gate.contains("<failure message=\"Sovereign Gate FAILED"),
        "{gate}"
    );
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
    // One format on stdout per run: the table, then the Markdown.
    let table = from(&w, "pass", None, &["--compare", &base, "--format", "table"]).await;
    // Still passing: the rise is under the 800 ms threshold…
    table.assert_code(0);
    // …and called out all the same.
    assert!(
        table
            .stdout
            .contains("REGRESSION NET-TTFT chat ttft_p95: 163.1 ms → 212 ms (+30.0%)"),
        "{}",
        table.stdout
    );
    assert!(table.stderr.contains("1 regression(s)"), "{}", table.stderr);
    let md = from(
        &w,
        "pass",
        None,
        &["--compare", &base, "--format", "markdown"],
    )
    .await;
    md.assert_code(0);
    assert!(md.stdout.contains("🔻"), "{}", md.stdout);
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
        "{PROBE}[gate]\nthreshold = 50\nevidence_dir = \"lake\"\n\n{}[[agents]]\nname = \"chat\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
        one_agent_scope(),
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

/// The `pass` fixture with chat's TTFT distribution set to `p95` ms over
/// `count` samples (p50 5 % under it, p99 10 % and the max 20 % over it),
/// written to `name` in `w`.
fn ttft_report(w: &Workdir, name: &str, p95: f64, count: u64) -> String {
    let mut r: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("pass")).unwrap()).expect("fixture");
    let f = r["findings"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["check_id"] == "NET-TTFT")
        .expect("NET-TTFT");
    let m = &mut f["measurements"][0];
    m["value"] = p95.into();
    m["samples"] = count.into();
    m["distribution"] = serde_json::json!({
        "count": count, "min_ms": p95 * 0.8, "mean_ms": p95 * 0.95,
        "p50_ms": p95 * 0.95, "p90_ms": p95 * 0.98, "p95_ms": p95,
        "p99_ms": p95 * 1.1, "p999_ms": p95 * 1.2, "max_ms": p95 * 1.2,
    });
    w.file(name, &r.to_string()).to_str().unwrap().to_string()
}

/// `certify --from new.json --compare old.json` with a `[gate.regressions]`
/// bound: beyond it with enough samples fails, naming the figure and both
/// values; within it passes; too few samples only informs; no bound only informs.
#[tokio::test(flavor = "multi_thread")]
async fn a_regression_beyond_its_bound_fails_the_gate_with_enough_samples() {
    let w = Workdir::new();
    let cfg = w.config("[gate.regressions]\n\"ttft.p95\" = \"+20%\"\n");
    let old = ttft_report(&w, "old.json", 303.0, 200);
    let certify = |new: String, cfg: Option<PathBuf>| {
        let w = &w;
        let old = old.clone();
        async move {
            let mut args = vec![
                "certify".to_string(),
                "--from".into(),
                new,
                "--compare".into(),
                old,
            ];
            if let Some(c) = cfg {
                args.extend(["--config".into(), c.to_str().unwrap().to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_with(&args, &Opts::default().cwd(w.path())).await
        }
    };

    let slow = ttft_report(&w, "slow.json", 710.0, 200);
    let out = certify(slow.clone(), Some(cfg.clone())).await;
    out.assert_code(1);
    assert!(
        out.stdout.contains(
            "regression ttft.p95 of chat: 303.0 ms → 710.0 ms (+134.3%; n=200 → n=200): beyond the +20% bound and above the baseline's p99 333.3 ms"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("gate FAILED"), "{}", out.stdout);

    // Without a bound the comparison informs only.
    let out = certify(slow, None).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("REGRESSION NET-TTFT chat ttft_p95"),
        "{}",
        out.stdout
    );

    // Within the bound: +12 %.
    let out = certify(ttft_report(&w, "near.json", 340.0, 200), Some(cfg.clone())).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("[within] ttft.p95 of chat"),
        "{}",
        out.stdout
    );

    // Too few samples in the new run to tell it from noise: informative.
    let out = certify(ttft_report(&w, "few.json", 710.0, 12), Some(cfg.clone())).await;
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("[too few samples] ttft.p95 of chat: 303.0 ms → 710.0 ms"),
        "{}",
        out.stdout
    );
}

/// One agent and nothing else (Network and Compute measured): every other
/// pillar is NOT MEASURED and fails the gate, until declared out of scope;
/// an expired declaration no longer counts.
#[tokio::test(flavor = "multi_thread")]
async fn unmeasured_pillars_fail_the_gate_unless_declared_out_of_scope() {
    let w = Workdir::new();
    // One format on stdout per run: the table, then the JSON.
    let out = from(&w, "one-agent", None, &["--format", "table"]).await;
    out.assert_code(1);
    for p in ["State", "CI/CD", "Observability"] {
        assert!(
            out.stdout.contains(&format!("pillar {p} NOT MEASURED")),
            "{p}: {}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("add an [stm] section"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("add [kubernetes] pipelines"),
        "{}",
        out.stdout
    );
    // All five pillars in the matrix, in the JSON as well.
    let json = from(&w, "one-agent", None, &["--format", "json"]).await;
    json.assert_code(1);
    let cert: Value = json.json();
    let verdicts: Vec<&str> = cert["pillars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        [
            "pass",
            "pass",
            "not-measured",
            "not-measured",
            "not-measured"
        ]
    );

    let cfg = w.config(&out_of_scope(
        &["state", "cicd", "observability"],
        "2999-12-31",
    ));
    let out = from(&w, "one-agent", Some(&cfg), &[]).await;
    out.assert_code(0);
    assert!(out.stdout.contains("OUT OF SCOPE"), "{}", out.stdout);

    let mut text = out_of_scope(&["state", "observability"], "2999-12-31");
    text.push_str(&out_of_scope(&["cicd"], "2001-01-01"));
    let cfg = w.config(&text);
    let out = from(&w, "one-agent", Some(&cfg), &[]).await;
    out.assert_code(1);
    assert!(
        out.stdout.contains("pillar CI/CD NOT MEASURED"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("EXPIRED on 2001-01-01"),
        "{}",
        out.stdout
    );
}

/// A bound, a key or a declaration the gate cannot hold is exit 2, located.
#[tokio::test(flavor = "multi_thread")]
async fn regression_bounds_and_out_of_scope_errors_are_located() {
    let w = Workdir::new();
    for (text, at, says) in [
        (
            "[gate.regressions]\n\"ttft.p97\" = \"+20%\"\n",
            ":2:",
            "a report keeps p50, p90, p95, p99 and p99.9 of ttft",
        ),
        (
            "[gate.regressions]\n\"cold_start.p95\" = \"+20%\"\n",
            ":2:",
            "cannot be told from noise",
        ),
        (
            "[gate.regressions]\n\"ttft.p95\" = \"20\"\n",
            ":2:",
            "expected the increase allowed in percent",
        ),
        ("[gate]\nregression_min_samples = 0\n", ":2:", "at least 1"),
        (
            "[[gate.out_of_scope]]\npillar = \"storage\"\nreason = \"r\"\nowner = \"o\"\nexpires = 2999-01-01\n",
            ":2:",
            "unknown variant `storage`",
        ),
        (
            &format!(
                "{}[[gate.out_of_scope]]\npillar = \"state\"\nreason = \"r\"\nowner = \" \"\nexpires = 2999-01-01\n",
                out_of_scope(&["cicd"], "2999-01-01")
            ),
            ":10:",
            "gate.out_of_scope[1] (pillar `state`): `owner` must not be empty",
        ),
        (
            &out_of_scope(&["cicd", "cicd"], "2999-01-01"),
            ":8:",
            "pillar `cicd` is already declared out of scope",
        ),
    ] {
        let cfg = w.config(text);
        let out = from(&w, "pass", Some(&cfg), &[]).await;
        out.assert_code(2);
        let located = format!("{}{at}", cfg.display());
        assert!(out.stderr.contains(&located), "{located}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
}
