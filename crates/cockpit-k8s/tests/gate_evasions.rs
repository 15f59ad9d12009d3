//! CIC-GATE against gates that only look like gates: every evasion is its
//! own workflow fixture (GitHub Actions, and GitLab CI where it applies)
//! that must fail naming why, and the honest forms must still pass.

use std::path::PathBuf;

use cockpit_core::{Finding, Status};
use cockpit_k8s::audit_pipelines;
use cockpit_k8s::checks::gate::GateRules;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gate")).join(p)
}

fn scan(p: &str, rules: &GateRules) -> Vec<Finding> {
    let fs = audit_pipelines(&[fixture(p)], rules)
        .unwrap()
        .outcome
        .findings;
    assert!(!fs.is_empty(), "{p}: no finding");
    fs
}

fn dump(fs: &[Finding]) -> String {
    fs.iter()
        .map(|f| {
            format!(
                "{} {} — {}",
                f.status,
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

/// Each evasion, the fixture(s) holding it, and what the summary must say.
const EVASIONS: [(&str, bool, &str); 22] = [
    (
        "evade-help",
        true,
        "`agentops-cockpit certify --help` only prints",
    ),
    (
        "evade-version",
        true,
        "`agentops-cockpit certify --version` only prints",
    ),
    (
        "evade-threshold-0",
        true,
        "certify runs with --threshold 0, below the policy minimum 90",
    ),
    (
        "evade-background",
        true,
        "certify runs in the background (`&`)",
    ),
    (
        "evade-or-echo",
        true,
        "certify's exit status is swallowed by `|| echo skip`",
    ),
    (
        "evade-semicolon-true",
        true,
        "certify's exit status is swallowed by `; true`",
    ),
    (
        "evade-or-true",
        true,
        "certify's exit status is swallowed by `|| true`",
    ),
    (
        "evade-set-plus-e",
        true,
        "certify runs with errexit off (`set +e`",
    ),
    (
        "evade-from-committed",
        true,
        "`certify --from committed.json` re-scores a report no earlier step of this pipeline writes",
    ),
    (
        "evade-if-then-deploy-after",
        false,
        "certify's exit status is only tested by `if`",
    ),
    ("evade-windows-pwsh", false, "certify runs with errexit off"),
    (
        "evade-pipe",
        false,
        "certify's exit status is lost in the pipe `| tee certify.log`",
    ),
    (
        "evade-if-false",
        false,
        "its step is disabled by `if: false`",
    ),
    (
        "evade-if-expr-false",
        false,
        "its step is disabled by `if: false`",
    ),
    (
        "evade-continue-on-error-step",
        false,
        "its step has `continue-on-error: true`",
    ),
    (
        "evade-continue-on-error-job",
        false,
        "job gate has `continue-on-error: true`",
    ),
    (
        "evade-always",
        false,
        "job deploy has `if: always()` (always())",
    ),
    (
        "evade-always-expr",
        false,
        "job deploy has `if: always()` (always())",
    ),
    (
        "evade-not-cancelled",
        false,
        "(!cancelled()), so it deploys even when the gate failed",
    ),
    (
        "evade-failure",
        false,
        "(failure()), so it deploys even when the gate failed",
    ),
    (
        "evade-same-job-always-step",
        false,
        "the deploy step has `if: always()`, so it runs even when certify failed",
    ),
    (
        "evade-marketplace-ungated",
        false,
        "`azure/k8s-deploy action` in job deploy runs with no `agentops-cockpit certify` before it",
    ),
];

fn assert_fails(path: &str, why: &str, rules: &GateRules) {
    let fs = scan(path, rules);
    for f in &fs {
        assert_eq!(f.status, Status::Fail, "{path}:\n{}", dump(&fs));
        assert!(
            f.summary.contains("No Sovereign Gate: Direct-to-Prod"),
            "{path}: {}",
            f.summary
        );
        assert!(
            f.summary.contains(why),
            "{path}: expected «{why}» in:\n{}",
            f.summary
        );
    }
}

#[test]
fn every_github_evasion_fails_naming_why() {
    for (name, _, why) in EVASIONS {
        assert_fails(&format!("github/{name}.yml"), why, &GateRules::default());
    }
}

/// The project's own action (action.yml) is a certify, held to the same
/// threshold policy as a script.
#[test]
fn the_projects_action_is_a_gate_held_to_the_threshold_policy() {
    assert_fails(
        "github/evade-action-threshold-0.yml",
        "certify runs with --threshold 0, below the policy minimum 90",
        &GateRules::default(),
    );
}

#[test]
fn every_gitlab_evasion_fails_naming_why() {
    let gitlab_only = [
        ("evade-allow-failure", "job gate has `allow_failure: true`"),
        ("evade-manual", "job gate is `when: manual`"),
        ("evade-when-never", "job gate is `when: never`"),
        (
            "evade-deploy-when-always",
            "job deploy has `when: always`, so it deploys even when the gate failed",
        ),
        (
            "evade-deploy-rules-on-failure",
            "job deploy has `when: on_failure`",
        ),
    ];
    let shared = EVASIONS
        .iter()
        .filter(|(_, gitlab, _)| *gitlab)
        .map(|(n, _, w)| (*n, *w));
    for (name, why) in shared.chain(gitlab_only) {
        assert_fails(
            &format!("gitlab/{name}.gitlab-ci.yml"),
            why,
            &GateRules::default(),
        );
    }
}

#[test]
fn honest_gates_pass() {
    let github = [
        "honest-needs",
        "honest-or-exit",
        "honest-if-not",
        "honest-set-plus-e-exit-code",
        "honest-pipefail",
        "honest-from-own-report",
        "honest-always-checks-result",
        "honest-branch-condition",
        "honest-same-job",
        "honest-if-then-deploy",
        "honest-marketplace",
        "honest-action",
    ];
    let gitlab = [
        "honest-needs",
        "honest-stage",
        "honest-set-plus-e-exit-code",
        "honest-or-exit",
    ];
    let paths = github
        .iter()
        .map(|n| format!("github/{n}.yml"))
        .chain(gitlab.iter().map(|n| format!("gitlab/{n}.gitlab-ci.yml")));
    for path in paths {
        let fs = scan(&path, &GateRules::default());
        assert!(
            fs.iter().all(|f| f.status == Status::Pass),
            "{path}:\n{}",
            dump(&fs)
        );
    }
}

#[test]
fn marketplace_actions_are_deploys() {
    let fs = scan("github/honest-marketplace.yml", &GateRules::default());
    let what: Vec<&str> = fs.iter().map(|f| f.summary.as_str()).collect();
    // Eight deploying actions; `argo-cd-action` running `version` is not one.
    assert_eq!(fs.len(), 8, "{}", dump(&fs));
    for a in [
        "azure/k8s-deploy",
        "google-github-actions/deploy-cloudrun",
        "google-github-actions/deploy-appengine",
        "deliverybot/helm",
        "wyrihaximus/github-action-helm3 (helm upgrade)",
        "clowdhaus/argo-cd-action (app sync)",
        "azure/webapps-deploy",
        "aws-actions/amazon-ecs-deploy-task-definition",
    ] {
        assert!(
            what.iter().any(|s| s.contains(a)),
            "{a} not a deploy:\n{}",
            dump(&fs)
        );
    }
    // An ungated action deploy is a failure, not "no deploy step found".
    let ungated = scan(
        "github/evade-marketplace-ungated.yml",
        &GateRules::default(),
    );
    assert_eq!(ungated.len(), 1);
    assert_eq!(ungated[0].status, Status::Fail, "{}", dump(&ungated));
    assert_eq!(
        ungated[0]
            .location
            .as_ref()
            .unwrap()
            .to_string()
            .rsplit(':')
            .next(),
        Some("18")
    );
}

#[test]
fn the_policy_minimum_is_a_parameter() {
    // --threshold 95 passes the default minimum 90 and fails a minimum of 99.
    let strict = GateRules {
        min_threshold: 99.0,
    };
    assert_fails(
        "github/honest-needs.yml",
        "certify runs with --threshold 95, below the policy minimum 99",
        &strict,
    );
}
