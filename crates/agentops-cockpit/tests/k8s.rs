//! The Compute and CI/CD pillar through the CLI, as a process: manifest
//! globs, Cloud Run exports, pipelines, a live cluster served by the fake
//! API server through a kubeconfig, and the `[kubernetes]` section.

mod common;

use std::path::PathBuf;

use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use common::{Opts, Workdir, findings, run_with};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/fixtures"
    ))
}

fn finding<'a>(report: &'a Value, check: &str, subject_end: &str) -> &'a Value {
    findings(report)
        .iter()
        .find(|f| {
            f["check_id"] == check
                && f["subject"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(subject_end))
        })
        .unwrap_or_else(|| panic!("no {check} for {subject_end} in {report:#}"))
}

#[tokio::test]
async fn manifests_glob_offline_without_testbed() {
    let wd = Workdir::new();
    let pattern = format!("{}/manifests/**/*.yaml", fixtures().display());
    let out = run_with(
        &[
            "audit",
            "report",
            "--manifests",
            &pattern,
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    let warm = finding(&r, "CMP-WARM", "agents/Deployment/cold-agent");
    assert_eq!(warm["status"], "fail");
    let loc = warm["location"].clone();
    assert_eq!(loc["type"], "file");
    assert_eq!(loc["line"], 10);
    assert!(
        loc["path"]
            .as_str()
            .unwrap()
            .ends_with("manifests/bad/agent.yaml")
    );
    assert_eq!(
        finding(&r, "CMP-WARM", "agents/Deployment/chat-agent")["status"],
        "pass"
    );
    // Only the manifests were audited: no testbed, no network findings.
    assert!(
        !findings(&r).iter().any(|f| f["pillar"] == "network"),
        "{r:#}"
    );
    assert!(
        !out.stderr.contains("embedded reference testbed"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn cloud_run_and_pipelines() {
    let wd = Workdir::new();
    let good = fixtures().join("cloudrun/good.yaml");
    let ungated = fixtures().join("workflows/ungated");
    let out = run_with(
        &[
            "audit",
            "report",
            "--cloud-run",
            good.to_str().unwrap(),
            "--pipelines",
            ungated.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    assert_eq!(
        finding(&r, "CMP-BOOST", "Service/chat-agent")["status"],
        "pass"
    );
    let gate = findings(&r)
        .iter()
        .find(|f| f["check_id"] == "CIC-GATE")
        .unwrap();
    assert_eq!(gate["status"], "fail");
    assert!(
        gate["summary"]
            .as_str()
            .unwrap()
            .contains("No Sovereign Gate: Direct-to-Prod")
    );
    assert_eq!(gate["pillar"], "cicd");
}

#[tokio::test]
async fn glob_matching_nothing_is_a_usage_error() {
    let wd = Workdir::new();
    let out = run_with(
        &[
            "audit",
            "report",
            "--manifests",
            "deploy/**/*.yaml",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("`deploy/**/*.yaml` matches no file"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn live_cluster_through_kubeconfig() {
    let recorded = fixtures().join("cluster/recorded.json");
    let server = FakeApiServer::start(FakeCluster::recorded(&recorded).unwrap(), "agents")
        .await
        .unwrap();
    let wd = Workdir::new();
    let out = run_with(
        &[
            "audit",
            "report",
            "--kube-context",
            "fake",
            "--namespace",
            "agents",
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default()
            .cwd(wd.path())
            .env("KUBECONFIG", server.kubeconfig().to_str().unwrap()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    let ap = findings(&r)
        .iter()
        .find(|f| f["check_id"] == "CMP-AUTOPILOT")
        .unwrap();
    assert_eq!(ap["status"], "pass", "{ap:#}");
    let ready = finding(&r, "CMP-READY", "agents/Deployment/chat-agent");
    let m = &ready["measurements"][0];
    assert_eq!(m["name"], "start_to_ready_max");
    assert_eq!(m["value"], 10.0);
    assert_eq!(m["samples"], 3);
    assert_eq!(ready["location"]["type"], "object");
    assert!(!server.requests().is_empty());
}

#[tokio::test]
async fn missing_kubeconfig_is_not_measured_and_exit_3() {
    let wd = Workdir::new();
    let missing = wd.join("no-kubeconfig");
    let out = run_with(
        &[
            "audit",
            "report",
            "--kube-context",
            "prod",
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default()
            .cwd(wd.path())
            .env("KUBECONFIG", missing.to_str().unwrap())
            .env("HOME", wd.path().to_str().unwrap()),
    )
    .await;
    out.assert_code(3);
    let r = out.json();
    let f = findings(&r)
        .iter()
        .find(|f| f["status"] == "not-measured")
        .unwrap();
    assert!(
        f["summary"].as_str().unwrap().contains("kubeconfig"),
        "{f:#}"
    );
    assert_eq!(f["subject"], "kube context prod");
}

#[tokio::test]
async fn kubernetes_section_in_config() {
    let wd = Workdir::new();
    let manifests = fixtures().join("manifests/good");
    let cfg = wd.config(&format!(
        "[kubernetes]\nmanifests = [\"{}\"]\nagents = [\"chat-agent\"]\nmemory_floor_mib = 16384\n",
        manifests.display()
    ));
    let out = common::audit_json(&cfg, &["--no-evidence"]).await;
    out.assert_code(0);
    let r = out.json();
    // 8Gi is below the configured 16 GiB floor.
    let res = finding(&r, "CMP-RES", "Deployment/chat-agent");
    assert_eq!(res["status"], "warn", "{res:#}");

    let bad = wd.config("[kubernetes]\nmanifest = [\"x\"]\n");
    let out = common::audit_json(&bad, &["--no-evidence"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(".toml:2:1:") && out.stderr.contains("manifest"),
        "{}",
        out.stderr
    );

    let bad = wd.config("[kubernetes]\nready_threshold_s = -1\n");
    let out = common::audit_json(&bad, &["--no-evidence"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(".toml:2:1:") && out.stderr.contains("ready_threshold_s"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn gate_min_pipeline_threshold_holds_the_pipeline_certify() {
    // The workflow's certify uses --threshold 95: a gate under the default
    // minimum (90), no gate under `[gate] min_pipeline_threshold = 99`.
    let wd = Workdir::new();
    let workflow = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/tests/fixtures/gate/github/honest-needs.yml"
    ));
    let pipelines = format!("[kubernetes]\npipelines = [\"{}\"]\n", workflow.display());
    for (gate, status) in [
        ("", "pass"),
        ("[gate]\nmin_pipeline_threshold = 99\n", "fail"),
    ] {
        let cfg = wd.config(&format!("{pipelines}{gate}"));
        let out = common::audit_json(&cfg, &["--no-evidence"]).await;
        out.assert_code(0);
        let r = out.json();
        let f = finding(&r, "CIC-GATE", "job deploy");
        assert_eq!(f["status"], status, "{f:#}");
        if status == "fail" {
            let s = f["summary"].as_str().unwrap();
            assert!(
                s.contains("--threshold 95, below the policy minimum 99"),
                "{s}"
            );
        }
    }
    let bad = wd.config(&format!(
        "{pipelines}[gate]\nmin_pipeline_threshold = 120\n"
    ));
    let out = common::audit_json(&bad, &["--no-evidence"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("min_pipeline_threshold"),
        "{}",
        out.stderr
    );
}
