//! Rendering `[deploy]`: golden files of the reference agent's manifests
//! (GKE and Cloud Run), the rendered YAML read back into k8s-openapi types
//! (round trip), audited by this crate's own checks with 0 fails, and
//! settings that cannot be compliant refused with the check id. Regenerate
//! the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p cockpit-k8s --test deploy_render` and
//! review the diff.

use std::path::{Path, PathBuf};

use cockpit_core::Status;
use cockpit_k8s::K8sError;
use cockpit_k8s::deploy::{DeploySettings, KnativeService, Target, render_checked};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/deploy")
}

/// Compare with the golden file; with `UPDATE_GOLDEN=1` (exactly), write it first.
fn golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `UPDATE_GOLDEN=1 cargo test -p cockpit-k8s --test deploy_render`",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or(
                expected.lines().count().min(actual.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} differs from the rendering at line {line}:\n--- expected\n{}\n--- actual\n{}",
            path.display(),
            expected.lines().nth(line - 1).unwrap_or("<end>"),
            actual.lines().nth(line - 1).unwrap_or("<end>"),
        );
    }
}

/// The documents of a multi-document YAML text (`---` separated).
fn documents(yaml: &str) -> Vec<&str> {
    yaml.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .collect()
}

/// Not a fail, an error, or even a warning: the rendering is what the
/// checks recommend.
fn no_fails(audit: &cockpit_k8s::K8sAudit) {
    assert!(!audit.outcome.findings.is_empty());
    let bad: Vec<String> = audit
        .outcome
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error | Status::Warn))
        .map(|f| format!("{} {:?}: {}", f.check_id, f.status, f.summary))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

fn statuses(audit: &cockpit_k8s::K8sAudit) -> Vec<String> {
    audit
        .outcome
        .findings
        .iter()
        .map(|f| format!("{} {:?}", f.check_id, f.status))
        .collect()
}

#[test]
fn gke_reference_matches_golden_round_trips_and_passes_the_checks() {
    let r = render_checked(&DeploySettings::reference(), Target::Gke).expect("renders");
    golden("gke.yaml", &r.yaml);
    let docs = documents(&r.yaml);
    assert_eq!(docs.len(), 5, "{}", r.yaml);
    // Every document is a valid object of its k8s-openapi type, and reads
    // back equal to what was serialised.
    let sa: ServiceAccount = serde_saphyr::from_str(docs[0]).expect("ServiceAccount");
    let d: Deployment = serde_saphyr::from_str(docs[1]).expect("Deployment");
    let h: HorizontalPodAutoscaler = serde_saphyr::from_str(docs[2]).expect("HPA");
    let p: PodDisruptionBudget = serde_saphyr::from_str(docs[3]).expect("PDB");
    let s: Service = serde_saphyr::from_str(docs[4]).expect("Service");
    for (doc, back) in [
        (docs[0], serde_saphyr::to_string(&sa).unwrap()),
        (docs[1], serde_saphyr::to_string(&d).unwrap()),
        (docs[2], serde_saphyr::to_string(&h).unwrap()),
        (docs[3], serde_saphyr::to_string(&p).unwrap()),
        (docs[4], serde_saphyr::to_string(&s).unwrap()),
    ] {
        assert_eq!(doc, back);
    }
    assert_eq!(
        s.spec.as_ref().and_then(|s| s.type_.as_deref()),
        Some("LoadBalancer")
    );
    no_fails(&r.audit);
    // Every check that judges a manifest workload passes outright.
    let all = statuses(&r.audit);
    for id in [
        "CMP-WARM",
        "CMP-PROBES",
        "CMP-RES",
        "CMP-PDB",
        "CMP-HPA",
        "CMP-SPREAD",
        "CIC-IMAGE",
        "CIC-WI",
        "CIC-TOKEN",
    ] {
        assert!(all.contains(&format!("{id} Pass")), "{id}: {all:?}");
    }
}

#[test]
fn cloud_run_reference_matches_golden_round_trips_and_passes_the_checks() {
    let r = render_checked(&DeploySettings::reference(), Target::CloudRun).expect("renders");
    golden("cloud-run.yaml", &r.yaml);
    let docs = documents(&r.yaml);
    assert_eq!(docs.len(), 1);
    let k: KnativeService = serde_saphyr::from_str(docs[0]).expect("Knative Service");
    assert_eq!(serde_saphyr::to_string(&k).unwrap(), docs[0]);
    let ann = k.spec.template.metadata.annotations.clone().unwrap();
    assert_eq!(ann["run.googleapis.com/startup-cpu-boost"], "true");
    assert_eq!(ann["autoscaling.knative.dev/minScale"], "2");
    no_fails(&r.audit);
    let all = statuses(&r.audit);
    for id in [
        "CMP-WARM",
        "CMP-BOOST",
        "CMP-THROTTLE",
        "CIC-IMAGE",
        "CIC-WI",
    ] {
        assert!(all.contains(&format!("{id} Pass")), "{id}: {all:?}");
    }
}

