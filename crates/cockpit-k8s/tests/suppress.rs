//! `agentops-cockpit.io/ignore` on a workload: the named checks of that
//! object are skipped with the reason; other objects and other checks are
//! judged as before; a malformed annotation is a located CMP-MANIFEST error
//! and suppresses nothing.

use cockpit_core::{Finding, Status};
use cockpit_k8s::{K8sConfig, audit_manifest_text};

fn deployment(name: &str, annotation: Option<&str>) -> String {
    let annotations = annotation
        .map(|a| format!("  annotations:\n    agentops-cockpit.io/ignore: {a}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: agents
{annotations}spec:
  replicas: 0
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: agent
          image: example/agent:latest
"#
    )
}

fn findings(text: &str) -> Vec<Finding> {
    audit_manifest_text("deploy/agents.yaml", text, &K8sConfig::default())
        .outcome
        .findings
}

fn of<'a>(fs: &'a [Finding], check: &str, name: &str) -> &'a Finding {
    fs.iter()
        .find(|f| {
            f.check_id.as_str() == check
                && f.subject
                    .as_deref()
                    .is_some_and(|s| s.ends_with(&format!("/{name}")))
        })
        .unwrap_or_else(|| panic!("no {check} finding for {name}"))
}

#[test]
fn the_annotation_skips_the_named_checks_of_that_object_with_the_reason() {
    let text = format!(
        "{}---\n{}",
        deployment(
            "chat",
            Some("\"CIC-IMAGE, cmp-warm: pinned by the release job\"")
        ),
        deployment("search", None)
    );
    let fs = findings(&text);
    for check in ["CIC-IMAGE", "CMP-WARM"] {
        let f = of(&fs, check, "chat");
        assert_eq!(f.status, Status::Skipped, "{f:#?}");
        assert_eq!(f.suppressed.as_deref(), Some("pinned by the release job"));
        assert!(
            f.summary
                .starts_with("skipped by agentops-cockpit.io/ignore (fail before)"),
            "{}",
            f.summary
        );
        // The other object is judged as before.
        assert_eq!(of(&fs, check, "search").status, Status::Fail);
        assert!(of(&fs, check, "search").suppressed.is_none());
    }
    // Checks the annotation does not name still judge the object.
    assert_ne!(of(&fs, "CMP-RES", "chat").status, Status::Skipped);
}

#[test]
fn a_malformed_annotation_is_a_located_error_and_suppresses_nothing() {
    for bad in [
        "\"CIC-IMAGE\"",
        "\"CIC-IMAGE:   \"",
        "\"NET-TTFT: not a manifest check\"",
    ] {
        let fs = findings(&deployment("chat", Some(bad)));
        assert_eq!(of(&fs, "CIC-IMAGE", "chat").status, Status::Fail, "{bad}");
        let e = fs
            .iter()
            .find(|f| f.check_id.as_str() == "CMP-MANIFEST" && f.status == Status::Error)
            .unwrap_or_else(|| panic!("no CMP-MANIFEST error for {bad}"));
        assert!(
            e.summary.contains("agentops-cockpit.io/ignore"),
            "{}",
            e.summary
        );
        // At the annotation's line (line 7 of the file).
        let at = e.location.as_ref().unwrap().to_string();
        assert_eq!(at, "deploy/agents.yaml:7", "{bad}");
    }
}
