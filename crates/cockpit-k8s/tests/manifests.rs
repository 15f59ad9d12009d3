//! Manifest, Cloud Run and pipeline fixtures, every check both ways.

use std::path::PathBuf;

use cockpit_core::{Finding, Status};
use cockpit_k8s::checks::gate::GateRules;
use cockpit_k8s::{K8sConfig, Role, ZoneSource, audit_cloud_run, audit_manifests, audit_pipelines};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).join(p)
}

fn dump(fs: &[Finding]) -> String {
    fs.iter()
        .map(|f| {
            format!(
                "{} {} {} @ {} — {}",
                f.check_id,
                f.status,
                f.subject.as_deref().unwrap_or("-"),
                f.location
                    .as_ref()
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
                f.summary
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The finding of `check` whose subject ends with `subject`.
fn find<'a>(fs: &'a [Finding], check: &str, subject: &str) -> &'a Finding {
    fs.iter()
        .find(|f| {
            f.check_id.as_str() == check
                && f.subject.as_deref().is_some_and(|s| s.ends_with(subject))
        })
        .unwrap_or_else(|| panic!("no {check} finding for {subject}:\n{}", dump(fs)))
}

fn audit(p: &str) -> Vec<Finding> {
    audit_manifests(&[fixture(p)], &K8sConfig::default())
        .unwrap()
        .outcome
        .findings
}

fn status(fs: &[Finding], check: &str, subject: &str) -> Status {
    find(fs, check, subject).status
}

#[test]
fn sovereign_manifests_pass_every_check() {
    let fs = audit("manifests/good");
    for check in [
        "CMP-WARM",
        "CMP-PROBES",
        "CMP-RES",
        "CMP-PDB",
        "CMP-SPREAD",
        "CIC-IMAGE",
        "CIC-WI",
        "CIC-TOKEN",
    ] {
        assert_eq!(
            status(&fs, check, "Deployment/chat-agent"),
            Status::Pass,
            "{check}:\n{}",
            dump(&fs)
        );
    }
    assert_eq!(
        status(&fs, "CMP-HPA", "HorizontalPodAutoscaler/chat-agent"),
        Status::Pass
    );
    assert!(fs.iter().all(|f| f.status == Status::Pass), "{}", dump(&fs));
    let warm = find(&fs, "CMP-WARM", "Deployment/chat-agent");
    let m = warm.measurement("min_replicas").unwrap();
    assert_eq!((m.value, m.samples), (3.0, 1));
    assert!(m.method.contains("minReplicas"), "{}", m.method);
}

#[test]
fn bad_manifests_fail_with_file_and_line() {
    let fs = audit("manifests/bad");
    let cold = find(&fs, "CMP-WARM", "agents/Deployment/cold-agent");
    assert_eq!(cold.status, Status::Fail);
    assert!(cold.summary.contains("Dead on Arrival"), "{}", cold.summary);
    // `replicas: 0` is line 10 of the file.
    assert!(
        cold.location
            .as_ref()
            .unwrap()
            .to_string()
            .ends_with("manifests/bad/agent.yaml:10"),
        "{:?}",
        cold.location
    );
    assert_eq!(
        status(&fs, "CMP-WARM", "StatefulSet/vector-store"),
        Status::Warn
    );
    let probes = find(&fs, "CMP-PROBES", "Deployment/cold-agent");
    assert_eq!(probes.status, Status::Fail);
    assert!(
        probes.summary.contains("no readinessProbe, yet a Service"),
        "{}",
        probes.summary
    );
    let same = find(&fs, "CMP-PROBES", "Deployment/pinned-agent");
    assert!(
        same.status == Status::Fail && same.summary.contains("identical"),
        "{}",
        same.summary
    );
    assert_eq!(
        status(&fs, "CMP-RES", "Deployment/cold-agent"),
        Status::Fail
    );
    let cpu_only = find(&fs, "CMP-RES", "Deployment/pinned-agent");
    assert_eq!(cpu_only.status, Status::Warn);
    assert!(
        cpu_only.summary.contains("CPU-only") && cpu_only.summary.contains("Autopilot adjusted"),
        "{}",
        cpu_only.summary
    );
    let pdb = find(&fs, "CMP-PDB", "Deployment/pinned-agent");
    assert_eq!(pdb.status, Status::Warn, "{}", pdb.summary);
    let spread = find(&fs, "CMP-SPREAD", "Deployment/pinned-agent");
    assert!(
        spread.status == Status::Fail && spread.summary.contains("us-central1-a"),
        "{}",
        spread.summary
    );
    let ghost = find(&fs, "CMP-HPA", "HorizontalPodAutoscaler/ghost");
    assert!(
        ghost.status == Status::Fail && ghost.summary.contains("dangling"),
        "{}",
        ghost.summary
    );
    assert_eq!(
        status(&fs, "CMP-HPA", "HorizontalPodAutoscaler/pinned-agent"),
        Status::Warn
    );
    assert_eq!(
        status(&fs, "CIC-IMAGE", "Deployment/cold-agent"),
        Status::Fail
    );
    assert_eq!(
        status(&fs, "CIC-IMAGE", "Deployment/pinned-agent"),
        Status::Fail
    );
    let key = find(&fs, "CIC-WI", "Deployment/cold-agent");
    assert!(
        key.status == Status::Fail && key.summary.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{}",
        key.summary
    );
    assert_eq!(
        status(&fs, "CIC-WI", "Deployment/pinned-agent"),
        Status::Fail
    );
    assert_eq!(
        status(&fs, "CIC-WI", "StatefulSet/vector-store"),
        Status::Warn
    );
    assert_eq!(
        status(&fs, "CIC-TOKEN", "Deployment/pinned-agent"),
        Status::Warn
    );
    // Every finding names its object and its file:line.
    for f in &fs {
        let loc = f.location.as_ref().unwrap().to_string();
        assert!(loc.contains("agent.yaml:"), "{loc}");
    }
}

#[test]
fn a_bad_document_is_located_and_the_rest_still_runs() {
    let fs = audit("manifests/broken.yaml");
    let errors: Vec<String> = fs
        .iter()
        .filter(|f| f.check_id.as_str() == "CMP-MANIFEST" && f.status == Status::Error)
        .map(|f| f.location.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(errors.len(), 3, "{}", dump(&fs));
    assert!(
        errors[0].ends_with("broken.yaml:14"),
        "invalid YAML at the unclosed bracket: {errors:?}"
    );
    assert!(
        errors[1].ends_with("broken.yaml:16"),
        "unknown kind: {errors:?}"
    );
    assert!(
        errors[2].ends_with("broken.yaml:21"),
        "not an object: {errors:?}"
    );
    let widget = fs.iter().find(|f| f.summary.contains("Widget")).unwrap();
    assert!(
        widget.summary.contains("example.com/v1"),
        "{}",
        widget.summary
    );
    // The ConfigMap is listed as not audited, the last Deployment audited.
    assert!(
        fs.iter()
            .any(|f| f.status == Status::Skipped && f.summary.contains("ConfigMap"))
    );
    assert_eq!(status(&fs, "CMP-WARM", "Deployment/survivor"), Status::Pass);
    assert_eq!(status(&fs, "CMP-PDB", "Deployment/survivor"), Status::Fail);
    assert_eq!(
        status(&fs, "CMP-SPREAD", "Deployment/survivor"),
        Status::Warn
    );
}

#[test]
fn helm_templates_are_skipped_not_misread() {
    let fs = audit("helm");
    assert_eq!(fs.len(), 1, "{}", dump(&fs));
    assert_eq!(fs[0].status, Status::Skipped);
    assert!(fs[0].summary.contains("Helm template"), "{}", fs[0].summary);
}

#[test]
fn unreadable_path_is_an_error_naming_it() {
    let e = audit_manifests(&[fixture("no-such.yaml")], &K8sConfig::default()).unwrap_err();
    assert!(e.to_string().contains("no-such.yaml"), "{e}");
}

#[test]
fn cloud_run_exports_both_ways() {
    let a = audit_cloud_run(&[fixture("cloudrun")], &K8sConfig::default()).unwrap();
    let fs = a.outcome.findings;
    for check in [
        "CMP-WARM",
        "CMP-BOOST",
        "CMP-THROTTLE",
        "CMP-PROBES",
        "CMP-RES",
        "CIC-IMAGE",
        "CIC-WI",
    ] {
        assert_eq!(
            status(&fs, check, "Service/chat-agent"),
            Status::Pass,
            "{check}:\n{}",
            dump(&fs)
        );
    }
    let cold = find(&fs, "CMP-WARM", "Service/cold-agent");
    assert!(
        cold.status == Status::Fail && cold.summary.contains("default minimum is 0"),
        "{}",
        cold.summary
    );
    assert_eq!(status(&fs, "CMP-BOOST", "Service/cold-agent"), Status::Warn);
    assert_eq!(
        status(&fs, "CMP-THROTTLE", "Service/cold-agent"),
        Status::Warn
    );
    assert_eq!(status(&fs, "CIC-WI", "Service/cold-agent"), Status::Fail);
    assert_eq!(status(&fs, "CIC-IMAGE", "Service/cold-agent"), Status::Fail);
    // Cloud Run has no PDB, zone spread or Kubernetes token to judge.
    assert!(
        !fs.iter()
            .any(|f| matches!(f.check_id.as_str(), "CMP-PDB" | "CMP-SPREAD" | "CIC-TOKEN"))
    );
}

#[test]
fn placement_feeds_network_and_state() {
    let a = audit_manifests(
        &[fixture("manifests/bad"), fixture("manifests/good")],
        &K8sConfig::default(),
    )
    .unwrap();
    let p = &a.placement;
    let cold = p.by_name("cold-agent").unwrap();
    assert_eq!(cold.role, Role::Agent);
    assert_eq!(cold.session_empty_dirs, vec!["sessions".to_string()]);
    assert!(cold.redis_env.is_empty());
    let good = p.by_name("chat-agent").unwrap();
    assert_eq!(good.redis_env, vec!["REDIS_URL".to_string()]);
    let vectors = p.by_name("vector-store").unwrap();
    assert_eq!(vectors.role, Role::Retrieval);
    assert_eq!(vectors.zone_source, ZoneSource::Declared);
    assert!(vectors.zones.contains_key("us-east1-b"));
    let pairs = p.cross_zone_pairs();
    assert!(
        pairs
            .iter()
            .any(|(a, r)| a.name == "pinned-agent" && r.name == "vector-store"),
        "{pairs:?}"
    );
}

#[test]
fn pipelines_with_and_without_the_gate() {
    let gated = audit_pipelines(&[fixture("workflows/gated")], &GateRules::default())
        .unwrap()
        .outcome
        .findings;
    assert_eq!(gated.len(), 2, "{}", dump(&gated));
    // `make audit` is no gate: the scan cannot see a certify in a Makefile.
    let make = gated
        .iter()
        .find(|f| f.subject.as_deref().unwrap().ends_with("job cloudrun"))
        .unwrap();
    assert_eq!(make.status, Status::Fail, "{}", make.summary);
    assert!(make.summary.contains("`make audit`"), "{}", make.summary);
    // The dry run on line 19 is not a deploy; the apply on line 20 is.
    assert!(gated.iter().any(|f| {
        f.location
            .as_ref()
            .unwrap()
            .to_string()
            .ends_with("deploy.yml:20")
    }));

    let ungated = audit_pipelines(&[fixture("workflows/ungated")], &GateRules::default())
        .unwrap()
        .outcome
        .findings;
    assert_eq!(ungated.len(), 2, "{}", dump(&ungated));
    for f in &ungated {
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.summary.contains("No Sovereign Gate: Direct-to-Prod"),
            "{}",
            f.summary
        );
    }
    let lines: Vec<String> = ungated
        .iter()
        .map(|f| f.location.as_ref().unwrap().to_string())
        .collect();
    assert!(
        lines.iter().any(|l| l.ends_with("deploy.yml:16")),
        "helm upgrade after a gate that may fail: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("deploy.yml:20")),
        "kubectl apply before the gate: {lines:?}"
    );

    let gitlab = audit_pipelines(&[fixture("gitlab/.gitlab-ci.yml")], &GateRules::default())
        .unwrap()
        .outcome
        .findings;
    let prod = gitlab
        .iter()
        .find(|f| f.subject.as_deref().unwrap().ends_with("deploy-prod"))
        .unwrap();
    assert_eq!(
        prod.status,
        Status::Pass,
        "earlier stage gates: {}",
        prod.summary
    );
    let preview = gitlab
        .iter()
        .find(|f| f.subject.as_deref().unwrap().ends_with("deploy-preview"))
        .unwrap();
    assert_eq!(
        preview.status,
        Status::Fail,
        "needs: skips the stage order: {}",
        preview.summary
    );
}

#[test]
fn pipeline_without_deploys_and_invalid_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ci.yml"),
        "on: push\njobs:\n  t:\n    steps:\n      - run: cargo test\n",
    )
    .unwrap();
    let fs = audit_pipelines(&[dir.path().to_path_buf()], &GateRules::default())
        .unwrap()
        .outcome
        .findings;
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].status, Status::Skipped);
    std::fs::write(dir.path().join("bad.yml"), "jobs:\n  t:\n    steps: [\n").unwrap();
    let fs = audit_pipelines(&[dir.path().join("bad.yml")], &GateRules::default())
        .unwrap()
        .outcome
        .findings;
    assert_eq!(fs[0].status, Status::Error);
    assert!(fs[0].summary.contains("bad.yml:"), "{}", fs[0].summary);
}