#[test]
fn regional_affinity_prefers_the_zone_and_still_spreads() {
    let s = DeploySettings {
        affinity_zone: Some("us-central1-b".into()),
        ..DeploySettings::reference()
    };
    let r = render_checked(&s, Target::Gke).expect("renders");
    assert!(r.yaml.contains("us-central1-b"), "{}", r.yaml);
    assert!(r.yaml.contains("ScheduleAnyway"), "{}", r.yaml);
    no_fails(&r.audit);
    assert!(statuses(&r.audit).contains(&"CMP-SPREAD Pass".to_string()));
}

fn refused(s: DeploySettings, target: Target) -> (String, String) {
    match render_checked(&s, target) {
        Err(K8sError::Refused { checks, message }) => (checks, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn settings_that_cannot_be_compliant_are_refused_naming_the_check() {
    let zero = DeploySettings {
        replicas: 0,
        ..DeploySettings::reference()
    };
    for target in [Target::Gke, Target::CloudRun] {
        let (checks, message) = refused(zero.clone(), target);
        assert!(checks.contains("CMP-WARM"), "{checks}: {message}");
    }
    let tagged = DeploySettings {
        image: "us-docker.pkg.dev/p/agents/chat:latest".into(),
        ..DeploySettings::reference()
    };
    let (checks, _) = refused(tagged, Target::Gke);
    assert!(checks.contains("CIC-IMAGE"), "{checks}");
    let ceiling = DeploySettings {
        replicas: 4,
        max_replicas: 3,
        ..DeploySettings::reference()
    };
    let (checks, _) = refused(ceiling, Target::Gke);
    assert!(checks.contains("CMP-HPA"), "{checks}");
}

#[test]
fn bad_values_are_config_errors_naming_the_key() {
    let cases: [(DeploySettings, &str); 4] = [
        (
            DeploySettings {
                name: "Chat_Agent".into(),
                ..DeploySettings::reference()
            },
            "name",
        ),
        (
            DeploySettings {
                memory: "lots".into(),
                ..DeploySettings::reference()
            },
            "memory",
        ),
        (
            DeploySettings {
                gsa: String::new(),
                ..DeploySettings::reference()
            },
            "gsa",
        ),
        (
            DeploySettings {
                health_path: "healthz".into(),
                ..DeploySettings::reference()
            },
            "health_path",
        ),
    ];
    for (s, want) in cases {
        match render_checked(&s, Target::Gke) {
            Err(K8sError::DeployConfig { key, .. }) => assert_eq!(key, want),
            other => panic!("{want}: {other:?}"),
        }
    }
}

#[test]
fn warmup_prompts_are_quoted_into_the_post_start_hook() {
    let s = DeploySettings {
        warmup_prompts: vec!["it's \"quoted\"; $(rm -rf /)".into()],
        ..DeploySettings::reference()
    };
    let r = render_checked(&s, Target::Gke).expect("renders");
    let d: Deployment =
        serde_saphyr::from_str(documents(&r.yaml)[1]).expect("Deployment reads back");
    let spec = serde_json::to_value(&d).unwrap();
    let cmd = spec
        .pointer("/spec/template/spec/containers/0/lifecycle/postStart/exec/command")
        .and_then(|c| c.as_array())
        .expect("a postStart exec hook");
    let script = cmd[2].as_str().unwrap();
    // The prompt reaches the shell as one single-quoted word: split the
    // `for` line as sh would and find the JSON body whole.
    let line = script
        .lines()
        .find(|l| l.starts_with("for body in"))
        .expect("the prompt loop");
    let words = shlex::split(line.trim_end_matches("; do post \"$body\" || true; done"))
        .expect("shell words");
    let body: serde_json::Value = serde_json::from_str(&words[3]).expect("a JSON body");
    assert_eq!(
        body.pointer("/messages/0/content").and_then(|c| c.as_str()),
        Some("it's \"quoted\"; $(rm -rf /)")
    );
}
