//! `deploy sovereign`, run as a process: `--render` (and the refusal of a
//! `[deploy]` our own checks would fail), the dry run against the fake API
//! server, the gate before `--apply` (exit 1, `--force --reason` recorded
//! in the evidence lake), the rollout and LoadBalancer, and Ctrl-C while
//! waiting.

mod common;

use std::path::Path;
use std::time::Duration;

use cockpit_k8s::testing::{FakeApiServer, FakeCluster, RolloutPlan};
use common::*;

const IMAGE: &str = "us-docker.pkg.dev/agentops-demo/agents/reference-agent@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

fn deploy_config(extra: &str) -> String {
    format!(
        "[gate]\nevidence_dir = \"lake\"\n\n[deploy]\nname = \"reference-agent\"\nnamespace = \"agents\"\nimage = \"{IMAGE}\"\ngsa = \"reference-agent@agentops-demo.iam.gserviceaccount.com\"\n{extra}"
    )
}

fn score_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-score/tests/fixtures")
        .join(format!("{name}.json"))
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

fn patches(fake: &FakeApiServer) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn render_writes_the_manifests_and_refuses_what_the_checks_would_fail() {
    let w = Workdir::new();
    for target in ["gke", "cloud-run"] {
        let out = run_with(
            &["deploy", "sovereign", "--target", target, "--render", "out"],
            &Opts::default().cwd(w.path()),
        )
        .await;
        out.assert_code(0);
        assert!(out.stderr.contains("reference agent"), "{}", out.stderr);
        assert!(out.stdout.contains("none fails"), "{}", out.stdout);
        let text = std::fs::read_to_string(w.join(&format!("out/{target}.yaml"))).unwrap();
        assert!(text.contains(IMAGE), "{text}");
    }
    let cfg = w.config(&deploy_config("replicas = 0\n"));
    let out = run_with(
        &[
            "deploy",
            "sovereign",
            "--config",
            cfg.to_str().unwrap(),
            "--target",
            "gke",
            "--render",
            "zero",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    assert!(out.stderr.contains("CMP-WARM"), "{}", out.stderr);
    assert!(!w.join("zero").exists());
    let cfg = w.file("typo.toml", &deploy_config("replica = 3\n"));
    let out = run_with(
        &[
            "deploy",
            "sovereign",
            "--config",
            cfg.to_str().unwrap(),
            "--target",
            "gke",
            "--render",
            "typo",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("typo.toml:9:1") && out.stderr.contains("replica"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_is_a_dry_run_that_prints_the_changes() {
    let w = Workdir::new();
    let fake = FakeApiServer::start(FakeCluster::new().with_namespace("agents"), "agents")
        .await
        .unwrap();
    let out = run_with(
        &["deploy", "sovereign", "--target", "gke"],
        &Opts::default()
            .cwd(w.path())
            .env("KUBECONFIG", fake.kubeconfig().to_str().unwrap()),
    )
    .await;
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("agents/Deployment/reference-agent (would create)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("dry run: nothing was changed"),
        "{}",
        out.stderr
    );
    let p = patches(&fake);
    assert_eq!(p.len(), 5, "{p:?}");
    assert!(p.iter().all(|r| r.contains("dryRun=All")), "{p:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_below_the_gate_is_refused_and_a_forced_deploy_is_recorded() {
    let w = Workdir::new();
    let cfg = w.config(&deploy_config(""));
    let fake = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .rollout(RolloutPlan::AvailableAfter(Duration::from_millis(200)))
            .lb_after("reference-agent", Duration::from_millis(300), "203.0.113.7"),
        "agents",
    )
    .await
    .unwrap();
    let opts = Opts::default()
        .cwd(w.path())
        .env("KUBECONFIG", fake.kubeconfig().to_str().unwrap())
        .env("USER", "oncall-sre");
    let failing = score_fixture("fail");
    let base = [
        "deploy",
        "sovereign",
        "--config",
        cfg.to_str().unwrap(),
        "--target",
        "gke",
        "--apply",
        "--from",
        failing.as_str(),
    ];
    let out = run_with(&base, &opts).await;
    out.assert_code(1);
    assert!(out.stderr.contains("deploy refused"), "{}", out.stderr);
    assert!(out.stderr.contains("failing: "), "{}", out.stderr);
    assert!(patches(&fake).is_empty(), "{:?}", fake.requests());

    let mut forced = base.to_vec();
    forced.extend(["--force", "--reason", "hotfix for INC-7"]);
    let out = run_with(&forced, &opts).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("http://203.0.113.7:80/"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    for phase in ["applied in", "rollout complete in", "external address in"] {
        assert!(out.stderr.contains(phase), "{phase}: {}", out.stderr);
    }
    let p = patches(&fake);
    assert!(
        p.len() >= 5 && p.iter().all(|r| !r.contains("dryRun")),
        "{p:?}"
    );
    let records: Vec<_> = walk(&w.join("lake"), "deploy-override.json");
    assert_eq!(records.len(), 1, "{records:?}");
    let record = read_json(&records[0]);
    assert_eq!(record["who"], "oncall-sre");
    assert_eq!(record["reason"], "hotfix for INC-7");
}

fn walk(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_waiting_for_the_rollout_stops_and_deletes_nothing() {
    let w = Workdir::new();
    let fake = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .rollout(RolloutPlan::Never),
        "agents",
    )
    .await
    .unwrap();
    let passing = score_fixture("pass");
    let child = command(
        &[
            "deploy",
            "sovereign",
            "--target",
            "gke",
            "--apply",
            "--from",
            passing.as_str(),
        ],
        &Opts::default()
            .cwd(w.path())
            .env("KUBECONFIG", fake.kubeconfig().to_str().unwrap()),
    )
    .spawn()
    .unwrap();
    let pid = child.id().unwrap();
    // Wait (bounded) until the rollout is being watched.
    let mut watching = false;
    for _ in 0..600 {
        if fake.requests().iter().any(|r| r.contains("watch=true")) {
            watching = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(watching, "{:?}", fake.requests());
    sigint(pid);
    let out = wait(child, Duration::from_secs(60)).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was deleted"), "{}", out.stderr);
    assert!(!fake.requests().iter().any(|r| r.starts_with("DELETE")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_rollout_or_a_load_balancer_without_address_exits_3_saying_why() {
    let pod = serde_json::json!({"metadata": {"name": "reference-agent-7d9-abcde", "namespace": "agents", "labels": {"app": "reference-agent"}},
        "status": {"containerStatuses": [{"name": "agent", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}}]}});
    let w = Workdir::new();
    let passing = score_fixture("pass");
    let stuck = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .rollout(RolloutPlan::Never)
            .with_list("api/v1/namespaces/agents/pods", "Pod", vec![pod]),
        "agents",
    )
    .await
    .unwrap();
    let args = [
        "deploy",
        "sovereign",
        "--target",
        "gke",
        "--apply",
        "--from",
        passing.as_str(),
        "--rollout-timeout",
        "1s",
        "--lb-timeout",
        "1s",
    ];
    let out = run_with(
        &args,
        &Opts::default()
            .cwd(w.path())
            .env("KUBECONFIG", stuck.kubeconfig().to_str().unwrap()),
    )
    .await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("rollout not complete") && out.stderr.contains("CrashLoopBackOff"),
        "{}",
        out.stderr
    );
    let no_ip = FakeApiServer::start(FakeCluster::new().with_namespace("agents"), "agents")
        .await
        .unwrap();
    let out = run_with(
        &args,
        &Opts::default()
            .cwd(w.path())
            .env("KUBECONFIG", no_ip.kubeconfig().to_str().unwrap()),
    )
    .await;
    out.assert_code(3);
    assert!(out.stderr.contains("rollout complete"), "{}", out.stderr);
    assert!(
        out.stderr.contains("the LoadBalancer has no address"),
        "{}",
        out.stderr
    );
}
